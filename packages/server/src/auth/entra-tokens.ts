import { systemClock, type Clock, type FetchLike } from "@mfactl/core";
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";

/** Why a token was refused, in words a caller can act on (never the token itself). */
export class TokenRejectedError extends Error {
  constructor(
    message: string,
    /** `expired`, `signature`, `issuer`, `audience`, `malformed`, `keys` (the issuer's keys could not be read). */
    readonly reason: string,
  ) {
    super(message);
    this.name = "TokenRejectedError";
  }
}

export interface VerifiedToken {
  /** The calling app: `appid` (v1 tokens) or `azp` (v2 tokens). */
  appId: string;
  tenantId: string;
  /**
   * The delegated scopes (`scp`, space-separated) when the token acts for a signed-in person;
   * undefined for an app's own token (client credentials carry `roles`, never `scp`).
   */
  delegatedScopes?: string[] | undefined;
  claims: JWTPayload;
}

export interface EntraVerifierOptions {
  tenantId: string;
  audiences: readonly string[];
  authorityHost: string;
  /** Accepted issuers; default the tenant's v1 issuer and the v2 issuer its discovery document names. */
  issuers?: readonly string[] | undefined;
  fetch: FetchLike;
  clock?: Clock | undefined;
  /** How long the discovery document and keys are trusted before they are read again. Default 1 h. */
  maxAgeMs?: number | undefined;
  /** An unknown key id reads the keys again, at most this often (rotation without a flood). Default 30 s. */
  refetchCooldownMs?: number | undefined;
  /** Allowed clock skew. Default 60 s. */
  clockToleranceSeconds?: number | undefined;
}

interface KeyState {
  keys: ReturnType<typeof createLocalJWKSet>;
  kids: Set<string>;
  fetchedAt: number;
}

/**
 * Verifies Entra access tokens as Microsoft's own APIs do: RS256 signature against the issuer's
 * published keys (OpenID discovery, then `jwks_uri`), issuer, audience, expiry and not-before.
 * Keys are cached and read again when they age out or when a token names a key not seen yet
 * (Entra rotates its signing keys), with a cooldown so unknown kids cannot force a fetch each time.
 */
export class EntraTokenVerifier {
  private readonly clock: Clock;
  private discovery: { jwksUri: string; issuer: string; fetchedAt: number } | undefined;
  private keyState: KeyState | undefined;
  private lastFetch = -Infinity;
  private inflight: Promise<KeyState> | undefined;
  private lastFailure: { at: number; error: unknown } | undefined;

  constructor(private readonly options: EntraVerifierOptions) {
    this.clock = options.clock ?? systemClock;
  }

  private get maxAgeMs(): number {
    return this.options.maxAgeMs ?? 3_600_000;
  }

  private async getJson(url: string, what: string): Promise<unknown> {
    let res: Response;
    try {
      res = await this.options.fetch(url, { method: "GET", headers: { accept: "application/json" }, signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw new TokenRejectedError(`Cannot read the token issuer's ${what} (${url}): ${(error as Error).message}`, "keys");
    }
    if (!res.ok) throw new TokenRejectedError(`Cannot read the token issuer's ${what} (${url}): HTTP ${res.status}`, "keys");
    try {
      return await res.json();
    } catch {
      throw new TokenRejectedError(`The token issuer's ${what} (${url}) is not JSON.`, "keys");
    }
  }

  private async loadDiscovery(): Promise<{ jwksUri: string; issuer: string }> {
    const now = this.clock.now();
    if (this.discovery && now - this.discovery.fetchedAt < this.maxAgeMs) return this.discovery;
    const url = `${this.options.authorityHost.replace(/\/+$/, "")}/${encodeURIComponent(this.options.tenantId)}/v2.0/.well-known/openid-configuration`;
    const doc = (await this.getJson(url, "OpenID configuration")) as { jwks_uri?: unknown; issuer?: unknown };
    if (typeof doc.jwks_uri !== "string" || typeof doc.issuer !== "string") throw new TokenRejectedError(`The OpenID configuration at ${url} has no jwks_uri or issuer.`, "keys");
    this.discovery = { jwksUri: doc.jwks_uri, issuer: doc.issuer, fetchedAt: now };
    return this.discovery;
  }

  private fetchKeys(): Promise<KeyState> {
    this.inflight ??= (async () => {
      try {
        this.lastFetch = this.clock.now();
        const { jwksUri } = await this.loadDiscovery();
        const jwks = (await this.getJson(jwksUri, "signing keys")) as JSONWebKeySet;
        if (!Array.isArray(jwks.keys)) throw new TokenRejectedError(`The signing keys at ${jwksUri} are not a JWKS.`, "keys");
        const state: KeyState = { keys: createLocalJWKSet(jwks), kids: new Set(jwks.keys.map((k) => k.kid ?? "")), fetchedAt: this.clock.now() };
        this.keyState = state;
        return state;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  private async keysFor(kid: string | undefined): Promise<KeyState> {
    const now = this.clock.now();
    const cooldown = this.options.refetchCooldownMs ?? 30_000;
    const state = this.keyState;
    if (!state) {
      // The issuer was unreachable a moment ago: answer from that failure, don't ask again per request.
      if (this.lastFailure && now - this.lastFailure.at < cooldown) throw this.lastFailure.error;
      return this.refetch();
    }
    const aged = now - state.fetchedAt >= this.maxAgeMs;
    const unknownKid = kid !== undefined && !state.kids.has(kid);
    if ((aged || unknownKid) && now - this.lastFetch >= cooldown) {
      try {
        return await this.refetch();
      } catch {
        // Keys that aged out are still Entra's keys (they rotate over weeks): keep using them while the issuer is away.
        return state;
      }
    }
    return state;
  }

  private async refetch(): Promise<KeyState> {
    try {
      const state = await this.fetchKeys();
      this.lastFailure = undefined;
      return state;
    } catch (error) {
      this.lastFailure = { at: this.clock.now(), error };
      throw error;
    }
  }

  async issuers(): Promise<string[]> {
    if (this.options.issuers?.length) return [...this.options.issuers];
    const { issuer } = await this.loadDiscovery();
    return [`https://sts.windows.net/${this.options.tenantId}/`, issuer.replace("{tenantid}", this.options.tenantId)];
  }

  async verify(token: string): Promise<VerifiedToken> {
    const kid = headerKid(token);
    const state = await this.keysFor(kid);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, state.keys, {
        algorithms: ["RS256"],
        issuer: await this.issuers(),
        audience: [...this.options.audiences],
        currentDate: new Date(this.clock.now()),
        clockTolerance: this.options.clockToleranceSeconds ?? 60,
        requiredClaims: ["exp", "iss", "aud"],
      }));
    } catch (error) {
      throw rejection(error);
    }
    const appId = typeof payload["appid"] === "string" ? payload["appid"] : typeof payload["azp"] === "string" ? payload["azp"] : undefined;
    const tenantId = typeof payload["tid"] === "string" ? payload["tid"] : undefined;
    if (!appId || !tenantId) throw new TokenRejectedError("The access token names no calling app (appid or azp) or tenant (tid).", "malformed");
    if (tenantId.toLowerCase() !== this.options.tenantId.toLowerCase()) throw new TokenRejectedError("The access token was issued for another tenant.", "issuer");
    const scp = payload["scp"];
    if (scp !== undefined && typeof scp !== "string") throw new TokenRejectedError("The access token's scp claim is not a string.", "malformed");
    return { appId, tenantId, ...(scp !== undefined ? { delegatedScopes: scp.split(" ").filter((s) => s !== "") } : {}), claims: payload };
  }
}

function headerKid(token: string): string | undefined {
  const head = token.split(".")[0];
  if (!head) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { kid?: unknown };
    return typeof parsed.kid === "string" ? parsed.kid : undefined;
  } catch {
    return undefined;
  }
}

function rejection(error: unknown): TokenRejectedError {
  if (error instanceof TokenRejectedError) return error;
  if (error instanceof joseErrors.JWTExpired) return new TokenRejectedError("The access token has expired: get a new one.", "expired");
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (claim === "aud") return new TokenRejectedError("The access token is for another audience: request it for this server's application ID URI (api://<client id>/.default).", "audience");
    if (claim === "iss") return new TokenRejectedError("The access token comes from an issuer this server does not trust.", "issuer");
    if (claim === "nbf") return new TokenRejectedError("The access token is not valid yet (nbf): check the clocks.", "expired");
    return new TokenRejectedError(`The access token's ${claim} claim is not acceptable.`, "malformed");
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed || error instanceof joseErrors.JWKSNoMatchingKey) {
    return new TokenRejectedError("The access token's signature does not verify against the issuer's signing keys.", "signature");
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new TokenRejectedError("The access token is not signed with RS256.", "signature");
  return new TokenRejectedError("The access token is malformed.", "malformed");
}
