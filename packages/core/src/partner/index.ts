export * from "./roles.js";
export * from "./customers.js";
export * from "./consent-url.js";
export * from "./doctor.js";
