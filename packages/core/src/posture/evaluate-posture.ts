import type { MfaStateRead } from "../domain/mfa-state.js";
import { grantRequiresMfa, isReportOnlyMfaPolicy, policyAppliesTo, policyRequiresMfa, type CaPolicy, type NotMfaCode } from "./ca-policy.js";

/**
 * Pure evaluation of a tenant's MFA posture (docs/posture.md): which users are protected by what,
 * what an administrator should fix, and who may leave per-user MFA safely. No I/O: the caller
 * reads Graph and hands the facts in.
 */

/** From `reports/authenticationMethods/userRegistrationDetails`. */
export interface PostureRegistration {
  isMfaRegistered: boolean;
  isMfaCapable: boolean;
  methodsRegistered: readonly string[];
  defaultMfaMethod?: string | null | undefined;
}

export interface PostureUser {
  id: string;
  userPrincipalName: string;
  displayName?: string | undefined;
  /** `Member` or `Guest`. */
  userType: string;
  accountEnabled: boolean;
  isLicensed: boolean;
  perUserMfaState: MfaStateRead;
  /** Directory role template ids of the user's role assignments. */
  roleTemplateIds: readonly string[];
  /** Transitive group membership. */
  groupIds: readonly string[];
  /** Undefined when unknown (no P1/P2, missing permission, or a disabled account the report leaves out). */
  registration?: PostureRegistration | undefined;
  /** Null: never signed in; undefined: unknown. */
  lastSignInDateTime?: string | null | undefined;
}

export interface PostureTenantFacts {
  tenant: string;
  /** Undefined: could not be read (say why in `securityDefaultsReason`). */
  securityDefaultsEnabled: boolean | undefined;
  securityDefaultsReason?: string | undefined;
  /** Undefined: could not be read (say why in `policiesReason`). */
  policies: readonly CaPolicy[] | undefined;
  policiesReason?: string | undefined;
}

/** In precedence order: the first that holds is the user's protection. */
export const PROTECTIONS = [
  "per-user enforced",
  "per-user enabled",
  "conditional access (all apps)",
  "conditional access (some apps)",
  "security defaults",
  "none",
  "unknown",
] as const;
export type Protection = (typeof PROTECTIONS)[number];

export type CaCoverage = "all apps" | "some apps" | "none" | "unknown";

export interface AppliedCaPolicy {
  id: string;
  displayName: string;
  allApps: boolean;
  /** What narrows the policy below all apps (empty when allApps). */
  limits: string[];
}

export type PostureSource = "perUserMfaState" | "conditionalAccess" | "securityDefaults";

export interface UserPosture {
  tenant: string;
  id: string;
  userPrincipalName: string;
  displayName?: string | undefined;
  userType: string;
  accountEnabled: boolean;
  isLicensed: boolean;
  perUserMfaState: MfaStateRead;
  registration?: PostureRegistration | undefined;
  lastSignInDateTime?: string | null | undefined;
  /** Enforced policies that require MFA and apply to the user. */
  caPolicies: AppliedCaPolicy[];
  caCoverage: CaCoverage;
  /** Undefined when security defaults could not be read. */
  coveredBySecurityDefaults: boolean | undefined;
  isAdmin: boolean;
  effectiveProtection: Protection;
  /** The protection the user would have with per-user MFA `disabled`. */
  protectionWithoutPerUser: Protection;
  /** Sources that could not be read, and why: why a protection is `unknown`. */
  unknownSources: { source: PostureSource; reason: string }[];
}

/** Role templates every user or guest holds implicitly: not administrators. */
const NON_ADMIN_ROLES = new Set([
  "a0b1b346-4d3e-4e8b-98f8-753987be4970", // User
  "10dae51f-b6af-4016-8d66-8c2a99b929b3", // Guest User
  "2af84b1e-32c8-42b7-82bc-daa82404023b", // Restricted Guest User
]);

export function isAdminUser(user: Pick<PostureUser, "roleTemplateIds">): boolean {
  return user.roleTemplateIds.some((r) => !NON_ADMIN_ROLES.has(r.toLowerCase()));
}

function hasPerUser(state: MfaStateRead): state is "enabled" | "enforced" {
  return state === "enabled" || state === "enforced";
}

/** The CA policies that require MFA and apply to the user (undefined when the policies are unknown). */
export function appliedMfaPolicies(policies: readonly CaPolicy[], user: PostureUser): AppliedCaPolicy[] {
  const applied: AppliedCaPolicy[] = [];
  for (const p of policies) {
    if (!policyRequiresMfa(p).requiresMfa) continue;
    const a = policyAppliesTo(p, user);
    if (a.applies) applied.push({ id: p.id, displayName: p.displayName, allApps: a.allApps, limits: a.limits });
  }
  return applied;
}

export function evaluateUserPosture(user: PostureUser, tenant: PostureTenantFacts): UserPosture {
  const unknownSources: UserPosture["unknownSources"] = [];
  if (user.perUserMfaState === "unknown") unknownSources.push({ source: "perUserMfaState", reason: "The per-user MFA state could not be read." });
  if (tenant.policies === undefined) unknownSources.push({ source: "conditionalAccess", reason: tenant.policiesReason ?? "Conditional Access policies could not be read." });
  if (tenant.securityDefaultsEnabled === undefined) unknownSources.push({ source: "securityDefaults", reason: tenant.securityDefaultsReason ?? "Whether security defaults are on could not be read." });

  const caPolicies = tenant.policies === undefined ? [] : appliedMfaPolicies(tenant.policies, user);
  const caCoverage: CaCoverage = tenant.policies === undefined ? "unknown" : caPolicies.some((p) => p.allApps) ? "all apps" : caPolicies.length > 0 ? "some apps" : "none";
  const sd = tenant.securityDefaultsEnabled;

  let protectionWithoutPerUser: Protection;
  if (caCoverage === "all apps") protectionWithoutPerUser = "conditional access (all apps)";
  else if (caCoverage === "some apps") protectionWithoutPerUser = "conditional access (some apps)";
  else if (sd === true) protectionWithoutPerUser = "security defaults";
  else if (caCoverage === "unknown" || sd === undefined) protectionWithoutPerUser = "unknown";
  else protectionWithoutPerUser = "none";

  let effectiveProtection: Protection;
  if (user.perUserMfaState === "enforced") effectiveProtection = "per-user enforced";
  else if (user.perUserMfaState === "enabled") effectiveProtection = "per-user enabled";
  else if (protectionWithoutPerUser === "none" && user.perUserMfaState === "unknown") effectiveProtection = "unknown";
  else effectiveProtection = protectionWithoutPerUser;

  return {
    tenant: tenant.tenant,
    id: user.id,
    userPrincipalName: user.userPrincipalName,
    ...(user.displayName !== undefined ? { displayName: user.displayName } : {}),
    userType: user.userType,
    accountEnabled: user.accountEnabled,
    isLicensed: user.isLicensed,
    perUserMfaState: user.perUserMfaState,
    ...(user.registration !== undefined ? { registration: user.registration } : {}),
    ...(user.lastSignInDateTime !== undefined ? { lastSignInDateTime: user.lastSignInDateTime } : {}),
    caPolicies,
    caCoverage,
    coveredBySecurityDefaults: sd,
    isAdmin: isAdminUser(user),
    effectiveProtection,
    protectionWithoutPerUser,
    unknownSources,
  };
}

/** Stable codes, with the line an administrator acts on. */
export const FINDINGS = {
  enforcedWithoutMethod: "Per-user MFA is enforced but no MFA method is registered: legacy-auth apps will fail until the user registers (or uses an app password).",
  adminWithoutMfa: "An enabled administrator account has no MFA at all: require MFA for it (a Conditional Access policy for admin roles) now.",
  userWithoutMfa: "Enabled accounts with no MFA: cover them with a Conditional Access policy for all apps (or security defaults), or enable per-user MFA.",
  protectionUnknown: "The protection of these enabled accounts could not be determined (a source could not be read): grant the missing permission or licence and run again.",
  perUserRedundant: "Per-user MFA is on while Conditional Access for all apps or security defaults already cover the user: set per-user MFA to disabled (mfactl migrate).",
  perUserMixedWithCa: "Per-user MFA is on and a Conditional Access policy requiring MFA also applies: the two interact (per-user prompts everywhere); move to Conditional Access alone.",
} as const;
export type FindingCode = keyof typeof FINDINGS;
export const FINDING_CODES = Object.keys(FINDINGS) as FindingCode[];

export interface PostureFinding {
  code: FindingCode;
  message: string;
  users: { id: string; userPrincipalName: string }[];
}

export interface PolicySummary {
  id: string;
  displayName: string;
}

export interface TenantPosture {
  tenant: string;
  securityDefaults: { enabled: boolean | undefined; reason?: string | undefined };
  conditionalAccess: {
    readable: boolean;
    reason?: string | undefined;
    /** Enforced policies that require MFA. */
    mfaPolicies: PolicySummary[];
    /** Report-only policies that would require MFA once enforced: they protect nobody now. */
    reportOnlyMfaPolicies: PolicySummary[];
    /** Enabled policies with MFA among alternatives (operator OR): not counted as requiring MFA. */
    mfaNotGuaranteed: (PolicySummary & { code: NotMfaCode; reason: string })[];
  };
  users: UserPosture[];
  /** Only the findings that concern at least one user, in the order of FINDING_CODES. */
  findings: PostureFinding[];
}

const RULES: Record<FindingCode, (u: UserPosture) => boolean> = {
  enforcedWithoutMethod: (u) => u.perUserMfaState === "enforced" && u.registration !== undefined && !u.registration.isMfaRegistered,
  adminWithoutMfa: (u) => u.accountEnabled && u.isAdmin && u.effectiveProtection === "none",
  userWithoutMfa: (u) => u.accountEnabled && u.effectiveProtection === "none",
  protectionUnknown: (u) => u.accountEnabled && u.effectiveProtection === "unknown",
  perUserRedundant: (u) => hasPerUser(u.perUserMfaState) && (u.caCoverage === "all apps" || u.coveredBySecurityDefaults === true),
  perUserMixedWithCa: (u) => hasPerUser(u.perUserMfaState) && u.caPolicies.length > 0,
};

export function postureFindings(users: readonly UserPosture[]): PostureFinding[] {
  const findings: PostureFinding[] = [];
  for (const code of FINDING_CODES) {
    const concerned = users.filter(RULES[code]).map((u) => ({ id: u.id, userPrincipalName: u.userPrincipalName }));
    if (concerned.length > 0) findings.push({ code, message: FINDINGS[code], users: concerned });
  }
  return findings;
}

export function evaluateTenantPosture(tenant: PostureTenantFacts, users: readonly PostureUser[]): TenantPosture {
  const evaluated = users.map((u) => evaluateUserPosture(u, tenant));
  const policies = tenant.policies ?? [];
  const summary = (p: CaPolicy): PolicySummary => ({ id: p.id, displayName: p.displayName });
  const mfaNotGuaranteed: TenantPosture["conditionalAccess"]["mfaNotGuaranteed"] = [];
  for (const p of policies) {
    if (p.state !== "enabled") continue;
    const v = grantRequiresMfa(p);
    if (!v.requiresMfa && v.code === "alternativeControl") mfaNotGuaranteed.push({ ...summary(p), code: v.code, reason: v.reason });
  }
  return {
    tenant: tenant.tenant,
    securityDefaults: { enabled: tenant.securityDefaultsEnabled, ...(tenant.securityDefaultsEnabled === undefined ? { reason: tenant.securityDefaultsReason ?? "Could not be read." } : {}) },
    conditionalAccess: {
      readable: tenant.policies !== undefined,
      ...(tenant.policies === undefined ? { reason: tenant.policiesReason ?? "Could not be read." } : {}),
      mfaPolicies: policies.filter((p) => policyRequiresMfa(p).requiresMfa).map(summary),
      reportOnlyMfaPolicies: policies.filter(isReportOnlyMfaPolicy).map(summary),
      mfaNotGuaranteed,
    },
    users: evaluated,
    findings: postureFindings(evaluated),
  };
}

/** A user whose per-user MFA may be set `disabled` with MFA still required at every sign-in. */
export interface MigrationCandidate {
  tenant: string;
  id: string;
  userPrincipalName: string;
  perUserMfaState: "enabled" | "enforced";
  requestedState: "disabled";
  coveredBy: "conditional access (all apps)" | "security defaults";
  /** Ids of the CA policies for all apps that cover the user. */
  caPolicies: string[];
}

/** A user with per-user MFA who would be left with less (or unknown) protection without it. */
export interface MigrationHold {
  tenant: string;
  id: string;
  userPrincipalName: string;
  perUserMfaState: "enabled" | "enforced";
  protectionWithoutPerUser: Protection;
  reason: string;
}

export interface MigrationAssessment {
  candidates: MigrationCandidate[];
  /** Listed so an administrator can cover them first; never candidates. */
  leftWithoutMfa: MigrationHold[];
}

/**
 * Who may leave per-user MFA: per-user `enabled` or `enforced`, and covered without it by a
 * Conditional Access policy for all apps or by security defaults. Anyone else with per-user MFA
 * (protection without it `none`, `unknown` or CA for some apps only) is listed, never a candidate.
 */
export function migrationCandidates(users: readonly UserPosture[]): MigrationAssessment {
  const result: MigrationAssessment = { candidates: [], leftWithoutMfa: [] };
  for (const u of users) {
    const state = u.perUserMfaState;
    if (!hasPerUser(state)) continue;
    const p = u.protectionWithoutPerUser;
    if (p === "conditional access (all apps)" || p === "security defaults") {
      result.candidates.push({
        tenant: u.tenant,
        id: u.id,
        userPrincipalName: u.userPrincipalName,
        perUserMfaState: state,
        requestedState: "disabled",
        coveredBy: p,
        caPolicies: u.caPolicies.filter((c) => c.allApps).map((c) => c.id),
      });
      continue;
    }
    const reason =
      p === "conditional access (some apps)"
        ? `Only Conditional Access for some apps would remain (${u.caPolicies.map((c) => `${c.displayName}: ${c.limits.join(", ")}`).join("; ")}).`
        : p === "unknown"
          ? `Whether anything else covers the user is unknown: ${u.unknownSources.filter((s) => s.source !== "perUserMfaState").map((s) => s.reason).join(" ")}`
          : "Nothing else requires MFA of this user: no Conditional Access policy for all apps, and security defaults are off.";
    result.leftWithoutMfa.push({ tenant: u.tenant, id: u.id, userPrincipalName: u.userPrincipalName, perUserMfaState: state, protectionWithoutPerUser: p, reason });
  }
  return result;
}
