export { run, type CliIo } from "./main.js";
export { EXIT } from "./exit-codes.js";
