import { UsageError } from "../../domain/errors.js";
import { redactCredentials } from "../../transport/auth.js";
import { systemClock, type Clock } from "../../transport/clock.js";
import { oneLine } from "../../transport/network-errors.js";
import { withRetry, type AttemptResult } from "../../transport/retry.js";
import { DEFAULT_RETRY_POLICY, type EventSink, type FetchLike, type RetryPolicy } from "../../transport/types.js";
import { DEFAULT_READ_BACK_DELAYS_MS } from "../../operations/apply-change.js";
import { CippError } from "./errors.js";
import { createCippTokenProvider, type CippTokenProvider } from "./token.js";

export interface CippClientOptions {
  /** The CIPP instance, e.g. `https://cipp.contoso.com`; its API is `${url}/api/<Endpoint>` (a trailing `/api` is fine). */
  url: string;
  /** The tenant CIPP's API client is registered in (the partner's own tenant): tokens come from there. */
  tenantId: string;
  /** CIPP's API client (Integrations > CIPP-API in CIPP); its token is for `api://<clientId>/.default`. */
  clientId: string;
  clientSecret: string;
  /** Default https://login.microsoftonline.com. */
  authorityHost?: string | undefined;
  /** Default `api://<clientId>/.default`: give another when a separate app holds a role on CIPP's API. */
  scope?: string | undefined;
  /** The network (core's `createFetch({ caPem, rejectUnauthorized })`); token requests use it too. */
  fetch: FetchLike;
  /** Waits (Retry-After, backoff, read-back) go through it. Default: real time. */
  clock?: Clock | undefined;
  /** 429/503/504 and network errors are retried as for Graph (default: DEFAULT_RETRY_POLICY). */
  retry?: Partial<RetryPolicy> | undefined;
  /** Waits before reading a change back again when CIPP reported success but the old state still shows. */
  readBackDelaysMs?: readonly number[] | undefined;
  onEvent?: EventSink | undefined;
  /** Random source for retry jitter, [0,1). */
  random?: (() => number) | undefined;
}

export interface CippCall {
  method: "GET" | "POST";
  /** e.g. `ListPerUserMFA` (CIPP's names are case-sensitive). */
  endpoint: string;
  query?: Record<string, string> | undefined;
  /** JSON body (POST). */
  body?: unknown;
  /** The customer tenant the call is about, for errors and events. */
  tenant: string;
  user?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface CippAnswer<T> {
  status: number;
  body: T;
  /** The request id of the answer, when CIPP's host sends one. */
  requestId: string | undefined;
  attempts: number;
}

/** A CIPP instance reached with a client-credentials token: what the CIPP operations and `cippPort` use. */
export interface CippClient {
  /** The instance, without a trailing slash or `/api`. */
  readonly url: string;
  readonly clientId: string;
  readonly clock: Clock;
  readonly readBackDelaysMs: readonly number[];
  /** One call: bearer token, retries, one token refresh after a 401. Throws CippError, AuthError or NetworkError. */
  call<T = unknown>(req: CippCall): Promise<CippAnswer<T>>;
}

interface Raw extends AttemptResult {
  text: string;
}

function normalizeUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`The CIPP URL ${JSON.stringify(value)} is not a URL; expected for example https://cipp.contoso.com.`);
  }
  if (url.protocol !== "https:") throw new UsageError(`The CIPP URL must be an https:// URL (got ${url.protocol}//${url.host}).`);
  if (url.search !== "" || url.hash !== "") throw new UsageError("The CIPP URL must not carry a query or fragment.");
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "").replace(/\/api$/i, "");
}

/** CIPP's own words from an error answer: `{"Results": [...]}`, `{"Results": "..."}`, a bare array of lines, or text. */
export function cippMessage(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return text.trim() === "" ? undefined : oneLine(text, 500);
  }
  const lines = (v: unknown): string[] => (typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  const keyed = body && typeof body === "object" && !Array.isArray(body) ? Object.entries(body).find(([k]) => k.toLowerCase() === "results")?.[1] : undefined;
  const found = lines(keyed ?? body);
  return found.length > 0 ? oneLine(found.join(" "), 1000) : undefined;
}

function codeFor(status: number): string {
  switch (status) {
    case 0:
      return "NoResponse";
    case 401:
      return "CippUnauthorized";
    case 403:
      return "CippForbidden";
    case 404:
      return "CippNotFound";
    case 429:
      return "CippThrottled";
    case 503:
    case 504:
      return "CippUnavailable";
    default:
      return status >= 500 ? "CippFailed" : "CippBadRequest";
  }
}

/**
 * A client for a CIPP instance's API. It sends CIPP's dialect and reads CIPP's answers; core's vocabulary is spoken
 * by the operations on top (`cippGetUserMfa`, `cippSetUserMfa`, `cippListUsers`, `cippPort`).
 */
export function createCippClient(options: CippClientOptions): CippClient {
  const url = normalizeUrl(options.url);
  const scope = options.scope ?? `api://${options.clientId}/.default`;
  const tokens: CippTokenProvider = createCippTokenProvider({
    tenantId: options.tenantId,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    authorityHost: options.authorityHost ?? "https://login.microsoftonline.com",
    scope,
    fetch: options.fetch,
    onEvent: options.onEvent,
  });
  const clock = options.clock ?? systemClock;
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const random = options.random ?? Math.random;
  const secrets = [options.clientSecret];
  const clean = (text: string) => redactCredentials(text, secrets);

  const attempt = async (target: string, req: CippCall, token: string, n: number, signal: AbortSignal): Promise<Raw> => {
    const started = clock.now();
    options.onEvent?.({ type: "request", tenant: req.tenant, method: req.method, url: target, attempt: n });
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "application/json" };
    if (req.body !== undefined) headers["content-type"] = "application/json";
    const res = await options.fetch(target, { method: req.method, headers, ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}), signal });
    const text = await res.text();
    options.onEvent?.({ type: "response", tenant: req.tenant, method: req.method, url: target, status: res.status, requestId: requestIdOf(res.headers), durationMs: clock.now() - started, attempt: n });
    return { status: res.status, headers: res.headers, text };
  };

  return {
    url,
    clientId: options.clientId,
    clock,
    readBackDelaysMs: options.readBackDelaysMs ?? DEFAULT_READ_BACK_DELAYS_MS,
    async call<T>(req: CippCall): Promise<CippAnswer<T>> {
      const query = req.query && Object.keys(req.query).length > 0 ? `?${new URLSearchParams(req.query).toString()}` : "";
      const target = `${url}/api/${req.endpoint}${query}`;
      const who = req.user ? `user ${req.user}, ` : "";
      const fail = (status: number, message: string, extra: { requestId?: string | undefined; attempts?: number; code?: string } = {}) =>
        new CippError(clean(message), { status, code: extra.code ?? codeFor(status), tenant: req.tenant, user: req.user, endpoint: req.endpoint, requestId: extra.requestId, attempts: extra.attempts });

      let refreshed = false;
      for (;;) {
        const token = await tokens.getToken(refreshed);
        const { result, attempts } = await withRetry((n, signal) => attempt(target, req, token, n, signal), { tenant: req.tenant, method: req.method, url: target, signal: req.signal }, { policy, clock, random, onEvent: options.onEvent });
        const requestId = requestIdOf(result.headers);
        // A token CIPP refuses is fetched again once (it may have been revoked or rotated), then the refusal stands.
        if (result.status === 401 && !refreshed) {
          refreshed = true;
          continue;
        }
        const said = cippMessage(result.text);
        const tries = attempts > 1 ? ` Gave up after ${attempts} attempts.` : "";
        if (result.status === 401) {
          const why = /error_description="([^"]*)"/.exec(result.headers.get("www-authenticate") ?? "")?.[1];
          throw fail(401, `CIPP at ${url} refused the access token (HTTP 401${why ? `: ${why}` : ""}). Check that CIPP's API client ${options.clientId} may call it, and that the token is for ${scope} from tenant ${options.tenantId}.`, { requestId, attempts });
        }
        if (result.status === 404 && said === undefined)
          throw fail(404, `CIPP at ${url} has no endpoint ${req.endpoint} (HTTP 404): check the CIPP URL.`, { requestId, attempts });
        if (result.status < 200 || result.status >= 300)
          throw fail(result.status, `CIPP answered ${result.status} to ${req.endpoint} (${who}tenant ${req.tenant}): ${(said ?? `HTTP ${result.status}`).replace(/\.+$/, "")}.${tries}`, { requestId, attempts });
        if (result.text.trim() === "") return { status: result.status, body: undefined as T, requestId, attempts };
        try {
          return { status: result.status, body: JSON.parse(result.text) as T, requestId, attempts };
        } catch {
          throw fail(result.status, `CIPP answered ${req.endpoint} (${who}tenant ${req.tenant}) with a body that is not JSON: ${oneLine(result.text, 200)}`, { requestId, attempts, code: "UnexpectedResponse" });
        }
      }
    },
  };
}

function requestIdOf(headers: Headers): string | undefined {
  return headers.get("request-id") ?? headers.get("x-ms-request-id") ?? headers.get("x-request-id") ?? undefined;
}
