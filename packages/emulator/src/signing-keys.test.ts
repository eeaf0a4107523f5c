import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MintedToken } from "./admin.js";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import type { SigningKeyRotation, SigningKeyView } from "./tokens.js";
import { admin, form, graph, ManualClock, send, tokenFor } from "./test-helpers.js";

let emu: RunningEmulator;
const clock = new ManualClock();

beforeAll(async () => {
  emu = await startEmulator({ clock, tenants: 2, users: 9 });
});
afterAll(async () => {
  await emu.close();
});

const home = () => emu.tenants[0]!;
const v1Issuer = () => `https://sts.windows.net/${home().id}/`;

async function apiToken(): Promise<string> {
  const { clientId, clientSecret } = emu.apiCallers.readWrite;
  const reply = await send(`${emu.authorityHost}/${home().id}/oauth2/v2.0/token`, {
    ...form({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret, scope: `${emu.apiApp.identifierUri}/.default` }),
    ca: emu.caPem,
  });
  expect(reply.status, reply.text).toBe(200);
  return reply.json<{ access_token: string }>().access_token;
}

const kidsAt = async (url: string) => (await send(url, { ca: emu.caPem })).json<JSONWebKeySet>().keys.map((k) => k.kid);
/** Both key routes: the v2.0 discovery document's jwks_uri and the v1.0 one's. */
const publishedKids = async () => {
  const v2 = await kidsAt(`${emu.authorityHost}/${home().id}/discovery/v2.0/keys`);
  expect(await kidsAt(`${emu.authorityHost}/common/discovery/keys`)).toEqual(v2);
  return v2;
};

/** A relying party as mfactl serve validates: discovery -> jwks_uri, cached, refetched on an unknown kid. */
class RelyingParty {
  private jwks: JSONWebKeySet | undefined;
  fetches = 0;
  async verify(token: string): Promise<JWTPayload> {
    const kid = decodeProtectedHeader(token).kid;
    if (!this.jwks?.keys.some((k) => k.kid === kid)) {
      const doc = (await send(`${emu.authorityHost}/${home().id}/v2.0/.well-known/openid-configuration`, { ca: emu.caPem })).json<{ jwks_uri: string }>();
      this.jwks = (await send(doc.jwks_uri, { ca: emu.caPem })).json<JSONWebKeySet>();
      this.fetches++;
    }
    const { payload } = await jwtVerify(token, createLocalJWKSet(this.jwks), { issuer: v1Issuer(), audience: emu.apiApp.identifierUri, currentDate: new Date(clock.now()) });
    return payload;
  }
}

describe("signing key rotation", () => {
  it("publishes every key in the set; a rotation signs with the new key; retireOld removes the older ones", async () => {
    const listed = (await admin(emu, "GET", "/signing-keys")).json<{ keys: SigningKeyView[] }>().keys;
    expect(listed).toHaveLength(1);
    const k1 = listed[0]!;
    expect(k1).toMatchObject({ current: true, kid: expect.stringMatching(/^[A-Za-z0-9_-]{27}$/) });
    expect(await publishedKids()).toEqual([k1.kid]);

    const rp = new RelyingParty();
    const graphToken1 = await tokenFor(emu, home().id);
    const api1 = await apiToken();
    expect(decodeProtectedHeader(api1).kid).toBe(k1.kid);
    await rp.verify(api1);

    // Rotation without retiring: both keys published, the new one signs, old tokens still valid everywhere.
    const rotated = await admin(emu, "POST", "/signing-keys/rotate", {});
    expect(rotated.status).toBe(200);
    const r1 = rotated.json<SigningKeyRotation>();
    expect(r1).toMatchObject({ previous: k1.kid, retired: [] });
    expect(r1.current).not.toBe(k1.kid);
    expect(r1.keys.map((k) => [k.kid, k.current])).toEqual([[r1.current, true], [k1.kid, false]]);
    expect(await publishedKids()).toEqual([r1.current, k1.kid]);
    const api2 = await apiToken();
    expect(decodeProtectedHeader(api2).kid).toBe(r1.current);
    expect(decodeProtectedHeader(await tokenFor(emu, home().id)).kid).toBe(r1.current);
    await rp.verify(api1);
    await rp.verify(api2);
    expect(rp.fetches).toBe(2);
    expect((await graph(emu, graphToken1, "/v1.0/users?$top=1")).status).toBe(200);

    // Rotation with retireOld: only the newest key is left; tokens of the retired keys fail at a relying party that refetches.
    const r2 = (await admin(emu, "POST", "/signing-keys/rotate", { retireOld: true })).json<SigningKeyRotation>();
    expect(r2).toMatchObject({ previous: r1.current, retired: [k1.kid, r1.current] });
    expect(await publishedKids()).toEqual([r2.current]);
    const api3 = await apiToken();
    await rp.verify(api3);
    expect(rp.fetches).toBe(3);
    await expect(new RelyingParty().verify(api1)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    await expect(new RelyingParty().verify(api2)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
    // Graph, inside the emulator, also stops accepting them.
    const refused = await graph(emu, graphToken1, "/v1.0/users?$top=1");
    expect(refused.status).toBe(401);
    expect(refused.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: "InvalidAuthenticationToken", message: "Access token validation failure. Invalid signature." });
    expect((await graph(emu, await tokenFor(emu, home().id), "/v1.0/users?$top=1")).status).toBe(200);
  });

  it("rotates in process too, and retires one older key by kid (never the current one)", async () => {
    const before = emu.admin.signingKeys()[0]!.kid;
    const rotation = emu.rotateSigningKey();
    expect(rotation.previous).toBe(before);
    expect(emu.admin.signingKeys().map((k) => k.kid)).toEqual([rotation.current, before]);
    expect((await admin(emu, "DELETE", `/signing-keys/${rotation.current}`)).status).toBe(400);
    expect((await admin(emu, "DELETE", "/signing-keys/no-such-kid")).status).toBe(404);
    expect((await admin(emu, "DELETE", `/signing-keys/${before}`)).status).toBe(204);
    expect(await publishedKids()).toEqual([rotation.current]);
    expect(() => emu.admin.retireSigningKey(rotation.current)).toThrow(/current signing key/);
  });

  it("validates the rotation body and keeps the key set across /reset and /seed", async () => {
    expect((await admin(emu, "POST", "/signing-keys/rotate", { retireOld: "yes" })).status).toBe(400);
    expect((await send(`${emu.adminUrl}/signing-keys/rotate`, { method: "POST" })).status).toBe(200);
    const kids = emu.admin.signingKeys().map((k) => k.kid);
    await admin(emu, "POST", "/reset");
    await admin(emu, "POST", "/seed", { users: 9 });
    expect(emu.admin.signingKeys().map((k) => k.kid)).toEqual(kids);
  });
});

describe("test tokens (POST /tokens)", () => {
  const mint = (body: object) => admin(emu, "POST", "/tokens", body);
  const base = () => ({ tenant: home().domain, clientId: emu.apiCallers.readWrite.clientId, audience: emu.apiApp.identifierUri });

  it("mints an already expired v1.0 token signed by the current key: exp in the past, signature valid", async () => {
    const reply = await mint({ ...base(), lifetimeSeconds: -120, roles: ["MfaState.ReadWrite"] });
    expect(reply.status).toBe(200);
    const minted = reply.json<MintedToken>();
    const now = Math.floor(clock.now() / 1000);
    expect(minted.kid).toBe(emu.admin.signingKeys()[0]!.kid);
    expect(decodeProtectedHeader(minted.accessToken)).toMatchObject({ alg: "RS256", kid: minted.kid, x5t: minted.kid });
    const claims = decodeJwt(minted.accessToken);
    expect(claims).toEqual(minted.claims);
    expect(claims).toMatchObject({ iss: v1Issuer(), aud: emu.apiApp.identifierUri, tid: home().id, appid: emu.apiCallers.readWrite.clientId, appidacr: "1", ver: "1.0", roles: ["MfaState.ReadWrite"], iat: now });
    expect(claims.exp).toBe(now - 120);
    expect(claims.exp!).toBeLessThan(clock.now() / 1000);
    // Same oid as a real token of that caller in that tenant.
    expect(claims["oid"]).toBe(decodeJwt(await apiToken())["oid"]);
    // jose checks the signature before the claims: expiry is what fails.
    await expect(new RelyingParty().verify(minted.accessToken)).rejects.toBeInstanceOf(errors.JWTExpired);
  });

  it("mints a not-yet-valid token, a v2.0 token, and tokens with claims replaced or removed", async () => {
    const future = (await mint({ ...base(), lifetimeSeconds: 3600, notBeforeOffsetSeconds: 600 })).json<MintedToken>();
    expect(future.claims["nbf"]).toBe((future.claims["iat"] as number) + 600);
    expect(future.claims).not.toHaveProperty("roles");
    await expect(new RelyingParty().verify(future.accessToken)).rejects.toMatchObject({ code: "ERR_JWT_CLAIM_VALIDATION_FAILED", claim: "nbf" });

    const v2 = (await mint({ ...base(), audience: emu.apiApp.clientId, lifetimeSeconds: 60, version: 2, roles: ["Admin"] })).json<MintedToken>();
    expect(v2.claims).toMatchObject({ iss: `${emu.authorityHost}/${home().id}/v2.0`, aud: emu.apiApp.clientId, azp: emu.apiCallers.readWrite.clientId, azpacr: "1", ver: "2.0", roles: ["Admin"] });
    expect(v2.claims).not.toHaveProperty("appid");

    const forged = (await mint({ ...base(), lifetimeSeconds: 60, extraClaims: { iss: "https://sts.windows.net/attacker/", tid: null, scp: "user_impersonation" } })).json<MintedToken>();
    expect(forged.claims).toMatchObject({ iss: "https://sts.windows.net/attacker/", scp: "user_impersonation" });
    expect(forged.claims).not.toHaveProperty("tid");
    await expect(new RelyingParty().verify(forged.accessToken)).rejects.toMatchObject({ claim: "iss" });

    // A tenant the emulator does not know, by GUID.
    const foreign = (await mint({ ...base(), tenant: "0000aaaa-1111-4222-8333-444455556666", lifetimeSeconds: 60 })).json<MintedToken>();
    expect(foreign.claims).toMatchObject({ tid: "0000aaaa-1111-4222-8333-444455556666", iss: "https://sts.windows.net/0000aaaa-1111-4222-8333-444455556666/" });
  });

  it("mints in process; a minted Graph-audience token works on Graph; minting is not counted as issuing", async () => {
    const before = emu.admin.stats().tokensIssued;
    const minted = await emu.mintToken({ tenant: home().id, clientId: emu.clientId, audience: emu.graphUrl, lifetimeSeconds: 300, roles: ["User.Read.All"] });
    expect((await graph(emu, minted.accessToken, "/v1.0/users?$top=1")).status).toBe(200);
    const expired = await emu.mintToken({ tenant: home().id, clientId: emu.clientId, audience: emu.graphUrl, lifetimeSeconds: -1, roles: ["User.Read.All"] });
    const refused = await graph(emu, expired.accessToken, "/v1.0/users?$top=1");
    expect(refused.json<{ error: { message: string } }>().error.message).toBe("Access token has expired or is not yet valid.");
    expect(emu.admin.stats().tokensIssued).toBe(before);
  });

  it("validates the request: 400 for bad fields, 404 for an unknown tenant name", async () => {
    expect((await mint({ ...base(), audience: undefined, lifetimeSeconds: 60 })).status).toBe(400);
    expect((await mint({ ...base(), clientId: "", lifetimeSeconds: 60 })).status).toBe(400);
    expect((await mint({ ...base(), lifetimeSeconds: 1.5 })).status).toBe(400);
    expect((await mint({ ...base() })).status).toBe(400);
    expect((await mint({ ...base(), lifetimeSeconds: 60, notBeforeOffsetSeconds: "soon" })).status).toBe(400);
    expect((await mint({ ...base(), lifetimeSeconds: 60, version: 3 })).status).toBe(400);
    expect((await mint({ ...base(), lifetimeSeconds: 60, roles: "Admin" })).status).toBe(400);
    expect((await mint({ ...base(), lifetimeSeconds: 60, extraClaims: ["x"] })).status).toBe(400);
    expect((await mint({ ...base(), tenant: "nowhere.onmicrosoft.com", lifetimeSeconds: 60 })).status).toBe(404);
    expect((await send(`${emu.adminUrl}/tokens`, { method: "POST", body: "[]" })).status).toBe(400);
    expect((await admin(emu, "GET", "/tokens")).status).toBe(405);
  });
});

describe("admin routes stay on the admin listener", () => {
  it("are not served on the HTTPS (Entra + Graph) port", async () => {
    for (const path of ["/tokens", "/signing-keys/rotate", "/_admin/tokens", "/_admin/signing-keys/rotate"]) {
      const reply = await send(`${emu.authorityHost}${path}`, { method: "POST", body: { tenant: home().id, clientId: emu.clientId, audience: emu.graphUrl, lifetimeSeconds: 60 }, ca: emu.caPem });
      expect(reply.status).toBe(404);
      expect(reply.text).not.toContain("accessToken");
    }
    expect((await send(`${emu.authorityHost}/signing-keys`, { ca: emu.caPem })).status).toBe(404);
    expect(new URL(emu.adminUrl).hostname).toBe("127.0.0.1");
  });
});
