import type { Clock } from "./clock.js";

/** The injectable bottom of the chain: WHATWG fetch (undici's, a test double, ...). */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export type HttpMethod = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";

export interface GraphRequest {
  /** Tenant as given by the caller (id or domain): selects the token and the throttle budget. */
  tenant: string;
  method: HttpMethod;
  /**
   * Path relative to the Graph root, version included: `/beta/users/{id}/authentication/requirements`.
   * Already encoded (a raw `#` or space is refused). May carry an encoded query string, and may be an
   * absolute URL under the Graph root (an `@odata.nextLink`); any other origin is refused.
   */
  path: string;
  /** Query parameters, encoded by the client. */
  query?: Record<string, string> | undefined;
  headers?: Record<string, string> | undefined;
  /** JSON body. */
  body?: unknown;
  /** The user this request is about, for error messages. */
  user?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface GraphResponse<T = unknown> {
  status: number;
  headers: Headers;
  /** Parsed JSON body, or undefined for 204 / empty bodies. */
  body: T;
  /** `request-id` of the final response. */
  requestId: string | undefined;
  /** Attempts made (1 when no retry was needed). */
  attempts: number;
}

/** What operations see of the transport. Errors are thrown as GraphError / AuthError / NetworkError. */
export interface GraphClient {
  request<T = unknown>(req: GraphRequest): Promise<GraphResponse<T>>;
  /** Root of Graph, no trailing slash (when known): absolute `@odata.nextLink`s must stay under it. */
  readonly graphUrl?: string | undefined;
  /** Release sockets. */
  close(): Promise<void>;
}

/** Progress and diagnostics, for front ends to render (core never prints). */
export type TransportEvent =
  | { type: "request"; tenant: string; method: HttpMethod; url: string; attempt: number }
  | { type: "response"; tenant: string; method: HttpMethod; url: string; status: number; requestId: string | undefined; durationMs: number; attempt: number }
  | { type: "retry"; tenant: string; method: HttpMethod; url: string; status: number | undefined; reason: string; delayMs: number; attempt: number }
  | { type: "token"; tenant: string; reason: "initial" | "expired" | "rejected" }
  | { type: "throttled"; tenant: string; untilMs: number };

export type EventSink = (event: TransportEvent) => void;

export interface RetryPolicy {
  /** Attempts per request, the first included (default 6). */
  maxAttempts: number;
  /** Longest single wait in ms, Retry-After included (default 180 000). */
  maxDelayMs: number;
  /** Base of the exponential backoff when the server gives no Retry-After (default 1 000). */
  baseDelayMs: number;
  /** Overall deadline for one request including every retry, in ms (default 600 000). */
  deadlineMs: number;
  /** Timeout for one attempt, in ms (default 60 000). */
  attemptTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 6,
  maxDelayMs: 180_000,
  baseDelayMs: 1_000,
  deadlineMs: 600_000,
  attemptTimeoutMs: 60_000,
};

export type Credential =
  | { kind: "secret"; clientSecret: string }
  /** PEM private key and certificate (the certificate registered on the app). */
  | { kind: "certificate"; privateKeyPem: string; certificatePem: string };

export interface ConnectionSettings {
  clientId: string;
  credential: Credential;
  /** Default https://login.microsoftonline.com */
  authorityHost: string;
  /** Default https://graph.microsoft.com */
  graphUrl: string;
  /** Extra CA certificates to trust (PEM), e.g. the emulator's CA. */
  caPem?: string | undefined;
}

/** Access tokens for Graph, one cache per tenant. */
export interface TokenProvider {
  /**
   * An app-only access token for `tenant`. Cached until it nears expiry; `forceRefresh` skips the
   * cache (after Graph rejected the token). Throws AuthError, NetworkError or UsageError.
   */
  getToken(tenant: string, options?: { forceRefresh?: boolean | undefined }): Promise<string>;
}

/**
 * Decides when a request may go (per-tenant concurrency, pauses). The built-in one is
 * `createTenantGate`; a budget-aware scheduler can replace it.
 */
export interface RequestGate {
  /** Runs `task` when the tenant's turn comes; rejects with the signal's reason if aborted while queued. */
  run<T>(tenant: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Called with every response (each attempt) for a tenant, to learn from its headers (`Retry-After`, ...). */
  observe(tenant: string, response: { status: number; headers: Headers }): void;
}

export interface GraphClientOptions extends ConnectionSettings {
  retry?: Partial<RetryPolicy> | undefined;
  clock?: Clock | undefined;
  /** Replaces the network (tests). Token requests still go through MSAL's network client built on it. */
  fetch?: FetchLike | undefined;
  onEvent?: EventSink | undefined;
  /** Concurrent requests per tenant (default 8). */
  perTenantConcurrency?: number | undefined;
  /** Random source for jitter, [0,1). */
  random?: (() => number) | undefined;
  /** Replaces the MSAL token provider built from the connection settings (tests, other token sources). */
  tokenProvider?: TokenProvider | undefined;
  /** Replaces the per-tenant gate (`perTenantConcurrency` is then ignored). */
  gate?: RequestGate | undefined;
}
