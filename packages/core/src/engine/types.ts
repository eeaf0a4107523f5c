import type { Clock } from "../transport/clock.js";
import type { HttpMethod } from "../transport/types.js";
import type { SharedBudgetStore } from "./shared-budgets.js";

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
  /**
   * Final HTTP status of the sub-request (after retries). 0 only when Graph never answered for this
   * sub-request (left out of every `$batch` answer until the retries ran out); the body then says so.
   */
  status: number;
  body: T;
  /** The sub-response's headers, names in lower case. */
  headers: Record<string, string>;
  requestId: string | undefined;
  /** Attempts made, 1 when it went through first time. */
  attempts: number;
}

/** A request sent on its own (not batched), e.g. a page of `GET /users`. */
export type DirectEngineRequest = EngineRequest & { query?: Record<string, string>; headers?: Record<string, string> };

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
  direct<T = unknown>(req: DirectEngineRequest): Promise<EngineResponse<T>>;
  /** Counters for progress, tests and benchmarks. */
  stats(): EngineStats;
  /** Wait for in-flight work and stop timers (does not close the GraphClient). */
  close(): Promise<void>;
}

export interface EngineTenantStats {
  subRequests: number;
  throttled: number;
  /** Learned refill rate of the tenant's resource-unit budget (per second). */
  ruPerSecond: number;
  /** Learned refill rate of the tenant's write budget (per second). */
  writesPerSecond: number;
  /** Learned size of the tenant's resource-unit budget. */
  ruCapacity?: number;
  /** Learned size of the tenant's write budget. */
  writesCapacity?: number;
  /** Submissions waiting (queued or waiting to be retried). */
  queued?: number;
  /** Batches and direct requests on the wire. */
  inFlight?: number;
  /** Set when the tenant failed (auth or network): its submissions are rejected. */
  failed?: string;
}

export interface EngineStats {
  batches: number;
  /** Sub-requests sent (every attempt), direct requests included. */
  subRequests: number;
  /** Sub-requests (or direct requests) answered 429, counted per attempt. */
  throttled: number;
  retries: number;
  /** Per tenant: learned budgets and what was spent. */
  tenants: Record<string, EngineTenantStats>;
  /** Direct (non-batched) requests sent. */
  directRequests?: number;
  /** Sub-requests answered 503/504 or left out of the batch answer, per attempt. */
  transient?: number;
  /** Submissions settled: resolved with a final answer, or rejected. */
  completed?: number;
  /** Submissions resolved with a status that is not 2xx. */
  failed?: number;
  /** Submissions rejected because their tenant failed. */
  rejected?: number;
  /** Submissions waiting, over all tenants. */
  queued?: number;
  /** Batches and direct requests on the wire, over all tenants. */
  inFlight?: number;
  /** The app-wide budgets as learned: refill per second and size. */
  app?: { ruPerSecond: number; ruCapacity: number; writesPerSecond: number; writesCapacity: number };
}

export type EngineEvent =
  | { type: "batch"; tenant: string; size: number; durationMs: number; throttled: number }
  | { type: "throttled"; tenant: string; retryAfterMs: number; scope: string | undefined }
  | { type: "rate"; tenant: string; ruPerSecond: number; writesPerSecond: number }
  /**
   * Exchanging a shared budget with the other instances failed (`error`: the store's message; the
   * engine goes on with what it knows) or, `error` undefined, works again. Once per change, not per try.
   * `tenant` is undefined for the app-wide budgets.
   */
  | { type: "shared"; tenant: string | undefined; budget: string; error: string | undefined };

/** How long the engine keeps trying one sub-request. */
export interface SubRequestRetryPolicy {
  /** Attempts per sub-request, the first included (default 8). */
  maxAttempts: number;
  /** Longest single wait, Retry-After included, ms (default 180 000). */
  maxDelayMs: number;
  /** Base of the exponential backoff when a 503/504 (or a missing answer) gives no Retry-After, ms (default 1 000). */
  baseDelayMs: number;
  /** From submission to the last attempt, ms (default 900 000): no retry starts after it. */
  deadlineMs: number;
}

export const DEFAULT_SUB_REQUEST_RETRY: SubRequestRetryPolicy = {
  maxAttempts: 8,
  maxDelayMs: 180_000,
  baseDelayMs: 1_000,
  deadlineMs: 900_000,
};

/** A token bucket as Graph documents it: `capacity` units refilled over `windowSeconds`. */
export interface BudgetHint {
  capacity: number;
  windowSeconds: number;
}

/**
 * Where the engine's pacing starts before it has learned anything. Defaults are Microsoft's documented
 * identity-and-access limits, the tenant resource-unit budget at its smallest tier (the tenant's size
 * is not known up front). The engine learns the real figures from the throttling headers, so scaled-down
 * budgets (the emulator's benchmark) are found too.
 */
export interface BudgetHints {
  /** Resource units per app + tenant (default 3 500 / 10 s). */
  tenantRu: BudgetHint;
  /** Writes per app + tenant (default 3 000 / 150 s). */
  tenantWrites: BudgetHint;
  /** Resource units per app across tenants (default 150 000 / 20 s). */
  appRu: BudgetHint;
  /** Writes per app across tenants (default 70 000 / 300 s). */
  appWrites: BudgetHint;
  /** Requests per app across tenants, Graph's global limit (default 130 000 / 10 s). */
  appRequests: BudgetHint;
}

export const DEFAULT_BUDGET_HINTS: BudgetHints = {
  tenantRu: { capacity: 3_500, windowSeconds: 10 },
  tenantWrites: { capacity: 3_000, windowSeconds: 150 },
  appRu: { capacity: 150_000, windowSeconds: 20 },
  appWrites: { capacity: 70_000, windowSeconds: 300 },
  appRequests: { capacity: 130_000, windowSeconds: 10 },
};

/** Budgets shared with other instances of the same app (see `SharedBudgetStore`). */
export interface SharedBudgetsOptions {
  store: SharedBudgetStore;
  /** How often each budget in use is exchanged with the store, ms on the engine's clock (default 200). */
  syncMs?: number | undefined;
  /**
   * The app registration (client id) the budgets belong to: part of the default key. Default: the
   * client's `clientId` when it has one, else "app" (instances of different apps under one key only
   * pace each other more than needed).
   */
  app?: string | undefined;
  /**
   * The store's key for a budget named as the engine names it ("resource units of <tenant>",
   * "writes of <tenant>", "app resource units", "app writes"; the tenant as submitted). Default
   * `<app>|<budget name>`.
   */
  key?: ((budgetName: string) => string) | undefined;
}

export interface BatchEngineOptions {
  /** Time source; tests inject a manual clock and never sleep for real. */
  clock?: Clock | undefined;
  /** [0,1) source for backoff jitter. */
  random?: (() => number) | undefined;
  onEvent?: ((event: EngineEvent) => void) | undefined;
  /** Sub-requests per `$batch` (default and maximum 20). */
  maxBatchSize?: number | undefined;
  /** Batches (and direct requests) on the wire per tenant (default 8). */
  perTenantInFlight?: number | undefined;
  /** Batches (and direct requests) on the wire over all tenants (default 64). */
  maxInFlight?: number | undefined;
  /** Retries of throttled and transient sub-requests. */
  retry?: Partial<SubRequestRetryPolicy> | undefined;
  /** Starting points for the budgets (documented figures by default); learned from Graph's answers after that. */
  budgets?: Partial<BudgetHints> | undefined;
  /** Share of a budget the engine aims to keep used once it is near it (default 0.9). */
  targetUtilisation?: number | undefined;
  /**
   * Keep a failed tenant failed for this long (ms): its new submissions are rejected at once with the
   * same error. AuthError keeps a tenant failed for the engine's life. Default 60 000.
   */
  networkFailureHoldMs?: number | undefined;
  /**
   * Share the tenants' budgets (resource units, writes) and the app-wide ones with other instances
   * calling the same tenants as the same app: what each takes is exchanged every `syncMs`, so together
   * they stay within one tenant's budget. Sending never waits for the store.
   */
  sharedBudgets?: SharedBudgetsOptions | undefined;
}
