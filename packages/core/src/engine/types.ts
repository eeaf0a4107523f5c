import type { HttpMethod } from "../transport/types.js";

/**
 * The throttle-aware batch engine's contract. Operations submit single Graph requests; the
 * engine packs them into `$batch` calls per tenant, paces each tenant within its learned
 * resource-unit and write budgets (and the app-wide ones), retries throttled or transient
 * sub-requests after their own Retry-After, and resolves each submission with its final answer.
 */
export interface EngineRequest {
  tenant: string;
  /** Graph version the sub-request belongs to: one `$batch` never mixes versions. */
  version: "v1.0" | "beta";
  method: HttpMethod;
  /** Relative to the version, already encoded: `/users/{id}/authentication/requirements`. */
  url: string;
  body?: unknown;
  /** The user this is about (errors, events). */
  user?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface EngineResponse<T = unknown> {
  /** Final HTTP status of the sub-request (after retries). */
  status: number;
  body: T;
  headers: Record<string, string>;
  requestId: string | undefined;
  /** Attempts made, 1 when it went through first time. */
  attempts: number;
}

export interface BatchEngine {
  /**
   * Resolves with the final sub-response, 2xx or not (4xx are answers, not exceptions; 429/503/504
   * are retried up to the policy's limit and then returned as they are). Rejects only when the tenant
   * itself fails (AuthError: no consent, bad credential; NetworkError after retries) or on abort.
   */
  submit<T = unknown>(req: EngineRequest): Promise<EngineResponse<T>>;
  /**
   * A request that must not be batched (for example a page of `GET /users`, 999 a page): sent
   * directly, still paced and accounted against the tenant's budget, retried like the rest.
   */
  direct<T = unknown>(req: EngineRequest & { query?: Record<string, string>; headers?: Record<string, string> }): Promise<EngineResponse<T>>;
  /** Counters for progress, tests and benchmarks. */
  stats(): EngineStats;
  /** Wait for in-flight work and stop timers (does not close the GraphClient). */
  close(): Promise<void>;
}

export interface EngineStats {
  batches: number;
  subRequests: number;
  /** Sub-requests (or direct requests) answered 429, counted per attempt. */
  throttled: number;
  retries: number;
  /** Per tenant: learned budgets and what was spent. */
  tenants: Record<string, { subRequests: number; throttled: number; ruPerSecond: number; writesPerSecond: number }>;
}

export type EngineEvent =
  | { type: "batch"; tenant: string; size: number; durationMs: number; throttled: number }
  | { type: "throttled"; tenant: string; retryAfterMs: number; scope: string | undefined }
  | { type: "rate"; tenant: string; ruPerSecond: number; writesPerSecond: number };
