import { currentOwner, deliverAlerts, enginePort, runDriftCheck, scheduleTenants, UsageError, type AlertDelivery, type DriftCheckResult, type ScheduleRecord } from "@mfactl/core";
import type { ServerContext } from "../context.js";
import { NotFoundError } from "../errors.js";
import type { JobHandle } from "../jobs/job-manager.js";
import type { JobSpec } from "../jobs/job-specs.js";

type DriftCheckSpec = Extract<JobSpec, { type: "driftCheck" }>;

/** What a drift check job leaves: the check, the alerts sent, and the short form the job shows. */
export interface DriftCheckJobResult {
  result?: DriftCheckResult;
  deliveries: AlertDelivery[];
  summary: DriftCheckSummary;
}

export interface DriftCheckSummary {
  scheduleId: string;
  name: string;
  period: string;
  /** `skipped`: the period had fired already (another instance, or before a restart). */
  status: DriftCheckResult["status"] | "skipped";
  counts?: DriftCheckResult["counts"];
  remediation?: { status: string; runId?: string; reason?: string; counts?: Record<string, number> };
  alerts: { sent: number; failed: number; skipped: number };
}

/** The actor a schedule's changes are journaled under. */
export function scheduleActor(schedule: Pick<ScheduleRecord, "name">): string {
  return `schedule:${schedule.name}`;
}

/**
 * One firing of a schedule: claimed for its period (once, whichever instance), measured, remediated
 * when asked, alerts sent, the firing's record ended. An instance that takes the job over from a
 * dead one finds the firing claimed by this job and goes on.
 */
export async function driftCheckWork(ctx: ServerContext, spec: DriftCheckSpec, handle: JobHandle): Promise<DriftCheckJobResult> {
  const schedules = ctx.store.schedules;
  const schedule = await schedules.getSchedule(spec.scheduleId);
  if (!schedule) throw new NotFoundError("ScheduleNotFound", `Schedule ${spec.scheduleId} no longer exists.`);
  const iso = () => new Date(ctx.clock.now()).toISOString();
  const claimed = await schedules.claimFire({ scheduleId: schedule.scheduleId, period: spec.period, startedAt: iso(), trigger: spec.trigger, instance: currentOwner().id, jobId: handle.job.jobId });
  if (!claimed) {
    const fire = await schedules.getFire(schedule.scheduleId, spec.period);
    if (!fire || fire.status !== "running" || fire.jobId !== handle.job.jobId) {
      return { deliveries: [], summary: { scheduleId: schedule.scheduleId, name: schedule.name, period: spec.period, status: "skipped", alerts: { sent: 0, failed: 0, skipped: 0 } } };
    }
  }
  try {
    const { tenants, named } = scheduleTenants(schedule, ctx.tenants.list.map((t) => t.tenant));
    for (const t of tenants) if (!ctx.tenants.find(t)) throw new UsageError(`Schedule ${schedule.name} names tenant ${t}, which this server does not serve.`);
    const result = await runDriftCheck(
      {
        engine: ctx.engine,
        run: { journal: ctx.store.journal, port: enginePort(ctx.engine), actor: spec.principal.actor, clock: ctx.clock, signal: handle.signal },
        protectedList: ctx.protectedList,
        maxChanges: ctx.maxChanges,
        clock: ctx.clock,
        signal: handle.signal,
        onChange: (change) => handle.settled(change.status, change),
        onRunCreated: (runId) => handle.setRunId(runId),
      },
      schedule,
      tenants.map((t) => ctx.tenants.find(t)?.tenant ?? t),
      { period: spec.period, named },
    );
    const deliveries = await deliverAlerts(schedule.alerts, result, { ...(ctx.alertFetch ? { fetch: ctx.alertFetch } : {}), clock: ctx.clock, smtp: ctx.smtp, signal: handle.signal });
    await schedules.finishFire(schedule.scheduleId, spec.period, { status: "succeeded", finishedAt: iso(), result: { ...result, alerts: deliveries } });
    const remediation = result.remediation;
    const summary: DriftCheckSummary = {
      scheduleId: schedule.scheduleId,
      name: schedule.name,
      period: spec.period,
      status: result.status,
      counts: result.counts,
      ...(remediation.enabled
        ? { remediation: remediation.status === "skipped" ? { status: "skipped", reason: remediation.reason } : { status: remediation.status, runId: remediation.runId, counts: remediation.counts } }
        : {}),
      alerts: { sent: deliveries.filter((d) => d.status === "sent").length, failed: deliveries.filter((d) => d.status === "failed").length, skipped: deliveries.filter((d) => d.status === "skipped").length },
    };
    return { result, deliveries, summary };
  } catch (error) {
    if (!handle.signal.aborted) {
      const e = error as { code?: unknown; message?: unknown };
      await schedules.finishFire(schedule.scheduleId, spec.period, { status: "failed", finishedAt: iso(), error: { code: typeof e.code === "string" ? e.code : (error as Error).name, message: String(e.message ?? error) } });
    }
    throw error;
  }
}
