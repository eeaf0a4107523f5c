/**
 * Interactive sign-in: the authorize endpoint (sign-in page, authorization codes with PKCE), the authorization_code
 * grant of the token endpoint (id_token, delegated access tokens for registered APIs) and the end-session endpoint.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { decodeJwt } from "jose";
import { rolesIn, userRolesIn, type AppRecord } from "./apps.js";
import { aadError, aadTimestamp } from "./entra-errors.js";
import type { Endpoints } from "./endpoints.js";
import { htmlPage, json, redirect, type Outcome, type RequestContext } from "./http.js";
import type { Tenant, UserRecord } from "./model.js";
import { createPrng } from "./prng.js";
import type { AuthCodeRecord, EmulatorState } from "./state.js";
import { idTokenClaims, secretMatches, userAccessTokenClaims, verifyClientAssertion, type TokenService } from "./tokens.js";

export const MULTI_TENANT = new Set(["organizations", "common"]);
const OIDC_SCOPES = new Set(["openid", "profile", "offline_access", "email"]);
const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Entra's authorization codes live 10 minutes. */
export const AUTH_CODE_LIFETIME_MS = 10 * 60 * 1000;
/** Entra's id_token lifetime: one hour. */
const ID_TOKEN_LIFETIME_SECONDS = 3600;

const PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/** A seeded user's password: deterministic per seed, tenant and user, never stored or logged. */
export function seededPassword(seed: string, tenantId: string, userId: string): string {
  const prng = createPrng(`${seed}/password/${tenantId.toLowerCase()}/${userId.toLowerCase()}`);
  const group = () => Array.from({ length: 5 }, () => PASSWORD_ALPHABET.charAt(prng.int(PASSWORD_ALPHABET.length))).join("");
  // Three of four character classes, as Entra's password policy wants.
  return `${group()}-${group()}-${group()}-7a`;
}

interface AadFailure {
  error: string;
  code: number;
  message: string;
}

interface ResourceRequest {
  app: AppRecord;
  requestedAs: string;
  identifierUri?: string;
  scopes: string[];
}

interface AuthorizeRequest {
  tenant: Tenant | undefined;
  app: AppRecord;
  redirectUri: string;
  platform: "web" | "spa";
  responseMode: "query" | "fragment";
  state: string | null;
  nonce: string | null;
  oidcScopes: string[];
  resource: ResourceRequest | undefined;
  codeChallenge: string | null;
  loginHint: string | null;
}

type Checked = { ok: true; req: AuthorizeRequest } | { ok: false; outcome: Outcome };

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

/** Public clients (SPA redirect URIs, or apps without a credential) must use PKCE and present no secret. */
const hasCredential = (app: AppRecord) => app.secret !== undefined || app.certificates.length > 0;

const STYLE = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f2f2f2;color:#1b1b1b;margin:0}
main{max-width:26rem;margin:4rem auto;background:#fff;padding:2.5rem;box-shadow:0 2px 6px rgba(0,0,0,.2)}
h1{font-size:1.5rem;margin:0 0 .5rem}label{display:block;margin:1rem 0 .25rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #666}
input:focus,button:focus{outline:3px solid #0067b8;outline-offset:2px}
button{margin-top:1.5rem;padding:.6rem 2rem;font-size:1rem;background:#0067b8;color:#fff;border:0;cursor:pointer}
.error{color:#a80000;border-left:4px solid #a80000;padding-left:.75rem}.note{font-size:.85rem;color:#505050;margin-top:2rem}
code{word-break:break-all}`;

export class SignInRoutes {
  constructor(
    private readonly state: EmulatorState,
    private readonly tokens: TokenService,
    private readonly endpoints: Endpoints,
    private readonly isGraph: (resource: string) => boolean,
  ) {}

  /** GET shows the sign-in page; POST (the page's form) checks the credentials and redirects with a code. */
  async authorize(ctx: RequestContext, tenantRef: string): Promise<Outcome> {
    const params = new URLSearchParams(ctx.url.search);
    const body = ctx.method === "POST" ? new URLSearchParams(ctx.body.toString("utf8")) : new URLSearchParams();
    // A POSTed authorize request may carry its parameters in the body; the page's form keeps them in the query.
    for (const [k, v] of body) if (k !== "login" && k !== "passwd" && !params.has(k)) params.set(k, v);
    const multi = MULTI_TENANT.has(tenantRef.toLowerCase());
    let tenant: Tenant | undefined;
    if (!multi) {
      tenant = this.state.findTenant(tenantRef);
      if (!tenant) return this.errorPage(ctx, 90002, `Tenant '${tenantRef}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`);
    }
    let checked = this.check(ctx, params, tenant, tenantRef);
    if (!checked.ok) return checked.outcome;
    if (params.get("prompt") === "none")
      return this.errorRedirect(ctx, checked.req, { error: "login_required", code: 50058, message: "A silent sign-in request was sent but no user is signed in." });
    const action = `/${encodeURIComponent(tenantRef)}/oauth2/v2.0/authorize${ctx.url.search}`;
    if (ctx.method !== "POST" || (!body.has("login") && !body.has("passwd"))) return this.signInPage(checked.req, action, checked.req.loginHint ?? "");

    const login = (body.get("login") ?? "").trim();
    const password = body.get("passwd") ?? "";
    if (login === "" || password === "") return this.signInPage(checked.req, action, login, "Enter your username and your password.");
    const home = tenant ?? this.state.findTenant(login.split("@").pop() ?? "");
    const user = home?.byUpn.get(login.toLowerCase());
    if (!home || !user || user.userType === "Guest")
      return this.signInPage(checked.req, action, login, `AADSTS50034: The user account ${login} does not exist in the '${tenant?.domain ?? tenantRef}' directory. To sign into this application, the account must be added to the directory.`);
    if (!secretMatches(seededPassword(this.state.seedParams.seed, home.id, user.id), password))
      return this.signInPage(checked.req, action, login, "AADSTS50126: Error validating credentials due to invalid username or password.");
    if (!user.accountEnabled) return this.signInPage(checked.req, action, login, "AADSTS50057: The user account is disabled.");
    if (!tenant) {
      // Signed in through organizations/common: the app and the API must be present in the user's tenant.
      checked = this.check(ctx, params, home, home.domain);
      if (!checked.ok) return checked.outcome;
    }
    const req = checked.req;
    const code = `1.${randomBytes(48).toString("base64url")}`;
    const record: AuthCodeRecord = {
      clientId: req.app.clientId,
      tenantId: home.id,
      userId: user.id,
      redirectUri: req.redirectUri,
      platform: req.platform,
      oidcScopes: req.oidcScopes,
      expiresAt: this.state.clock.now() + AUTH_CODE_LIFETIME_MS,
      redeemed: false,
    };
    if (req.resource) {
      const r = req.resource;
      record.resource = { clientId: r.app.clientId, requestedAs: r.requestedAs, scopes: r.scopes, requestedScopes: r.scopes.map((s) => `${r.requestedAs}/${s}`) };
      if (r.identifierUri !== undefined) record.resource.identifierUri = r.identifierUri;
    }
    if (req.nonce !== null) record.nonce = req.nonce;
    if (req.codeChallenge !== null) record.codeChallenge = req.codeChallenge;
    this.state.authCodes.set(code, record);
    user.lastSignInDateTime = new Date(this.state.clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
    return this.respond(req, { code, ...(req.state !== null ? { state: req.state } : {}) });
  }

  /**
   * Validates an authorize request as Entra does: until the redirect URI is known to be registered, errors are an
   * HTML page (never a redirect to an untrusted address); after that they go back to the redirect URI.
   */
  private check(ctx: RequestContext, params: URLSearchParams, tenant: Tenant | undefined, tenantLabel: string): Checked {
    const page = (code: number, message: string): Checked => ({ ok: false, outcome: this.errorPage(ctx, code, message) });
    const clientId = params.get("client_id");
    if (!clientId) return page(900144, "The request body must contain the following parameter: 'client_id'.");
    const app = this.state.findApp(clientId);
    if (!app || (tenant && rolesIn(app, tenant.id) === undefined))
      return page(700016, `Application with identifier '${clientId}' was not found in the directory '${tenant?.displayName ?? tenantLabel}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
    const redirectUri = params.get("redirect_uri");
    if (!redirectUri) return page(900144, "The request body must contain the following parameter: 'redirect_uri'.");
    const platform = app.redirectUris.spa.includes(redirectUri) ? "spa" : app.redirectUris.web.includes(redirectUri) ? "web" : undefined;
    if (!platform)
      return page(50011, `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${app.clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.`);

    const mode = params.get("response_mode") ?? "query";
    const req: AuthorizeRequest = {
      tenant, app, redirectUri, platform,
      responseMode: mode === "fragment" ? "fragment" : "query",
      state: params.get("state"),
      nonce: params.get("nonce"),
      oidcScopes: [],
      resource: undefined,
      codeChallenge: params.get("code_challenge"),
      loginHint: params.get("login_hint"),
    };
    const fail = (f: AadFailure): Checked => ({ ok: false, outcome: this.errorRedirect(ctx, req, f) });
    if (mode !== "query" && mode !== "fragment")
      return fail({ error: "invalid_request", code: 90100, message: `response_mode '${mode}' is not supported by the emulator: use query or fragment.` });
    const responseType = params.get("response_type");
    if (!responseType) return fail({ error: "invalid_request", code: 900144, message: "The request body must contain the following parameter: 'response_type'." });
    if (responseType !== "code") return fail({ error: "unsupported_response_type", code: 700054, message: `response_type '${responseType}' is not enabled for the application.` });
    const scope = params.get("scope");
    if (!scope) return fail({ error: "invalid_request", code: 900144, message: "The request body must contain the following parameter: 'scope'." });
    const scopes = this.parseScopes(app, scope, tenant);
    if ("error" in scopes) return fail(scopes);
    req.oidcScopes = scopes.oidc;
    req.resource = scopes.resource;

    const method = params.get("code_challenge_method");
    if (req.codeChallenge !== null) {
      // Without a method RFC 7636 means plain, which the emulator refuses like any method but S256.
      if (method !== "S256") return fail({ error: "invalid_request", code: 50149, message: `Invalid Code_Challenge_method parameter: '${method ?? "plain"}' (the emulator accepts S256 only).` });
      if (!/^[A-Za-z0-9_-]{43}$/.test(req.codeChallenge)) return fail({ error: "invalid_request", code: 501491, message: "Invalid size of Code_Challenge parameter." });
    } else if (platform === "spa" || !hasCredential(app)) {
      return fail({ error: "invalid_request", code: 9002325, message: "Proof Key for Code Exchange is required for cross-origin authorization code redemption." });
    }
    return { ok: true, req };
  }

  /** OIDC scopes plus at most one registered API's scopes (`<resource>/<scope>` or `<resource>/.default`). */
  private parseScopes(client: AppRecord, scope: string, tenant: Tenant | undefined): { oidc: string[]; resource: ResourceRequest | undefined } | AadFailure {
    const all = scope.split(/\s+/).filter(Boolean);
    const oidc = [...new Set(all.filter((s) => OIDC_SCOPES.has(s.toLowerCase())).map((s) => s.toLowerCase()))];
    const invalid = (s: string): AadFailure => ({ error: "invalid_scope", code: 70011, message: `The provided value for the input parameter 'scope' is not valid. The scope '${s}' is not valid.` });
    let resource: ResourceRequest | undefined;
    const values: string[] = [];
    for (const s of all.filter((x) => !OIDC_SCOPES.has(x.toLowerCase()))) {
      const m = /^(.+)\/([^/]+)$/.exec(s);
      // Bare names (User.Read) and Graph's scopes would be Microsoft Graph delegated permissions: not emulated.
      if (!m || this.isGraph(m[1] as string)) return invalid(s);
      const ref = m[1] as string;
      const found = this.state.findResource(ref);
      if (!found || (tenant && rolesIn(found.app, tenant.id) === undefined))
        return {
          error: "invalid_resource",
          code: 500011,
          message: `The resource principal named ${ref} was not found in the tenant named ${tenant?.displayName ?? "organizations"}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
        };
      if (resource && resource.app.clientId !== found.app.clientId)
        return { error: "invalid_scope", code: 28000, message: `Provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.` };
      resource ??= { app: found.app, requestedAs: ref, ...(found.identifierUri !== undefined ? { identifierUri: found.identifierUri } : {}), scopes: [] };
      values.push(m[2] as string);
    }
    if (resource) {
      const api = resource.app;
      if (values.some((v) => v.toLowerCase() === ".default")) {
        if (values.length > 1) return invalid(scope);
        resource.scopes = [...api.api.scopes];
      } else {
        for (const v of values) {
          const defined = api.api.scopes.find((d) => d.toLowerCase() === v.toLowerCase());
          if (defined === undefined)
            return { error: "invalid_client", code: 650053, message: `The application '${client.displayName}' asked for scope '${v}' that doesn't exist on the resource '${api.clientId}'. Contact the app vendor.` };
          if (!resource.scopes.includes(defined)) resource.scopes.push(defined);
        }
      }
    }
    return { oidc, resource };
  }

  /** Back to the (registered) redirect URI, in the query or the fragment. */
  private respond(req: AuthorizeRequest, values: Record<string, string>): Outcome {
    const url = new URL(req.redirectUri);
    if (req.responseMode === "fragment") url.hash = new URLSearchParams(values).toString();
    else for (const [k, v] of Object.entries(values)) url.searchParams.append(k, v);
    return redirect(url.toString());
  }

  private errorRedirect(ctx: RequestContext, req: AuthorizeRequest, f: AadFailure): Outcome {
    const trace = randomUUID();
    const description = `AADSTS${f.code}: ${f.message} Trace ID: ${trace} Correlation ID: ${ctx.clientRequestId} Timestamp: ${aadTimestamp(this.state.clock.now())}`;
    return this.respond(req, { error: f.error, error_description: description, ...(req.state !== null ? { state: req.state } : {}) });
  }

  private page(status: number, title: string, content: string, formTarget?: string): Outcome {
    const nonce = randomBytes(16).toString("base64");
    const formAction = formTarget === undefined ? "'none'" : `'self' ${formTarget}`;
    const csp = `default-src 'none'; style-src 'nonce-${nonce}'; img-src 'none'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`;
    const doc = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<main>
${content}
<p class="note">Microsoft Entra ID emulator (mfactl): not a Microsoft service.</p>
</main>
</body>
</html>
`;
    return htmlPage(status, doc, {
      "content-security-policy": csp,
      "x-frame-options": "DENY",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store, no-cache",
      pragma: "no-cache",
    });
  }

  private signInPage(req: AuthorizeRequest, action: string, login: string, error?: string): Outcome {
    const describedBy = error === undefined ? "" : ` aria-describedby="signin-error" aria-invalid="true"`;
    const where = req.tenant ? `${req.tenant.displayName} (${req.tenant.domain})` : "your organization";
    const content = `<h1>Sign in</h1>
<p>to continue to <strong>${escapeHtml(req.app.displayName)}</strong>, ${escapeHtml(where)}</p>
${error === undefined ? "" : `<p id="signin-error" class="error" role="alert">${escapeHtml(error)}</p>\n`}<form method="post" action="${escapeHtml(action)}">
<label for="login">Username</label>
<input id="login" name="login" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${escapeHtml(login)}"${describedBy}>
<label for="passwd">Password</label>
<input id="passwd" name="passwd" type="password" autocomplete="current-password" required${describedBy}>
<button type="submit">Sign in</button>
</form>`;
    // The form posts here, and the answer redirects to the app: both must be allowed form targets.
    return this.page(200, "Sign in to your account", content, new URL(req.redirectUri).origin);
  }

  private errorPage(ctx: RequestContext, code: number, message: string): Outcome {
    const content = `<h1>Sorry, but we're having trouble signing you in.</h1>
<p id="aadsts" role="alert"><code>AADSTS${code}</code>: ${escapeHtml(message)}</p>
<dl>
<dt>Correlation ID</dt><dd><code>${escapeHtml(ctx.clientRequestId)}</code></dd>
<dt>Timestamp</dt><dd>${escapeHtml(aadTimestamp(this.state.clock.now()))}</dd>
</dl>`;
    return this.page(400, "Sign in to your account", content);
  }

  /** End session: no sessions are kept, so this is a page, or a redirect to a registered post_logout_redirect_uri. */
  logout(ctx: RequestContext, tenantRef: string): Outcome {
    const params = new URLSearchParams(ctx.url.search);
    if (ctx.method === "POST") for (const [k, v] of new URLSearchParams(ctx.body.toString("utf8"))) if (!params.has(k)) params.set(k, v);
    if (!MULTI_TENANT.has(tenantRef.toLowerCase()) && !this.state.findTenant(tenantRef))
      return this.errorPage(ctx, 90002, `Tenant '${tenantRef}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`);
    const target = params.get("post_logout_redirect_uri");
    if (target) {
      let clientId = params.get("client_id");
      const hint = params.get("id_token_hint");
      if (!clientId && hint) {
        try {
          const aud = decodeJwt(hint).aud;
          clientId = typeof aud === "string" ? aud : null;
        } catch {
          clientId = null;
        }
      }
      const named = clientId ? this.state.findApp(clientId) : undefined;
      const candidates = named ? [named] : clientId ? [] : [...this.state.apps.values()];
      if (candidates.some((a) => a.redirectUris.web.includes(target) || a.redirectUris.spa.includes(target))) {
        const url = new URL(target);
        const st = params.get("state");
        if (st !== null) url.searchParams.append("state", st);
        return redirect(url.toString());
      }
    }
    return this.page(200, "Sign out", "<h1>You signed out of your account</h1>\n<p>It's a good idea to close all browser windows.</p>");
  }

  private error(ctx: RequestContext, status: number, error: string, code: number, message: string): Outcome {
    return aadError(status, error, code, message, ctx.clientRequestId, this.state.clock.now());
  }

  /** grant_type=authorization_code. `checkSecret` is the token endpoint's secret check (AADSTS7000215/7000222). */
  async redeem(
    ctx: RequestContext,
    tenantRef: string,
    form: URLSearchParams,
    client: { clientId: string | null; secret: string | null },
    checkSecret: (app: AppRecord, secret: string) => Outcome | undefined,
    assertionAudiences: (tenant: Tenant) => Set<string>,
  ): Promise<Outcome> {
    const missing = (name: string) => this.error(ctx, 400, "invalid_request", 900144, `The request body must contain the following parameter: '${name}'.`);
    let tenant: Tenant | undefined;
    if (!MULTI_TENANT.has(tenantRef.toLowerCase())) {
      tenant = this.state.findTenant(tenantRef);
      if (!tenant)
        return this.error(ctx, 400, "invalid_request", 90002, `Tenant '${tenantRef}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`);
    }
    if (!client.clientId) return missing("client_id");
    const code = form.get("code");
    if (!code) return missing("code");
    const redirectUri = form.get("redirect_uri");
    if (!redirectUri) return missing("redirect_uri");
    const app = this.state.findApp(client.clientId);
    if (!app || (tenant && rolesIn(app, tenant.id) === undefined))
      return this.error(ctx, 400, "unauthorized_client", 700016, `Application with identifier '${client.clientId}' was not found in the directory '${tenant?.displayName ?? tenantRef}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
    const record = this.state.authCodes.get(code);
    if (!record || record.clientId !== app.clientId || (tenant && record.tenantId !== tenant.id))
      return this.error(ctx, 400, "invalid_grant", 70000, "Provided grant is invalid or malformed.");
    if (record.redeemed)
      return this.error(ctx, 400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.");
    if (this.state.clock.now() >= record.expiresAt)
      return this.error(ctx, 400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.");
    const home = this.state.findTenant(record.tenantId);
    if (!home) return this.error(ctx, 400, "invalid_grant", 70000, "Provided grant is invalid or malformed.");

    // Client authentication: spa codes (and apps without a credential) belong to a public client.
    const assertion = form.get("client_assertion");
    let clientAuth: "0" | "1" | "2" = "0";
    if (record.platform === "spa" || !hasCredential(app)) {
      if (assertion !== null || client.secret !== null)
        return this.error(ctx, 400, "invalid_client", 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.");
      if (record.platform === "spa" && ctx.headers["origin"] === undefined)
        return this.error(ctx, 400, "invalid_request", 9002327, "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.");
    } else if (assertion !== null) {
      if (form.get("client_assertion_type") !== JWT_BEARER)
        return this.error(ctx, 400, "invalid_request", 50012, `The client_assertion_type must be '${JWT_BEARER}'.`);
      const result = await verifyClientAssertion(assertion, app, assertionAudiences(home), this.state.clock);
      if (!result.ok) return this.error(ctx, 400, "invalid_client", result.code, result.message);
      clientAuth = "2";
    } else if (client.secret !== null) {
      const secretError = checkSecret(app, client.secret);
      if (secretError) return secretError;
      clientAuth = "1";
    } else {
      return this.error(ctx, 400, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }

    // From here on the code is spent, whatever the outcome (a code is redeemed at most once).
    record.redeemed = true;
    if (redirectUri !== record.redirectUri)
      return this.error(ctx, 400, "invalid_grant", 500112, `The reply address '${redirectUri}' does not match the reply address '${record.redirectUri}' provided when requesting Authorization code.`);
    if (record.codeChallenge !== undefined) {
      const verifier = form.get("code_verifier");
      if (!verifier) return missing("code_verifier");
      const challenge = createHash("sha256").update(verifier, "ascii").digest("base64url");
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !secretMatches(challenge, record.codeChallenge))
        return this.error(ctx, 400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
    }
    const user: UserRecord | undefined = home.byId.get(record.userId);
    if (!user || !user.accountEnabled) return this.error(ctx, 400, "invalid_grant", 50057, "The user account is disabled.");

    const origin = this.endpoints.originFor(ctx.headers["host"]);
    const lifetime = this.state.config.tokenLifetimeSeconds;
    const body: Record<string, unknown> = { token_type: "Bearer", scope: [...(record.resource?.requestedScopes ?? []), ...record.oidcScopes].join(" ") };
    if (record.resource) {
      const resource = this.state.findApp(record.resource.clientId);
      if (!resource || rolesIn(resource, home.id) === undefined)
        return this.error(ctx, 400, "invalid_resource", 500011, `The resource principal named ${record.resource.requestedAs} was not found in the tenant named ${home.displayName}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`);
      const version = resource.api.accessTokenAcceptedVersion === 2 ? 2 : 1;
      const audience = version === 2 ? resource.clientId : (record.resource.identifierUri ?? resource.clientId);
      const scopes = record.resource.scopes.filter((s) => resource.api.scopes.includes(s));
      body["expires_in"] = lifetime;
      body["ext_expires_in"] = lifetime;
      body["access_token"] = await this.tokens.sign(
        userAccessTokenClaims({
          tenantId: home.id, clientId: app.clientId, clientAuth, resourceClientId: resource.clientId, audience, version,
          authorityOrigin: origin, user, scopes, roles: userRolesIn(resource, home.id, user.id) ?? [], ...this.tokens.times(lifetime),
        }),
      );
    }
    if (record.oidcScopes.includes("openid")) {
      const claims = idTokenClaims({
        tenantId: home.id, clientId: app.clientId, authorityOrigin: origin, user, oidcScopes: record.oidcScopes,
        roles: userRolesIn(app, home.id, user.id) ?? [], ...this.tokens.times(ID_TOKEN_LIFETIME_SECONDS),
        ...(record.nonce !== undefined ? { nonce: record.nonce } : {}),
      });
      body["id_token"] = await this.tokens.sign(claims);
    }
    this.state.stats.tokensIssued++;
    return json(200, body, { "cache-control": "no-store, no-cache", pragma: "no-cache" });
  }
}
