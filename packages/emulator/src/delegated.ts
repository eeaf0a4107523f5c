/**
 * Delegated sign-in for command-line clients: the device authorization endpoint and its verification page, the
 * device_code and refresh_token grants (refresh tokens rotate on every redemption), and GDAP: a partner user's
 * refresh token redeemed at a customer tenant's token endpoint gives a token for that customer.
 */
import { randomBytes } from "node:crypto";
import { delegatedScopesIn, type AppRecord } from "./apps.js";
import { aadError } from "./entra-errors.js";
import { GRAPH_APP_ID, type Endpoints } from "./endpoints.js";
import { htmlPage, json, type Outcome, type RequestContext } from "./http.js";
import type { Tenant, UserRecord } from "./model.js";
import { activeRelationships, isAdminAgent, rolesInTenant } from "./partner.js";
import { MULTI_TENANT, seededPassword } from "./sign-in.js";
import type { DeviceCodeRecord, EmulatorState, RefreshTokenRecord } from "./state.js";
import { idTokenClaims, issuerFor, secretMatches, userAccessTokenClaims, type TokenService } from "./tokens.js";

export const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
/** Entra also takes the short name, which MSAL sends. */
export const isDeviceCodeGrant = (g: string | null) => g === DEVICE_CODE_GRANT || g === "device_code";
const OIDC_SCOPES = new Set(["openid", "profile", "offline_access", "email"]);
/** Entra's device codes live 15 minutes; clients poll every 5 seconds. */
export const DEVICE_CODE_LIFETIME_SECONDS = 900;
const DEVICE_CODE_INTERVAL_SECONDS = 5;
/** Entra's refresh tokens expire after 90 days without use. */
export const REFRESH_TOKEN_INACTIVITY_MS = 90 * 86_400_000;
const ID_TOKEN_LIFETIME_SECONDS = 3600;
const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ23456789";

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

interface Failure {
  status: number;
  error: string;
  code: number;
  message: string;
  suberror?: string;
}

const fail = (error: string, code: number, message: string, extra: Partial<Failure> = {}): Failure => ({ status: 400, error, code, message, ...extra });
const isFailure = (x: unknown): x is Failure => typeof x === "object" && x !== null && "code" in x && "error" in x;

interface ParsedScope {
  oidc: string[];
  /** How Graph was named (`https://graph.microsoft.com`, the emulator's Graph URL), or "" for bare scope names. */
  prefix: string;
  /** Graph permission names asked; empty with `.default` (or with OIDC scopes only). */
  names: string[];
  all: boolean;
}

/** A resolved user: where they live and the record. */
interface Signed {
  home: Tenant;
  user: UserRecord;
}

export class DelegatedRoutes {
  constructor(
    private readonly state: EmulatorState,
    private readonly tokens: TokenService,
    private readonly endpoints: Endpoints,
    private readonly isGraph: (resource: string) => boolean,
  ) {}

  private error(ctx: RequestContext, f: Failure): Outcome {
    const outcome = aadError(f.status, f.error, f.code, f.message, ctx.clientRequestId, this.state.clock.now());
    if (f.suberror !== undefined && outcome.kind === "response") outcome.body = { ...(outcome.body as Record<string, unknown>), suberror: f.suberror };
    return outcome;
  }

  private tenantNotFound(tenantRef: string): Failure {
    return fail("invalid_request", 90002, `Tenant '${tenantRef}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`);
  }

  private appNotFound(clientId: string, where: string): Failure {
    return fail("unauthorized_client", 700016, `Application with identifier '${clientId}' was not found in the directory '${where}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
  }

  /** Scopes of a delegated Graph request: OIDC ones, then Graph permissions (bare, `<graph>/<name>` or `<graph>/.default`). */
  private parseScope(scope: string): ParsedScope | Failure {
    const parsed: ParsedScope = { oidc: [], prefix: "", names: [], all: false };
    let prefix: string | undefined;
    for (const s of scope.split(/\s+/).filter(Boolean)) {
      if (OIDC_SCOPES.has(s.toLowerCase())) {
        if (!parsed.oidc.includes(s.toLowerCase())) parsed.oidc.push(s.toLowerCase());
        continue;
      }
      const m = /^(.+)\/([^/]+)$/.exec(s);
      const resource = m ? (m[1] as string) : "";
      const name = m ? (m[2] as string) : s;
      if (m && !this.isGraph(resource))
        return fail("invalid_scope", 70011, `The provided value for the input parameter 'scope' is not valid. The scope '${s}' is not valid (the emulator's device code and refresh token grants give Microsoft Graph tokens only).`);
      if (prefix !== undefined && prefix !== (m ? `${resource}/` : ""))
        return fail("invalid_scope", 28000, `Provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scope} is not valid.`);
      prefix = m ? `${resource}/` : "";
      if (name.toLowerCase() === ".default") parsed.all = true;
      else if (!parsed.names.some((n) => n.toLowerCase() === name.toLowerCase())) parsed.names.push(name);
    }
    if (parsed.all && parsed.names.length > 0) return fail("invalid_scope", 70011, `The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`);
    // Only OIDC scopes: Entra gives a Graph token (with the consented permissions here).
    if (parsed.names.length === 0) parsed.all = true;
    parsed.prefix = prefix ?? "";
    return parsed;
  }

  /** POST /{tenant}/oauth2/v2.0/devicecode: client_id, scope. */
  deviceCode(ctx: RequestContext, tenantRef: string): Outcome {
    if (ctx.method !== "POST")
      return this.error(ctx, fail("invalid_request", 900561, `The endpoint only accepts POST requests. Received a ${ctx.method} request.`));
    const form = new URLSearchParams(ctx.body.toString("utf8"));
    let tenant: Tenant | undefined;
    if (!MULTI_TENANT.has(tenantRef.toLowerCase())) {
      tenant = this.state.findTenant(tenantRef);
      if (!tenant) return this.error(ctx, this.tenantNotFound(tenantRef));
    }
    const clientId = form.get("client_id");
    if (!clientId) return this.error(ctx, fail("invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."));
    const app = this.state.findApp(clientId);
    if (!app || (tenant && delegatedScopesIn(app, tenant.id) === undefined)) return this.error(ctx, this.appNotFound(clientId, tenant?.displayName ?? tenantRef));
    const scope = form.get("scope");
    if (!scope) return this.error(ctx, fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'."));
    const parsed = this.parseScope(scope);
    if (isFailure(parsed)) return this.error(ctx, parsed);
    const userCode = Array.from(randomBytes(9), (b) => USER_CODE_ALPHABET.charAt(b % USER_CODE_ALPHABET.length)).join("");
    const deviceCode = `DAQABAAEAAAD${randomBytes(96).toString("base64url")}`;
    const record: DeviceCodeRecord = {
      deviceCode, userCode, clientId: app.clientId, tenantId: tenant?.id, scope,
      expiresAt: this.state.clock.now() + DEVICE_CODE_LIFETIME_SECONDS * 1000, status: "pending",
    };
    this.state.deviceCodes.set(deviceCode, record);
    const verificationUri = `${this.endpoints.originFor(ctx.headers["host"])}/devicelogin`;
    return json(200, {
      user_code: userCode,
      device_code: deviceCode,
      verification_uri: verificationUri,
      expires_in: DEVICE_CODE_LIFETIME_SECONDS,
      interval: DEVICE_CODE_INTERVAL_SECONDS,
      message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${userCode} to authenticate.`,
    }, { "cache-control": "no-store, no-cache" });
  }

  private findByUserCode(userCode: string): DeviceCodeRecord | undefined {
    const key = userCode.trim().toUpperCase();
    for (const r of this.state.deviceCodes.values()) if (r.userCode === key) return r;
    return undefined;
  }

  /** A user by UPN in the tenant its domain names. */
  findUserByUpn(upn: string): Signed | undefined {
    const home = this.state.findTenant(upn.split("@").pop() ?? "");
    const user = home?.byUpn.get(upn.toLowerCase());
    return home && user ? { home, user } : undefined;
  }

  /**
   * The user approves a pending code (what the verification page does after checking the password). Errors are
   * messages for the page (and InvalidOptionError-like for the admin interface).
   */
  approve(userCode: string, upn: string): { ok: true; record: DeviceCodeRecord } | { ok: false; message: string; notFound?: boolean } {
    const record = this.findByUserCode(userCode);
    if (!record) return { ok: false, notFound: true, message: `AADSTS70000: no device code with the user code '${userCode}'. Check the code and try again.` };
    if (record.status !== "pending") return { ok: false, message: `AADSTS70000: the code '${record.userCode}' was already used.` };
    if (this.state.clock.now() >= record.expiresAt) return { ok: false, message: `AADSTS70020: the code '${record.userCode}' has expired. Start the sign-in on your device again.` };
    const signed = this.findUserByUpn(upn);
    if (!signed || signed.user.userType === "Guest")
      return { ok: false, notFound: true, message: `AADSTS50034: The user account ${upn} does not exist in the directory.` };
    if (!signed.user.accountEnabled) return { ok: false, message: "AADSTS50057: The user account is disabled." };
    if (record.tenantId !== undefined && record.tenantId !== signed.home.id)
      return { ok: false, message: `AADSTS50020: User account '${upn}' from identity provider '${issuerFor(signed.home.id)}' does not exist in tenant '${this.state.findTenant(record.tenantId)?.displayName ?? record.tenantId}'.` };
    record.status = "approved";
    record.userId = signed.user.id;
    record.homeTenantId = signed.home.id;
    signed.user.lastSignInDateTime = new Date(this.state.clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
    return { ok: true, record };
  }

  /** The user answers "No, cancel" on the verification page. */
  decline(userCode: string): boolean {
    const record = this.findByUserCode(userCode);
    if (!record || record.status !== "pending") return false;
    record.status = "declined";
    return true;
  }

  /** Revokes every refresh token of a user (as `revokeSignInSessions` does): later redemptions get AADSTS50173. */
  revoke(upn: string): number {
    const signed = this.findUserByUpn(upn);
    if (!signed) return -1;
    let n = 0;
    for (const r of this.state.refreshTokens.values())
      if (r.userId === signed.user.id && !r.revoked) {
        r.revoked = true;
        n++;
      }
    return n;
  }

  /** GET shows the code form; POST checks the code, the username and the password. */
  verificationPage(ctx: RequestContext): Outcome {
    if (ctx.method === "GET") return this.codePage("", "");
    if (ctx.method !== "POST") return json(405, { error: "method_not_allowed" });
    const body = new URLSearchParams(ctx.body.toString("utf8"));
    const code = (body.get("code") ?? "").trim();
    const login = (body.get("login") ?? "").trim();
    const password = body.get("passwd") ?? "";
    if (body.get("action") === "decline") {
      return this.decline(code)
        ? this.donePage("Sign-in cancelled", "You declined to sign in on the other device. You can close this window.")
        : this.codePage(code, login, "That code is not valid or was already used.");
    }
    if (code === "" || login === "" || password === "") return this.codePage(code, login, "Enter the code, your username and your password.");
    const signed = this.findUserByUpn(login);
    if (signed && !secretMatches(seededPassword(this.state.seedParams.seed, signed.home.id, signed.user.id), password))
      return this.codePage(code, login, "AADSTS50126: Error validating credentials due to invalid username or password.");
    const result = this.approve(code, login);
    if (!result.ok) return this.codePage(code, login, result.message);
    const app = this.state.findApp(result.record.clientId);
    return this.donePage("You're signed in", `You have signed in to ${app?.displayName ?? "the application"} on your device. You may now close this window.`);
  }

  private page(status: number, title: string, content: string): Outcome {
    const nonce = randomBytes(16).toString("base64");
    const doc = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">body{font-family:system-ui,sans-serif;background:#f2f2f2;color:#1b1b1b;margin:0}main{max-width:26rem;margin:4rem auto;background:#fff;padding:2.5rem}label{display:block;margin:1rem 0 .25rem;font-weight:600}input{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #666}input:focus,button:focus{outline:3px solid #0067b8;outline-offset:2px}button{margin:1.5rem .5rem 0 0;padding:.6rem 1.5rem;font-size:1rem;background:#0067b8;color:#fff;border:0}button.secondary{background:#505050}.error{color:#a80000;border-left:4px solid #a80000;padding-left:.75rem}</style>
</head>
<body>
<main>
${content}
<p>Microsoft Entra ID emulator (mfactl): not a Microsoft service.</p>
</main>
</body>
</html>
`;
    return htmlPage(status, doc, {
      "content-security-policy": `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
      "x-frame-options": "DENY",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-store, no-cache",
    });
  }

  private codePage(code: string, login: string, error?: string): Outcome {
    const described = error === undefined ? "" : ` aria-describedby="device-error" aria-invalid="true"`;
    return this.page(200, "Enter code", `<h1>Enter code</h1>
<p>Enter the code displayed on your app or device, then sign in.</p>
${error === undefined ? "" : `<p id="device-error" class="error" role="alert">${escapeHtml(error)}</p>\n`}<form method="post" action="/devicelogin">
<label for="code">Code</label>
<input id="code" name="code" type="text" autocomplete="one-time-code" autocapitalize="characters" spellcheck="false" required value="${escapeHtml(code)}"${described}>
<label for="login">Username</label>
<input id="login" name="login" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" value="${escapeHtml(login)}"${described}>
<label for="passwd">Password</label>
<input id="passwd" name="passwd" type="password" autocomplete="current-password"${described}>
<button type="submit" name="action" value="approve">Sign in</button><button type="submit" name="action" value="decline" class="secondary" formnovalidate>Cancel sign-in</button>
</form>`);
  }

  private donePage(title: string, text: string): Outcome {
    return this.page(200, title, `<h1>${escapeHtml(title)}</h1>\n<p role="status">${escapeHtml(text)}</p>`);
  }

  /**
   * grant_type device_code or refresh_token. `checkSecret` is the token endpoint's secret check (AADSTS7000215 /
   * 7000222); a public client may send no credential.
   */
  async token(
    ctx: RequestContext,
    tenantRef: string,
    form: URLSearchParams,
    client: { clientId: string | null; secret: string | null },
    checkSecret: (app: AppRecord, secret: string) => Outcome | undefined,
  ): Promise<Outcome> {
    const grantType = form.get("grant_type");
    let target: Tenant | undefined;
    if (!MULTI_TENANT.has(tenantRef.toLowerCase())) {
      target = this.state.findTenant(tenantRef);
      if (!target) return this.error(ctx, this.tenantNotFound(tenantRef));
    }
    if (!client.clientId) return this.error(ctx, fail("invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."));
    const app = this.state.findApp(client.clientId);
    if (!app) return this.error(ctx, this.appNotFound(client.clientId, target?.displayName ?? tenantRef));

    // Client authentication: a secret when one is sent, nothing for a public client.
    let clientAuth: "0" | "1" = "0";
    if (client.secret !== null) {
      const bad = checkSecret(app, client.secret);
      if (bad) return bad;
      clientAuth = "1";
    } else if (form.get("client_assertion") !== null) {
      return this.error(ctx, fail("invalid_request", 90100, "client_assertion is not supported on the emulator's device code and refresh token grants; send client_secret or nothing (public client)."));
    } else if (!app.publicClient) {
      return this.error(ctx, fail("invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."));
    }

    let signed: Signed;
    let scope: string;
    // The refresh token redeemed: spent once new tokens are issued (a client must keep the one it is given),
    // not when the redemption fails (no relationship, no consent), as Entra leaves a token usable elsewhere.
    let spent: RefreshTokenRecord | undefined;
    if (isDeviceCodeGrant(grantType)) {
      const deviceCode = form.get("device_code");
      if (!deviceCode) return this.error(ctx, fail("invalid_request", 900144, "The request body must contain the following parameter: 'device_code'."));
      const record = this.state.deviceCodes.get(deviceCode);
      if (!record || record.clientId !== app.clientId) return this.error(ctx, fail("invalid_grant", 70000, "Provided grant is invalid or malformed."));
      if (record.status === "redeemed") return this.error(ctx, fail("invalid_grant", 70000, "Provided grant is invalid or malformed: the device code was already redeemed."));
      if (record.status === "declined") return this.error(ctx, fail("authorization_declined", 70000, "The end user denied the authorization request."));
      if (this.state.clock.now() >= record.expiresAt)
        return this.error(ctx, fail("expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired."));
      if (record.status === "pending")
        return this.error(ctx, fail("authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling."));
      const home = this.state.findTenant(record.homeTenantId ?? "");
      const user = home?.byId.get(record.userId ?? "");
      if (!home || !user) return this.error(ctx, fail("invalid_grant", 70000, "Provided grant is invalid or malformed."));
      record.status = "redeemed";
      signed = { home, user };
      scope = form.get("scope") ?? record.scope;
    } else {
      const token = form.get("refresh_token");
      if (!token) return this.error(ctx, fail("invalid_request", 900144, "The request body must contain the following parameter: 'refresh_token'."));
      const record = this.state.refreshTokens.get(token);
      if (!record) return this.error(ctx, fail("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."));
      if (record.clientId !== app.clientId)
        return this.error(ctx, fail("invalid_grant", 70000, "Provided grant is invalid or malformed: the refresh token was issued to another application."));
      if (record.revoked)
        return this.error(ctx, fail("invalid_grant", 50173, `The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '${new Date(record.issuedAt).toISOString()}'. Sign in again.`, { suberror: "bad_token" }));
      if (record.redeemed)
        return this.error(ctx, fail("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource. (Emulator: this refresh token was already redeemed; every redemption returns a new one.)", { suberror: "bad_token" }));
      if (this.state.clock.now() >= record.issuedAt + REFRESH_TOKEN_INACTIVITY_MS)
        return this.error(ctx, fail("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.", { suberror: "bad_token" }));
      const home = this.state.findTenant(record.homeTenantId);
      const user = home?.byId.get(record.userId);
      if (!home || !user) return this.error(ctx, fail("invalid_grant", 50034, "The user account does not exist in the directory."));
      if (!user.accountEnabled) return this.error(ctx, fail("invalid_grant", 50057, "The user account is disabled."));
      spent = record;
      signed = { home, user };
      const asked = form.get("scope");
      if (!asked) return this.error(ctx, fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'."));
      scope = asked;
    }
    const outcome = await this.issue(ctx, app, clientAuth, signed, target ?? signed.home, scope);
    if (spent && outcome.kind === "response" && outcome.status === 200) spent.redeemed = true;
    return outcome;
  }

  /** Tokens for a signed-in user in `target` (their home tenant, or a customer reached through GDAP). */
  private async issue(ctx: RequestContext, app: AppRecord, clientAuth: "0" | "1", signed: Signed, target: Tenant, scope: string): Promise<Outcome> {
    const { home, user } = signed;
    const relationships = this.state.partner?.relationships ?? [];
    if (target.id !== home.id && (activeRelationships(relationships, home.id, target.id).length === 0 || !isAdminAgent(home, user)))
      return this.error(ctx, fail("invalid_grant", 50020, `User account '${user.userPrincipalName}' from identity provider '${issuerFor(home.id)}' does not exist in tenant '${target.displayName}' and cannot access the application '${app.clientId}'(${app.displayName}) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.`));
    const consented = delegatedScopesIn(app, target.id);
    const notConsented = () =>
      this.error(ctx, fail("invalid_grant", 65001, `The user or administrator has not consented to use the application with ID '${app.clientId}' named '${app.displayName}'. Send an interactive authorization request for this user and resource.`, { suberror: "consent_required" }));
    if (consented === undefined) return notConsented();
    const parsed = this.parseScope(scope);
    if (isFailure(parsed)) return this.error(ctx, parsed);
    let granted: string[];
    if (parsed.all) granted = [...consented];
    else {
      granted = [];
      for (const name of parsed.names) {
        const found = consented.find((c) => c.toLowerCase() === name.toLowerCase());
        if (found === undefined) return notConsented();
        granted.push(found);
      }
    }
    const lifetime = this.state.config.tokenLifetimeSeconds;
    const origin = this.endpoints.originFor(ctx.headers["host"]);
    const wids = rolesInTenant(relationships, home, user, target);
    const claims: Record<string, unknown> = {
      ...userAccessTokenClaims({
        tenantId: target.id, clientId: app.clientId, clientAuth, resourceClientId: GRAPH_APP_ID, audience: this.endpoints.graphUrl, version: 1,
        authorityOrigin: origin, user, scopes: granted, roles: [], ...this.tokens.times(lifetime),
      }),
      app_displayname: app.displayName,
      idtyp: "user",
      ...(wids.length > 0 ? { wids } : {}),
    };
    // A user from another tenant: their home tenant is the identity provider.
    if (target.id !== home.id) claims["idp"] = issuerFor(home.id);
    const body: Record<string, unknown> = {
      token_type: "Bearer",
      scope: [...granted.map((g) => `${parsed.prefix}${g}`), ...parsed.oidc].join(" "),
      expires_in: lifetime,
      ext_expires_in: lifetime,
      access_token: await this.tokens.sign(claims),
    };
    if (parsed.oidc.includes("offline_access")) {
      const refresh = `1.A${randomBytes(120).toString("base64url")}`;
      const record: RefreshTokenRecord = { clientId: app.clientId, userId: user.id, homeTenantId: home.id, issuedAt: this.state.clock.now(), redeemed: false, revoked: false };
      this.state.refreshTokens.set(refresh, record);
      body["refresh_token"] = refresh;
    }
    if (parsed.oidc.includes("openid")) {
      body["id_token"] = await this.tokens.sign(
        idTokenClaims({
          tenantId: target.id, clientId: app.clientId, authorityOrigin: origin, user, oidcScopes: parsed.oidc, roles: [],
          ...this.tokens.times(ID_TOKEN_LIFETIME_SECONDS),
        }),
      );
    }
    // What MSAL builds the account's home id from: uid.utid.
    body["client_info"] = Buffer.from(JSON.stringify({ uid: user.id, utid: home.id })).toString("base64url");
    this.state.stats.tokensIssued++;
    return json(200, body, { "cache-control": "no-store, no-cache", pragma: "no-cache" });
  }
}
