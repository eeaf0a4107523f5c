/** App registrations and their per-tenant consents (application roles). */
import { describeCertificate, type CertificateInfo } from "./ca.js";
import { createPrng } from "./prng.js";
import { InvalidOptionError } from "./options.js";

/** Group membership, directory roles and registered methods: what the MFA safety checks read. */
const DIRECTORY_READ_ROLES = ["GroupMember.Read.All", "RoleManagement.Read.Directory", "UserAuthenticationMethod.Read.All"];
/** Sign-in activity and the registration report (the posture report's sources). */
const REPORT_READ_ROLES = ["AuditLog.Read.All"];
export const MAIN_APP_ROLES: readonly string[] = ["User.Read.All", "Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod", ...DIRECTORY_READ_ROLES, ...REPORT_READ_ROLES];
export const READ_ONLY_APP_ROLES: readonly string[] = ["User.Read.All", "Policy.Read.All", ...DIRECTORY_READ_ROLES, ...REPORT_READ_ROLES];

export interface AppRecord {
  clientId: string;
  displayName: string;
  secret?: string;
  /** Epoch ms after which the secret is rejected with AADSTS7000222. */
  secretExpiresAt?: number;
  certificates: CertificateInfo[];
  /** tenant id (lower case) or "*" -> application roles consented there; null = consent removed (overrides "*"). */
  consents: Map<string, string[] | null>;
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
  /** "<tenant id, domain or *>" -> roles. */
  tenants: Record<string, string[]>;
}

const SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-";

/** Shaped like Entra client secrets: three characters, "8Q~", then 34 more. */
export function seededSecret(seedText: string): string {
  const prng = createPrng(seedText);
  const chars = (n: number) => Array.from({ length: n }, () => SECRET_ALPHABET.charAt(prng.int(SECRET_ALPHABET.length))).join("");
  return `${chars(3)}8Q~${chars(34)}`;
}

/** The app's roles in a tenant, or undefined when it is not consented there (AADSTS700016). */
export function rolesIn(app: AppRecord, tenantId: string): string[] | undefined {
  const own = app.consents.get(tenantId.toLowerCase());
  if (own === null) return undefined;
  return own ?? app.consents.get("*") ?? undefined;
}

export function seededApps(seed: string, tenantIds: readonly string[], clientCertificate: CertificateInfo): { main: AppRecord; readOnly: AppRecord } {
  const consentAll = (roles: readonly string[]) => new Map<string, string[] | null>(tenantIds.map((id) => [id.toLowerCase(), [...roles]]));
  const main: AppRecord = {
    clientId: createPrng(`${seed}/app/main`).guid(),
    displayName: "mfactl",
    secret: seededSecret(`${seed}/app/main/secret`),
    certificates: [clientCertificate],
    consents: consentAll(MAIN_APP_ROLES),
  };
  const readOnly: AppRecord = {
    clientId: createPrng(`${seed}/app/read-only`).guid(),
    displayName: "mfactl (read only)",
    secret: seededSecret(`${seed}/app/read-only/secret`),
    certificates: [],
    consents: consentAll(READ_ONLY_APP_ROLES),
  };
  return { main, readOnly };
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function validateRoles(roles: unknown): string[] {
  if (!Array.isArray(roles) || !roles.every((r) => typeof r === "string" && r.length > 0))
    throw new InvalidOptionError("roles must be a list of application role names, e.g. [\"User.Read.All\"]");
  return [...(roles as string[])];
}

/** Builds an app from admin input; `resolveTenant` maps an id or domain to a tenant id. */
export function appFromRegistration(reg: AppRegistration, resolveTenant: (ref: string) => string | undefined): AppRecord {
  if (typeof reg.clientId !== "string" || !GUID.test(reg.clientId)) throw new InvalidOptionError("clientId must be a GUID");
  if (reg.clientSecret !== undefined && (typeof reg.clientSecret !== "string" || reg.clientSecret.length === 0))
    throw new InvalidOptionError("clientSecret must be a non-empty string");
  if (reg.clientSecret === undefined && reg.certificatePem === undefined)
    throw new InvalidOptionError("an app needs clientSecret or certificatePem");
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
  if (typeof reg.tenants !== "object" || reg.tenants === null) throw new InvalidOptionError("tenants must map tenant ids (or *) to roles");
  const consents = new Map<string, string[] | null>();
  for (const [ref, roles] of Object.entries(reg.tenants)) {
    const key = ref === "*" ? "*" : resolveTenant(ref);
    if (key === undefined) throw new InvalidOptionError(`unknown tenant "${ref}"`);
    consents.set(key.toLowerCase(), validateRoles(roles));
  }
  const app: AppRecord = { clientId: reg.clientId.toLowerCase(), displayName: reg.displayName ?? "registered app", certificates, consents };
  if (reg.clientSecret !== undefined) app.secret = reg.clientSecret;
  if (secretExpiresAt !== undefined) app.secretExpiresAt = secretExpiresAt;
  return app;
}
