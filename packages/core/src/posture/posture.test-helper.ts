import { CaPolicySchema, type CaPolicy } from "./ca-policy.js";
import type { PostureUser } from "./evaluate-posture.js";

export interface PolicyOptions {
  id?: string;
  state?: string;
  includeUsers?: string[];
  excludeUsers?: string[];
  includeGroups?: string[];
  excludeGroups?: string[];
  includeRoles?: string[];
  excludeRoles?: string[];
  includeApplications?: string[];
  excludeApplications?: string[];
  includeUserActions?: string[];
  builtInControls?: string[];
  operator?: "OR" | "AND";
  strength?: string;
  includeGuests?: string;
  excludeGuests?: string;
  extraConditions?: Record<string, unknown>;
}

/** A policy as Graph would send it, parsed. */
export function policy(o: PolicyOptions = {}): CaPolicy {
  const guests = (types: string | undefined) => (types === undefined ? null : { guestOrExternalUserTypes: types, externalTenants: { "@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", membershipKind: "all" } });
  return CaPolicySchema.parse({
    id: o.id ?? "p1",
    displayName: `Policy ${o.id ?? "p1"}`,
    state: o.state ?? "enabled",
    conditions: {
      users: {
        includeUsers: o.includeUsers ?? [],
        excludeUsers: o.excludeUsers ?? [],
        includeGroups: o.includeGroups ?? [],
        excludeGroups: o.excludeGroups ?? [],
        includeRoles: o.includeRoles ?? [],
        excludeRoles: o.excludeRoles ?? [],
        includeGuestsOrExternalUsers: guests(o.includeGuests),
        excludeGuestsOrExternalUsers: guests(o.excludeGuests),
      },
      applications: { includeApplications: o.includeApplications ?? ["All"], excludeApplications: o.excludeApplications ?? [], includeUserActions: o.includeUserActions ?? [] },
      clientAppTypes: ["all"],
      ...o.extraConditions,
    },
    grantControls: {
      operator: o.operator ?? "OR",
      builtInControls: o.builtInControls ?? (o.strength ? [] : ["mfa"]),
      authenticationStrength: o.strength ? { id: "00000000-0000-0000-0000-000000000002", displayName: "Multifactor authentication", requirementsSatisfied: o.strength } : null,
    },
  });
}

export function user(id: string, o: Partial<PostureUser> = {}): PostureUser {
  return {
    id,
    userPrincipalName: `${id}@contoso.com`,
    userType: "Member",
    accountEnabled: true,
    isLicensed: true,
    perUserMfaState: "disabled",
    roleTemplateIds: [],
    groupIds: [],
    ...o,
  };
}
