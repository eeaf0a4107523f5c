import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { adminUser, mfactl, useEmulatorProcess, type AdminStats } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "2", "--users", "20", "--seed", "e2e-set"]);

async function readThroughGraph(user: string): Promise<{ id: string; userPrincipalName: string; perUserMfaState: string }> {
  const r = await mfactl(["get", "--tenant", lab.domain, "--user", user, "--output", "json"], lab.emu.env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { id: string; userPrincipalName: string; perUserMfaState: string };
}

describe("the four examples of Set-CIPPPerUserMFA, done with mfactl set", () => {
  it("enable by UPN", async () => {
    const upn = `alex.wilber@${lab.domain}`;
    const r = await mfactl(["set", "--customer-tenant-id", lab.domain, "--user-principal-name", upn, "--state", "Enabled", "--output", "json"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ tenant: lab.domain, userPrincipalName: upn, previousState: "disabled", requestedState: "enabled", perUserMfaState: "enabled", status: "changed" });
    expect(JSON.parse(r.stdout).requestId).toMatch(/\S/);
    expect((await readThroughGraph(upn)).perUserMfaState).toBe("enabled");
  });

  it("enforce by UPN", async () => {
    const upn = `adele.vance@${lab.domain}`;
    const r = await mfactl(["set", "--customer-tenant-id", lab.domain, "--user-principal-name", upn, "--state", "Enforced"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/adele\.vance@\S+\s+disabled\s+enforced\s+enforced\s+changed/);
    expect((await readThroughGraph(upn)).perUserMfaState).toBe("enforced");
  });

  it("enable by user id", async () => {
    const user = await adminUser(lab.emu, lab.domain, `alex.wilber@${lab.domain}`);
    const r = await mfactl(["set", "--customer-tenant-id", lab.domain, "--user-id", user.id, "--state", "Enabled", "--output", "json"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: user.id, userPrincipalName: user.userPrincipalName, status: "changed", perUserMfaState: "enabled" });
    expect((await readThroughGraph(user.id)).perUserMfaState).toBe("enabled");
  });

  it("disable by UPN", async () => {
    const upn = `admin@${lab.domain}`;
    expect((await readThroughGraph(upn)).perUserMfaState).toBe("enforced");
    const r = await mfactl(["set", "--customer-tenant-id", lab.domain, "--user-principal-name", upn, "--state", "Disabled", "--output", "json"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ previousState: "enforced", perUserMfaState: "disabled", status: "changed" });
    expect((await readThroughGraph(upn)).perUserMfaState).toBe("disabled");
  });
});

describe("guests, dry run, idempotence", () => {
  it("a guest by UPN (#EXT#) is changed and read back", async () => {
    const upn = `john.doe_fabrikam.com#EXT#@${lab.domain}`;
    const r = await mfactl(["set", "-t", lab.domain, "-u", upn, "-s", "enforced", "-o", "json"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ userPrincipalName: upn, status: "changed", perUserMfaState: "enforced" });
    expect((await readThroughGraph(upn)).perUserMfaState).toBe("enforced");
    expect((await adminUser(lab.emu, lab.domain, upn)).perUserMfaState).toBe("enforced");
  });

  it("--dry-run reports what would change and changes nothing", async () => {
    const upn = `alex.wilber@${lab.domain}`;
    await lab.emu.admin("POST", "/stats/reset");
    const r = await mfactl(["set", "-t", lab.domain, "-u", upn, "-s", "enforced", "--dry-run", "-o", "json"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "wouldChange", previousState: "disabled", perUserMfaState: "disabled" });
    const stats = await lab.emu.admin<AdminStats>("GET", "/stats");
    expect(stats.patches).toBe(0);
    expect(stats.requests).toBeGreaterThan(0);
    expect((await adminUser(lab.emu, lab.domain, upn)).perUserMfaState).toBe("disabled");
  });

  it("enabled twice on a user with a registered method: changed (reads enforced), then no PATCH at all", async () => {
    const upn = `adele.vance@${lab.domain}`;
    const before = await adminUser(lab.emu, lab.domain, upn);
    expect(before.methods.length).toBeGreaterThan(0);
    const first = await mfactl(["set", "-t", lab.domain, "-u", upn, "-s", "enabled", "-o", "json"], lab.emu.env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ status: "changed", requestedState: "enabled", perUserMfaState: "enforced" });
    const second = await mfactl(["set", "-t", lab.domain, "-u", upn, "-s", "enabled", "-o", "json"], lab.emu.env);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ status: "unchanged", previousState: "enforced", perUserMfaState: "enforced" });
    expect((await adminUser(lab.emu, lab.domain, upn)).patchCount).toBe(1);
  });

  it("get prints a table by default", async () => {
    const r = await mfactl(["get", "--tenant", lab.domain, "--user", `megan.bowen@${lab.domain}`], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/^TENANT\s+USER\s+ID\s+STATE$/);
    expect(r.stdout).toMatch(/megan\.bowen@\S+\s+[0-9a-f-]{36}\s+enabled/);
  });

  it("a certificate credential works as well as a secret", async () => {
    const { MFACTL_CLIENT_SECRET: _secret, ...rest } = lab.emu.env;
    const r = await mfactl(["get", "--tenant", lab.domain, "--user", `admin@${lab.domain}`, "-o", "json"], { ...rest, MFACTL_CERTIFICATE_PATH: lab.emu.certificateFile });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).perUserMfaState).toBe("enforced");
  });

  it("settings can come from a profile in a config file", async () => {
    const { writeFileSync, mkdtempSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "mfactl-profile-"));
    const config = join(dir, "config.json");
    writeFileSync(
      config,
      JSON.stringify({
        profiles: {
          lab: { clientId: lab.emu.clientId, clientSecret: lab.emu.clientSecret, authorityHost: lab.emu.authorityHost, graphUrl: lab.emu.graphUrl, caFile: lab.emu.caFile, tenant: lab.domain },
        },
      }),
    );
    const r = await mfactl(["get", "--config", config, "--profile", "lab", "--user", `admin@${lab.domain}`, "-o", "json"], {});
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ tenant: lab.domain, perUserMfaState: "enforced" });
  });
});

describe("set is journaled", () => {
  it("the change is a run in the journal with actor, host and request id, and undo puts the user back", async () => {
    const env = { ...lab.emu.env, MFACTL_DB: join(mkdtempSync(join(tmpdir(), "mfactl-set-")), "journal.db") };
    const upn = `megan.bowen@${lab.domain}`;
    const r = await mfactl(["set", "-t", lab.domain, "-u", upn, "-s", "disabled", "-o", "json"], env);
    expect(r.code, r.stderr).toBe(0);
    const change = JSON.parse(r.stdout) as { runId: string; requestId: string; previousState: string };
    expect(change.previousState).toBe("enabled");
    const shown = await mfactl(["runs", "show", change.runId, "-o", "json"], env);
    const journal = JSON.parse(shown.stdout) as { run: { kind: string; actor: string; host: string; status: string }; changes: { userPrincipalName: string; previousState: string; requestedState: string; perUserMfaState: string; status: string; requestId: string; sentAt: string }[] };
    expect(journal.run).toMatchObject({ kind: "set", actor: `app:${lab.emu.clientId}`, status: "completed" });
    expect(journal.run.host).toMatch(/\S/);
    expect(journal.changes).toEqual([
      expect.objectContaining({ userPrincipalName: upn, previousState: "enabled", requestedState: "disabled", perUserMfaState: "disabled", status: "changed", requestId: change.requestId }),
    ]);
    const undo = await mfactl(["undo", change.runId, "--yes", "-q"], env);
    expect(undo.code, undo.stderr).toBe(0);
    expect((await readThroughGraph(upn)).perUserMfaState).toBe("enabled");
    // A dry run or a change that is not needed records nothing.
    await mfactl(["set", "-t", lab.domain, "-u", upn, "-s", "enabled"], env);
    await mfactl(["set", "-t", lab.domain, "-u", upn, "-s", "disabled", "--dry-run"], env);
    expect(JSON.parse((await mfactl(["runs", "-o", "json"], env)).stdout)).toHaveLength(2);
    expect((await adminUser(lab.emu, lab.domain, upn)).patchCount).toBe(2);
  });
});
