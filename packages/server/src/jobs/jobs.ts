import { createHash } from "node:crypto";
import { currentOwner, MfactlError, type Clock } from "@mfactl/core";
import type { JobRecordStore, JobRow } from "@mfactl/store";
import type { FastifyBaseLogger } from "fastify";
import type { ServerContext } from "../context.js";
import { errorInfoOf } from "../errors.js";
import { newJobId, type Job, type JobEvent, type JobManager } from "./job-manager.js";
import { changesUsers, runSpec, summarize, type JobSpec } from "./job-specs.js";

export interface DrainOutcome {
  finished: number;
  aborted: number;
  resumable: number;
  handedOver?: number;
}

/** A job id given twice (a schedule's period already has its job). */
export class JobExistsError extends MfactlError {
  readonly kind = "jobExists";
}

/**
 * The server's jobs, whoever carries them out. Alone (SQLite, or no queue), this process runs every
 * job it is asked for. In a cluster (PostgreSQL), a job is written to the store and queued with
 * pg-boss; any instance takes it, holds a lease on it while it works and renews it; a job whose
 * lease runs out (its instance died) is queued again, and the next instance goes on from the journal.
 */
export interface Jobs {
  readonly accepting: boolean;
  /** Several instances share the jobs (through PostgreSQL). */
  readonly distributed: boolean;
  submit(spec: JobSpec, options?: { jobId?: string }): Promise<Job>;
  get(jobId: string): Promise<Job | undefined>;
  /** Newest first. */
  list(): Promise<Job[]>;
  result(jobId: string): Promise<unknown>;
  /** This instance carries the job out now: its events can be followed live. */
  runsHere(jobId: string): boolean;
  subscribe(jobId: string, listener: (event: JobEvent) => void): () => void;
  start(): Promise<void>;
  /**
   * Stops taking jobs; waits up to `graceMs` for those running here, then stops them between users
   * (`handedOver`: in a cluster, stopped here and left to another instance at once).
   */
  drain(graceMs: number): Promise<DrainOutcome>;
  close(): Promise<void>;
}

/** Audit lines of a job's start and end, filed under its request. */
async function auditJob(ctx: ServerContext, spec: JobSpec, entry: { action: string; outcome: "ok" | "failed"; target: string; detail: string; runId?: string | undefined }, log: FastifyBaseLogger): Promise<void> {
  try {
    await ctx.store.access.appendAudit({
      at: new Date(ctx.clock.now()).toISOString(),
      actor: spec.principal.actor,
      requestId: spec.requestId,
      action: entry.action,
      outcome: entry.outcome,
      target: entry.target,
      detail: entry.detail,
      ...(spec.audit.tenant !== undefined ? { tenant: spec.audit.tenant } : {}),
      ...((entry.runId ?? spec.audit.runId) !== undefined ? { runId: entry.runId ?? spec.audit.runId } : {}),
    });
  } catch (error) {
    log.error({ err: error, action: entry.action }, "audit log write failed");
  }
}

function finishAudit(ctx: ServerContext, spec: JobSpec, done: Job, log: FastifyBaseLogger): Promise<void> {
  const counts = done.progress.counts;
  return auditJob(
    ctx,
    spec,
    {
      action: `job.${spec.type}.finished`,
      outcome: done.status === "succeeded" && !counts["failed"] && !counts["conflict"] ? "ok" : "failed",
      target: done.jobId,
      runId: done.runId,
      detail: `${done.status}: ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ") || "nothing to do"}${done.error ? ` (${done.error.code}: ${done.error.message})` : ""}`,
    },
    log,
  );
}

/** One instance: jobs run in this process and are kept in memory. */
export class LocalJobs implements Jobs {
  readonly distributed = false;
  constructor(
    private readonly ctx: ServerContext,
    private readonly manager: JobManager,
    private readonly log: FastifyBaseLogger,
  ) {}

  get accepting(): boolean {
    return this.manager.accepting;
  }

  async submit(spec: JobSpec, options: { jobId?: string } = {}): Promise<Job> {
    if (options.jobId !== undefined && this.manager.get(options.jobId)) throw new JobExistsError(`Job ${options.jobId} exists already.`);
    const jobId = options.jobId ?? newJobId(this.ctx.clock.now());
    // The start is written before the job can end.
    await auditJob(this.ctx, spec, { action: `job.${spec.type}`, outcome: "ok", target: jobId, detail: spec.audit.detail }, this.log);
    return this.manager.start(spec.type, spec.principal.actor, (h) => runSpec(this.ctx, spec, h, undefined), {
      jobId,
      describe: errorInfoOf,
      summarize: (r) => summarize(this.ctx, spec, r),
      signal: this.ctx.shutdown,
      ...(changesUsers(spec.type) ? { onFinish: (done: Job) => finishAudit(this.ctx, spec, done, this.log) } : {}),
    });
  }

  get(jobId: string): Promise<Job | undefined> {
    return Promise.resolve(this.manager.get(jobId));
  }

  list(): Promise<Job[]> {
    return Promise.resolve(this.manager.list());
  }

  result(jobId: string): Promise<unknown> {
    return Promise.resolve(this.manager.result(jobId));
  }

  runsHere(jobId: string): boolean {
    return this.manager.get(jobId) !== undefined;
  }

  subscribe(jobId: string, listener: (event: JobEvent) => void): () => void {
    return this.manager.subscribe(jobId, listener);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  drain(graceMs: number): Promise<DrainOutcome> {
    return this.manager.drain(graceMs);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** What a cluster's queue needs: pg-boss's part of it (see cluster-queue.ts). */
export interface JobQueue {
  start(handler: (jobId: string) => Promise<void>): Promise<void>;
  /** Queues `jobId`; `slot` makes the queue's own id (the same slot twice is one message). */
  send(jobId: string, slot: string): Promise<void>;
  /** This instance takes no more messages (those it carries out now go on); sending still works. */
  pause(): Promise<void>;
  stop(graceMs: number): Promise<void>;
}

export interface ClusterOptions {
  /** How long a lease lasts; renewed every third of it. An instance silent for this long is taken for dead. */
  leaseMs: number;
  /** Finished jobs kept in the store. */
  keep: number;
  clock: Clock;
}

/** Several instances on one PostgreSQL database: jobs in the store, carried out by whichever instance takes them from the queue. */
export class ClusterJobs implements Jobs {
  readonly distributed = true;
  private readonly owner = `${currentOwner().id}`;
  private closing = false;
  private readonly stop = new AbortController();
  private loops: Promise<void>[] = [];
  private readonly handedOver = new Set<string>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly manager: JobManager,
    private readonly store: JobRecordStore,
    private readonly queue: JobQueue,
    private readonly options: ClusterOptions,
    private readonly log: FastifyBaseLogger,
  ) {}

  get accepting(): boolean {
    return !this.closing && this.manager.accepting;
  }

  private now(): number {
    return this.options.clock.now();
  }

  async start(): Promise<void> {
    await this.queue.start((jobId) => this.carryOut(jobId));
    this.loops.push(this.every(Math.max(100, this.options.leaseMs / 2), () => this.sweep()));
    this.loops.push(this.every(60_000, async () => void (await this.store.pruneJobs(this.options.keep))));
  }

  /** Runs `fn` every `ms` until closed; a failure is logged and tried again next time. */
  private async every(ms: number, fn: () => Promise<void>): Promise<void> {
    while (!this.stop.signal.aborted) {
      try {
        await this.options.clock.sleep(ms, this.stop.signal);
      } catch {
        return;
      }
      try {
        await fn();
      } catch (error) {
        this.log.warn({ err: error }, "job queue upkeep failed; trying again");
      }
    }
  }

  /** Jobs whose instance went silent: queued again (the slot changes each lease period, so a lost message is sent anew). */
  private async sweep(): Promise<void> {
    if (this.closing) return;
    const now = this.now();
    for (const jobId of await this.store.orphanedJobs(now)) {
      if (this.manager.runsHere(jobId)) continue;
      await this.queue.send(jobId, `orphan-${Math.floor(now / this.options.leaseMs)}`);
    }
  }

  async submit(spec: JobSpec, options: { jobId?: string } = {}): Promise<Job> {
    const now = this.now();
    const jobId = options.jobId ?? newJobId(now);
    const view: Job = { jobId, type: spec.type, status: "running", actor: spec.principal.actor, createdAt: new Date(now).toISOString(), progress: { done: 0, counts: {} } };
    const row: JobRow = { jobId, type: spec.type, status: "running", actor: view.actor, createdAt: view.createdAt, input: spec, view, attempts: 0, leaseUntil: now + this.options.leaseMs };
    try {
      await this.store.insertJob(row);
    } catch (error) {
      if (options.jobId !== undefined && (await this.store.getJob(jobId).catch(() => undefined))) throw new JobExistsError(`Job ${jobId} exists already.`);
      throw error;
    }
    await auditJob(this.ctx, spec, { action: `job.${spec.type}`, outcome: "ok", target: jobId, detail: spec.audit.detail }, this.log);
    await this.queue.send(jobId, "0");
    return view;
  }

  /** Takes the job (if nobody else holds it), carries it out here, keeps the store's copy current. */
  private async carryOut(jobId: string): Promise<void> {
    // Thrown, the message goes back to the queue (pg-boss retries it a second later) for another instance.
    if (this.closing) throw new Error("This instance is shutting down.");
    if (this.manager.runsHere(jobId)) return;
    const row = await this.store.acquireLease(jobId, this.owner, this.now(), this.options.leaseMs);
    if (!row) return;
    const spec = row.input as JobSpec;
    const from = { ...(row.view as Job), ...(row.runId !== undefined ? { runId: row.runId } : {}) };
    if (row.attempts > 1) this.log.warn({ jobId, attempts: row.attempts, runId: from.runId }, "job taken over from an instance that stopped");
    let lost = false;
    let pending: Job | undefined;
    let writing: Promise<void> = Promise.resolve();
    // At most one write in flight per job; the newest view wins.
    const mirror = (job: Job) => {
      const idle = pending === undefined;
      pending = job;
      if (!idle) return;
      writing = writing.then(async () => {
        const view = pending;
        pending = undefined;
        if (!view || lost) return;
        const ok = await this.store.updateJob(jobId, this.owner, { view, ...(view.runId !== undefined ? { runId: view.runId } : {}) }).catch(() => true);
        if (!ok) lose();
      });
    };
    const lose = () => {
      if (lost) return;
      lost = true;
      this.log.warn({ jobId }, "job lease lost: another instance carries it out now; stopping here");
      this.manager.abort(jobId, new Error("Another instance took the job over."));
    };
    this.manager.start(spec.type, spec.principal.actor, (h) => runSpec(this.ctx, spec, h, from), {
      from,
      describe: errorInfoOf,
      summarize: (r) => summarize(this.ctx, spec, r),
      signal: this.ctx.shutdown,
      onProgress: mirror,
      onFinish: async (done) => {
        await writing;
        if (lost) return;
        if (this.closing && done.status === "cancelled") {
          // Stopped by this instance's shutdown: another instance goes on with it, at once.
          this.handedOver.add(jobId);
          await this.store.updateJob(jobId, this.owner, { view: { ...done, status: "running" } });
          await this.store.renewLease(jobId, this.owner, this.now(), -1);
          // Queued again now: an idle instance takes it within its poll, without waiting for a sweep.
          await this.queue.send(jobId, `handover-${this.now()}`);
          return;
        }
        const result = this.manager.result(jobId);
        await this.store.updateJob(jobId, this.owner, { view: done, status: done.status, finishedAt: done.finishedAt ?? new Date(this.now()).toISOString(), ...(done.runId !== undefined ? { runId: done.runId } : {}), ...(result !== undefined ? { result } : {}) });
        if (changesUsers(spec.type)) await finishAudit(this.ctx, spec, done, this.log);
      },
    });
    const beat = new AbortController();
    const heartbeat = (async () => {
      while (!beat.signal.aborted) {
        try {
          await this.options.clock.sleep(this.options.leaseMs / 3, beat.signal);
        } catch {
          return;
        }
        const ok = await this.store.renewLease(jobId, this.owner, this.now(), this.options.leaseMs).catch(() => true);
        if (!ok && !beat.signal.aborted) lose();
      }
    })();
    await this.manager.whenDone(jobId);
    beat.abort();
    await heartbeat;
  }

  async get(jobId: string): Promise<Job | undefined> {
    if (this.manager.runsHere(jobId)) return this.manager.get(jobId);
    const row = await this.store.getJob(jobId);
    return row ? viewOf(row) : undefined;
  }

  async list(): Promise<Job[]> {
    return (await this.store.listJobs({ limit: this.options.keep })).map((row) => (this.manager.runsHere(row.jobId) ? (this.manager.get(row.jobId) ?? viewOf(row)) : viewOf(row)));
  }

  async result(jobId: string): Promise<unknown> {
    return this.manager.result(jobId) ?? (await this.store.getJob(jobId))?.result;
  }

  runsHere(jobId: string): boolean {
    return this.manager.runsHere(jobId);
  }

  subscribe(jobId: string, listener: (event: JobEvent) => void): () => void {
    return this.manager.subscribe(jobId, listener);
  }

  async drain(graceMs: number): Promise<DrainOutcome> {
    this.closing = true;
    // Jobs handed over below must go to another instance, not back to one of ours.
    await this.queue.pause().catch((error: unknown) => this.log.warn({ err: error }, "job queue: could not stop taking jobs"));
    const outcome = await this.manager.drain(graceMs);
    // Jobs stopped here go on elsewhere: nothing is left for `mfactl resume`.
    return { finished: outcome.finished, aborted: outcome.aborted, resumable: Math.max(0, outcome.resumable - this.handedOver.size), handedOver: this.handedOver.size };
  }

  async close(): Promise<void> {
    this.closing = true;
    this.stop.abort();
    await Promise.all(this.loops);
    await this.queue.stop(1000);
  }
}

function viewOf(row: JobRow): Job {
  const view = row.view as Job;
  return { ...view, status: row.status as Job["status"], ...(row.runId !== undefined ? { runId: row.runId } : {}), ...(row.finishedAt !== undefined ? { finishedAt: row.finishedAt } : {}) };
}

/** A UUID from a text (pg-boss ids are UUIDs): the same text, the same id, so a message sent twice is queued once. */
export function uuidFrom(text: string): string {
  const h = createHash("sha256").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}
