import { randomUUID } from "node:crypto";
import { GraphError, UsageError } from "../domain/errors.js";
import { createMsalTokenProvider } from "./auth.js";
import { systemClock } from "./clock.js";
import { createFetch } from "./http.js";
import { oneLine } from "./network-errors.js";
import { withRetry, type AttemptResult } from "./retry.js";
import { createTenantGate } from "./throttle.js";
import {
  DEFAULT_RETRY_POLICY,
  type GraphClient,
  type GraphClientOptions,
  type GraphRequest,
  type GraphResponse,
  type RetryPolicy,
} from "./types.js";

/** One attempt's answer, body read as text. */
interface RawResponse extends AttemptResult {
  text: string;
}

/** Graph's error envelope. */
interface GraphErrorBody {
  error?: {
    code?: unknown;
    message?: unknown;
    innerError?: Record<string, unknown>;
    innererror?: Record<string, unknown>;
  };
}

/** A Graph client that also says where it points. */
export interface GraphClientWithRoot extends GraphClient {
  readonly graphUrl: string;
}

/** Parses and checks a root URL setting (https only), without trailing slash. */
export function normalizeGraphUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`graphUrl ${JSON.stringify(value)} is not a URL; expected for example https://graph.microsoft.com.`);
  }
  if (url.protocol !== "https:") throw new UsageError(`graphUrl must be an https:// URL (got ${url.protocol}//${url.host}).`);
  if (url.search !== "" || url.hash !== "") throw new UsageError("graphUrl must not carry a query or fragment.");
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}

/**
 * Encodes query parameters with URLSearchParams, then keeps OData's `$` in keys (`$select`, not
 * `%24select`) and writes spaces as `%20` (a literal `+` is already `%2B`).
 */
export function encodeQuery(query: Record<string, string>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) params.append(key, value);
  return params
    .toString()
    .split("&")
    .filter((pair) => pair !== "")
    .map((pair) => pair.replace(/^%24/, "$").replace(/\+/g, "%20"))
    .join("&");
}

/** The URL a request goes to; refuses unencoded paths and any origin but Graph's. */
export function buildGraphUrl(graphUrl: string, req: Pick<GraphRequest, "path" | "query">): string {
  const { path } = req;
  let url: string;
  if (/^https?:\/\//i.test(path)) {
    let parsed: URL;
    try {
      parsed = new URL(path);
    } catch {
      throw new UsageError(`Not a URL: ${JSON.stringify(path)}.`);
    }
    const root = new URL(graphUrl);
    const rootPath = root.pathname.replace(/\/+$/, "");
    if (parsed.origin !== root.origin || !parsed.pathname.startsWith(`${rootPath}/`)) {
      throw new UsageError(`Refusing to send a Graph request (and its token) to ${parsed.origin}${parsed.pathname}: it is not under ${graphUrl}.`);
    }
    url = path;
  } else {
    if (!path.startsWith("/")) throw new UsageError(`Graph path ${JSON.stringify(path)} must start with "/" and name the version, e.g. /v1.0/users.`);
    url = `${graphUrl}${path}`;
  }
  const raw = /[#\s]/.exec(url);
  if (raw) {
    throw new UsageError(
      `Graph path ${JSON.stringify(path)} contains an unencoded ${JSON.stringify(raw[0])}: percent-encode path segments (encodeURIComponent), e.g. a guest's #EXT# UPN.`,
    );
  }
  if (req.query && Object.keys(req.query).length > 0) {
    const qs = encodeQuery(req.query);
    if (qs !== "") url += (url.includes("?") ? "&" : "?") + qs;
  }
  return url;
}

function parseBody(raw: RawResponse): { ok: true; value: unknown } | { ok: false } {
  if (raw.status === 204 || raw.text.trim() === "") return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(raw.text) as unknown };
  } catch {
    return { ok: false };
  }
}

function errorFields(body: unknown): { code: string | undefined; message: string | undefined; requestId: string | undefined } {
  const error = typeof body === "object" && body !== null ? (body as GraphErrorBody).error : undefined;
  if (typeof error !== "object" || error === null) return { code: undefined, message: undefined, requestId: undefined };
  const inner = error.innerError ?? error.innererror;
  const requestId = inner?.["request-id"] ?? inner?.["requestId"];
  return {
    code: typeof error.code === "string" && error.code !== "" ? error.code : undefined,
    message: typeof error.message === "string" ? error.message : undefined,
    requestId: typeof requestId === "string" ? requestId : undefined,
  };
}

/** The application permission a Graph path needs, for the 403 hint. */
export function permissionFor(path: string, method: string): string {
  if (/\/authentication\/methods/i.test(path)) return "reading registered methods needs UserAuthenticationMethod.Read.All";
  if (/\/authentication\/requirements/i.test(path)) return method === "GET" ? "reading per-user MFA needs Policy.Read.All" : "changing per-user MFA needs Policy.ReadWrite.AuthenticationMethod";
  if (/\/roleManagement\//i.test(path)) return "reading directory roles needs RoleManagement.Read.Directory";
  if (/\/groups\b|\/(transitive)?memberOf/i.test(path)) return "reading groups and their members needs GroupMember.Read.All";
  if (/\/users\b/i.test(path)) return "reading users needs User.Read.All";
  return "reading per-user MFA needs Policy.Read.All, changing it Policy.ReadWrite.AuthenticationMethod";
}

function hintFor(status: number, tenant: string, path = "", method = "GET"): string {
  switch (status) {
    case 401:
      return " Graph rejected the app's token: check the app registration and that it is consented in this tenant.";
    case 403:
      return ` The app lacks the Graph permission for this call, or admin consent for it, in tenant ${tenant} (${permissionFor(path, method)}).`;
    case 429:
      return " Graph is throttling this app in the tenant: try again later or with less concurrency.";
    default:
      return "";
  }
}

function pathOf(url: string, graphUrl: string): string {
  const noQuery = url.split("?")[0] ?? url;
  return noQuery.startsWith(graphUrl) ? noQuery.slice(graphUrl.length) : noQuery;
}

function definedOnly(policy: Partial<RetryPolicy> | undefined): Partial<RetryPolicy> {
  const out: Partial<RetryPolicy> = {};
  if (!policy) return out;
  for (const key of Object.keys(policy) as (keyof RetryPolicy)[]) {
    const value = policy[key];
    if (typeof value === "number" && Number.isFinite(value)) out[key] = value;
  }
  return out;
}

/**
 * A Graph client: auth -> per-tenant gate -> retry -> fetch. Each request gets a token for its
 * tenant, waits its turn at the tenant's gate, and is retried on 429/503/504 and network failures.
 * A 401 `InvalidAuthenticationToken` renews the token and goes again once.
 *
 * Throws GraphError (a non-2xx answer after retries), NetworkError (no answer), AuthError (no
 * token), UsageError (a request that cannot be sent as given), or the caller's abort reason.
 */
export function createGraphClient(options: GraphClientOptions): GraphClientWithRoot {
  const graphUrl = normalizeGraphUrl(options.graphUrl);
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...definedOnly(options.retry) };
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const onEvent = options.onEvent;
  const http = options.fetch ? undefined : createFetch({ caPem: options.caPem, keepAlive: true });
  const fetch = options.fetch ?? http?.fetch;
  if (!fetch) throw new TypeError("createGraphClient: no fetch");
  const tokens =
    options.tokenProvider ??
    createMsalTokenProvider({
      clientId: options.clientId,
      credential: options.credential,
      authorityHost: options.authorityHost,
      graphUrl,
      fetch,
      onEvent,
    });
  const gate = options.gate ?? createTenantGate({ concurrency: options.perTenantConcurrency, clock, onEvent });

  const attemptOnce = async (req: GraphRequest, url: string, token: string, attempt: number, signal: AbortSignal): Promise<RawResponse> => {
    const headers = new Headers(req.headers);
    headers.set("Accept", "application/json");
    headers.set("client-request-id", randomUUID());
    const init: RequestInit = { method: req.method, headers, signal };
    if (req.body !== undefined) {
      headers.set("Content-Type", "application/json");
      init.body = JSON.stringify(req.body);
    }
    headers.set("Authorization", `Bearer ${token}`);
    onEvent?.({ type: "request", tenant: req.tenant, method: req.method, url, attempt });
    const started = clock.now();
    const response = await fetch(url, init);
    const text = await response.text();
    onEvent?.({
      type: "response",
      tenant: req.tenant,
      method: req.method,
      url,
      status: response.status,
      requestId: response.headers.get("request-id") ?? undefined,
      durationMs: clock.now() - started,
      attempt,
    });
    return { status: response.status, headers: response.headers, text };
  };

  const request = async <T>(req: GraphRequest): Promise<GraphResponse<T>> => {
    const url = buildGraphUrl(graphUrl, req);
    const { tenant } = req;
    let token = await tokens.getToken(tenant);
    let attempts = 0;
    for (let round = 1; ; round++) {
      const before = attempts;
      const outcome = await gate.run(
        tenant,
        () =>
          withRetry((n, signal) => attemptOnce(req, url, token, before + n, signal), { tenant, method: req.method, url, signal: req.signal }, {
            policy,
            clock,
            random,
            onEvent,
            onResult: (result) => gate.observe(tenant, result),
          }),
        req.signal,
      );
      attempts += outcome.attempts;
      const raw = outcome.result;
      const parsed = parseBody(raw);
      const fields = parsed.ok ? errorFields(parsed.value) : { code: undefined, message: undefined, requestId: undefined };
      const requestId = raw.headers.get("request-id") ?? fields.requestId;

      if (raw.status === 401 && round === 1 && (fields.code === "InvalidAuthenticationToken" || (parsed.ok && parsed.value === undefined))) {
        // Another request may have renewed the token already; otherwise force a new one.
        const cached = await tokens.getToken(tenant);
        token = cached !== token ? cached : await tokens.getToken(tenant, { forceRefresh: true });
        continue;
      }

      if (raw.status >= 200 && raw.status < 300) {
        if (!parsed.ok) {
          throw new GraphError(
            `Graph answered ${req.method} ${pathOf(url, graphUrl)} with ${raw.status} but a body that is not JSON (tenant ${tenant}).`,
            { status: raw.status, code: "InvalidResponseBody", requestId, tenant, user: req.user, attempts },
          );
        }
        return { status: raw.status, headers: raw.headers, body: parsed.value as T, requestId, attempts };
      }

      const code = fields.code ?? (parsed.ok ? "UnknownError" : "NonJsonErrorResponse");
      const who = req.user !== undefined ? `tenant ${tenant}, user ${req.user}` : `tenant ${tenant}`;
      const detail = fields.message ? `: ${oneLine(fields.message).replace(/\.+$/, "")}` : "";
      const tries = attempts > 1 ? ` Gave up after ${attempts} attempts.` : "";
      const rid = requestId ? ` (request-id ${requestId})` : "";
      throw new GraphError(
        `Graph answered ${raw.status} ${code} to ${req.method} ${pathOf(url, graphUrl)} (${who})${detail}.${hintFor(raw.status, tenant, pathOf(url, graphUrl), req.method)}${tries}${rid}`,
        { status: raw.status, code, requestId, tenant, user: req.user, attempts },
      );
    }
  };

  return {
    graphUrl,
    request,
    close: async () => {
      await http?.close();
    },
  };
}

/** A page of a Graph collection. */
interface CollectionPage<T> {
  value?: T[];
  "@odata.nextLink"?: string;
}

/**
 * Every item of a Graph collection, page by page, following `@odata.nextLink` (which must stay
 * under the client's Graph root). Only one page is held at a time; breaking out of the loop stops
 * before the next page is requested.
 */
export async function* graphPaginate<T>(client: GraphClient, req: GraphRequest): AsyncGenerator<T, void, undefined> {
  let next: GraphRequest | undefined = req;
  const seen = new Set<string>();
  while (next) {
    const res: GraphResponse<CollectionPage<T> | undefined> = await client.request<CollectionPage<T> | undefined>(next);
    const page = res.body;
    const fail = (code: string, message: string) =>
      new GraphError(message, { status: res.status, code, requestId: res.requestId, tenant: req.tenant, user: req.user, attempts: res.attempts });
    if (typeof page !== "object" || page === null || !Array.isArray(page.value)) {
      throw fail("UnexpectedResponse", `Graph answered ${req.method} ${req.path} without a collection ("value" array) (tenant ${req.tenant}).`);
    }
    for (const item of page.value) yield item;
    const link = page["@odata.nextLink"];
    if (typeof link !== "string" || link === "") return;
    if (client.graphUrl !== undefined) {
      let target: URL | undefined;
      try {
        target = new URL(link, `${client.graphUrl}/`);
      } catch {
        target = undefined;
      }
      const root = new URL(client.graphUrl);
      if (!target || target.origin !== root.origin) {
        throw fail("UnexpectedNextLink", `Graph's @odata.nextLink points away from ${root.origin} (to ${target?.origin ?? JSON.stringify(link)}); refusing to follow it (tenant ${req.tenant}).`);
      }
    }
    if (seen.has(link)) throw fail("RepeatedNextLink", `Graph returned the same @odata.nextLink twice; stopping (tenant ${req.tenant}).`);
    seen.add(link);
    next = { ...req, path: link, query: undefined };
  }
}
