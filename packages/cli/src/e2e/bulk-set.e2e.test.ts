import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { adminUser, mfactl, useEmulatorProcess, type AdminStats } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "2", "--users", "40", "--seed", "e2e-bulk"]);
const tmp = () => mkdtempSync(join(tmpdir(), "mfactl-bulk-"));

interface Change {
  tenant: string;
  id: string;
  userPrincipalName: string;
  status: string;
  previousState?: string;
  perUserMfaState?: string;
  error?: { code: string; message: string };
  requestId?: string;
}

/** The tenant's users but the directory synchronisation account, which bulk set protects (plan-apply.e2e tests that). */
async function listUsers(tenant: string): Promise<{ userPrincipalName: string; perUserMfaState: string; userType: string }[]> {
  const r = await mfactl(["report", "-t", tenant, "-o", "json"], lab.emu.env);
  return (JSON.parse(r.stdout) as { users: { userPrincipalName: string; perUserMfaState: string; userType: string }[] }).users.filter((u) => !/^sync_/i.test(u.userPrincipalName));
}

describe("mfactl bulk set", () => {
  it("sets every user from a CSV across two tenants, skips those already set, confirms each change", async () => {
    const [a, b] = lab.emu.tenants;
    const users = [...(await listUsers(a!.domain)).slice(0, 25).map((u) => [a!.domain, u.userPrincipalName]), ...(await listUsers(b!.domain)).slice(0, 15).map((u) => [b!.domain, u.userPrincipalName])];
    const dir = tmp();
    writeFileSync(join(dir, "in.csv"), `tenant,userPrincipalName\n${users.map(([t, u]) => `${t},"${u}"`).join("\n")}\n`);
    const r = await mfactl(["bulk", "set", "--state", "enforced", "--input", join(dir, "in.csv"), "--yes", "-o", "json"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as Change[];
    expect(results).toHaveLength(40);
    expect(results.every((x) => x.status === "changed" || x.status === "unchanged")).toBe(true);
    expect(results.filter((x) => x.status === "changed").every((x) => x.perUserMfaState === "enforced" && x.requestId)).toBe(true);
    for (const x of results) expect((await adminUser(lab.emu, x.tenant, x.id)).perUserMfaState).toBe("enforced");
    const stats = await lab.emu.admin<AdminStats>("GET", "/stats");
    expect(stats.patches).toBe(results.filter((x) => x.status === "changed").length);
  });

  it("under throttling and faults inside batches, every user ends in the requested state or is reported failed; none reported changed without Graph confirming", async () => {
    const t = lab.emu.tenants[0]!.domain;
    const saved = await lab.emu.admin<{ faultRate: number; throttleLimits: Record<string, number> }>("GET", "/config");
    await lab.emu.admin("PATCH", "/config", { faultRate: 0.15, throttleLimits: { appTenantRuSmall: 60, appTenantRuWindowSeconds: 2, appTenantWrites: 10, appTenantWritesWindowSeconds: 2 } });
    try {
      const r = await mfactl(["bulk", "set", "-t", t, "--state", "enforced", "--all-users", "--yes", "-o", "json"], lab.emu.env, { timeoutMs: 120_000 });
      const results = JSON.parse(r.stdout) as Change[];
      // Every user but the protected directory synchronisation account, left out.
      expect(results).toHaveLength(39);
      expect(results.some((x) => /^sync_/i.test(x.userPrincipalName))).toBe(false);
      expect(r.stderr).toMatch(/1 protected left out/);
      const stats = await lab.emu.admin<AdminStats & { faultsInjected: number }>("GET", "/stats");
      expect(stats.throttledTotal + stats.faultsInjected).toBeGreaterThan(0);
      for (const x of results) {
        const actual = (await adminUser(lab.emu, t, x.id)).perUserMfaState;
        if (x.status === "changed" || x.status === "unchanged") expect(actual).toBe("enforced");
        else expect(x.error?.message).toBeTruthy();
      }
      expect(r.code).toBe(results.some((x) => x.status === "failed") ? 1 : 0);
    } finally {
      await lab.emu.admin("PATCH", "/config", { faultRate: saved.faultRate, throttleLimits: saved.throttleLimits });
    }
  }, 150_000);

  it("--failed-out written from a run with failures, fed back with --input, retries exactly the failed users", async () => {
    const t = lab.emu.tenants[0]!.domain;
    const targets = (await listUsers(t)).filter((u) => u.perUserMfaState === "disabled").slice(0, 8);
    expect(targets.length).toBeGreaterThanOrEqual(4);
    const failing = targets.slice(0, 3).map((u) => u.userPrincipalName);
    // Three users' PATCHes fail for good (503 beyond the retry budget).
    const rules = await Promise.all(failing.map(async (upn) => ({ method: "PATCH", pathIncludes: (await adminUser(lab.emu, t, upn)).id, status: 400, count: 1 })));
    await lab.emu.admin("POST", "/faults", { rules });
    const dir = tmp();
    writeFileSync(join(dir, "in.json"), JSON.stringify(targets.map((u) => ({ userPrincipalName: u.userPrincipalName }))));
    const first = await mfactl(["bulk", "set", "-t", t, "--state", "enabled", "--input", join(dir, "in.json"), "--yes", "--failed-out", join(dir, "failed.csv"), "-o", "json"], lab.emu.env);
    expect(first.code).toBe(1);
    const firstResults = JSON.parse(first.stdout) as Change[];
    expect(firstResults.filter((x) => x.status === "failed").map((x) => x.userPrincipalName).sort()).toEqual([...failing].sort());
    const failedCsv = readFileSync(join(dir, "failed.csv"), "utf8");
    expect(failedCsv.split("\n")[0]).toContain("userPrincipalName");

    await lab.emu.admin("POST", "/stats/reset");
    const second = await mfactl(["bulk", "set", "--state", "enabled", "--input", join(dir, "failed.csv"), "--yes", "-o", "json"], lab.emu.env);
    expect(second.code, second.stderr).toBe(0);
    const secondResults = JSON.parse(second.stdout) as Change[];
    expect(secondResults.map((x) => x.userPrincipalName).sort()).toEqual([...failing].sort());
    expect(secondResults.every((x) => x.status === "changed")).toBe(true);
    const stats = await lab.emu.admin<AdminStats>("GET", "/stats");
    expect(stats.patches).toBe(3);
  });

  it("dry run changes nothing; without --yes off a terminal it refuses and changes nothing", async () => {
    const t = lab.emu.tenants[0]!.domain;
    const dry = await mfactl(["bulk", "set", "-t", t, "--state", "disabled", "--all-users", "--dry-run", "-o", "json"], lab.emu.env);
    expect(dry.code, dry.stderr).toBe(0);
    const results = JSON.parse(dry.stdout) as Change[];
    expect(results.some((x) => x.status === "wouldChange")).toBe(true);
    const refused = await mfactl(["bulk", "set", "-t", t, "--state", "disabled", "--all-users"], lab.emu.env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/add --yes/);
    const stats = await lab.emu.admin<AdminStats>("GET", "/stats");
    expect(stats.patches).toBe(0);
  });

  it("bad input names the line and changes nothing", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "bad.csv"), `userPrincipalName\nadele.vance@${lab.domain}\nnot a user\n`);
    const r = await mfactl(["bulk", "set", "-t", lab.domain, "--state", "enforced", "--input", join(dir, "bad.csv"), "--yes"], lab.emu.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line 3/);
    const none = await mfactl(["bulk", "set", "-t", lab.domain, "--state", "enforced", "--yes"], lab.emu.env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("Which users?");
    const stats = await lab.emu.admin<AdminStats>("GET", "/stats");
    expect(stats.requests).toBe(0);
  });
});
