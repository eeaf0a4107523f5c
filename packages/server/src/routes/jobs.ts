import { PassThrough, Readable } from "node:stream";
import { REPORT_COLUMNS, UsageError, type PlanFile } from "@mfactl/core";
import { renderHtmlReport, REPORT_CSP, writeCsv } from "@mfactl/render";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { requireScope, type Principal } from "../auth/principal.js";
import { audit, servedTenant, type ServerContext } from "../context.js";
import { ConflictError, errorInfoOf, ErrorBodySchema, NotFoundError } from "../errors.js";
import { JobSchema, type Job, type JobEvent, type JobType } from "../jobs/job-manager.js";
import {
  ApplyBodySchema,
  applyWork,
  startApplyRun,
  startUndo,
  BulkSetBodySchema,
  bulkSetWork,
  planWork,
  PostureBodySchema,
  postureWork,
  prepareUndoFor,
  ReportBodySchema,
  reportWork,
  resolvePlan,
  runSizeCap,
  SelectionSchema,
  UndoBodySchema,
  undoWork,
  validateSelection,
  type PostureResult,
  type ReportResult,
  type RunResult,
  type Selection,
} from "../jobs/job-work.js";
import type { ZodApp } from "../app.js";

const JobParams = z.object({ jobId: z.string().min(1).max(100) });
const accepted = { 202: JobSchema, 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 429: ErrorBodySchema, 503: ErrorBodySchema };

function isPlanFile(result: unknown): result is PlanFile {
  return typeof result === "object" && result !== null && "kind" in result && (result as PlanFile).kind === "mfactl.plan";
}

function summaryOf(result: unknown): unknown {
  if (result && typeof result === "object") {
    if ("run" in result) {
      const r = result as RunResult;
      return { runId: r.run.runId, runStatus: r.run.status, counts: r.run.counts, total: r.run.total, ...(r.plan ? { plan: r.plan } : {}) };
    }
    if (isPlanFile(result)) return { planId: result.planId, plan: result.summary };
    if ("rows" in result) return { users: (result as ReportResult).rows.length, tenants: (result as ReportResult).outcomes };
  }
  return undefined;
}

/** Jobs: bulk changes, plans, applies, undos, reports and posture, carried on in the background; progress by polling or server-sent events. */
export function jobRoutes(app: ZodApp, ctx: ServerContext): void {
  function refuseWhenClosing(): void {
    if (!ctx.jobs.accepting) throw new ConflictError("ShuttingDown", "The server is shutting down and takes no new jobs; try again on another instance or after the restart.");
  }

  /** `recorded`: the job's run is in the journal already; it starts even if a shutdown began meanwhile (the shutdown then stops it, leaving the run resumable). */
  async function begin<T>(
    req: FastifyRequest,
    reply: FastifyReply,
    p: Principal,
    type: JobType,
    work: Parameters<typeof ctx.jobs.start<T>>[2],
    detail: string,
    where: { tenants: readonly string[]; runId?: string },
    recorded = false,
    summarize: (result: T) => unknown = summaryOf,
  ): Promise<FastifyReply> {
    // One tenant: filterable by ?tenant=; several: named in the detail.
    const scope = { ...(where.tenants.length === 1 ? { tenant: where.tenants[0] } : {}), ...(where.runId ? { runId: where.runId } : {}) };
    if (!recorded) refuseWhenClosing();
    const changes = type === "apply" || type === "bulkSet" || type === "undo";
    // The end is written after the start, however quickly the job ends.
    let started: Promise<void> = Promise.resolve();
    const job = ctx.jobs.start(type, p.actor, work, {
      describe: errorInfoOf,
      summarize,
      signal: ctx.shutdown,
      // Written before the job reports done: whoever saw `done` finds the entry.
      ...(changes
        ? {
            onFinish: async (done: Job) => {
              await started;
              const counts = done.progress.counts;
              await audit(ctx, req, {
                action: `job.${type}.finished`,
                ...scope,
                outcome: done.status === "succeeded" && !counts["failed"] && !counts["conflict"] ? "ok" : "failed",
                target: done.jobId,
                ...(done.runId ? { runId: done.runId } : {}),
                detail: `${done.status}: ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ") || "nothing to do"}${done.error ? ` (${done.error.code}: ${done.error.message})` : ""}`,
              });
            },
          }
        : {}),
    });
    started = audit(ctx, req, { action: `job.${type}`, outcome: "ok", target: job.jobId, detail, ...scope });
    await started;
    reply.header("location", `/v1/jobs/${job.jobId}`);
    return reply.status(202).send(job);
  }

  app.post("/v1/jobs/plan", { schema: { tags: ["jobs"], summary: "Plan a change (dry run): who would change, warnings, who is left out", body: SelectionSchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, "read");
    const validated = validateSelection(ctx, p, req.body, true);
    return begin(req, reply, p, "plan", (h) => planWork(ctx, p, validated, req.body, h), `plan ${validated.state} in ${validated.tenants.join(", ")}`, { tenants: validated.tenants }, false, withRunSizeCap(p, req.body));
  });

  app.post("/v1/jobs/bulk-set", { schema: { tags: ["jobs"], summary: "Set many users' state: plan, then apply, journaled (dryRun: the plan only)", body: BulkSetBodySchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, req.body.dryRun ? "read" : "write");
    const validated = validateSelection(ctx, p, req.body, req.body.dryRun);
    return begin(req, reply, p, "bulkSet", (h) => bulkSetWork(ctx, p, validated, req.body, h), `bulk set ${validated.state} in ${validated.tenants.join(", ")}${req.body.dryRun ? " (dry run)" : ""}`, { tenants: validated.tenants }, false, withRunSizeCap(p, req.body));
  });

  app.post("/v1/jobs/apply", { schema: { tags: ["jobs"], summary: "Carry out a plan, re-reading each user first (a plan runs once)", body: ApplyBodySchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, "write");
    const plan = resolvePlan(ctx, p, req.body);
    refuseWhenClosing();
    const run = await startApplyRun(ctx, p, plan, req.body);
    return begin(req, reply, p, "apply", (h) => applyWork(ctx, p, plan, run, h), `apply plan ${plan.planId} (${plan.items.length} changes) as run ${run.runId}`, { tenants: [...new Set(plan.items.map((i) => i.tenant))], runId: run.runId }, true);
  });

  app.post("/v1/jobs/undo", { schema: { tags: ["jobs"], summary: "Undo a run: restore the previous states where nobody changed them since", body: UndoBodySchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, "write");
    const prepared = await prepareUndoFor(ctx, p, req.body, ctx.shutdown);
    refuseWhenClosing();
    const run = await startUndo(ctx, p, prepared, req.body);
    return begin(req, reply, p, "undo", (h) => undoWork(ctx, p, run, h), `undo run ${prepared.target.runId} (${prepared.changes.length} users) as run ${run.runId}`, { tenants: [...prepared.perTenant.keys()], runId: run.runId }, true);
  });

  app.post("/v1/jobs/report", { schema: { tags: ["jobs"], summary: "Report users and their states (result as JSON, CSV or HTML)", body: ReportBodySchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, "read");
    const tenants = req.body.tenants.map((t) => servedTenant(ctx, p, t).tenant);
    return begin(req, reply, p, "report", (h) => reportWork(ctx, tenants, req.body, h), `report of ${tenants.join(", ")}`, { tenants });
  });

  app.post("/v1/jobs/posture", { schema: { tags: ["jobs"], summary: "Posture of tenants: counts by protection and per-user state, policies, findings (no per-user list)", body: PostureBodySchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, "read");
    const tenants = req.body.tenants.map((t) => servedTenant(ctx, p, t).tenant);
    return begin(req, reply, p, "posture", (h) => postureWork(ctx, tenants, req.body, h), `posture of ${tenants.join(", ")}`, { tenants }, false, (r: PostureResult) => ({ tenants: r.tenants.map((t) => ({ tenant: t.tenant, status: t.status })) }));
  });

  /** A plan's summary, with whether an apply of it would be over the run-size cap. */
  function withRunSizeCap(p: Principal, body: Selection): (result: unknown) => unknown {
    return (result) => {
      const summary = summaryOf(result);
      if (!isPlanFile(result) || !summary || typeof summary !== "object") return summary;
      return { ...summary, runSizeCap: runSizeCap(ctx, p, body, result) };
    };
  }

  app.get("/v1/jobs", { schema: { tags: ["jobs"], summary: "Jobs kept in memory, newest first (others' jobs with the admin scope)", response: { 200: z.object({ jobs: z.array(JobSchema) }), 401: ErrorBodySchema, 403: ErrorBodySchema } } }, async (req) => {
    const p = requireScope(req, "read");
    return { jobs: ctx.jobs.list().filter((j) => visible(p, j)) };
  });

  app.get("/v1/jobs/:jobId", { schema: { tags: ["jobs"], summary: "A job's status and progress", params: JobParams, response: { 200: JobSchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema } } }, async (req) => {
    return jobFor(ctx, req, req.params.jobId);
  });

  app.get(
    "/v1/jobs/:jobId/events",
    { schema: { tags: ["jobs"], summary: "Server-sent events: progress, each settled change, done", params: JobParams }, config: { rateLimit: false } },
    async (req, reply) => {
      const job = jobFor(ctx, req, req.params.jobId);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-request-id": req.id, "x-content-type-options": "nosniff" });
      const send = (event: JobEvent) => raw.write(`event: ${event.type}\ndata: ${JSON.stringify(event.type === "change" ? event.change : event.job)}\n\n`);
      let unsubscribe = () => undefined as void;
      const end = () => {
        unsubscribe();
        clearInterval(ping);
        raw.end();
      };
      const ping = setInterval(() => raw.write(": keep-alive\n\n"), 15_000);
      unsubscribe = ctx.jobs.subscribe(job.jobId, (event) => {
        send(event);
        if (event.type === "done") end();
      });
      req.raw.on("close", end);
      // The state now, then live events; a finished job answers with its end at once.
      const now = ctx.jobs.get(job.jobId) ?? job;
      if (now.status !== "running") {
        send({ type: "done", job: now });
        end();
      } else send({ type: "progress", job: now });
    },
  );

  app.get(
    "/v1/jobs/:jobId/result",
    {
      schema: {
        tags: ["jobs"],
        summary: "A finished job's result: the plan file, the run with its changes, or the report (format=json|csv|html)",
        params: JobParams,
        querystring: z.object({ format: z.enum(["json", "csv", "html"]).default("json") }).strict(),
      },
    },
    async (req, reply) => {
      const job = jobFor(ctx, req, req.params.jobId);
      if (job.status === "running") throw new ConflictError("JobRunning", `Job ${job.jobId} is still running: follow /v1/jobs/${job.jobId}/events, or poll it.`);
      if (job.status !== "succeeded") throw new ConflictError("JobFailed", `Job ${job.jobId} ${job.status}${job.error ? `: ${job.error.message}` : ""}; it has no result.`);
      const result = ctx.jobs.result(job.jobId);
      const format = req.query.format;
      if (result && typeof result === "object" && "rows" in result) {
        const report = result as ReportResult;
        const name = `mfactl-report-${job.jobId}`;
        if (format === "csv") {
          const out = new PassThrough();
          void writeCsv(out, REPORT_COLUMNS, report.rows).then(() => out.end(), (error: unknown) => out.destroy(error as Error));
          return reply.type("text/csv; charset=utf-8").header("content-disposition", `attachment; filename="${name}.csv"`).send(out);
        }
        if (format === "html") {
          const html = Readable.from(renderHtmlReport({ title: "Per-user MFA report", generatedAt: new Date(job.finishedAt ?? job.createdAt), rows: report.rows, tenants: report.outcomes }));
          return reply.type("text/html; charset=utf-8").header("content-security-policy", REPORT_CSP).header("content-disposition", `inline; filename="${name}.html"`).send(html);
        }
        return { users: report.rows, tenants: report.outcomes };
      }
      if (format !== "json") throw new UsageError(`Job ${job.jobId} is a ${job.type}: its result is JSON only.`);
      if (result && typeof result === "object" && "run" in result) {
        const r = result as RunResult;
        return { run: r.run, changesUrl: `/v1/runs/${r.run.runId}/changes`, ...(r.plan ? { plan: r.plan } : {}) };
      }
      return result;
    },
  );
}

function visible(p: Principal, job: Job): boolean {
  return job.actor === p.actor || p.scopes.has("admin");
}

function jobFor(ctx: ServerContext, req: FastifyRequest, jobId: string): Job {
  const p = requireScope(req, "read");
  const job = ctx.jobs.get(jobId);
  if (!job || !visible(p, job)) throw new NotFoundError("JobNotFound", `No job ${jobId} (jobs are kept in memory for a while after they finish).`);
  return job;
}
