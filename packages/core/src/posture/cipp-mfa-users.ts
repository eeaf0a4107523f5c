import type { MfaState } from "../domain/mfa-state.js";
import type { UserPosture } from "./evaluate-posture.js";

/**
 * A posture result as a row of CIPP's `GET /api/ListMFAUsers` (docs/posture.md, "CIPP mapping"):
 * for front ends that speak CIPP's dialect. Unknown values are `null`, as CIPP writes them.
 */
export const CIPP_MFA_USER_COLUMNS = [
  "UPN",
  "ID",
  "DisplayName",
  "AccountEnabled",
  "UserType",
  "isLicensed",
  "PerUser",
  "MFARegistration",
  "MFACapable",
  "MFAMethods",
  "CoveredByCA",
  "CAPolicies",
  "CoveredBySD",
  "IsAdmin",
  "Tenant",
] as const;

export interface CippCaPolicyEntry {
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
  PerUser: MfaState | null;
  MFARegistration: boolean | null;
  MFACapable: boolean | null;
  MFAMethods: string[];
  /** `Enforced - All Apps` | `Enforced - Specific Apps` | `Not Enforced` | why the policies are unknown. */
  CoveredByCA: string;
  CAPolicies: CippCaPolicyEntry[];
  CoveredBySD: boolean | null;
  IsAdmin: boolean;
  Tenant: string;
}

export function toCippMfaUserRow(user: UserPosture): CippMfaUserRow {
  const reg = user.registration;
  const caReason = user.unknownSources.find((s) => s.source === "conditionalAccess")?.reason ?? "Conditional Access policies could not be read.";
  const coveredByCA =
    user.caCoverage === "all apps" ? "Enforced - All Apps" : user.caCoverage === "some apps" ? "Enforced - Specific Apps" : user.caCoverage === "none" ? "Not Enforced" : `CA policies not available: ${caReason}`;
  return {
    UPN: user.userPrincipalName,
    ID: user.id,
    DisplayName: user.displayName ?? "",
    AccountEnabled: user.accountEnabled,
    UserType: user.userType,
    isLicensed: user.isLicensed,
    PerUser: user.perUserMfaState === "unknown" ? null : user.perUserMfaState,
    MFARegistration: reg ? reg.isMfaRegistered : null,
    MFACapable: reg ? reg.isMfaCapable : null,
    MFAMethods: reg ? [...reg.methodsRegistered] : [],
    CoveredByCA: coveredByCA,
    CAPolicies: user.caPolicies.map((p) => ({ DisplayName: p.displayName, UserIncluded: true, AllApps: p.allApps, PolicyState: "enabled" })),
    CoveredBySD: user.coveredBySecurityDefaults ?? null,
    IsAdmin: user.isAdmin,
    Tenant: user.tenant,
  };
}
