import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, type JSONWebKeySet, type JWTPayload } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { API_APP_ROLES } from "./apps.js";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { admin, form, graph, ManualClock, send, tokenFor } from "./test-helpers.js";

let emu: RunningEmulator;
const clock = new ManualClock();

beforeAll(async () => {
  emu = await startEmulator({ clock, tenants: 2, users: 9 });
});
afterAll(async () => {
  await emu.close();
});

interface AadError {
  error: string;
  error_description: string;
  error_codes: number[];
}

const home = () => emu.tenants[0]!;
const tokenUrl = (tenant: string) => `${emu.authorityHost}/${tenant}/oauth2/v2.0/token`;

function requestToken(tenant: string, app: { clientId: string; clientSecret: string }, scope: string) {
  return send(tokenUrl(tenant), { ...form({ grant_type: "client_credentials", client_id: app.clientId, client_secret: app.clientSecret, scope }), ca: emu.caPem });
}

async function apiToken(tenant: string, app: { clientId: string; clientSecret: string }, scope = `${emu.apiApp.identifierUri}/.default`): Promise<string> {
  const reply = await requestToken(tenant, app, scope);
  if (reply.status !== 200) throw new Error(`token request failed: ${reply.status} ${reply.text}`);
  return reply.json<{ access_token: string }>().access_token;
}

/** What a relying party does: discovery document -> jwks_uri -> keys, all over HTTPS. */
async function discover(tenant: string, version: "v1" | "v2" = "v2"): Promise<{ issuer: string; jwks: JSONWebKeySet; jwksUri: string }> {
  const path = version === "v2" ? "v2.0/.well-known/openid-configuration" : ".well-known/openid-configuration";
  const doc = (await send(`${emu.authorityHost}/${tenant}/${path}`, { ca: emu.caPem })).json<{ issuer: string; jwks_uri: string }>();
  const jwks = (await send(doc.jwks_uri, { ca: emu.caPem })).json<JSONWebKeySet>();
  return { issuer: doc.issuer, jwks, jwksUri: doc.jwks_uri };
}

async function verifyWithJwks(token: string, expected: { issuer: string; audience: string }): Promise<JWTPayload> {
  const { jwks } = await discover(home().id);
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    algorithms: ["RS256"],
    issuer: expected.issuer,
    audience: expected.audience,
    currentDate: new Date(clock.now()),
  });
  expect(protectedHeader).toMatchObject({ alg: "RS256", typ: "JWT" });
  expect(jwks.keys.map((k) => k.kid)).toContain(protectedHeader.kid);
  return payload;
}

function expectAadError(reply: { status: number; json: <T>() => T }, error: string, code: number): AadError {
  expect(reply.status).toBe(400);
  const body = reply.json<AadError>();
  expect(body.error).toBe(error);
  expect(body.error_codes).toEqual([code]);
  expect(body.error_description).toMatch(new RegExp(`^AADSTS${code}: `));
  return body;
}

describe("seeded API app and callers", () => {
  it("exposes the API app and its two callers on the handle and at /apps/seeded", async () => {
    const { apiApp, apiCallers } = emu;
    expect(apiApp).toEqual({ clientId: expect.stringMatching(/^[0-9a-f-]{36}$/), identifierUri: `api://${apiApp.clientId}`, tenantId: home().id, roles: [...API_APP_ROLES], scopes: ["access_as_user"], accessTokenVersion: 1 });
    expect(apiApp.roles).toEqual(["MfaState.Read", "MfaState.ReadWrite", "Admin"]);
    for (const c of [apiCallers.readWrite, apiCallers.readOnly]) {
      expect(c.clientId).toMatch(/^[0-9a-f-]{36}$/);
      expect(c.clientSecret).toMatch(/^.{3}8Q~.{34}$/);
    }
    const ids = [emu.clientId, emu.readOnlyApp.clientId, apiApp.clientId, apiCallers.readWrite.clientId, apiCallers.readOnly.clientId];
    expect(new Set(ids).size).toBe(5);
    const seeded = (await admin(emu, "GET", "/apps/seeded")).json();
    expect(seeded).toMatchObject({ apiApp, apiCallers });
  });

  it("follows the seed: the same seed gives the same ids and secrets, another seed others", async () => {
    const other = await startEmulator({ tenants: 1, users: 0 });
    try {
      expect(other.apiApp.clientId).toBe(emu.apiApp.clientId);
      expect(other.apiCallers).toEqual(emu.apiCallers);
      expect(other.apiApp.tenantId).toBe(home().id);
      other.admin.seed({ seed: "elsewhere" });
      expect(other.apiApp.clientId).not.toBe(emu.apiApp.clientId);
      expect(other.apiCallers.readWrite.clientSecret).not.toBe(emu.apiCallers.readWrite.clientSecret);
      expect(other.apiApp.tenantId).toBe(other.tenants[0]!.id);
    } finally {
      await other.close();
    }
  });
});

describe("client-credentials tokens for a custom API", () => {
  it("issues a v1.0 token for api://<id>/.default: sts.windows.net issuer, aud as requested, appid, roles; verifiable with jose against jwks_uri", async () => {
    const t = home();
    const reply = await requestToken(t.domain, emu.apiCallers.readWrite, `${emu.apiApp.identifierUri}/.default`);
    expect(reply.status).toBe(200);
    const body = reply.json();
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599 });
    const token = body["access_token"] as string;
    const payload = await verifyWithJwks(token, { issuer: `https://sts.windows.net/${t.id}/`, audience: emu.apiApp.identifierUri });
    expect(payload).toMatchObject({
      aud: emu.apiApp.identifierUri,
      iss: `https://sts.windows.net/${t.id}/`,
      appid: emu.apiCallers.readWrite.clientId,
      appidacr: "1",
      idp: `https://sts.windows.net/${t.id}/`,
      tid: t.id,
      ver: "1.0",
      roles: ["MfaState.ReadWrite"],
    });
    expect(payload["oid"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload.sub).toBe(payload["oid"]);
    // v1.0 app tokens carry appid, not azp; app tokens never carry scp.
    expect(payload).not.toHaveProperty("azp");
    expect(payload).not.toHaveProperty("scp");
    expect(payload.nbf).toBe(payload.iat);
    expect(payload.iat).toBe(Math.floor(clock.now() / 1000));
    expect(payload.exp! - payload.iat!).toBe(clock.now() % 1000 === 0 ? 3599 : 3600);
    expect(typeof payload.jti).toBe("string");
    // The v1.0 discovery document names the same issuer and a key set holding the signer.
    const v1 = await discover(t.id, "v1");
    expect(v1.issuer).toBe(`https://sts.windows.net/${t.id}/`);
    expect(v1.jwksUri).toBe(`${emu.authorityHost}/common/discovery/keys`);
    expect(v1.jwks.keys.map((k) => k.kid)).toContain(decodeProtectedHeader(token).kid);
  });

  it("gives each token its own jti, the same oid/sub for the same app and tenant, and the read-only caller MfaState.Read", async () => {
    const a = decodeJwt(await apiToken(home().id, emu.apiCallers.readWrite));
    const b = decodeJwt(await apiToken(home().id, emu.apiCallers.readWrite));
    const r = decodeJwt(await apiToken(home().id, emu.apiCallers.readOnly));
    expect(a.jti).not.toBe(b.jti);
    expect(a["uti"]).not.toBe(b["uti"]);
    expect(a["oid"]).toBe(b["oid"]);
    expect(r["oid"]).not.toBe(a["oid"]);
    expect(r).toMatchObject({ appid: emu.apiCallers.readOnly.clientId, roles: ["MfaState.Read"] });
  });

  it("accepts the resource's client id instead of the identifier URI (v1.0: aud is then the client id)", async () => {
    const token = await apiToken(home().id, emu.apiCallers.readWrite, `${emu.apiApp.clientId}/.default`);
    const payload = await verifyWithJwks(token, { issuer: `https://sts.windows.net/${home().id}/`, audience: emu.apiApp.clientId });
    expect(payload["roles"]).toEqual(["MfaState.ReadWrite"]);
    // The identifier URI is matched case-insensitively; aud keeps the registered spelling.
    const upper = decodeJwt(await apiToken(home().id, emu.apiCallers.readWrite, `${emu.apiApp.identifierUri.toUpperCase()}/.DEFAULT`));
    expect(upper.aud).toBe(emu.apiApp.identifierUri);
  });

  it("counts API tokens in stats and leaves Graph tokens as they were; Graph refuses an API token (wrong audience)", async () => {
    const before = emu.admin.stats().tokensIssued;
    const api = await apiToken(home().id, emu.apiCallers.readWrite);
    const graphToken = await tokenFor(emu, home().id);
    expect(emu.admin.stats().tokensIssued).toBe(before + 2);
    expect(decodeJwt(graphToken)).toMatchObject({ aud: emu.graphUrl, appid: emu.clientId, azp: emu.clientId, idtyp: "app", ver: "1.0" });
    expect((await graph(emu, graphToken, "/v1.0/users?$top=1")).status).toBe(200);
    const refused = await graph(emu, api, "/v1.0/users?$top=1");
    expect(refused.status).toBe(401);
    expect(refused.json<{ error: { message: string } }>().error.message).toBe("Access token validation failure. Invalid audience.");
  });

  it("refuses a scope naming one of the API's roles instead of /.default (AADSTS70011)", async () => {
    expectAadError(await requestToken(home().id, emu.apiCallers.readWrite, `${emu.apiApp.identifierUri}/MfaState.Read`), "invalid_scope", 70011);
  });
});

describe("API (resource) apps registered through the admin interface", () => {
  const v2Api = "a2a2a2a2-0000-4000-8000-0000000000a2";
  const v2Caller = { clientId: "c2c2c2c2-0000-4000-8000-0000000000c2", clientSecret: "caller-secret-1" };
  const noRoleCaller = { clientId: "c3c3c3c3-0000-4000-8000-0000000000c3", clientSecret: "caller-secret-2" };
  afterEach(async () => {
    await admin(emu, "POST", "/reset");
  });

  async function registerV2() {
    expect(
      (await admin(emu, "POST", "/apps", {
        clientId: v2Api, displayName: "Reports API", identifierUris: [`api://${v2Api}`, "https://reports.contoso.example"], appRoles: ["Reports.Read", "Reports.Write"],
        accessTokenAcceptedVersion: 2, tenants: { [home().domain]: [] },
      })).status,
    ).toBe(201);
    const caller = await admin(emu, "POST", "/apps", {
      clientId: v2Caller.clientId, clientSecret: v2Caller.clientSecret, displayName: "Reporter", apiGrants: { "https://reports.contoso.example": { [home().id]: ["Reports.Read", "Reports.Write"] } },
    });
    expect(caller.status).toBe(201);
    // The registration answer never echoes the secret.
    expect(caller.text).not.toContain(v2Caller.clientSecret);
    expect((await admin(emu, "POST", "/apps", { clientId: noRoleCaller.clientId, clientSecret: noRoleCaller.clientSecret, apiGrants: { [v2Api]: { [home().id]: [] } } })).status).toBe(201);
  }

  it("issues v2.0 tokens when accessTokenAcceptedVersion is 2: issuer of the v2.0 discovery document, aud = client id, azp, azpacr", async () => {
    await registerV2();
    const t = home();
    const { issuer } = await discover(t.id);
    expect(issuer).toBe(`${emu.authorityHost}/${t.id}/v2.0`);
    for (const scope of [`api://${v2Api}/.default`, "https://reports.contoso.example/.default", `${v2Api}/.default`]) {
      const token = await apiToken(t.id, v2Caller, scope);
      const payload = await verifyWithJwks(token, { issuer, audience: v2Api });
      expect(payload).toMatchObject({ aud: v2Api, iss: issuer, azp: v2Caller.clientId, azpacr: "1", tid: t.id, ver: "2.0", roles: ["Reports.Read", "Reports.Write"] });
      expect(payload).not.toHaveProperty("appid");
      expect(payload).not.toHaveProperty("appidacr");
      expect(payload.sub).toBe(payload["oid"]);
    }
  });

  it("issues a token without roles to a caller assigned without a role", async () => {
    await registerV2();
    const payload = decodeJwt(await apiToken(home().id, noRoleCaller, `api://${v2Api}/.default`));
    expect(payload).toMatchObject({ aud: v2Api, azp: noRoleCaller.clientId });
    expect(payload).not.toHaveProperty("roles");
  });

  it("validates registrations: identifier URIs unique and absolute, roles defined by the API, the resource registered first", async () => {
    await registerV2();
    const post = (body: object) => admin(emu, "POST", "/apps", body);
    const secret = "s3cret";
    const dupe = await post({ clientId: "d4d4d4d4-0000-4000-8000-0000000000d4", clientSecret: secret, identifierUris: [`API://${v2Api}`] });
    expect(dupe.status).toBe(400);
    expect(dupe.json<{ error: { message: string } }>().error.message).toContain("already used");
    expect((await post({ clientId: "d4d4d4d4-0000-4000-8000-0000000000d4", clientSecret: secret, identifierUris: ["not a uri"] })).status).toBe(400);
    expect((await post({ clientId: "d4d4d4d4-0000-4000-8000-0000000000d4", clientSecret: secret, appRoles: ["has space"] })).status).toBe(400);
    expect((await post({ clientId: "d4d4d4d4-0000-4000-8000-0000000000d4", clientSecret: secret, accessTokenAcceptedVersion: 3 })).status).toBe(400);
    const undefinedRole = await post({ clientId: "d4d4d4d4-0000-4000-8000-0000000000d4", clientSecret: secret, apiGrants: { [v2Api]: { [home().id]: ["Reports.Delete"] } } });
    expect(undefinedRole.status).toBe(400);
    expect(undefinedRole.json<{ error: { message: string } }>().error.message).toContain("Reports.Delete");
    expect((await post({ clientId: "d4d4d4d4-0000-4000-8000-0000000000d4", clientSecret: secret, apiGrants: { "api://nowhere": { [home().id]: [] } } })).status).toBe(400);
    expect((await post({ clientId: "d4d4d4d4-0000-4000-8000-0000000000d4", clientSecret: secret, apiGrants: { [v2Api]: { nowhere: [] } } })).status).toBe(400);
    // Re-registering the same app with its own URIs is fine; an app may hold roles on its own API.
    expect((await post({ clientId: v2Api, clientSecret: secret, identifierUris: [`api://${v2Api}`], appRoles: ["Self"], tenants: { [home().id]: [] }, apiGrants: { [`api://${v2Api}`]: { [home().id]: ["Self"] } } })).status).toBe(201);
    expect(decodeJwt(await apiToken(home().id, { clientId: v2Api, clientSecret: secret }, `api://${v2Api}/.default`))["roles"]).toEqual(["Self"]);
  });

  it("grants and removes roles on an API per tenant over HTTP (resource by percent-encoded identifier URI or client id)", async () => {
    const main = { clientId: emu.clientId, clientSecret: emu.clientSecret };
    const uri = encodeURIComponent(emu.apiApp.identifierUri);
    expectAadError(await requestToken(home().id, main, `${emu.apiApp.identifierUri}/.default`), "invalid_grant", 501051);
    const put = await admin(emu, "PUT", `/apps/${main.clientId}/api-grants/${uri}/tenants/${home().domain}`, { roles: ["Admin", "MfaState.Read"] });
    expect(put.status).toBe(200);
    expect(put.json()).toMatchObject({ roles: ["Admin", "MfaState.Read"] });
    expect(decodeJwt(await apiToken(home().id, main))["roles"]).toEqual(["Admin", "MfaState.Read"]);
    expect((await admin(emu, "PUT", `/apps/${main.clientId}/api-grants/${emu.apiApp.clientId}/tenants/${home().id}`, { roles: [] })).status).toBe(200);
    expect(decodeJwt(await apiToken(home().id, main))).not.toHaveProperty("roles");
    expect((await admin(emu, "DELETE", `/apps/${main.clientId}/api-grants/${uri}/tenants/${home().id}`)).status).toBe(204);
    expectAadError(await requestToken(home().id, main, `${emu.apiApp.identifierUri}/.default`), "invalid_grant", 501051);

    expect((await admin(emu, "PUT", `/apps/${main.clientId}/api-grants/${uri}/tenants/${home().id}`, { roles: ["Coffee.Make"] })).status).toBe(400);
    expect((await admin(emu, "PUT", `/apps/${main.clientId}/api-grants/${encodeURIComponent("api://nowhere")}/tenants/${home().id}`, { roles: [] })).status).toBe(404);
    expect((await admin(emu, "PUT", `/apps/${main.clientId}/api-grants/${uri}/tenants/nowhere`, { roles: [] })).status).toBe(404);
    expect((await admin(emu, "PUT", `/apps/99999999-0000-4000-8000-000000000099/api-grants/${uri}/tenants/${home().id}`, { roles: [] })).status).toBe(404);
  });

  it("a grant gives a caller that had no service principal in the tenant one (no Graph roles)", async () => {
    const caller = { clientId: "e5e5e5e5-0000-4000-8000-0000000000e5", clientSecret: "e5-secret" };
    // Registered with no tenants: not in any directory.
    expect((await admin(emu, "POST", "/apps", caller)).status).toBe(201);
    expectAadError(await requestToken(home().id, caller, `${emu.apiApp.identifierUri}/.default`), "unauthorized_client", 700016);
    emu.admin.grantApiRoles(caller.clientId, emu.apiApp.identifierUri, home().id, ["MfaState.Read"]);
    expect(decodeJwt(await apiToken(home().id, caller))["roles"]).toEqual(["MfaState.Read"]);
    // Its Graph token has no roles.
    expect(decodeJwt(await tokenFor(emu, home().id, caller))).not.toHaveProperty("roles");
  });
});

describe("API token errors", () => {
  it("answers an unknown resource with Entra's AADSTS500011 invalid_resource, naming the resource and the tenant", async () => {
    const reply = await requestToken(home().id, emu.apiCallers.readWrite, "api://11111111-2222-4333-8444-555555555555/.default");
    const body = expectAadError(reply, "invalid_resource", 500011);
    expect(body.error_description).toContain("AADSTS500011: The resource principal named api://11111111-2222-4333-8444-555555555555 was not found in the tenant named Contoso.");
    expect(body.error_description).toContain("You might have sent your authentication request to the wrong tenant.");
    // The credential is checked first.
    const { clientId } = emu.apiCallers.readWrite;
    expectAadError(await requestToken(home().id, { clientId, clientSecret: "wrong" }, "api://11111111-2222-4333-8444-555555555555/.default"), "invalid_client", 7000215);
  });

  it("answers AADSTS500011 when the API has no service principal in the tenant asked (it lives in the first tenant only)", async () => {
    // The main app is consented everywhere, so the request reaches the resource check.
    const other = emu.tenants[1]!;
    const body = expectAadError(await requestToken(other.id, { clientId: emu.clientId, clientSecret: emu.clientSecret }, `${emu.apiApp.identifierUri}/.default`), "invalid_resource", 500011);
    expect(body.error_description).toContain(`The resource principal named ${emu.apiApp.identifierUri} was not found in the tenant named Fabrikam.`);
    // The seeded callers have no service principal there at all.
    expectAadError(await requestToken(other.id, emu.apiCallers.readWrite, `${emu.apiApp.identifierUri}/.default`), "unauthorized_client", 700016);
  });

  it("answers a caller without an assignment on the API with AADSTS501051", async () => {
    const body = expectAadError(await requestToken(home().id, emu.readOnlyApp, `${emu.apiApp.identifierUri}/.default`), "invalid_grant", 501051);
    expect(body.error_description).toContain(`Application '${emu.readOnlyApp.clientId}'(mfactl (read only)) is not assigned to a role for the application '${emu.apiApp.identifierUri}'(mfactl API).`);
  });

  it("never logs or echoes a caller's secret, right or wrong", async () => {
    const written: string[] = [];
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    const spies = [
      vi.spyOn(process.stdout, "write").mockImplementation(capture),
      vi.spyOn(process.stderr, "write").mockImplementation(capture),
      ...(["log", "info", "warn", "error", "debug"] as const).map((m) => vi.spyOn(console, m).mockImplementation((...args: unknown[]) => void written.push(args.map(String).join(" ")))),
    ];
    const secret = emu.apiCallers.readWrite.clientSecret;
    const wrong = `${secret}x`;
    let replies: string[];
    try {
      const bad = await requestToken(home().id, { clientId: emu.apiCallers.readWrite.clientId, clientSecret: wrong }, `${emu.apiApp.identifierUri}/.default`);
      expectAadError(bad, "invalid_client", 7000215);
      const good = await requestToken(home().id, emu.apiCallers.readWrite, `${emu.apiApp.identifierUri}/.default`);
      expect(good.status).toBe(200);
      const token = good.json<{ access_token: string }>().access_token;
      replies = [bad.text, good.text, JSON.stringify(decodeJwt(token)), Buffer.from(token.split(".")[0]!, "base64url").toString("utf8")];
      const minted = await admin(emu, "POST", "/tokens", { tenant: home().id, clientId: emu.apiCallers.readWrite.clientId, audience: emu.apiApp.identifierUri, lifetimeSeconds: 60 });
      replies.push(minted.text, (await admin(emu, "GET", "/signing-keys")).text);
    } finally {
      for (const s of spies) s.mockRestore();
    }
    for (const text of [...replies, ...written]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(wrong);
    }
  });

  it("issues API tokens for a certificate credential too: appidacr 2", async () => {
    // The main app's certificate, as entra-routes.test.ts builds its assertion.
    const pem = await readFile(emu.certificateFile, "utf8");
    const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0] ?? "";
    const x5tS256 = createHash("sha256").update(new X509Certificate(certPem).raw).digest("base64url");
    const now = Math.floor(clock.now() / 1000);
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: "PS256", typ: "JWT", "x5t#S256": x5tS256 })
      .setAudience(tokenUrl(home().id))
      .setIssuer(emu.clientId)
      .setSubject(emu.clientId)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 600)
      .sign(createPrivateKey(pem));
    emu.admin.grantApiRoles(emu.clientId, emu.apiApp.clientId, home().id, ["Admin"]);
    try {
      const reply = await send(tokenUrl(home().id), {
        ...form({
          grant_type: "client_credentials", client_id: emu.clientId, client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: assertion,
          scope: `${emu.apiApp.identifierUri}/.default`,
        }),
        ca: emu.caPem,
      });
      expect(reply.status, reply.text).toBe(200);
      expect(decodeJwt(reply.json<{ access_token: string }>().access_token)).toMatchObject({ appid: emu.clientId, appidacr: "2", roles: ["Admin"] });
    } finally {
      emu.admin.revokeApiGrant(emu.clientId, emu.apiApp.clientId, home().id);
    }
  });
});
