/** Entra (AADSTS) error bodies in the shape the token endpoint returns them. */
import { randomUUID } from "node:crypto";
import { json, type Outcome } from "./http.js";
import { PUBLIC_LOGIN } from "./endpoints.js";

/** "2026-01-01 12:00:00Z", the format of Entra's `timestamp`. */
export function aadTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function aadError(status: number, error: string, code: number, message: string, correlationId: string, nowMs: number): Outcome {
  const traceId = randomUUID();
  const timestamp = aadTimestamp(nowMs);
  return json(
    status,
    {
      error,
      error_description: `AADSTS${code}: ${message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${PUBLIC_LOGIN}/error?code=${code}`,
    },
    { "x-ms-request-id": traceId, "cache-control": "no-store, no-cache" },
  );
}
