export * from "./key-source.js";
export * from "./token-store.js";
export * from "./errors.js";
export * from "./delegated.js";
