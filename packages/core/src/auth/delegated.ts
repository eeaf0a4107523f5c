import { LogLevel, PublicClientApplication, type AccountInfo, type AuthenticationResult } from "@azure/msal-node";
import { AuthError, GraphError, NetworkError, UsageError } from "../domain/errors.js";
import { FetchNetworkModule, MICROSOFT_AUTHORITY_HOSTS, mapMsalError } from "../transport/auth.js";
import type { EventSink, FetchLike, GraphClient, GraphRequest, GraphResponse, TokenProvider } from "../transport/types.js";
import { AccessError, causeFromAadsts, describeAuthCause, type AuthCause } from "./errors.js";
import type { StoredAccount, TokenStore } from "./token-store.js";

/**
 * How mfactl reaches a tenant: `app` (client credentials, the app's own permissions), `gdap` (the partner
 * administrator's refresh token redeemed in the customer tenant: the GDAP relationship's roles) or
 * `delegated` (a tenant administrator signed in to their own tenant: their directory roles).
 */
export const ACCESS_MODES = ["app", "gdap", "delegated"] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

export interface PublicClientOptions {
  clientId: string;
  /** e.g. https://login.microsoftonline.com (no tenant). */
  authorityHost: string;
  /** e.g. https://graph.microsoft.com: delegated tokens ask for `${graphUrl}/.default`. */
  graphUrl: string;
  fetch: FetchLike;
  store: TokenStore;
  requestTimeoutMs?: number | undefined;
}

interface PublicClient {
  app: PublicClientApplication;
  network: FetchNetworkModule;
  scopes: string[];
  host: string;
}

function trim(url: string): string {
  return url.replace(/\/+$/, "");
}

function publicClient(options: PublicClientOptions): PublicClient {
  if (options.clientId.trim() === "") throw new UsageError("The client id is empty: set MFACTL_CLIENT_ID or the profile's clientId.");
  const host = trim(options.authorityHost);
  const hostName = new URL(host).host.toLowerCase();
  const network = new FetchNetworkModule(options.fetch, options.requestTimeoutMs);
  const app = new PublicClientApplication({
    auth: {
      clientId: options.clientId,
      authority: `${host}/organizations`,
      ...(MICROSOFT_AUTHORITY_HOSTS.has(hostName) ? {} : { knownAuthorities: [new URL(host).host] }),
    },
    cache: { cachePlugin: options.store.cachePlugin() },
    system: { networkClient: network, loggerOptions: { loggerCallback: () => {}, piiLoggingEnabled: false, logLevel: LogLevel.Error } },
  });
  // `.default`: every delegated Graph permission consented for the app; offline_access: a refresh token.
  return { app, network, scopes: [`${trim(options.graphUrl)}/.default`, "offline_access"], host };
}

function codesOf(codes: readonly number[]): string {
  return codes.length ? ` (${codes.map((n) => `AADSTS${n}`).join(", ")})` : "";
}

function mapError(error: unknown, client: PublicClient, ctx: { tenant: string; clientId: string; partner: boolean }): AuthError | NetworkError | UsageError {
  const mapped = mapMsalError(error, client.network.observed, {
    tenant: ctx.tenant,
    clientId: ctx.clientId,
    authority: `${client.host}/${ctx.tenant}`,
    scope: client.scopes.join(" "),
    secrets: [],
  });
  if (!(mapped instanceof AuthError) || mapped instanceof AccessError) return mapped;
  let cause: AuthCause | undefined = causeFromAadsts(mapped.aadstsCodes);
  // Any other refused grant: the refresh token cannot be used any more.
  if (!cause && (mapped.code === "invalid_grant" || mapped.code === "interaction_required")) cause = "signInAgain";
  if (!cause) return mapped;
  return new AccessError(`${describeAuthCause(cause, { ...ctx, clientId: ctx.clientId })}${codesOf(mapped.aadstsCodes)}`, {
    tenant: ctx.tenant,
    code: mapped.code,
    authCause: cause,
    aadstsCodes: mapped.aadstsCodes,
    correlationId: mapped.correlationId,
  }, { cause: mapped });
}

export interface DeviceCodeLoginOptions extends PublicClientOptions {
  /** The tenant to sign in to (a tenant administrator), or the partner tenant; default `organizations`. */
  tenant?: string | undefined;
  partner: boolean;
  /** msal's message (the URL and the code to enter), for the person at the terminal. */
  onMessage: (message: string) => void;
  signal?: AbortSignal | undefined;
}

function storedAccount(result: AuthenticationResult, options: PublicClientOptions): StoredAccount {
  const account = result.account;
  if (!account) throw new AuthError("The authority returned no account for the sign-in.", { tenant: "organizations", code: "no_account" });
  return {
    homeAccountId: account.homeAccountId,
    userPrincipalName: account.username,
    tenantId: account.tenantId || result.tenantId,
    authorityHost: trim(options.authorityHost),
    clientId: options.clientId,
    signedInAt: new Date().toISOString(),
  };
}

/**
 * Device-code sign-in: prints msal's message, waits for the person to finish in a browser, then keeps the
 * tokens (refresh token included) in the encrypted store and remembers the account for `--partner` or the tenant.
 */
export async function loginWithDeviceCode(options: DeviceCodeLoginOptions): Promise<StoredAccount> {
  const client = publicClient(options);
  const tenant = options.tenant ?? "organizations";
  const request = {
    scopes: client.scopes,
    authority: `${client.host}/${tenant}`,
    deviceCodeCallback: (response: { message: string }) => options.onMessage(response.message),
    cancel: false,
  };
  const onAbort = () => {
    request.cancel = true;
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let result: AuthenticationResult | null;
  try {
    result = await client.app.acquireTokenByDeviceCode(request);
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason instanceof Error ? options.signal.reason : new Error("interrupted");
    throw mapError(error, client, { tenant, clientId: options.clientId, partner: options.partner });
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  if (!result) throw new AuthError("The sign-in returned no token.", { tenant, code: "no_token" });
  const account = storedAccount(result, options);
  options.store.update((content) => {
    if (options.partner) content.partner = account;
    else content.tenants[options.tenant ?? account.tenantId] = account;
  });
  return account;
}

interface MsalCacheJson {
  RefreshToken?: Record<string, { home_account_id?: string; secret?: string; client_id?: string; environment?: string }>;
  [section: string]: unknown;
}

function parseCache(serialized: string): MsalCacheJson {
  if (serialized === "") return {};
  try {
    return JSON.parse(serialized) as MsalCacheJson;
  } catch {
    return {};
  }
}

export interface DelegatedTokenProvider extends TokenProvider {
  /** The account a tenant's tokens come from in this mode, when someone is signed in. */
  accountFor(tenant: string, mode: "gdap" | "delegated"): StoredAccount | undefined;
}

export interface DelegatedTokenProviderOptions extends PublicClientOptions {
  /** Which account a tenant uses: the partner's (`gdap`) or its own administrator's (`delegated`). */
  modeFor: (tenant: string) => "gdap" | "delegated";
  onEvent?: EventSink | undefined;
  /** Clock for access-token expiry (ms). */
  now?: () => number;
}

/**
 * Delegated Graph tokens per tenant: the signed-in account's refresh token is redeemed against
 * `<authorityHost>/<tenant>` (for a GDAP customer, the customer's own authority). Entra returns a new
 * refresh token each time; msal keeps it in the encrypted store, so the next run uses the new one.
 * Redemptions run one at a time: each one may replace the refresh token the next one needs.
 */
export function createDelegatedTokenProvider(options: DelegatedTokenProviderOptions): DelegatedTokenProvider {
  let client: PublicClient | undefined;
  const now = options.now ?? Date.now;
  const tokens = new Map<string, { accessToken: string; expiresAt: number }>();
  /** A failure that makes every later redemption with this account pointless (revoked, expired). */
  const deadAccounts = new Map<string, AccessError>();
  let queue: Promise<unknown> = Promise.resolve();
  const issued = new Set<string>();

  const accountFor = (tenant: string, mode: "gdap" | "delegated"): StoredAccount | undefined => {
    const content = options.store.read();
    const matches = (a: StoredAccount | undefined) => a !== undefined && a.authorityHost === trim(options.authorityHost) && a.clientId === options.clientId;
    if (mode === "gdap") return matches(content.partner) ? content.partner : undefined;
    const lower = tenant.toLowerCase();
    const byName = Object.entries(content.tenants).find(([name, a]) => (name.toLowerCase() === lower || a.tenantId.toLowerCase() === lower) && matches(a));
    return byName?.[1];
  };

  const redeem = async (tenant: string, mode: "gdap" | "delegated", force: boolean): Promise<string> => {
    const key = `${mode}:${tenant.toLowerCase()}`;
    const cached = tokens.get(key);
    if (cached && !force && cached.expiresAt - 60_000 > now()) return cached.accessToken;
    const partner = mode === "gdap";
    const account = accountFor(tenant, mode);
    if (!account) {
      throw new AccessError(describeAuthCause("notSignedIn", { tenant, partner }), { tenant, code: "not_signed_in", authCause: "notSignedIn" });
    }
    const dead = deadAccounts.get(account.homeAccountId);
    if (dead) throw new AccessError(`${describeAuthCause(dead.authCause, { tenant, partner })}${codesOf(dead.aadstsCodes)}`, { tenant, code: dead.code, authCause: dead.authCause, aadstsCodes: dead.aadstsCodes });
    client ??= publicClient(options);
    const c = client;
    const before = parseCache(options.store.read().msalCache);
    const refreshEntry = Object.entries(before.RefreshToken ?? {}).find(([, rt]) => rt.home_account_id === account.homeAccountId && rt.client_id === options.clientId);
    const refreshToken = refreshEntry?.[1].secret;
    if (!refreshEntry || !refreshToken) {
      throw new AccessError(describeAuthCause("notSignedIn", { tenant, partner }), { tenant, code: "no_refresh_token", authCause: "notSignedIn" });
    }
    c.network.observed = {};
    let result: AuthenticationResult | null;
    try {
      result = await c.app.acquireTokenByRefreshToken({ refreshToken, scopes: c.scopes, authority: `${c.host}/${tenant}`, forceCache: true });
    } catch (error) {
      const mapped = mapError(error, c, { tenant, clientId: options.clientId, partner });
      if (mapped instanceof AccessError && mapped.authCause === "signInAgain") deadAccounts.set(account.homeAccountId, mapped);
      throw mapped;
    }
    if (!result?.accessToken) throw new AuthError(`The authority returned no access token for tenant ${tenant}.`, { tenant, code: "no_token" });
    keepRotatedRefreshToken(refreshEntry[0], refreshToken, account.homeAccountId);
    tokens.set(key, { accessToken: result.accessToken, expiresAt: result.expiresOn?.getTime() ?? now() + 300_000 });
    options.onEvent?.({ type: "token", tenant, reason: force ? "rejected" : issued.has(key) ? "expired" : "initial" });
    issued.add(key);
    return result.accessToken;
  };

  /**
   * msal files the new refresh token under the account the response names; when that is the customer's
   * tenant profile and not the home account, the home account's entry still holds the redeemed one. Copy the
   * new one over so the next redemption (this run or the next) uses it.
   */
  const keepRotatedRefreshToken = (entryKey: string, redeemed: string, homeAccountId: string): void => {
    options.store.update((content) => {
      const cache = parseCache(content.msalCache);
      const rts = cache.RefreshToken ?? {};
      const entry = rts[entryKey];
      if (!entry || entry.secret !== redeemed) return;
      const fresh = Object.entries(rts).find(([k, rt]) => k !== entryKey && rt.client_id === options.clientId && rt.secret !== redeemed && rt.home_account_id !== homeAccountId);
      if (!fresh?.[1].secret) return;
      entry.secret = fresh[1].secret;
      delete rts[fresh[0]];
      content.msalCache = JSON.stringify(cache);
    });
  };

  const getToken = (tenant: string, opts?: { forceRefresh?: boolean | undefined }): Promise<string> => {
    const mode = options.modeFor(tenant);
    const next = queue.then(() => redeem(tenant, mode, opts?.forceRefresh === true));
    queue = next.catch(() => undefined);
    return next;
  };

  return { getToken, accountFor };
}

export interface AccessTokenProviderOptions {
  modeFor: (tenant: string) => AccessMode;
  /** Built on first use: a profile reaching every tenant through GDAP needs no app credential. */
  app: () => TokenProvider;
  delegated: () => TokenProvider;
}

/** Per tenant, the token of its access mode. */
export function createAccessTokenProvider(options: AccessTokenProviderOptions): TokenProvider {
  let app: TokenProvider | undefined;
  let delegated: TokenProvider | undefined;
  return {
    getToken(tenant, opts) {
      if (options.modeFor(tenant) === "app") {
        app ??= options.app();
        return app.getToken(tenant, opts);
      }
      delegated ??= options.delegated();
      return delegated.getToken(tenant, opts);
    },
  };
}

const WRITES_PER_USER_MFA = /\/authentication\/requirements/i;

function gdapDenial(status: number, body: unknown): boolean {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return status === 403 && (code === "Authorization_RequestDenied" || code === "Forbidden" || code === "accessDenied");
}

/**
 * For tenants reached through GDAP, a 403 on a per-user MFA write means the relationship lacks the role:
 * the error says so (direct requests and `$batch` items), instead of blaming the app's permissions.
 */
export function withGdapErrors(client: GraphClient, modeFor: (tenant: string) => AccessMode): GraphClient {
  const roleMessage = (tenant: string) => describeAuthCause("missingRole", { tenant });
  const request = async <T>(req: GraphRequest): Promise<GraphResponse<T>> => {
    const mode = modeFor(req.tenant);
    if (mode !== "gdap") return client.request<T>(req);
    try {
      const res = await client.request<T>(req);
      if (/\/\$batch$/.test(req.path.split("?")[0] ?? "")) rewriteBatch(req, res.body, roleMessage(req.tenant));
      return res;
    } catch (error) {
      if (error instanceof GraphError && error.status === 403 && req.method !== "GET" && WRITES_PER_USER_MFA.test(req.path)) {
        throw new GraphError(`${roleMessage(req.tenant)} (Graph: ${error.message})`, { status: error.status, code: error.code, requestId: error.requestId, tenant: error.tenant, user: error.user, attempts: error.attempts }, { cause: error });
      }
      throw error;
    }
  };
  return { request, close: () => client.close(), ...(client.graphUrl !== undefined ? { graphUrl: client.graphUrl } : {}) };
}

function rewriteBatch(req: GraphRequest, body: unknown, message: string): void {
  const requests = (req.body as { requests?: { id?: unknown; method?: unknown; url?: unknown }[] } | undefined)?.requests ?? [];
  const writes = new Set(requests.filter((r) => r.method !== "GET" && typeof r.url === "string" && WRITES_PER_USER_MFA.test(r.url)).map((r) => String(r.id)));
  const responses = (body as { responses?: { id?: unknown; status?: unknown; body?: unknown }[] } | undefined)?.responses ?? [];
  for (const item of responses) {
    if (!writes.has(String(item.id)) || typeof item.status !== "number" || !gdapDenial(item.status, item.body)) continue;
    const error = (item.body as { error: { message?: unknown } }).error;
    const original = typeof error.message === "string" ? error.message.replace(/\.+$/, "") : "";
    error.message = `${message.replace(/\.$/, "")}${original ? ` (Graph: ${original})` : ""}`;
  }
}

/** The msal account for a stored one (to remove it at logout). */
export async function msalAccount(options: PublicClientOptions, stored: StoredAccount): Promise<AccountInfo | null> {
  return publicClient(options).app.getTokenCache().getAccountByHomeId(stored.homeAccountId);
}
