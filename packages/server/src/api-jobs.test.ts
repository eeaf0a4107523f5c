/**
 * Jobs over HTTP: plan (a plan file with the users expected), apply by plan job or by the plan
 * itself (once only; tampered plans refused), bulk set (dry run and real), guard rails
 * (maxChanges, protected accounts), undo (once), reports as JSON, CSV and HTML, server-sent
 * events, and who may see whose job. Checked against the emulator. On SQLite and PostgreSQL.
 */
import { REPORT_COLUMNS } from "@mfactl/core";
import { REPORT_CSP } from "@mfactl/render";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterBackendForTests, storeBackendsForTests } from "../../store/src/postgres.test-helper.js";
import { startHarness, type ErrorReply, type Harness, type JobView } from "./server-harness.test-helper.js";

interface PlanItem {
  tenant: string;
  id: string;
  userPrincipalName: string;
  perUserMfaState: string;
  requestedState: string;
  protected: boolean;
}
interface Plan {
  kind: string;
  version: number;
  planId: string;
  digest: string;
  createdBy: { actor: string };
  source: { tenants: string[] };
  summary: { selected: number; changes: number; unchanged: number; leftOut: number; failed: number };
  items: PlanItem[];
  leftOut: { id: string; reason: string }[];
}
interface Run {
  runId: string;
  kind: string;
  status: string;
  actor: string;
  planId?: string;
  undoOf?: string;
  total: number;
  counts: Record<string, number>;
}
interface RunResult {
  run: Run;
  changesUrl: string;
}
interface Row {
  id: string;
  userPrincipalName: string;
  perUserMfaState: string;
}

// The same suite on one instance (SQLite, PostgreSQL) and as one of a cluster (jobs through pg-boss, kept in the database).
const cluster = clusterBackendForTests();
for (const b of [...storeBackendsForTests(), { ...cluster, clustered: true }] as ((ReturnType<typeof storeBackendsForTests>[number] & { clustered?: false }) | (typeof cluster & { clustered: true }))[]) {
  describe.skipIf(b.skip !== undefined)(`API jobs (${b.name}${b.clustered ? ", cluster" : ""})`, () => {
    let h: Harness;
    let admin: string;
    let write: string;
    let read: string;
    let t0: string;
    let t1: string;
    let t2: string;

    beforeAll(async () => {
      h = await startHarness({ openStore: b.open, users: 30, protectedList: (emu) => emu.tenants.map((t) => `breakglass@${t.domain}`), ...(b.clustered ? { cluster: (store) => b.clusterOf(store) } : {}) });
      admin = await h.key(["admin"], { name: "jobs-admin" });
      write = await h.key(["write"], { name: "jobs-write" });
      read = await h.key(["read"], { name: "jobs-read" });
      [t0, t1, t2] = h.emu.tenants.map((t) => t.domain) as [string, string, string];
    });
    afterAll(async () => h?.close());

    const states = (tenant: string) => new Map(h.emu.admin.listUsers(tenant).map((u) => [u.id, u.perUserMfaState]));
    const snapshot = (tenant: string) => h.emu.admin.listUsers(tenant).map((u) => `${u.id}:${u.perUserMfaState}:${u.patchCount}`);
    const members = (tenant: string) => h.emu.admin.listUsers(tenant).filter((u) => h.emu.admin.getUser(tenant, u.id).userType === "Member");
    const syncAccounts = (tenant: string) => new Set(h.emu.admin.listRoleAssignments(tenant).filter((a) => a.roleDisplayName === "Directory Synchronization Accounts").map((a) => a.principalId));
    const breakGlass = (tenant: string) => h.emu.admin.getUser(tenant, `breakglass@${tenant}`).id;

    async function start(path: string, body: unknown, auth: string): Promise<JobView> {
      const res = await h.call(path, { method: "POST", auth, body });
      expect(res.status, res.text).toBe(202);
      const job = res.body as JobView;
      expect(res.headers.get("location")).toBe(`/v1/jobs/${job.jobId}`);
      return job;
    }
    async function run(path: string, body: unknown, auth: string): Promise<JobView> {
      const job = await start(path, body, auth);
      return h.waitForJob(job.jobId, auth);
    }
    async function result<T>(job: JobView, auth: string, format?: string): Promise<T> {
      const res = await h.call(`/v1/jobs/${job.jobId}/result${format ? `?format=${format}` : ""}`, { auth });
      expect(res.status, res.text).toBe(200);
      return res.body as T;
    }
    function expectError(res: { status: number; body: unknown; headers: Headers }, status: number, code: string): ErrorReply {
      expect({ status: res.status, code: (res.body as ErrorReply).error?.code }).toStrictEqual({ status, code });
      expect((res.body as ErrorReply).requestId).toBe(res.headers.get("x-request-id"));
      return res.body as ErrorReply;
    }
    async function stateViaApi(tenant: string, id: string): Promise<string> {
      const res = await h.call(`/v1/tenants/${tenant}/users/${id}/mfa`, { auth: read });
      return (res.body as { perUserMfaState: string }).perUserMfaState;
    }

    describe("plan and apply", () => {
      let planJob: JobView;
      let plan: Plan;

      it("plans without changing anything: a plan file with the members not yet enforced, protected accounts left out", async () => {
        const before = snapshot(t0);
        planJob = await run("/v1/jobs/plan", { tenants: [t0], state: "enforced", filters: { members: true } }, write);
        expect(planJob).toMatchObject({ type: "plan", status: "succeeded", actor: "apikey:jobs-write" });
        plan = await result<Plan>(planJob, write);
        expect(plan).toMatchObject({ kind: "mfactl.plan", version: 1, createdBy: { actor: "apikey:jobs-write" }, source: { tenants: [t0] } });
        expect(plan.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect(planJob.summary).toMatchObject({ planId: plan.planId });

        const now = states(t0);
        const shielded = new Set([...syncAccounts(t0), breakGlass(t0)]);
        const mine = members(t0);
        const toChange = mine.filter((u) => u.perUserMfaState !== "enforced" && !shielded.has(u.id));
        expect(toChange.length).toBeGreaterThan(3);
        expect(plan.items.map((i) => i.id).sort()).toStrictEqual(toChange.map((u) => u.id).sort());
        for (const item of plan.items) expect(item).toMatchObject({ tenant: t0, perUserMfaState: now.get(item.id), requestedState: "enforced", protected: false });
        expect(plan.leftOut.filter((l) => l.reason === "protected").map((l) => l.id).sort()).toStrictEqual(mine.filter((u) => shielded.has(u.id) && u.perUserMfaState !== "enforced").map((u) => u.id).sort());
        expect(plan.summary).toMatchObject({ selected: mine.length, changes: toChange.length, unchanged: mine.filter((u) => u.perUserMfaState === "enforced").length });
        expect(snapshot(t0)).toStrictEqual(before);
      });

      it("applies a plan by its job: every planned user is then in the state asked for, and nobody else changed", async () => {
        const before = states(t0);
        const applied = await run("/v1/jobs/apply", { planJobId: planJob.jobId }, write);
        expect(applied).toMatchObject({ type: "apply", status: "succeeded", progress: { total: plan.items.length, done: plan.items.length, counts: { changed: plan.items.length } } });
        const out = await result<RunResult>(applied, write);
        expect(out.run).toMatchObject({ runId: applied.runId, kind: "apply", status: "completed", planId: plan.planId, actor: "apikey:jobs-write", total: plan.items.length });
        expect(out.changesUrl).toBe(`/v1/runs/${applied.runId}/changes`);
        const planned = new Set(plan.items.map((i) => i.id));
        for (const item of plan.items) expect(await stateViaApi(t0, item.id)).toBe("enforced");
        for (const [id, state] of states(t0)) if (!planned.has(id)) expect(state, id).toBe(before.get(id));
      });

      it("refuses to apply the same plan again (409 PlanAlreadyRun naming the run), by job or by file, changing nothing", async () => {
        const before = snapshot(t0);
        const runId = (await h.call("/v1/runs?limit=1", { auth: read })).body as { runs: Run[] };
        const appliedRun = runId.runs.find((r) => r.planId === plan.planId)!;
        for (const body of [{ planJobId: planJob.jobId }, { plan }, { plan: JSON.stringify(plan) }]) {
          const reply = expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: write, body }), 409, "PlanAlreadyRun");
          expect(reply.error.message).toContain(appliedRun.runId);
        }
        expect(snapshot(t0)).toStrictEqual(before);
      });

      it("refuses a tampered plan (400, digest) and bad apply requests, changing nothing; the untouched plan still applies", async () => {
        const shielded = new Set([...syncAccounts(t2), breakGlass(t2)]);
        const target = h.emu.admin.listUsers(t2).filter((u) => u.perUserMfaState === "disabled" && !shielded.has(u.id)).slice(0, 3);
        const job = await run("/v1/jobs/plan", { tenants: [t2], state: "enabled", users: target.map((u) => u.userPrincipalName) }, admin);
        const genuine = await result<Plan>(job, admin);
        expect(genuine.items).toHaveLength(3);
        const before = snapshot(t2);

        const edited = structuredClone(genuine);
        edited.items[0]!.requestedState = "enforced";
        const dropped = structuredClone(genuine);
        dropped.items.pop();
        const { digest: _digest, ...unsigned } = genuine;
        for (const bad of [edited, dropped, unsigned, JSON.stringify(edited), "{ not json"]) {
          const reply = expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: admin, body: { plan: bad } }), 400, "BadRequest");
          expect(reply.error.message).toMatch(/digest|not valid JSON|Nothing was changed/);
        }
        expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: admin, body: {} }), 400, "BadRequest");
        expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: admin, body: { plan: genuine, planJobId: job.jobId } }), 400, "BadRequest");
        expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: admin, body: { planJobId: "job-20260101T000000Z-00000000" } }), 404, "JobNotFound");
        const report = await run("/v1/jobs/report", { tenants: [t2] }, admin);
        expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: admin, body: { planJobId: report.jobId } }), 404, "JobNotFound");
        expect(snapshot(t2)).toStrictEqual(before);

        // The plan as text, as `mfactl plan` writes it.
        const applied = await run("/v1/jobs/apply", { plan: `${JSON.stringify(genuine, null, 2)}\n` }, admin);
        expect(applied.status).toBe("succeeded");
        // A user with a registered method reads back enforced once enabled (as in Entra).
        for (const u of target) {
          const now = h.emu.admin.getUser(t2, u.id);
          expect(now.perUserMfaState).toBe(now.methods.length > 0 ? "enforced" : "enabled");
        }
      });

      it("refuses a plan over maxChanges with 400 before recording a run", async () => {
        const shielded = new Set([...syncAccounts(t2), breakGlass(t2)]);
        const target = h.emu.admin.listUsers(t2).filter((u) => u.perUserMfaState === "disabled" && !shielded.has(u.id)).slice(0, 4);
        const job = await run("/v1/jobs/plan", { tenants: [t2], state: "enforced", users: target.map((u) => u.userPrincipalName) }, admin);
        const planned = await result<Plan>(job, admin);
        expect(planned.items).toHaveLength(4);
        const before = snapshot(t2);
        for (const maxChanges of [3, "3", "50%"]) {
          const reply = expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: admin, body: { planJobId: job.jobId, maxChanges } }), 400, "BadRequest");
          expect(reply.error.message).toMatch(/over the cap/);
        }
        expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: admin, body: { planJobId: job.jobId, maxChanges: "lots" } }), 400, "BadRequest");
        expect(snapshot(t2)).toStrictEqual(before);
        const runs = ((await h.call("/v1/runs?limit=1000", { auth: read })).body as { runs: Run[] }).runs;
        expect(runs.some((r) => r.planId === planned.planId)).toBe(false);
        // At the cap is allowed.
        expect((await run("/v1/jobs/apply", { planJobId: job.jobId, maxChanges: 4 }, admin)).status).toBe("succeeded");
      });

      it("says in a plan's summary whether its apply would be over the run-size cap, in the guard rail's words", async () => {
        const shielded = new Set([...syncAccounts(t2), breakGlass(t2)]);
        const target = h.emu.admin.listUsers(t2).filter((u) => u.perUserMfaState === "disabled" && !shielded.has(u.id)).slice(0, 4);
        const users = target.map((u) => u.userPrincipalName);
        // No cap on this server, none in the request.
        const free = await run("/v1/jobs/plan", { tenants: [t2], state: "enabled", users }, admin);
        expect((free.summary as { runSizeCap: unknown }).runSizeCap).toStrictEqual({ limit: null, source: "none", changes: 4, exceeded: false });
        // The request's cap: the summary says what apply with that cap then says.
        const capped = await run("/v1/jobs/plan", { tenants: [t2], state: "enabled", users, maxChanges: "50%" }, admin);
        const cap = (capped.summary as { runSizeCap: { limit: string; source: string; changes: number; exceeded: boolean; message: string } }).runSizeCap;
        expect(cap).toMatchObject({ limit: "50%", source: "the request's maxChanges", changes: 4, exceeded: true });
        const refused = expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: admin, body: { planJobId: capped.jobId, maxChanges: "50%" } }), 400, "BadRequest");
        expect(cap.message).toBe(refused.error.message);
        const at = await run("/v1/jobs/bulk-set", { tenants: [t2], state: "enabled", users, maxChanges: 4, dryRun: true }, read);
        expect((at.summary as { runSizeCap: unknown }).runSizeCap).toStrictEqual({ limit: "4", source: "the request's maxChanges", changes: 4, exceeded: false });
      });

      it("refuses a plan naming a protected account unless includeProtected, which needs the admin scope", async () => {
        const sync = h.emu.admin.listUsers(t2).find((u) => syncAccounts(t2).has(u.id))!;
        const before = snapshot(t2);
        const refused = await run("/v1/jobs/plan", { tenants: [t2], state: "enforced", users: [sync.userPrincipalName] }, write);
        expect(refused).toMatchObject({ status: "failed", error: { code: "BadRequest", httpStatus: 400 } });
        expect(refused.error?.message).toContain(sync.userPrincipalName);
        expectError(await h.call(`/v1/jobs/${refused.jobId}/result`, { auth: write }), 409, "JobFailed");

        // leaveOutProtected (a screen's picked users): the same selection is planned, the protected account listed as left out.
        const other = h.emu.admin.listUsers(t2).find((u) => !syncAccounts(t2).has(u.id) && u.perUserMfaState !== "enforced" && !u.userPrincipalName.includes("#EXT#") && !u.userPrincipalName.startsWith("breakglass@"))!;
        const leftOut = await result<Plan>(await run("/v1/jobs/plan", { tenants: [t2], state: "enforced", users: [sync.userPrincipalName, other.userPrincipalName], leaveOutProtected: true }, write), write);
        expect(leftOut.items.map((i) => i.id)).toStrictEqual([other.id]);
        expect(leftOut.leftOut).toMatchObject([{ id: sync.id, reason: "protected" }]);
        expect(leftOut.summary).toMatchObject({ selected: 2, changes: 1, leftOut: 1 });

        const allowed = await run("/v1/jobs/plan", { tenants: [t2], state: "enforced", users: [sync.userPrincipalName], includeProtected: true }, admin);
        const planned = await result<Plan>(allowed, admin);
        expect(planned.items.map((i) => ({ id: i.id, protected: i.protected }))).toStrictEqual([{ id: sync.id, protected: true }]);
        // The plan holds a protected account: applying it needs includeProtected (and so admin) again.
        expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: admin, body: { planJobId: allowed.jobId } }), 400, "BadRequest");
        expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: write, body: { plan: planned, includeProtected: true } }), 403, "InsufficientScope");
        // Another caller's plan job is invisible to a non-admin, as in GET /v1/jobs.
        expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: write, body: { planJobId: allowed.jobId } }), 404, "JobNotFound");
        expect(snapshot(t2)).toStrictEqual(before);
        expect((await run("/v1/jobs/apply", { planJobId: allowed.jobId, includeProtected: true }, admin)).status).toBe("succeeded");
        expect(h.emu.admin.getUser(t2, sync.id).perUserMfaState).toBe("enforced");
      });
    });

    describe("bulk set and undo", () => {
      let original: Map<string, string>;
      let bulkRun: Run;

      it("previews with dryRun (the read scope is enough): a plan, nothing changed", async () => {
        original = states(t1);
        const before = snapshot(t1);
        const job = await run("/v1/jobs/bulk-set", { tenants: [t1], state: "enforced", filters: { members: true }, dryRun: true }, read);
        expect(job).toMatchObject({ type: "bulkSet", status: "succeeded" });
        expect(job.runId).toBeUndefined();
        const plan = await result<Plan>(job, read);
        expect(plan.kind).toBe("mfactl.plan");
        expect(plan.items.length).toBeGreaterThan(3);
        expect(snapshot(t1)).toStrictEqual(before);
      });

      it("refuses a bulk set over maxChanges (the job fails with 400) and changes nothing", async () => {
        const before = snapshot(t1);
        const job = await run("/v1/jobs/bulk-set", { tenants: [t1], state: "enforced", filters: { members: true }, maxChanges: "10%" }, write);
        expect(job).toMatchObject({ status: "failed", error: { code: "BadRequest", httpStatus: 400 } });
        expect(job.error?.message).toMatch(/over the cap/);
        expect(job.runId).toBeUndefined();
        expect(snapshot(t1)).toStrictEqual(before);
        expectError(await h.call("/v1/jobs/bulk-set", { method: "POST", auth: write, body: { tenants: [t1], state: "enforced", allUsers: true, maxChanges: "-3" } }), 400, "BadRequest");
        expectError(await h.call("/v1/jobs/bulk-set", { method: "POST", auth: write, body: { tenants: [t1], state: "sometimes", allUsers: true } }), 400, "BadRequest");
        expectError(await h.call("/v1/jobs/bulk-set", { method: "POST", auth: write, body: { tenants: [t1], state: "enforced" } }), 400, "BadRequest");
        expectError(await h.call("/v1/jobs/bulk-set", { method: "POST", auth: write, body: { tenants: ["elsewhere.example"], state: "enforced", allUsers: true } }), 404, "TenantNotFound");
        expect(snapshot(t1)).toStrictEqual(before);
      });

      it("sets every selected user for real: a completed run, each member but the protected ones enforced", async () => {
        const job = await run("/v1/jobs/bulk-set", { tenants: [t1], state: "enforced", filters: { members: true } }, write);
        expect(job).toMatchObject({ type: "bulkSet", status: "succeeded" });
        const out = await result<RunResult & { plan: Plan["summary"] }>(job, write);
        bulkRun = out.run;
        expect(bulkRun).toMatchObject({ runId: job.runId, kind: "bulk-set", status: "completed", actor: "apikey:jobs-write" });
        const shielded = new Set([...syncAccounts(t1), breakGlass(t1)]);
        const expected = members(t1).filter((u) => original.get(u.id) !== "enforced" && !shielded.has(u.id));
        expect(bulkRun.total).toBe(expected.length);
        expect(bulkRun.counts["changed"]).toBe(expected.length);
        const now = states(t1);
        for (const u of expected) expect(now.get(u.id)).toBe("enforced");
        for (const id of shielded) expect(now.get(id)).toBe(original.get(id));
        const enforced = ((await h.call(`/v1/tenants/${t1}/users?state=enforced&limit=999`, { auth: read })).body as { users: Row[] }).users.map((u) => u.id);
        expect(enforced).toEqual(expect.arrayContaining(expected.map((u) => u.id)));
      });

      it("undoes the run (by a prefix of its id): every user back to the state before; a second undo is refused", async () => {
        const job = await run("/v1/jobs/undo", { runId: bulkRun.runId.slice(0, -1) }, write);
        expect(job).toMatchObject({ type: "undo", status: "succeeded", progress: { counts: { changed: bulkRun.total } } });
        const out = await result<RunResult>(job, write);
        expect(out.run).toMatchObject({ kind: "undo", undoOf: bulkRun.runId, status: "completed", total: bulkRun.total });
        expect(states(t1)).toStrictEqual(original);

        const before = snapshot(t1);
        const again = expectError(await h.call("/v1/jobs/undo", { method: "POST", auth: write, body: { runId: bulkRun.runId } }), 400, "BadRequest");
        expect(again.error.message).toContain(out.run.runId);
        expectError(await h.call("/v1/jobs/undo", { method: "POST", auth: write, body: { runId: "19990101T000000Z-deadbeef" } }), 404, "RunNotFound");
        expect(snapshot(t1)).toStrictEqual(before);
      });
    });

    describe("reports", () => {
      let report: JobView;

      it("reports every user of a tenant as JSON", async () => {
        report = await run("/v1/jobs/report", { tenants: [t2] }, read);
        expect(report).toMatchObject({ type: "report", status: "succeeded" });
        const out = await result<{ users: Row[]; tenants: { tenant: string; status: string; users: number }[] }>(report, read);
        const now = states(t2);
        expect(new Map(out.users.map((u) => [u.id, u.perUserMfaState]))).toStrictEqual(now);
        expect(out.users).toHaveLength(now.size);
        expect(out.tenants).toStrictEqual([{ tenant: t2, status: "completed", users: now.size }]);
      });

      it("serves the report as CSV with the report columns as header", async () => {
        const res = await h.call(`/v1/jobs/${report.jobId}/result?format=csv`, { auth: read });
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
        expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename=".+\.csv"$/);
        const lines = res.text.split(/\r?\n/).filter((l) => l !== "");
        expect(lines[0]).toBe(REPORT_COLUMNS.join(","));
        const users = h.emu.admin.listUsers(t2);
        expect(lines).toHaveLength(users.length + 1);
        for (const u of users) expect(lines.filter((l) => l.includes(u.id)), u.id).toHaveLength(1);
      });

      it("serves the report as HTML under its own content security policy", async () => {
        const res = await h.call(`/v1/jobs/${report.jobId}/result?format=html`, { auth: read });
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toMatch(/^text\/html/);
        expect(res.headers.get("content-security-policy")).toBe(REPORT_CSP);
        expect(res.text).toMatch(/^<!DOCTYPE html>/);
        const plain = h.emu.admin.listUsers(t2).filter((u) => /^[a-z0-9.]+@[a-z0-9.]+$/i.test(u.userPrincipalName));
        expect(plain.length).toBeGreaterThan(10);
        for (const u of plain) expect(res.text).toContain(u.userPrincipalName);
      });

      it("filters a report and refuses other formats for other jobs", async () => {
        const job = await run("/v1/jobs/report", { tenants: [t2], filters: { states: ["enforced"] } }, read);
        const out = await result<{ users: Row[] }>(job, read);
        const expected = h.emu.admin.listUsers(t2).filter((u) => u.perUserMfaState === "enforced");
        expect(out.users.map((u) => u.id).sort()).toStrictEqual(expected.map((u) => u.id).sort());
        const plan = await run("/v1/jobs/plan", { tenants: [t2], state: "disabled", allUsers: true }, read);
        expectError(await h.call(`/v1/jobs/${plan.jobId}/result?format=csv`, { auth: read }), 400, "BadRequest");
        expectError(await h.call(`/v1/jobs/${report.jobId}/result?format=pdf`, { auth: read }), 400, "BadRequest");
        expectError(await h.call("/v1/jobs/report", { method: "POST", auth: read, body: { tenants: [] } }), 400, "BadRequest");
      });
    });

    describe("events and visibility", () => {
      it("streams progress, one change event per settled user, and done", async () => {
        // The job's first Graph request is held a moment, so the stream is open before any user settles.
        h.emu.admin.addFaults([{ tenant: t2, action: "slow", delayMs: 1000, count: 1 }]);
        const job = await start("/v1/jobs/bulk-set", { tenants: [t2], state: "disabled", allUsers: true }, write);
        const stream = await h.events(job.jobId, write, (e) => e.event === "done");
        expect(stream.status).toBe(200);
        expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/);
        expect(stream.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
        const [first] = stream.events;
        expect(first?.event).toBe("progress");
        expect((first?.data as JobView).progress.counts).toStrictEqual({});
        const done = stream.events.at(-1)!;
        expect(done.event).toBe("done");
        const final = done.data as JobView;
        expect(final.status).toBe("succeeded");
        expect(stream.events.filter((e) => e.event === "done")).toHaveLength(1);

        const changes = stream.events.filter((e) => e.event === "change").map((e) => e.data as { id: string; status: string; runId: string });
        const journal = (await h.call(`/v1/runs/${final.runId}/changes?limit=5000`, { auth: write })).body as { changes: { id: string; status: string }[] };
        expect(journal.changes.length).toBeGreaterThan(5);
        expect(changes.map((c) => c.id).sort()).toStrictEqual(journal.changes.map((c) => c.id).sort());
        expect(changes.every((c) => c.runId === final.runId)).toBe(true);
        expect(new Map(changes.map((c) => [c.id, c.status]))).toStrictEqual(new Map(journal.changes.map((c) => [c.id, c.status])));
        expect(final.progress.counts).toStrictEqual({ changed: journal.changes.length });
        for (const e of stream.events.filter((x) => x.event === "progress")) expect(["running"]).toContain((e.data as JobView).status);

        // A finished job's stream is its end, at once.
        const again = await h.events(job.jobId, write);
        expect(again.events.map((e) => e.event)).toStrictEqual(["done"]);
        expect((again.events[0]!.data as JobView).progress).toStrictEqual(final.progress);
      });

      it("shows a job to the caller who started it and to admins only; unknown jobs are 404", async () => {
        const other = await h.key(["write"], { name: "someone-else" });
        const job = await run("/v1/jobs/report", { tenants: [t0] }, write);
        for (const path of [`/v1/jobs/${job.jobId}`, `/v1/jobs/${job.jobId}/result`, `/v1/jobs/${job.jobId}/events`]) {
          expectError(await h.call(path, { auth: other }), 404, "JobNotFound");
          expect((await h.call(path, { auth: write })).status).toBe(200);
          expect((await h.call(path, { auth: admin })).status).toBe(200);
          expectError(await h.call(path.replace(job.jobId, "job-20260101T000000Z-0badc0de"), { auth: admin }), 404, "JobNotFound");
        }
        const listed = async (auth: string) => ((await h.call("/v1/jobs", { auth })).body as { jobs: JobView[] }).jobs.map((j) => j.jobId);
        expect(await listed(other)).not.toContain(job.jobId);
        expect(await listed(write)).toContain(job.jobId);
        expect(await listed(admin)).toContain(job.jobId);
        expect(((await h.call(`/v1/jobs/${job.jobId}`, { auth: write })).body as JobView).actor).toBe("apikey:jobs-write");
        const mine = ((await h.call("/v1/jobs", { auth: write })).body as { jobs: JobView[] }).jobs;
        expect(mine.every((j) => j.actor === "apikey:jobs-write")).toBe(true);
      });

      it("runs jobs for an Entra app as app:<client id>", async () => {
        const token = await h.token("readWrite");
        const job = await run("/v1/jobs/report", { tenants: [t0] }, token);
        expect(job.actor).toBe(`app:${h.emu.apiCallers.readWrite.clientId}`);
        expectError(await h.call(`/v1/jobs/${job.jobId}`, { auth: write }), 404, "JobNotFound");
      });
    });

    describe("run-size cap of the server (the profile's maxChanges)", () => {
      let capped: Harness;
      let key: string;
      let tenant: string;
      beforeAll(async () => {
        capped = await startHarness({ openStore: b.open, users: 20, tenants: 1, maxChanges: "3" });
        key = await capped.key(["write"], { name: "capped-write" });
        tenant = capped.emu.tenants[0]!.domain;
      });
      afterAll(async () => capped?.close());

      async function plan(body: unknown): Promise<{ job: JobView; cap: { limit: string | null; source: string; changes: number; exceeded: boolean; message?: string } }> {
        const res = await capped.call("/v1/jobs/plan", { method: "POST", auth: key, body });
        expect(res.status, res.text).toBe(202);
        const job = await capped.waitForJob((res.body as JobView).jobId, key);
        expect(job.status).toBe("succeeded");
        return { job, cap: (job.summary as { runSizeCap: { limit: string | null; source: string; changes: number; exceeded: boolean; message?: string } }).runSizeCap };
      }

      it("says a plan over the cap is exceeded, with the words its apply is then refused in (400, nothing changed)", async () => {
        const before = capped.emu.admin.listUsers(tenant).map((u) => `${u.id}:${u.perUserMfaState}:${u.patchCount}`);
        const { job, cap } = await plan({ tenants: [tenant], state: "enforced", allUsers: true });
        const planned = (await capped.call(`/v1/jobs/${job.jobId}/result`, { auth: key })).body as Plan;
        expect(planned.items.length).toBeGreaterThan(3);
        expect(cap).toStrictEqual({
          limit: "3",
          source: "the profile's maxChanges",
          changes: planned.items.length,
          exceeded: true,
          message: `This run would change ${planned.items.length} users, over the cap of 3 set by the profile's maxChanges. Nothing was changed. Narrow the selection, or raise the cap with --max-changes <n|p%> if this is intended.`,
        });
        const refused = expectError(await capped.call("/v1/jobs/apply", { method: "POST", auth: key, body: { planJobId: job.jobId } }), 400, "BadRequest");
        expect(refused.error.message).toBe(cap.message);
        expect(capped.emu.admin.listUsers(tenant).map((u) => `${u.id}:${u.perUserMfaState}:${u.patchCount}`)).toStrictEqual(before);
      });

      it("says a plan under the cap is not exceeded, and its apply goes through", async () => {
        const users = capped.emu.admin.listUsers(tenant).filter((u) => u.perUserMfaState === "disabled" && !u.userPrincipalName.startsWith("Sync_") && !u.userPrincipalName.startsWith("breakglass@")).slice(0, 2);
        const { job, cap } = await plan({ tenants: [tenant], state: "enabled", users: users.map((u) => u.userPrincipalName) });
        expect(cap).toStrictEqual({ limit: "3", source: "the profile's maxChanges", changes: 2, exceeded: false });
        const res = await capped.call("/v1/jobs/apply", { method: "POST", auth: key, body: { planJobId: job.jobId } });
        expect(res.status, res.text).toBe(202);
        expect((await capped.waitForJob((res.body as JobView).jobId, key)).progress.counts).toStrictEqual({ changed: 2 });
      });
    });
  });
}
