/**
 * The journal's promise, end to end over HTTPS: `apply` killed with SIGKILL halfway through
 * 2,000 users (10 % injected faults), `resume` finishes it with no user PATCHed twice, the
 * journal accounts for every user, and `undo` restores every previous state except where
 * someone else changed the user in between.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MFACTL_BIN, mfactl, useEmulatorProcess, type AdminStats } from "./harness.js";

const USERS = 2000;
const lab = useEmulatorProcess(["--tenants", "1", "--users", String(USERS), "--seed", "e2e-journal"], { reset: false });

interface AdminState {
  id: string;
  userPrincipalName: string;
  perUserMfaState: string;
  patchCount: number;
}
interface JournalChange {
  id: string;
  status: string;
  previousState?: string;
  perUserMfaState?: string;
  requestId?: string;
}
interface RunJson {
  runId: string;
  kind: string;
  status: string;
  total: number;
  counts: Record<string, number>;
  actor: string;
  host: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("journal: crash, resume, undo", () => {
  it("SIGKILL halfway through apply, then resume: every user ends enforced, none PATCHed twice, the journal accounts for all; undo restores all but a user changed meanwhile", async () => {
    const emu = lab.emu;
    const tenant = emu.tenants[0]!.domain;
    const dir = mkdtempSync(join(tmpdir(), "mfactl-journal-"));
    const db = join(dir, "journal.db");
    const env = { ...emu.env, MFACTL_DB: db };
    const before = new Map((await emu.admin<AdminState[]>("GET", `/tenants/${tenant}/users`)).map((u) => [u.id, u.perUserMfaState]));

    // Writes fast enough for a test, slow enough to stop halfway: about 100 a second.
    await emu.admin("PATCH", "/config", { throttleLimits: { appTenantWrites: 200, appTenantWritesWindowSeconds: 2, tenantWrites: 100_000 }, latencyMs: 5 });
    const plan = await mfactl(["plan", "-t", tenant, "--state", "enforced", "--all-users", "--no-check-methods", "--out", join(dir, "plan.json")], env, { timeoutMs: 120_000 });
    expect(plan.code, plan.stderr).toBe(0);
    const planFile = JSON.parse(readFileSync(join(dir, "plan.json"), "utf8")) as { items: { id: string }[]; leftOut: { reason: string; userPrincipalName: string }[] };
    const inPlan = new Set(planFile.items.map((i) => i.id));
    const planned = inPlan.size;
    expect(plan.stderr).toContain(`${planned} to change`);
    // Everyone not yet enforced, but the directory synchronisation account (protected).
    expect(planned).toBe([...before.values()].filter((s) => s !== "enforced").length - 1);
    expect(planFile.leftOut).toEqual([expect.objectContaining({ reason: "protected", userPrincipalName: expect.stringMatching(/^Sync_/) as string })]);

    await emu.admin("PATCH", "/config", { faultRate: 0.1, faultKinds: ["429", "503", "504", "reset"] });
    await emu.admin("POST", "/stats/reset");
    const child = spawn(process.execPath, [MFACTL_BIN, "apply", join(dir, "plan.json"), "--yes", "-q", "-o", "json"], {
      env: { PATH: process.env.PATH, HOME: dir, ...env } as NodeJS.ProcessEnv,
      stdio: ["ignore", "ignore", "ignore"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    for (let i = 0; i < 1200; i++) {
      const stats = await emu.admin<AdminStats>("GET", "/stats");
      if (stats.patches >= planned / 2) break;
      if (child.exitCode !== null) break;
      await sleep(50);
    }
    child.kill("SIGKILL");
    await exited;
    const patchedBeforeKill = (await emu.admin<AdminStats>("GET", "/stats")).patches;
    expect(patchedBeforeKill).toBeGreaterThan(planned / 4);
    expect(patchedBeforeKill).toBeLessThan(planned);

    const listed = await mfactl(["runs", "-o", "json"], env);
    const [killed] = JSON.parse(listed.stdout) as RunJson[];
    expect(killed).toMatchObject({ kind: "apply", status: "running", total: planned });
    expect(killed!.actor).toBe(`app:${emu.clientId}`);
    expect((killed!.counts.pending ?? 0) + (killed!.counts.inFlight ?? 0)).toBeGreaterThan(0);

    const resumed = await mfactl(["resume", killed!.runId, "-q", "-o", "json"], env, { timeoutMs: 240_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming run .*in flight/);

    const after = await emu.admin<AdminState[]>("GET", `/tenants/${tenant}/users`);
    expect(after.filter((u) => inPlan.has(u.id) && u.perUserMfaState !== "enforced").map((u) => u.userPrincipalName)).toEqual([]);
    expect(after.filter((u) => !inPlan.has(u.id) && u.perUserMfaState !== before.get(u.id))).toEqual([]);
    // A user's change is sent once: never again once it was confirmed (or seen applied after the crash).
    expect(after.filter((u) => u.patchCount > 1).map((u) => `${u.userPrincipalName}: ${u.patchCount}`)).toEqual([]);
    expect(after.filter((u) => inPlan.has(u.id) !== (u.patchCount === 1))).toEqual([]);

    const shown = await mfactl(["runs", "show", killed!.runId, "-o", "json"], env);
    const journal = JSON.parse(shown.stdout) as { run: RunJson; changes: JournalChange[] };
    expect(journal.run.status).toBe("completed");
    expect(journal.changes).toHaveLength(planned);
    expect(new Set(journal.changes.map((c) => c.id)).size).toBe(planned);
    for (const c of journal.changes) {
      expect(c.status).toBe("changed");
      expect(c.perUserMfaState).toBe("enforced");
      expect(c.previousState).toBe(before.get(c.id));
    }
    // Only changes found applied after the crash lack a request id (the lost response had it).
    expect(journal.changes.filter((c) => !c.requestId).length).toBeLessThanOrEqual(killed!.counts.inFlight ?? 0);

    // Someone else changes one user after the run: undo must leave that user alone.
    await emu.admin("PATCH", "/config", { faultRate: 0 });
    const touched = journal.changes[7]!;
    await emu.admin("PATCH", `/tenants/${tenant}/users/${touched.id}`, { perUserMfaState: "disabled" });
    await emu.admin("POST", "/stats/reset");
    const undo = await mfactl(["undo", killed!.runId, "--yes", "-q", "-o", "json"], env, { timeoutMs: 240_000 });
    expect(undo.code, undo.stderr).toBe(1);
    const undone = JSON.parse(undo.stdout) as (JournalChange & { userPrincipalName: string; error?: { code: string } })[];
    expect(undone.filter((c) => c.status === "conflict").map((c) => c.id)).toEqual([touched.id]);
    expect(undone.filter((c) => c.status === "changed")).toHaveLength(planned - 1);

    // Read back through Graph, as an administrator would.
    const report = await mfactl(["report", "-t", tenant, "-o", "json"], env, { timeoutMs: 120_000 });
    const rows = (JSON.parse(report.stdout) as { users: { id: string; perUserMfaState: string }[] }).users;
    expect(rows).toHaveLength(USERS);
    for (const row of rows) {
      if (row.id === touched.id) expect(row.perUserMfaState).toBe("disabled");
      else expect(row.perUserMfaState, row.id).toBe(before.get(row.id));
    }
    expect((await emu.admin<AdminStats>("GET", "/stats")).patches).toBe(planned - 1);

    // The undo is a run of its own and can itself be undone; a run is undone once.
    const again = await mfactl(["undo", killed!.runId, "--yes"], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already undone by run/);
  }, 600_000);
});
