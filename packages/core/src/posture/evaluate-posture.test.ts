import { describe, expect, it } from "vitest";
import { ROLE_IDS } from "../operations/directory.js";
import { toCippMfaUserRow } from "./cipp-mfa-users.js";
import { evaluateTenantPosture, evaluateUserPosture, migrationCandidates, type PostureTenantFacts, type Protection } from "./evaluate-posture.js";
import { policy, user } from "./posture.test-helper.js";

const GA = ROLE_IDS.globalAdministrator;
const REG_NONE = { isMfaRegistered: false, isMfaCapable: false, methodsRegistered: [], defaultMfaMethod: null };
const REG_APP = { isMfaRegistered: true, isMfaCapable: true, methodsRegistered: ["microsoftAuthenticatorPush"], defaultMfaMethod: "microsoftAuthenticatorPush" };

/** Contoso: an all-apps policy for everyone but the "CA exclusions" group and guests, an admin policy, report-only and OR policies. */
const CONTOSO: PostureTenantFacts = {
  tenant: "contoso.onmicrosoft.com",
  securityDefaultsEnabled: false,
  policies: [
    policy({ id: "all-users", includeUsers: ["All"], excludeGroups: ["g-ca-exclusions"], excludeUsers: ["GuestsOrExternalUsers"] }),
    policy({ id: "admins", includeRoles: [GA], excludeRoles: [ROLE_IDS.directorySynchronizationAccounts], includeApplications: ["Office365"] }),
    policy({ id: "finance-report-only", state: "enabledForReportingButNotEnforced", includeGroups: ["g-finance"] }),
    policy({ id: "sales-or-device", includeGroups: ["g-sales"], builtInControls: ["mfa", "compliantDevice"], operator: "OR" }),
    policy({ id: "guests-exchange", includeUsers: ["GuestsOrExternalUsers"], includeApplications: ["00000002-0000-0ff1-ce00-000000000000"] }),
    policy({ id: "register", includeUsers: ["All"], includeApplications: [], includeUserActions: ["urn:user:registersecurityinfo"] }),
  ],
};

const USERS = [
  user("member"),
  // Nested group: g-ca-exclusions holds g-contractors, which holds the user: groupIds are transitive.
  user("contractor", { groupIds: ["g-contractors", "g-ca-exclusions"] }),
  user("admin-excluded", { groupIds: ["g-ca-exclusions"], roleTemplateIds: [GA] }),
  user("sync", { groupIds: ["g-ca-exclusions"], roleTemplateIds: [GA, ROLE_IDS.directorySynchronizationAccounts] }),
  user("finance", { groupIds: ["g-finance", "g-ca-exclusions"] }),
  user("sales", { groupIds: ["g-sales", "g-ca-exclusions"] }),
  user("guest", { userType: "Guest", userPrincipalName: "ann_fabrikam.com#EXT#@contoso.onmicrosoft.com" }),
  user("legacy-enforced", { perUserMfaState: "enforced", registration: REG_NONE }),
  user("legacy-enabled-excluded", { perUserMfaState: "enabled", groupIds: ["g-ca-exclusions"], registration: REG_APP }),
  user("disabled-account", { accountEnabled: false, groupIds: ["g-ca-exclusions"] }),
  user("unknown-state", { perUserMfaState: "unknown", groupIds: ["g-ca-exclusions"] }),
];

const EXPECTED: Record<string, Protection> = {
  member: "conditional access (all apps)",
  contractor: "none",
  "admin-excluded": "conditional access (some apps)", // the admin policy targets Office 365 only
  sync: "none", // Directory Synchronization Accounts is excluded from the admin policy
  finance: "none", // report-only does not count
  sales: "none", // MFA OR compliant device: not guaranteed
  guest: "conditional access (some apps)", // excluded from all-users, covered for Exchange Online only
  "legacy-enforced": "per-user enforced",
  "legacy-enabled-excluded": "per-user enabled",
  "disabled-account": "none",
  "unknown-state": "unknown",
};

describe("evaluateUserPosture", () => {
  it("gives each user the first protection that holds", () => {
    const got = Object.fromEntries(USERS.map((u) => [u.id, evaluateUserPosture(u, CONTOSO).effectiveProtection]));
    expect(got).toEqual(EXPECTED);
  });

  it("lists the applying enforced MFA policies and the coverage", () => {
    const admin = evaluateUserPosture(USERS[2]!, CONTOSO);
    expect(admin.caPolicies).toEqual([{ id: "admins", displayName: "Policy admins", allApps: false, limits: ["targets specific applications (Office365)"] }]);
    expect(admin).toMatchObject({ caCoverage: "some apps", isAdmin: true, coveredBySecurityDefaults: false });
    const enforced = evaluateUserPosture(USERS[7]!, CONTOSO);
    expect(enforced).toMatchObject({ caCoverage: "all apps", effectiveProtection: "per-user enforced", protectionWithoutPerUser: "conditional access (all apps)", isAdmin: false });
  });

  it("security defaults cover everyone when on, after conditional access in precedence", () => {
    const sd: PostureTenantFacts = { tenant: "t", securityDefaultsEnabled: true, policies: [] };
    expect(evaluateUserPosture(user("a"), sd)).toMatchObject({ effectiveProtection: "security defaults", caCoverage: "none", coveredBySecurityDefaults: true });
    expect(evaluateUserPosture(user("g", { userType: "Guest" }), sd).effectiveProtection).toBe("security defaults");
    expect(evaluateUserPosture(user("e", { perUserMfaState: "enabled" }), sd).effectiveProtection).toBe("per-user enabled");
  });

  it("never turns unknown sources into none", () => {
    const noCa: PostureTenantFacts = { tenant: "t", securityDefaultsEnabled: false, policies: undefined, policiesReason: "Conditional Access needs Entra ID P1." };
    const a = evaluateUserPosture(user("a"), noCa);
    expect(a).toMatchObject({ effectiveProtection: "unknown", caCoverage: "unknown", unknownSources: [{ source: "conditionalAccess", reason: "Conditional Access needs Entra ID P1." }] });
    const noSd: PostureTenantFacts = { tenant: "t", securityDefaultsEnabled: undefined, securityDefaultsReason: "403", policies: [] };
    expect(evaluateUserPosture(user("a"), noSd)).toMatchObject({ effectiveProtection: "unknown", coveredBySecurityDefaults: undefined });
    // Something known that holds still wins.
    expect(evaluateUserPosture(user("b", { perUserMfaState: "enforced" }), noCa).effectiveProtection).toBe("per-user enforced");
    expect(evaluateUserPosture(user("c"), { ...noCa, securityDefaultsEnabled: true }).effectiveProtection).toBe("security defaults");
    expect(evaluateUserPosture(user("d"), { ...noSd, policies: [policy({ includeUsers: ["All"] })] }).effectiveProtection).toBe("conditional access (all apps)");
  });
});

describe("evaluateTenantPosture", () => {
  const result = evaluateTenantPosture(CONTOSO, USERS);
  const concerned = (code: string) => result.findings.find((f) => f.code === code)?.users.map((u) => u.id);

  it("lists the MFA policies, the report-only ones apart, and the OR ones", () => {
    expect(result.conditionalAccess.mfaPolicies.map((p) => p.id)).toEqual(["all-users", "admins", "guests-exchange", "register"]);
    expect(result.conditionalAccess.reportOnlyMfaPolicies).toEqual([{ id: "finance-report-only", displayName: "Policy finance-report-only" }]);
    expect(result.conditionalAccess.mfaNotGuaranteed.map((p) => [p.id, p.code])).toEqual([["sales-or-device", "alternativeControl"]]);
  });

  it("reports each finding with the users concerned", () => {
    expect(concerned("enforcedWithoutMethod")).toEqual(["legacy-enforced"]);
    expect(concerned("adminWithoutMfa")).toEqual(["sync"]);
    expect(concerned("userWithoutMfa")).toEqual(["contractor", "sync", "finance", "sales"]);
    expect(concerned("protectionUnknown")).toEqual(["unknown-state"]);
    expect(concerned("perUserRedundant")).toEqual(["legacy-enforced"]);
    expect(concerned("perUserMixedWithCa")).toEqual(["legacy-enforced"]);
    for (const f of result.findings) expect(f.message.length).toBeGreaterThan(20);
  });

  it("migration: candidates are covered without per-user MFA; the others are listed, never included", () => {
    const m = migrationCandidates(result.users);
    expect(m.candidates).toEqual([
      { tenant: "contoso.onmicrosoft.com", id: "legacy-enforced", userPrincipalName: "legacy-enforced@contoso.com", perUserMfaState: "enforced", requestedState: "disabled", coveredBy: "conditional access (all apps)", caPolicies: ["all-users"] },
    ]);
    expect(m.leftWithoutMfa).toMatchObject([{ id: "legacy-enabled-excluded", protectionWithoutPerUser: "none" }]);
  });
});

describe("toCippMfaUserRow", () => {
  it("maps to the ListMFAUsers columns", () => {
    const row = toCippMfaUserRow(evaluateUserPosture({ ...USERS[7]!, displayName: "Legacy" }, CONTOSO));
    expect(row).toEqual({
      UPN: "legacy-enforced@contoso.com",
      ID: "legacy-enforced",
      DisplayName: "Legacy",
      AccountEnabled: true,
      UserType: "Member",
      isLicensed: true,
      PerUser: "enforced",
      MFARegistration: false,
      MFACapable: false,
      MFAMethods: [],
      CoveredByCA: "Enforced - All Apps",
      CAPolicies: [{ DisplayName: "Policy all-users", UserIncluded: true, AllApps: true, PolicyState: "enabled" }],
      CoveredBySD: false,
      IsAdmin: false,
      Tenant: "contoso.onmicrosoft.com",
    });
    expect(toCippMfaUserRow(evaluateUserPosture(USERS[2]!, CONTOSO)).CoveredByCA).toBe("Enforced - Specific Apps");
    expect(toCippMfaUserRow(evaluateUserPosture(USERS[1]!, CONTOSO))).toMatchObject({ CoveredByCA: "Not Enforced", MFARegistration: null, PerUser: "disabled" });
    const unknown = toCippMfaUserRow(evaluateUserPosture(user("u", { perUserMfaState: "unknown" }), { tenant: "t", securityDefaultsEnabled: undefined, policies: undefined, policiesReason: "Needs Entra ID P1 or P2." }));
    expect(unknown).toMatchObject({ CoveredByCA: "CA policies not available: Needs Entra ID P1 or P2.", CoveredBySD: null, PerUser: null });
  });
});
