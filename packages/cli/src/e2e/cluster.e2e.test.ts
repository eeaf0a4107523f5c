/**
 * `mfactl serve` as several instances on one PostgreSQL database, as real processes: the emulator
 * as its own process, two servers sharing one schema (jobs through pg-boss, tenant budgets shared),
 * one of them killed with SIGKILL in the middle of a bulk job. Needs the build and PostgreSQL.
 */
import { createServer, type Server } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, expect, it } from "vitest";
import { describePostgres } from "../../../store/src/postgres.test-helper.js";
import { httpRequest, mfactl, spawnMfactl, useEmulatorProcess, type AdminStats, type AdminUser, type EmulatorProcess, type HttpsReply, type MfactlProcess } from "./harness.js";

const LISTENING = /listening on (https?:\/\/[^\s()]+) \(/;
const running = new Set<MfactlProcess>();
afterAll(async () => {
  await Promise.all([...running].map((p) => p.stop("SIGKILL")));
});

interface Instance {
  proc: MfactlProcess;
  url: string;
}

interface JobView {
  jobId: string;
  status: string;
  runId?: string;
  progress: { total?: number; done: number; counts: Record<string, number> };
  summary?: Record<string, unknown>;
}

/** A tenant whose writes are paced (about 33 a second): a bulk job over 450 users takes seconds, not milliseconds. */
const PACED = { throttle: "realistic", latencyMs: 0, throttleLimits: { appTenantWrites: 100, appTenantWritesWindowSeconds: 3 } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

describePostgres("mfactl serve: two instances on one PostgreSQL database", (pgt) => {
  // 450 users: the 50..500 tier of Graph's per-tenant budgets.
  const lab = useEmulatorProcess(["--tenants", "1", "--users", "450", "--seed", "e2e-cluster"]);
  let schema: { schema: string; drop(): Promise<void> } | undefined;
  let db = "";
  let key = "";
  let dir = "";

  afterEach(async () => {
    await Promise.all([...running].map((p) => p.stop("SIGKILL")));
    if (schema) {
      // pg-boss's schema beside the store's.
      const admin = new pg.Client({ connectionString: pgt.url });
      await admin.connect();
      await admin.query(`drop schema if exists "${schema.schema}_queue" cascade`).finally(() => admin.end());
      await schema.drop();
      schema = undefined;
    }
  });

  async function freshDatabase(emu: EmulatorProcess): Promise<void> {
    schema = await pgt.freshSchema();
    const url = new URL(pgt.url);
    url.searchParams.set("options", `-c search_path=${schema.schema}`);
    db = url.toString();
    dir = mkdtempSync(join(tmpdir(), "mfactl-cluster-"));
    const created = await mfactl(["apikey", "create", "--name", "ops", "--scope", "write", "--db", db], emu.env);
    expect(created.code, created.stderr).toBe(0);
    key = created.stdout.trim();
  }

  async function instance(emu: EmulatorProcess, name: string, cluster: Record<string, unknown> = {}): Promise<Instance> {
    const settings = join(dir, `${name}.yaml`);
    writeFileSync(
      settings,
      JSON.stringify({
        tenants: emu.tenants.map((t) => t.domain),
        cluster: { leaseSeconds: 2, pollSeconds: 0.5, concurrency: 1, ...cluster },
        scheduler: { tickSeconds: 0.25 },
        shutdownGraceSeconds: 1,
        logLevel: "warn",
      }),
    );
    const proc = spawnMfactl(["serve", "--port", "0", "--db", db, "--settings", settings], emu.env);
    running.add(proc);
    void proc.exited.then(() => running.delete(proc));
    const m = await proc.waitFor(LISTENING);
    expect(proc.stderr()).toMatch(/one of a cluster/);
    return { proc, url: m[1]! };
  }

  function call(i: Instance, path: string, init: { method?: string; body?: unknown } = {}): Promise<HttpsReply> {
    return httpRequest(`${i.url}${path}`, {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${key}`, ...(init.body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
  }

  async function job(i: Instance, jobId: string): Promise<JobView> {
    const r = await call(i, `/v1/jobs/${jobId}`);
    expect(r.status, r.text).toBe(200);
    return r.body as JobView;
  }

  const users = (emu: EmulatorProcess) => emu.admin<AdminUser[]>("GET", `/tenants/${encodeURIComponent(emu.tenants[0]!.domain)}/users`);
  const stats = (emu: EmulatorProcess) => emu.admin<AdminStats>("GET", "/stats");

  it("a bulk job survives the instance running it being killed: the other finishes it, no user is changed twice", async () => {
    const { emu, domain } = lab;
    await freshDatabase(emu);
    // Writes paced by the tenant's budget (about 30 a second), so the job runs long enough to be cut in the middle.
    await emu.admin("PATCH", "/config", PACED);
    const a = await instance(emu, "a");
    const b = await instance(emu, "b");
    const before = await users(emu);
    const toChange = before.filter((u) => u.perUserMfaState !== "enforced");
    expect(toChange.length).toBeGreaterThan(300);

    const started = await call(a, "/v1/jobs/bulk-set", { method: "POST", body: { tenants: [domain], state: "enforced", allUsers: true, includeProtected: false } });
    expect(started.status, started.text).toBe(202);
    const jobId = (started.body as JobView).jobId;
    // B answers for the job A carries out (the store's copy).
    const midway = await until("the job half way", async () => {
      const j = await job(b, jobId);
      return j.runId !== undefined && j.progress.done >= 60 ? j : undefined;
    });
    expect(midway.status).toBe("running");
    await a.proc.stop("SIGKILL");
    const patchesAtKill = (await stats(emu)).patches;
    expect(patchesAtKill).toBeLessThan(toChange.length);

    const done = await until("the job finished by the other instance", async () => {
      const j = await job(b, jobId);
      return j.status === "running" ? undefined : j;
    }, 90_000, 500);
    expect(done).toMatchObject({ status: "succeeded", runId: midway.runId });
    expect(b.proc.stderr() + b.proc.stdout()).toMatch(/taken over/);

    const after = await users(emu);
    const s = await stats(emu);
    // Each user changed once, nobody twice, the protected sync account not at all.
    expect(Object.values(s.patchesByUser).filter((n) => n > 1)).toEqual([]);
    const changed = after.filter((u) => u.perUserMfaState === "enforced" && before.find((x) => x.id === u.id)!.perUserMfaState !== "enforced");
    expect(s.patches).toBe(changed.length);
    expect(after.filter((u) => u.perUserMfaState !== "enforced").map((u) => u.userPrincipalName)).toEqual([expect.stringMatching(/^Sync_/)]);
    const run = await call(b, `/v1/runs/${midway.runId}`);
    expect(run.body).toMatchObject({ status: "completed", counts: { pending: 0, inFlight: 0, failed: 0, conflict: 0 } });
    expect((run.body as { counts: { changed: number } }).counts.changed).toBe(changed.length);
  }, 180_000);

  it("a graceful stop (SIGTERM) hands the running job to the other instance at once", async () => {
    const { emu, domain } = lab;
    await freshDatabase(emu);
    await emu.admin("PATCH", "/config", PACED);
    // Leases long enough that only the hand-over, not their running out, can explain a quick take-over.
    const a = await instance(emu, "a", { leaseSeconds: 60 });
    const b = await instance(emu, "b", { leaseSeconds: 60 });
    const started = await call(a, "/v1/jobs/bulk-set", { method: "POST", body: { tenants: [domain], state: "enforced", allUsers: true } });
    expect(started.status, started.text).toBe(202);
    const jobId = (started.body as JobView).jobId;
    const midway = await until("the job half way", async () => {
      const j = await job(b, jobId);
      return j.runId !== undefined && j.progress.done >= 60 ? j : undefined;
    });
    const exit = await a.proc.stop("SIGTERM");
    expect(exit.code).toBe(0);
    expect(a.proc.stderr()).toMatch(/1 job stopped between users; another instance of the cluster goes on with it now/);
    // B goes on at once: well before A's 60 s lease could have run out, or B's sweep (every half lease) found it.
    const atStop = (await job(b, jobId)).progress.done;
    await until("the other instance at work on it", async () => {
      const j = await job(b, jobId);
      return j.progress.done > atStop || j.status !== "running" ? true : undefined;
    }, 15_000);
    expect(b.proc.stdout()).toMatch(/job taken over from an instance that stopped/);
    const done = await until("the job finished", async () => {
      const j = await job(b, jobId);
      return j.status === "running" ? undefined : j;
    }, 90_000, 500);
    expect(done).toMatchObject({ status: "succeeded", runId: midway.runId });
    const s = await stats(emu);
    expect(Object.values(s.patchesByUser).filter((n) => n > 1)).toEqual([]);
    expect((await users(emu)).filter((u) => u.perUserMfaState !== "enforced").map((u) => u.userPrincipalName)).toEqual([expect.stringMatching(/^Sync_/)]);
  }, 180_000);

  it("a schedule fires exactly once per period however many instances run", async () => {
    const { emu, domain } = lab;
    await freshDatabase(emu);
    await emu.admin("PATCH", "/config", { throttle: "off", latencyMs: 0 });
    const posts: { period: string }[] = [];
    const hook: Server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        posts.push(JSON.parse(body) as { period: string });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
    try {
      const a = await instance(emu, "a", { concurrency: 2 });
      const b = await instance(emu, "b", { concurrency: 2 });
      const policy = ["version: 1", "policies:", "  - name: Members", `    tenants: [${domain}]`, "    rules:", "      - name: Members", "        when: { userType: member }", "        state: enabled", ""].join("\n");
      const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
      const created = await call(a, "/v1/schedules", { method: "POST", body: { name: "every-2s", cron: "*/2 * * * * *", policy, tenants: [domain], alerts: { webhooks: [{ url: hookUrl, when: "always" }] } } });
      expect(created.status, created.text).toBe(201);
      await until("four firings", async () => (posts.length >= 4 ? true : undefined), 30_000);
      const off = await call(b, "/v1/schedules/every-2s", { method: "PATCH", body: { enabled: false } });
      expect(off.status, off.text).toBe(200);
      // A firing already queued still ends; then nothing more.
      await sleep(2_500);
      const fires = (await call(a, "/v1/schedules/every-2s/fires?limit=100")).body as { fires: { period: string; status: string; instance: string }[] };
      const periods = fires.fires.map((f) => f.period);
      expect(periods.length).toBeGreaterThanOrEqual(4);
      expect(new Set(periods).size).toBe(periods.length);
      expect(fires.fires.every((f) => f.status === "succeeded")).toBe(true);
      // One alert per period, for exactly the periods fired; each period 2 s after the one before (none skipped, none twice).
      expect(posts.map((p) => p.period).sort()).toEqual([...periods].sort());
      const times = [...periods].sort().map((p) => Date.parse(p));
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(2_000);
      const instances = new Set(fires.fires.map((f) => f.instance));
      expect(instances.size).toBeGreaterThanOrEqual(1);
    } finally {
      await new Promise<void>((r) => hook.close(() => r()));
    }
  }, 180_000);

  it("two instances changing one tenant together get no more 429s from it than one instance alone", async () => {
    const { emu, domain } = lab;
    // Scaled-down budgets of the 50..500 tier (writes bind: 300 per 3 s; resource units 600 per 2 s) and Graph-like
    // latency (the instances exchange what they took every 200 ms: on loopback without latency a batch would answer
    // in a millisecond). One instance alone finds these budgets before it overruns them.
    await emu.admin("PATCH", "/config", { throttle: "realistic", latencyMs: 50, throttleLimits: { appTenantRuMedium: 600, appTenantRuWindowSeconds: 2, appTenantWrites: 300, appTenantWritesWindowSeconds: 3 } });
    const targets = (await users(emu)).filter((u) => u.perUserMfaState !== "enforced" && !/^Sync_/i.test(u.userPrincipalName));
    const half = Math.floor(targets.length / 2);
    const bulk = (list: AdminUser[]) => ({ tenants: [domain], state: "enforced", users: list.map((u) => u.userPrincipalName) });

    // One instance alone, every user.
    await freshDatabase(emu);
    const alone = await instance(emu, "alone");
    const single = await call(alone, "/v1/jobs/bulk-set", { method: "POST", body: bulk(targets) });
    expect(single.status, single.text).toBe(202);
    const singleDone = await until("the single instance's job", async () => {
      const j = await job(alone, (single.body as JobView).jobId);
      return j.status === "running" ? undefined : j;
    }, 90_000, 500);
    expect(singleDone.status).toBe("succeeded");
    const aloneStats = await stats(emu);
    await alone.proc.stop("SIGTERM");

    // The same users again from the start, split between two instances working at the same time.
    await emu.admin("POST", "/reset");
    await freshDatabase(emu);
    const a = await instance(emu, "a");
    const b = await instance(emu, "b");
    const ja = await call(a, "/v1/jobs/bulk-set", { method: "POST", body: bulk(targets.slice(0, half)) });
    const jb = await call(b, "/v1/jobs/bulk-set", { method: "POST", body: bulk(targets.slice(half)) });
    expect([ja.status, jb.status]).toEqual([202, 202]);
    // Both at work at once (one job per instance: concurrency 1).
    await until("both jobs running", async () => {
      const [x, y] = await Promise.all([job(a, (ja.body as JobView).jobId), job(b, (jb.body as JobView).jobId)]);
      return x.progress.done > 0 && y.progress.done > 0 ? true : undefined;
    });
    for (const [i, r] of [[a, ja], [b, jb]] as const) {
      const j = await until("a shared job", async () => {
        const v = await job(i, (r.body as JobView).jobId);
        return v.status === "running" ? undefined : v;
      }, 90_000, 500);
      expect(j.status).toBe("succeeded");
    }
    const together = await stats(emu);
    expect(together.patches).toBe(aloneStats.patches);
    console.info(`429s from the tenant: one instance alone ${aloneStats.throttledTotal}, two instances together ${together.throttledTotal}`);
    expect(together.throttledTotal).toBeLessThanOrEqual(Math.max(aloneStats.throttledTotal, 2));
  }, 240_000);
});
