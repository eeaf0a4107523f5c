/**
 * The journal and the audit log over HTTP: runs from this server and from elsewhere (a CLI run
 * written straight to the same journal), a run by id, prefix and `last`, its changes paged and
 * filtered, and the audit log newest first, paged and filtered. On SQLite and PostgreSQL.
 */
import { setUserMfa } from "@mfactl/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeBackendsForTests } from "../../store/src/postgres.test-helper.js";
import { startHarness, type ErrorReply, type Harness, type JobView } from "./server-harness.test-helper.js";

interface Run {
  runId: string;
  kind: string;
  actor: string;
  status: string;
  startedAt: string;
  total: number;
  counts: Record<string, number>;
}
interface Change {
  runId: string;
  seq: number;
  id: string;
  status: string;
}
interface ChangesPage {
  changes: Change[];
  nextCursor?: number;
}
interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  outcome: string;
  tenant?: string;
  target?: string;
  runId?: string;
  requestId?: string;
}
interface AuditPage {
  entries: AuditEntry[];
  nextCursor?: number;
}

for (const b of storeBackendsForTests()) {
  describe.skipIf(b.skip !== undefined)(`API runs and audit log (${b.name})`, () => {
    let h: Harness;
    let admin: string;
    let write: string;
    let t0: string;
    let t1: string;
    let bulk: JobView;
    let cliRun: string;
    const putRuns: string[] = [];
    let failedIds: string[];

    beforeAll(async () => {
      h = await startHarness({ openStore: b.open, users: 40 });
      admin = await h.key(["admin"], { name: "runs-admin" });
      write = await h.key(["write"], { name: "runs-write" });
      t0 = h.emu.tenants[0]!.domain;
      t1 = h.emu.tenants[1]!.domain;

      // A run made elsewhere (the CLI) in the same journal.
      const cli = await setUserMfa(h.server.context.graph, { tenant: t1, user: `alex.wilber@${t1}`, state: "enforced" }, { journal: { journal: h.store.journal, actor: "cli:alice@laptop" } });
      expect(cli.status).toBe("changed");
      cliRun = cli.runId!;

      for (const [tenant, user, state] of [
        [t0, `megan.bowen@${t0}`, "disabled"],
        [t1, `megan.bowen@${t1}`, "enforced"],
      ] as const) {
        const res = await h.call(`/v1/tenants/${tenant}/users/${encodeURIComponent(user)}/mfa`, { method: "PUT", auth: admin, body: { perUserMfaState: state } });
        expect(res.status).toBe(200);
        putRuns.push((res.body as { runId: string }).runId);
      }

      // A bulk set in which two users fail.
      const disabled = h.emu.admin.listUsers(t0).filter((u) => u.perUserMfaState === "disabled" && !u.userPrincipalName.startsWith("Sync_"));
      failedIds = disabled.slice(0, 2).map((u) => u.id);
      h.emu.admin.addFaults(failedIds.map((id) => ({ method: "PATCH", pathIncludes: id, status: 403, count: 10 })));
      const started = await h.call("/v1/jobs/bulk-set", { method: "POST", auth: write, body: { tenants: [t0], state: "enforced", allUsers: true } });
      expect(started.status).toBe(202);
      bulk = await h.waitForJob((started.body as JobView).jobId, write);
      h.emu.admin.clearFaults();
      expect(bulk.status).toBe("succeeded");
      expect(bulk.progress.counts["failed"]).toBe(2);
    });
    afterAll(async () => h?.close());

    const get = async <T>(path: string, auth = admin): Promise<T> => {
      const res = await h.call(path, { auth });
      expect(res.status, `${path}: ${res.text}`).toBe(200);
      return res.body as T;
    };
    function expectError(res: { status: number; body: unknown }, status: number, code: string): void {
      expect({ status: res.status, code: (res.body as ErrorReply).error?.code }).toStrictEqual({ status, code });
    }

    describe("runs", () => {
      it("lists runs from this server and from the CLI, newest first", async () => {
        const { runs } = await get<{ runs: Run[] }>("/v1/runs");
        const ids = runs.map((r) => r.runId);
        expect(ids).toEqual(expect.arrayContaining([cliRun, ...putRuns, bulk.runId!]));
        expect(runs).toHaveLength(4);
        expect(runs.find((r) => r.runId === cliRun)).toMatchObject({ kind: "set", actor: "cli:alice@laptop", status: "completed" });
        expect(runs.find((r) => r.runId === bulk.runId)).toMatchObject({ kind: "bulk-set", actor: "apikey:runs-write", status: "completed" });
        const started = runs.map((r) => r.startedAt);
        expect([...started].sort().reverse()).toStrictEqual(started);
        expect((await get<{ runs: Run[] }>("/v1/runs?limit=2")).runs.map((r) => r.runId)).toStrictEqual(ids.slice(0, 2));
        expect((await get<{ runs: Run[] }>("/v1/runs?status=completed")).runs).toHaveLength(4);
        expect((await get<{ runs: Run[] }>("/v1/runs?status=interrupted")).runs).toStrictEqual([]);
        expectError(await h.call("/v1/runs?status=finished", { auth: admin }), 400, "BadRequest");
      });

      it("finds a run by id, by a unique prefix and as last; refuses ambiguous prefixes and unknown runs", async () => {
        const full = await get<Run>(`/v1/runs/${bulk.runId}`);
        expect(full).toMatchObject({ runId: bulk.runId, total: bulk.progress.total, counts: { failed: 2, pending: 0, inFlight: 0 } });
        expect(full.counts["changed"]! + full.counts["failed"]!).toBe(full.total);
        expect(await get<Run>(`/v1/runs/${bulk.runId!.slice(0, -2)}`)).toStrictEqual(full);
        const newest = (await get<{ runs: Run[] }>("/v1/runs?limit=1")).runs[0]!;
        expect((await get<Run>("/v1/runs/last")).runId).toBe(newest.runId);
        const ambiguous = await h.call(`/v1/runs/${bulk.runId!.slice(0, 2)}`, { auth: admin });
        expectError(ambiguous, 400, "BadRequest");
        expect((ambiguous.body as ErrorReply).error.message).toMatch(/several runs/);
        expectError(await h.call("/v1/runs/19990101T000000Z-00000000", { auth: admin }), 404, "RunNotFound");
        expectError(await h.call("/v1/runs/19990101T000000Z-00000000/changes", { auth: admin }), 404, "RunNotFound");
      });

      it("pages a run's changes with a cursor: every change once, in order", async () => {
        const seen: Change[] = [];
        let cursor: number | undefined;
        let pages = 0;
        do {
          const page: ChangesPage = await get<ChangesPage>(`/v1/runs/${bulk.runId}/changes?limit=4${cursor !== undefined ? `&cursor=${cursor}` : ""}`);
          expect(page.changes.length).toBeLessThanOrEqual(4);
          seen.push(...page.changes);
          cursor = page.nextCursor;
          pages++;
        } while (cursor !== undefined && pages < 100);
        const total = bulk.progress.total!;
        expect(pages).toBe(Math.ceil(total / 4));
        expect(seen.map((c) => c.seq)).toStrictEqual([...Array(total).keys()]);
        expect(new Set(seen.map((c) => c.id)).size).toBe(total);
        expect(seen.every((c) => c.runId === bulk.runId)).toBe(true);
        // One page holding everything has no cursor.
        const whole = await get<ChangesPage>(`/v1/runs/${bulk.runId}/changes?limit=${total}`);
        expect(whole.nextCursor).toBeUndefined();
        expect(whole.changes).toStrictEqual(seen);
      });

      it("filters a run's changes by status (repeatable)", async () => {
        const failed = await get<ChangesPage>(`/v1/runs/${bulk.runId}/changes?status=failed`);
        expect(failed.changes.map((c) => c.id).sort()).toStrictEqual([...failedIds].sort());
        const both = await get<ChangesPage>(`/v1/runs/${bulk.runId}/changes?status=failed&status=changed&limit=3`);
        expect(both.changes).toHaveLength(3);
        const all = await get<ChangesPage>(`/v1/runs/${bulk.runId}/changes?status=failed&status=changed&limit=5000`);
        expect(all.changes).toHaveLength(bulk.progress.total!);
        expect((await get<ChangesPage>(`/v1/runs/${bulk.runId}/changes?status=pending`)).changes).toStrictEqual([]);
        expectError(await h.call(`/v1/runs/${bulk.runId}/changes?status=lost`, { auth: admin }), 400, "BadRequest");
      });
    });

    describe("audit log", () => {
      it("lists entries newest first and pages through all of them once", async () => {
        const all = await get<AuditPage>("/v1/audit?limit=1000");
        expect(all.nextCursor).toBeUndefined();
        const seqs = all.entries.map((e) => e.seq);
        expect([...seqs].sort((a, b) => b - a)).toStrictEqual(seqs);
        expect(all.entries.length).toBeGreaterThanOrEqual(4);
        const paged: AuditEntry[] = [];
        let cursor: number | undefined;
        do {
          const page: AuditPage = await get<AuditPage>(`/v1/audit?limit=2${cursor !== undefined ? `&cursor=${cursor}` : ""}`);
          expect(page.entries.length).toBeLessThanOrEqual(2);
          paged.push(...page.entries);
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        expect(paged).toStrictEqual(all.entries);
      });

      it("records what each caller did: the sets, the bulk job's start and its end", async () => {
        const { entries } = await get<AuditPage>("/v1/audit?limit=1000");
        const sets = entries.filter((e) => e.action === "mfa.set");
        expect(sets.map((e) => e.runId).sort()).toStrictEqual([...putRuns].sort());
        expect(new Set(sets.map((e) => e.actor))).toStrictEqual(new Set(["apikey:runs-admin"]));
        const start = entries.find((e) => e.action === "job.bulkSet");
        const end = entries.find((e) => e.action === "job.bulkSet.finished");
        expect(start).toMatchObject({ actor: "apikey:runs-write", outcome: "ok", target: bulk.jobId });
        // Two users failed: the job's end is a failure in the log.
        expect(end).toMatchObject({ actor: "apikey:runs-write", outcome: "failed", target: bulk.jobId, runId: bulk.runId });
        expect(end!.seq).toBeGreaterThan(start!.seq);
      });

      it("filters by actor, tenant, action and run, also while paging", async () => {
        const { entries } = await get<AuditPage>("/v1/audit?limit=1000");
        const byActor = await get<AuditPage>(`/v1/audit?actor=${encodeURIComponent("apikey:runs-write")}`);
        expect(byActor.entries).toStrictEqual(entries.filter((e) => e.actor === "apikey:runs-write"));
        expect(byActor.entries.length).toBeGreaterThanOrEqual(2);
        const byTenant = await get<AuditPage>(`/v1/audit?tenant=${t1}`);
        expect(byTenant.entries).toStrictEqual(entries.filter((e) => e.tenant === t1));
        expect(byTenant.entries.map((e) => e.runId)).toStrictEqual([putRuns[1]]);
        const byAction = await get<AuditPage>("/v1/audit?action=mfa.set&limit=1");
        expect(byAction.entries).toHaveLength(1);
        const rest = await get<AuditPage>(`/v1/audit?action=mfa.set&limit=1&cursor=${byAction.nextCursor}`);
        expect([...byAction.entries, ...rest.entries]).toStrictEqual(entries.filter((e) => e.action === "mfa.set"));
        expect(rest.nextCursor).toBeUndefined();
        const byRun = await get<AuditPage>(`/v1/audit?runId=${bulk.runId}`);
        expect(byRun.entries).toStrictEqual(entries.filter((e) => e.runId === bulk.runId));
        expect(byRun.entries.map((e) => e.action)).toStrictEqual(["job.bulkSet.finished"]);
        expect((await get<AuditPage>("/v1/audit?actor=nobody")).entries).toStrictEqual([]);
        expectError(await h.call("/v1/audit?cursor=0", { auth: admin }), 400, "BadRequest");
        expectError(await h.call("/v1/audit?who=me", { auth: admin }), 400, "BadRequest");
      });

      it("links an entry to the request that made it (x-request-id)", async () => {
        const res = await h.call(`/v1/tenants/${t0}/users/${encodeURIComponent(`alex.wilber@${t0}`)}/mfa`, { method: "PUT", auth: write, body: { perUserMfaState: "disabled" } });
        const { entries } = await get<AuditPage>(`/v1/audit?limit=1&action=mfa.set`);
        expect(entries[0]).toMatchObject({ requestId: res.headers.get("x-request-id"), actor: "apikey:runs-write", tenant: t0 });
      });
    });
  });
}
