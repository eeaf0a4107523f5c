/**
 * Sign-in with Microsoft Entra ID: OpenID Connect authorization code flow with PKCE (S256), as a public client (a
 * single-page application registration, no secret). The code is redeemed from the browser at the token endpoint;
 * the access token is kept in this tab's sessionStorage, like an API key.
 */
import { getJson, session, type EntraSession } from "./api.js";

export interface EntraConfig {
  clientId: string;
  tenantId: string;
  authority: string;
  authorizeUrl: string;
  tokenUrl: string;
  logoutUrl: string;
  scopes: string[];
}

/** GET /v1/dashboard/config (public): which ways of signing in this server offers. */
export interface DashboardConfig {
  signIn: { apiKey: boolean; entra?: EntraConfig };
}

export function getDashboardConfig(signal?: AbortSignal): Promise<DashboardConfig> {
  return getJson<DashboardConfig>("/v1/dashboard/config", signal, "");
}

/** What this tab sent to the authorize endpoint, to check the answer against; one sign-in at a time. */
const PENDING_ITEM = "mfactl.oidc";

interface Pending {
  state: string;
  nonce: string;
  verifier: string;
  /** The route to open once signed in (#/runs/...), since the redirect URI has no fragment. */
  route: string;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function random(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

/** RFC 7636 S256: BASE64URL(SHA-256(ASCII(code_verifier))). */
async function challengeOf(verifier: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
}

/** The dashboard's address as registered in Entra: the origin and `/`, never a fragment or query. */
export function redirectUri(): string {
  return `${location.origin}/`;
}

/** Leaves for the authorize endpoint; the browser comes back to redirectUri() with ?code=&state= or ?error=. */
export async function beginEntraSignIn(config: EntraConfig, route: string): Promise<void> {
  // Browsers offer SHA-256 (crypto.subtle) to secure contexts only: HTTPS, or http://localhost.
  if (!globalThis.isSecureContext || crypto.subtle === undefined)
    throw new EntraSignInError(`Sign-in with Microsoft needs HTTPS: this page is plain HTTP (${location.origin}), where the browser offers no SHA-256 for PKCE. Serve mfactl with --tls-cert and --tls-key, or open it at http://localhost.`);
  // 32 random bytes: a 43-character verifier, as RFC 7636 recommends.
  const pending: Pending = { state: random(16), nonce: random(16), verifier: random(32), route };
  sessionStorage.setItem(PENDING_ITEM, JSON.stringify(pending));
  const url = new URL(config.authorizeUrl);
  const params: Record<string, string> = {
    client_id: config.clientId,
    response_type: "code",
    redirect_uri: redirectUri(),
    response_mode: "query",
    scope: config.scopes.join(" "),
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await challengeOf(pending.verifier),
    code_challenge_method: "S256",
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  location.assign(url.toString());
}

/** Is this page load the authorize endpoint's answer? */
export function isEntraReturn(query: URLSearchParams): boolean {
  return query.has("state") && (query.has("code") || query.has("error"));
}

export class EntraSignInError extends Error {
  override name = "EntraSignInError";
}

/** Entra's error codes in words a technician can act on; the AADSTS description follows them. */
const ENTRA_WORDS: Record<string, string> = {
  access_denied: "Microsoft sign-in was cancelled or refused",
  consent_required: "The mfactl dashboard app needs an administrator's consent in Entra ID",
  interaction_required: "Microsoft needs you to sign in again",
  login_required: "Microsoft needs you to sign in again",
  invalid_request: "The dashboard's sign-in request was refused: check its app registration (redirect URI, single-page application platform)",
  invalid_scope: "The scopes the server configures are not exposed by the mfactl API app",
  invalid_resource: "The mfactl API app is not present in this tenant",
  unauthorized_client: "The dashboard app is not registered in this tenant",
  invalid_client: "The dashboard app registration refused the request (it must be a public client, a single-page application)",
  invalid_grant: "Microsoft did not accept the sign-in code: sign in again",
  temporarily_unavailable: "Microsoft sign-in is temporarily unavailable: try again shortly",
  server_error: "Microsoft sign-in failed on Microsoft's side: try again",
};

function entraWords(error: string, description: string | null): string {
  const words = ENTRA_WORDS[error] ?? `Microsoft sign-in failed (${error})`;
  return description ? `${words}. Microsoft said: ${description}` : `${words}.`;
}

/** The id token's claims, for display only: the server trusts the access token, never this. */
function idTokenClaims(idToken: string | undefined): Record<string, unknown> {
  const payload = idToken?.split(".")[1];
  if (!payload) return {};
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * Finishes a sign-in from the authorize endpoint's answer: checks `state`, redeems the code with the PKCE
 * verifier, keeps the access token. Returns the route to open; throws EntraSignInError with words otherwise.
 */
export async function completeEntraSignIn(config: EntraConfig, query: URLSearchParams): Promise<string> {
  const raw = sessionStorage.getItem(PENDING_ITEM);
  sessionStorage.removeItem(PENDING_ITEM);
  const pending = raw ? (JSON.parse(raw) as Pending) : undefined;
  if (!pending || query.get("state") !== pending.state)
    throw new EntraSignInError("This sign-in answer is not the one this tab asked for (its state does not match; it may be old, or from another tab): sign in again.");
  const error = query.get("error");
  if (error) throw new EntraSignInError(entraWords(error, query.get("error_description")));
  const code = query.get("code") ?? "";

  let res: Response;
  try {
    res = await fetch(config.tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({
        client_id: config.clientId,
        grant_type: "authorization_code",
        code,
        redirect_uri: redirectUri(),
        code_verifier: pending.verifier,
        scope: config.scopes.join(" "),
      }).toString(),
    });
  } catch {
    throw new EntraSignInError(`Microsoft's token endpoint could not be reached (${new URL(config.tokenUrl).origin}): check the network, and that the server's CSP allows it.`);
  }
  const body = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; id_token?: string; error?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new EntraSignInError(entraWords(body.error ?? `HTTP ${res.status}`, body.error_description ?? null));

  const claims = idTokenClaims(body.id_token);
  if (body.id_token && claims["nonce"] !== pending.nonce) throw new EntraSignInError("The id token Microsoft returned is not for this sign-in (its nonce does not match): sign in again.");
  const entra: EntraSession = {
    accessToken: body.access_token,
    expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000,
    logoutUrl: config.logoutUrl,
    clientId: config.clientId,
  };
  if (typeof claims["name"] === "string") entra.name = claims["name"];
  if (typeof claims["preferred_username"] === "string") entra.username = claims["preferred_username"];
  session.entra = entra;
  return pending.route;
}

/** Where Sign out sends an Entra session: the end-session endpoint, which comes back to the dashboard. */
export function logoutUrl(entra: EntraSession): string | undefined {
  if (!entra.logoutUrl) return undefined;
  const url = new URL(entra.logoutUrl);
  url.searchParams.set("post_logout_redirect_uri", redirectUri());
  if (entra.clientId) url.searchParams.set("client_id", entra.clientId);
  return url.toString();
}
