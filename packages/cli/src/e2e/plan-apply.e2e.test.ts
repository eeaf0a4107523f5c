/**
 * Plans, apply and the guard rails over real HTTPS: conflicts after an outside change, plan files
 * that are edited or cut short, a journal that is locked or not a database, the run-size cap,
 * protected accounts, two applies of one plan at once, group selections and warnings.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { adminUser, mfactl, useEmulatorProcess, type AdminStats } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "1", "--users", "60", "--seed", "e2e-plan"]);

interface PlanJson {
  planId: string;
  summary: { selected: number; changes: number; leftOut: number };
  items: { id: string; userPrincipalName: string; perUserMfaState: string; requestedState: string; warnings: { code: string }[] }[];
  leftOut: { userPrincipalName: string; reason: string }[];
}
interface Change {
  id: string;
  userPrincipalName: string;
  status: string;
  perUserMfaState?: string;
  error?: { code: string; message: string };
}
interface AdminGroup {
  id: string;
  displayName: string;
  memberIds: string[];
  memberGroupIds: string[];
}

function workspace() {
  const dir = mkdtempSync(join(tmpdir(), "mfactl-plan-"));
  const db = join(dir, "journal.db");
  return { dir, db, env: { ...lab.emu.env, MFACTL_DB: db }, path: (name: string) => join(dir, name) };
}

async function patches(): Promise<number> {
  return (await lab.emu.admin<AdminStats>("GET", "/stats")).patches;
}

async function makePlan(ws: ReturnType<typeof workspace>, args: string[], name = "plan.json"): Promise<PlanJson> {
  const r = await mfactl(["plan", "-t", lab.domain, "--out", ws.path(name), ...args], ws.env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(readFileSync(ws.path(name), "utf8")) as PlanJson;
}

describe("plan and apply", () => {
  it("plan changes nothing; a change made outside mfactl after the plan is a conflict at apply, not overwritten", async () => {
    const ws = workspace();
    const plan = await makePlan(ws, ["--state", "enforced", "--members", "--licensed"]);
    expect(plan.items.length).toBeGreaterThan(10);
    expect(await patches()).toBe(0);
    const shown = await mfactl(["plan", "show", ws.path("plan.json")], ws.env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(plan.items[0]!.userPrincipalName);
    expect(shown.stdout).toMatch(/CURRENT\s+TARGET\s+WARNINGS/);

    const outside = plan.items[2]!;
    const elsewhere = outside.perUserMfaState === "enabled" ? "disabled" : "enabled";
    await lab.emu.admin("PATCH", `/tenants/${lab.domain}/users/${outside.id}`, { perUserMfaState: elsewhere });
    const r = await mfactl(["apply", ws.path("plan.json"), "--yes", "-o", "json"], ws.env);
    expect(r.code, r.stderr).toBe(1);
    const results = JSON.parse(r.stdout) as Change[];
    expect(results.find((c) => c.id === outside.id)).toMatchObject({ status: "conflict", error: { code: "StateChanged" } });
    expect(results.filter((c) => c.status === "changed")).toHaveLength(plan.items.length - 1);
    const user = await adminUser(lab.emu, lab.domain, outside.id);
    expect(user).toMatchObject({ perUserMfaState: elsewhere, patchCount: 0 });
    expect(r.stderr).toMatch(/1 conflict/);
  });

  it("a hand-edited, cut-short or foreign plan file is refused and changes nothing", async () => {
    const ws = workspace();
    await makePlan(ws, ["--state", "enforced", "--all-users"]);
    const text = readFileSync(ws.path("plan.json"), "utf8");
    const plan = JSON.parse(text) as PlanJson & Record<string, unknown>;
    plan.items[0]!.requestedState = "disabled";
    writeFileSync(ws.path("edited.json"), JSON.stringify(plan, null, 2));
    writeFileSync(ws.path("cut.json"), text.slice(0, Math.floor(text.length / 2)));
    writeFileSync(ws.path("other.json"), JSON.stringify({ users: [] }));
    const badState = JSON.parse(text) as PlanJson;
    badState.items[0]!.requestedState = "on";
    writeFileSync(ws.path("bad-state.json"), JSON.stringify(badState));
    const expectations: [string, RegExp][] = [
      ["edited.json", /changed after mfactl wrote it/],
      ["cut.json", /not valid JSON/],
      ["other.json", /not an mfactl plan file/],
      ["bad-state.json", /items\.0\.requestedState/],
      ["missing.json", /Cannot read the plan file/],
    ];
    for (const [file, message] of expectations) {
      const r = await mfactl(["apply", ws.path(file), "--yes"], ws.env);
      expect(r.code, file).toBe(2);
      expect(r.stderr, file).toMatch(message);
      expect(r.stderr, file).toMatch(/Nothing was changed/);
    }
    expect(await patches()).toBe(0);
  });

  it("a journal that is locked, or not a database, stops apply before any change", async () => {
    const ws = workspace();
    await makePlan(ws, ["--state", "enforced", "--all-users", "--no-check-methods"]);
    // Create the journal, then hold an exclusive lock on it from this process.
    expect((await mfactl(["runs"], ws.env)).code).toBe(0);
    const holder = new Database(ws.db);
    holder.exec("BEGIN EXCLUSIVE");
    try {
      const r = await mfactl(["apply", ws.path("plan.json"), "--yes"], ws.env, { timeoutMs: 60_000 });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/locked/);
      expect(r.stderr).toContain(ws.db);
    } finally {
      holder.exec("ROLLBACK");
      holder.close();
    }
    writeFileSync(ws.path("garbage.db"), Buffer.alloc(8192, 0x5a));
    const r = await mfactl(["apply", ws.path("plan.json"), "--yes", "--db", ws.path("garbage.db")], ws.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(ws.path("garbage.db"));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await patches()).toBe(0);
    // With the lock gone the same plan applies.
    const ok = await mfactl(["apply", ws.path("plan.json"), "--yes", "-q"], ws.env);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("over --max-changes (a count or a percentage, or the profile's default) nothing is changed", async () => {
    const ws = workspace();
    const plan = await makePlan(ws, ["--state", "enforced", "--all-users", "--no-check-methods"]);
    for (const cap of ["3", "5%"]) {
      const r = await mfactl(["apply", ws.path("plan.json"), "--yes", "--max-changes", cap], ws.env);
      expect(r.code, cap).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`would change ${plan.items.length} users, over the cap`));
    }
    writeFileSync(ws.path("config.json"), JSON.stringify({ profiles: { default: { maxChanges: 2 } } }));
    const profiled = await mfactl(["bulk", "set", "-t", lab.domain, "--state", "disabled", "--all-users", "--yes"], { ...ws.env, MFACTL_CONFIG: ws.path("config.json") });
    expect(profiled.code).toBe(2);
    expect(profiled.stderr).toMatch(/the profile's maxChanges/);
    expect(await patches()).toBe(0);
    const bad = await mfactl(["apply", ws.path("plan.json"), "--yes", "--max-changes", "lots"], ws.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Invalid --max-changes "lots"/);
  });

  it("protected accounts: left out of selections, refused when named, changed only with --include-protected", async () => {
    const ws = workspace();
    const users = await lab.emu.admin<{ id: string; userPrincipalName: string; perUserMfaState: string }[]>("GET", `/tenants/${lab.domain}/users`);
    const sync = users.find((u) => /^sync_/i.test(u.userPrincipalName))!;
    const breakGlass = users.find((u) => u.userPrincipalName.startsWith("breakglass@"))!;
    expect(sync && breakGlass).toBeTruthy();
    writeFileSync(ws.path("config.json"), JSON.stringify({ profiles: { default: { protectedAccounts: [breakGlass.userPrincipalName] } } }));
    const env = { ...ws.env, MFACTL_CONFIG: ws.path("config.json") };

    const plan = await makePlan({ ...ws, env }, ["--state", "enforced", "--all-users", "--no-check-methods"]);
    expect(plan.items.map((i) => i.id)).not.toContain(sync.id);
    expect(plan.items.map((i) => i.id)).not.toContain(breakGlass.id);
    expect(plan.leftOut.filter((l) => l.reason === "protected").map((l) => l.userPrincipalName).sort()).toEqual([breakGlass.userPrincipalName, sync.userPrincipalName].sort());

    for (const args of [
      ["set", "-t", lab.domain, "-u", sync.userPrincipalName, "-s", "enforced"],
      ["set", "-t", lab.domain, "-u", breakGlass.id, "-s", "enforced"],
      ["bulk", "set", "-t", lab.domain, "--users", `adele.vance@${lab.domain},${sync.userPrincipalName}`, "-s", "enforced", "--yes"],
      ["plan", "-t", lab.domain, "--users", breakGlass.userPrincipalName, "-s", "enforced", "--out", ws.path("p2.json")],
    ]) {
      const r = await mfactl(args, env);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/protected account/);
      expect(r.stderr).toMatch(/--include-protected/);
    }
    expect(await patches()).toBe(0);

    const bulk = await mfactl(["bulk", "set", "-t", lab.domain, "--all-users", "-s", "enforced", "--yes", "-o", "json"], env);
    expect(bulk.code, bulk.stderr).toBe(0);
    expect((await adminUser(lab.emu, lab.domain, sync.id)).patchCount).toBe(0);
    expect((await adminUser(lab.emu, lab.domain, breakGlass.id)).patchCount).toBe(0);

    const allowed = await mfactl(["set", "-t", lab.domain, "-u", sync.userPrincipalName, "-s", "enforced", "--include-protected"], env);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await adminUser(lab.emu, lab.domain, sync.id)).perUserMfaState).toBe("enforced");
  });

  it("two applies of one plan started together: each user is PATCHed at most once, the second is refused", async () => {
    const ws = workspace();
    const plan = await makePlan(ws, ["--state", "enforced", "--all-users", "--no-check-methods"]);
    const [a, b] = await Promise.all([mfactl(["apply", ws.path("plan.json"), "--yes", "-q"], ws.env), mfactl(["apply", ws.path("plan.json"), "--yes", "-q"], ws.env)]);
    expect([a.code, b.code].sort()).toEqual([0, 2]);
    expect([a, b].find((r) => r.code === 2)!.stderr).toMatch(/already carried out by run/);
    const stats = await lab.emu.admin<AdminStats>("GET", "/stats");
    expect(stats.patches).toBe(plan.items.length);
    expect(Object.values(stats.patchesByUser).every((n) => n === 1)).toBe(true);
  });

  it("--group selects nested members; warnings name users without a method and admins losing MFA", async () => {
    const ws = workspace();
    const groups = await lab.emu.admin<AdminGroup[]>("GET", `/tenants/${lab.domain}/groups`);
    const byId = new Map(groups.map((g) => [g.id, g]));
    const target = groups.find((g) => g.displayName === "MFA Exclusions")!;
    expect(target.memberGroupIds.length).toBeGreaterThan(0);
    const expected = new Set<string>();
    const walk = (g: AdminGroup, seen: Set<string>) => {
      if (seen.has(g.id)) return;
      seen.add(g.id);
      for (const id of g.memberIds) expected.add(id);
      for (const id of g.memberGroupIds) walk(byId.get(id)!, seen);
    };
    walk(target, new Set());
    await lab.emu.admin("PATCH", `/tenants/${lab.domain}/users`, { perUserMfaState: "disabled" });
    const plan = await makePlan(ws, ["--state", "enforced", "--group", "MFA Exclusions"]);
    expect(new Set(plan.items.map((i) => i.id))).toEqual(expected);

    const warned = await makePlan(ws, ["--state", "enforced", "--users", `alex.wilber@${lab.domain},adele.vance@${lab.domain}`], "warned.json");
    const codes = Object.fromEntries(warned.items.map((i) => [i.userPrincipalName.split("@")[0], i.warnings.map((w) => w.code)]));
    expect(codes).toEqual({ "alex.wilber": ["NoRegisteredMethod"], "adele.vance": [] });

    await lab.emu.admin("PATCH", `/tenants/${lab.domain}/users/admin@${lab.domain}`, { perUserMfaState: "enforced" });
    const admin = await makePlan(ws, ["--state", "disabled", "--users", `admin@${lab.domain}`], "admin.json");
    expect(admin.items[0]!.warnings.map((w) => w.code)).toEqual(["AdminLosesMfa"]);
    expect(await patches()).toBe(0);
  });
});
