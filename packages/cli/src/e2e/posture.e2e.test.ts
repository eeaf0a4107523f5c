/**
 * `mfactl posture` over real HTTPS against the emulator's seeded tenants (docs/emulator-fidelity.md, "The seeded
 * posture"): the expected protection of each user below is written out by hand from the seeded policies, groups
 * and roles, not computed by the code under test.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mfactl, useEmulatorProcess } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "3", "--users", "25"]);

interface UserJson {
  userPrincipalName: string;
  perUserMfaState: string;
  isAdmin: boolean;
  caCoverage: string;
  caPolicies: { displayName: string; allApps: boolean }[];
  coveredBySecurityDefaults: boolean | null;
  effectiveProtection: string;
  registration?: { isMfaRegistered: boolean };
}
interface TenantJson {
  tenant: string;
  status: string;
  securityDefaults: { enabled?: boolean };
  conditionalAccess: { readable: boolean; mfaPolicies: { displayName: string }[]; reportOnlyMfaPolicies: { displayName: string }[]; mfaNotGuaranteed: { displayName: string }[] };
  unknown: { source: string; code: string; reason: string }[];
  counts: { users: number; byProtection: Record<string, number>; byFinding: Record<string, number> };
  users: UserJson[];
  findings: { code: string; users: { userPrincipalName: string }[] }[];
}

async function posture(tenant: string): Promise<TenantJson> {
  const r = await mfactl(["posture", "-t", tenant, "-o", "json"], lab.emu.env);
  expect(r.code, r.stderr).toBe(0);
  const [t] = (JSON.parse(r.stdout) as { tenants: TenantJson[] }).tenants;
  return t!;
}

const local = (upn: string) => upn.split("@")[0]!.toLowerCase();
const byLocal = (t: TenantJson) => new Map(t.users.map((u) => [local(u.userPrincipalName), u]));
const finding = (t: TenantJson, code: string) => (t.findings.find((f) => f.code === code)?.users ?? []).map((u) => local(u.userPrincipalName)).sort();

describe("mfactl posture", () => {
  it("Conditional Access tenant: nested exclusions, excluded roles, guests, report-only and OR policies, disabled accounts", async () => {
    const t = lab.emu.tenants[0]!.domain;
    // Known per-user states: everyone disabled but the tenant admin.
    await lab.emu.admin("PATCH", `/tenants/${t}/users`, { perUserMfaState: "disabled" });
    await lab.emu.admin("PATCH", `/tenants/${t}/users/admin@${t}`, { perUserMfaState: "enforced" });
    const p = await posture(t);
    expect(p.status).toBe("completed");
    expect(p.unknown).toEqual([]);
    expect(p.securityDefaults.enabled).toBe(false);
    expect(p.conditionalAccess.mfaPolicies.map((x) => x.displayName).sort()).toEqual(["MFA for Finance apps", "Require MFA for admins", "Require MFA for all users"]);
    expect(p.conditionalAccess.reportOnlyMfaPolicies.map((x) => x.displayName)).toEqual(["Report-only: block legacy"]);
    expect(p.conditionalAccess.mfaNotGuaranteed.map((x) => x.displayName)).toEqual(["MFA or compliant device"]);

    const users = byLocal(p);
    const expected: Record<string, { protection: string; ca: string; admin: boolean }> = {
      // Per-user enforced wins; both the admins and the all-users policy apply too.
      admin: { protection: "per-user enforced", ca: "all apps", admin: true },
      // Finance: the all-users policy (all apps) and the Finance policy (two apps).
      "adele.vance": { protection: "conditional access (all apps)", ca: "all apps", admin: false },
      "ingrid.deyoung9": { protection: "conditional access (all apps)", ca: "all apps", admin: false },
      // A User Administrator: both the admins and the all-users policies.
      "debra.chen11": { protection: "conditional access (all apps)", ca: "all apps", admin: true },
      // Excluded from the all-users policy by the MFA Exclusions group, directly or through nested Service Accounts;
      // "MFA or compliant device" does not guarantee MFA.
      "wei.adams10": { protection: "none", ca: "none", admin: false },
      "lee.adams23": { protection: "none", ca: "none", admin: false },
      "fatima.schmidt22": { protection: "none", ca: "none", admin: false },
      // Excluded by name from all users and, through Emergency Access, from the admins policy.
      breakglass: { protection: "none", ca: "none", admin: true },
      // The guest is in "All" users.
      "john.doe_fabrikam.com#ext#": { protection: "conditional access (all apps)", ca: "all apps", admin: false },
      // A disabled account is still evaluated.
      "former.employee": { protection: "conditional access (all apps)", ca: "all apps", admin: false },
    };
    for (const [name, want] of Object.entries(expected)) {
      const u = users.get(name);
      expect(u, name).toBeDefined();
      expect({ name, protection: u!.effectiveProtection, ca: u!.caCoverage, admin: u!.isAdmin }).toEqual({ name, ...want });
    }
    // The directory synchronisation account: excluded by its role, an admin without MFA.
    const sync = [...users.entries()].find(([name]) => name.startsWith("sync_srv01_"))!;
    expect(sync[1]).toMatchObject({ effectiveProtection: "none", isAdmin: true, caCoverage: "none" });
    expect(users.get("adele.vance")!.caPolicies.map((x) => [x.displayName, x.allApps]).sort()).toEqual([
      ["MFA for Finance apps", false],
      ["Require MFA for all users", true],
    ]);

    expect(finding(p, "adminWithoutMfa")).toEqual(["breakglass", sync[0]].sort());
    expect(finding(p, "userWithoutMfa")).toEqual(expect.arrayContaining(["breakglass", "fatima.schmidt22", "lee.adams23", "wei.adams10"]));
    expect(finding(p, "userWithoutMfa")).not.toContain("former.employee");
    expect(finding(p, "perUserRedundant")).toEqual(["admin"]);
    expect(finding(p, "perUserMixedWithCa")).toEqual(["admin"]);
    expect(p.counts.users).toBe(25);
    expect(p.counts.byProtection["per-user enforced"]).toBe(1);
    expect(p.counts.byFinding["adminWithoutMfa"]).toBe(2);
  });

  it("security defaults tenant, and a tenant without P1/P2: what could not be known is said, not guessed; others unaffected", async () => {
    const [, fabrikam, northwind] = lab.emu.tenants;
    for (const t of [fabrikam!.domain, northwind!.domain]) {
      await lab.emu.admin("PATCH", `/tenants/${t}/users`, { perUserMfaState: "disabled" });
      await lab.emu.admin("PATCH", `/tenants/${t}/users/admin@${t}`, { perUserMfaState: "enforced" });
    }
    const r = await mfactl(["posture", "-t", fabrikam!.domain, "-t", northwind!.domain, "-o", "json"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    const tenants = new Map((JSON.parse(r.stdout) as { tenants: TenantJson[] }).tenants.map((t) => [t.tenant, t]));
    const sd = tenants.get(fabrikam!.domain)!;
    expect(sd.securityDefaults.enabled).toBe(true);
    expect(sd.unknown).toEqual([]);
    expect(new Set(sd.users.filter((u) => local(u.userPrincipalName) !== "admin").map((u) => u.effectiveProtection))).toEqual(new Set(["security defaults"]));
    expect(byLocal(sd).get("admin")!.effectiveProtection).toBe("per-user enforced");
    expect(finding(sd, "perUserRedundant")).toEqual(["admin"]);
    expect(finding(sd, "userWithoutMfa")).toEqual([]);

    const free = tenants.get(northwind!.domain)!;
    expect(free.status).toBe("completed");
    expect(free.unknown.map((u) => [u.source, u.code]).sort()).toEqual([
      ["conditionalAccess", "LicenceRequired"],
      ["registration", "LicenceRequired"],
      ["signIns", "LicenceRequired"],
    ]);
    expect(free.unknown.every((u) => /P1 or P2/.test(u.reason))).toBe(true);
    expect(free.conditionalAccess.readable).toBe(false);
    const users = byLocal(free);
    expect(users.get("admin")!.effectiveProtection).toBe("per-user enforced");
    expect(users.get("adele.vance")).toMatchObject({ effectiveProtection: "unknown", caCoverage: "unknown" });
    expect(users.get("adele.vance")!.registration).toBeUndefined();
    expect(free.users.some((u) => u.effectiveProtection === "none")).toBe(false);
    expect(finding(free, "userWithoutMfa")).toEqual([]);
    expect(finding(free, "protectionUnknown").length).toBeGreaterThan(10);
    expect(r.stderr).toMatch(new RegExp(`note: tenant ${northwind!.domain.replace(/\./g, "\\.")}: Reading Conditional Access policies needs Microsoft Entra ID P1 or P2`));

    const csv = await mfactl(["posture", "-t", northwind!.domain, "-o", "csv", "--cipp"], lab.emu.env);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout.split(/\r?\n/)[0]).toBe("UPN,ID,DisplayName,AccountEnabled,UserType,isLicensed,PerUser,MFARegistration,MFACapable,MFAMethods,CoveredByCA,CAPolicies,CoveredBySD,IsAdmin,Tenant");
  });

  it("migrate plan: per-user disabled only for users CA for all apps covers; those left without MFA are listed, not included; apply carries it out", async () => {
    const t = lab.emu.tenants[0]!.domain;
    const dir = mkdtempSync(join(tmpdir(), "mfactl-migrate-"));
    const env = { ...lab.emu.env, MFACTL_DB: join(dir, "journal.db") };
    await lab.emu.admin("PATCH", `/tenants/${t}/users`, { perUserMfaState: "disabled" });
    // Written out by hand from the seeded policies: admin and adele are covered for all apps; wei (MFA Exclusions),
    // lee (Service Accounts, nested in MFA Exclusions) and breakglass (excluded by name) have nothing else.
    for (const [user, state] of [["admin", "enforced"], ["adele.vance", "enabled"], ["wei.adams10", "enforced"], ["lee.adams23", "enabled"], ["breakglass", "enforced"]] as const) {
      await lab.emu.admin("PATCH", `/tenants/${t}/users/${user}@${t}`, { perUserMfaState: state });
    }
    const r = await mfactl(["migrate", "plan", "-t", t, "--out", join(dir, "migrate.json")], env);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(join(dir, "migrate.json"), "utf8")) as { source: { command: string }; items: { userPrincipalName: string; requestedState: string }[]; leftOut: { userPrincipalName: string; reason: string }[] };
    expect(plan.source.command).toBe("migrate");
    expect(plan.items.map((i) => local(i.userPrincipalName)).sort()).toEqual(["adele.vance", "admin"]);
    expect(plan.items.every((i) => i.requestedState === "disabled")).toBe(true);
    expect(plan.leftOut.filter((l) => l.reason === "wouldLoseMfa").map((l) => local(l.userPrincipalName)).sort()).toEqual(["breakglass", "lee.adams23", "wei.adams10"]);

    const applied = await mfactl(["apply", join(dir, "migrate.json"), "--yes", "-q"], env);
    expect(applied.code, applied.stderr).toBe(0);
    const after = byLocal(await posture(t));
    expect(after.get("admin")).toMatchObject({ perUserMfaState: "disabled", effectiveProtection: "conditional access (all apps)" });
    expect(after.get("adele.vance")).toMatchObject({ perUserMfaState: "disabled", effectiveProtection: "conditional access (all apps)" });
    expect(after.get("wei.adams10")!.perUserMfaState).toBe("enforced");
    // Set enabled; a user with a registered method reads enforced. Either way: left alone.
    expect(after.get("lee.adams23")!.perUserMfaState).not.toBe("disabled");
    expect(after.get("breakglass")!.perUserMfaState).toBe("enforced");
  });
});
