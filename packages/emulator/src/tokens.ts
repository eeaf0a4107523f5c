/**
 * Access tokens (RS256 JWTs like Entra's): Graph's v1.0 app tokens, app tokens for custom APIs (v1.0 or v2.0, as the
 * API's accessTokenAcceptedVersion says), the signing key set behind jwks_uri, and client assertion checks.
 */
import { createHash, createPublicKey, generateKeyPairSync, randomUUID, timingSafeEqual, type KeyObject } from "node:crypto";
import { decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTHeaderParameters, type JWTPayload } from "jose";
import type { AccessTokenVersion, AppRecord } from "./apps.js";
import type { EmulatorClock } from "./options.js";
import { guidFor } from "./prng.js";

export type CredentialKind = "secret" | "certificate";

export interface IssueRequest {
  tenantId: string;
  app: AppRecord;
  roles: readonly string[];
  audience: string;
  lifetimeSeconds: number;
  /** appidacr: "1" for a secret, "2" for a certificate. */
  credential: CredentialKind;
}

export interface AccessTokenClaims extends JWTPayload {
  tid: string;
  appid: string;
  roles?: string[];
}

export type VerifyResult = { ok: true; claims: AccessTokenClaims } | { ok: false; message: string };

/** Graph tokens are v1.0 tokens: the issuer is sts.windows.net whatever endpoint issued them. */
export const issuerFor = (tenantId: string) => `https://sts.windows.net/${tenantId}/`;

/** A v2.0 token's issuer: the `issuer` of the tenant's v2.0 discovery document (`<authority origin>/<tid>/v2.0`). */
export const v2IssuerFor = (authorityOrigin: string, tenantId: string) => `${authorityOrigin}/${tenantId}/v2.0`;

/** The app's service principal in a tenant (`oid` = `sub` of its app tokens): stable per app and tenant. */
export const servicePrincipalId = (clientId: string, tenantId: string) => guidFor(`service-principal/${clientId}/${tenantId}`);

/** Entra's `uti`: an opaque 22-character token id. */
const uti = () => randomUUID().replace(/-/g, "").slice(0, 22);

export interface ApiClaimsInput {
  tenantId: string;
  /** The calling app: `appid` (v1) or `azp` (v2). */
  clientId: string;
  audience: string;
  version: AccessTokenVersion;
  /** For the v2.0 issuer. */
  authorityOrigin: string;
  roles: readonly string[];
  credential: CredentialKind;
  iat: number;
  nbf: number;
  exp: number;
}

/** The claims of an app-only access token for a custom API, in the order Entra writes them. */
export function apiTokenClaims(p: ApiClaimsInput): Record<string, unknown> {
  const oid = servicePrincipalId(p.clientId, p.tenantId);
  const acr = p.credential === "secret" ? "1" : "2";
  // Entra omits `roles` when the app holds none.
  const roles = p.roles.length > 0 ? { roles: [...p.roles] } : {};
  const times = { iat: p.iat, nbf: p.nbf, exp: p.exp };
  if (p.version === 1) {
    const iss = issuerFor(p.tenantId);
    return { aud: p.audience, iss, ...times, aio: randomUUID(), appid: p.clientId, appidacr: acr, idp: iss, oid, ...roles, sub: oid, tid: p.tenantId, uti: uti(), ver: "1.0", jti: randomUUID() };
  }
  return { aud: p.audience, iss: v2IssuerFor(p.authorityOrigin, p.tenantId), ...times, aio: randomUUID(), azp: p.clientId, azpacr: acr, oid, ...roles, sub: oid, tid: p.tenantId, uti: uti(), ver: "2.0", jti: randomUUID() };
}

/** Entra's `sub` of user tokens: pairwise, stable per user and application, 43 base64url characters. */
export const pairwiseSubject = (userId: string, appClientId: string) => createHash("sha256").update(`pairwise/${userId}/${appClientId}`).digest("base64url").slice(0, 43);

/** The signed-in user, as user tokens describe them. */
export interface TokenUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
  givenName: string | null;
  surname: string | null;
  mail: string | null;
}

export interface IdTokenInput {
  tenantId: string;
  clientId: string;
  authorityOrigin: string;
  user: TokenUser;
  /** Lower-case OIDC scopes asked: `profile` adds name and preferred_username, `email` adds email. */
  oidcScopes: readonly string[];
  nonce?: string;
  /** The user's app roles on the client app (omitted when none). */
  roles: readonly string[];
  iat: number;
  nbf: number;
  exp: number;
}

/** A v2.0 id_token as Entra writes it for the authorization code flow. */
export function idTokenClaims(p: IdTokenInput): Record<string, unknown> {
  const profile = p.oidcScopes.includes("profile") ? { name: p.user.displayName, preferred_username: p.user.userPrincipalName } : {};
  const email = p.oidcScopes.includes("email") && p.user.mail !== null ? { email: p.user.mail } : {};
  return {
    aud: p.clientId,
    iss: v2IssuerFor(p.authorityOrigin, p.tenantId),
    iat: p.iat,
    nbf: p.nbf,
    exp: p.exp,
    aio: randomUUID(),
    ...email,
    ...profile,
    ...(p.nonce !== undefined ? { nonce: p.nonce } : {}),
    oid: p.user.id,
    ...(p.roles.length > 0 ? { roles: [...p.roles] } : {}),
    sid: guidFor(`session/${p.user.id}/${p.iat}`),
    sub: pairwiseSubject(p.user.id, p.clientId),
    tid: p.tenantId,
    uti: uti(),
    ver: "2.0",
  };
}

export interface UserAccessTokenInput {
  tenantId: string;
  /** The client app the user signed in to (`appid` in v1, `azp` in v2). */
  clientId: string;
  /** "0" public client, "1" secret, "2" certificate. */
  clientAuth: "0" | "1" | "2";
  /** The API: its client id (the v2.0 `aud`, and the pairwise `sub`'s application). */
  resourceClientId: string;
  audience: string;
  version: AccessTokenVersion;
  authorityOrigin: string;
  user: TokenUser;
  /** Delegated scopes granted (`scp`, space-separated; omitted when none). */
  scopes: readonly string[];
  /** The user's app roles on the API (omitted when none). */
  roles: readonly string[];
  iat: number;
  nbf: number;
  exp: number;
}

/** A delegated (user) access token for a custom API, v1.0 or v2.0 as the API accepts. */
export function userAccessTokenClaims(p: UserAccessTokenInput): Record<string, unknown> {
  const roles = p.roles.length > 0 ? { roles: [...p.roles] } : {};
  const scp = p.scopes.length > 0 ? { scp: p.scopes.join(" ") } : {};
  const times = { iat: p.iat, nbf: p.nbf, exp: p.exp };
  const sub = pairwiseSubject(p.user.id, p.resourceClientId);
  if (p.version === 1) {
    const iss = issuerFor(p.tenantId);
    return {
      aud: p.audience, iss, ...times, acr: "1", aio: randomUUID(), amr: ["pwd"], appid: p.clientId, appidacr: p.clientAuth,
      ...(p.user.surname !== null ? { family_name: p.user.surname } : {}), ...(p.user.givenName !== null ? { given_name: p.user.givenName } : {}),
      ipaddr: "127.0.0.1", name: p.user.displayName, oid: p.user.id, ...roles, ...scp, sub, tid: p.tenantId,
      unique_name: p.user.userPrincipalName, upn: p.user.userPrincipalName, uti: uti(), ver: "1.0",
    };
  }
  return {
    aud: p.audience, iss: v2IssuerFor(p.authorityOrigin, p.tenantId), ...times, aio: randomUUID(), azp: p.clientId, azpacr: p.clientAuth,
    name: p.user.displayName, oid: p.user.id, preferred_username: p.user.userPrincipalName, ...roles, ...scp, sub, tid: p.tenantId, uti: uti(), ver: "2.0",
  };
}

export interface ApiIssueRequest {
  tenantId: string;
  caller: AppRecord;
  roles: readonly string[];
  audience: string;
  version: AccessTokenVersion;
  authorityOrigin: string;
  lifetimeSeconds: number;
  credential: CredentialKind;
}

/** One key of the signing key set, as the admin interface shows it. */
export interface SigningKeyView {
  kid: string;
  /** The key new tokens are signed with (exactly one is). */
  current: boolean;
  /** ISO date-time (emulator clock) the key was generated. */
  createdAt: string;
}

export interface SigningKeyRotation {
  /** kid of the new signing key. */
  current: string;
  /** kid of the key that signed until now. */
  previous: string;
  /** kids removed from the JWKS by this rotation (every older key with retireOld, else none). */
  retired: string[];
  /** The set after the rotation, as GET /signing-keys lists it. */
  keys: SigningKeyView[];
}

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  createdAt: number;
}

export class TokenService {
  /** The published set; the last one signs. */
  private keys: SigningKey[];

  constructor(private readonly clock: EmulatorClock) {
    this.keys = [this.generateKey()];
  }

  private generateKey(): SigningKey {
    const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const spki = pair.publicKey.export({ type: "spki", format: "der" });
    // Shaped like Entra's kid (which equals x5t): 27 base64url characters.
    const kid = createHash("sha1").update(spki).digest("base64url");
    return { kid, privateKey: pair.privateKey, publicKey: pair.publicKey, createdAt: this.clock.now() };
  }

  private get current(): SigningKey {
    return this.keys[this.keys.length - 1] as SigningKey;
  }

  /** kid of the current signing key. */
  get kid(): string {
    return this.current.kid;
  }

  /** The JWKS published at jwks_uri: every key in the set, the current signer first. */
  jwks(): { keys: Record<string, unknown>[] } {
    return {
      keys: [...this.keys].reverse().map((k) => {
        const jwk = k.publicKey.export({ format: "jwk" });
        return { kty: "RSA", use: "sig", kid: k.kid, x5t: k.kid, n: jwk.n, e: jwk.e };
      }),
    };
  }

  keyViews(): SigningKeyView[] {
    const current = this.current.kid;
    return [...this.keys].reverse().map((k) => ({ kid: k.kid, current: k.kid === current, createdAt: new Date(k.createdAt).toISOString() }));
  }

  /** A new key joins the set and signs from now on; with retireOld every older key leaves the set. */
  rotate(retireOld: boolean): SigningKeyRotation {
    const previous = this.current.kid;
    const next = this.generateKey();
    const retired = retireOld ? this.keys.map((k) => k.kid) : [];
    this.keys = retireOld ? [next] : [...this.keys, next];
    return { current: next.kid, previous, retired, keys: this.keyViews() };
  }

  /** Removes a key that no longer signs; false when it is not in the set. The current key cannot be retired. */
  retire(kid: string): boolean {
    if (kid === this.current.kid) throw new Error("the current signing key cannot be retired");
    const before = this.keys.length;
    this.keys = this.keys.filter((k) => k.kid !== kid);
    return this.keys.length < before;
  }

  /** Signs any claims with the current key, with Entra's header (typ, kid, x5t). */
  sign(claims: Record<string, unknown>): Promise<string> {
    const key = this.current;
    return new SignJWT(claims).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.kid, x5t: key.kid }).sign(key.privateKey);
  }

  /** iat, nbf and exp as Entra's token endpoint sets them: exp rounded up, so the token lives at least expires_in. */
  times(lifetimeSeconds: number): { iat: number; nbf: number; exp: number } {
    const nowMs = this.clock.now();
    const now = Math.floor(nowMs / 1000);
    return { iat: now, nbf: now, exp: Math.ceil(nowMs / 1000) + lifetimeSeconds };
  }

  async issue(req: IssueRequest): Promise<string> {
    const { iat, nbf, exp } = this.times(req.lifetimeSeconds);
    const iss = issuerFor(req.tenantId);
    const oid = servicePrincipalId(req.app.clientId, req.tenantId);
    const claims: Record<string, unknown> = {
      aud: req.audience,
      iss,
      iat,
      nbf,
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
      uti: uti(),
      ver: "1.0",
    };
    // Entra omits `roles` when the app holds none in the tenant.
    if (req.roles.length > 0) claims["roles"] = [...req.roles];
    return this.sign(claims);
  }

  /** An app-only token for a custom API (client credentials with `<resource>/.default`). */
  issueApi(req: ApiIssueRequest): Promise<string> {
    return this.sign(
      apiTokenClaims({
        tenantId: req.tenantId,
        clientId: req.caller.clientId,
        audience: req.audience,
        version: req.version,
        authorityOrigin: req.authorityOrigin,
        roles: req.roles,
        credential: req.credential,
        ...this.times(req.lifetimeSeconds),
      }),
    );
  }

  /** The public key a token names by kid (the current one when it names none). */
  private verificationKey = (header: JWTHeaderParameters): KeyObject => {
    const key = header.kid === undefined ? this.current : this.keys.find((k) => k.kid === header.kid);
    if (!key) throw new errors.JWKSNoMatchingKey();
    return key.publicKey;
  };

  /** Signature (any key in the set), lifetime (no clock-skew allowance) and audience, as Graph checks a bearer token. */
  async verify(token: string, audiences: readonly string[]): Promise<VerifyResult> {
    try {
      const { payload } = await jwtVerify(token, this.verificationKey, { algorithms: ["RS256"], currentDate: new Date(this.clock.now()) });
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
      if (e instanceof errors.JWSSignatureVerificationFailed || e instanceof errors.JWKSNoMatchingKey)
        return { ok: false, message: "Access token validation failure. Invalid signature." };
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
