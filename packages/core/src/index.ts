export * from "./domain/errors.js";
export * from "./domain/mfa-state.js";
export * from "./domain/references.js";
export * from "./domain/vocabulary.js";
export * from "./transport/clock.js";
export * from "./transport/types.js";
