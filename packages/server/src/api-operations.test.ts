/**
 * Running the server: liveness and readiness, the OpenAPI document and docs page, security
 * headers and request ids, rate limits per credential, no secrets in the log, and graceful
 * shutdown (jobs finish within the grace, or stop between users leaving a resumable run).
 * Over HTTP against the emulator, on SQLite and PostgreSQL.
 */
import { claimForResume, enginePort, executeRun, type JournalChange, type RunContext } from "@mfactl/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeBackendsForTests } from "../../store/src/postgres.test-helper.js";
import { startHarness, type ErrorReply, type Harness, type JobView } from "./server-harness.test-helper.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface OpenApi {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { responses?: Record<string, unknown>; tags?: string[] }>>;
  components: { securitySchemes: Record<string, { type: string }> };
  security: unknown[];
}

for (const b of storeBackendsForTests()) {
  describe.skipIf(b.skip !== undefined)(`API operations (${b.name})`, () => {
    describe("health, documents, headers, request ids, logs", () => {
      let h: Harness;
      beforeAll(async () => {
        h = await startHarness({ openStore: b.open, users: 12, tenants: 2 });
      });
      afterAll(async () => h?.close());

      it("answers /health and /ready without credentials, naming the database", async () => {
        const health = await h.call("/health");
        expect({ status: health.status, body: health.body }).toStrictEqual({ status: 200, body: { status: "ok" } });
        const ready = await h.call("/ready");
        expect({ status: ready.status, body: ready.body }).toStrictEqual({ status: 200, body: { status: "ready", database: b.name } });
      });

      it("publishes an OpenAPI 3.1 document listing every /v1 and /api route with its security schemes", async () => {
        const res = await h.call("/openapi.json");
        expect(res.status).toBe(200);
        const doc = res.body as OpenApi;
        expect(doc.openapi).toMatch(/^3\.1\./);
        expect(doc.info.title).toMatch(/mfactl/);
        expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
        const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
        const expected = [
          "GET /v1/tenants",
          "GET /v1/me",
          "GET /v1/dashboard/config",
          "POST /v1/jobs/posture",
          "GET /v1/tenants/{tenant}/users",
          "GET /v1/tenants/{tenant}/users/{user}/mfa",
          "PUT /v1/tenants/{tenant}/users/{user}/mfa",
          "POST /v1/jobs/plan",
          "POST /v1/jobs/bulk-set",
          "POST /v1/jobs/apply",
          "POST /v1/jobs/undo",
          "POST /v1/jobs/report",
          "GET /v1/jobs",
          "GET /v1/jobs/{jobId}",
          "GET /v1/jobs/{jobId}/events",
          "GET /v1/jobs/{jobId}/result",
          "GET /v1/runs",
          "GET /v1/runs/{run}",
          "GET /v1/runs/{run}/changes",
          "GET /v1/audit",
          "GET /v1/schedules",
          "POST /v1/schedules",
          "GET /v1/schedules/{schedule}",
          "PUT /v1/schedules/{schedule}",
          "PATCH /v1/schedules/{schedule}",
          "DELETE /v1/schedules/{schedule}",
          "GET /v1/schedules/{schedule}/fires",
          "POST /v1/schedules/{schedule}/run",
          "POST /api/ExecPerUserMFA",
          "GET /api/ListPerUserMFA",
          "GET /api/ListMFAUsers",
        ];
        expect(operations).toEqual(expect.arrayContaining(expected));
        expect(operations.filter((o) => / \/(v1|api)\//.test(o)).sort()).toStrictEqual([...expected].sort());
        for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) if (path.startsWith("/v1/")) expect(Object.keys(op.responses ?? {}).length, `${method} ${path}`).toBeGreaterThan(0);
        expect(doc.components.securitySchemes["bearer"]?.type).toBe("http");
        expect(doc.components.securitySchemes["apiKey"]?.type).toBe("apiKey");
        expect(doc.security.length).toBeGreaterThan(0);
        // Path parameters as OpenAPI writes them, never Fastify's :name.
        expect(Object.keys(doc.paths).some((p) => p.includes(":"))).toBe(false);
      });

      it("serves the API docs page as HTML", async () => {
        const res = await h.call("/docs");
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toMatch(/^text\/html/);
        expect(res.text.toLowerCase()).toContain("swagger");
      });

      it("sends security headers and a fresh x-request-id on every answer; error bodies carry the same id", async () => {
        const key = await h.key(["admin"]);
        const t = h.emu.tenants[0]!.domain;
        const answers = [
          await h.call("/v1/tenants", { auth: key }),
          await h.call("/v1/tenants"),
          await h.call("/v1/tenants", { auth: "mfak_nope" }),
          await h.call("/v1/no-such-route", { auth: key }),
          await h.call(`/v1/tenants/${t}/users?limit=zero`, { auth: key }),
          await h.call(`/v1/tenants/nowhere.example/users`, { auth: key }),
          await h.call("/v1/jobs/report", { method: "POST", auth: key, body: { tenants: [t] } }),
          await h.call("/health"),
          await h.call("/openapi.json"),
        ];
        expect(answers.map((a) => a.status)).toStrictEqual([200, 401, 401, 404, 400, 404, 202, 200, 200]);
        const ids = answers.map((a) => a.headers.get("x-request-id"));
        for (const [i, a] of answers.entries()) {
          expect(ids[i], `answer ${i}`).toMatch(UUID);
          expect(a.headers.get("x-content-type-options"), `answer ${i}`).toBe("nosniff");
          const csp = a.headers.get("content-security-policy") ?? "";
          expect(csp, `answer ${i}`).toContain("default-src");
          expect(csp.includes("frame-ancestors 'none'") || a.headers.get("x-frame-options") !== null, `answer ${i}`).toBe(true);
          if (a.status >= 400) expect((a.body as ErrorReply).requestId, `answer ${i}`).toBe(ids[i]);
        }
        expect(new Set(ids).size).toBe(ids.length);
        expect((answers[3]!.body as ErrorReply).error.code).toBe("NotFound");
        // A caller's own x-request-id is not taken over (it would let callers forge log lines' ids).
        const forged = await h.call("/v1/tenants", { auth: key, headers: { "x-request-id": "forged-id" } });
        expect(forged.headers.get("x-request-id")).toMatch(UUID);
        await h.waitForJob((answers[6]!.body as JobView).jobId, key);
      });

      it("writes request lines to the log, never a credential or secret", async () => {
        const t = h.emu.tenants[0]!.domain;
        const bearerKey = await h.key(["write"], { name: "logged-bearer" });
        const headerKey = await h.key(["read"], { name: "logged-header" });
        const revokedKey = await h.key(["read"], { name: "logged-revoked" });
        await h.store.access.revokeApiKey("logged-revoked", new Date().toISOString());
        const token = await h.token("readWrite");
        const readOnlyToken = await h.token("readOnly");
        const wrongAudience = (await h.emu.mintToken({ tenant: h.emu.apiApp.tenantId, clientId: h.emu.apiCallers.readWrite.clientId, audience: "api://elsewhere", lifetimeSeconds: 600 })).accessToken;
        const secrets = [h.emu.clientSecret, h.emu.apiCallers.readWrite.clientSecret, h.emu.apiCallers.readOnly.clientSecret, h.emu.readOnlyApp.clientSecret];
        const requestIds: string[] = [];
        const send = async (path: string, init: Parameters<Harness["call"]>[1]) => {
          const res = await h.call(path, init);
          requestIds.push(res.headers.get("x-request-id") ?? "");
          return res;
        };
        await send("/v1/tenants", { auth: bearerKey });
        await send(`/v1/tenants/${t}/users?limit=3`, { headers: { "x-api-key": headerKey } });
        await send("/v1/tenants", { auth: revokedKey });
        await send(`/v1/tenants/${t}/users/${encodeURIComponent(`alex.wilber@${t}`)}/mfa`, { method: "PUT", auth: token, body: { perUserMfaState: "enforced" } });
        await send(`/v1/tenants/${t}/users/${encodeURIComponent(`alex.wilber@${t}`)}/mfa`, { method: "PUT", auth: readOnlyToken, body: { perUserMfaState: "disabled" } });
        await send("/v1/tenants", { auth: wrongAudience });
        for (const secret of secrets) {
          await send("/v1/tenants", { auth: secret });
          await send("/v1/tenants", { headers: { "x-api-key": secret } });
          await send("/v1/tenants", { headers: { authorization: `Basic ${Buffer.from(`${h.emu.clientId}:${secret}`).toString("base64")}` } });
        }
        const log = h.logs.join("");
        // The log is real: it has these requests.
        for (const id of requestIds) expect(log).toContain(id);
        const signature = (jwt: string) => jwt.split(".")[2]!;
        const forbidden = [bearerKey, headerKey, revokedKey, bearerKey.slice(-43), headerKey.slice(-43), token, signature(token), readOnlyToken, signature(readOnlyToken), wrongAudience, signature(wrongAudience), ...secrets];
        for (const s of forbidden) {
          expect(s.length).toBeGreaterThan(15);
          expect(log.includes(s), `a secret (${s.slice(0, 6)}...) is in the log`).toBe(false);
        }
      });
    });

    describe("rate limits and readiness without a database", () => {
      let h: Harness;
      beforeAll(async () => {
        h = await startHarness({ openStore: b.open, users: 10, tenants: 1, settings: { rateLimit: { max: 5, windowSeconds: 60 } } });
      });
      afterAll(async () => h?.close());

      it("gives each credential its own budget: the 6th request of a key is 429 TooManyRequests, another key still gets 200", async () => {
        const busy = await h.key(["read"]);
        const calm = await h.key(["read"]);
        const statuses: number[] = [];
        for (let i = 0; i < 5; i++) statuses.push((await h.call("/v1/tenants", { auth: busy })).status);
        expect(statuses).toStrictEqual([200, 200, 200, 200, 200]);
        const limited = await h.call("/v1/tenants", { auth: busy });
        expect(limited.status).toBe(429);
        const reply = limited.body as ErrorReply;
        expect(reply.error.code).toBe("TooManyRequests");
        expect(reply.error.message).toMatch(/5 requests per 60 s/);
        expect(reply.requestId).toBe(limited.headers.get("x-request-id"));
        expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
        // The budget is the key's: the same key by X-Api-Key is still limited, another key is not.
        expect((await h.call("/v1/tenants", { headers: { "x-api-key": busy } })).status).toBe(429);
        expect((await h.call("/v1/tenants", { auth: calm })).status).toBe(200);
        // Liveness and readiness are never limited.
        for (let i = 0; i < 8; i++) expect((await h.call("/health")).status).toBe(200);
        for (let i = 0; i < 8; i++) expect((await h.call("/ready")).status).toBe(200);
      });

      it("limits unauthenticated callers (key guessing) by address", async () => {
        const statuses: number[] = [];
        for (let i = 0; i < 6; i++) statuses.push((await h.call("/v1/tenants", { auth: `mfak_guess${i}` })).status);
        expect(statuses).toStrictEqual([401, 401, 401, 401, 401, 429]);
      });

      it("answers /ready with 503 once the database is gone", async () => {
        await h.store.close();
        const ready = await h.call("/ready");
        expect(ready.status).toBe(503);
        expect(ready.body).toMatchObject({ status: "unavailable", database: b.name });
        expect((ready.body as { reason: string }).reason.length).toBeGreaterThan(0);
        expect((await h.call("/health")).status).toBe(200);
      });
    });

    describe("graceful shutdown", () => {
      it("lets a running job finish within the grace: readiness 503 and new jobs refused meanwhile", async () => {
        const h = await startHarness({ openStore: b.open, users: 20, tenants: 1 });
        try {
          const key = await h.key(["write"]);
          const t = h.emu.tenants[0]!.domain;
          // One change is slow: the job is still running when the shutdown begins.
          h.emu.admin.addFaults([{ method: "PATCH", action: "slow", delayMs: 1500, count: 1 }]);
          const started = await h.call("/v1/jobs/bulk-set", { method: "POST", auth: key, body: { tenants: [t], state: "enforced", allUsers: true } });
          const jobId = (started.body as JobView).jobId;
          await h.events(jobId, key, (e) => (e.data as JobView).runId !== undefined);

          const stopping = h.server.shutdown(60_000);
          expect(h.server.shutdown(0)).toBe(stopping);
          const ready = await h.call("/ready");
          expect({ status: ready.status, body: ready.body }).toStrictEqual({ status: 503, body: { status: "shuttingDown", database: b.name } });
          const refused = await h.call("/v1/jobs/report", { method: "POST", auth: key, body: { tenants: [t] } });
          expect({ status: refused.status, code: (refused.body as ErrorReply).error.code }).toStrictEqual({ status: 409, code: "ShuttingDown" });
          expect((await h.call("/health")).status).toBe(200);

          expect(await stopping).toStrictEqual({ finished: 1, aborted: 0, resumable: 0 });
          const job = (await h.server.context.jobs.get(jobId))!;
          expect(job.status).toBe("succeeded");
          const run = await h.store.journal.getRun(job.runId!);
          expect(run).toMatchObject({ status: "completed", counts: { pending: 0, inFlight: 0, failed: 0 } });
          expect(run!.counts.changed).toBe(run!.total);
          await expect(fetch(`${h.url}/health`)).rejects.toThrow();
        } finally {
          await h.close();
        }
      });

      it("stops a job that outlasts the grace between users: cancelled, its run resumable with nothing lost", async () => {
        const h = await startHarness({ openStore: b.open, users: 80, tenants: 1 });
        try {
          const key = await h.key(["write"]);
          const t = h.emu.tenants[0]!.domain;
          // Every change hangs far longer than the grace (then Graph applies it, as a request cut off in flight may be).
          h.emu.admin.addFaults([{ method: "PATCH", action: "slow", delayMs: 3_000, count: 100_000 }]);
          const started = await h.call("/v1/jobs/bulk-set", { method: "POST", auth: key, body: { tenants: [t], state: "enforced", allUsers: true } });
          const jobId = (started.body as JobView).jobId;
          const { events } = await h.events(jobId, key, (e) => (e.data as JobView).runId !== undefined);
          const runId = (events.at(-1)!.data as JobView).runId!;
          const running = await h.call(`/v1/jobs/${jobId}/result`, { auth: key });
          expect({ status: running.status, code: (running.body as ErrorReply).error.code }).toStrictEqual({ status: 409, code: "JobRunning" });

          const first = h.server.shutdown(100);
          const second = h.server.shutdown(5_000);
          expect(second).toBe(first);
          expect(await first).toStrictEqual({ finished: 0, aborted: 1, resumable: 1 });
          expect(await h.server.shutdown()).toStrictEqual({ finished: 0, aborted: 1, resumable: 1 });

          const job = (await h.server.context.jobs.get(jobId))!;
          expect(job.status).toBe("cancelled");
          expect(job.finishedAt).toBeDefined();
          await expect(fetch(`${h.url}/health`)).rejects.toThrow();

          const run = (await h.store.journal.getRun(runId))!;
          expect(["running", "interrupted"]).toContain(run.status);
          const c = run.counts;
          expect(c.pending + c.inFlight + c.changed + c.unchanged + c.failed + c.conflict).toBe(run.total);
          expect(c.pending + c.inFlight).toBeGreaterThan(0);
          // A change cut off in flight stays in flight (outcome unknown), never "failed".
          expect(c.failed).toBe(0);
          const changes: JournalChange[] = [];
          for await (const change of h.store.journal.changes(runId)) changes.push(change);
          expect(changes).toHaveLength(run.total);
          const tally: Record<string, number> = { pending: 0, inFlight: 0, changed: 0, unchanged: 0, failed: 0, conflict: 0 };
          for (const change of changes) tally[change.status] = (tally[change.status] ?? 0) + 1;
          expect(tally).toStrictEqual(c);
          for (const change of changes.filter((x) => x.status === "inFlight")) expect(change.sentAt).toBeDefined();

          // And it is resumable: another owner (the CLI's `resume`, with its own Graph client) finishes it.
          h.emu.admin.clearFaults();
          const other = await h.otherEngine();
          try {
            const ctx: RunContext = { journal: h.store.journal, port: enginePort(other.engine), actor: "cli:resume@test" };
            const claimed = await claimForResume(ctx, run);
            const settled: string[] = [];
            for await (const change of executeRun(ctx, claimed, { reread: true })) settled.push(change.status);
            expect(settled).toHaveLength(c.pending + c.inFlight);
            expect(new Set(settled)).toStrictEqual(new Set(["changed"]));
          } finally {
            await other.close();
          }
          const after = (await h.store.journal.getRun(runId))!;
          expect(after).toMatchObject({ status: "completed", counts: { pending: 0, inFlight: 0, failed: 0 } });
          const states = new Map(h.emu.admin.listUsers(t).map((u) => [u.id, u.perUserMfaState]));
          for (const change of changes) expect(states.get(change.id)).toBe("enforced");
        } finally {
          await h.close();
        }
      });
    });
  });
}
