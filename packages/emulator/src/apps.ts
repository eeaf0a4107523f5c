/** App registrations, their per-tenant consents (Graph application roles), the APIs they expose and the API roles granted to them. */
import { describeCertificate, type CertificateInfo } from "./ca.js";
import { createPrng } from "./prng.js";
import { InvalidOptionError } from "./options.js";

/** Group membership, directory roles and registered methods: what the MFA safety checks read. */
const DIRECTORY_READ_ROLES = ["GroupMember.Read.All", "RoleManagement.Read.Directory", "UserAuthenticationMethod.Read.All"];
/** Sign-in activity and the registration report (the posture report's sources). */
const REPORT_READ_ROLES = ["AuditLog.Read.All"];
export const MAIN_APP_ROLES: readonly string[] = ["User.Read.All", "Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod", ...DIRECTORY_READ_ROLES, ...REPORT_READ_ROLES];
export const READ_ONLY_APP_ROLES: readonly string[] = ["User.Read.All", "Policy.Read.All", ...DIRECTORY_READ_ROLES, ...REPORT_READ_ROLES];

/** Roles the seeded "mfactl API" defines (application permissions of mfactl's HTTP server). */
export const API_APP_ROLES: readonly string[] = ["MfaState.Read", "MfaState.ReadWrite", "Admin"];
/** The delegated scope the seeded "mfactl API" defines (what a signed-in dashboard asks for). */
export const API_SCOPES: readonly string[] = ["access_as_user"];

/** The manifest's accessTokenAcceptedVersion: null or 1 gives v1.0 access tokens, 2 gives v2.0 ones. */
export type AccessTokenVersion = 1 | 2;

/** What an app registration exposes as an API ("Expose an API", app roles, manifest). */
export interface ApiExposure {
  /** Application ID URIs, e.g. `api://<client id>`; the registered spelling. */
  identifierUris: string[];
  /** The values of the app roles it defines (what lands in `roles`). */
  appRoles: string[];
  accessTokenAcceptedVersion: AccessTokenVersion | null;
  /** Values of the delegated permission scopes it defines ("Expose an API" > scopes), e.g. `access_as_user`: what lands in `scp`. */
  scopes: string[];
}

/** Redirect URIs per platform: `web` (confidential when the app has a credential) and `spa` (public, PKCE and CORS). */
export interface RedirectUris {
  web: string[];
  spa: string[];
}

/** tenant id (lower case) or "*" -> roles; null = removed there (overrides "*"). */
export type PerTenantRoles = Map<string, string[] | null>;

export interface AppRecord {
  clientId: string;
  displayName: string;
  secret?: string;
  /** Epoch ms after which the secret is rejected with AADSTS7000222. */
  secretExpiresAt?: number;
  certificates: CertificateInfo[];
  /**
   * tenant id (lower case) or "*" -> Graph application roles consented there; null = consent removed (overrides "*").
   * An entry (even with no roles) means the app has a service principal in that tenant: it can get tokens there and,
   * when it exposes an API, be requested as a resource there.
   */
  consents: PerTenantRoles;
  /** What the app exposes to other apps (every app can be a resource; most define nothing). */
  api: ApiExposure;
  /** Resource app client id (lower case) -> app roles of that API assigned to this app, per tenant ([] = assigned without a role). */
  apiGrants: Map<string, PerTenantRoles>;
  /** Where the authorize endpoint may send codes (exact match). */
  redirectUris: RedirectUris;
  /** tenant id (lower case) -> user id (lower case) -> app roles of this app assigned to the user there ([] = default access). */
  userRoles: Map<string, Map<string, string[]>>;
  /** "Allow public client flows": device code (and refresh tokens) without a client credential. */
  publicClient?: boolean;
  /** tenant id (lower case) or "*" -> Graph delegated permissions (scopes) consented there; only where the app is present. */
  delegatedScopes?: PerTenantRoles;
}

/** What POST /apps accepts. */
export interface AppRegistration {
  clientId: string;
  displayName?: string;
  clientSecret?: string;
  /** ISO date-time; a past date makes the secret expired (AADSTS7000222). */
  secretExpiresAt?: string;
  /** PEM certificate (a private key in the same text is ignored). */
  certificatePem?: string;
  /** "<tenant id, domain or *>" -> Graph roles; an entry gives the app a service principal there. Default none. */
  tenants?: Record<string, string[]>;
  /** Application ID URIs the app exposes, e.g. ["api://<clientId>"] (unique across apps). */
  identifierUris?: string[];
  /** Values of the app roles the API defines, e.g. ["MfaState.Read"]. */
  appRoles?: string[];
  /** null or 1 (default): v1.0 access tokens for this API; 2: v2.0. */
  accessTokenAcceptedVersion?: AccessTokenVersion | null;
  /**
   * "<resource client id or identifier URI>" -> "<tenant id, domain or *>" -> app roles of that API ([] = assigned
   * without a role). The resource must be registered already (or be this app). A tenant named here that `tenants`
   * does not name gets a service principal without Graph roles.
   */
  apiGrants?: Record<string, Record<string, string[]>>;
  /** Values of the delegated scopes the API defines, e.g. ["access_as_user"] (`scp` of user tokens). */
  scopes?: string[];
  /** Redirect URIs: `spa` ones make a public client (PKCE required, codes redeemed cross-origin without a secret). */
  redirectUris?: { web?: string[]; spa?: string[] };
}

const SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-";

/** Shaped like Entra client secrets: three characters, "8Q~", then 34 more. */
export function seededSecret(seedText: string): string {
  const prng = createPrng(seedText);
  const chars = (n: number) => Array.from({ length: n }, () => SECRET_ALPHABET.charAt(prng.int(SECRET_ALPHABET.length))).join("");
  return `${chars(3)}8Q~${chars(34)}`;
}

function rolesFor(map: PerTenantRoles, tenantId: string): string[] | undefined {
  const own = map.get(tenantId.toLowerCase());
  if (own === null) return undefined;
  return own ?? map.get("*") ?? undefined;
}

/** The app's roles in a tenant, or undefined when it is not consented there (AADSTS700016). */
export function rolesIn(app: AppRecord, tenantId: string): string[] | undefined {
  return rolesFor(app.consents, tenantId);
}

/** Graph delegated scopes consented for the app in a tenant, or undefined when it has no service principal there (AADSTS65001). */
export function delegatedScopesIn(app: AppRecord, tenantId: string): string[] | undefined {
  if (rolesIn(app, tenantId) === undefined) return undefined;
  return app.delegatedScopes ? (rolesFor(app.delegatedScopes, tenantId) ?? []) : [];
}

/** The roles of `resource`'s API assigned to `caller` in a tenant, or undefined when it holds no assignment there. */
export function apiGrantIn(caller: AppRecord, resource: AppRecord, tenantId: string): string[] | undefined {
  const grants = caller.apiGrants.get(resource.clientId);
  return grants ? rolesFor(grants, tenantId) : undefined;
}

/** Gives the app a service principal (no Graph roles) in a tenant it is not in; a removed consent stays removed. */
export function ensurePresence(app: AppRecord, tenantKey: string): void {
  if (!app.consents.has(tenantKey) && (tenantKey === "*" || !app.consents.has("*"))) app.consents.set(tenantKey, []);
}

export const noApi = (): ApiExposure => ({ identifierUris: [], appRoles: [], accessTokenAcceptedVersion: null, scopes: [] });

const noRedirects = (): RedirectUris => ({ web: [], spa: [] });

/** The roles of `app` assigned to a user in a tenant (only those the app still defines), or undefined when the user has no assignment. */
export function userRolesIn(app: AppRecord, tenantId: string, userId: string): string[] | undefined {
  const roles = app.userRoles.get(tenantId.toLowerCase())?.get(userId.toLowerCase());
  return roles?.filter((r) => app.api.appRoles.includes(r));
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Entra's rules for a redirect URI: absolute http(s), https unless loopback, no fragment, no wildcard. */
export function validateRedirectUris(value: unknown, platform: "web" | "spa"): string[] {
  if (!Array.isArray(value) || !value.every((u) => typeof u === "string"))
    throw new InvalidOptionError(`redirectUris.${platform} must be a list of absolute URIs, e.g. ["http://127.0.0.1:5173/auth/callback"]`);
  for (const uri of value as string[]) {
    const url = URL.canParse(uri) ? new URL(uri) : undefined;
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || /\s/.test(uri))
      throw new InvalidOptionError(`redirect URI '${uri}' must be an absolute http(s) URI`);
    if (url.protocol === "http:" && !LOOPBACK_HOSTS.has(url.hostname)) throw new InvalidOptionError(`redirect URI '${uri}' must use https (http is only allowed for localhost, 127.0.0.1 and [::1])`);
    if (uri.includes("#")) throw new InvalidOptionError(`redirect URI '${uri}' must not have a fragment`);
    if (uri.includes("*")) throw new InvalidOptionError(`redirect URI '${uri}' must not contain a wildcard`);
    if (uri.length > 256) throw new InvalidOptionError(`redirect URI '${uri.slice(0, 40)}...' is longer than 256 characters`);
  }
  return [...new Set(value as string[])];
}

export interface SeededApps {
  main: AppRecord;
  readOnly: AppRecord;
  /** "mfactl API": the resource mfactl's HTTP server accepts tokens for, present in the first tenant only. */
  api: AppRecord;
  /** "mfactl dashboard": a SPA (public client) in the first tenant, no redirect URI until one is registered. */
  dashboard: AppRecord;
  /** "CIPP automation": MfaState.ReadWrite on the API in the first tenant. */
  apiReadWrite: AppRecord;
  /** "Read-only automation": MfaState.Read on the API in the first tenant. */
  apiReadOnly: AppRecord;
}

export function seededApps(seed: string, tenantIds: readonly string[], clientCertificate: CertificateInfo): SeededApps {
  const consentAll = (roles: readonly string[]) => new Map<string, string[] | null>(tenantIds.map((id) => [id.toLowerCase(), [...roles]]));
  const main: AppRecord = {
    clientId: createPrng(`${seed}/app/main`).guid(),
    displayName: "mfactl",
    secret: seededSecret(`${seed}/app/main/secret`),
    certificates: [clientCertificate],
    consents: consentAll(MAIN_APP_ROLES),
    api: noApi(),
    apiGrants: new Map(),
    redirectUris: noRedirects(),
    userRoles: new Map(),
  };
  const readOnly: AppRecord = {
    clientId: createPrng(`${seed}/app/read-only`).guid(),
    displayName: "mfactl (read only)",
    secret: seededSecret(`${seed}/app/read-only/secret`),
    certificates: [],
    consents: consentAll(READ_ONLY_APP_ROLES),
    api: noApi(),
    apiGrants: new Map(),
    redirectUris: noRedirects(),
    userRoles: new Map(),
  };
  // The MSP's own tenant: where the API is registered and its automation apps live.
  const home = (tenantIds[0] ?? "").toLowerCase();
  const apiClientId = createPrng(`${seed}/app/api`).guid();
  const api: AppRecord = {
    clientId: apiClientId,
    displayName: "mfactl API",
    certificates: [],
    consents: new Map([[home, []]]),
    api: { identifierUris: [`api://${apiClientId}`], appRoles: [...API_APP_ROLES], accessTokenAcceptedVersion: null, scopes: [...API_SCOPES] },
    apiGrants: new Map(),
    redirectUris: noRedirects(),
    userRoles: new Map(),
  };
  // The web dashboard: a SPA (public client, no credential) that signs users in; redirect URIs are registered at run time.
  const dashboard: AppRecord = {
    clientId: createPrng(`${seed}/app/dashboard`).guid(),
    displayName: "mfactl dashboard",
    certificates: [],
    consents: new Map([[home, []]]),
    api: noApi(),
    apiGrants: new Map(),
    redirectUris: noRedirects(),
    userRoles: new Map(),
  };
  const caller = (key: string, displayName: string, role: string): AppRecord => ({
    clientId: createPrng(`${seed}/app/${key}`).guid(),
    displayName,
    secret: seededSecret(`${seed}/app/${key}/secret`),
    certificates: [],
    consents: new Map([[home, []]]),
    api: noApi(),
    apiGrants: new Map([[apiClientId, new Map([[home, [role]]])]]),
    redirectUris: noRedirects(),
    userRoles: new Map(),
  });
  return {
    main,
    readOnly,
    api,
    dashboard,
    apiReadWrite: caller("api-caller/read-write", "CIPP automation", "MfaState.ReadWrite"),
    apiReadOnly: caller("api-caller/read-only", "Read-only automation", "MfaState.Read"),
  };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function validateRoles(roles: unknown): string[] {
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === "string" && r.length > 0))
    throw new InvalidOptionError("roles must be a list of application role names, e.g. [\"User.Read.All\"]");
  return [...(roles as string[])];
}

/** Roles of an API assigned to a caller: each must be one the API defines. */
export function validateApiRoles(roles: unknown, resource: AppRecord): string[] {
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === "string" && r.length > 0))
    throw new InvalidOptionError(`roles must be a list of app role values of '${resource.displayName}' (${resource.api.appRoles.join(", ") || "it defines none"}), or [] for an assignment without a role`);
  const unknown = (roles as string[]).filter((r) => !resource.api.appRoles.includes(r));
  if (unknown.length > 0)
    throw new InvalidOptionError(`'${resource.displayName}' (${resource.clientId}) defines no app role ${unknown.map((r) => `'${r}'`).join(", ")}; it defines: ${resource.api.appRoles.join(", ") || "none"}`);
  return [...new Set(roles as string[])];
}

function validateApi(reg: AppRegistration): ApiExposure {
  const api = noApi();
  if (reg.identifierUris !== undefined) {
    if (!Array.isArray(reg.identifierUris) || !reg.identifierUris.every((u) => typeof u === "string" && URL.canParse(u) && !/\s/.test(u)))
      throw new InvalidOptionError("identifierUris must be a list of absolute URIs, e.g. [\"api://<clientId>\"]");
    const lower = reg.identifierUris.map((u) => u.toLowerCase());
    if (new Set(lower).size !== lower.length) throw new InvalidOptionError("identifierUris must not repeat a URI");
    api.identifierUris = [...reg.identifierUris];
  }
  if (reg.appRoles !== undefined) {
    // Entra's rule for an app role value: no spaces, and it cannot start with a dot.
    if (!Array.isArray(reg.appRoles) || !reg.appRoles.every((r) => typeof r === "string" && /^[^\s.][^\s]*$/.test(r)))
      throw new InvalidOptionError("appRoles must be a list of app role values without spaces, e.g. [\"MfaState.Read\"]");
    if (new Set(reg.appRoles).size !== reg.appRoles.length) throw new InvalidOptionError("appRoles must not repeat a value");
    api.appRoles = [...reg.appRoles];
  }
  if (reg.scopes !== undefined) {
    if (!Array.isArray(reg.scopes) || !reg.scopes.every((r) => typeof r === "string" && /^[^\s.][^\s]*$/.test(r)))
      throw new InvalidOptionError("scopes must be a list of delegated scope values without spaces, e.g. [\"access_as_user\"]");
    if (new Set(reg.scopes).size !== reg.scopes.length) throw new InvalidOptionError("scopes must not repeat a value");
    api.scopes = [...reg.scopes];
  }
  const version = reg.accessTokenAcceptedVersion;
  if (version !== undefined && version !== null && version !== 1 && version !== 2)
    throw new InvalidOptionError(`accessTokenAcceptedVersion must be null, 1 or 2, got ${JSON.stringify(version)}`);
  api.accessTokenAcceptedVersion = version ?? null;
  return api;
}

export interface RegistrationLookups {
  /** A tenant id or domain -> the tenant id. */
  resolveTenant: (ref: string) => string | undefined;
  /** A client id or identifier URI -> the registered app exposing it. */
  resolveResource: (ref: string) => AppRecord | undefined;
}

/** Is `ref` this app's client id or one of its identifier URIs? */
export function appIsNamed(app: AppRecord, ref: string): boolean {
  const key = ref.toLowerCase();
  return app.clientId === key || app.api.identifierUris.some((u) => u.toLowerCase() === key);
}

/** Builds an app from admin input. */
export function appFromRegistration(reg: AppRegistration, lookups: RegistrationLookups): AppRecord {
  const { resolveTenant } = lookups;
  if (typeof reg.clientId !== "string" || !GUID.test(reg.clientId)) throw new InvalidOptionError("clientId must be a GUID");
  if (reg.clientSecret !== undefined && (typeof reg.clientSecret !== "string" || reg.clientSecret.length === 0))
    throw new InvalidOptionError("clientSecret must be a non-empty string");
  // An app that only exposes an API needs no credential of its own (it is never a client), nor does a public client (SPA).
  if (reg.clientSecret === undefined && reg.certificatePem === undefined && reg.identifierUris === undefined && reg.appRoles === undefined && reg.redirectUris === undefined)
    throw new InvalidOptionError("an app needs clientSecret or certificatePem (or, for an API that is never a client, identifierUris or appRoles; for a public client, redirectUris)");
  if (reg.redirectUris !== undefined && (typeof reg.redirectUris !== "object" || reg.redirectUris === null || Array.isArray(reg.redirectUris)))
    throw new InvalidOptionError("redirectUris must be { \"web\"?: [...], \"spa\"?: [...] }");
  let secretExpiresAt: number | undefined;
  if (reg.secretExpiresAt !== undefined) {
    secretExpiresAt = Date.parse(reg.secretExpiresAt);
    if (Number.isNaN(secretExpiresAt)) throw new InvalidOptionError("secretExpiresAt must be an ISO date-time");
  }
  const certificates: CertificateInfo[] = [];
  if (reg.certificatePem !== undefined) {
    try {
      certificates.push(describeCertificate(reg.certificatePem));
    } catch {
      throw new InvalidOptionError("certificatePem must contain a PEM certificate");
    }
  }
  const tenants = reg.tenants ?? {};
  if (typeof tenants !== "object" || tenants === null || Array.isArray(tenants)) throw new InvalidOptionError("tenants must map tenant ids (or *) to roles");
  const tenantKey = (ref: string) => {
    const key = ref === "*" ? "*" : resolveTenant(ref);
    if (key === undefined) throw new InvalidOptionError(`unknown tenant "${ref}"`);
    return key.toLowerCase();
  };
  const consents = new Map<string, string[] | null>();
  for (const [ref, roles] of Object.entries(tenants)) consents.set(tenantKey(ref), validateRoles(roles));
  const app: AppRecord = {
    clientId: reg.clientId.toLowerCase(),
    displayName: reg.displayName ?? "registered app",
    certificates,
    consents,
    api: validateApi(reg),
    apiGrants: new Map(),
    redirectUris: {
      web: reg.redirectUris?.web === undefined ? [] : validateRedirectUris(reg.redirectUris.web, "web"),
      spa: reg.redirectUris?.spa === undefined ? [] : validateRedirectUris(reg.redirectUris.spa, "spa"),
    },
    userRoles: new Map(),
  };
  if (reg.clientSecret !== undefined) app.secret = reg.clientSecret;
  if (secretExpiresAt !== undefined) app.secretExpiresAt = secretExpiresAt;
  if (reg.apiGrants !== undefined) {
    if (typeof reg.apiGrants !== "object" || reg.apiGrants === null || Array.isArray(reg.apiGrants))
      throw new InvalidOptionError("apiGrants must map a resource (client id or identifier URI) to { \"<tenant>\": [roles] }");
    for (const [resourceRef, perTenant] of Object.entries(reg.apiGrants)) {
      // An app may hold roles on its own API (it then calls itself).
      const resource = appIsNamed(app, resourceRef) ? app : lookups.resolveResource(resourceRef);
      if (!resource) throw new InvalidOptionError(`apiGrants: no registered app has the client id or identifier URI '${resourceRef}' (register the API first)`);
      if (typeof perTenant !== "object" || perTenant === null || Array.isArray(perTenant))
        throw new InvalidOptionError(`apiGrants['${resourceRef}'] must map tenant ids (or *) to roles`);
      const grants: PerTenantRoles = app.apiGrants.get(resource.clientId) ?? new Map();
      for (const [ref, roles] of Object.entries(perTenant)) {
        const key = tenantKey(ref);
        grants.set(key, validateApiRoles(roles, resource));
        ensurePresence(app, key);
      }
      app.apiGrants.set(resource.clientId, grants);
    }
  }
  return app;
}
