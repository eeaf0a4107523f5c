import { z } from "zod";
import { MfaStateReadSchema, MfaStateSchema } from "../domain/mfa-state.js";
import { ErrorInfoSchema } from "../domain/vocabulary.js";

/**
 * The journal: every change mfactl makes is recorded before its request goes and settled after
 * it, so a run can be listed, audited, undone and resumed after a crash. Core sees storage only
 * through `JournalStore`; `@mfactl/store` implements it on SQLite (PostgreSQL can follow), and
 * `memoryJournal()` serves library callers and tests that need no database.
 */

export const RUN_KINDS = ["set", "bulk-set", "apply", "undo", "enforce"] as const;
export type RunKind = (typeof RUN_KINDS)[number];

/**
 * `running`: owned by a live process, or its process died (resume takes it over);
 * `completed`: every change settled (some may have failed or conflicted);
 * `interrupted`: stopped before the end (signal, journal error) with changes left to do.
 */
export const RUN_STATUSES = ["running", "completed", "interrupted"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/**
 * `pending`: not started; `inFlight`: recorded as about to be sent (write-ahead), outcome unknown;
 * the rest are settled and final.
 */
export const JOURNAL_CHANGE_STATUSES = ["pending", "inFlight", "changed", "unchanged", "failed", "conflict"] as const;
export type JournalChangeStatus = (typeof JOURNAL_CHANGE_STATUSES)[number];
export const SETTLED_STATUSES = ["changed", "unchanged", "failed", "conflict"] as const;
export type SettledStatus = (typeof SETTLED_STATUSES)[number];

/** Who holds a run: one process on one host. A run has at most one owner at a time. */
export const RunOwnerSchema = z.object({
  /** Unique per process start (host, pid and a random part). */
  id: z.string().min(1),
  host: z.string(),
  pid: z.number().int(),
});
export type RunOwner = z.infer<typeof RunOwnerSchema>;

export const RunOptionsSchema = z.object({
  /** Apply even where the state no longer matches what the plan read. */
  force: z.boolean().default(false),
  includeProtected: z.boolean().default(false),
});
export type RunOptions = z.infer<typeof RunOptionsSchema>;

export const NewRunSchema = z.object({
  runId: z.string().min(1),
  kind: z.enum(RUN_KINDS),
  /** `app:<client id>`, `user:<upn>` (signed-in identity) or `apikey:<name>`. */
  actor: z.string().min(1),
  host: z.string(),
  /** ISO 8601. */
  startedAt: z.string(),
  /** Set when the run carries out a plan file: a plan is applied by one run only. */
  planId: z.string().optional(),
  /** Set on an undo run: the run it reverts. */
  undoOf: z.string().optional(),
  /** One line for people: "bulk set enforced (3 tenants)". */
  description: z.string().default(""),
  options: RunOptionsSchema.default({ force: false, includeProtected: false }),
  owner: RunOwnerSchema,
});
export type NewRun = z.input<typeof NewRunSchema>;

export const RunCountsSchema = z.object(Object.fromEntries(JOURNAL_CHANGE_STATUSES.map((s) => [s, z.number().int()])) as Record<JournalChangeStatus, z.ZodNumber>);
export type RunCounts = Record<JournalChangeStatus, number>;

export const RunRecordSchema = z.object({
  runId: z.string(),
  kind: z.enum(RUN_KINDS),
  actor: z.string(),
  host: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  status: z.enum(RUN_STATUSES),
  planId: z.string().optional(),
  undoOf: z.string().optional(),
  description: z.string(),
  options: RunOptionsSchema,
  /** Absent once the run is finished. */
  owner: RunOwnerSchema.optional(),
  /** Last sign of life from the owner (ISO 8601). */
  heartbeatAt: z.string().optional(),
  total: z.number().int(),
  counts: RunCountsSchema,
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

/** One user in a run: what was planned, what was read, what was sent and what came back. */
export const JournalChangeSchema = z.object({
  runId: z.string(),
  /** 0-based position in the run. */
  seq: z.number().int(),
  tenant: z.string(),
  id: z.string(),
  userPrincipalName: z.string(),
  /** The state the run expects to find (a plan's current state; an undo's read-back state). */
  expectedState: MfaStateReadSchema.optional(),
  /** The state read right before the change was sent. */
  previousState: MfaStateReadSchema.optional(),
  requestedState: MfaStateSchema,
  /** The state read back after the change (or the current state when nothing was sent). */
  perUserMfaState: MfaStateReadSchema.optional(),
  status: z.enum(JOURNAL_CHANGE_STATUSES),
  requestId: z.string().optional(),
  error: ErrorInfoSchema.optional(),
  /** ISO 8601: when the request was recorded as about to be sent. */
  sentAt: z.string().optional(),
  /** ISO 8601: last update. */
  updatedAt: z.string(),
});
export type JournalChange = z.infer<typeof JournalChangeSchema>;

export type NewChange = Pick<JournalChange, "tenant" | "id" | "userPrincipalName" | "requestedState"> & {
  expectedState?: JournalChange["expectedState"] | undefined;
};

/** What settles a change. */
export interface ChangeSettlement {
  status: SettledStatus;
  previousState?: JournalChange["previousState"] | undefined;
  perUserMfaState?: JournalChange["perUserMfaState"] | undefined;
  requestId?: string | undefined;
  error?: JournalChange["error"] | undefined;
  at: string;
}

export interface ListRunsOptions {
  /** Newest first; default 50. */
  limit?: number | undefined;
  status?: RunStatus | undefined;
}

export interface ChangesQuery {
  status?: readonly JournalChangeStatus[] | undefined;
  /** Only changes with a greater seq (paging). */
  afterSeq?: number | undefined;
  /** At most this many changes. */
  limit?: number | undefined;
}

/**
 * Storage of runs and their changes. Every method is atomic. Every write to a run after
 * `createRun` names the owner it is made for and happens only while that owner holds the run, in
 * the same atomic step: a process that was paused while another took its run over can never
 * record, and so never send, a change, nor settle or finish the run. Implementations throw
 * `JournalUnavailableError` when the database cannot be opened, read or written (locked,
 * corrupt, no permission), `PlanAlreadyRunError` when a plan already has a run, and
 * `RunNotFoundError` for an unknown run id.
 */
export interface JournalStore {
  /** Where the journal lives, for messages ("/home/x/.local/state/mfactl/journal.db", "memory"). */
  readonly location: string;
  /** Creates the run (status `running`, owned by `run.owner`) and all its changes as `pending`, in one transaction. */
  createRun(run: NewRun, changes: readonly NewChange[]): Promise<RunRecord>;
  /**
   * Moves ownership of a run from `expectedOwnerId` (undefined: no owner) to `owner`, atomically
   * (compare and swap), and sets it `running`. Returns false when someone else changed the owner first.
   */
  claimRun(runId: string, owner: RunOwner, expectedOwnerId: string | undefined, at: string): Promise<boolean>;
  /** The owner is alive. Returns false when the run is no longer owned by `ownerId` (taken over). */
  heartbeat(runId: string, ownerId: string, at: string): Promise<boolean>;
  /**
   * Write-ahead: the change is about to be sent; records the state read before it (kept when
   * `previousState` is undefined). A compare and swap on the run's owner, atomic with the write:
   * when `ownerId` is not the run's current owner (taken over by another process, or no owner
   * because the run finished) it records nothing and returns false, and the caller must not
   * send the change. Only from `pending` or `inFlight`: the owner beginning a settled change
   * throws (a settled change is never sent again). An unknown run or change: RunNotFoundError.
   * Checked in that order: existence, owner, status.
   */
  beginChange(runId: string, seq: number, ownerId: string, previousState: JournalChange["previousState"], at: string): Promise<boolean>;
  /**
   * Settles a `pending` or `inFlight` change, with the same compare and swap on the owner as
   * `beginChange`: false, and nothing written, when `ownerId` is not the run's current owner
   * (a process that lost the run leaves the change to the new owner, who reads it again). A
   * change is settled once: the owner settling an already settled change throws, and the first
   * settlement stays. An unknown run or change: RunNotFoundError. Checked in that order.
   */
  settleChange(runId: string, seq: number, ownerId: string, settlement: ChangeSettlement): Promise<boolean>;
  /**
   * Ends the run (`completed` or `interrupted`) and releases its owner, only when `ownerId` owns
   * it (compare and swap): otherwise it changes nothing and returns false, so a process that lost
   * the run cannot release the new owner's claim. After it the run has no owner, so every owner
   * checked write (`beginChange`, `settleChange`, `finishRun`, `heartbeat`) returns false until
   * `claimRun`. An unknown run: RunNotFoundError.
   */
  finishRun(runId: string, ownerId: string, status: Exclude<RunStatus, "running">, at: string): Promise<boolean>;
  getRun(runId: string): Promise<RunRecord | undefined>;
  /** Run ids starting with `prefix`, newest first (for short ids typed by people). */
  findRuns(prefix: string, limit?: number): Promise<RunRecord[]>;
  listRuns(options?: ListRunsOptions): Promise<RunRecord[]>;
  /**
   * The run's changes in `seq` order, streamed. Callers that write to the journal while they
   * process changes read it in pages (`afterSeq` + `limit`), each page read to its end first.
   */
  changes(runId: string, query?: ChangesQuery): AsyncIterable<JournalChange>;
  close(): Promise<void>;
}
