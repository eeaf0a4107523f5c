/**
 * The server's jobs, kept in the store so that any instance on the same database can show them,
 * and take over one whose instance died: a lease (owner, until) is held and renewed by the
 * instance carrying a job out; a job whose lease ran out is free for another instance to acquire.
 */
export interface JobRow {
  jobId: string;
  type: string;
  /** `running` (queued or in progress), `succeeded`, `failed`, `cancelled`. */
  status: string;
  actor: string;
  createdAt: string;
  finishedAt?: string | undefined;
  runId?: string | undefined;
  /** What the job needs to be carried out again elsewhere (its request, the caller): JSON. */
  input: unknown;
  /** The job as the API shows it (progress, counts, error, summary): JSON. */
  view: unknown;
  /** The job's result once finished (a plan, a report): JSON. */
  result?: unknown;
  leaseOwner?: string | undefined;
  /** Epoch ms. */
  leaseUntil?: number | undefined;
  /** How many times an instance acquired it. */
  attempts: number;
}

export interface JobRecordStore {
  /** A new job, `running`, with its first lease (the instance that queued it, until `leaseUntil`). */
  insertJob(row: JobRow): Promise<void>;
  getJob(jobId: string): Promise<JobRow | undefined>;
  /** Newest first. */
  listJobs(options?: { limit?: number }): Promise<JobRow[]>;
  /**
   * Takes the lease when the job is `running` and its lease is free, ran out (`leaseUntil` < `now`), or
   * already `owner`'s; sets it to `now + leaseMs` and counts an attempt when the owner changes.
   * Returns the row as acquired, undefined when another live owner holds it or the job has ended.
   * Atomic (compare and swap).
   */
  acquireLease(jobId: string, owner: string, now: number, leaseMs: number): Promise<JobRow | undefined>;
  /** Extends the lease while `owner` holds it; false when it was lost (taken over, or the job ended). */
  renewLease(jobId: string, owner: string, now: number, leaseMs: number): Promise<boolean>;
  /** Writes the view (and status, runId, finishedAt, result when given) while `owner` holds the lease; false otherwise. Ending the job releases the lease. */
  updateJob(jobId: string, owner: string, patch: { view?: unknown; status?: string; runId?: string; finishedAt?: string; result?: unknown }): Promise<boolean>;
  /** Jobs still `running` whose lease ran out before `now` (their instance is gone): ids, oldest first. */
  orphanedJobs(now: number): Promise<string[]>;
  /** Deletes finished jobs beyond the newest `keep`. */
  pruneJobs(keep: number): Promise<number>;
}
