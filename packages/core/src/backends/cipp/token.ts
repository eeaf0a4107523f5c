import { ConfidentialClientApplication, LogLevel } from "@azure/msal-node";
import { AuthError, NetworkError, UsageError } from "../../domain/errors.js";
import { tenantRefProblem } from "../../domain/references.js";
import { FetchNetworkModule, MICROSOFT_AUTHORITY_HOSTS, redactCredentials } from "../../transport/auth.js";
import { oneLine } from "../../transport/network-errors.js";
import type { EventSink, FetchLike } from "../../transport/types.js";

export interface CippTokenOptions {
  /** The tenant CIPP's API client is registered in (the partner's own). */
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** e.g. https://login.microsoftonline.com (no tenant). */
  authorityHost: string;
  /** `api://<clientId>/.default` unless another app is the CIPP API. */
  scope: string;
  fetch: FetchLike;
  onEvent?: EventSink | undefined;
}

/** Tokens for CIPP's API: one MSAL client (and its cache) for the API client's own tenant. */
export interface CippTokenProvider {
  getToken(forceRefresh: boolean): Promise<string>;
}

/** What to do about the AADSTS codes a CIPP API client meets when its settings are wrong. */
function adviceFor(code: number, o: CippTokenOptions): string | undefined {
  switch (code) {
    case 7000215:
      return `The client secret is not valid for CIPP's API client ${o.clientId} (AADSTS7000215). Use the secret value CIPP showed when the API client was created.`;
    case 7000222:
      return `The client secret of CIPP's API client ${o.clientId} has expired (AADSTS7000222). Create a new secret for it in CIPP (Integrations > CIPP-API) or in its app registration.`;
    case 700016:
      return `CIPP's API client ${o.clientId} was not found in tenant ${o.tenantId} (AADSTS700016): check the client id, and that the tenant is the one CIPP runs in.`;
    case 90002:
    case 900023:
      return `Tenant ${o.tenantId} was not found (AADSTS${code}): give the tenant id (or domain) CIPP's API client is registered in.`;
    case 500011:
      return `No API named ${o.scope.replace(/\/\.default$/, "")} exists in tenant ${o.tenantId} (AADSTS500011): the client id must be CIPP's API client, whose identifier URI is api://<client id>.`;
    case 501051:
      return `App ${o.clientId} is not assigned a role on ${o.scope.replace(/\/\.default$/, "")} (AADSTS501051): allow it in CIPP (Integrations > CIPP-API) or assign it the API's role.`;
    case 70011:
    case 1002012:
      return `The scope ${o.scope} was rejected (AADSTS${code}).`;
    default:
      return undefined;
  }
}

/**
 * A client-credentials token provider for `scope`, through MSAL on the given fetch (so an extra CA, or the
 * explicit choice to skip certificate checks, applies to token requests too). Failures become AuthError or
 * NetworkError with a message that says what to fix; neither carries the secret.
 */
export function createCippTokenProvider(o: CippTokenOptions): CippTokenProvider {
  if (o.clientId.trim() === "") throw new UsageError("CIPP's client id is empty: give the client id of CIPP's API client.");
  if (o.clientSecret === "") throw new UsageError("CIPP's client secret is empty: give the secret of CIPP's API client.");
  const problem = tenantRefProblem(o.tenantId);
  if (problem) throw new UsageError(`CIPP's tenant: ${problem}`);
  let host: URL;
  try {
    host = new URL(o.authorityHost);
  } catch {
    throw new UsageError(`authorityHost ${JSON.stringify(o.authorityHost)} is not a URL; expected for example https://login.microsoftonline.com.`);
  }
  if (host.protocol !== "https:") throw new UsageError(`authorityHost must be an https:// URL (got ${host.protocol}//${host.host}).`);
  const authority = `${o.authorityHost.replace(/\/+$/, "")}/${o.tenantId}`;
  const network = new FetchNetworkModule(o.fetch);
  const knownAuthorities = MICROSOFT_AUTHORITY_HOSTS.has(host.host.toLowerCase()) ? undefined : [host.host];
  const app = new ConfidentialClientApplication({
    auth: { clientId: o.clientId, clientSecret: o.clientSecret, authority, ...(knownAuthorities ? { knownAuthorities } : {}) },
    system: { networkClient: network, loggerOptions: { loggerCallback: () => {}, piiLoggingEnabled: false, logLevel: LogLevel.Error } },
  });
  const secrets = [o.clientSecret];
  let issued = false;
  let inflight: Promise<string> | undefined;

  const mapError = (error: unknown): AuthError | NetworkError => {
    const observed = network.observed;
    if (observed.networkFailure) {
      const { url, failure } = observed.networkFailure;
      return new NetworkError(`Could not reach the authority for CIPP's tenant ${o.tenantId} (${new URL(url).origin}): ${failure.detail}.`, { code: failure.code, tenant: o.tenantId });
    }
    const body = observed.authorityError?.body;
    const status = observed.authorityError?.status;
    const entraCode = typeof body?.["error"] === "string" ? body["error"] : undefined;
    if (status !== undefined && (status >= 500 || status === 429) && entraCode === undefined)
      return new NetworkError(`The authority for CIPP's tenant ${o.tenantId} answered HTTP ${status}; try again later.`, { code: `HTTP_${status}`, tenant: o.tenantId });
    const msal = (typeof error === "object" && error !== null ? error : {}) as { errorCode?: unknown; errorMessage?: unknown; message?: unknown };
    const description = redactCredentials(typeof body?.["error_description"] === "string" ? body["error_description"] : "", secrets);
    const msalText = redactCredentials(typeof msal.errorMessage === "string" ? msal.errorMessage : typeof msal.message === "string" ? msal.message : String(error), secrets);
    const codes = [...new Set([...(Array.isArray(body?.["error_codes"]) ? (body["error_codes"] as unknown[]).filter((c): c is number => typeof c === "number") : []), ...[...`${description} ${msalText}`.matchAll(/AADSTS(\d+)/g)].map((m) => Number(m[1]))])];
    const code = entraCode ?? (typeof msal.errorCode === "string" && msal.errorCode !== "" ? msal.errorCode : "unknown_error");
    let message = codes.map((c) => adviceFor(c, o)).find((m) => m !== undefined);
    if (!message && code === "endpoints_resolution_error") message = `Could not read the OpenID configuration of ${authority}: check authorityHost and CIPP's tenant ${o.tenantId}.`;
    const detail = oneLine((description || msalText).replace(/^AADSTS\d+:\s*/, "").split(/\r?\n| Trace ID:/)[0] ?? "", 240);
    message ??= `Could not get a token for CIPP (tenant ${o.tenantId}, client ${o.clientId}): ${code}${codes.length ? ` (${codes.map((c) => `AADSTS${c}`).join(", ")})` : ""}${detail ? `: ${detail}` : ""}`;
    return new AuthError(message, { tenant: o.tenantId, code, aadstsCodes: codes });
  };

  const acquire = async (force: boolean): Promise<string> => {
    network.observed = {};
    let result;
    try {
      result = await app.acquireTokenByClientCredential({ scopes: [o.scope], skipCache: force });
    } catch (error) {
      throw mapError(error);
    }
    if (!result?.accessToken) throw new AuthError(`The authority returned no access token for CIPP (tenant ${o.tenantId}).`, { tenant: o.tenantId, code: "no_token" });
    if (!result.fromCache) o.onEvent?.({ type: "token", tenant: o.tenantId, reason: force ? "rejected" : issued ? "expired" : "initial" });
    issued = true;
    return result.accessToken;
  };

  return {
    getToken(forceRefresh) {
      // Concurrent calls share one token request; a forced refresh waits for none.
      if (inflight && !forceRefresh) return inflight;
      const p = acquire(forceRefresh);
      inflight = p;
      const clear = () => {
        if (inflight === p) inflight = undefined;
      };
      void p.then(clear, clear);
      return p;
    },
  };
}
