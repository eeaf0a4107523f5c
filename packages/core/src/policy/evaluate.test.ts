import { describe, expect, it } from "vitest";
import type { MfaState, MfaStateRead } from "../domain/mfa-state.js";
import {
  breakGlassAccounts,
  evaluateUser,
  globMatch,
  groupRefs,
  isDrift,
  policyForTenant,
  policyTenantRefs,
  type PolicyDecision,
  type PolicyFacts,
  type PolicyUser,
  type TenantPolicy,
} from "./evaluate.js";
import { parsePolicy } from "./policy-file.js";

const CONTOSO_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const BOB_ID = "8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6";

const POLICY = parsePolicy(
  `version: 1
policies:
  - name: Every customer
    tenants: ["*"]
    rules:
      - name: Guests
        when: { userType: guest }
        state: disabled
      - name: Licensed members
        when: { userType: member, licensed: true, accountEnabled: true }
        state: enforced
    exclude:
      users: [svc-scanner@contoso.com]
      groups: ["MFA Exclusions"]
    breakGlass: [breakglass@contoso.onmicrosoft.com]
  - name: Contoso finance
    tenants: [${CONTOSO_ID}]
    rules:
      - name: Finance
        when: { memberOf: [Finance, Payroll] }
        state: enabled
  - name: Contoso domains
    tenants: [contoso.com]
    rules:
      - name: Contractors
        when: { upn: ["*@contractors.contoso.com"] }
        state: enabled
    exclude:
      users: [${BOB_ID.toUpperCase()}]
      groups: [Finance, Kiosks]
      directorySyncAccounts: false
    breakGlass: [BreakGlass@contoso.onmicrosoft.com, bg2@contoso.com]
  - name: Fabrikam
    tenants: [fabrikam.com]
    rules:
      - name: Everyone
        state: enforced
`,
  "policy.yaml",
);

function user(overrides: Partial<PolicyUser> = {}): PolicyUser {
  return { id: "00000000-0000-4000-8000-000000000001", userPrincipalName: "adele@contoso.com", userType: "Member", accountEnabled: true, isLicensed: true, ...overrides };
}

function facts(groups: readonly string[] = [], isDirectorySyncAccount = false): PolicyFacts & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    isDirectorySyncAccount,
    memberOf(groupRef) {
      asked.push(groupRef);
      return groups.includes(groupRef);
    },
  };
}

function tenantPolicy(tenant: Parameters<typeof policyForTenant>[1]): TenantPolicy {
  const tp = policyForTenant(POLICY, tenant);
  if (!tp) throw new Error(`no policy for ${tenant.ref}`);
  return tp;
}

const contoso = () => tenantPolicy({ ref: "Contoso.com", id: CONTOSO_ID });
const northwind = () => tenantPolicy({ ref: "northwind.com" });

describe("policyForTenant", () => {
  it("policies naming the tenant come first, in file order, then the * ones; rules concatenated in that order", () => {
    const tp = contoso();
    expect(tp.tenant).toBe("Contoso.com");
    expect(tp.policies).toEqual(["Contoso finance", "Contoso domains", "Every customer"]);
    expect(tp.rules.map((r) => `${r.policy}/${r.name}`)).toEqual([
      "Contoso finance/Finance",
      "Contoso domains/Contractors",
      "Every customer/Guests",
      "Every customer/Licensed members",
    ]);
  });

  it("matches by ref, id, domain or any of the domains, case-insensitively; only the * policy otherwise", () => {
    expect(policyForTenant(POLICY, { ref: CONTOSO_ID.toUpperCase() })?.policies).toEqual(["Contoso finance", "Every customer"]);
    expect(policyForTenant(POLICY, { ref: "x", domain: "CONTOSO.COM" })?.policies).toEqual(["Contoso domains", "Every customer"]);
    expect(policyForTenant(POLICY, { ref: "contoso.onmicrosoft.com", domains: ["contoso.com"] })?.policies).toEqual(["Contoso domains", "Every customer"]);
    expect(northwind().policies).toEqual(["Every customer"]);
  });

  it("undefined when no policy applies", () => {
    const named = parsePolicy('version: 1\npolicies:\n  - { name: A, tenants: [a.com], rules: [{ name: r, state: enabled }] }\n', "p.yaml");
    expect(policyForTenant(named, { ref: "b.com" })).toBeUndefined();
    expect(policyForTenant(named, { ref: "A.com" })?.policies).toEqual(["A"]);
  });

  it("exclusions and break-glass lists are united; directory sync accounts stay excluded unless every applying policy says false", () => {
    const tp = contoso();
    expect(tp.excludeUsers).toEqual([
      { ref: BOB_ID, policy: "Contoso domains" },
      { ref: "svc-scanner@contoso.com", policy: "Every customer" },
    ]);
    expect(tp.excludeDirectorySyncAccounts).toBe(true);
    const onlyFalse = parsePolicy(
      'version: 1\npolicies:\n  - { name: A, tenants: [a.com], rules: [{ name: r, state: enabled }], exclude: { directorySyncAccounts: false } }\n',
      "p.yaml",
    );
    expect(policyForTenant(onlyFalse, { ref: "a.com" })?.excludeDirectorySyncAccounts).toBe(false);
  });

  it("policyTenantRefs lists the explicit tenants once", () => {
    expect(policyTenantRefs(POLICY)).toEqual([CONTOSO_ID, "contoso.com", "fabrikam.com"]);
  });
});

describe("groupRefs and breakGlassAccounts", () => {
  it("every group the tenant's policy mentions, once, in order", () => {
    expect(groupRefs(contoso())).toEqual(["Finance", "Payroll", "Kiosks", "MFA Exclusions"]);
    expect(groupRefs(northwind())).toEqual(["MFA Exclusions"]);
    expect(groupRefs(tenantPolicy({ ref: "fabrikam.com" }))).toEqual(["MFA Exclusions"]);
  });

  it("break-glass accounts of every applying policy", () => {
    expect(breakGlassAccounts(contoso())).toEqual(["BreakGlass@contoso.onmicrosoft.com", "bg2@contoso.com", "breakglass@contoso.onmicrosoft.com"]);
    expect(breakGlassAccounts(northwind())).toEqual(["breakglass@contoso.onmicrosoft.com"]);
  });
});

describe("evaluateUser", () => {
  it("the first matching rule wins, in precedence order", () => {
    // Finance (enabled) comes before the * policy's Licensed members (enforced).
    expect(evaluateUser(contoso(), user(), facts(["Payroll"]))).toEqual({ managed: true, requestedState: "enabled", rule: "Finance", policy: "Contoso finance" });
    expect(evaluateUser(contoso(), user(), facts())).toEqual({ managed: true, requestedState: "enforced", rule: "Licensed members", policy: "Every customer" });
    // A guest contractor: the explicit Contractors rule is tried before the * Guests rule.
    const contractor = user({ userPrincipalName: "Jo@Contractors.Contoso.com", userType: "Guest" });
    expect(evaluateUser(contoso(), contractor, facts())).toMatchObject({ managed: true, rule: "Contractors", requestedState: "enabled" });
    expect(evaluateUser(northwind(), contractor, facts())).toMatchObject({ managed: true, rule: "Guests", requestedState: "disabled" });
  });

  it("all conditions are ANDed; users no rule matches are not managed", () => {
    for (const u of [user({ isLicensed: false }), user({ accountEnabled: false }), user({ userType: "" })]) {
      expect(evaluateUser(northwind(), u, facts())).toEqual({ managed: false, reason: "noRule" });
    }
    expect(evaluateUser(northwind(), user({ userType: "MEMBER" }), facts())).toMatchObject({ managed: true, rule: "Licensed members" });
  });

  it("an absent when matches everyone", () => {
    const fabrikam = tenantPolicy({ ref: "fabrikam.com" });
    expect(evaluateUser(fabrikam, user({ isLicensed: false, accountEnabled: false }), facts())).toEqual({ managed: true, requestedState: "enforced", rule: "Everyone", policy: "Fabrikam" });
  });

  it("break-glass first, by UPN case-insensitively, from any applying policy", () => {
    const bg = user({ userPrincipalName: "BREAKGLASS@contoso.onmicrosoft.com" });
    // Also in an excluded group: break-glass is the reason given.
    expect(evaluateUser(northwind(), bg, facts(["MFA Exclusions"]))).toEqual({
      managed: false,
      reason: "breakGlass",
      detail: 'breakGlass "breakglass@contoso.onmicrosoft.com" in policy "Every customer"',
    });
    expect(evaluateUser(contoso(), user({ userPrincipalName: "bg2@contoso.com" }), facts())).toMatchObject({ reason: "breakGlass" });
    expect(evaluateUser(northwind(), user({ userPrincipalName: "bg2@contoso.com" }), facts())).toMatchObject({ managed: true });
  });

  it("excluded users by object id or UPN", () => {
    expect(evaluateUser(contoso(), user({ id: BOB_ID.toUpperCase() }), facts())).toEqual({
      managed: false,
      reason: "excludedUser",
      detail: `exclude.users "${BOB_ID}" in policy "Contoso domains"`,
    });
    expect(evaluateUser(northwind(), user({ userPrincipalName: "SVC-Scanner@contoso.com" }), facts())).toMatchObject({ reason: "excludedUser" });
    // An object id never matches a UPN and the other way round.
    expect(evaluateUser(northwind(), user({ id: BOB_ID }), facts())).toMatchObject({ managed: true });
  });

  it("excluded groups", () => {
    expect(evaluateUser(contoso(), user(), facts(["Kiosks"]))).toEqual({ managed: false, reason: "excludedGroup", detail: 'exclude.groups "Kiosks" in policy "Contoso domains"' });
    // Finance is a rule's group in one policy and an exclusion in another: exclusions come before every rule.
    expect(evaluateUser(contoso(), user(), facts(["Finance"]))).toMatchObject({ managed: false, reason: "excludedGroup" });
    expect(evaluateUser(northwind(), user(), facts(["Kiosks"]))).toMatchObject({ managed: true });
  });

  it("directory synchronization accounts are excluded by default", () => {
    expect(evaluateUser(northwind(), user(), facts([], true))).toEqual({ managed: false, reason: "directorySync", detail: "holds the Directory Synchronization Accounts role" });
    const managedSync = parsePolicy(
      'version: 1\npolicies:\n  - { name: A, tenants: [a.com], rules: [{ name: r, state: enforced }], exclude: { directorySyncAccounts: false } }\n',
      "p.yaml",
    );
    const tp = policyForTenant(managedSync, { ref: "a.com" });
    if (!tp) throw new Error("expected a policy");
    expect(evaluateUser(tp, user(), facts([], true))).toMatchObject({ managed: true, rule: "r" });
  });

  it("asks only about groups from groupRefs, and none when a cheaper condition already failed", () => {
    const f = facts();
    evaluateUser(contoso(), user({ userType: "Guest" }), f);
    const refs = groupRefs(contoso());
    expect(f.asked.every((g) => refs.includes(g))).toBe(true);
    const guestOnly = parsePolicy(
      'version: 1\npolicies:\n  - { name: A, tenants: ["*"], rules: [{ name: r, when: { userType: guest, memberOf: [G] }, state: enforced }] }\n',
      "p.yaml",
    );
    const g = facts();
    const tp = policyForTenant(guestOnly, { ref: "a.com" });
    if (!tp) throw new Error("expected a policy");
    expect(evaluateUser(tp, user(), g)).toEqual({ managed: false, reason: "noRule" });
    expect(g.asked).toEqual([]);
  });
});

describe("isDrift", () => {
  const managed = (requestedState: MfaState): PolicyDecision => ({ managed: true, requestedState, rule: "r", policy: "p" });

  it.each<[MfaState, MfaStateRead, boolean]>([
    ["enabled", "enforced", false],
    ["enabled", "enabled", false],
    ["enabled", "disabled", true],
    ["enforced", "enabled", true],
    ["enforced", "enforced", false],
    ["disabled", "enforced", true],
    ["disabled", "disabled", false],
    ["disabled", "unknown", true],
    ["enforced", "unknown", true],
  ])("requested %s, read %s: drift %s", (requested, read, drift) => {
    expect(isDrift(managed(requested), read)).toBe(drift);
  });

  it("users the policy does not manage never drift", () => {
    expect(isDrift({ managed: false, reason: "breakGlass" }, "unknown")).toBe(false);
    expect(isDrift({ managed: false, reason: "noRule" }, "disabled")).toBe(false);
  });
});

describe("globMatch", () => {
  it.each<[string, string, boolean]>([
    ["*@contoso.com", "Adele@Contoso.com", true],
    ["*@contoso.com", "adele@sub.contoso.com", false],
    ["*@contoso.com", "x_contoso.com#EXT#@fabrikam.onmicrosoft.com", false],
    ["*#EXT#@*", "x_contoso.com#ext#@fabrikam.onmicrosoft.com", true],
    ["adm-*@*.com", "adm-jo@contoso.com", true],
    ["adm-*@*.com", "jo-adm-@contoso.com", false],
    ["a*a", "a", false],
    ["a*a", "aa", true],
    ["*", "anything", true],
    ["exact@contoso.com", "EXACT@contoso.com", true],
    ["exact@contoso.com", "exact@contoso.community", false],
    ["a.b*", "axb", false],
    ["*ab*ab*", "xxabyyab", true],
    ["*ab*ab*", "xxab", false],
  ])("%s ~ %s: %s", (pattern, value, expected) => {
    expect(globMatch(pattern, value)).toBe(expected);
  });
});
