/**
 * The posture job over HTTP: POST /v1/jobs/posture runs `mfactl posture` in the background and
 * answers each tenant's counts, unknown sources, security defaults, Conditional Access and findings
 * (at most 100 users a finding), never the per-user list; counts checked against the users API;
 * tenants checked before the job; a tenant whose users cannot be read fails alone. On SQLite and
 * PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeBackendsForTests } from "../../store/src/postgres.test-helper.js";
import { startHarness, type ErrorReply, type Harness, type JobView } from "./server-harness.test-helper.js";

interface Completed {
  tenant: string;
  status: "completed";
  counts: { users: number; enabledAccounts: number; admins: number; byProtection: Record<string, number>; byPerUserMfaState: Record<string, number>; byFinding: Record<string, number> };
  unknown: { source: string; code: string; reason: string }[];
  securityDefaults: { enabled: boolean | null; reason?: string };
  conditionalAccess: { readable: boolean; reason?: string; mfaPolicies: { id: string; displayName: string }[]; reportOnlyMfaPolicies: { id: string; displayName: string }[]; mfaNotGuaranteed: unknown[] };
  findings: { code: string; message: string; count: number; users: { id: string; userPrincipalName: string }[] }[];
}
interface Failed {
  tenant: string;
  status: "failed";
  error: { code: string; message: string; requestId?: string };
}
interface PostureResult {
  tenants: (Completed | Failed)[];
}
interface UsersPage {
  users: { id: string; perUserMfaState: string }[];
  nextCursor?: string;
}
interface AuditEntry {
  action: string;
  actor: string;
  target?: string;
  detail?: string;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, n) => a + n, 0);

for (const b of storeBackendsForTests()) {
  describe.skipIf(b.skip !== undefined)(`API posture job (${b.name})`, () => {
    let h: Harness;
    let read: string;
    let t0: string;
    let t1: string;
    let t2: string;

    beforeAll(async () => {
      // Enough users that a finding lists more than the 100 it shows.
      h = await startHarness({ openStore: b.open, users: 160, tenants: 3 });
      read = await h.key(["read"], { name: "posture-read" });
      [t0, t1, t2] = h.emu.tenants.map((t) => t.domain) as [string, string, string];
    });
    afterAll(async () => h?.close());

    function expectError(res: { status: number; body: unknown; text: string; headers: Headers }, status: number, code: string): ErrorReply {
      expect({ status: res.status, code: (res.body as ErrorReply).error?.code }, res.text).toStrictEqual({ status, code });
      expect((res.body as ErrorReply).requestId).toBe(res.headers.get("x-request-id"));
      return res.body as ErrorReply;
    }
    async function posture(body: unknown, auth = read): Promise<{ job: JobView; result: PostureResult }> {
      const started = await h.call("/v1/jobs/posture", { method: "POST", auth, body });
      expect(started.status, started.text).toBe(202);
      const job = await h.waitForJob((started.body as JobView).jobId, auth);
      expect(job.status, JSON.stringify(job.error)).toBe("succeeded");
      const res = await h.call(`/v1/jobs/${job.jobId}/result`, { auth });
      expect(res.status, res.text).toBe(200);
      return { job, result: res.body as PostureResult };
    }
    /** Every user's state as GET /v1/tenants/{tenant}/users pages them. */
    async function statesViaApi(tenant: string): Promise<Record<string, number>> {
      const tally: Record<string, number> = {};
      let cursor: string | undefined;
      do {
        const res = await h.call(`/v1/tenants/${tenant}/users?limit=999${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { auth: read });
        expect(res.status, res.text).toBe(200);
        const page = res.body as UsersPage;
        for (const u of page.users) tally[u.perUserMfaState] = (tally[u.perUserMfaState] ?? 0) + 1;
        cursor = page.nextCursor;
      } while (cursor);
      return tally;
    }

    it("reports two tenants' posture: counts that add up and match the users API, policies, findings with at most 100 users", async () => {
      // Per-user MFA on for everybody in t0 while security defaults cover them too: a finding of every user.
      h.emu.admin.setPosture(t0, { securityDefaultsEnabled: true });
      h.emu.admin.setUsers(t0, { perUserMfaState: "enabled" });
      const { job, result } = await posture({ tenants: [t1, t0] });
      expect(job).toMatchObject({ type: "posture", actor: "apikey:posture-read" });
      expect(job.summary).toStrictEqual({ tenants: [{ tenant: t1, status: "completed" }, { tenant: t0, status: "completed" }] });
      // In the order asked.
      expect(result.tenants.map((t) => t.tenant)).toStrictEqual([t1, t0]);
      expect(Object.keys(result)).toStrictEqual(["tenants"]);
      let users = 0;
      for (const view of result.tenants) {
        expect(view.status).toBe("completed");
        const t = view as Completed;
        expect(Object.keys(t)).toStrictEqual(["tenant", "status", "counts", "unknown", "securityDefaults", "conditionalAccess", "findings"]);
        expect(Object.keys(t.counts)).toStrictEqual(["users", "enabledAccounts", "admins", "byProtection", "byPerUserMfaState", "byFinding"]);
        const all = h.emu.admin.listUsers(t.tenant);
        expect(t.counts.users).toBe(all.length);
        expect(sum(t.counts.byProtection)).toBe(t.counts.users);
        expect(sum(t.counts.byPerUserMfaState)).toBe(t.counts.users);
        expect(t.counts.byPerUserMfaState).toStrictEqual(await statesViaApi(t.tenant));
        expect(t.counts.enabledAccounts).toBe(all.filter((u) => h.emu.admin.getUser(t.tenant, u.id).accountEnabled).length);
        expect(t.counts.admins).toBeGreaterThan(0);
        expect(t.counts.admins).toBeLessThan(t.counts.users);

        const posture = h.emu.admin.posture(t.tenant);
        expect(t.securityDefaults).toStrictEqual({ enabled: posture.securityDefaultsEnabled });
        expect(t.conditionalAccess.readable).toBe(true);
        const policies = new Map(h.emu.admin.listConditionalAccessPolicies(t.tenant).map((p) => [p.id, p.displayName]));
        for (const p of [...t.conditionalAccess.mfaPolicies, ...t.conditionalAccess.reportOnlyMfaPolicies]) {
          expect(Object.keys(p)).toStrictEqual(["id", "displayName"]);
          expect(policies.get(p.id)).toBe(p.displayName);
        }
        expect(Array.isArray(t.conditionalAccess.mfaNotGuaranteed)).toBe(true);
        expect(Array.isArray(t.unknown)).toBe(true);

        expect(t.findings.length).toBeGreaterThan(0);
        expect(Object.fromEntries(t.findings.map((f) => [f.code, f.count]))).toStrictEqual(t.counts.byFinding);
        const ids = new Set(all.map((u) => u.id));
        for (const f of t.findings) {
          expect(Object.keys(f)).toStrictEqual(["code", "message", "count", "users"]);
          expect(f.message.length).toBeGreaterThan(20);
          expect(f.users).toHaveLength(Math.min(f.count, 100));
          for (const u of f.users) {
            expect(Object.keys(u)).toStrictEqual(["id", "userPrincipalName"]);
            expect(ids.has(u.id)).toBe(true);
          }
        }
        users += t.counts.users;
      }
      // Some finding concerns more users than it lists.
      const redundant = (result.tenants[1] as Completed).findings.find((f) => f.code === "perUserRedundant");
      expect(redundant?.count).toBe(h.emu.admin.listUsers(t0).length);
      expect(redundant?.users).toHaveLength(100);
      // Progress counts the users read; no per-user list anywhere in the result.
      expect(job.progress.done).toBe(users);
      const text = JSON.stringify(result);
      expect(text).not.toContain("effectiveProtection");
      expect(text).not.toContain('"users":[{"tenant"');

      const audit = await h.call("/v1/audit?action=job.posture", { auth: read });
      expect((audit.body as { entries: AuditEntry[] }).entries.find((e) => e.target === job.jobId)).toMatchObject({ action: "job.posture", actor: "apikey:posture-read", detail: `posture of ${t1}, ${t0}` });
      // JSON only.
      expectError(await h.call(`/v1/jobs/${job.jobId}/result?format=csv`, { auth: read }), 400, "BadRequest");
    });

    it("applies the report's filters", async () => {
      const { result } = await posture({ tenants: [t0], filters: { states: ["enforced"] } });
      const t = result.tenants[0] as Completed;
      expect(Object.keys(t.counts.byPerUserMfaState)).toStrictEqual(["enforced"]);
      expect(t.counts.users).toBe(h.emu.admin.listUsers(t0).filter((u) => u.perUserMfaState === "enforced").length);
    });

    it("checks the tenants before any job: not allowed 403, not served 404, none 400", async () => {
      const limited = await h.key(["read"], { name: "posture-limited", tenants: [t0] });
      const refused = expectError(await h.call("/v1/jobs/posture", { method: "POST", auth: limited, body: { tenants: [t0, t1] } }), 403, "TenantNotAllowed");
      expect(refused.error.message).toBe(`API key posture-limited may not act on tenant ${t1}.`);
      expectError(await h.call("/v1/jobs/posture", { method: "POST", auth: limited, body: { tenants: ["nowhere.example"] } }), 404, "TenantNotFound");
      expectError(await h.call("/v1/jobs/posture", { method: "POST", auth: limited, body: { tenants: [] } }), 400, "BadRequest");
      expectError(await h.call("/v1/jobs/posture", { method: "POST", auth: limited, body: { tenants: [t0], filters: { state: ["enabled"] } } }), 400, "BadRequest");
      const jobs = await h.call("/v1/jobs", { auth: limited });
      expect((jobs.body as { jobs: JobView[] }).jobs).toStrictEqual([]);
      expectError(await h.call("/v1/jobs/posture", { method: "POST", body: { tenants: [t0] } }), 401, "Unauthenticated");
    });

    it("fails a tenant whose users cannot be read, with its error, while the other completes", async () => {
      h.emu.admin.addFaults([{ tenant: t2, method: "GET", pathIncludes: "/users", status: 403, count: 1000 }]);
      try {
        const { job, result } = await posture({ tenants: [t0, t2] });
        expect(job.summary).toStrictEqual({ tenants: [{ tenant: t0, status: "completed" }, { tenant: t2, status: "failed" }] });
        expect(result.tenants[0]).toMatchObject({ tenant: t0, status: "completed" });
        const failed = result.tenants[1] as Failed;
        expect(Object.keys(failed)).toStrictEqual(["tenant", "status", "error"]);
        expect(failed.tenant).toBe(t2);
        expect(failed.status).toBe("failed");
        expect(failed.error.code).toMatch(/\S/);
        expect(failed.error.message).toMatch(/\S/);
        expect(Object.keys(failed.error).filter((k) => k !== "requestId")).toStrictEqual(["code", "message"]);
      } finally {
        h.emu.admin.clearFaults();
      }
    });
  });
}
