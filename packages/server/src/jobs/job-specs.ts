import type { ApiScope, PlanFile } from "@mfactl/core";
import type { z } from "zod";
import type { Principal } from "../auth/principal.js";
import type { ServerContext } from "../context.js";
import type { Role } from "../settings.js";
import { driftCheckWork } from "../schedules/drift-check-job.js";
import type { Job, JobHandle, JobType } from "./job-manager.js";
import {
  bulkSetWork,
  carryOutRun,
  planWork,
  postureWork,
  reportWork,
  runSizeCap,
  validateSelection,
  type BulkSetBodySchema,
  type PostureBodySchema,
  type PostureResult,
  type ReportBodySchema,
  type ReportResult,
  type RunResult,
  type Selection,
} from "./job-work.js";

/**
 * A job as data: what any instance needs to carry it out (again, after its first instance died).
 * The caller is kept as they were when the job was asked for; the request id ties its audit lines
 * to the request.
 */
export interface PrincipalSnapshot {
  actor: string;
  kind: Principal["kind"];
  name: string;
  role?: Role | undefined;
  scopes: ApiScope[];
  tenants?: string[] | undefined;
}

interface SpecBase {
  principal: PrincipalSnapshot;
  requestId: string;
  /** What the audit lines of the job's start and end are filed under. */
  audit: { tenant?: string; runId?: string; detail: string };
}

export type JobSpec =
  | (SpecBase & { type: "plan"; body: Selection })
  | (SpecBase & { type: "bulkSet"; body: z.infer<typeof BulkSetBodySchema> })
  | (SpecBase & { type: "apply"; runId: string; plan: PlanFile["summary"] })
  | (SpecBase & { type: "undo"; runId: string })
  | (SpecBase & { type: "report"; tenants: string[]; body: z.infer<typeof ReportBodySchema> })
  | (SpecBase & { type: "posture"; tenants: string[]; body: z.infer<typeof PostureBodySchema> })
  | (SpecBase & { type: "driftCheck"; scheduleId: string; period: string; trigger: string });

export function snapshot(p: Principal): PrincipalSnapshot {
  return { actor: p.actor, kind: p.kind, name: p.name, ...(p.role ? { role: p.role } : {}), scopes: [...p.scopes], ...(p.tenants ? { tenants: [...p.tenants] } : {}) };
}

export function principalOf(s: PrincipalSnapshot): Principal {
  return { actor: s.actor, kind: s.kind, name: s.name, ...(s.role ? { role: s.role } : {}), scopes: new Set(s.scopes), ...(s.tenants ? { tenants: s.tenants } : {}) };
}

/** Jobs that change users: their end gets an audit line of its own. */
export function changesUsers(type: JobType): boolean {
  return type === "apply" || type === "bulkSet" || type === "undo" || type === "driftCheck";
}

function isPlanFile(result: unknown): result is PlanFile {
  return typeof result === "object" && result !== null && "kind" in result && (result as PlanFile).kind === "mfactl.plan";
}

export function summaryOf(result: unknown): unknown {
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

/** The job's summary from its result, as the API shows it. */
export function summarize(ctx: ServerContext, spec: JobSpec, result: unknown): unknown {
  switch (spec.type) {
    case "plan":
    case "bulkSet": {
      const summary = summaryOf(result);
      // A plan (or a dry run's plan) says whether applying it would be over the run-size cap.
      if (!isPlanFile(result) || !summary || typeof summary !== "object") return summary;
      return { ...summary, runSizeCap: runSizeCap(ctx, principalOf(spec.principal), spec.body, result) };
    }
    case "posture":
      return { tenants: (result as PostureResult).tenants.map((t) => ({ tenant: t.tenant, status: t.status })) };
    case "driftCheck":
      return (result as { summary?: unknown } | undefined)?.summary;
    default:
      return summaryOf(result);
  }
}

/**
 * Carries the job out (the first time, or again on another instance: `job` is its state so far).
 * A bulk set that had recorded its run goes on with the run instead of planning again.
 */
export async function runSpec(ctx: ServerContext, spec: JobSpec, handle: JobHandle, job: Job | undefined): Promise<unknown> {
  const p = principalOf(spec.principal);
  switch (spec.type) {
    case "plan":
      return planWork(ctx, p, validateSelection(ctx, p, spec.body, true), spec.body, handle);
    case "bulkSet": {
      if (job?.runId !== undefined) return { run: await carryOutRun(ctx, p, job.runId, handle) } satisfies RunResult;
      return bulkSetWork(ctx, p, validateSelection(ctx, p, spec.body, spec.body.dryRun), spec.body, handle);
    }
    case "apply":
      return { run: await carryOutRun(ctx, p, spec.runId, handle), plan: spec.plan } satisfies RunResult;
    case "undo":
      return { run: await carryOutRun(ctx, p, spec.runId, handle) } satisfies RunResult;
    case "report":
      return reportWork(ctx, spec.tenants, spec.body, handle);
    case "posture":
      return postureWork(ctx, spec.tenants, spec.body, handle);
    case "driftCheck":
      return driftCheckWork(ctx, spec, handle);
  }
}
