import {
  FIRE_STATUSES,
  newScheduleRecord,
  nextFires,
  parseScheduleInput,
  ScheduleInputSchema,
  ScheduleNameTakenError,
  scheduleTenants,
  scheduleView,
  type ScheduleDefinition,
  type ScheduleFire,
  type ScheduleRecord,
} from "@mfactl/core";
import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { AccessDeniedError, requireScope, type Principal } from "../auth/principal.js";
import { audit, servedTenant, type ServerContext } from "../context.js";
import { ConflictError, ErrorBodySchema, NotFoundError } from "../errors.js";
import { JobSchema } from "../jobs/job-manager.js";
import type { Scheduler } from "../schedules/scheduler.js";
import type { ZodApp } from "../app.js";

const Params = z.object({ schedule: z.string().min(1).max(200).describe("the schedule's name or id") });
const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 503: ErrorBodySchema };
/** Schedules as the API shows them: secrets redacted (webhook URLs, signing secrets). */
const ScheduleViewSchema = z.record(z.string(), z.unknown());
/** One firing: the period it was for, how it ended, and its drift check's result with the alerts' deliveries. */
const FireSchema = z.object({
  scheduleId: z.string(),
  period: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  status: z.enum(FIRE_STATUSES),
  trigger: z.string(),
  instance: z.string(),
  jobId: z.string().optional(),
  result: z.unknown().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

/** Scheduled drift checks: created, listed, changed, removed; their firings; fire one now. */
export function scheduleRoutes(app: ZodApp, ctx: ServerContext, scheduler: Scheduler | undefined): void {
  const schedules = () => ctx.store.schedules;

  async function find(ref: string, p: Principal): Promise<ScheduleRecord> {
    const found = await schedules().getSchedule(ref);
    if (!found || !mayTouch(p, found)) throw new NotFoundError("ScheduleNotFound", `No schedule ${ref} (GET /v1/schedules lists them).`);
    return found;
  }

  /** A caller limited to some tenants sees and changes only schedules of those tenants. */
  function mayTouch(p: Principal, s: ScheduleDefinition): boolean {
    if (p.tenants === undefined) return true;
    return !s.allTenants && s.tenants.length > 0 && s.tenants.every((t) => {
      const served = ctx.tenants.find(t);
      return served !== undefined && p.tenants!.some((a) => served.names.has(a.toLowerCase()));
    });
  }

  /** Tenants named must be served (and allowed); a policy for "*" needs tenants or allTenants. */
  function check(p: Principal, def: ScheduleDefinition): void {
    if (p.tenants !== undefined && (def.allTenants || def.tenants.length === 0)) throw new AccessDeniedError(403, "TenantNotAllowed", `${p.name} may act on some tenants only: name them in the schedule's tenants.`);
    for (const t of def.tenants) servedTenant(ctx, p, t);
    scheduleTenants(def, ctx.tenants.list.map((t) => t.tenant));
  }

  function view(record: ScheduleRecord, fires: ScheduleFire[], next: number) {
    const now = ctx.clock.now();
    return { ...scheduleView(record), nextFires: record.enabled ? nextFires(record, now, next).map((t) => new Date(t).toISOString()) : [], lastFires: fires };
  }

  async function auditChange(req: FastifyRequest, action: string, record: ScheduleRecord, detail: string): Promise<void> {
    await audit(ctx, req, { action, outcome: "ok", target: `${record.name} (${record.scheduleId})`, detail, ...(record.tenants.length === 1 ? { tenant: record.tenants[0]! } : {}) });
  }

  app.get("/v1/schedules", { schema: { tags: ["schedules"], summary: "Scheduled drift checks, by name, with their next times and last firing", response: { 200: z.object({ schedules: z.array(ScheduleViewSchema) }), ...errors } } }, async (req) => {
    const p = requireScope(req, "read");
    const list = (await schedules().listSchedules()).filter((s) => mayTouch(p, s));
    return { schedules: await Promise.all(list.map(async (s) => view(s, await schedules().listFires(s.scheduleId, { limit: 1 }), 3))) };
  });

  app.post(
    "/v1/schedules",
    { schema: { tags: ["schedules"], summary: "Create a schedule: a policy checked on a cron schedule, alerts, optional remediation", body: ScheduleInputSchema, response: { 201: ScheduleViewSchema, ...errors } } },
    async (req, reply) => {
      const p = requireScope(req, "write");
      const def = parseScheduleInput(req.body, "the request");
      check(p, def);
      let record: ScheduleRecord;
      try {
        record = await schedules().createSchedule(newScheduleRecord(def, p.actor, ctx.clock.now()));
      } catch (error) {
        if (error instanceof ScheduleNameTakenError) throw new ConflictError("ScheduleNameTaken", error.message);
        throw error;
      }
      await auditChange(req, "schedule.create", record, `${record.cron} (${record.timezone})${record.remediate.enabled ? ", remediates" : ""}`);
      reply.header("location", `/v1/schedules/${encodeURIComponent(record.name)}`);
      return reply.status(201).send(view(record, [], 3));
    },
  );

  app.get("/v1/schedules/:schedule", { schema: { tags: ["schedules"], summary: "One schedule: its definition (secrets redacted), next times, last firings", params: Params, response: { 200: ScheduleViewSchema, ...errors } } }, async (req) => {
    const p = requireScope(req, "read");
    const record = await find(req.params.schedule, p);
    return view(record, await schedules().listFires(record.scheduleId, { limit: 5 }), 5);
  });

  async function replace(req: FastifyRequest, p: Principal, record: ScheduleRecord, raw: unknown): Promise<ScheduleRecord> {
    const def = parseScheduleInput(raw, "the request");
    check(p, def);
    try {
      const updated = await schedules().replaceSchedule(record.scheduleId, def, new Date(ctx.clock.now()).toISOString());
      if (!updated) throw new NotFoundError("ScheduleNotFound", `Schedule ${record.name} was removed meanwhile.`);
      await auditChange(req, "schedule.update", updated, `${updated.cron} (${updated.timezone}), ${updated.enabled ? "enabled" : "disabled"}${updated.remediate.enabled ? ", remediates" : ""}`);
      return updated;
    } catch (error) {
      if (error instanceof ScheduleNameTakenError) throw new ConflictError("ScheduleNameTaken", error.message);
      throw error;
    }
  }

  app.put("/v1/schedules/:schedule", { schema: { tags: ["schedules"], summary: "Replace a schedule's definition", params: Params, body: ScheduleInputSchema, response: { 200: ScheduleViewSchema, ...errors } } }, async (req) => {
    const p = requireScope(req, "write");
    const updated = await replace(req, p, await find(req.params.schedule, p), req.body);
    return view(updated, await schedules().listFires(updated.scheduleId, { limit: 5 }), 5);
  });

  app.patch(
    "/v1/schedules/:schedule",
    { schema: { tags: ["schedules"], summary: "Change some of a schedule's fields (the others kept; webhooks and email replaced whole when given)", params: Params, body: z.record(z.string(), z.unknown()), response: { 200: ScheduleViewSchema, ...errors } } },
    async (req) => {
      const p = requireScope(req, "write");
      const record = await find(req.params.schedule, p);
      const { scheduleId: _id, createdAt: _c, updatedAt: _u, createdBy: _b, ...current } = record;
      const body = req.body;
      const merged: Record<string, unknown> = { ...current, ...body };
      if (body["alerts"] && typeof body["alerts"] === "object") merged["alerts"] = { ...current.alerts, ...(body["alerts"] as object) };
      if (body["remediate"] && typeof body["remediate"] === "object") merged["remediate"] = { ...current.remediate, ...(body["remediate"] as object) };
      const updated = await replace(req, p, record, merged);
      return view(updated, await schedules().listFires(updated.scheduleId, { limit: 5 }), 5);
    },
  );

  app.delete("/v1/schedules/:schedule", { schema: { tags: ["schedules"], summary: "Remove a schedule and its firings' records (runs stay in the journal)", params: Params, response: { 204: z.null(), ...errors } } }, async (req, reply) => {
    const p = requireScope(req, "write");
    const record = await find(req.params.schedule, p);
    await schedules().deleteSchedule(record.scheduleId);
    await auditChange(req, "schedule.delete", record, "removed");
    return reply.status(204).send(null);
  });

  app.get(
    "/v1/schedules/:schedule/fires",
    {
      schema: {
        tags: ["schedules"],
        summary: "A schedule's firings, newest first, each with its drift check's result and the alerts sent",
        params: Params,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50), before: z.string().min(1).optional().describe("periods earlier than this (paging)") }).strict(),
        response: { 200: z.object({ fires: z.array(FireSchema) }), ...errors },
      },
    },
    async (req) => {
      const p = requireScope(req, "read");
      const record = await find(req.params.schedule, p);
      const fires = await schedules().listFires(record.scheduleId, { limit: req.query.limit, ...(req.query.before !== undefined ? { before: req.query.before } : {}) });
      return { fires };
    },
  );

  app.post("/v1/schedules/:schedule/run", { schema: { tags: ["schedules"], summary: "Fire the schedule now (a drift check job)", params: Params, response: { 202: JobSchema, ...errors } } }, async (req, reply) => {
    const p = requireScope(req, "write");
    const record = await find(req.params.schedule, p);
    if (!scheduler) throw new ConflictError("SchedulerOff", "This server's scheduler is turned off (settings.scheduler.enabled).");
    if (!ctx.jobs.accepting) throw new ConflictError("ShuttingDown", "The server is shutting down and takes no new jobs; try again on another instance or after the restart.");
    const job = await scheduler.fire(record, ctx.clock.now(), `manual:${p.actor}`, req.id);
    if (!job) throw new ConflictError("AlreadyFired", `Schedule ${record.name} fired for this second already; try again.`);
    await auditChange(req, "schedule.run", record, `fired by hand as job ${job.jobId}`);
    reply.header("location", `/v1/jobs/${job.jobId}`);
    return reply.status(202).send(job);
  });
}
