/**
 * Desired state over real HTTPS: `drift` finds exactly the users the policy says differ (rules in
 * order, `enabled` met by `enforced`, exclusions by nested group, break-glass and the directory
 * synchronisation account left alone), `enforce` fixes them through the journal, and `drift`
 * then reports none.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mfactl, useEmulatorProcess, type AdminStats } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "2", "--users", "80", "--seed", "e2e-drift"]);

interface AdminView {
  id: string;
  userPrincipalName: string;
  userType: string;
  accountEnabled: boolean;
  isLicensed: boolean;
  perUserMfaState: string;
}
interface AdminGroup {
  id: string;
  displayName: string;
  memberIds: string[];
  memberGroupIds: string[];
}

async function transitiveMembers(tenant: string, name: string): Promise<Set<string>> {
  const groups = await lab.emu.admin<AdminGroup[]>("GET", `/tenants/${tenant}/groups`);
  const byId = new Map(groups.map((g) => [g.id, g]));
  const out = new Set<string>();
  const walk = (g: AdminGroup | undefined, seen: Set<string>) => {
    if (!g || seen.has(g.id)) return;
    seen.add(g.id);
    g.memberIds.forEach((id) => out.add(id));
    g.memberGroupIds.forEach((id) => walk(byId.get(id), seen));
  };
  walk(groups.find((g) => g.displayName === name), new Set());
  return out;
}

describe("drift and enforce", () => {
  it("drift finds exactly the expected users (exit 3); enforce leaves no drift (exit 0); tenants outside the policy are untouched", async () => {
    const [contoso, fabrikam] = lab.emu.tenants;
    const t = contoso!.domain;
    const dir = mkdtempSync(join(tmpdir(), "mfactl-drift-"));
    const env = { ...lab.emu.env, MFACTL_DB: join(dir, "journal.db") };
    writeFileSync(
      join(dir, "policy.yaml"),
      `version: 1
policies:
  - name: Customers
    tenants: [${t}]
    rules:
      - name: Guests
        when: { userType: guest }
        state: disabled
      - name: Finance
        when: { memberOf: [Finance] }
        state: enabled
      - name: Licensed members
        when: { userType: member, licensed: true, accountEnabled: true }
        state: enforced
    exclude:
      groups: ["MFA Exclusions"]
    breakGlass: [breakglass@${t}]
`,
    );

    // Known starting point: everyone enforced, then a few licensed members and Finance users disabled.
    await lab.emu.admin("PATCH", `/tenants/${t}/users`, { perUserMfaState: "enforced" });
    const list = await lab.emu.admin<{ id: string }[]>("GET", `/tenants/${t}/users`);
    const users = await Promise.all(list.map((u) => lab.emu.admin<AdminView>("GET", `/tenants/${t}/users/${u.id}`)));
    const finance = await transitiveMembers(t, "Finance");
    const excluded = await transitiveMembers(t, "MFA Exclusions");
    expect(finance.size).toBeGreaterThan(0);
    expect(excluded.size).toBeGreaterThan(0);
    const licensedMembers = users.filter((u) => u.userType === "Member" && u.isLicensed && u.accountEnabled && !finance.has(u.id));
    const toDisable = [...licensedMembers.slice(0, 4), ...users.filter((u) => finance.has(u.id)).slice(0, 2), ...users.filter((u) => excluded.has(u.id)).slice(0, 1)];
    await lab.emu.admin("PATCH", `/tenants/${t}/users`, { perUserMfaState: "disabled", users: toDisable.map((u) => u.id) });
    const state = new Map(users.map((u) => [u.id, toDisable.some((d) => d.id === u.id) ? "disabled" : "enforced"]));

    // What the policy says, computed here from the directory as the emulator holds it.
    const expected = users
      .filter((u) => !u.userPrincipalName.startsWith("breakglass@") && !excluded.has(u.id) && !/^sync_/i.test(u.userPrincipalName))
      .filter((u) => {
        const now = state.get(u.id);
        if (u.userType === "Guest") return now !== "disabled";
        if (finance.has(u.id)) return now === "disabled";
        if (u.userType === "Member" && u.isLicensed && u.accountEnabled) return now !== "enforced";
        return false;
      })
      .map((u) => u.userPrincipalName)
      .sort();
    expect(expected.length).toBeGreaterThan(5);

    const drift = await mfactl(["drift", "--policy", join(dir, "policy.yaml"), "-o", "json"], env);
    expect(drift.code, drift.stderr).toBe(3);
    const found = JSON.parse(drift.stdout) as { users: { userPrincipalName: string; requestedState: string; rule: string; drift: boolean }[] };
    expect(found.users.map((u) => u.userPrincipalName).sort()).toEqual(expected);
    expect(found.users.every((u) => u.drift)).toBe(true);
    // A Finance user reading enforced is asked to be enabled: not drift; one disabled is.
    expect(found.users.filter((u) => u.rule === "Finance").every((u) => u.requestedState === "enabled")).toBe(true);

    const all = await mfactl(["drift", "--policy", join(dir, "policy.yaml"), "--all", "-o", "json"], env);
    const every = JSON.parse(all.stdout) as { users: { userPrincipalName: string; managed: boolean; reason?: string }[] };
    expect(every.users).toHaveLength(users.length);
    const reasons = new Map(every.users.map((u) => [u.userPrincipalName, u.reason]));
    expect(reasons.get(`breakglass@${t}`)).toBe("breakGlass");
    expect([...reasons].find(([upn]) => /^sync_/i.test(upn))?.[1]).toBe("directorySync");
    expect(reasons.get(toDisable.at(-1)!.userPrincipalName)).toBe("excludedGroup");

    const fabrikamBefore = await lab.emu.admin<{ patchCount: number }[]>("GET", `/tenants/${fabrikam!.domain}/users`);
    await lab.emu.admin("POST", "/stats/reset");
    const enforce = await mfactl(["enforce", "--policy", join(dir, "policy.yaml"), "--yes", "-o", "json"], env);
    expect(enforce.code, enforce.stderr).toBe(0);
    const changes = JSON.parse(enforce.stdout) as { userPrincipalName: string; status: string; runId?: string }[];
    expect(changes.map((c) => c.userPrincipalName).sort()).toEqual(expected);
    expect(changes.every((c) => c.status === "changed" && c.runId)).toBe(true);
    expect((await lab.emu.admin<AdminStats>("GET", "/stats")).patches).toBe(expected.length);

    const after = await mfactl(["drift", "--policy", join(dir, "policy.yaml")], env);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toContain("No drift.");
    const fabrikamAfter = await lab.emu.admin<{ patchCount: number }[]>("GET", `/tenants/${fabrikam!.domain}/users`);
    expect(fabrikamAfter.map((u) => u.patchCount)).toEqual(fabrikamBefore.map((u) => u.patchCount));

    // The enforce run is journaled like any other: it can be undone.
    const undo = await mfactl(["undo", changes[0]!.runId!, "--yes", "-q"], env);
    expect(undo.code, undo.stderr).toBe(0);
    const back = await mfactl(["drift", "--policy", join(dir, "policy.yaml"), "-o", "json"], env);
    expect(back.code).toBe(3);
    expect((JSON.parse(back.stdout) as { users: { userPrincipalName: string }[] }).users.map((u) => u.userPrincipalName).sort()).toEqual(expected);
  }, 120_000);

  it("a bad policy file is a clear error (exit 2) and nothing is read or changed; a missing group fails the tenant (exit 1)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mfactl-drift-"));
    const t = lab.domain;
    writeFileSync(join(dir, "typo.yaml"), `version: 1\npolicies:\n  - name: P\n    tenants: [${t}]\n    rules:\n      - name: R\n        state: enforcd\n`);
    const bad = await mfactl(["enforce", "--policy", join(dir, "typo.yaml"), "--yes"], lab.emu.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/policies\[0\]\.rules\[0\]\.state \(line 7/);
    expect((await lab.emu.admin<AdminStats>("GET", "/stats")).requests).toBe(0);

    writeFileSync(join(dir, "nogroup.json"), JSON.stringify({ version: 1, policies: [{ name: "P", tenants: [t], rules: [{ name: "All", state: "enforced" }], exclude: { groups: ["No Such Group"] } }] }));
    const missing = await mfactl(["enforce", "--policy", join(dir, "nogroup.json"), "--yes"], { ...lab.emu.env, MFACTL_DB: join(dir, "j.db") });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No group named "No Such Group"/);
    // A tenant named on the command line that no policy covers is a failure, not "no drift".
    const other = lab.emu.tenants[1]!.domain;
    const uncovered = await mfactl(["drift", "--policy", join(dir, "nogroup.json"), "--tenant", other, "-o", "json"], lab.emu.env);
    expect(uncovered.code).toBe(1);
    expect((JSON.parse(uncovered.stdout) as { tenants: { tenant: string; error?: { code: string } }[] }).tenants).toEqual([expect.objectContaining({ tenant: other, error: expect.objectContaining({ code: "NoPolicyForTenant" }) as unknown })]);
    expect((await lab.emu.admin<AdminStats>("GET", "/stats")).patches).toBe(0);
  });
});
