import { describe, expect, it } from "vitest";
import type { MfaStateRead } from "../domain/mfa-state.js";
import { CaPolicySchema, type CaPolicy } from "./ca-policy.js";
import { evaluateTenantPosture, evaluateUserPosture, migrationCandidates, type PostureTenantFacts, type PostureUser } from "./evaluate-posture.js";

/** mulberry32: a small seeded generator, so a failure is reproducible from its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const some = <T>(xs: readonly T[], p = 0.3): T[] => xs.filter(() => next() < p);
  return { next, pick, some, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof rng>;

const USER_IDS = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"];
const GROUPS = ["g0", "g1", "g2", "g3"];
const ROLES = ["r-ga", "r-ua", "r-sec"];
const CONTROLS = ["mfa", "compliantDevice", "domainJoinedDevice", "approvedApplication", "compliantApplication", "passwordChange", "block"];
const STATES: MfaStateRead[] = ["disabled", "enabled", "enforced", "unknown"];

function randomPolicy(r: Rng, i: number): CaPolicy {
  const specials = r.some(["All", "None", "GuestsOrExternalUsers"], 0.25);
  const guests = () => (r.chance(0.2) ? { guestOrExternalUserTypes: r.some(["internalGuest", "b2bCollaborationGuest", "b2bCollaborationMember"], 0.5).join(","), externalTenants: { membershipKind: r.pick(["all", "enumerated"]) } } : null);
  return CaPolicySchema.parse({
    id: `p${i}`,
    displayName: `P${i}`,
    state: r.pick(["enabled", "enabled", "disabled", "enabledForReportingButNotEnforced"]),
    conditions: {
      users: {
        includeUsers: [...specials, ...r.some(USER_IDS, 0.2)],
        excludeUsers: [...r.some(["GuestsOrExternalUsers"], 0.1), ...r.some(USER_IDS, 0.1)],
        includeGroups: r.some(GROUPS, 0.3),
        excludeGroups: r.some(GROUPS, 0.15),
        includeRoles: r.some(ROLES, 0.3),
        excludeRoles: r.some(ROLES, 0.1),
        includeGuestsOrExternalUsers: guests(),
        excludeGuestsOrExternalUsers: guests(),
      },
      applications: {
        includeApplications: r.pick([["All"], ["All"], ["Office365"], ["app-1"], [], ["None"]]),
        excludeApplications: r.chance(0.2) ? ["app-2"] : [],
        includeUserActions: r.chance(0.2) ? ["urn:user:registersecurityinfo"] : [],
      },
      clientAppTypes: r.pick([["all"], ["all"], ["browser"], ["browser", "mobileAppsAndDesktopClients"], []]),
      ...(r.chance(0.2) ? { locations: { includeLocations: ["All"], excludeLocations: r.chance(0.5) ? ["AllTrusted"] : [] } } : {}),
    },
    grantControls: r.chance(0.1)
      ? null
      : {
          operator: r.pick(["OR", "AND"]),
          builtInControls: r.some(CONTROLS, 0.35),
          authenticationStrength: r.chance(0.2) ? { id: "s", displayName: "S", requirementsSatisfied: r.pick(["mfa", "none"]) } : null,
        },
  });
}

function randomUser(r: Rng, id: string): PostureUser {
  const guest = r.chance(0.2);
  return {
    id,
    userPrincipalName: guest || r.chance(0.05) ? `${id}_fabrikam.com#EXT#@contoso.onmicrosoft.com` : `${id}@contoso.com`,
    userType: guest ? "Guest" : "Member",
    accountEnabled: r.chance(0.85),
    isLicensed: r.chance(0.8),
    perUserMfaState: r.pick(STATES),
    roleTemplateIds: r.some(ROLES, 0.15),
    groupIds: r.some(GROUPS, 0.35),
    ...(r.chance(0.7) ? { registration: { isMfaRegistered: r.chance(0.6), isMfaCapable: r.chance(0.6), methodsRegistered: [] } } : {}),
  };
}

function randomTenant(r: Rng): { tenant: PostureTenantFacts; users: PostureUser[] } {
  const policies = r.chance(0.15) ? undefined : Array.from({ length: Math.floor(r.next() * 6) }, (_, i) => randomPolicy(r, i));
  const securityDefaultsEnabled = r.pick([true, false, false, false, undefined]);
  return {
    tenant: { tenant: "t", securityDefaultsEnabled, policies, ...(policies === undefined ? { policiesReason: "no P1" } : {}) },
    users: USER_IDS.map((id) => randomUser(r, id)),
  };
}

describe("migrationCandidates (property)", () => {
  it("never proposes a user whose protection without per-user MFA would be none, unknown or CA for some apps", () => {
    let candidates = 0;
    let held = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const r = rng(seed);
      const { tenant, users } = randomTenant(r);
      const posture = evaluateTenantPosture(tenant, users);
      const m = migrationCandidates(posture.users);
      const ids = new Set(m.candidates.map((c) => c.id));
      for (const c of m.candidates) {
        const original = users.find((u) => u.id === c.id);
        expect(original, `seed ${seed}`).toBeDefined();
        // Re-evaluate the user as they would be after the change.
        const after = evaluateUserPosture({ ...original!, perUserMfaState: "disabled" }, tenant).effectiveProtection;
        expect(["conditional access (all apps)", "security defaults"], `seed ${seed}, ${c.id}: ${after}`).toContain(after);
        // An all-apps CA candidate has an enabled policy for All apps that requires MFA.
        if (c.coveredBy === "conditional access (all apps)") {
          const p = tenant.policies?.find((x) => x.id === c.caPolicies[0]);
          expect(p?.state, `seed ${seed}`).toBe("enabled");
          expect(p?.conditions.applications.includeApplications, `seed ${seed}`).toContain("All");
          // Independent check of the grant and the exclusions.
          const g = p?.grantControls;
          const mfa = g?.builtInControls.includes("mfa") === true || g?.authenticationStrength?.requirementsSatisfied === "mfa";
          const alternatives = g?.builtInControls.filter((x) => x !== "mfa") ?? [];
          expect(mfa && (g?.operator === "AND" || alternatives.length === 0), `seed ${seed}`).toBe(true);
          const u = p?.conditions.users;
          expect(u?.excludeUsers.includes(c.id) || u?.excludeGroups.some((x) => original!.groupIds.includes(x)) || u?.excludeRoles.some((x) => original!.roleTemplateIds.includes(x)), `seed ${seed}`).toBe(false);
        }
      }
      for (const u of posture.users) {
        const perUser = u.perUserMfaState === "enabled" || u.perUserMfaState === "enforced";
        const listed = m.leftWithoutMfa.some((h) => h.id === u.id);
        // Every per-user user is in exactly one list; nobody else is in either.
        expect(ids.has(u.id) !== listed || (!perUser && !listed && !ids.has(u.id)), `seed ${seed}, ${u.id}`).toBe(true);
        expect(ids.has(u.id) || listed, `seed ${seed}, ${u.id}`).toBe(perUser);
        // Unknown sources never read as none.
        if (u.effectiveProtection === "none") expect(u.unknownSources, `seed ${seed}, ${u.id}`).toEqual([]);
      }
      candidates += m.candidates.length;
      held += m.leftWithoutMfa.length;
    }
    // The generator reaches both outcomes.
    expect(candidates).toBeGreaterThan(100);
    expect(held).toBeGreaterThan(100);
  });
});
