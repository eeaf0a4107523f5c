import { AuthError, GraphError, MfactlError, NetworkError } from "../domain/errors.js";
import type { ErrorInfo } from "../domain/vocabulary.js";

/** The vocabulary's `error` field for any failure; never includes secrets (the errors carry none). */
export function errorInfo(error: unknown): ErrorInfo {
  if (error instanceof GraphError) return { code: error.code, message: error.message, httpStatus: error.status };
  if (error instanceof AuthError) return { code: error.aadstsCodes[0] ? `AADSTS${error.aadstsCodes[0]}` : error.code, message: error.message };
  if (error instanceof NetworkError) return { code: error.code, message: error.message };
  if (error instanceof MfactlError) return { code: error.kind, message: error.message };
  return { code: "internal", message: error instanceof Error ? error.message : String(error) };
}

export function requestIdOf(error: unknown): string | undefined {
  return error instanceof GraphError ? error.requestId : undefined;
}
