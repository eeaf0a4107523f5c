import { ManualClock, type FetchLike } from "@mfactl/core";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { SignJWT, type JWK, type JWTPayload } from "jose";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EntraTokenVerifier, TokenRejectedError } from "./entra-tokens.js";

const TENANT = "11111111-2222-3333-4444-555555555555";
const OTHER_TENANT = "99999999-8888-7777-6666-555555555555";
const AUTHORITY = "https://login.example.test";
const AUDIENCE = "api://aaaaaaaa-0000-0000-0000-000000000001";
const APP = "bbbbbbbb-0000-0000-0000-000000000002";
const DISCOVERY = `${AUTHORITY}/${TENANT}/v2.0/.well-known/openid-configuration`;
const JWKS = `${AUTHORITY}/${TENANT}/discovery/v2.0/keys`;
const V1_ISSUER = `https://sts.windows.net/${TENANT}/`;
const V2_ISSUER = `${AUTHORITY}/${TENANT}/v2.0`;

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  jwk: JWK;
}

// Sync key generation: on Node 20 an async key-generation job collected while a JWK is exported can deadlock
// the process (seen in CI: ~KeyGenJob waiting on the key's mutex inside ExportJWK).
async function newKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...(publicKey.export({ format: "jwk" }) as JWK), kid, use: "sig" } };
}

/** A fake Entra: discovery and keys, the published keys chosen by the test, every fetch counted. */
class FakeIssuer {
  published: SigningKey[] = [];
  calls: string[] = [];
  /** Answer the next fetches of this URL like this instead. */
  failures = new Map<string, "network" | "http500" | "notJson" | "badDoc">();
  readonly fetch: FetchLike = async (url) => {
    const u = String(url);
    this.calls.push(u);
    const failure = this.failures.get(u);
    if (failure === "network") throw new Error("connect ECONNREFUSED");
    if (failure === "http500") return new Response("oops", { status: 500 });
    if (failure === "notJson") return new Response("<html>", { status: 200, headers: { "content-type": "text/html" } });
    if (u === DISCOVERY) {
      if (failure === "badDoc") return Response.json({ issuer: V2_ISSUER });
      return Response.json({ issuer: `${AUTHORITY}/{tenantid}/v2.0`, jwks_uri: JWKS, token_endpoint: `${AUTHORITY}/${TENANT}/oauth2/v2.0/token` });
    }
    if (u === JWKS) {
      if (failure === "badDoc") return Response.json({ nope: [] });
      return Response.json({ keys: this.published.map((k) => k.jwk) });
    }
    return new Response("not found", { status: 404 });
  };
  count(url: string): number {
    return this.calls.filter((c) => c === url).length;
  }
}

describe("EntraTokenVerifier", () => {
  let k1: SigningKey;
  let k2: SigningKey;
  let stranger: SigningKey;
  let issuer: FakeIssuer;
  let clock: ManualClock;

  beforeAll(async () => {
    [k1, k2, stranger] = await Promise.all([newKey("key-1"), newKey("key-2"), newKey("key-1")]);
  });
  beforeEach(() => {
    issuer = new FakeIssuer();
    issuer.published = [k1];
    clock = new ManualClock(Date.UTC(2026, 5, 1, 12));
  });

  const verifier = (over: Partial<ConstructorParameters<typeof EntraTokenVerifier>[0]> = {}) =>
    new EntraTokenVerifier({ tenantId: TENANT, audiences: [AUDIENCE], authorityHost: AUTHORITY, fetch: issuer.fetch, clock, ...over });

  /** A v1 app token (appid, sts.windows.net issuer) at the clock's time, with claims replaced or removed (undefined). */
  async function token(key: SigningKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
    const now = Math.floor(clock.now() / 1000);
    const base: Record<string, unknown> = { aud: AUDIENCE, iss: V1_ISSUER, iat: now, nbf: now, exp: now + 3600, appid: APP, tid: TENANT, ver: "1.0", ...claims };
    for (const [k, v] of Object.entries(base)) if (v === undefined) delete base[k];
    return new SignJWT(base as JWTPayload).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.kid, ...header }).sign(key.privateKey);
  }

  async function reason(v: EntraTokenVerifier, jwt: string): Promise<string> {
    const error = await v.verify(jwt).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TokenRejectedError);
    expect((error as Error).message).not.toContain(jwt);
    return (error as TokenRejectedError).reason;
  }

  describe("accepting", () => {
    it("verifies a v1 token: the calling app from appid, the tenant from tid", async () => {
      const verified = await verifier().verify(await token(k1));
      expect({ appId: verified.appId, tenantId: verified.tenantId, aud: verified.claims.aud }).toStrictEqual({ appId: APP, tenantId: TENANT, aud: AUDIENCE });
    });

    it("verifies a v2 token: azp and the issuer the discovery document names for the tenant", async () => {
      const verified = await verifier().verify(await token(k1, { iss: V2_ISSUER, appid: undefined, azp: APP, ver: "2.0" }));
      expect(verified.appId).toBe(APP);
    });

    it("accepts any of several audiences and tolerates a little clock skew", async () => {
      const v = verifier({ audiences: ["api://other", AUDIENCE] });
      await expect(v.verify(await token(k1))).resolves.toMatchObject({ appId: APP });
      const justExpired = await token(k1, { exp: Math.floor(clock.now() / 1000) - 30 });
      await expect(v.verify(justExpired)).resolves.toMatchObject({ appId: APP });
    });

    it("takes only the issuers it is given, when given", async () => {
      const v = verifier({ issuers: ["https://issuer.example/custom"] });
      expect(await reason(v, await token(k1))).toBe("issuer");
      await expect(v.verify(await token(k1, { iss: "https://issuer.example/custom" }))).resolves.toMatchObject({ appId: APP });
      expect(await v.issuers()).toStrictEqual(["https://issuer.example/custom"]);
      expect(await verifier().issuers()).toStrictEqual([V1_ISSUER, V2_ISSUER]);
    });
  });

  describe("refusing, with a reason", () => {
    it("expired (and not yet valid) tokens: expired", async () => {
      const v = verifier();
      const now = Math.floor(clock.now() / 1000);
      expect(await reason(v, await token(k1, { exp: now - 600 }))).toBe("expired");
      expect(await reason(v, await token(k1, { nbf: now + 600 }))).toBe("expired");
      // A valid token ages out as the clock moves on.
      const fresh = await token(k1, { exp: now + 120 });
      await expect(v.verify(fresh)).resolves.toBeDefined();
      clock.advance(181_000);
      expect(await reason(v, fresh)).toBe("expired");
    });

    it("another audience: audience", async () => {
      expect(await reason(verifier(), await token(k1, { aud: "api://someone-else" }))).toBe("audience");
    });

    it("another issuer, or another tenant under the right issuer: issuer", async () => {
      const v = verifier();
      expect(await reason(v, await token(k1, { iss: `https://sts.windows.net/${OTHER_TENANT}/` }))).toBe("issuer");
      expect(await reason(v, await token(k1, { tid: OTHER_TENANT }))).toBe("issuer");
    });

    it("a key the issuer does not publish, a forged signature or another algorithm: signature", async () => {
      const v = verifier();
      // Same kid as the published key, another private key.
      expect(await reason(v, await token(stranger))).toBe("signature");
      const [head, body] = (await token(k1)).split(".");
      const otherSig = (await token(k2)).split(".")[2];
      expect(await reason(v, `${head}.${body}.${otherSig}`)).toBe("signature");
      const hs = await new SignJWT({ aud: AUDIENCE, iss: V1_ISSUER, exp: Math.floor(clock.now() / 1000) + 600, appid: APP, tid: TENANT })
        .setProtectedHeader({ alg: "HS256", kid: "key-1" })
        .sign(new TextEncoder().encode("a shared secret of sufficient length!!"));
      expect(await reason(v, hs)).toBe("signature");
    });

    it("no calling app, no tenant, or not a JWT: malformed", async () => {
      const v = verifier();
      expect(await reason(v, await token(k1, { appid: undefined }))).toBe("malformed");
      expect(await reason(v, await token(k1, { tid: undefined }))).toBe("malformed");
      expect(await reason(v, "not.a.jwt")).toBe("malformed");
      expect(await reason(v, "e30.e30.e30")).toBe("malformed");
    });

    it("the issuer's keys cannot be read: keys (and it recovers once they can)", async () => {
      const jwt = await token(k1);
      for (const [url, failure] of [
        [DISCOVERY, "network"],
        [DISCOVERY, "http500"],
        [DISCOVERY, "notJson"],
        [DISCOVERY, "badDoc"],
        [JWKS, "network"],
        [JWKS, "http500"],
        [JWKS, "badDoc"],
      ] as const) {
        issuer.failures = new Map([[url, failure]]);
        expect(await reason(verifier(), jwt), `${url} ${failure}`).toBe("keys");
      }
      const v = verifier();
      issuer.failures = new Map([[JWKS, "http500"]]);
      expect(await reason(v, jwt)).toBe("keys");
      issuer.failures.clear();
      // Within the cooldown the failure is answered from memory: no request per token while the issuer is away.
      const asked = issuer.count(JWKS);
      expect(await reason(v, jwt)).toBe("keys");
      expect(issuer.count(JWKS)).toBe(asked);
      clock.advance(30_000);
      await expect(v.verify(jwt)).resolves.toMatchObject({ appId: APP });
    });

    it("keeps using keys that aged out while the issuer cannot be reached", async () => {
      const v = verifier();
      const jwt = await token(k1);
      await expect(v.verify(jwt)).resolves.toMatchObject({ appId: APP });
      clock.advance(3_600_000);
      issuer.failures = new Map([[JWKS, "network"]]);
      const fresh = await token(k1);
      await expect(v.verify(fresh)).resolves.toMatchObject({ appId: APP });
      expect(issuer.count(JWKS)).toBe(2);
    });
  });

  describe("caching the issuer's keys", () => {
    it("reads discovery and keys once for many tokens, also when they arrive together", async () => {
      const v = verifier();
      const tokens = await Promise.all(Array.from({ length: 5 }, () => token(k1)));
      await Promise.all(tokens.map((t) => v.verify(t)));
      for (const t of tokens) await v.verify(t);
      expect({ discovery: issuer.count(DISCOVERY), keys: issuer.count(JWKS) }).toStrictEqual({ discovery: 1, keys: 1 });
    });

    it("reads the keys again for an unknown kid only once the cooldown has passed", async () => {
      const v = verifier({ refetchCooldownMs: 30_000 });
      await v.verify(await token(k1));
      expect(issuer.count(JWKS)).toBe(1);
      // The issuer starts signing with a new key.
      issuer.published = [k1, k2];
      clock.advance(10_000);
      expect(await reason(v, await token(k2))).toBe("signature");
      expect(await reason(v, await token(k2))).toBe("signature");
      expect(issuer.count(JWKS)).toBe(1);
      clock.advance(20_000);
      await expect(v.verify(await token(k2))).resolves.toMatchObject({ appId: APP });
      expect(issuer.count(JWKS)).toBe(2);
      // Known kids never cause a fetch; an unknown one does not either, inside the new cooldown.
      await v.verify(await token(k1));
      expect(await reason(v, await token(await newKey("key-3")))).toBe("signature");
      expect(issuer.count(JWKS)).toBe(2);
    });

    it("drops a retired key at the next refetch", async () => {
      const v = verifier({ refetchCooldownMs: 1_000 });
      const old = await token(k1);
      await v.verify(old);
      issuer.published = [k2];
      clock.advance(1_000);
      await v.verify(await token(k2));
      expect(await reason(v, old)).toBe("signature");
    });

    it("reads discovery and keys again once they are older than maxAge, known kid or not", async () => {
      const v = verifier({ maxAgeMs: 60_000 });
      await v.verify(await token(k1));
      clock.advance(59_000);
      await v.verify(await token(k1));
      expect({ discovery: issuer.count(DISCOVERY), keys: issuer.count(JWKS) }).toStrictEqual({ discovery: 1, keys: 1 });
      clock.advance(1_000);
      await v.verify(await token(k1));
      expect({ discovery: issuer.count(DISCOVERY), keys: issuer.count(JWKS) }).toStrictEqual({ discovery: 2, keys: 2 });
    });
  });
});
