import { randomBytes } from "node:crypto";
import { EventEmitter, setMaxListeners } from "node:events";
import type { Clock, ErrorInfo } from "@mfactl/core";
import { z } from "zod";

export const JOB_TYPES = ["plan", "bulkSet", "apply", "undo", "report", "posture", "driftCheck"] as const;
export type JobType = (typeof JOB_TYPES)[number];
export const JOB_STATUSES = ["running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const JobSchema = z.object({
  jobId: z.string(),
  type: z.enum(JOB_TYPES),
  status: z.enum(JOB_STATUSES),
  /** Who started it, as the journal names them. */
  actor: z.string(),
  createdAt: z.string(),
  finishedAt: z.string().optional(),
  /** The journal run the job carries out (apply, bulkSet, undo). */
  runId: z.string().optional(),
  progress: z.object({
    /** Users to go through, once known. */
    total: z.number().int().optional(),
    done: z.number().int(),
    /** Settled users by status (changed, unchanged, failed, conflict, wouldChange). */
    counts: z.record(z.string(), z.number().int()),
  }),
  /** Why the job failed (a failed user does not fail the job: see counts). */
  error: z.object({ code: z.string(), message: z.string(), httpStatus: z.number().int().optional() }).optional(),
  /** A short outcome: the plan's summary and run-size cap, the run's counts, the report's or posture's tenants. */
  summary: z.unknown().optional(),
});
export type Job = z.infer<typeof JobSchema>;

export type JobEvent =
  | { type: "progress"; job: Job }
  | { type: "change"; change: unknown }
  | { type: "done"; job: Job };

export interface JobHandle {
  readonly job: Job;
  readonly signal: AbortSignal;
  setTotal(total: number): void;
  setRunId(runId: string): void;
  /** A user settled: counted, and streamed to listeners. */
  settled(status: string, change: unknown): void;
  addDone(n: number): void;
}

interface Entry {
  job: Job;
  result: unknown;
  events: EventEmitter;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * The server's jobs, in memory: started by a request, carried on in the background, watched by
 * polling or server-sent events, kept (with results) until `keep` newer ones have finished. What
 * a job changes is in the journal, so a job lost with the process leaves a run `resume` finishes.
 */
export class JobManager {
  private readonly entries = new Map<string, Entry>();
  private readonly finished: string[] = [];
  private closing = false;

  constructor(
    private readonly clock: Clock,
    private readonly keep: number,
    private readonly onError: (job: Job, error: unknown) => void = () => undefined,
  ) {}

  get accepting(): boolean {
    return !this.closing;
  }

  running(): Job[] {
    return [...this.entries.values()].filter((e) => e.job.status === "running").map((e) => e.job);
  }

  list(): Job[] {
    return [...this.entries.values()].map((e) => e.job).reverse();
  }

  get(jobId: string): Job | undefined {
    return this.entries.get(jobId)?.job;
  }

  result(jobId: string): unknown {
    return this.entries.get(jobId)?.result;
  }

  /** Whether this process carries the job out now. */
  runsHere(jobId: string): boolean {
    return this.entries.get(jobId)?.job.status === "running";
  }

  /** Stops a job carried out here (between users), as a shutdown would. */
  abort(jobId: string, reason: Error): void {
    this.entries.get(jobId)?.controller.abort(reason);
  }

  /** Resolves when the job carried out here has ended (at once for an unknown one). */
  whenDone(jobId: string): Promise<void> {
    return this.entries.get(jobId)?.done ?? Promise.resolve();
  }

  /** Listens to a job's events; returns the unsubscribe function. */
  subscribe(jobId: string, listener: (event: JobEvent) => void): () => void {
    const entry = this.entries.get(jobId);
    if (!entry) return () => undefined;
    entry.events.on("event", listener);
    return () => entry.events.off("event", listener);
  }

  /**
   * Starts `work` as a job. A thrown error fails the job with its info (`describe` maps it); the
   * value returned is the job's result, `summarize` gives its summary.
   */
  start<T>(
    type: JobType,
    actor: string,
    work: (handle: JobHandle) => Promise<T>,
    options: {
      describe: (error: unknown) => ErrorInfo;
      summarize?: (result: T) => unknown;
      signal?: AbortSignal;
      /** Runs once the job has its final status, before `done` is sent (e.g. the audit entry of its end); its failure is logged only. */
      onFinish?: (job: Job) => Promise<void>;
      /** Every progress event (at most every 200 ms) and the final state: another instance's copy is kept from it. */
      onProgress?: (job: Job) => void;
      /** A job queued elsewhere (or taken over from a dead instance): its id, creation time and progress so far. */
      from?: Job;
      /** The id to give a new job (default a new one). */
      jobId?: string;
    },
  ): Job {
    const now = () => new Date(this.clock.now()).toISOString();
    const job: Job = options.from
      ? { ...options.from, status: "running", progress: { ...options.from.progress, counts: { ...options.from.progress.counts } } }
      : { jobId: options.jobId ?? newJobId(this.clock.now()), type, status: "running", actor, createdAt: now(), progress: { done: 0, counts: {} } };
    delete job.finishedAt;
    delete job.error;
    const events = new EventEmitter();
    events.setMaxListeners(0);
    const controller = new AbortController();
    // Thousands of in-flight Graph requests of the job listen on it.
    setMaxListeners(0, controller.signal);
    // An already aborted signal fires no event: the job starts cancelled.
    if (options.signal?.aborted) controller.abort(options.signal.reason);
    else options.signal?.addEventListener("abort", () => controller.abort(options.signal?.reason), { once: true });
    let lastProgress = 0;
    const progress = (force = false) => {
      const t = this.clock.now();
      if (force || t - lastProgress >= 200) {
        lastProgress = t;
        const copy = { ...job, progress: { ...job.progress, counts: { ...job.progress.counts } } };
        events.emit("event", { type: "progress", job: copy } satisfies JobEvent);
        options.onProgress?.(copy);
      }
    };
    const handle: JobHandle = {
      job,
      signal: controller.signal,
      setTotal: (total) => {
        job.progress.total = total;
        progress(true);
      },
      setRunId: (runId) => {
        job.runId = runId;
        progress(true);
      },
      settled: (status, change) => {
        job.progress.done++;
        job.progress.counts[status] = (job.progress.counts[status] ?? 0) + 1;
        events.emit("event", { type: "change", change } satisfies JobEvent);
        progress();
      },
      addDone: (n) => {
        job.progress.done += n;
        progress();
      },
    };
    const entry: Entry = { job, result: undefined, events, controller, done: Promise.resolve() };
    this.entries.set(job.jobId, entry);
    entry.done = (async () => {
      try {
        const result = await work(handle);
        entry.result = result;
        if (options.summarize) job.summary = options.summarize(result);
        job.status = controller.signal.aborted ? "cancelled" : "succeeded";
      } catch (error) {
        job.status = controller.signal.aborted ? "cancelled" : "failed";
        job.error = options.describe(error);
        this.onError(job, error);
      } finally {
        job.finishedAt = now();
        if (options.onFinish) await options.onFinish(job).catch((error: unknown) => this.onError(job, error));
        events.emit("event", { type: "done", job: { ...job } } satisfies JobEvent);
        this.retire(job.jobId);
      }
    })();
    return job;
  }

  private retire(jobId: string): void {
    this.finished.push(jobId);
    while (this.finished.length > this.keep) {
      const old = this.finished.shift();
      if (old !== undefined) this.entries.delete(old);
    }
  }

  /**
   * Stops taking jobs; waits up to `graceMs` for the running ones, then aborts them (their runs
   * stop between users and stay resumable), and waits for them to wind down.
   */
  async drain(graceMs: number): Promise<{ finished: number; aborted: number; resumable: number }> {
    this.closing = true;
    const running = [...this.entries.values()].filter((e) => e.job.status === "running");
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), graceMs)));
    const all = Promise.all(running.map((e) => e.done)).then(() => "done" as const);
    const first = await Promise.race([all, grace]);
    clearTimeout(timer);
    let aborted = 0;
    let resumable = 0;
    if (first === "timeout") {
      for (const e of running)
        if (e.job.status === "running") {
          aborted++;
          // Only a job that recorded its run leaves something to resume; one still reading users leaves nothing.
          if (e.job.runId !== undefined) resumable++;
          e.controller.abort(new Error("The server is shutting down."));
        }
      await all;
    }
    return { finished: running.length - aborted, aborted, resumable };
  }
}

export function newJobId(now: number): string {
  return `job-${new Date(now).toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "")}-${randomBytes(4).toString("hex")}`;
}
