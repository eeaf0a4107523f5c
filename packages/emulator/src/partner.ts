/**
 * MSP mode: a partner tenant with GDAP relationships to customer tenants, planted onboarding problems, and who holds
 * which directory roles where (a partner's admin agents hold the relationship's roles in the customer tenant).
 */
import type { AppRecord } from "./apps.js";
import { DIRECTORY_SYNCHRONIZATION_ACCOUNTS, GLOBAL_ADMINISTRATOR, type Tenant, type UserRecord } from "./model.js";
import type { SeedParams } from "./options.js";
import { createPrng } from "./prng.js";
import { seedTenant } from "./seed.js";

export const AUTHENTICATION_POLICY_ADMINISTRATOR = "0526716b-113d-4c15-b2c8-68e3c22b9f80";
export const PRIVILEGED_AUTHENTICATION_ADMINISTRATOR = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13";
export const GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";
export const USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1";

/** Roles that may write per-user MFA state (PATCH /users/{id}/authentication/requirements). */
export const MFA_WRITE_ROLES: readonly string[] = [AUTHENTICATION_POLICY_ADMINISTRATOR, PRIVILEGED_AUTHENTICATION_ADMINISTRATOR, GLOBAL_ADMINISTRATOR];

/** Graph delegated permissions the partner's app is consented for (what device-code and refresh-token grants give). */
export const PARTNER_DELEGATED_SCOPES: readonly string[] = [
  "User.Read.All", "Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod", "UserAuthenticationMethod.ReadWrite.All",
  "Directory.Read.All", "AuditLog.Read.All", "DelegatedAdminRelationship.Read.All",
];
/** Extra application permissions the main app holds in the partner tenant (its relationships and its own registration). */
export const PARTNER_EXTRA_APP_ROLES: readonly string[] = ["DelegatedAdminRelationship.Read.All", "Application.Read.All"];

export type GdapStatus = "active" | "approvalPending" | "expired" | "terminated";

/** microsoft.graph.delegatedAdminRelationship, the parts the emulator holds. */
export interface GdapRelationship {
  id: string;
  displayName: string;
  partnerTenantId: string;
  customerTenantId: string;
  customerDisplayName: string;
  status: GdapStatus;
  roleDefinitionIds: string[];
  /** The security group of the partner tenant the roles are assigned to (its admin agents). */
  accessAssignmentId: string;
  createdDateTime: string;
  activatedDateTime: string;
  endDateTime: string;
  duration: string;
}

export interface TenantRef {
  tenantId: string;
  domain: string;
  displayName: string;
}

export interface PlantedTenants {
  /** Relationship with Global Reader only: reads work, per-user MFA writes get 403. */
  missingRole: TenantRef;
  /** Active relationship, but the app has no service principal there (AADSTS700016 / AADSTS65001). */
  noConsent: TenantRef;
  /** Consented without Policy.Read.All (posture sources answer 403). */
  missingPermission: TenantRef;
  /** Consented, but no GDAP relationship at all (delegated: AADSTS50020). */
  noRelationship: TenantRef;
  /** Healthy otherwise, without Entra ID P1 (no AAD_PREMIUM service plan). */
  noLicence: TenantRef;
}

/** What the seed decides; apps are adjusted in applyPartnerApps once they exist. */
export interface PartnerSeed {
  partner: Tenant;
  customers: Tenant[];
  planted: { [K in keyof PlantedTenants]: Tenant } | undefined;
  relationships: GdapRelationship[];
}

const ref = (t: Tenant): TenantRef => ({ tenantId: t.id, domain: t.domain, displayName: t.displayName });
export const tenantRef = ref;

/** Seeded dates are fixed (never the wall clock), so the same seed gives the same relationships. */
const CREATED = Date.UTC(2025, 0, 15, 9, 30, 0);
const DURATION_DAYS = 730;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/** Index ranges that keep the streams of partner tenants apart from the ordinary tenants' (which stop below 10,000). */
const PARTNER_INDEX = 20_000;
const CUSTOMER_INDEX = 20_001;
const PLANTED_INDEX = 30_000;

const PLANTED: readonly { key: keyof PlantedTenants; label: string; name: string }[] = [
  { key: "missingRole", label: "missing-role", name: "Planted: relationship without Authentication Policy Administrator" },
  { key: "noConsent", label: "no-consent", name: "Planted: app not consented" },
  { key: "missingPermission", label: "missing-permission", name: "Planted: consent without Policy.Read.All" },
  { key: "noRelationship", label: "no-relationship", name: "Planted: no GDAP relationship" },
  { key: "noLicence", label: "no-licence", name: "Planted: no Entra ID P1 licence" },
];

export function seedPartner(seed: string, params: NonNullable<SeedParams["partner"]>): PartnerSeed {
  const users = params.usersPerCustomer;
  const partner = seedTenant(seed, PARTNER_INDEX, users, {
    id: createPrng(`${seed}/partner/tenant`).guid(),
    domain: "partner.onmicrosoft.com",
    displayName: "Partner (MSP)",
  });
  partner.premium = true;
  const customers: Tenant[] = [];
  for (let i = 0; i < params.customers; i++) {
    const t = seedTenant(seed, CUSTOMER_INDEX + i, users, {
      id: createPrng(`${seed}/partner/customer/${i}`).guid(),
      domain: `customer${i + 1}.onmicrosoft.com`,
      displayName: `Customer ${i + 1}`,
    });
    // Healthy customers are licensed (the posture report needs P1); their policies vary as the index says.
    t.premium = true;
    customers.push(t);
  }
  let planted: PartnerSeed["planted"];
  if (params.planted) {
    const made = PLANTED.map((p, i) => {
      const t = seedTenant(seed, PLANTED_INDEX + i, users, {
        id: createPrng(`${seed}/partner/planted/${p.label}`).guid(),
        domain: `planted-${p.label}.onmicrosoft.com`,
        displayName: p.name,
      });
      t.premium = p.key !== "noLicence";
      return [p.key, t] as const;
    });
    planted = Object.fromEntries(made) as { [K in keyof PlantedTenants]: Tenant };
  }
  const relationships: GdapRelationship[] = [];
  const relate = (t: Tenant, roles: string[]) => {
    const prng = createPrng(`${seed}/partner/relationship/${t.id}`);
    const created = CREATED + prng.int(86_400) * 1000;
    relationships.push({
      id: `${prng.guid()}-${t.id}`,
      displayName: `MSP GDAP ${t.displayName}`.slice(0, 50),
      partnerTenantId: partner.id,
      customerTenantId: t.id,
      customerDisplayName: t.displayName,
      status: "active",
      roleDefinitionIds: roles,
      accessAssignmentId: prng.guid(),
      createdDateTime: iso(created),
      activatedDateTime: iso(created + 3_600_000),
      endDateTime: iso(created + 3_600_000 + DURATION_DAYS * 86_400_000),
      duration: `P${DURATION_DAYS}D`,
    });
  };
  const full = [AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_READER];
  customers.forEach((t, i) => relate(t, i % 3 === 2 ? [...full, USER_ADMINISTRATOR] : [...full]));
  if (planted) {
    relate(planted.missingRole, [GLOBAL_READER]);
    relate(planted.noConsent, [...full]);
    relate(planted.missingPermission, [...full]);
    relate(planted.noLicence, [...full]);
  }
  return { partner, customers, planted, relationships };
}

export function allPartnerTenants(p: PartnerSeed): Tenant[] {
  return [p.partner, ...p.customers, ...(p.planted ? Object.values(p.planted) : [])];
}

/**
 * The partner's apps: the main app is multi-tenant, allows public client flows, holds delegated Graph permissions
 * everywhere it is consented, reads relationships in the partner tenant; the planted tenants take consent away.
 * With planted problems a second app, consented like the main one, has an expired secret.
 */
export function applyPartnerApps(p: PartnerSeed, main: AppRecord, seededNow: number, expiredSecretApp: AppRecord | undefined): void {
  main.publicClient = true;
  main.delegatedScopes = new Map([["*", [...PARTNER_DELEGATED_SCOPES]]]);
  main.secretExpiresAt ??= seededNow + DURATION_DAYS * 86_400_000;
  // Licences (subscribedSkus) are read with Organization.Read.All: the partner's app holds it in the partner's tenants.
  for (const app of expiredSecretApp ? [main, expiredSecretApp] : [main])
    for (const t of allPartnerTenants(p)) {
      const key = t.id.toLowerCase();
      const roles = app.consents.get(key);
      if (roles) app.consents.set(key, [...new Set([...roles, "Organization.Read.All"])]);
    }
  const partnerKey = p.partner.id.toLowerCase();
  const base = main.consents.get(partnerKey) ?? [];
  main.consents.set(partnerKey, [...new Set([...base, ...PARTNER_EXTRA_APP_ROLES])]);
  for (const app of expiredSecretApp ? [main, expiredSecretApp] : [main]) {
    if (!p.planted) continue;
    app.consents.set(p.planted.noConsent.id.toLowerCase(), null);
    const reduced = (app.consents.get(p.planted.missingPermission.id.toLowerCase()) ?? []).filter((r) => r !== "Policy.Read.All");
    app.consents.set(p.planted.missingPermission.id.toLowerCase(), reduced);
    app.delegatedScopes ??= new Map([["*", [...PARTNER_DELEGATED_SCOPES]]]);
    app.delegatedScopes.set(p.planted.missingPermission.id.toLowerCase(), PARTNER_DELEGATED_SCOPES.filter((s) => s !== "Policy.Read.All"));
  }
}

/** The partner as a test sees it (`emu.partner`). */
export interface PartnerInfo {
  tenantId: string;
  domain: string;
  displayName: string;
  admin: { userPrincipalName: string };
  customers: TenantRef[];
  /** Present when seeded with `planted: true`. */
  planted?: PlantedTenants & { expiredSecretApp: { clientId: string; clientSecret: string } };
}

export function partnerInfo(p: PartnerSeed, expiredSecretApp: AppRecord | undefined): PartnerInfo {
  const info: PartnerInfo = {
    tenantId: p.partner.id,
    domain: p.partner.domain,
    displayName: p.partner.displayName,
    admin: { userPrincipalName: `admin@${p.partner.domain}` },
    customers: p.customers.map(ref),
  };
  if (p.planted && expiredSecretApp) {
    const pl = p.planted;
    info.planted = {
      missingRole: ref(pl.missingRole), noConsent: ref(pl.noConsent), missingPermission: ref(pl.missingPermission),
      noRelationship: ref(pl.noRelationship), noLicence: ref(pl.noLicence),
      expiredSecretApp: { clientId: expiredSecretApp.clientId, clientSecret: expiredSecretApp.secret ?? "" },
    };
  }
  return info;
}

/** Directory roles (template ids) a user holds in their own tenant. */
export function ownRoles(tenant: Tenant, userId: string): string[] {
  const out = tenant.roleAssignments.filter((a) => a.principalId === userId && a.roleDefinitionId !== DIRECTORY_SYNCHRONIZATION_ACCOUNTS).map((a) => a.roleDefinitionId);
  return [...new Set(out)];
}

/**
 * A partner's admin agents: users holding any directory role in the partner tenant (the emulator's stand-in for the
 * AdminAgents group GDAP access assignments name).
 */
export function isAdminAgent(partner: Tenant, user: UserRecord): boolean {
  return user.accountEnabled && ownRoles(partner, user.id).length > 0;
}

/** Active relationships from a partner tenant to a customer tenant. */
export function activeRelationships(relationships: readonly GdapRelationship[], partnerTenantId: string, customerTenantId: string): GdapRelationship[] {
  return relationships.filter((r) => r.status === "active" && r.partnerTenantId === partnerTenantId && r.customerTenantId === customerTenantId);
}

/** The roles a user of `home` holds in `target`: their own there, or (cross-tenant) their relationships' roles. */
export function rolesInTenant(relationships: readonly GdapRelationship[], home: Tenant, user: UserRecord, target: Tenant): string[] {
  if (home.id === target.id) return ownRoles(home, user.id);
  if (!isAdminAgent(home, user)) return [];
  return [...new Set(activeRelationships(relationships, home.id, target.id).flatMap((r) => r.roleDefinitionIds))];
}
