import { describe, expect, it } from "vitest";
import { GraphError } from "../domain/errors.js";
import { tenantFacts } from "./posture-report.js";
import { policyGroupIds, unknownBecause, type TenantSources } from "./posture-sources.js";

const policy = (users: Record<string, string[]>) => ({ id: "p1", displayName: "P", state: "enabled", conditions: { users, applications: { includeApplications: ["All"] } }, grantControls: { operator: "OR", builtInControls: ["mfa"] } });
const known = <T>(value: T) => ({ known: true as const, value });
const missing = { known: false as const, code: "PermissionMissing", reason: "Reading directory role assignments needs the application permission RoleManagement.Read.Directory" };

function sources(overrides: Partial<TenantSources>): TenantSources {
  return {
    securityDefaults: known(false),
    policies: known([]),
    registration: known(new Map()),
    signIns: known(new Map()),
    roles: known({ rolesOf: new Map(), roleIdsOf: new Map(), directorySync: new Set() }),
    groups: known(new Map()),
    ...overrides,
  };
}

describe("posture sources", () => {
  it("policies naming roles or groups are unknown when those memberships are", () => {
    const byRole = tenantFacts("t", sources({ policies: known([policy({ includeRoles: ["62e90394-69f5-4237-9190-012177145e10"] })]), roles: missing }));
    expect(byRole.policies).toBeUndefined();
    expect(byRole.policiesReason).toMatch(/names directory roles, but Reading directory role assignments needs/);
    const byGroup = tenantFacts("t", sources({ policies: known([policy({ includeGroups: ["G1"] })]), groups: { ...missing, reason: "no" } }));
    expect(byGroup.policies).toBeUndefined();
    // A policy for everyone does not need them.
    const all = tenantFacts("t", sources({ policies: known([policy({ includeUsers: ["All"] })]), roles: missing }));
    expect(all.policies).toHaveLength(1);
    expect(all.securityDefaultsEnabled).toBe(false);
  });

  it("says licence or permission, never a guess; collects the groups policies name", () => {
    expect(unknownBecause(new GraphError("x", { status: 403, code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant" }), "Conditional Access policies", "Policy.Read.All")).toMatchObject({ code: "LicenceRequired", reason: expect.stringMatching(/P1 or P2/) as string });
    expect(unknownBecause(new GraphError("x", { status: 403, code: "Authorization_RequestDenied" }), "last sign-ins", "AuditLog.Read.All")).toMatchObject({ code: "PermissionMissing", reason: expect.stringMatching(/AuditLog\.Read\.All/) as string });
    expect(policyGroupIds([policy({ includeGroups: ["A"], excludeGroups: ["b", "a"] })]).sort()).toEqual(["a", "b"]);
  });
});
