import { z } from "zod";

/**
 * Conditional Access policies as Graph v1.0 (or beta) returns them, read tolerantly: unknown keys
 * pass, missing or null lists read as empty, unknown enum values are kept as strings (and then
 * count for nothing). Pure: no I/O. Rules in docs/posture.md.
 */

const list = z.preprocess((v) => v ?? [], z.array(z.string()));
const obj = <T extends z.core.$ZodLooseShape>(shape: T) => z.preprocess((v) => v ?? {}, z.looseObject(shape));

/** `conditionalAccessGuestsOrExternalUsers`: `guestOrExternalUserTypes` is a comma-separated string. */
const GuestsOrExternalUsersSchema = z
  .looseObject({
    guestOrExternalUserTypes: z.preprocess(
      (v) => (typeof v === "string" ? v.split(",").map((s) => s.trim()).filter((s) => s.length > 0) : []),
      z.array(z.string()),
    ),
    externalTenants: z
      .looseObject({ membershipKind: z.string().nullish(), members: list.optional() })
      .nullish()
      .transform((v) => v ?? null),
  })
  .nullish()
  .transform((v) => v ?? null);

export const CaPolicySchema = z.looseObject({
  id: z.string(),
  displayName: z.string().nullish().transform((v) => v ?? ""),
  /** `enabled | disabled | enabledForReportingButNotEnforced` (anything else counts as not enabled). */
  state: z.string(),
  conditions: obj({
    users: obj({
      includeUsers: list,
      excludeUsers: list,
      includeGroups: list,
      excludeGroups: list,
      includeRoles: list,
      excludeRoles: list,
      includeGuestsOrExternalUsers: GuestsOrExternalUsersSchema,
      excludeGuestsOrExternalUsers: GuestsOrExternalUsersSchema,
    }),
    applications: obj({
      includeApplications: list,
      excludeApplications: list,
      includeUserActions: list,
      includeAuthenticationContextClassRefs: list,
    }),
    clientAppTypes: list,
    platforms: z.looseObject({ includePlatforms: list, excludePlatforms: list }).nullish().transform((v) => v ?? null),
    locations: z.looseObject({ includeLocations: list, excludeLocations: list }).nullish().transform((v) => v ?? null),
    devices: z.looseObject({ deviceFilter: z.unknown().optional() }).nullish().transform((v) => v ?? null),
    signInRiskLevels: list,
    userRiskLevels: list,
    insiderRiskLevels: z.unknown().optional(),
  }),
  grantControls: z
    .looseObject({
      operator: z.string().nullish().transform((v) => (v ?? "OR").toUpperCase()),
      builtInControls: list,
      customAuthenticationFactors: list,
      termsOfUse: list,
      authenticationStrength: z
        .looseObject({ id: z.string().nullish(), displayName: z.string().nullish(), requirementsSatisfied: z.string().nullish() })
        .nullish()
        .transform((v) => v ?? null),
    })
    .nullish()
    .transform((v) => v ?? null),
});
export type CaPolicy = z.output<typeof CaPolicySchema>;
/** What Graph sends (before defaults): what a test or an emulator may write. */
export type CaPolicyWire = z.input<typeof CaPolicySchema>;

/** Parse a list of policies (the `value` of a Graph page, or several pages concatenated). */
export function parseCaPolicies(wire: unknown): CaPolicy[] {
  return z.array(CaPolicySchema).parse(wire);
}

/** Why a policy does not (or may not) require MFA. Stable codes. */
export const NOT_MFA_CODES = ["disabled", "reportOnly", "noMfaControl", "alternativeControl"] as const;
export type NotMfaCode = (typeof NOT_MFA_CODES)[number];

export type PolicyMfaVerdict =
  | { requiresMfa: true; via: "builtInControl" | "authenticationStrength" }
  | { requiresMfa: false; code: NotMfaCode; reason: string };

/**
 * Whether the grant controls, whatever the state, guarantee MFA: `mfa` among the built-in controls
 * or an authentication strength that satisfies `mfa`, and, with operator OR, no other control that
 * could be satisfied instead (a compliant device, an approved app, terms of use, ...).
 */
export function grantRequiresMfa(policy: CaPolicy): PolicyMfaVerdict {
  const grant = policy.grantControls;
  if (!grant) return { requiresMfa: false, code: "noMfaControl", reason: "The policy has no grant controls (session controls only)." };
  const builtIn = grant.builtInControls.map((c) => c.toLowerCase());
  const byControl = builtIn.includes("mfa");
  const byStrength = grant.authenticationStrength?.requirementsSatisfied?.toLowerCase() === "mfa";
  if (!byControl && !byStrength) {
    const what = builtIn.includes("block") ? "blocks access" : `grants with ${builtIn.length > 0 ? builtIn.join(", ") : "no MFA control"}`;
    return { requiresMfa: false, code: "noMfaControl", reason: `The policy ${what}: it does not require MFA.` };
  }
  const others = [
    ...builtIn.filter((c) => c !== "mfa"),
    ...grant.customAuthenticationFactors.map((c) => `custom control ${c}`),
    ...grant.termsOfUse.map((t) => `terms of use ${t}`),
  ];
  if (grant.operator !== "AND" && others.length > 0) {
    return {
      requiresMfa: false,
      code: "alternativeControl",
      reason: `The policy requires MFA OR ${others.join(", ")}: the other control may be satisfied instead, so MFA is not guaranteed.`,
    };
  }
  return { requiresMfa: true, via: byControl ? "builtInControl" : "authenticationStrength" };
}

/**
 * Whether the policy, as it stands, requires MFA: enabled (report-only and disabled policies never
 * count) and {@link grantRequiresMfa}.
 */
export function policyRequiresMfa(policy: CaPolicy): PolicyMfaVerdict {
  if (policy.state === "enabledForReportingButNotEnforced") {
    return { requiresMfa: false, code: "reportOnly", reason: "The policy is report-only: it is evaluated but not enforced." };
  }
  if (policy.state !== "enabled") return { requiresMfa: false, code: "disabled", reason: `The policy is not enabled (state ${policy.state}).` };
  return grantRequiresMfa(policy);
}

/** Report-only policies whose grant would require MFA once turned on. */
export function isReportOnlyMfaPolicy(policy: CaPolicy): boolean {
  return policy.state === "enabledForReportingButNotEnforced" && grantRequiresMfa(policy).requiresMfa;
}

export interface PolicyScope {
  /** False when the policy targets no application (user actions or authentication contexts only, or "None"). */
  coversSignIns: boolean;
  /** Every cloud app, every client, with no condition narrowing it. */
  allApps: boolean;
  /** What narrows the policy below all apps, in words (empty when allApps). */
  limits: string[];
}

/**
 * What sign-ins a policy covers. All apps: `includeApplications` holds "All", nothing is excluded,
 * and no other condition narrows it (client app types, platforms, locations, risk levels, device
 * filter): a policy that does not apply to some sign-ins cannot replace per-user MFA.
 */
export function policyScope(policy: CaPolicy): PolicyScope {
  const apps = policy.conditions.applications;
  const included = apps.includeApplications.filter((a) => a.toLowerCase() !== "none");
  if (included.length === 0) {
    const what = apps.includeUserActions.length > 0 ? `user actions only (${apps.includeUserActions.join(", ")})` : apps.includeAuthenticationContextClassRefs.length > 0 ? "authentication contexts only" : "no application";
    return { coversSignIns: false, allApps: false, limits: [`targets ${what}`] };
  }
  const limits: string[] = [];
  if (!included.some((a) => a.toLowerCase() === "all")) limits.push(`targets specific applications (${included.join(", ")})`);
  if (apps.excludeApplications.length > 0) limits.push(`excludes applications (${apps.excludeApplications.join(", ")})`);
  const c = policy.conditions;
  const clients = c.clientAppTypes.map((t) => t.toLowerCase());
  if (clients.length > 0 && !clients.includes("all") && !(clients.includes("browser") && clients.includes("mobileappsanddesktopclients"))) {
    limits.push(`client app types ${c.clientAppTypes.join(", ")}`);
  }
  if (c.platforms && (!c.platforms.includePlatforms.some((p) => p.toLowerCase() === "all") || c.platforms.excludePlatforms.length > 0)) limits.push("device platforms");
  if (c.locations && (!c.locations.includeLocations.some((l) => l.toLowerCase() === "all") || c.locations.excludeLocations.length > 0)) limits.push("locations");
  if (c.signInRiskLevels.length > 0) limits.push("sign-in risk");
  if (c.userRiskLevels.length > 0) limits.push("user risk");
  if (c.insiderRiskLevels !== undefined && c.insiderRiskLevels !== null) limits.push("insider risk");
  if (c.devices?.deviceFilter !== undefined && c.devices.deviceFilter !== null) limits.push("device filter");
  return { coversSignIns: true, allApps: limits.length === 0, limits };
}

/** The user facts coverage depends on. Ids are compared case-insensitively. */
export interface PolicySubject {
  id: string;
  userPrincipalName: string;
  /** `Member` or `Guest` as Graph returns it. */
  userType: string;
  /** Directory role template ids (active assignments). */
  roleTemplateIds: readonly string[];
  /** Transitive group membership (nested groups resolved by the caller). */
  groupIds: readonly string[];
}

export type PolicyApplication = { applies: true; allApps: boolean; limits: string[] } | { applies: false; reason: string };

type GuestKind = "internalGuest" | "b2bCollaborationGuest" | "b2bCollaborationMember" | undefined;

/** External users carry `#EXT#` in their UPN; guests have userType Guest. Other kinds cannot be told apart from these facts. */
function guestKind(user: PolicySubject): GuestKind {
  const external = user.userPrincipalName.toUpperCase().includes("#EXT#");
  if (user.userType.toLowerCase() === "guest") return external ? "b2bCollaborationGuest" : "internalGuest";
  return external ? "b2bCollaborationMember" : undefined;
}

type GuestCondition = NonNullable<CaPolicy["conditions"]["users"]["includeGuestsOrExternalUsers"]>;

/**
 * Whether a guests-or-external-users condition matches. `sure` is the answer when the policy names
 * specific external tenants (the user's home tenant is not known): false to include, true to exclude.
 */
function guestConditionMatches(condition: GuestCondition | null, kind: GuestKind, sure: boolean): boolean {
  if (!condition || !kind) return false;
  const types = condition.guestOrExternalUserTypes.map((t) => t.toLowerCase());
  if (!types.includes(kind.toLowerCase())) return false;
  if (kind === "internalGuest") return true;
  const membership = condition.externalTenants?.membershipKind?.toLowerCase();
  return membership === undefined || membership === "all" ? true : sure;
}

const lower = (xs: readonly string[]) => new Set(xs.map((x) => x.toLowerCase()));

/**
 * Whether the policy's users condition takes in the user: included (All; GuestsOrExternalUsers or
 * the matching guest types for guests and external users; the user's id; a group; a role) and not
 * excluded (the same kinds; an exclusion always wins). "None" includes nobody. A policy that covers
 * no sign-in (user actions only) applies to no one here.
 */
export function policyAppliesTo(policy: CaPolicy, user: PolicySubject): PolicyApplication {
  const scope = policyScope(policy);
  if (!scope.coversSignIns) return { applies: false, reason: `The policy covers no sign-in: it ${scope.limits.join(", ")}.` };
  const u = policy.conditions.users;
  const id = user.id.toLowerCase();
  const groups = lower(user.groupIds);
  const roles = lower(user.roleTemplateIds);
  const kind = guestKind(user);
  const isGuest = user.userType.toLowerCase() === "guest" || kind !== undefined;
  const includeUsers = lower(u.includeUsers);
  const excludeUsers = lower(u.excludeUsers);

  if (excludeUsers.has(id)) return { applies: false, reason: "The user is excluded by id." };
  if (isGuest && excludeUsers.has("guestsorexternalusers")) return { applies: false, reason: "Guests and external users are excluded." };
  if (guestConditionMatches(u.excludeGuestsOrExternalUsers, kind, true)) return { applies: false, reason: `The user's guest type (${kind}) is excluded.` };
  const excludedGroup = u.excludeGroups.find((g) => groups.has(g.toLowerCase()));
  if (excludedGroup) return { applies: false, reason: `The user is excluded through group ${excludedGroup}.` };
  const excludedRole = u.excludeRoles.find((r) => roles.has(r.toLowerCase()));
  if (excludedRole) return { applies: false, reason: `The user is excluded through role ${excludedRole}.` };

  const included =
    includeUsers.has("all") ||
    includeUsers.has(id) ||
    (isGuest && includeUsers.has("guestsorexternalusers")) ||
    guestConditionMatches(u.includeGuestsOrExternalUsers, kind, false) ||
    u.includeGroups.some((g) => groups.has(g.toLowerCase())) ||
    u.includeRoles.some((r) => roles.has(r.toLowerCase()));
  if (!included) return { applies: false, reason: "The user is not included." };
  return { applies: true, allApps: scope.allApps, limits: scope.limits };
}
