import { latestDue, type Clock, type ScheduleRecord } from "@mfactl/core";
import type { FastifyBaseLogger } from "fastify";
import type { ServerContext } from "../context.js";
import { JobExistsError, type Jobs } from "../jobs/jobs.js";
import type { Job } from "../jobs/job-manager.js";
import { scheduleActor } from "./drift-check-job.js";

/** The job of a schedule's period: the same id on every instance, so the period's job is queued once. */
export function fireJobId(scheduleId: string, periodMs: number): string {
  return `fire-${scheduleId}-${new Date(periodMs).toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "")}`;
}

export interface SchedulerOptions {
  /** The scheduler's own clock: tests move it to make periods come. */
  clock: Clock;
  tickMs: number;
  log: FastifyBaseLogger;
}

/**
 * Fires schedules: every tick, each enabled schedule's latest period that has come (since the
 * schedule was created or last changed) gets its job, once. Every instance ticks; the period's job
 * id is the same everywhere and the store takes it once, and the job claims the period's firing
 * (unique per schedule and period), so a period fires once however many instances run. A period
 * missed while no instance ran is not caught up, except the latest.
 */
export class Scheduler {
  private readonly submitted = new Map<string, number>();
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly jobs: Jobs,
    private readonly options: SchedulerOptions,
  ) {}

  start(): void {
    this.loop ??= (async () => {
      while (!this.stopping.signal.aborted) {
        try {
          await this.tick();
        } catch (error) {
          this.options.log.warn({ err: error }, "scheduler tick failed; trying again");
        }
        try {
          await this.options.clock.sleep(this.options.tickMs, this.stopping.signal);
        } catch {
          return;
        }
      }
    })();
  }

  /** One look at every schedule; returns the jobs it queued. */
  async tick(): Promise<Job[]> {
    if (!this.jobs.accepting) return [];
    const now = this.options.clock.now();
    const queued: Job[] = [];
    for (const schedule of await this.ctx.store.schedules.listSchedules()) {
      if (!schedule.enabled) continue;
      const period = latestDue(schedule, now, Date.parse(schedule.updatedAt));
      if (period === undefined || this.submitted.get(schedule.scheduleId) === period) continue;
      const job = await this.fire(schedule, period, "scheduler");
      this.submitted.set(schedule.scheduleId, period);
      if (job) queued.push(job);
    }
    return queued;
  }

  /** Queues the period's job unless it fired already; undefined then. */
  async fire(schedule: ScheduleRecord, periodMs: number, trigger: string, requestId = `scheduler-${periodMs}`): Promise<Job | undefined> {
    const period = new Date(periodMs).toISOString();
    if (await this.ctx.store.schedules.getFire(schedule.scheduleId, period)) return undefined;
    const actor = scheduleActor(schedule);
    try {
      return await this.jobs.submit(
        {
          type: "driftCheck",
          scheduleId: schedule.scheduleId,
          period,
          trigger,
          principal: { actor, kind: "schedule", name: `schedule ${schedule.name}`, scopes: ["read", "write"] },
          requestId,
          audit: { detail: `schedule ${schedule.name}: drift check for ${period}${schedule.remediate.enabled ? " with remediation" : ""}`, ...(schedule.tenants.length === 1 ? { tenant: schedule.tenants[0]! } : {}) },
        },
        { jobId: fireJobId(schedule.scheduleId, periodMs) },
      );
    } catch (error) {
      if (error instanceof JobExistsError) return undefined;
      throw error;
    }
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }
}
