import { PassThrough, Readable } from "node:stream";
import { REPORT_COLUMNS, UsageError } from "@mfactl/core";
import { renderHtmlReport, REPORT_CSP, writeCsv } from "@mfactl/render";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { requireScope, type Principal } from "../auth/principal.js";
import { servedTenant, type ServerContext } from "../context.js";
import { ConflictError, ErrorBodySchema, NotFoundError } from "../errors.js";
import { JobSchema, type Job, type JobEvent } from "../jobs/job-manager.js";
import { snapshot, type JobSpec } from "../jobs/job-specs.js";
import {
  ApplyBodySchema,
  startApplyRun,
  startUndo,
  BulkSetBodySchema,
  PostureBodySchema,
  prepareUndoFor,
  ReportBodySchema,
  resolvePlan,
  SelectionSchema,
  UndoBodySchema,
  validateSelection,
  type ReportResult,
  type RunResult,
} from "../jobs/job-work.js";
import type { ZodApp } from "../app.js";

/** How often a job carried out by another instance is read from the store for its events. */
const REMOTE_POLL_MS = 250;

const JobParams = z.object({ jobId: z.string().min(1).max(100) });
const accepted = { 202: JobSchema, 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 429: ErrorBodySchema, 503: ErrorBodySchema };

/** Jobs: bulk changes, plans, applies, undos, reports and posture, carried on in the background; progress by polling or server-sent events. */
export function jobRoutes(app: ZodApp, ctx: ServerContext): void {
  function refuseWhenClosing(): void {
    if (!ctx.jobs.accepting) throw new ConflictError("ShuttingDown", "The server is shutting down and takes no new jobs; try again on another instance or after the restart.");
  }

  /** `recorded`: the job's run is in the journal already; it starts even if a shutdown began meanwhile (the shutdown then stops it, leaving the run resumable). */
  async function begin(reply: FastifyReply, spec: JobSpec, recorded = false): Promise<FastifyReply> {
    if (!recorded) refuseWhenClosing();
    const job = await ctx.jobs.submit(spec);
    reply.header("location", `/v1/jobs/${job.jobId}`);
    return reply.status(202).send(job);
  }

  /** What every job spec carries: the caller, the request, and where its audit lines are filed (one tenant: filterable by ?tenant=). */
  function base(req: FastifyRequest, p: Principal, detail: string, where: { tenants: readonly string[]; runId?: string }) {
    return { principal: snapshot(p), requestId: req.id, audit: { detail, ...(where.tenants.length === 1 ? { tenant: where.tenants[0]! } : {}), ...(where.runId ? { runId: where.runId } : {}) } };
  }

  app.post("/v1/jobs/plan", { schema: { tags: ["jobs"], summary: "Plan a change (dry run): who would change, warnings, who is left out", body: SelectionSchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, "read");
    const validated = validateSelection(ctx, p, req.body, true);
    return begin(reply, { type: "plan", body: req.body, ...base(req, p, `plan ${validated.state} in ${validated.tenants.join(", ")}`, { tenants: validated.tenants }) });
  });

  app.post("/v1/jobs/bulk-set", { schema: { tags: ["jobs"], summary: "Set many users' state: plan, then apply, journaled (dryRun: the plan only)", body: BulkSetBodySchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, req.body.dryRun ? "read" : "write");
    const validated = validateSelection(ctx, p, req.body, req.body.dryRun);
    return begin(reply, { type: "bulkSet", body: req.body, ...base(req, p, `bulk set ${validated.state} in ${validated.tenants.join(", ")}${req.body.dryRun ? " (dry run)" : ""}`, { tenants: validated.tenants }) });
  });

  app.post("/v1/jobs/apply", { schema: { tags: ["jobs"], summary: "Carry out a plan, re-reading each user first (a plan runs once)", body: ApplyBodySchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, "write");
    const plan = await resolvePlan(ctx, p, req.body);
    refuseWhenClosing();
    const run = await startApplyRun(ctx, p, plan, req.body);
    return begin(reply, { type: "apply", runId: run.runId, plan: plan.summary, ...base(req, p, `apply plan ${plan.planId} (${plan.items.length} changes) as run ${run.runId}`, { tenants: [...new Set(plan.items.map((i) => i.tenant))], runId: run.runId }) }, true);
  });

  app.post("/v1/jobs/undo", { schema: { tags: ["jobs"], summary: "Undo a run: restore the previous states where nobody changed them since", body: UndoBodySchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, "write");
    const prepared = await prepareUndoFor(ctx, p, req.body, ctx.shutdown);
    refuseWhenClosing();
    const run = await startUndo(ctx, p, prepared, req.body);
    return begin(reply, { type: "undo", runId: run.runId, ...base(req, p, `undo run ${prepared.target.runId} (${prepared.changes.length} users) as run ${run.runId}`, { tenants: [...prepared.perTenant.keys()], runId: run.runId }) }, true);
  });

  app.post("/v1/jobs/report", { schema: { tags: ["jobs"], summary: "Report users and their states (result as JSON, CSV or HTML)", body: ReportBodySchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, "read");
    const tenants = req.body.tenants.map((t) => servedTenant(ctx, p, t).tenant);
    return begin(reply, { type: "report", tenants, body: req.body, ...base(req, p, `report of ${tenants.join(", ")}`, { tenants }) });
  });

  app.post("/v1/jobs/posture", { schema: { tags: ["jobs"], summary: "Posture of tenants: counts by protection and per-user state, policies, findings (no per-user list)", body: PostureBodySchema, response: accepted } }, async (req, reply) => {
    const p = requireScope(req, "read");
    const tenants = req.body.tenants.map((t) => servedTenant(ctx, p, t).tenant);
    return begin(reply, { type: "posture", tenants, body: req.body, ...base(req, p, `posture of ${tenants.join(", ")}`, { tenants }) });
  });

  app.get("/v1/jobs", { schema: { tags: ["jobs"], summary: "Jobs kept in memory, newest first (others' jobs with the admin scope)", response: { 200: z.object({ jobs: z.array(JobSchema) }), 401: ErrorBodySchema, 403: ErrorBodySchema } } }, async (req) => {
    const p = requireScope(req, "read");
    return { jobs: (await ctx.jobs.list()).filter((j) => visible(p, j)) };
  });

  app.get("/v1/jobs/:jobId", { schema: { tags: ["jobs"], summary: "A job's status and progress", params: JobParams, response: { 200: JobSchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema } } }, async (req) => {
    return await jobFor(ctx, req, req.params.jobId);
  });

  app.get(
    "/v1/jobs/:jobId/events",
    { schema: { tags: ["jobs"], summary: "Server-sent events: progress, each settled change, done", params: JobParams }, config: { rateLimit: false } },
    async (req, reply) => {
      const job = await jobFor(ctx, req, req.params.jobId);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-request-id": req.id, "x-content-type-options": "nosniff" });
      const send = (event: JobEvent) => raw.write(`event: ${event.type}\ndata: ${JSON.stringify(event.type === "change" ? event.change : event.job)}\n\n`);
      let unsubscribe = () => undefined as void;
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        unsubscribe();
        clearInterval(ping);
        raw.end();
      };
      const ping = setInterval(() => raw.write(": keep-alive\n\n"), 15_000);
      req.raw.on("close", end);
      const followHere = async () => {
        unsubscribe();
        unsubscribe = ctx.jobs.subscribe(job.jobId, (event) => {
          send(event);
          if (event.type === "done") end();
        });
        // The state now, then live events; a finished job answers with its end at once.
        const now = (await ctx.jobs.get(job.jobId)) ?? job;
        if (now.status !== "running") {
          send({ type: "done", job: now });
          end();
        } else send({ type: "progress", job: now });
      };
      if (ctx.jobs.runsHere(job.jobId)) {
        await followHere();
        return;
      }
      // Queued, or carried out by another instance, or finished: its progress as the store has it, polled,
      // until it ends, or starts here (then live, with its changes).
      let last = JSON.stringify(job);
      const poll = setInterval(() => {
        void (async () => {
          if (ended) return;
          if (ctx.jobs.runsHere(job.jobId)) {
            await followHere();
            return;
          }
          const now = await ctx.jobs.get(job.jobId).catch(() => undefined);
          if (ended || !now) return;
          const text = JSON.stringify(now);
          if (text === last) return;
          last = text;
          if (now.status !== "running") {
            send({ type: "done", job: now });
            end();
          } else send({ type: "progress", job: now });
        })();
      }, REMOTE_POLL_MS);
      unsubscribe = () => clearInterval(poll);
      if (job.status !== "running") {
        send({ type: "done", job });
        end();
      } else send({ type: "progress", job });
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
      const job = await jobFor(ctx, req, req.params.jobId);
      if (job.status === "running") throw new ConflictError("JobRunning", `Job ${job.jobId} is still running: follow /v1/jobs/${job.jobId}/events, or poll it.`);
      if (job.status !== "succeeded") throw new ConflictError("JobFailed", `Job ${job.jobId} ${job.status}${job.error ? `: ${job.error.message}` : ""}; it has no result.`);
      const result = await ctx.jobs.result(job.jobId);
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

/** A caller sees their own jobs; admins every job; schedules' drift checks are everyone's (as the schedules are). */
function visible(p: Principal, job: Job): boolean {
  return job.actor === p.actor || p.scopes.has("admin") || job.type === "driftCheck";
}

async function jobFor(ctx: ServerContext, req: FastifyRequest, jobId: string): Promise<Job> {
  const p = requireScope(req, "read");
  const job = await ctx.jobs.get(jobId);
  if (!job || !visible(p, job)) throw new NotFoundError("JobNotFound", `No job ${jobId} (finished jobs are kept for a while only).`);
  return job;
}
