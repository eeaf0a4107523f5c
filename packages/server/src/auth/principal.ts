import type { AccessStore, ApiScope, Clock } from "@mfactl/core";
import type { FastifyRequest } from "fastify";
import { ServedTenants, type ServedTenant } from "../tenants.js";
import { DEFAULT_ROLE_VALUES, ROLES, type EntraApp, type EntraPerson, type EntraRoles, type Role } from "../settings.js";
import { hashApiKey, isApiKeyShaped } from "./api-keys.js";
import { TokenRejectedError, type EntraTokenVerifier, type VerifiedToken } from "./entra-tokens.js";

/** Who is calling, as the journal and audit log name them, and what they may do. */
export interface Principal {
  /** `apikey:<name>`, `app:<app id>` or `user:<upn, lower case>`. */
  actor: string;
  /** An API key, an app's own Entra token, or a person signed in to the dashboard (a delegated token). */
  kind: "apikey" | "entra" | "user" | "schedule";
  /** For people: the key's or app's name; a person's display name and UPN. */
  name: string;
  /** A person's role (undefined: none assigned); keys and apps have scopes only (see `roleOf`). */
  role?: Role | undefined;
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
    /** Why the credential sent was refused (401; 403 for a client that may not act for people), when one was sent. */
    authProblem?: { code: string; message: string; status?: 401 | 403 } | undefined;
  }
}

/** What each role may do: reader reads, operator changes (and reads), admin everything. */
export const ROLE_SCOPES: Readonly<Record<Role, ApiScope>> = { reader: "read", operator: "write", admin: "admin" };

/** A person's role, or the role a key's or app's scopes amount to (undefined: no scope at all). */
export function roleOf(p: Principal): Role | undefined {
  if (p.role !== undefined) return p.role;
  if (p.scopes.has("admin")) return "admin";
  if (p.scopes.has("write")) return "operator";
  if (p.scopes.has("read")) return "reader";
  return undefined;
}

/** Where roles come from, for the words that tell a person how to get one. */
const ROLE_SOURCES = "an app role on the mfactl API in Entra ID, or entra.people in the server settings";

/** `admin` holds `write` and `read`; `write` holds `read`. */
export function hasScope(p: Principal, scope: ApiScope): boolean {
  if (p.scopes.has("admin")) return true;
  if (scope === "read") return p.scopes.has("read") || p.scopes.has("write");
  return p.scopes.has(scope);
}

export function requirePrincipal(req: FastifyRequest): Principal {
  if (req.principal) return req.principal;
  const problem = req.authProblem ?? { code: "Unauthenticated", message: "Send an API key (Authorization: Bearer <key> or X-Api-Key) or an Entra access token for this server." };
  throw new AccessDeniedError(problem.status ?? 401, problem.code, problem.message);
}

/** The role that holds a scope, for people's messages. */
const ROLE_FOR: Readonly<Record<ApiScope, Role>> = { read: "reader", write: "operator", admin: "admin" };

function insufficient(p: Principal, scope: ApiScope): string {
  if (p.kind === "user") {
    if (p.role === undefined) return `${p.name} has no mfactl role: an administrator assigns one (${ROLE_SOURCES}).`;
    return `${p.name} is ${p.role === "admin" ? "an" : "a"} ${p.role}; this needs the ${ROLE_FOR[scope]} role (scope ${scope}) or higher: an administrator assigns it (${ROLE_SOURCES}).`;
  }
  return p.scopes.size === 0 ? `${p.name} is not allowed to use this server (no scopes: add it to the settings' entra.apps).` : `${p.name} has the scopes ${[...p.scopes].join(", ")}; this needs ${scope}.`;
}

export function requireScope(req: FastifyRequest, scope: ApiScope): Principal {
  const p = requirePrincipal(req);
  if (!hasScope(p, scope)) throw new AccessDeniedError(403, "InsufficientScope", insufficient(p, scope));
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

export interface AuthenticatorDeps {
  access: AccessStore;
  verifier?: EntraTokenVerifier | undefined;
  apps: readonly EntraApp[];
  /** The dashboard's client id: the one client whose delegated tokens (people signed in) are accepted. */
  dashboardClientId?: string | undefined;
  /** App-role values per role (defaults: DEFAULT_ROLE_VALUES). */
  roles?: EntraRoles | undefined;
  people?: readonly EntraPerson[] | undefined;
  clock: Clock;
}

/** The first of these claims that is a non-empty string: `stringClaim(claims, "upn", "unique_name")`. */
function stringClaim(claims: Record<string, unknown>, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = claims[n];
    if (typeof v === "string" && v.trim() !== "") return v.trim();
  }
  return undefined;
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const touched = new Map<string, number>();
  const apps = new Map(deps.apps.map((a) => [a.appId.toLowerCase(), a]));
  const people = new Map((deps.people ?? []).map((p) => [p.userPrincipalName.toLowerCase(), p]));
  // App-role value (case-insensitive) -> the highest role it gives.
  const roleByValue = new Map<string, Role>();
  for (const role of ROLES) for (const value of deps.roles?.[role] ?? DEFAULT_ROLE_VALUES[role]) roleByValue.set(value.toLowerCase(), role);

  /** A person's role: the settings' entry, else the highest of their app roles. */
  function personRole(upn: string, appRoles: unknown): { role?: Role; tenants?: readonly string[] } {
    const listed = people.get(upn.toLowerCase());
    if (listed) return { role: listed.role, ...(listed.tenants ? { tenants: listed.tenants } : {}) };
    const values = Array.isArray(appRoles) ? appRoles.filter((v): v is string => typeof v === "string") : [];
    let best: Role | undefined;
    for (const v of values) {
      const role = roleByValue.get(v.toLowerCase());
      if (role !== undefined && (best === undefined || ROLES.indexOf(role) > ROLES.indexOf(best))) best = role;
    }
    return best === undefined ? {} : { role: best };
  }

  /** A delegated token: a person signed in to the dashboard, acting through it. */
  function fromPerson(req: FastifyRequest, verified: VerifiedToken, scopes: readonly string[]): void {
    if (!scopes.includes("access_as_user")) {
      req.authProblem = { code: "InvalidToken", message: "The access token does not carry the access_as_user scope: sign in through the dashboard, which asks for it." };
      return;
    }
    const dashboard = deps.dashboardClientId;
    if (dashboard === undefined || verified.appId.toLowerCase() !== dashboard.toLowerCase()) {
      req.authProblem = {
        status: 403,
        code: "ClientNotAllowed",
        message:
          dashboard === undefined
            ? `The access token acts for a person through the client ${verified.appId}; this server takes no tokens acting for people (entra.dashboard is not set): only the dashboard's client may act for people.`
            : `The access token acts for a person through the client ${verified.appId}, which is not this server's dashboard (${dashboard}): only the dashboard's client may act for people.`,
      };
      return;
    }
    const upn = stringClaim(verified.claims, "upn", "unique_name", "preferred_username");
    if (upn === undefined) {
      req.authProblem = { code: "InvalidToken", message: "The access token acts for a person but names none (no upn, unique_name or preferred_username claim)." };
      return;
    }
    const display = stringClaim(verified.claims, "name");
    const { role, tenants } = personRole(upn, verified.claims["roles"]);
    req.principal = {
      actor: `user:${upn.toLowerCase()}`,
      kind: "user",
      name: display !== undefined && display !== upn ? `${display} (${upn})` : upn,
      role,
      scopes: new Set(role === undefined ? [] : [ROLE_SCOPES[role]]),
      tenants,
    };
  }

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
      if (verified.delegatedScopes !== undefined) return fromPerson(req, verified, verified.delegatedScopes);
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
