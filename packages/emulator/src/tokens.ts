/** Access tokens (RS256 JWTs like Entra's v1 app tokens) and client assertion checks. */
import { createHash, createPublicKey, generateKeyPairSync, randomUUID, timingSafeEqual, type KeyObject } from "node:crypto";
import { decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import type { AppRecord } from "./apps.js";
import type { EmulatorClock } from "./options.js";
import { guidFor } from "./prng.js";

export interface IssueRequest {
  tenantId: string;
  app: AppRecord;
  roles: readonly string[];
  audience: string;
  lifetimeSeconds: number;
  /** appidacr: "1" for a secret, "2" for a certificate. */
  credential: "secret" | "certificate";
}

export interface AccessTokenClaims extends JWTPayload {
  tid: string;
  appid: string;
  roles?: string[];
}

export type VerifyResult = { ok: true; claims: AccessTokenClaims } | { ok: false; message: string };

/** Graph tokens are v1.0 tokens: the issuer is sts.windows.net whatever endpoint issued them. */
export const issuerFor = (tenantId: string) => `https://sts.windows.net/${tenantId}/`;

export class TokenService {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  readonly kid: string;

  constructor(private readonly clock: EmulatorClock) {
    const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
    const spki = this.publicKey.export({ type: "spki", format: "der" });
    this.kid = createHash("sha1").update(spki).digest("base64url");
  }

  /** The JWKS published at jwks_uri. */
  jwks(): { keys: Record<string, unknown>[] } {
    const jwk = this.publicKey.export({ format: "jwk" });
    return { keys: [{ kty: "RSA", use: "sig", kid: this.kid, x5t: this.kid, n: jwk.n, e: jwk.e }] };
  }

  async issue(req: IssueRequest): Promise<string> {
    const nowMs = this.clock.now();
    const now = Math.floor(nowMs / 1000);
    // Round exp up: the token lives at least expires_in seconds even for a 1-second lifetime.
    const exp = Math.ceil(nowMs / 1000) + req.lifetimeSeconds;
    const iss = issuerFor(req.tenantId);
    // The app's service principal in this tenant: stable per app and tenant.
    const oid = guidFor(`service-principal/${req.app.clientId}/${req.tenantId}`);
    const claims: Record<string, unknown> = {
      aud: req.audience,
      iss,
      iat: now,
      nbf: now,
      exp,
      aio: randomUUID(),
      app_displayname: req.app.displayName,
      appid: req.app.clientId,
      azp: req.app.clientId,
      appidacr: req.credential === "secret" ? "1" : "2",
      idp: iss,
      idtyp: "app",
      oid,
      sub: oid,
      tid: req.tenantId,
      uti: randomUUID().replace(/-/g, "").slice(0, 22),
      ver: "1.0",
    };
    // Entra omits `roles` when the app holds none in the tenant.
    if (req.roles.length > 0) claims["roles"] = [...req.roles];
    return new SignJWT(claims).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: this.kid, x5t: this.kid }).sign(this.privateKey);
  }

  /** Signature, lifetime (no clock-skew allowance) and audience, as Graph checks a bearer token. */
  async verify(token: string, audiences: readonly string[]): Promise<VerifyResult> {
    try {
      const { payload } = await jwtVerify(token, this.publicKey, { algorithms: ["RS256"], currentDate: new Date(this.clock.now()) });
      const aud = payload.aud;
      const audOk = typeof aud === "string" ? audiences.includes(aud) : Array.isArray(aud) && aud.some((a) => audiences.includes(a));
      if (!audOk) return { ok: false, message: "Access token validation failure. Invalid audience." };
      if (typeof payload["tid"] !== "string" || typeof payload["appid"] !== "string" || payload.iss !== issuerFor(payload["tid"]))
        return { ok: false, message: "Access token validation failure. Invalid issuer." };
      return { ok: true, claims: payload as AccessTokenClaims };
    } catch (e) {
      if (e instanceof errors.JWTExpired) return { ok: false, message: "Access token has expired or is not yet valid." };
      if (e instanceof errors.JWTClaimValidationFailed && (e.claim === "nbf" || e.claim === "iat"))
        return { ok: false, message: "Access token has expired or is not yet valid." };
      if (e instanceof errors.JWSSignatureVerificationFailed) return { ok: false, message: "Access token validation failure. Invalid signature." };
      return { ok: false, message: "Access token validation failure." };
    }
  }
}

export function secretMatches(expected: string, given: string): boolean {
  const a = createHash("sha256").update(expected).digest();
  const b = createHash("sha256").update(given).digest();
  return timingSafeEqual(a, b);
}

export type AssertionResult = { ok: true } | { ok: false; code: number; message: string };

/**
 * RFC 7523 client assertion as Entra checks it: the x5t / x5t#S256 header names a certificate
 * registered on the app, the signature verifies with it, iss = sub = client id, aud is the token
 * endpoint, and it has not expired.
 */
export async function verifyClientAssertion(
  assertion: string,
  app: AppRecord,
  acceptedAudiences: ReadonlySet<string>,
  clock: EmulatorClock,
): Promise<AssertionResult> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(assertion);
  } catch {
    return { ok: false, code: 50027, message: "JWT token is invalid or malformed." };
  }
  const x5tS256 = typeof header["x5t#S256"] === "string" ? header["x5t#S256"] : undefined;
  const x5t = typeof header.x5t === "string" ? header.x5t : undefined;
  const cert = app.certificates.find((c) => (x5tS256 !== undefined && c.x5tS256 === x5tS256) || (x5t !== undefined && c.x5t === x5t));
  if (!cert) {
    const given = x5tS256 ?? x5t ?? "";
    return {
      ok: false,
      code: 700027,
      message: `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${given}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.]`,
    };
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(assertion, createPublicKey(cert.publicKeyPem), {
      algorithms: ["RS256", "PS256"],
      currentDate: new Date(clock.now()),
      // Entra tolerates clock skew on assertions (and MSAL rounds its iat/nbf up to the second).
      clockTolerance: 300,
    }));
  } catch (e) {
    if (e instanceof errors.JWTExpired || (e instanceof errors.JWTClaimValidationFailed && e.claim === "nbf"))
      return { ok: false, code: 700024, message: "Client assertion is not within its valid time range." };
    if (e instanceof errors.JOSEAlgNotAllowed)
      return { ok: false, code: 5002738, message: "Invalid JWT token. The signing algorithm is not supported." };
    return { ok: false, code: 700027, message: "Client assertion failed signature validation." };
  }
  if (payload.exp === undefined) return { ok: false, code: 700024, message: "Client assertion is not within its valid time range." };
  if (payload.iss !== app.clientId || payload.sub !== app.clientId)
    return { ok: false, code: 700021, message: "Client assertion application identifier doesn't match 'client_id' parameter." };
  const auds = typeof payload.aud === "string" ? [payload.aud] : (payload.aud ?? []);
  const audOk = auds.some((a) => acceptedAudiences.has(a.split("?")[0]?.toLowerCase() ?? ""));
  if (!audOk) return { ok: false, code: 700027, message: "Client assertion contains an invalid audience claim." };
  return { ok: true };
}
