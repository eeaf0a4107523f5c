import { X509Certificate, constants, createHash, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AuthError, NetworkError, UsageError } from "../domain/errors.js";
import { certificateCredentialFromPem, createMsalTokenProvider, redactCredentials } from "./auth.js";
import { selfSignedCertificate } from "./test-certs.test-helper.js";
import type { Credential, FetchLike, TransportEvent } from "./types.js";

const CLIENT_ID = "0f1e2d3c-4b5a-4969-8877-665544332211";
const SECRET = "Xy8Q~very-secret-client-secret-value";
const TENANT = "contoso.onmicrosoft.com";
const AUTHORITY = "https://login.test:8443";
const GRAPH = "https://graph.test";
const CORRELATION = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";

interface TokenCall {
  url: string;
  form: URLSearchParams;
}

type TokenReply = (call: TokenCall) => { status: number; body: unknown };

function entraError(status: number, error: string, code: number, description: string) {
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${description}\r\nTrace ID: 11111111-2222-3333-4444-555555555555\r\nCorrelation ID: ${CORRELATION}\r\nTimestamp: 2026-01-01 00:00:00Z`,
      error_codes: [code],
      timestamp: "2026-01-01 00:00:00Z",
      trace_id: "11111111-2222-3333-4444-555555555555",
      correlation_id: CORRELATION,
    },
  };
}

/**
 * A fake Entra at AUTHORITY: discovery for known tenants (90002 otherwise) and a token endpoint
 * whose answer `reply` decides. Every request is recorded.
 */
function fakeAuthority(reply: TokenReply, tenants: string[] = [TENANT]) {
  const requests: { method: string; url: string }[] = [];
  const tokenCalls: TokenCall[] = [];
  let issued = 0;
  const fetch: FetchLike = (url, init) => {
    const method = init.method ?? "GET";
    requests.push({ method, url });
    const u = new URL(url);
    const [tenant, ...rest] = u.pathname.split("/").filter(Boolean);
    const respond = (status: number, body: unknown) =>
      Promise.resolve(new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } }));
    if (method === "GET" && rest.join("/") === "v2.0/.well-known/openid-configuration") {
      if (!tenant || !tenants.includes(tenant)) {
        return respond(400, entraError(400, "invalid_tenant", 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID.`).body);
      }
      const base = `${u.origin}/${tenant}`;
      return respond(200, {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        jwks_uri: `${u.origin}/${tenant}/discovery/v2.0/keys`,
        issuer: `${u.origin}/${tenant}/v2.0`,
        response_modes_supported: ["query"],
        token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt"],
      });
    }
    if (method === "POST" && rest.join("/") === "oauth2/v2.0/token") {
      const call = { url: `${u.origin}${u.pathname}`, form: new URLSearchParams(String(init.body)) };
      tokenCalls.push(call);
      const r = reply(call);
      if (r.status === 200) issued++;
      return respond(r.status, r.body);
    }
    return respond(404, { error: "not_found" });
  };
  return { fetch, requests, tokenCalls, issuedCount: () => issued };
}

let tokenSerial = 0;
function token(expiresIn = 3599) {
  tokenSerial++;
  return { status: 200, body: { token_type: "Bearer", expires_in: expiresIn, ext_expires_in: expiresIn, access_token: `eyJ0eXAiOiJKV1QifQ.eyJzZXJpYWwiOiR7${tokenSerial}fQ.sig${tokenSerial}` } };
}

function secretChecked(call: TokenCall) {
  if (call.form.get("client_secret") !== SECRET) return entraError(401, "invalid_client", 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${CLIENT_ID}'.`);
  return token();
}

function provider(fetch: FetchLike, credential: Credential = { kind: "secret", clientSecret: SECRET }, events: TransportEvent[] = [], authorityHost = AUTHORITY) {
  return createMsalTokenProvider({ clientId: CLIENT_ID, credential, authorityHost, graphUrl: `${GRAPH}/`, fetch, onEvent: (e) => events.push(e) });
}

function base64urlDecode(part: string): Buffer {
  return Buffer.from(part, "base64url");
}

describe("MSAL token provider with a client secret", () => {
  it("gets a token with client credentials and the Graph .default scope", async () => {
    const authority = fakeAuthority(secretChecked);
    const events: TransportEvent[] = [];
    const accessToken = await provider(authority.fetch, undefined, events).getToken(TENANT);
    expect(accessToken).toMatch(/^eyJ/);
    expect(authority.requests[0]).toEqual({ method: "GET", url: `${AUTHORITY}/${TENANT}/v2.0/.well-known/openid-configuration` });
    const call = authority.tokenCalls[0]!;
    expect(call.url).toBe(`${AUTHORITY}/${TENANT}/oauth2/v2.0/token`);
    expect(call.form.get("grant_type")).toBe("client_credentials");
    expect(call.form.get("client_id")).toBe(CLIENT_ID);
    expect(call.form.get("scope")).toBe(`${GRAPH}/.default`);
    expect(events).toEqual([{ type: "token", tenant: TENANT, reason: "initial" }]);
  });

  it("serves a valid token from its cache and shares one request between concurrent callers", async () => {
    const authority = fakeAuthority(() => token(3599));
    const tokens = provider(authority.fetch);
    const [a, b, c] = await Promise.all([tokens.getToken(TENANT), tokens.getToken(TENANT), tokens.getToken(TENANT)]);
    expect(new Set([a, b, c]).size).toBe(1);
    expect(await tokens.getToken(TENANT)).toBe(a);
    expect(authority.tokenCalls).toHaveLength(1);
  });

  it("renews a token that has expired", async () => {
    const authority = fakeAuthority(() => token(1));
    const events: TransportEvent[] = [];
    const tokens = provider(authority.fetch, undefined, events);
    const first = await tokens.getToken(TENANT);
    // expires_in 1 s is inside MSAL's renewal margin: the cached token counts as expired at once.
    const second = await tokens.getToken(TENANT);
    expect(second).not.toBe(first);
    expect(authority.tokenCalls).toHaveLength(2);
    expect(events.map((e) => (e.type === "token" ? e.reason : e.type))).toEqual(["initial", "expired"]);
  });

  it("skips the cache on forceRefresh and reports the token as rejected", async () => {
    const authority = fakeAuthority(() => token(3599));
    const events: TransportEvent[] = [];
    const tokens = provider(authority.fetch, undefined, events);
    const first = await tokens.getToken(TENANT);
    const second = await tokens.getToken(TENANT, { forceRefresh: true });
    expect(second).not.toBe(first);
    expect(authority.tokenCalls).toHaveLength(2);
    expect(events.map((e) => (e.type === "token" ? e.reason : e.type))).toEqual(["initial", "rejected"]);
    expect(await tokens.getToken(TENANT)).toBe(second);
  });

  it("keeps one cache per tenant", async () => {
    const other = "fabrikam.onmicrosoft.com";
    const authority = fakeAuthority(() => token(3599), [TENANT, other]);
    const tokens = provider(authority.fetch);
    const a = await tokens.getToken(TENANT);
    const b = await tokens.getToken(other);
    expect(a).not.toBe(b);
    expect(authority.tokenCalls.map((c) => c.url)).toEqual([`${AUTHORITY}/${TENANT}/oauth2/v2.0/token`, `${AUTHORITY}/${other}/oauth2/v2.0/token`]);
  });

  it("uses Microsoft's own metadata for the public cloud (no knownAuthorities, no emulator discovery)", async () => {
    const requests: string[] = [];
    const fetch: FetchLike = (url, init) => {
      requests.push(`${init.method ?? "GET"} ${url.split("?")[0]!}`);
      if (url.startsWith(`https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`)) {
        return Promise.resolve(new Response(JSON.stringify(token().body), { status: 200, headers: { "content-type": "application/json" } }));
      }
      return Promise.resolve(new Response("{}", { status: 404 }));
    };
    const accessToken = await provider(fetch, undefined, [], "https://login.microsoftonline.com").getToken(TENANT);
    expect(accessToken).toMatch(/^eyJ/);
    expect(requests).toEqual([`POST https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/token`]);
  });
});

describe("MSAL token provider with a certificate", () => {
  it("signs a client assertion (iss/sub = client id, aud = token endpoint, x5t#S256) that verifies with the certificate", async () => {
    const cert = selfSignedCertificate();
    const x509 = new X509Certificate(cert.certPem);
    let assertion: string | undefined;
    const authority = fakeAuthority((call) => {
      assertion = call.form.get("client_assertion") ?? undefined;
      if (call.form.get("client_assertion_type") !== "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") return entraError(400, "invalid_request", 900144, "assertion type missing");
      if (call.form.has("client_secret")) return entraError(400, "invalid_request", 1, "unexpected secret");
      return token();
    });
    const accessToken = await provider(authority.fetch, { kind: "certificate", certificatePem: cert.certPem, privateKeyPem: cert.keyPem }).getToken(TENANT);
    expect(accessToken).toMatch(/^eyJ/);

    const [h, p, s] = assertion!.split(".");
    const header = JSON.parse(base64urlDecode(h!).toString("utf8")) as Record<string, unknown>;
    const payload = JSON.parse(base64urlDecode(p!).toString("utf8")) as Record<string, unknown>;
    expect(header["x5t#S256"]).toBe(createHash("sha256").update(x509.raw).digest("base64url"));
    expect(payload).toMatchObject({ iss: CLIENT_ID, sub: CLIENT_ID, aud: `${AUTHORITY}/${TENANT}/oauth2/v2.0/token` });
    expect(typeof payload["exp"]).toBe("number");

    const alg = header["alg"];
    expect(["RS256", "PS256"]).toContain(alg);
    const key = alg === "PS256" ? { key: x509.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : x509.publicKey;
    expect(verify("sha256", Buffer.from(`${h}.${p}`), key, base64urlDecode(s!))).toBe(true);
    // and not with another key
    const stranger = new X509Certificate(selfSignedCertificate("stranger").certPem);
    const strangerKey = alg === "PS256" ? { key: stranger.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : stranger.publicKey;
    expect(verify("sha256", Buffer.from(`${h}.${p}`), strangerKey, base64urlDecode(s!))).toBe(false);
  });

  it("computes the credential from PEM and checks the key belongs to the certificate", () => {
    const cert = selfSignedCertificate();
    const combined = `${cert.keyPem}\n${cert.certPem}`;
    const cred = certificateCredentialFromPem(combined, combined);
    expect(cred.thumbprintSha256).toBe(createHash("sha256").update(new X509Certificate(cert.certPem).raw).digest("hex"));
    expect(cred.privateKey).toContain("BEGIN PRIVATE KEY");
    expect(cred.x5c).toContain("BEGIN CERTIFICATE");
    expect(cred.x5c).not.toContain("PRIVATE KEY");

    const other = selfSignedCertificate("other");
    expect(() => certificateCredentialFromPem(cert.certPem, other.keyPem)).toThrow(UsageError);
    expect(() => certificateCredentialFromPem("not a pem", cert.keyPem)).toThrow(/no PEM certificate/);
    const error = (() => {
      try {
        certificateCredentialFromPem(cert.certPem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----");
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect(error!.message).not.toContain("AAAA");
  });

  it("maps AADSTS700027 (certificate not registered) to an AuthError that says what to do", async () => {
    const cert = selfSignedCertificate();
    const authority = fakeAuthority(() => entraError(401, "invalid_client", 700027, "Client assertion failed signature validation."));
    const error = await provider(authority.fetch, { kind: "certificate", certificatePem: cert.certPem, privateKeyPem: cert.keyPem })
      .getToken(TENANT)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ code: "invalid_client", aadstsCodes: [700027] });
    expect((error as Error).message).toContain("Upload the certificate to the app registration");
    const serialised = `${(error as Error).message}\n${JSON.stringify(error)}\n${String((error as Error).cause)}`;
    expect(serialised).not.toContain(cert.keyPem.split("\n")[1]!);
  });
});

describe("MSAL failures as AuthError / NetworkError", () => {
  const leakCheck = (error: unknown, events: TransportEvent[]) => {
    const e = error as Error;
    const serialised = [e.message, JSON.stringify(e), String(e.stack), e.cause instanceof Error ? `${e.cause.message}` : "", JSON.stringify(events)].join("\n");
    expect(serialised).not.toContain(SECRET);
  };

  it("AADSTS7000215: invalid secret", async () => {
    const events: TransportEvent[] = [];
    const authority = fakeAuthority(secretChecked);
    const error = await provider(authority.fetch, { kind: "secret", clientSecret: "wrong-secret-value-1234" }, events)
      .getToken(TENANT)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ kind: "auth", tenant: TENANT, code: "invalid_client", aadstsCodes: [7000215], correlationId: CORRELATION });
    expect((error as Error).message).toBe(
      `The client secret is not valid for app ${CLIENT_ID} (AADSTS7000215). Check MFACTL_CLIENT_SECRET or the profile's clientSecret.`,
    );
    expect(JSON.stringify(error)).not.toContain("wrong-secret-value-1234");
    expect(events).toEqual([]);
  });

  it("AADSTS700016: app not found / not consented in the tenant", async () => {
    const events: TransportEvent[] = [];
    const authority = fakeAuthority(() =>
      entraError(400, "unauthorized_client", 700016, `Application with identifier '${CLIENT_ID}' was not found in the directory '${TENANT}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`),
    );
    const error = await provider(authority.fetch, undefined, events).getToken(TENANT).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "auth", tenant: TENANT, code: "unauthorized_client", aadstsCodes: [700016], correlationId: CORRELATION });
    expect((error as Error).message).toContain(`App ${CLIENT_ID} was not found in tenant ${TENANT}`);
    expect((error as Error).message).toContain("Grant admin consent in that tenant");
    leakCheck(error, events);
  });

  it("AADSTS90002: tenant not found (discovery answers 400)", async () => {
    const events: TransportEvent[] = [];
    const authority = fakeAuthority(secretChecked);
    const error = await provider(authority.fetch, undefined, events).getToken("nosuchtenant.onmicrosoft.com").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ tenant: "nosuchtenant.onmicrosoft.com", code: "invalid_tenant", aadstsCodes: [90002] });
    expect((error as Error).message).toBe("Tenant nosuchtenant.onmicrosoft.com was not found (AADSTS90002). Check the tenant id or domain.");
    expect(authority.tokenCalls).toHaveLength(0);
    leakCheck(error, events);
  });

  it("AADSTS90002 from the token endpoint too", async () => {
    const authority = fakeAuthority(() => entraError(400, "invalid_request", 90002, "Tenant 'x' not found."));
    const error = await provider(authority.fetch).getToken(TENANT).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "invalid_request", aadstsCodes: [90002] });
  });

  it("AADSTS7000222: expired secret", async () => {
    const authority = fakeAuthority(() => entraError(401, "invalid_client", 7000222, "The provided client secret keys for app are expired."));
    const error = await provider(authority.fetch).getToken(TENANT).catch((e: unknown) => e);
    expect((error as Error).message).toContain("has expired (AADSTS7000222)");
  });

  it("an unknown AADSTS code still gives a one-line message with the code and Entra's description", async () => {
    const authority = fakeAuthority(() => entraError(400, "invalid_request", 123456, `Something odd; the secret ${SECRET} was echoed.`));
    const error = await provider(authority.fetch).getToken(TENANT).catch((e: unknown) => e);
    expect(error).toMatchObject({ aadstsCodes: [123456], code: "invalid_request" });
    const message = (error as Error).message;
    expect(message).toContain("AADSTS123456");
    expect(message).toContain("Something odd");
    expect(message).not.toMatch(/[\r\n]/);
    leakCheck(error, []);
  });

  it("a refused connection to the authority is a NetworkError", async () => {
    const fetch: FetchLike = () =>
      Promise.reject(new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8443"), { code: "ECONNREFUSED" }) }));
    const error = await provider(fetch).getToken(TENANT).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect(error).toMatchObject({ code: "ECONNREFUSED", tenant: TENANT });
    expect((error as Error).message).toContain(AUTHORITY);
  });

  it("a refused connection to the token endpoint (after discovery) is a NetworkError", async () => {
    const authority = fakeAuthority(secretChecked);
    const fetch: FetchLike = (url, init) =>
      init.method === "POST"
        ? Promise.reject(new TypeError("fetch failed", { cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }) }))
        : authority.fetch(url, init);
    await expect(provider(fetch).getToken(TENANT)).rejects.toMatchObject({ kind: "network", code: "ECONNRESET" });
  });

  it("refuses settings that cannot work before sending anything", () => {
    const { fetch } = fakeAuthority(secretChecked);
    expect(() => createMsalTokenProvider({ clientId: CLIENT_ID, credential: { kind: "secret", clientSecret: SECRET }, authorityHost: "http://login.test", graphUrl: GRAPH, fetch })).toThrow(UsageError);
    expect(() => createMsalTokenProvider({ clientId: CLIENT_ID, credential: { kind: "secret", clientSecret: "" }, authorityHost: AUTHORITY, graphUrl: GRAPH, fetch })).toThrow(/MFACTL_CLIENT_SECRET/);
  });

  it("refuses a multi-tenant alias as the tenant", async () => {
    const authority = fakeAuthority(secretChecked);
    await expect(provider(authority.fetch).getToken("common")).rejects.toBeInstanceOf(UsageError);
    await expect(provider(authority.fetch).getToken("contoso/../x")).rejects.toBeInstanceOf(UsageError);
    expect(authority.requests).toHaveLength(0);
  });
});

describe("redactCredentials", () => {
  it("removes secrets, keys, JWTs and form credentials", () => {
    const text = `client_secret=abc123&scope=x secret=${SECRET} eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----`;
    const out = redactCredentials(text, [SECRET]);
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain("abc123");
    expect(out).not.toContain("eyJhbGciOiJIUzI1NiJ9");
    expect(out).not.toContain("MIIE");
    expect(out).toContain("scope=x");
  });
});
