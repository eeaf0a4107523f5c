import { describe, expect, it } from "vitest";
import { ROLE_IDS } from "../operations/directory.js";
import { parseCaPolicies, policyAppliesTo, policyRequiresMfa, policyScope } from "./ca-policy.js";
import { policy, user } from "./posture.test-helper.js";

describe("CaPolicySchema", () => {
  it("parses real Graph output tolerantly: unknown keys, nulls and missing lists", () => {
    const [p] = parseCaPolicies([
      {
        id: "a1",
        displayName: "Require MFA for admins",
        createdDateTime: "2024-01-01T00:00:00Z",
        modifiedDateTime: null,
        templateId: null,
        state: "enabled",
        sessionControls: null,
        conditions: {
          userRiskLevels: [],
          signInRiskLevels: [],
          clientAppTypes: ["all"],
          platforms: null,
          locations: null,
          devices: null,
          clientApplications: null,
          applications: { includeApplications: ["All"], excludeApplications: [], includeUserActions: [], includeAuthenticationContextClassRefs: [], applicationFilter: null },
          users: { includeUsers: [], excludeUsers: ["break-glass"], includeGroups: [], excludeGroups: [], includeRoles: [ROLE_IDS.globalAdministrator], excludeRoles: [], includeGuestsOrExternalUsers: null, excludeGuestsOrExternalUsers: null },
        },
        grantControls: { operator: "OR", builtInControls: ["mfa"], customAuthenticationFactors: [], termsOfUse: [], "authenticationStrength@odata.context": "x", authenticationStrength: null },
      },
      { id: "a2", state: "disabled", conditions: { users: { includeUsers: ["All"] } }, grantControls: null },
    ]);
    expect(p?.conditions.users.includeRoles).toEqual([ROLE_IDS.globalAdministrator]);
    expect(p?.conditions.users.excludeGroups).toEqual([]);
    expect(p ? policyRequiresMfa(p) : undefined).toEqual({ requiresMfa: true, via: "builtInControl" });
    expect(p ? policyScope(p) : undefined).toEqual({ coversSignIns: true, allApps: true, limits: [] });
  });

  it("rejects a policy without an id", () => {
    expect(() => parseCaPolicies([{ state: "enabled" }])).toThrow();
  });
});

describe("policyRequiresMfa", () => {
  it("counts enabled policies with the mfa control or an MFA authentication strength", () => {
    expect(policyRequiresMfa(policy()).requiresMfa).toBe(true);
    expect(policyRequiresMfa(policy({ strength: "mfa" }))).toEqual({ requiresMfa: true, via: "authenticationStrength" });
    expect(policyRequiresMfa(policy({ strength: "none" })).requiresMfa).toBe(false);
  });

  it("never counts report-only or disabled policies", () => {
    expect(policyRequiresMfa(policy({ state: "enabledForReportingButNotEnforced" }))).toMatchObject({ requiresMfa: false, code: "reportOnly" });
    expect(policyRequiresMfa(policy({ state: "disabled" }))).toMatchObject({ requiresMfa: false, code: "disabled" });
  });

  it("OR with another control does not guarantee MFA; AND does", () => {
    const or = policyRequiresMfa(policy({ builtInControls: ["mfa", "compliantDevice"], operator: "OR" }));
    expect(or).toMatchObject({ requiresMfa: false, code: "alternativeControl" });
    expect(or.requiresMfa ? "" : or.reason).toContain("compliantdevice");
    expect(policyRequiresMfa(policy({ builtInControls: ["mfa", "compliantDevice"], operator: "AND" })).requiresMfa).toBe(true);
    expect(policyRequiresMfa(policy({ builtInControls: ["domainJoinedDevice"], strength: "mfa", operator: "OR" })).requiresMfa).toBe(false);
    expect(policyRequiresMfa(policy({ builtInControls: ["mfa", "passwordChange"], operator: "AND" })).requiresMfa).toBe(true);
  });

  it("a block policy or one without grant controls does not require MFA", () => {
    expect(policyRequiresMfa(policy({ builtInControls: ["block"] }))).toMatchObject({ requiresMfa: false, code: "noMfaControl" });
    const [noGrant] = parseCaPolicies([{ id: "s", state: "enabled", grantControls: null }]);
    expect(noGrant ? policyRequiresMfa(noGrant) : undefined).toMatchObject({ requiresMfa: false, code: "noMfaControl" });
  });
});

describe("policyAppliesTo", () => {
  const alice = user("alice", { groupIds: ["g-finance", "g-all-staff"], roleTemplateIds: [ROLE_IDS.userAdministrator] });

  it("includes All, the user id, a (transitive) group, a role; None includes nobody", () => {
    expect(policyAppliesTo(policy({ includeUsers: ["All"] }), alice).applies).toBe(true);
    expect(policyAppliesTo(policy({ includeUsers: ["ALICE"] }), alice).applies).toBe(true);
    expect(policyAppliesTo(policy({ includeGroups: ["g-all-staff"] }), alice).applies).toBe(true);
    expect(policyAppliesTo(policy({ includeRoles: [ROLE_IDS.userAdministrator] }), alice).applies).toBe(true);
    expect(policyAppliesTo(policy({ includeUsers: ["None"] }), alice).applies).toBe(false);
    expect(policyAppliesTo(policy({ includeUsers: ["bob"] }), alice).applies).toBe(false);
  });

  it("exclusions win over inclusions (user, group, role)", () => {
    expect(policyAppliesTo(policy({ includeUsers: ["All"], excludeUsers: ["alice"] }), alice)).toMatchObject({ applies: false });
    expect(policyAppliesTo(policy({ includeUsers: ["alice"], excludeGroups: ["g-finance"] }), alice)).toMatchObject({ applies: false, reason: expect.stringContaining("g-finance") as unknown });
    expect(policyAppliesTo(policy({ includeRoles: [ROLE_IDS.userAdministrator], excludeRoles: [ROLE_IDS.userAdministrator] }), alice).applies).toBe(false);
  });

  it("guests: GuestsOrExternalUsers and guest types", () => {
    const guest = user("g1", { userType: "Guest", userPrincipalName: "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com" });
    expect(policyAppliesTo(policy({ includeUsers: ["GuestsOrExternalUsers"] }), guest).applies).toBe(true);
    expect(policyAppliesTo(policy({ includeUsers: ["GuestsOrExternalUsers"] }), alice).applies).toBe(false);
    expect(policyAppliesTo(policy({ includeGuests: "internalGuest,b2bCollaborationGuest" }), guest).applies).toBe(true);
    expect(policyAppliesTo(policy({ includeGuests: "internalGuest" }), guest).applies).toBe(false);
    expect(policyAppliesTo(policy({ includeUsers: ["All"], excludeUsers: ["GuestsOrExternalUsers"] }), guest).applies).toBe(false);
    expect(policyAppliesTo(policy({ includeUsers: ["All"], excludeGuests: "b2bCollaborationGuest" }), guest).applies).toBe(false);
    expect(policyAppliesTo(policy({ includeUsers: ["All"], excludeGuests: "b2bCollaborationGuest" }), alice).applies).toBe(true);
  });

  it("guests of specific external tenants: not included (unknown home tenant), but excluded", () => {
    const guest = user("g1", { userType: "Guest", userPrincipalName: "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com" });
    const enumerated = { guestOrExternalUserTypes: "b2bCollaborationGuest", externalTenants: { membershipKind: "enumerated", members: ["t1"] } };
    const [inc, exc] = parseCaPolicies([
      { id: "i", state: "enabled", conditions: { users: { includeGuestsOrExternalUsers: enumerated }, applications: { includeApplications: ["All"] } }, grantControls: { builtInControls: ["mfa"] } },
      { id: "e", state: "enabled", conditions: { users: { includeUsers: ["All"], excludeGuestsOrExternalUsers: enumerated }, applications: { includeApplications: ["All"] } }, grantControls: { builtInControls: ["mfa"] } },
    ]);
    expect(inc && policyAppliesTo(inc, guest).applies).toBe(false);
    expect(exc && policyAppliesTo(exc, guest).applies).toBe(false);
  });

  it("all apps only with All, no excluded app and no narrowing condition", () => {
    expect(policyAppliesTo(policy({ includeUsers: ["All"] }), alice)).toEqual({ applies: true, allApps: true, limits: [] });
    expect(policyAppliesTo(policy({ includeUsers: ["All"], includeApplications: ["Office365"] }), alice)).toMatchObject({ applies: true, allApps: false });
    expect(policyAppliesTo(policy({ includeUsers: ["All"], excludeApplications: ["app-1"] }), alice)).toMatchObject({ applies: true, allApps: false });
    const trusted = policy({ includeUsers: ["All"], extraConditions: { locations: { includeLocations: ["All"], excludeLocations: ["AllTrusted"] } } });
    expect(policyAppliesTo(trusted, alice)).toMatchObject({ applies: true, allApps: false, limits: ["locations"] });
    const browserOnly = policy({ includeUsers: ["All"], extraConditions: { clientAppTypes: ["browser"] } });
    expect(policyAppliesTo(browserOnly, alice)).toMatchObject({ applies: true, allApps: false });
  });

  it("user-action-only policies cover no sign-in", () => {
    const register = policy({ includeUsers: ["All"], includeApplications: [], includeUserActions: ["urn:user:registersecurityinfo"] });
    expect(policyAppliesTo(register, alice)).toMatchObject({ applies: false, reason: expect.stringContaining("user actions only") as unknown });
    expect(policyAppliesTo(policy({ includeUsers: ["All"], includeApplications: ["None"] }), alice).applies).toBe(false);
  });
});
