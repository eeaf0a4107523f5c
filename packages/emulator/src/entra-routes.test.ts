import { createHash, createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createLocalJWKSet, decodeJwt, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAIN_APP_ROLES } from "./apps.js";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { form, ManualClock, send, tokenFor } from "./test-helpers.js";

let emu: RunningEmulator;
const clock = new ManualClock();

beforeAll(async () => {
  emu = await startEmulator({ clock });
});
afterAll(async () => {
  await emu.close();
});

const tokenUrl = (tenant: string) => `${emu.authorityHost}/${tenant}/oauth2/v2.0/token`;
const secretForm = (extra: Record<string, string> = {}) =>
  form({ grant_type: "client_credentials", client_id: emu.clientId, client_secret: emu.clientSecret, scope: `${emu.graphUrl}/.default`, ...extra });

interface AadError {
  error: string;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
}

function expectAadError(body: AadError, error: string, code: number): void {
  expect(body.error).toBe(error);
  expect(body.error_codes).toEqual([code]);
  expect(body.error_description).toMatch(new RegExp(`^AADSTS${code}: .+\\r\\nTrace ID: ${body.trace_id}\\r\\nCorrelation ID: ${body.correlation_id}\\r\\nTimestamp: ${body.timestamp}$`, "s"));
  expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
}

async function clientCertificate() {
  const pem = await readFile(emu.certificateFile, "utf8");
  const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0] ?? "";
  const der = new X509Certificate(certPem).raw;
  return {
    pem,
    certPem,
    key: createPrivateKey(pem),
    x5tS256: createHash("sha256").update(der).digest("base64url"),
    x5t: createHash("sha1").update(der).digest("base64url"),
  };
}

describe("OpenID discovery", () => {
  it("serves the v2.0 document for a tenant id, a domain and organizations", async () => {
    const t = emu.tenants[0]!;
    for (const ref of [t.id, t.domain]) {
      const reply = await send(`${emu.authorityHost}/${ref}/v2.0/.well-known/openid-configuration`, { ca: emu.caPem });
      expect(reply.status).toBe(200);
      const doc = reply.json();
      expect(doc["issuer"]).toBe(`${emu.authorityHost}/${t.id}/v2.0`);
      expect(doc["token_endpoint"]).toBe(`${emu.authorityHost}/${t.id}/oauth2/v2.0/token`);
      expect(doc["jwks_uri"]).toBe(`${emu.authorityHost}/${t.id}/discovery/v2.0/keys`);
      expect(doc).toHaveProperty("authorization_endpoint");
      expect(doc).toHaveProperty("end_session_endpoint");
      expect(doc["response_types_supported"]).toContain("code");
    }
    const org = (await send(`${emu.authorityHost}/organizations/v2.0/.well-known/openid-configuration`, { ca: emu.caPem })).json();
    expect(org["issuer"]).toBe(`${emu.authorityHost}/{tenantid}/v2.0`);
  });

  it("uses the host name the client used (localhost) in the document", async () => {
    const t = emu.tenants[0]!;
    const port = new URL(emu.authorityHost).port;
    const reply = await send(`https://localhost:${port}/${t.id}/v2.0/.well-known/openid-configuration`, { ca: emu.caPem });
    expect(reply.json()["issuer"]).toBe(`https://localhost:${port}/${t.id}/v2.0`);
  });

  it("answers an unknown tenant with AADSTS90002", async () => {
    const reply = await send(`${emu.authorityHost}/nowhere.onmicrosoft.com/v2.0/.well-known/openid-configuration`, { ca: emu.caPem });
    expect(reply.status).toBe(400);
    expectAadError(reply.json<AadError>(), "invalid_tenant", 90002);
  });

  it("serves instance discovery metadata", async () => {
    const t = emu.tenants[0]!;
    const authorize = `${emu.authorityHost}/${t.id}/oauth2/v2.0/authorize`;
    const reply = await send(`${emu.authorityHost}/common/discovery/instance?api-version=1.1&authorization_endpoint=${encodeURIComponent(authorize)}`, { ca: emu.caPem });
    expect(reply.status).toBe(200);
    expect(reply.json()["tenant_discovery_endpoint"]).toBe(`${emu.authorityHost}/${t.id}/v2.0/.well-known/openid-configuration`);
  });
});

describe("token endpoint: client secret", () => {
  it("issues a Bearer token for the tenant id or domain, with request ids", async () => {
    for (const ref of [emu.tenants[0]!.id, emu.tenants[1]!.domain]) {
      const reply = await send(tokenUrl(ref), { ...secretForm(), headers: { ...secretForm().headers, "client-request-id": "abc-123" }, ca: emu.caPem });
      expect(reply.status).toBe(200);
      const body = reply.json();
      expect(body["token_type"]).toBe("Bearer");
      expect(body["expires_in"]).toBe(3599);
      expect(body["ext_expires_in"]).toBe(3599);
      expect(typeof body["access_token"]).toBe("string");
      expect(reply.headers["client-request-id"]).toBe("abc-123");
      expect(reply.headers["request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("accepts https://graph.microsoft.com/.default and ignores query parameters such as client-request-id", async () => {
    const reply = await send(`${tokenUrl(emu.tenants[0]!.id)}?client-request-id=q-1`, { ...secretForm({ scope: "https://graph.microsoft.com/.default" }), ca: emu.caPem });
    expect(reply.status).toBe(200);
    expect(reply.headers["client-request-id"]).toBe("q-1");
  });

  it("rejects a wrong secret with AADSTS7000215 and never echoes the secret", async () => {
    const wrong = `${emu.clientSecret}x`;
    const reply = await send(tokenUrl(emu.tenants[0]!.id), { ...secretForm({ client_secret: wrong }), ca: emu.caPem });
    expect(reply.status).toBe(400);
    expectAadError(reply.json<AadError>(), "invalid_client", 7000215);
    expect(reply.text).not.toContain(wrong);
    expect(reply.text).not.toContain(emu.clientSecret);
  });

  it("rejects an unknown app, or one whose consent was removed, with AADSTS700016", async () => {
    const unknown = await send(tokenUrl(emu.tenants[0]!.id), { ...secretForm({ client_id: "11111111-2222-4333-8444-555555555555" }), ca: emu.caPem });
    expect(unknown.status).toBe(400);
    expectAadError(unknown.json<AadError>(), "unauthorized_client", 700016);

    const t = emu.tenants[2]!;
    emu.admin.revokeConsent(emu.clientId, t.id);
    try {
      const revoked = await send(tokenUrl(t.id), { ...secretForm(), ca: emu.caPem });
      expect(revoked.status).toBe(400);
      expectAadError(revoked.json<AadError>(), "unauthorized_client", 700016);
      expect(revoked.json<AadError>().error_description).toContain(emu.clientId);
    } finally {
      emu.admin.consent(emu.clientId, t.id, [...MAIN_APP_ROLES]);
    }
  });

  it("rejects an unknown tenant with AADSTS90002 (invalid_request)", async () => {
    const reply = await send(tokenUrl("00000000-0000-4000-8000-000000000000"), { ...secretForm(), ca: emu.caPem });
    expect(reply.status).toBe(400);
    expectAadError(reply.json<AadError>(), "invalid_request", 90002);
  });

  it("rejects a scope other than Graph's /.default with AADSTS70011", async () => {
    const reply = await send(tokenUrl(emu.tenants[0]!.id), { ...secretForm({ scope: "https://graph.microsoft.com/User.Read" }), ca: emu.caPem });
    expect(reply.status).toBe(400);
    expectAadError(reply.json<AadError>(), "invalid_scope", 70011);
  });

  it("rejects an expired secret with AADSTS7000222", async () => {
    const clientId = "a1a1a1a1-b2b2-4c3c-8d4d-e5e5e5e5e5e5";
    emu.admin.registerApp({ clientId, clientSecret: "old-secret", secretExpiresAt: "2001-01-01T00:00:00Z", tenants: { "*": ["User.Read.All"] } });
    const reply = await send(tokenUrl(emu.tenants[0]!.id), { ...secretForm({ client_id: clientId, client_secret: "old-secret" }), ca: emu.caPem });
    expect(reply.status).toBe(400);
    expectAadError(reply.json<AadError>(), "invalid_client", 7000222);
  });
});

describe("access tokens", () => {
  it("are RS256 JWTs verifiable against jwks_uri, with the app's roles in that tenant", async () => {
    const t = emu.tenants[1]!;
    const token = await tokenFor(emu, t.domain);
    const doc = (await send(`${emu.authorityHost}/${t.id}/v2.0/.well-known/openid-configuration`, { ca: emu.caPem })).json();
    const jwks = (await send(doc["jwks_uri"] as string, { ca: emu.caPem })).json<JSONWebKeySet>();
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), { currentDate: new Date(clock.now()), audience: emu.graphUrl });
    expect(protectedHeader.alg).toBe("RS256");
    expect(protectedHeader.kid).toBe(jwks.keys[0]?.kid);
    expect(payload).toMatchObject({ iss: `https://sts.windows.net/${t.id}/`, tid: t.id, appid: emu.clientId, azp: emu.clientId, idtyp: "app", appidacr: "1" });
    expect(payload["roles"]).toEqual([
      "User.Read.All", "Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod", "GroupMember.Read.All", "RoleManagement.Read.Directory", "UserAuthenticationMethod.Read.All", "AuditLog.Read.All",
    ]);
    // exp is rounded up to the next second: at least expires_in seconds of life.
    expect(payload.exp! - payload.iat!).toBe(clock.now() % 1000 === 0 ? 3599 : 3600);
    expect(payload.nbf).toBe(payload.iat);
    expect(typeof payload["oid"]).toBe("string");
    const readOnly = decodeJwt(await tokenFor(emu, t.id, emu.readOnlyApp));
    expect(readOnly["roles"]).toEqual(["User.Read.All", "Policy.Read.All", "GroupMember.Read.All", "RoleManagement.Read.Directory", "UserAuthenticationMethod.Read.All", "AuditLog.Read.All"]);
    expect(emu.admin.stats().tokensIssued).toBeGreaterThanOrEqual(2);
  });
});

describe("token endpoint: certificate assertion", () => {
  async function assertion(options: { alg?: "RS256" | "PS256"; header?: Record<string, string>; aud?: string; key?: Parameters<SignJWT["sign"]>[0]; iss?: string; exp?: number }) {
    const cert = await clientCertificate();
    const t = emu.tenants[0]!;
    const now = Math.floor(clock.now() / 1000);
    return new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: options.alg ?? "PS256", typ: "JWT", ...(options.header ?? { "x5t#S256": cert.x5tS256 }) })
      .setAudience(options.aud ?? tokenUrl(t.id))
      .setIssuer(options.iss ?? emu.clientId)
      .setSubject(options.iss ?? emu.clientId)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(options.exp ?? now + 600)
      .sign(options.key ?? cert.key);
  }
  const assertionForm = (jwt: string) =>
    form({ grant_type: "client_credentials", client_id: emu.clientId, client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: jwt, scope: `${emu.graphUrl}/.default` });

  it("accepts PS256 with x5t#S256 and RS256 with x5t (aud with or without query)", async () => {
    const cert = await clientCertificate();
    const t = emu.tenants[0]!;
    for (const jwt of [
      await assertion({}),
      await assertion({ alg: "RS256", header: { x5t: cert.x5t } }),
      await assertion({ aud: `${tokenUrl(t.domain)}?client-request-id=1` }),
    ]) {
      const reply = await send(tokenUrl(t.id), { ...assertionForm(jwt), ca: emu.caPem });
      expect(reply.status, reply.text).toBe(200);
      expect(decodeJwt(reply.json<{ access_token: string }>().access_token)["appidacr"]).toBe("2");
    }
  });

  it("rejects an unregistered thumbprint, a bad signature, a wrong audience and an expired assertion", async () => {
    const t = emu.tenants[0]!;
    const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const cases: [string, number][] = [
      [await assertion({ header: { "x5t#S256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } }), 700027],
      [await assertion({ key: otherKey }), 700027],
      [await assertion({ aud: "https://example.com/token" }), 700027],
      [await assertion({ exp: Math.floor(clock.now() / 1000) - 301 }), 700024],
      [await assertion({ iss: "99999999-9999-4999-8999-999999999999" }), 700021],
    ];
    for (const [jwt, code] of cases) {
      const reply = await send(tokenUrl(t.id), { ...assertionForm(jwt), ca: emu.caPem });
      expect(reply.status).toBe(400);
      expectAadError(reply.json<AadError>(), "invalid_client", code);
    }
  });
});
