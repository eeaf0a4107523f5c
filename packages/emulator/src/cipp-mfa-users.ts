/** Rows of CIPP's ListMFAUsers, worked out from the tenant the way CIPP does: its Graph reads joined per user. */
import { transitiveGroupsOf, type ConditionalAccessPolicy, type Tenant, type UserRecord } from "./model.js";
import { registrationDetails } from "./posture.js";

export interface CippCaPolicyRow {
  DisplayName: string;
  UserIncluded: boolean;
  AllApps: boolean;
  PolicyState: string;
}

export interface CippMfaUserRow {
  UPN: string;
  ID: string;
  DisplayName: string;
  AccountEnabled: boolean;
  UserType: string;
  isLicensed: boolean;
  /** null when the listing did not return the state. */
  PerUser: string | null;
  /** null when the registration report cannot be read (no premium licence) or does not list the user (disabled). */
  MFARegistration: boolean | null;
  MFACapable: boolean | null;
  MFAMethods: string[];
  CoveredByCA: string;
  CAPolicies: CippCaPolicyRow[];
  CoveredBySD: boolean;
  IsAdmin: boolean;
  Tenant: string;
}

/** What CIPP writes when Conditional Access cannot be read (no Entra ID P1/P2). */
export const CA_NOT_LICENSED = "Not Licensed for Conditional Access";

/** The grant guarantees MFA: `mfa` or an MFA authentication strength, and with OR no other control to choose instead. */
function requiresMfa(p: ConditionalAccessPolicy): boolean {
  const grant = p.grantControls;
  if (!grant) return false;
  const builtIn = grant.builtInControls.map((c) => c.toLowerCase());
  if (!builtIn.includes("mfa") && grant.authenticationStrength?.requirementsSatisfied !== "mfa") return false;
  const others = builtIn.filter((c) => c !== "mfa").length + grant.customAuthenticationFactors.length + grant.termsOfUse.length;
  return grant.operator === "AND" || others === 0;
}

function includes(p: ConditionalAccessPolicy, u: UserRecord, groups: ReadonlySet<string>, roles: ReadonlySet<string>): boolean {
  const c = p.conditions.users;
  const named = (list: readonly string[]) =>
    list.some((x) => x.toLowerCase() === u.id || (x === "GuestsOrExternalUsers" && u.userType === "Guest"));
  const included = c.includeUsers.includes("All") || named(c.includeUsers) || c.includeGroups.some((g) => groups.has(g.toLowerCase())) || c.includeRoles.some((r) => roles.has(r.toLowerCase()));
  const excluded = named(c.excludeUsers) || c.excludeGroups.some((g) => groups.has(g.toLowerCase())) || c.excludeRoles.some((r) => roles.has(r.toLowerCase()));
  return included && !excluded;
}

/** One user's row; `perUser` is the state as CIPP's user listing returned it. */
export function cippMfaUserRow(tenant: Tenant, u: UserRecord, perUser: string | null): CippMfaUserRow {
  const roles = new Set(tenant.roleAssignments.filter((a) => a.principalId === u.id).map((a) => a.roleDefinitionId.toLowerCase()));
  const groups = new Set(transitiveGroupsOf(tenant, u.id, "user").map((g) => g.id.toLowerCase()));
  const adminIds = new Set(tenant.roleAssignments.map((a) => a.principalId));
  const report = tenant.premium && u.accountEnabled ? registrationDetails(u, adminIds) : undefined;
  let coveredByCA = CA_NOT_LICENSED;
  const caPolicies: CippCaPolicyRow[] = [];
  if (tenant.premium) {
    const applying = tenant.conditionalAccessPolicies.filter((p) => p.state !== "disabled" && requiresMfa(p) && includes(p, u, groups, roles));
    for (const p of applying) caPolicies.push({ DisplayName: p.displayName, UserIncluded: true, AllApps: p.conditions.applications.includeApplications.includes("All"), PolicyState: p.state });
    const enforced = caPolicies.filter((p) => p.PolicyState === "enabled");
    coveredByCA = enforced.some((p) => p.AllApps) ? "Enforced - All Apps" : enforced.length > 0 ? "Enforced - Specific Apps" : "Not Enforced";
  }
  return {
    UPN: u.userPrincipalName,
    ID: u.id,
    DisplayName: u.displayName,
    AccountEnabled: u.accountEnabled,
    UserType: u.userType,
    isLicensed: u.licensed,
    PerUser: perUser,
    MFARegistration: report ? (report["isMfaRegistered"] as boolean) : null,
    MFACapable: report ? (report["isMfaCapable"] as boolean) : null,
    MFAMethods: report ? [...(report["methodsRegistered"] as string[])] : [],
    CoveredByCA: coveredByCA,
    CAPolicies: caPolicies,
    CoveredBySD: tenant.securityDefaultsEnabled,
    IsAdmin: roles.size > 0,
    Tenant: tenant.domain,
  };
}
