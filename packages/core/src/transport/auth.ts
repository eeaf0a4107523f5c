import { X509Certificate, createPrivateKey } from "node:crypto";
import {
  ConfidentialClientApplication,
  LogLevel,
  type Configuration,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from "@azure/msal-node";
import { AuthError, NetworkError, UsageError } from "../domain/errors.js";
import { tenantRefProblem } from "../domain/references.js";
import { describeNetworkFailure, oneLine, type NetworkFailure } from "./network-errors.js";
import type { Credential, EventSink, FetchLike, TokenProvider } from "./types.js";

/** Authority hosts of Microsoft's public and sovereign clouds: MSAL discovers these itself. */
export const MICROSOFT_AUTHORITY_HOSTS: ReadonlySet<string> = new Set([
  "login.microsoftonline.com",
  "login.microsoftonline.us",
  "login.chinacloudapi.cn",
  "login.microsoftonline.de",
]);

export interface MsalTokenProviderOptions {
  clientId: string;
  credential: Credential;
  /** e.g. https://login.microsoftonline.com (no tenant). */
  authorityHost: string;
  /** e.g. https://graph.microsoft.com: the token's scope is `${graphUrl}/.default`. */
  graphUrl: string;
  /** Network for MSAL (discovery and token requests): the same fetch as Graph, so an extra CA applies. */
  fetch: FetchLike;
  onEvent?: EventSink | undefined;
  /** Timeout of one request to the authority (default 30 000 ms). */
  requestTimeoutMs?: number | undefined;
}

/** What MSAL's `clientCertificate` needs, computed from PEM. */
export interface CertificateCredential {
  /** Hex SHA-256 thumbprint of the certificate (sent as the assertion's `x5t#S256`). */
  thumbprintSha256: string;
  /** PKCS#8 PEM private key. */
  privateKey: string;
  /** The certificate chain as PEM (sent as `x5c`, leaf first). */
  x5c: string;
}

const CERTIFICATE_PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PRIVATE_KEY_PEM = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----[\s\S]+?-----END \1-----/;

/**
 * Reads a certificate credential from PEM text. `certificatePem` may hold a chain (leaf first) and
 * both may be the same file (key + certificate). Throws UsageError, without key material, when the
 * PEM is unusable or the key does not belong to the certificate.
 */
export function certificateCredentialFromPem(certificatePem: string, privateKeyPem: string): CertificateCredential {
  const certs = certificatePem.match(CERTIFICATE_PEM) ?? [];
  const leafPem = certs[0];
  if (leafPem === undefined) throw new UsageError("The certificate file holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPem);
  } catch {
    throw new UsageError("The certificate could not be read: it is not a valid PEM X.509 certificate.");
  }
  const keyMatch = PRIVATE_KEY_PEM.exec(privateKeyPem);
  if (!keyMatch) throw new UsageError("The private key file holds no PEM private key (-----BEGIN PRIVATE KEY-----).");
  if (keyMatch[1] === "ENCRYPTED PRIVATE KEY") {
    throw new UsageError("The private key is encrypted; mfactl needs an unencrypted PEM private key (protect the file instead).");
  }
  let key;
  try {
    key = createPrivateKey(keyMatch[0]);
  } catch {
    throw new UsageError("The private key could not be read: it is not a valid PEM private key.");
  }
  if (key.asymmetricKeyType !== "rsa") {
    throw new UsageError(`The certificate's key is ${key.asymmetricKeyType ?? "unknown"}; Entra app certificates need an RSA key.`);
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new UsageError(`The private key does not belong to the certificate ${leaf.subject.replace(/\n/g, ", ")}.`);
  }
  return {
    thumbprintSha256: leaf.fingerprint256.replaceAll(":", "").toLowerCase(),
    privateKey: key.export({ format: "pem", type: "pkcs8" }).toString(),
    x5c: certs.join("\n"),
  };
}

/** What the network module saw during one token acquisition, to explain MSAL's failures. */
export interface Observed {
  networkFailure?: { url: string; failure: NetworkFailure };
  /** The last error answer of the authority (discovery or token endpoint). */
  authorityError?: { status: number; body: Record<string, unknown> | undefined };
}

/**
 * MSAL's INetworkModule on a FetchLike: the extra CA applies to token requests and tests can
 * serve discovery and the token endpoint themselves.
 */
export class FetchNetworkModule implements INetworkModule {
  observed: Observed = {};
  constructor(
    private readonly fetch: FetchLike,
    private readonly timeoutMs = 30_000,
  ) {}

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>("GET", url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>("POST", url, options);
  }

  private async send<T>(method: "GET" | "POST", url: string, options: NetworkRequestOptions | undefined, timeout?: number): Promise<NetworkResponse<T>> {
    const init: RequestInit = {
      method,
      headers: { ...(options?.headers ?? {}) },
      signal: AbortSignal.timeout(timeout ?? this.timeoutMs),
    };
    if (method === "POST") init.body = options?.body ?? "";
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(url, init);
      text = await response.text();
    } catch (error) {
      const failure = describeNetworkFailure(error) ?? { code: "FETCH_FAILED", retryable: false, detail: oneLine(error instanceof Error ? error.message : String(error)) };
      this.observed.networkFailure = { url, failure };
      // MSAL replaces whatever is thrown here with its own network error; `observed` keeps the detail.
      throw new Error(`Request to the authority failed: ${failure.code}`);
    }
    let body: unknown = {};
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        body = {};
      }
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name.toLowerCase()] = value;
    });
    if (response.status >= 400) {
      const record = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
      this.observed.authorityError = { status: response.status, body: record };
    }
    return { headers, body: body as T, status: response.status };
  }
}

const AADSTS = /AADSTS(\d+)/g;

function aadstsCodesFrom(body: Record<string, unknown> | undefined, text: string): number[] {
  const codes = new Set<number>();
  const list = body?.["error_codes"];
  if (Array.isArray(list)) for (const c of list) if (typeof c === "number" && Number.isFinite(c)) codes.add(c);
  for (const m of text.matchAll(AADSTS)) codes.add(Number(m[1]));
  // MSAL's own message form: "Error(s): 7000215,50011 - Timestamp: ..."
  const listed = /Error\(s\): ([\d, ]+) -/.exec(text);
  if (listed?.[1]) for (const c of listed[1].split(/[ ,]+/)) if (c !== "") codes.add(Number(c));
  return [...codes];
}

/** The readable sentence for the AADSTS codes that mean "fix your settings". */
function adviceFor(code: number, clientId: string, tenant: string, scope: string): string | undefined {
  switch (code) {
    case 7000215:
      return `The client secret is not valid for app ${clientId} (AADSTS7000215). Check MFACTL_CLIENT_SECRET or the profile's clientSecret.`;
    case 7000222:
      return `The client secret of app ${clientId} has expired (AADSTS7000222). Create a new secret in the app registration and update MFACTL_CLIENT_SECRET or the profile's clientSecret.`;
    case 700016:
      return `App ${clientId} was not found in tenant ${tenant} (AADSTS700016): it is not consented there or the client id is wrong. Grant admin consent in that tenant, or check the client id.`;
    case 7000229:
      return `App ${clientId} has no service principal in tenant ${tenant} (AADSTS7000229). Grant admin consent in that tenant.`;
    case 90002:
      return `Tenant ${tenant} was not found (AADSTS90002). Check the tenant id or domain.`;
    case 900023:
      return `Tenant ${tenant} is not a valid tenant id or domain (AADSTS900023). Check the tenant.`;
    case 700027:
      return `The certificate assertion of app ${clientId} was rejected (AADSTS700027): the certificate is not registered on the app, or the assertion is invalid. Upload the certificate to the app registration and check the certificate file.`;
    case 700024:
      return `The certificate assertion of app ${clientId} is outside its valid time range (AADSTS700024). Check this machine's clock.`;
    case 70011:
    case 1002012:
      return `The scope ${scope} was rejected (AADSTS${code}). Check graphUrl.`;
    case 7000112:
      return `App ${clientId} is disabled (AADSTS7000112). Enable it in tenant ${tenant}.`;
    default:
      return undefined;
  }
}

interface MsalErrorLike {
  errorCode?: unknown;
  errorMessage?: unknown;
  correlationId?: unknown;
  message?: unknown;
}

/** Removes credentials and tokens from text that came from MSAL or the authority. */
export function redactCredentials(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join("[redacted]");
  return out
    .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, "[redacted key]")
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, "[redacted token]")
    .replace(/(client_secret|client_assertion|access_token|refresh_token|assertion)=[^&\s]*/gi, "$1=[redacted]");
}

export interface MapContext {
  tenant: string;
  clientId: string;
  authority: string;
  scope: string;
  secrets: readonly string[];
}

/** Turns an MSAL failure into AuthError / NetworkError with a message that says what to do. */
export function mapMsalError(error: unknown, observed: Observed, ctx: MapContext): AuthError | NetworkError | UsageError {
  if (error instanceof AuthError || error instanceof NetworkError || error instanceof UsageError) return error;
  const { tenant, clientId } = ctx;
  if (observed.networkFailure) {
    const { url, failure } = observed.networkFailure;
    return new NetworkError(
      `Could not reach the authority for tenant ${tenant} (${new URL(url).origin}): ${failure.detail}.`,
      { code: failure.code, tenant },
    );
  }
  const msal = (typeof error === "object" && error !== null ? error : {}) as MsalErrorLike;
  const msalCode = typeof msal.errorCode === "string" ? msal.errorCode : "";
  const msalText = redactCredentials(
    typeof msal.errorMessage === "string" ? msal.errorMessage : typeof msal.message === "string" ? msal.message : String(error),
    ctx.secrets,
  );
  const body = observed.authorityError?.body;
  const status = observed.authorityError?.status;
  const entraCode = typeof body?.["error"] === "string" ? body["error"] : undefined;
  const description = typeof body?.["error_description"] === "string" ? redactCredentials(body["error_description"], ctx.secrets) : undefined;

  if (status !== undefined && (status >= 500 || status === 429) && entraCode === undefined) {
    return new NetworkError(`The authority for tenant ${tenant} answered HTTP ${status}; try again later.`, { code: `HTTP_${status}`, tenant });
  }

  const aadsts = aadstsCodesFrom(body, `${description ?? ""} ${msalText}`);
  const code = entraCode ?? (msalCode !== "" ? msalCode : "unknown_error");
  const bodyCorrelation = typeof body?.["correlation_id"] === "string" ? body["correlation_id"] : undefined;
  const textCorrelation = /Correlation ID: ([0-9a-f-]{36})/i.exec(msalText)?.[1];
  const correlationId = bodyCorrelation ?? textCorrelation ?? (typeof msal.correlationId === "string" && msal.correlationId !== "" ? msal.correlationId : undefined);

  let message: string | undefined;
  for (const n of aadsts) {
    message = adviceFor(n, clientId, tenant, ctx.scope);
    if (message) break;
  }
  if (!message && code === "endpoints_resolution_error") {
    message = `Could not read the OpenID configuration of ${ctx.authority}. Check authorityHost and the tenant ${tenant}.`;
  }
  if (!message) {
    const detail = description ?? msalText;
    const firstSentence = oneLine(detail.replace(/^AADSTS\d+:\s*/, "").split(/\r?\n| Trace ID:/)[0] ?? "", 240);
    const numbers = aadsts.length > 0 ? ` (${aadsts.map((n) => `AADSTS${n}`).join(", ")})` : "";
    message = `Could not get a token for tenant ${tenant} with app ${clientId}: ${code}${numbers}${firstSentence ? `: ${firstSentence}` : ""}`;
  }
  const cause = new Error(oneLine(redactCredentials(`${msalCode || code}: ${description ?? msalText}`, ctx.secrets), 1000));
  cause.name = "EntraError";
  return new AuthError(message, { tenant, code, aadstsCodes: aadsts, correlationId }, { cause });
}

interface TenantAuth {
  app: ConfidentialClientApplication;
  network: FetchNetworkModule;
  authority: string;
  /** A token was issued before (so the next network fetch is a renewal). */
  issued: boolean;
  inflight: Promise<string> | undefined;
  inflightForced: boolean;
}

function httpsOrigin(value: string, setting: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${setting} ${JSON.stringify(value)} is not a URL; expected for example https://login.microsoftonline.com.`);
  }
  if (url.protocol !== "https:") throw new UsageError(`${setting} must be an https:// URL (got ${url.protocol}//${url.host}).`);
  return url;
}

const MULTI_TENANT_ALIASES = new Set(["common", "organizations", "consumers"]);

/**
 * A token provider for app-only Graph tokens, one MSAL ConfidentialClientApplication (and its
 * in-memory cache) per tenant. Concurrent requests for a tenant share one token request.
 *
 * Emits `token` events when a token is fetched from the authority: `initial` (first for the
 * tenant), `expired` (renewal) and `rejected` (`forceRefresh`, after Graph refused a token).
 */
export function createMsalTokenProvider(options: MsalTokenProviderOptions): TokenProvider {
  const { clientId, credential } = options;
  if (clientId.trim() === "") throw new UsageError("The client id is empty: set MFACTL_CLIENT_ID or the profile's clientId.");
  const authorityUrl = httpsOrigin(options.authorityHost, "authorityHost");
  const authorityBase = options.authorityHost.replace(/\/+$/, "");
  const graphBase = httpsOrigin(options.graphUrl, "graphUrl").href.replace(/\/+$/, "");
  const scope = `${graphBase}/.default`;
  const knownAuthorities = MICROSOFT_AUTHORITY_HOSTS.has(authorityUrl.host.toLowerCase()) ? undefined : [authorityUrl.host];

  let auth: Configuration["auth"];
  const secrets: string[] = [];
  if (credential.kind === "secret") {
    if (credential.clientSecret === "") throw new UsageError("The client secret is empty: set MFACTL_CLIENT_SECRET or the profile's clientSecret.");
    auth = { clientId, clientSecret: credential.clientSecret };
    secrets.push(credential.clientSecret);
  } else {
    const cert = certificateCredentialFromPem(credential.certificatePem, credential.privateKeyPem);
    auth = { clientId, clientCertificate: cert };
    secrets.push(cert.privateKey, credential.privateKeyPem);
    for (const pem of [cert.privateKey, credential.privateKeyPem]) {
      for (const line of pem.split(/\r?\n/)) if (line.length >= 32 && !line.startsWith("-----")) secrets.push(line);
    }
  }

  const tenants = new Map<string, TenantAuth>();

  const tenantAuth = (tenant: string): TenantAuth => {
    const existing = tenants.get(tenant);
    if (existing) return existing;
    const problem = MULTI_TENANT_ALIASES.has(tenant.toLowerCase())
      ? `Tenant "${tenant}" is not a tenant: app-only tokens need a tenant id or domain.`
      : tenantRefProblem(tenant);
    if (problem) throw new UsageError(problem);
    const network = new FetchNetworkModule(options.fetch, options.requestTimeoutMs);
    const authority = `${authorityBase}/${tenant}`;
    const app = new ConfidentialClientApplication({
      auth: { ...auth, authority, ...(knownAuthorities ? { knownAuthorities } : {}) },
      system: {
        networkClient: network,
        loggerOptions: { loggerCallback: () => {}, piiLoggingEnabled: false, logLevel: LogLevel.Error },
      },
    });
    const created: TenantAuth = { app, network, authority, issued: false, inflight: undefined, inflightForced: false };
    tenants.set(tenant, created);
    return created;
  };

  const acquire = async (tenant: string, state: TenantAuth, force: boolean): Promise<string> => {
    state.network.observed = {};
    let result;
    try {
      result = await state.app.acquireTokenByClientCredential({ scopes: [scope], skipCache: force });
    } catch (error) {
      throw mapMsalError(error, state.network.observed, { tenant, clientId, authority: state.authority, scope, secrets });
    }
    if (!result?.accessToken) {
      throw new AuthError(`The authority returned no access token for tenant ${tenant}.`, { tenant, code: "no_token" });
    }
    if (!result.fromCache) {
      options.onEvent?.({ type: "token", tenant, reason: force ? "rejected" : state.issued ? "expired" : "initial" });
    }
    state.issued = true;
    return result.accessToken;
  };

  const getToken = async (tenant: string, opts?: { forceRefresh?: boolean | undefined }): Promise<string> => {
    const force = opts?.forceRefresh === true;
    const state = tenantAuth(tenant);
    // Join a token request already under way, unless a refresh is wanted and that one is not one.
    while (state.inflight && force && !state.inflightForced) await state.inflight.catch(() => undefined);
    if (state.inflight && (!force || state.inflightForced)) return state.inflight;
    const p = acquire(tenant, state, force);
    state.inflight = p;
    state.inflightForced = force;
    const clear = () => {
      if (state.inflight === p) state.inflight = undefined;
    };
    void p.then(clear, clear);
    return p;
  };

  return { getToken };
}
