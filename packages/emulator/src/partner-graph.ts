/** Graph shapes for MSP mode: GDAP customers and relationships, application registrations (credential expiry), licences. */
import type { AppRecord } from "./apps.js";
import type { Tenant } from "./model.js";
import type { GdapRelationship } from "./partner.js";
import { guidFor } from "./prng.js";
import type { EmulatorState } from "./state.js";

export const READ_RELATIONSHIPS = ["DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All"];
export const READ_APPLICATIONS = ["Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
export const READ_SKUS = ["Organization.Read.All", "Organization.ReadWrite.All", "LicenseAssignment.Read.All", "Directory.Read.All", "Directory.ReadWrite.All"];

/** microsoft.graph.delegatedAdminCustomer: one per customer with at least one relationship (any status but terminated). */
export function delegatedAdminCustomers(relationships: readonly GdapRelationship[], partnerTenantId: string): Record<string, unknown>[] {
  const seen = new Map<string, Record<string, unknown>>();
  for (const r of relationships)
    if (r.partnerTenantId === partnerTenantId && r.status !== "terminated" && !seen.has(r.customerTenantId))
      seen.set(r.customerTenantId, { id: r.customerTenantId, tenantId: r.customerTenantId, displayName: r.customerDisplayName });
  return [...seen.values()];
}

export function projectRelationship(r: GdapRelationship): Record<string, unknown> {
  return {
    id: r.id,
    displayName: r.displayName,
    duration: r.duration,
    status: r.status,
    autoExtendDuration: "PT0S",
    createdDateTime: r.createdDateTime,
    lastModifiedDateTime: r.activatedDateTime,
    activatedDateTime: r.activatedDateTime,
    endDateTime: r.endDateTime,
    customer: { tenantId: r.customerTenantId, displayName: r.customerDisplayName },
    accessDetails: { unifiedRoles: r.roleDefinitionIds.map((roleDefinitionId) => ({ roleDefinitionId })) },
  };
}

/** microsoft.graph.delegatedAdminAccessAssignment: the relationship's roles given to the partner's admin agents group. */
export function projectAccessAssignment(r: GdapRelationship): Record<string, unknown> {
  return {
    id: r.accessAssignmentId,
    status: r.status === "active" ? "active" : "deleted",
    createdDateTime: r.activatedDateTime,
    lastModifiedDateTime: r.activatedDateTime,
    accessContainer: { accessContainerId: guidFor(`admin-agents/${r.partnerTenantId}`), accessContainerType: "securityGroup" },
    accessDetails: { unifiedRoles: r.roleDefinitionIds.map((roleDefinitionId) => ({ roleDefinitionId })) },
  };
}

/** `customer/tenantId eq '<id>'` (the one filter the emulator supports here). */
export function parseRelationshipFilter(text: string): ((r: GdapRelationship) => boolean) | undefined {
  const m = /^\s*customer\/tenantId\s+eq\s+'([^']*)'\s*$/i.exec(text);
  if (!m) return undefined;
  const id = (m[1] as string).toLowerCase();
  return (r) => r.customerTenantId.toLowerCase() === id;
}

/** `appId eq '<id>'`. */
export function parseApplicationFilter(text: string): ((a: AppRecord) => boolean) | undefined {
  const m = /^\s*appId\s+eq\s+'([^']*)'\s*$/i.exec(text);
  if (!m) return undefined;
  const id = (m[1] as string).toLowerCase();
  return (a) => a.clientId.toLowerCase() === id;
}

/** The tenant an app is registered in: the partner's apps live in the partner tenant, everything else in the first tenant. */
export function applicationsIn(state: EmulatorState, tenant: Tenant): AppRecord[] {
  const partnerApps = new Set([state.mainApp, state.readOnlyApp, ...(state.expiredSecretApp ? [state.expiredSecretApp] : [])]);
  const partnerHome = state.partner?.partner.id ?? state.tenants[0]?.id;
  const firstHome = state.tenants[0]?.id;
  return [...state.apps.values()].filter((a) => (partnerApps.has(a) ? partnerHome : firstHome) === tenant.id);
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
/** Secrets without a set expiry show Entra's longest choice (two years) from a fixed creation date. */
const SECRET_CREATED = Date.UTC(2025, 0, 15);
const TWO_YEARS = 730 * 86_400_000;

export function projectApplication(a: AppRecord, state: EmulatorState): Record<string, unknown> {
  const created = SECRET_CREATED;
  const passwordCredentials =
    a.secret === undefined
      ? []
      : [{
          customKeyIdentifier: null,
          displayName: "mfactl secret",
          endDateTime: iso(a.secretExpiresAt ?? created + TWO_YEARS),
          hint: a.secret.slice(0, 3),
          keyId: guidFor(`password-credential/${a.clientId}`),
          secretText: null,
          startDateTime: iso(Math.min(created, (a.secretExpiresAt ?? created) - 86_400_000)),
        }];
  const keyCredentials = a.certificates.map((c) => ({
    customKeyIdentifier: c.sha1Hex.toUpperCase(),
    displayName: "CN=mfactl emulator client",
    endDateTime: iso(created + TWO_YEARS),
    key: null,
    keyId: guidFor(`key-credential/${a.clientId}/${c.sha1Hex}`),
    startDateTime: iso(created),
    type: "AsymmetricX509Cert",
    usage: "Verify",
  }));
  return {
    id: guidFor(`application/${a.clientId}`),
    appId: a.clientId,
    displayName: a.displayName,
    signInAudience: state.partner && (a === state.mainApp || a === state.expiredSecretApp) ? "AzureADMultipleOrgs" : "AzureADMyOrg",
    isFallbackPublicClient: a.publicClient === true,
    identifierUris: [...a.api.identifierUris],
    passwordCredentials,
    keyCredentials,
  };
}

/** Service plan ids of Entra ID P1 (AAD_PREMIUM) and P2 (AAD_PREMIUM_P2), as Microsoft publishes them. */
const AAD_PREMIUM = { servicePlanId: "41781fb2-bc02-4b7c-bd55-b576c07bb09d", servicePlanName: "AAD_PREMIUM", provisioningStatus: "Success", appliesTo: "User" };
const EXCHANGE = { servicePlanId: "efb87545-963c-4e0d-99df-69c6916d9eb0", servicePlanName: "EXCHANGE_S_ENTERPRISE", provisioningStatus: "Success", appliesTo: "User" };
const EXCHANGE_BASIC = { servicePlanId: "9aaf7827-d63c-4b61-89c3-182f06f82e5c", servicePlanName: "EXCHANGE_S_STANDARD", provisioningStatus: "Success", appliesTo: "User" };

/** microsoft.graph.subscribedSku: licensed tenants hold Microsoft 365 E3 (SPE_E3, with AAD_PREMIUM); others Business Basic. */
export function subscribedSkus(tenant: Tenant): Record<string, unknown>[] {
  const licensed = tenant.users.filter((u) => u.licensed).length;
  const sku = (skuId: string, skuPartNumber: string, plans: readonly Record<string, string>[]) => ({
    accountId: tenant.id,
    accountName: tenant.displayName,
    appliesTo: "User",
    capabilityStatus: "Enabled",
    consumedUnits: licensed,
    id: `${tenant.id}_${skuId}`,
    skuId,
    skuPartNumber,
    subscriptionIds: [guidFor(`subscription/${tenant.id}/${skuId}`)],
    prepaidUnits: { enabled: licensed + 10, suspended: 0, warning: 0, lockedOut: 0 },
    servicePlans: plans,
  });
  return tenant.premium
    ? [sku("05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3", [AAD_PREMIUM, EXCHANGE])]
    : [sku("3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS", [EXCHANGE_BASIC])];
}
