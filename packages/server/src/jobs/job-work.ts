import { hostname } from "node:os";
import {
  checkMaxChanges,
  checkPlanGuards,
  createPlan,
  currentOwner,
  executeRun,
  MfaStateReadSchema,
  parseMaxChanges,
  parsePlan,
  postureReport,
  prepareUndo,
  ProtectedAccounts,
  reportUsers,
  RunBusyError,
  serializePlan,
  startPlanRun,
  startUndoRun,
  UsageError,
  validateBulkSet,
  type PlanFile,
  type PostureCounts,
  type TenantPostureResult,
  type UnknownSource,
  type ReportRow,
  type RunRecord,
  type TenantOutcome,
  type ValidatedBulk,
} from "@mfactl/core";
import { z } from "zod";
import { AccessDeniedError, hasScope, type Principal } from "../auth/principal.js";
import { runContextFor, servedTenant, type ServerContext } from "../context.js";
import { NotFoundError } from "../errors.js";
import type { JobHandle } from "./job-manager.js";

const FiltersSchema = z
  .object({
    states: z.array(MfaStateReadSchema).optional(),
    licensed: z.boolean().optional(),
    members: z.boolean().optional(),
    guests: z.boolean().optional(),
    enabledAccounts: z.boolean().optional(),
  })
  .strict();

const GuardsShape = {
  /** Change protected accounts too (break-glass, directory synchronisation, the profile's list). Needs the admin scope. */
  includeProtected: z.boolean().default(false),
  /** Refuse the run when it would change more users than this (`25` or `5%`); default the server's maxChanges. */
  maxChanges: z.union([z.string().min(1), z.number().int().positive()]).optional(),
};

/** Who: users named, a group, filters or every user of the tenants. The same selection as `mfactl plan`. */
export const SelectionSchema = z
  .object({
    tenants: z.array(z.string().min(1)).default([]),
    state: z.string().min(1).describe("disabled | enabled | enforced (case-insensitive)"),
    users: z.array(z.union([z.string().min(1), z.object({ user: z.string().min(1), tenant: z.string().min(1).optional() }).strict()])).optional(),
    group: z.string().min(1).optional(),
    filters: FiltersSchema.default({}),
    allUsers: z.boolean().default(false),
    exclude: z.array(z.string().min(1)).default([]),
    /** Protected accounts named in `users` are left out of the plan (listed with the reason) instead of refusing it. */
    leaveOutProtected: z.boolean().default(false),
    ...GuardsShape,
  })
  .strict();
export type Selection = z.infer<typeof SelectionSchema>;

export const BulkSetBodySchema = SelectionSchema.extend({ dryRun: z.boolean().default(false) }).strict();

export const ApplyBodySchema = z
  .object({
    /** The plan file (as `mfactl plan` writes it, or a plan job's result), as an object or its text. */
    plan: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
    /** Or: the plan job whose plan to carry out. */
    planJobId: z.string().min(1).optional(),
    /** Change users whose state differs from the plan's (else they are conflicts). */
    force: z.boolean().default(false),
    ...GuardsShape,
  })
  .strict();

export const UndoBodySchema = z
  .object({
    runId: z.string().min(1),
    force: z.boolean().default(false),
    ...GuardsShape,
  })
  .strict();

export const ReportBodySchema = z.object({ tenants: z.array(z.string().min(1)).min(1), filters: FiltersSchema.default({}) }).strict();

export const PostureBodySchema = z.object({ tenants: z.array(z.string().min(1)).min(1), filters: FiltersSchema.default({}) }).strict();

export interface ReportResult {
  rows: ReportRow[];
  outcomes: TenantOutcome[];
}

export interface RunResult {
  run: RunRecord;
  /** Users a bulk set found already in the state (not in the run). */
  unchanged?: number;
  plan?: PlanFile["summary"];
}

function guardsFor(ctx: ServerContext, principal: Principal, body: { includeProtected: boolean; maxChanges?: string | number | undefined }) {
  if (body.includeProtected && !hasScope(principal, "admin")) throw new AccessDeniedError(403, "InsufficientScope", `${principal.name}: includeProtected needs the admin scope.`);
  const maxChanges = body.maxChanges !== undefined ? { cap: parseMaxChanges(body.maxChanges, "maxChanges"), source: "the request's maxChanges" } : ctx.maxChanges;
  return { includeProtected: body.includeProtected, maxChanges, protectedList: ctx.protectedList, protectedAccounts: new ProtectedAccounts(ctx.protectedList) };
}

/** Checks the whole selection (tenants served and allowed, users, state) before anything is read. */
export function validateSelection(ctx: ServerContext, principal: Principal, body: Selection, dryRun: boolean): ValidatedBulk {
  // The guard rails' own checks (includeProtected needs admin, maxChanges parses) answer the request, not the job.
  guardsFor(ctx, principal, body);
  const tenants = body.tenants.map((t) => servedTenant(ctx, principal, t).tenant);
  const users = body.users?.map((u, i) => {
    const ref = typeof u === "string" ? { user: u } : u;
    return { user: ref.user, line: i + 1, ...(ref.tenant !== undefined ? { tenant: servedTenant(ctx, principal, ref.tenant).tenant } : {}) };
  });
  return validateBulkSet({
    tenants,
    state: body.state,
    ...(users ? { users } : {}),
    ...(body.group !== undefined ? { group: body.group } : {}),
    filters: body.filters,
    allUsers: body.allUsers,
    exclude: body.exclude,
    dryRun,
  });
}

export async function planWork(ctx: ServerContext, principal: Principal, validated: ValidatedBulk, body: Selection, handle: JobHandle, what: "plan" | "bulk set" = "plan"): Promise<PlanFile> {
  const guards = guardsFor(ctx, principal, body);
  const body_ = await createPlan(ctx.engine, validated, {
    actor: principal.actor,
    host: hostname(),
    command: "plan",
    description: `${what} ${validated.state} (${validated.tenants.length} tenant${validated.tenants.length === 1 ? "" : "s"}) by ${principal.name}`,
    protectedList: guards.protectedList,
    includeProtected: guards.includeProtected,
    leaveOutProtected: body.leaveOutProtected,
    signal: handle.signal,
  });
  const plan = parsePlan(serializePlan(body_), "the plan");
  handle.setTotal(plan.summary.selected);
  handle.addDone(plan.summary.selected);
  return plan;
}

/** Reads the plan an apply names and checks it (digest, tenants allowed, guard rails) before anything runs. */
export async function resolvePlan(ctx: ServerContext, principal: Principal, body: z.infer<typeof ApplyBodySchema>): Promise<PlanFile> {
  if ((body.plan === undefined) === (body.planJobId === undefined)) throw new UsageError("Give plan (the plan file) or planJobId, one of them.");
  let plan: PlanFile;
  if (body.planJobId !== undefined) {
    const job = await ctx.jobs.get(body.planJobId);
    // Another caller's plan job is as invisible here as in GET /v1/jobs (admins see all).
    if (!job || job.type !== "plan" || (job.actor !== principal.actor && !principal.scopes.has("admin"))) throw new NotFoundError("JobNotFound", `No plan job ${body.planJobId} (finished jobs are kept for a while only; pass the plan itself).`);
    if (job.status !== "succeeded") throw new UsageError(`Plan job ${body.planJobId} is ${job.status}: nothing to apply.`);
    plan = (await ctx.jobs.result(body.planJobId)) as PlanFile;
  } else {
    plan = parsePlan(typeof body.plan === "string" ? body.plan : JSON.stringify(body.plan), "the plan");
  }
  for (const tenant of new Set(plan.items.map((i) => i.tenant))) servedTenant(ctx, principal, tenant);
  checkPlanGuards(plan, { ...guardsFor(ctx, principal, body), force: body.force });
  return plan;
}

/**
 * A run this job carries out: taken over when another process holds it (the instance that recorded
 * it and handed it to the queue, or one that died: the job's lease says nobody else carries it out
 * now), then every change not yet settled. Progress starts from what is settled already.
 */
export async function carryOutRun(ctx: ServerContext, principal: Principal, runId: string, handle: JobHandle): Promise<RunRecord> {
  const journal = ctx.store.journal;
  let run = await journal.getRun(runId);
  if (!run) throw new NotFoundError("RunNotFound", `Run ${runId} is not in the journal.`);
  handle.setRunId(run.runId);
  const me = currentOwner();
  if (run.status !== "completed" && (run.status !== "running" || run.owner?.id !== me.id)) {
    const claimed = await journal.claimRun(run.runId, me, run.owner?.id, new Date(ctx.clock.now()).toISOString());
    if (!claimed) throw new RunBusyError(`Run ${run.runId} was taken over by another process just now.`);
    run = (await journal.getRun(runId)) ?? run;
  }
  const open = run.counts.pending + run.counts.inFlight;
  handle.job.progress.counts = Object.fromEntries(Object.entries(run.counts).filter(([s, n]) => s !== "pending" && s !== "inFlight" && n > 0));
  handle.job.progress.done = run.total - open;
  handle.setTotal(run.total);
  if (run.status === "completed") return run;
  const runCtx = runContextFor(ctx, principal, handle.signal);
  for await (const change of executeRun(runCtx, run, { reread: true })) handle.settled(change.status, change);
  return (await journal.getRun(run.runId)) ?? run;
}

/**
 * Records the plan's run (every change pending) while the request waits, so a plan that already
 * ran is refused with 409 naming its run, not accepted as a job that then fails.
 */
export async function startApplyRun(ctx: ServerContext, principal: Principal, plan: PlanFile, body: z.infer<typeof ApplyBodySchema>): Promise<RunRecord> {
  const guards = { ...guardsFor(ctx, principal, body), force: body.force };
  return startPlanRun(runContextFor(ctx, principal), plan, guards);
}

/** bulk set = plan, then apply the plan (a dry run stops after the plan). */
export async function bulkSetWork(ctx: ServerContext, principal: Principal, validated: ValidatedBulk, body: z.infer<typeof BulkSetBodySchema>, handle: JobHandle): Promise<RunResult | PlanFile> {
  const plan = await planWork(ctx, principal, validated, body, handle, "bulk set");
  if (body.dryRun) return plan;
  if (plan.items.length === 0) return plan;
  const guards = { ...guardsFor(ctx, principal, body), force: false };
  checkPlanGuards(plan, guards);
  const run = await startPlanRun(runContextFor(ctx, principal, handle.signal), plan, guards, "bulk-set");
  handle.job.progress.done = 0;
  return { run: await carryOutRun(ctx, principal, run.runId, handle), unchanged: plan.summary.unchanged, plan: plan.summary };
}

export async function prepareUndoFor(ctx: ServerContext, principal: Principal, body: z.infer<typeof UndoBodySchema>, signal: AbortSignal) {
  const guards = guardsFor(ctx, principal, body);
  const prepared = await prepareUndo(ctx.store.journal, ctx.engine, body.runId, guards, signal);
  for (const tenant of prepared.perTenant.keys()) servedTenant(ctx, principal, tenant);
  if (prepared.changes.length === 0) throw new UsageError(`Run ${prepared.target.runId} changed nobody that can be restored; nothing to undo.`);
  return prepared;
}

/** Records the undo run while the request waits: a run already undone is refused (400 naming the undo), not a failing job. */
export async function startUndo(ctx: ServerContext, principal: Principal, prepared: Awaited<ReturnType<typeof prepareUndoFor>>, body: z.infer<typeof UndoBodySchema>): Promise<RunRecord> {
  return startUndoRun(runContextFor(ctx, principal), prepared, { force: body.force, includeProtected: body.includeProtected });
}

export async function reportWork(ctx: ServerContext, tenants: string[], body: z.infer<typeof ReportBodySchema>, handle: JobHandle): Promise<ReportResult> {
  const rows: ReportRow[] = [];
  const outcomes: TenantOutcome[] = [];
  for await (const item of reportUsers(ctx.engine, { tenants, filters: body.filters }, { signal: handle.signal })) {
    if (item.kind === "user") {
      rows.push(item.row);
      handle.addDone(1);
    } else outcomes.push(item.outcome);
  }
  return { rows, outcomes };
}

/** The run-size cap a plan meets: what `apply` (with the same maxChanges, default the server's) would say. */
export interface RunSizeCap {
  /** As configured (`25`, `10%`); null: no cap. */
  limit: string | null;
  /** Where the cap comes from (`the request's maxChanges`, `the profile's maxChanges`), or `none`. */
  source: string;
  /** Users the plan would change. */
  changes: number;
  exceeded: boolean;
  /** The guard rail's own refusal, when exceeded. */
  message?: string;
}

export function runSizeCap(ctx: ServerContext, principal: Principal, body: { includeProtected: boolean; maxChanges?: string | number | undefined }, plan: PlanFile): RunSizeCap {
  const { maxChanges } = guardsFor(ctx, principal, body);
  const changes = plan.items.length;
  if (!maxChanges) return { limit: null, source: "none", changes, exceeded: false };
  const base = { limit: maxChanges.cap.text, source: maxChanges.source, changes };
  try {
    // The very check apply makes (checkPlanGuards calls it), so the words are the same.
    checkMaxChanges(changes, plan.summary.selected, maxChanges.cap, maxChanges.source);
    return { ...base, exceeded: false };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return { ...base, exceeded: true, message: error.message };
  }
}

/** How many users a finding lists in a posture job's result; the count has them all. */
export const POSTURE_FINDING_USERS = 100;

export type PostureTenantView =
  | {
      tenant: string;
      status: "completed";
      counts: PostureCounts;
      unknown: UnknownSource[];
      securityDefaults: { enabled: boolean | null; reason?: string };
      conditionalAccess: {
        readable: boolean;
        reason?: string;
        mfaPolicies: { id: string; displayName: string }[];
        reportOnlyMfaPolicies: { id: string; displayName: string }[];
        mfaNotGuaranteed: { id: string; displayName: string; code: string; reason: string }[];
      };
      findings: { code: string; message: string; count: number; users: { id: string; userPrincipalName: string }[] }[];
    }
  | { tenant: string; status: "failed"; error: { code: string; message: string; requestId?: string } };

export interface PostureResult {
  tenants: PostureTenantView[];
}

/** A tenant's posture without its per-user list (tens of thousands of users): counts, policies, findings. */
export function postureTenantView(r: TenantPostureResult): PostureTenantView {
  if (r.status === "failed") {
    // Graph's request id, should the error carry one.
    const e: { code: string; message: string; requestId?: unknown } = r.error;
    return { tenant: r.tenant, status: "failed", error: { code: e.code, message: e.message, ...(typeof e.requestId === "string" ? { requestId: e.requestId } : {}) } };
  }
  const sd = r.securityDefaults;
  const ca = r.conditionalAccess;
  return {
    tenant: r.tenant,
    status: "completed",
    counts: r.counts,
    unknown: r.unknown.map((u) => ({ source: u.source, code: u.code, reason: u.reason })),
    securityDefaults: { enabled: sd.enabled ?? null, ...(sd.reason !== undefined ? { reason: sd.reason } : {}) },
    conditionalAccess: {
      readable: ca.readable,
      ...(ca.reason !== undefined ? { reason: ca.reason } : {}),
      mfaPolicies: ca.mfaPolicies.map((p) => ({ id: p.id, displayName: p.displayName })),
      reportOnlyMfaPolicies: ca.reportOnlyMfaPolicies.map((p) => ({ id: p.id, displayName: p.displayName })),
      mfaNotGuaranteed: ca.mfaNotGuaranteed.map((p) => ({ id: p.id, displayName: p.displayName, code: p.code, reason: p.reason })),
    },
    findings: r.findings.map((f) => ({ code: f.code, message: f.message, count: f.users.length, users: f.users.slice(0, POSTURE_FINDING_USERS).map((u) => ({ id: u.id, userPrincipalName: u.userPrincipalName })) })),
  };
}

/** `mfactl posture` as a job: each tenant's counts, policies and findings, in the order asked. */
export async function postureWork(ctx: ServerContext, tenants: string[], body: z.infer<typeof PostureBodySchema>, handle: JobHandle): Promise<PostureResult> {
  const views: PostureTenantView[] = [];
  const onProgress = (e: { type: string }) => {
    if (e.type === "progress") handle.addDone(1);
  };
  for await (const r of postureReport(ctx.engine, { tenants, filters: body.filters }, { signal: handle.signal, onProgress })) views.push(postureTenantView(r));
  const order = (t: string) => tenants.indexOf(t);
  return { tenants: views.sort((a, b) => order(a.tenant) - order(b.tenant)) };
}
