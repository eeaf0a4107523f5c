import { createHash, randomBytes } from "node:crypto";
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { admin, form, ManualClock, send, type Reply } from "./test-helpers.js";

let emu: RunningEmulator;
const clock = new ManualClock();
const REDIRECT = "http://127.0.0.1:5173/auth/callback";
const ORIGIN = "http://127.0.0.1:5173";

beforeAll(async () => {
  emu = await startEmulator({ clock, tenants: 2, users: 9 });
  const registered = await admin(emu, "PUT", `/apps/${emu.dashboardApp.clientId}/redirect-uris`, { spa: [REDIRECT] });
  expect(registered.status).toBe(200);
});
afterAll(async () => {
  await emu.close();
});

const home = () => emu.tenants[0]!;
const upn = (local: string) => `${local}@${home().domain}`;

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(48).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

interface AuthorizeParams {
  clientId?: string;
  redirectUri?: string;
  scope?: string;
  challenge?: string;
  extra?: Record<string, string>;
}

function authorizeUrl(p: AuthorizeParams, tenant = home().id): string {
  const q = new URLSearchParams({
    client_id: p.clientId ?? emu.dashboardApp.clientId,
    response_type: "code",
    redirect_uri: p.redirectUri ?? REDIRECT,
    scope: p.scope ?? `openid profile ${emu.apiApp.identifierUri}/.default`,
    state: "st-123",
    nonce: "n-456",
  });
  if (p.challenge !== undefined) {
    q.set("code_challenge", p.challenge);
    q.set("code_challenge_method", "S256");
  }
  for (const [k, v] of Object.entries(p.extra ?? {})) q.set(k, v);
  return `${emu.authorityHost}/${tenant}/oauth2/v2.0/authorize?${q.toString()}`;
}

const get = (url: string) => send(url, { ca: emu.caPem });

/** What a browser does: GET the page, read the form's action, POST the credentials there. */
async function submitCredentials(url: string, login: string, password: string): Promise<Reply> {
  const page = await get(url);
  expect(page.status).toBe(200);
  const action = /<form method="post" action="([^"]+)">/.exec(page.text)?.[1];
  expect(action).toBeDefined();
  const target = new URL(action!.replace(/&amp;/g, "&"), emu.authorityHost).toString();
  return send(target, { ...form({ login, passwd: password }), ca: emu.caPem });
}

/** Signs a user in and returns the redirect back to the app (its query). */
async function signIn(local: string, p: AuthorizeParams = {}): Promise<URLSearchParams> {
  const reply = await submitCredentials(authorizeUrl(p), upn(local), emu.userPassword(home().id, upn(local)));
  expect(reply.status).toBe(302);
  const location = String(reply.headers.location);
  expect(location.startsWith(`${p.redirectUri ?? REDIRECT}?`)).toBe(true);
  return new URL(location).searchParams;
}

function redeem(values: Record<string, string>, headers: Record<string, string> = { origin: ORIGIN }, tenant = home().id): Promise<Reply> {
  const request = form({ grant_type: "authorization_code", client_id: emu.dashboardApp.clientId, redirect_uri: REDIRECT, ...values });
  return send(`${emu.authorityHost}/${tenant}/oauth2/v2.0/token`, { ...request, headers: { ...request.headers, ...headers }, ca: emu.caPem });
}

async function jwks(): Promise<{ issuer: string; keys: JSONWebKeySet; authorize: string; endSession: string }> {
  const doc = (await get(`${emu.authorityHost}/${home().id}/v2.0/.well-known/openid-configuration`)).json<{
    issuer: string;
    jwks_uri: string;
    authorization_endpoint: string;
    end_session_endpoint: string;
  }>();
  return { issuer: doc.issuer, keys: (await get(doc.jwks_uri)).json<JSONWebKeySet>(), authorize: doc.authorization_endpoint, endSession: doc.end_session_endpoint };
}

async function verify(token: string, issuer: string, audience: string): Promise<JWTPayload> {
  const { keys } = await jwks();
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(keys), { algorithms: ["RS256"], issuer, audience, currentDate: new Date(clock.now()) });
  expect(protectedHeader).toMatchObject({ alg: "RS256", typ: "JWT" });
  return payload;
}

function expectAadError(reply: Reply, error: string, code: number): void {
  expect(reply.status).toBe(400);
  const body = reply.json<{ error: string; error_codes: number[]; error_description: string }>();
  expect(body.error).toBe(error);
  expect(body.error_codes).toEqual([code]);
  expect(body.error_description).toMatch(new RegExp(`^AADSTS${code}: `));
}

function expectErrorPage(reply: Reply, code: number): void {
  expect(reply.status).toBe(400);
  expect(reply.headers["content-type"]).toMatch(/^text\/html/);
  expect(reply.headers.location).toBeUndefined();
  expect(reply.text).toContain(`AADSTS${code}`);
}

function expectErrorRedirect(reply: Reply, error: string, code: number): URLSearchParams {
  expect(reply.status).toBe(302);
  const location = new URL(String(reply.headers.location));
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
  expect(location.searchParams.get("error")).toBe(error);
  expect(location.searchParams.get("error_description")).toMatch(new RegExp(`^AADSTS${code}: `));
  expect(location.searchParams.get("state")).toBe("st-123");
  expect(location.searchParams.has("code")).toBe(false);
  return location.searchParams;
}

describe("seeded dashboard app, passwords and user roles", () => {
  it("exposes the dashboard SPA on the handle and at /apps/seeded, and passwords on the handle and the admin listener", async () => {
    expect(emu.dashboardApp).toEqual({ clientId: expect.stringMatching(/^[0-9a-f-]{36}$/), tenantId: home().id, redirectUris: { web: [], spa: [REDIRECT] } });
    expect((await admin(emu, "GET", "/apps/seeded")).json()).toMatchObject({ dashboardApp: emu.dashboardApp });
    const password = emu.userPassword(home().domain, upn("adele.vance"));
    expect(password).toMatch(/^[A-Za-z0-9]{5}-[A-Za-z0-9]{5}-[A-Za-z0-9]{5}-7a$/);
    expect(emu.userPassword(home().id, upn("alex.wilber"))).not.toBe(password);
    const reply = await admin(emu, "GET", `/tenants/${home().id}/users/${encodeURIComponent(upn("adele.vance"))}/password`);
    expect(reply.json()).toEqual({ password });
    expect((await get(`${emu.authorityHost}/tenants/${home().id}/users/${upn("adele.vance")}/password`)).status).toBe(404);
  });

  it("seeds Admin, MfaState.ReadWrite and MfaState.Read on the API for three named users of the first tenant", async () => {
    const list = (await admin(emu, "GET", `/apps/${emu.apiApp.clientId}/user-roles/${home().id}`)).json<{ userPrincipalName: string; roles: string[] }[]>();
    expect(list.map((a) => [a.userPrincipalName, a.roles])).toEqual([
      [upn("adele.vance"), ["Admin"]],
      [upn("alex.wilber"), ["MfaState.ReadWrite"]],
      [upn("megan.bowen"), ["MfaState.Read"]],
    ]);
  });

  it("validates redirect URIs and roles given over the admin interface", async () => {
    const bad = await admin(emu, "PUT", `/apps/${emu.dashboardApp.clientId}/redirect-uris`, { spa: ["http://example.com/cb"] });
    expect(bad.status).toBe(400);
    expect((await admin(emu, "PUT", `/apps/${emu.dashboardApp.clientId}/redirect-uris`, { spa: ["https://127.0.0.1/*"] })).status).toBe(400);
    const role = await admin(emu, "PUT", `/apps/${encodeURIComponent(emu.apiApp.identifierUri)}/user-roles/${home().id}/${upn("admin")}`, { roles: ["Nope"] });
    expect(role.status).toBe(400);
    expect((await admin(emu, "PUT", `/apps/${emu.apiApp.clientId}/user-roles/${home().id}/nobody@x`, { roles: [] })).status).toBe(404);
  });
});

describe("authorization code flow with PKCE", () => {
  it("serves an accessible sign-in page with a strict CSP, from the discovery document's authorization_endpoint", async () => {
    const { authorize } = await jwks();
    expect(authorize).toBe(`${emu.authorityHost}/${home().id}/oauth2/v2.0/authorize`);
    const { challenge } = pkce();
    const page = await get(authorizeUrl({ challenge }).replace(`${emu.authorityHost}/${home().id}/oauth2/v2.0/authorize`, authorize));
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain(`form-action 'self' ${ORIGIN}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers["x-frame-options"]).toBe("DENY");
    expect(page.headers["cache-control"]).toContain("no-store");
    expect(page.text).toContain('<html lang="en">');
    expect(page.text).toContain('<label for="login">Username</label>');
    expect(page.text).toMatch(/<input id="login" name="login" type="text" autocomplete="username"/);
    expect(page.text).toContain('<label for="passwd">Password</label>');
    expect(page.text).toMatch(/<input id="passwd" name="passwd" type="password" autocomplete="current-password" required>/);
    expect(page.text).toContain('<button type="submit">Sign in</button>');
    expect(page.text).not.toMatch(/<script|src=|href=/);
  });

  it("signs a seeded user in and exchanges the code for an id_token and an API access token with roles", async () => {
    const { verifier, challenge } = pkce();
    const back = await signIn("adele.vance", { challenge });
    expect(back.get("state")).toBe("st-123");
    const code = back.get("code")!;
    expect(code.length).toBeGreaterThan(40);

    const reply = await redeem({ code, code_verifier: verifier });
    expect(reply.status).toBe(200);
    expect(reply.headers["access-control-allow-origin"]).toBe(ORIGIN);
    const body = reply.json<{ token_type: string; scope: string; expires_in: number; access_token: string; id_token: string }>();
    expect(body.token_type).toBe("Bearer");
    expect(body.scope).toBe(`${emu.apiApp.identifierUri}/access_as_user openid profile`);
    expect(body.expires_in).toBe(3599);

    const user = emu.admin.getUser(home().id, upn("adele.vance"));
    const { issuer } = await jwks();
    expect(issuer).toBe(`${emu.authorityHost}/${home().id}/v2.0`);
    const id = await verify(body.id_token, issuer, emu.dashboardApp.clientId);
    expect(id).toMatchObject({ ver: "2.0", tid: home().id, oid: user.id, name: "Adele Vance", preferred_username: upn("adele.vance"), nonce: "n-456" });
    expect(id.sub).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(id.exp! - id.iat!).toBeGreaterThanOrEqual(3600); // exp rounded up, like access tokens
    expect(id.exp! - id.iat!).toBeLessThanOrEqual(3601);
    expect(id.nbf).toBe(id.iat);
    expect(id.roles).toBeUndefined();

    const access = await verify(body.access_token, `https://sts.windows.net/${home().id}/`, emu.apiApp.identifierUri);
    expect(access).toMatchObject({ ver: "1.0", tid: home().id, oid: user.id, appid: emu.dashboardApp.clientId, appidacr: "0", scp: "access_as_user", roles: ["Admin"], upn: upn("adele.vance"), name: "Adele Vance" });
    expect(access.sub).not.toBe(id.sub);
    expect(emu.admin.getUser(home().id, upn("adele.vance")).lastSignInDateTime).toBe(new Date(clock.now()).toISOString().replace(/\.\d+Z$/, "Z"));

    // Single use.
    expectAadError(await redeem({ code, code_verifier: verifier }), "invalid_grant", 54005);
  });

  it("puts each user's roles on the API in the access token; an admin assignment changes them", async () => {
    const token = async (local: string) => {
      const { verifier, challenge } = pkce();
      const code = (await signIn(local, { challenge, scope: `openid profile ${emu.apiApp.identifierUri}/access_as_user` })).get("code")!;
      return decodeJwt((await redeem({ code, code_verifier: verifier })).json<{ access_token: string }>().access_token);
    };
    expect((await token("alex.wilber")).roles).toEqual(["MfaState.ReadWrite"]);
    expect((await token("megan.bowen")).roles).toEqual(["MfaState.Read"]);
    expect((await token("admin")).roles).toBeUndefined();
    const assigned = await admin(emu, "PUT", `/apps/${encodeURIComponent(emu.apiApp.identifierUri)}/user-roles/${home().domain}/${upn("admin")}`, { roles: ["MfaState.Read", "Admin"] });
    expect(assigned.json()).toMatchObject({ clientId: emu.apiApp.clientId, tenantId: home().id, userPrincipalName: upn("admin"), roles: ["MfaState.Read", "Admin"] });
    expect((await token("admin")).roles).toEqual(["MfaState.Read", "Admin"]);
    expect((await admin(emu, "DELETE", `/apps/${emu.apiApp.clientId}/user-roles/${home().id}/${upn("admin")}`)).status).toBe(204);
    expect((await token("admin")).roles).toBeUndefined();
  });

  it("issues only an id_token when no API is asked for, and v2.0 access tokens for a v2 API", async () => {
    const { verifier, challenge } = pkce();
    let code = (await signIn("alex.wilber", { challenge, scope: "openid profile" })).get("code")!;
    const only = (await redeem({ code, code_verifier: verifier })).json<Record<string, unknown>>();
    expect(Object.keys(only).sort()).toEqual(["id_token", "scope", "token_type"]);

    const apiId = "4d0f7c9e-6a51-4c2b-9a9e-0b6f0c1d2e3f";
    expect((await admin(emu, "POST", "/apps", { clientId: apiId, identifierUris: [`api://${apiId}`], appRoles: ["Reader"], scopes: ["read"], accessTokenAcceptedVersion: 2, tenants: { [home().id]: [] } })).status).toBe(201);
    await admin(emu, "PUT", `/apps/${apiId}/user-roles/${home().id}/${upn("alex.wilber")}`, { roles: ["Reader"] });
    code = (await signIn("alex.wilber", { challenge, scope: `openid api://${apiId}/read` })).get("code")!;
    const body = (await redeem({ code, code_verifier: verifier })).json<{ access_token: string; id_token: string }>();
    const access = await verify(body.access_token, `${emu.authorityHost}/${home().id}/v2.0`, apiId);
    expect(access).toMatchObject({ ver: "2.0", azp: emu.dashboardApp.clientId, azpacr: "0", scp: "read", roles: ["Reader"], preferred_username: upn("alex.wilber") });
    // openid alone: no profile claims in the id_token.
    expect(decodeJwt(body.id_token).preferred_username).toBeUndefined();
  });

  it("refuses a wrong code_verifier (AADSTS501481), a missing one, and a redirect_uri other than the code's", async () => {
    const { verifier, challenge } = pkce();
    let code = (await signIn("alex.wilber", { challenge })).get("code")!;
    expectAadError(await redeem({ code, code_verifier: pkce().verifier }), "invalid_grant", 501481);
    code = (await signIn("alex.wilber", { challenge })).get("code")!;
    expectAadError(await redeem({ code }), "invalid_request", 900144);
    await admin(emu, "PUT", `/apps/${emu.dashboardApp.clientId}/redirect-uris`, { spa: [REDIRECT, `${ORIGIN}/other`] });
    code = (await signIn("alex.wilber", { challenge })).get("code")!;
    expectAadError(await redeem({ code, code_verifier: verifier, redirect_uri: `${ORIGIN}/other` }), "invalid_grant", 500112);
    await admin(emu, "PUT", `/apps/${emu.dashboardApp.clientId}/redirect-uris`, { spa: [REDIRECT] });
  });

  it("expires codes after 10 minutes on the emulator clock and refuses unknown codes", async () => {
    const { verifier, challenge } = pkce();
    const code = (await signIn("alex.wilber", { challenge })).get("code")!;
    clock.advance(10 * 60 * 1000);
    expectAadError(await redeem({ code, code_verifier: verifier }), "invalid_grant", 70008);
    expectAadError(await redeem({ code: "1.not-a-code", code_verifier: verifier }), "invalid_grant", 70000);
  });

  it("redeems spa codes only cross-origin (an Origin header) and without a secret, in the code's tenant", async () => {
    const { verifier, challenge } = pkce();
    const code = (await signIn("alex.wilber", { challenge })).get("code")!;
    expectAadError(await redeem({ code, code_verifier: verifier }, {}), "invalid_request", 9002327);
    expectAadError(await redeem({ code, code_verifier: verifier, client_secret: "x" }), "invalid_client", 700025);
    expectAadError(await redeem({ code, code_verifier: verifier }, { origin: ORIGIN }, emu.tenants[1]!.id), "unauthorized_client", 700016);
    expect((await redeem({ code, code_verifier: verifier })).status).toBe(200);
    const preflight = await send(`${emu.authorityHost}/${home().id}/oauth2/v2.0/token`, { method: "OPTIONS", headers: { origin: ORIGIN, "access-control-request-method": "POST" }, ca: emu.caPem });
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe(ORIGIN);
  });

  it("signs in through organizations: the user's domain picks the tenant", async () => {
    const { verifier, challenge } = pkce();
    const url = authorizeUrl({ challenge }, "organizations");
    const reply = await submitCredentials(url, upn("megan.bowen"), emu.userPassword(home().id, upn("megan.bowen")));
    expect(reply.status).toBe(302);
    const code = new URL(String(reply.headers.location)).searchParams.get("code")!;
    const body = (await redeem({ code, code_verifier: verifier }, { origin: ORIGIN }, "organizations")).json<{ id_token: string }>();
    expect(decodeJwt(body.id_token)).toMatchObject({ tid: home().id, iss: `${emu.authorityHost}/${home().id}/v2.0` });
  });

  it("supports a confidential web client (secret, PKCE optional) whose own app roles land in the id_token", async () => {
    const clientId = "9b1e2c3d-4f5a-4b6c-8d7e-1f2a3b4c5d6e";
    const webRedirect = "https://127.0.0.1:8443/signin-oidc";
    const reg = { clientId, clientSecret: "web-secret", appRoles: ["Operator"], redirectUris: { web: [webRedirect] }, tenants: { [home().id]: [] } };
    expect((await admin(emu, "POST", "/apps", reg)).status).toBe(201);
    await admin(emu, "PUT", `/apps/${clientId}/user-roles/${home().id}/${upn("alex.wilber")}`, { roles: ["Operator"] });
    const code = (await signIn("alex.wilber", { clientId, redirectUri: webRedirect, scope: "openid profile" })).get("code")!;
    const base = { grant_type: "authorization_code", client_id: clientId, redirect_uri: webRedirect, code };
    const url = `${emu.authorityHost}/${home().id}/oauth2/v2.0/token`;
    expectAadError(await send(url, { ...form(base), ca: emu.caPem }), "invalid_client", 7000218);
    const ok = await send(url, { ...form({ ...base, client_secret: "web-secret" }), ca: emu.caPem });
    expect(ok.status).toBe(200);
    const id = decodeJwt(ok.json<{ id_token: string }>().id_token);
    expect(id).toMatchObject({ aud: clientId, roles: ["Operator"], nonce: "n-456" });
  });
});

describe("authorize errors", () => {
  it("renders an unknown client (AADSTS700016) and an unregistered redirect_uri (AADSTS50011) as a page, never a redirect", async () => {
    const { challenge } = pkce();
    expectErrorPage(await get(authorizeUrl({ challenge, clientId: "00000000-1111-2222-3333-444444444444" })), 700016);
    const bad = await get(authorizeUrl({ challenge, redirectUri: "https://evil.example/cb" }));
    expectErrorPage(bad, 50011);
    expect(bad.text).toContain("https://evil.example/cb");
    expect(bad.text).not.toMatch(/<form/);
    expectErrorPage(await get(authorizeUrl({ challenge }, "00000000-0000-0000-0000-000000000000")), 90002);
    // Not in the second tenant (it has no service principal there).
    expectErrorPage(await get(authorizeUrl({ challenge }, emu.tenants[1]!.id)), 700016);
  });

  it("redirects back with error, error_description and state once the redirect_uri is trusted", async () => {
    expectErrorRedirect(await get(authorizeUrl({})), "invalid_request", 9002325);
    const plain = authorizeUrl({ extra: { code_challenge: pkce().challenge, code_challenge_method: "plain" } });
    expectErrorRedirect(await get(plain), "invalid_request", 50149);
    const { challenge } = pkce();
    expectErrorRedirect(await get(authorizeUrl({ challenge, extra: { response_type: "token" } })), "unsupported_response_type", 700054);
    expectErrorRedirect(await get(authorizeUrl({ challenge, scope: "openid User.Read" })), "invalid_scope", 70011);
    expectErrorRedirect(await get(authorizeUrl({ challenge, scope: `openid ${emu.apiApp.identifierUri}/nope` })), "invalid_client", 650053);
    expectErrorRedirect(await get(authorizeUrl({ challenge, scope: "openid api://unknown/.default" })), "invalid_resource", 500011);
    expectErrorRedirect(await get(authorizeUrl({ challenge, extra: { prompt: "none" } })), "login_required", 50058);
    const fragment = await get(authorizeUrl({ challenge, extra: { response_type: "token", response_mode: "fragment" } }));
    expect(new URLSearchParams(new URL(String(fragment.headers.location)).hash.slice(1)).get("error")).toBe("unsupported_response_type");
  });

  it("shows the page again with AADSTS50126 for a wrong password, and refuses unknown and disabled users", async () => {
    const { challenge } = pkce();
    const wrong = await submitCredentials(authorizeUrl({ challenge }), upn("adele.vance"), "not-the-password");
    expect(wrong.status).toBe(200);
    expect(wrong.headers.location).toBeUndefined();
    expect(wrong.text).toContain('role="alert">AADSTS50126: Error validating credentials due to invalid username or password.</p>');
    expect(wrong.text).toContain(`value="${upn("adele.vance")}"`);
    expect(wrong.text).toContain('aria-describedby="signin-error"');
    expect(wrong.text).not.toContain("not-the-password");
    // A user of the other tenant is not a user of this one.
    const other = emu.tenants[1]!;
    const foreign = await submitCredentials(authorizeUrl({ challenge }), `adele.vance@${other.domain}`, emu.userPassword(other.id, `adele.vance@${other.domain}`));
    expect(foreign.text).toContain("AADSTS50034");
    const disabled = `former.employee@${home().domain}`;
    expect((await submitCredentials(authorizeUrl({ challenge }), disabled, emu.userPassword(home().id, disabled))).text).toContain("AADSTS50057");
  });

  it("escapes what it echoes into the page", async () => {
    const { challenge } = pkce();
    const reply = await submitCredentials(authorizeUrl({ challenge }), `<script>alert(1)</script>"@${home().domain}`, "x");
    expect(reply.text).not.toContain("<script>");
    expect(reply.text).toContain("&lt;script&gt;");
  });
});

describe("end session", () => {
  it("redirects to a registered post_logout_redirect_uri with the state, else shows a signed-out page", async () => {
    const { endSession } = await jwks();
    const back = await get(`${endSession}?post_logout_redirect_uri=${encodeURIComponent(REDIRECT)}&client_id=${emu.dashboardApp.clientId}&state=bye`);
    expect(back.status).toBe(302);
    expect(back.headers.location).toBe(`${REDIRECT}?state=bye`);
    const unregistered = await get(`${endSession}?post_logout_redirect_uri=${encodeURIComponent("https://evil.example/")}`);
    expect(unregistered.status).toBe(200);
    expect(unregistered.headers.location).toBeUndefined();
    expect(unregistered.text).toContain("You signed out of your account");
  });
});
