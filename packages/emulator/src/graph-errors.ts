/** Graph's error envelope: {"error":{"code","message","innerError":{date, request-id, client-request-id}}}. */
import type { GraphResult } from "./graph-types.js";
import { ODATA_JSON } from "./graph-types.js";

export interface ErrorIds {
  requestId: string;
  clientRequestId: string;
  nowMs: number;
}

export function graphError(status: number, code: string, message: string, ids: ErrorIds, headers: Record<string, string> = {}): GraphResult {
  return {
    status,
    headers: { "content-type": ODATA_JSON, ...headers },
    body: {
      error: {
        code,
        message,
        innerError: {
          date: new Date(ids.nowMs).toISOString().replace(/\.\d+Z$/, ""),
          "request-id": ids.requestId,
          "client-request-id": ids.clientRequestId,
        },
      },
    },
  };
}

/** The code Graph typically pairs with a bare status (used by scripted and random faults). */
export function codeForStatus(status: number): { code: string; message: string } {
  switch (status) {
    case 400: return { code: "BadRequest", message: "Bad request." };
    case 401: return { code: "InvalidAuthenticationToken", message: "Access token validation failure." };
    case 403: return { code: "accessDenied", message: "Request Authorization failed." };
    case 404: return { code: "Request_ResourceNotFound", message: "Resource not found." };
    case 409: return { code: "Conflict", message: "Conflict." };
    case 429: return { code: "TooManyRequests", message: "Too many requests. Please retry after the time given in Retry-After." };
    case 502: return { code: "BadGateway", message: "Bad gateway." };
    case 503: return { code: "serviceNotAvailable", message: "The service is temporarily unavailable. Please retry later." };
    case 504: return { code: "GatewayTimeout", message: "The gateway timed out waiting for the service." };
    default: return { code: "UnknownError", message: "An unknown error occurred." };
  }
}
