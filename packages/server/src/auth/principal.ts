import type { AccessStore, ApiScope, Clock } from "@mfactl/core";
import type { FastifyRequest } from "fastify";
import { ServedTenants, type ServedTenant } from "../tenants.js";
import type { EntraApp } from "../settings.js";
import { hashApiKey, isApiKeyShaped } from "./api-keys.js";
import { TokenRejectedError, type EntraTokenVerifier } from "./entra-tokens.js";

/** Who is calling, as the journal and audit log name them, and what they may do. */
export interface Principal {
  /** `apikey:<name>` or `app:<app id>`. */
  actor: string;
  kind: "apikey" | "entra";
  /** For people: the key's or app's name. */
  name: string;
  scopes: ReadonlySet<ApiScope>;
  /** Tenants (ids or domains) this caller may touch; undefined = all served. */
  tenants?: readonly string[] | undefined;
}

/** Thrown by `requireScope`/`requireTenant`: 401 or 403, with words the caller can act on. */
export class AccessDeniedError extends Error {
  constructor(
    readonly statusCode: 401 | 403,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "AccessDeniedError";
  }
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal | undefined;
    /** Why the credential sent was refused (401), when one was sent. */
    authProblem?: { code: string; message: string } | undefined;
  }
}

/** `admin` holds `write` and `read`; `write` holds `read`. */
export function hasScope(p: Principal, scope: ApiScope): boolean {
  if (p.scopes.has("admin")) return true;
  if (scope === "read") return p.scopes.has("read") || p.scopes.has("write");
  return p.scopes.has(scope);
}

export function requirePrincipal(req: FastifyRequest): Principal {
  if (req.principal) return req.principal;
  const problem = req.authProblem ?? { code: "Unauthenticated", message: "Send an API key (Authorization: Bearer <key> or X-Api-Key) or an Entra access token for this server." };
  throw new AccessDeniedError(401, problem.code, problem.message);
}

export function requireScope(req: FastifyRequest, scope: ApiScope): Principal {
  const p = requirePrincipal(req);
  if (!hasScope(p, scope)) throw new AccessDeniedError(403, "InsufficientScope", p.scopes.size === 0 ? `${p.name} is not allowed to use this server (no scopes: add it to the settings' entra.apps).` : `${p.name} has the scopes ${[...p.scopes].join(", ")}; this needs ${scope}.`);
  return p;
}

export function requireTenant(p: Principal, tenant: ServedTenant): void {
  if (!ServedTenants.allows(p.tenants, tenant)) throw new AccessDeniedError(403, "TenantNotAllowed", `${p.name} may not act on tenant ${tenant.tenant}.`);
}

export interface Authenticator {
  /** Sets `req.principal`, or `req.authProblem` when a credential was sent and refused. Never replies. */
  authenticate(req: FastifyRequest): Promise<void>;
}

/** How often a key's last use is written (at most), so reads don't become writes. */
const TOUCH_EVERY_MS = 60_000;

export function createAuthenticator(deps: { access: AccessStore; verifier?: EntraTokenVerifier | undefined; apps: readonly EntraApp[]; clock: Clock }): Authenticator {
  const touched = new Map<string, number>();
  const apps = new Map(deps.apps.map((a) => [a.appId.toLowerCase(), a]));

  async function fromApiKey(req: FastifyRequest, key: string): Promise<void> {
    const record = isApiKeyShaped(key) ? await deps.access.findApiKeyByHash(hashApiKey(key)) : undefined;
    if (!record) {
      req.authProblem = { code: "InvalidApiKey", message: "The API key is not known to this server." };
      return;
    }
    if (record.revokedAt !== undefined) {
      req.authProblem = { code: "RevokedApiKey", message: `The API key ${record.name} was revoked at ${record.revokedAt}.` };
      return;
    }
    req.principal = { actor: `apikey:${record.name}`, kind: "apikey", name: `API key ${record.name}`, scopes: new Set(record.scopes), tenants: record.tenants };
    const now = deps.clock.now();
    if (now - (touched.get(record.keyId) ?? -Infinity) >= TOUCH_EVERY_MS) {
      touched.set(record.keyId, now);
      // Best effort: a failed bookkeeping write must not fail the request.
      deps.access.touchApiKey(record.keyId, new Date(now).toISOString()).catch(() => undefined);
    }
  }

  async function fromToken(req: FastifyRequest, token: string): Promise<void> {
    if (!deps.verifier) {
      req.authProblem = { code: "InvalidToken", message: "This server does not accept Entra access tokens (no entra settings); use an API key." };
      return;
    }
    try {
      const verified = await deps.verifier.verify(token);
      const app = apps.get(verified.appId.toLowerCase());
      if (!app) {
        // Valid token, unknown caller: authenticated but allowed nothing.
        req.principal = { actor: `app:${verified.appId}`, kind: "entra", name: `app ${verified.appId}`, scopes: new Set(), tenants: [] };
        return;
      }
      req.principal = { actor: `app:${app.appId}`, kind: "entra", name: app.name ? `app ${app.name} (${app.appId})` : `app ${app.appId}`, scopes: new Set(app.scopes), tenants: app.tenants };
    } catch (error) {
      if (!(error instanceof TokenRejectedError)) throw error;
      req.authProblem = { code: error.reason === "expired" ? "TokenExpired" : "InvalidToken", message: error.message };
    }
  }

  return {
    async authenticate(req) {
      const header = req.headers["x-api-key"];
      const apiKey = Array.isArray(header) ? header[0] : header;
      if (apiKey) return fromApiKey(req, apiKey.trim());
      const auth = req.headers.authorization;
      if (!auth) return;
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      if (!m?.[1]) {
        req.authProblem = { code: "InvalidAuthorization", message: "The Authorization header must be `Bearer <API key or access token>`." };
        return;
      }
      const credential = m[1];
      if (credential.startsWith("mfak_")) return fromApiKey(req, credential);
      if (credential.split(".").length === 3) return fromToken(req, credential);
      req.authProblem = { code: "InvalidAuthorization", message: "The bearer credential is neither an mfactl API key nor a JWT access token." };
    },
  };
}
