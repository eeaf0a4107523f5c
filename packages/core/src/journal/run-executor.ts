import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { hostname } from "node:os";
import { JournalUnavailableError, MfactlError, UsageError } from "../domain/errors.js";
import { satisfies, type MfaState, type MfaStateRead } from "../domain/mfa-state.js";
import type { UserMfaChange } from "../domain/vocabulary.js";
import { systemClock, type Clock } from "../transport/clock.js";
import { mapConcurrent } from "../util/concurrent.js";
import { applyChange } from "../operations/apply-change.js";
import { errorInfo } from "../operations/errors-to-info.js";
import type { MfaPort } from "../operations/mfa-port.js";
import type { ChangeSettlement, JournalChange, JournalStore, NewChange, NewRun, RunOwner, RunRecord } from "./types.js";

/** What a run needs besides its changes: where to journal, how to reach Graph, who is acting. */
export interface RunContext {
  journal: JournalStore;
  port: MfaPort;
  /** `app:<client id>`, `user:<upn>` or `apikey:<name>`. */
  actor: string;
  clock?: Clock | undefined;
  signal?: AbortSignal | undefined;
  /** Users in flight at once (the engine behind the port paces them). Default 1000. */
  window?: number | undefined;
  readBackDelaysMs?: readonly number[] | undefined;
  /** How often the owner tells the journal it is alive. Default 5 s. */
  heartbeatMs?: number | undefined;
  /** This process, as the run's owner. Default: this host and pid. */
  owner?: RunOwner | undefined;
  onProgress?: ((event: RunProgressEvent) => void) | undefined;
}

export type RunProgressEvent =
  | { type: "runStarted"; runId: string; total: number; remaining: number }
  | { type: "change"; runId: string; change: UserMfaChange };

/** A heartbeat older than this (from another host) means the owner is gone. */
export const STALE_OWNER_MS = 60_000;

let processOwner: RunOwner | undefined;

/** This process as a run owner: unique per process start. */
export function currentOwner(): RunOwner {
  processOwner ??= { id: `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`, host: hostname(), pid: process.pid };
  return processOwner;
}

/** Sortable, readable and unique: `20261201T211348Z-3f9a2c1b`. */
export function newRunId(now: number): string {
  return `${new Date(now).toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "")}-${randomBytes(4).toString("hex")}`;
}

export interface RunSpec {
  kind: NewRun["kind"];
  description: string;
  planId?: string | undefined;
  undoOf?: string | undefined;
  force?: boolean | undefined;
  includeProtected?: boolean | undefined;
}

/**
 * Record a run and all its changes (pending) before anything is sent. Fails with
 * JournalUnavailableError or PlanAlreadyRunError, in which case nothing was sent.
 */
export async function createRun(ctx: RunContext, spec: RunSpec, changes: readonly NewChange[]): Promise<RunRecord> {
  const clock = ctx.clock ?? systemClock;
  const owner = ctx.owner ?? currentOwner();
  const now = clock.now();
  return ctx.journal.createRun(
    {
      runId: newRunId(now),
      kind: spec.kind,
      actor: ctx.actor,
      host: owner.host,
      startedAt: new Date(now).toISOString(),
      description: spec.description,
      options: { force: spec.force === true, includeProtected: spec.includeProtected === true },
      owner,
      ...(spec.planId !== undefined ? { planId: spec.planId } : {}),
      ...(spec.undoOf !== undefined ? { undoOf: spec.undoOf } : {}),
    },
    changes,
  );
}

/** Another live process holds the run. */
export class RunBusyError extends MfactlError {
  readonly kind = "runBusy";
}

/** Whether a run's owner still runs: the same host asks the OS, another host goes by the heartbeat. */
export function ownerAlive(run: RunRecord, now: number): boolean {
  const owner = run.owner;
  if (!owner) return false;
  const beat = run.heartbeatAt ? Date.parse(run.heartbeatAt) : 0;
  if (owner.host === hostname()) {
    if (owner.id === currentOwner().id) return true;
    try {
      process.kill(owner.pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    }
    // The pid is taken; after a long silence it is another process that reused it.
    return now - beat < STALE_OWNER_MS * 5;
  }
  return now - beat < STALE_OWNER_MS;
}

/**
 * Take over a run whose process died (or that was interrupted) so it can be finished. Throws
 * RunBusyError while its owner is alive, UsageError when there is nothing left to do.
 */
export async function claimForResume(ctx: RunContext, run: RunRecord): Promise<RunRecord> {
  const clock = ctx.clock ?? systemClock;
  const owner = ctx.owner ?? currentOwner();
  if (run.status === "completed") throw new UsageError(`Run ${run.runId} is complete: nothing to resume.`);
  if (run.status === "running" && ownerAlive(run, clock.now())) {
    throw new RunBusyError(`Run ${run.runId} is still running (process ${run.owner?.pid ?? "?"} on ${run.owner?.host ?? "?"}); resume it only after that process has stopped.`);
  }
  const claimed = await ctx.journal.claimRun(run.runId, owner, run.owner?.id, new Date(clock.now()).toISOString());
  if (!claimed) throw new RunBusyError(`Run ${run.runId} was taken over by another process just now.`);
  const fresh = await ctx.journal.getRun(run.runId);
  if (!fresh) throw new UsageError(`Run ${run.runId} disappeared from the journal.`);
  return fresh;
}

export interface ExecuteOptions {
  /**
   * Read each pending user's state before changing it. Off only right after the caller read
   * it (`set`, `bulk set`); changes in flight are always re-read.
   */
  reread: boolean;
}

const PAGE = 500;

/**
 * Carry out a run this process owns: every change still pending or in flight, journaled
 * write-ahead (recorded before its request, settled after it). Yields each settled change.
 * A journal failure stops the run at once (nothing is sent that is not recorded); an abort
 * leaves unsettled changes for `resume`. The run is marked completed when nothing is left.
 * Every journal write is checked against this process's ownership: once another process has
 * taken the run over (`claimRun`), the next write refuses, nothing more is sent, and the run
 * stops with RunBusyError, leaving the run to its new owner.
 */
export async function* executeRun(ctx: RunContext, run: RunRecord, options: ExecuteOptions): AsyncGenerator<UserMfaChange> {
  const clock = ctx.clock ?? systemClock;
  const owner = ctx.owner ?? currentOwner();
  const journal = ctx.journal;
  const iso = () => new Date(clock.now()).toISOString();
  const force = run.options.force;
  // An undo restores the exact state: `enabled` is not met by `enforced` there, as it is for a request.
  const reached = (current: MfaStateRead, requested: MfaState) => (run.kind === "undo" ? current === requested : satisfies(current, requested));
  const stop = new AbortController();
  // Every request in flight listens on this signal.
  setMaxListeners(Math.max(100, (ctx.window ?? 1000) * 4), stop.signal);
  const onAbort = () => stop.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener("abort", onAbort, { once: true });
  let journalFailure: unknown;
  const fail = (error: unknown) => {
    journalFailure ??= error;
    stop.abort(error);
  };

  const remaining = run.counts.pending + run.counts.inFlight;
  ctx.onProgress?.({ type: "runStarted", runId: run.runId, total: run.total, remaining });

  const beat = setInterval(() => {
    journal.heartbeat(run.runId, owner.id, iso()).then(
      (still) => {
        if (!still) fail(new RunBusyError(`Run ${run.runId} was taken over by another process; this one stopped sending changes.`));
      },
      (error: unknown) => fail(error),
    );
  }, ctx.heartbeatMs ?? 5000);
  beat.unref?.();

  const takenOver = (how: string) => fail(new RunBusyError(`Run ${run.runId} was taken over by another process${how}`));

  /** Undefined when the run was taken over: the new owner reads the change again and settles it. */
  const settle = async (c: JournalChange, s: Omit<ChangeSettlement, "at">, sent = false): Promise<UserMfaChange | undefined> => {
    if (await journal.settleChange(c.runId, c.seq, owner.id, { ...s, at: iso() })) return toChange(c, s);
    takenOver(
      sent
        ? ` while this one was sending the change for ${c.userPrincipalName}; this one stopped without sending any more changes (the other process reads that user again and settles the change).`
        : "; this one stopped without sending any more changes.",
    );
    return undefined;
  };

  const handle = async (c: JournalChange): Promise<UserMfaChange | undefined> => {
    if (stop.signal.aborted) return undefined;
    const user = { id: c.id, userPrincipalName: c.userPrincipalName };
    let previous: MfaStateRead | undefined = c.status === "inFlight" ? c.previousState : c.expectedState;
    if (c.status === "inFlight" || options.reread || previous === undefined) {
      let current: MfaStateRead;
      try {
        current = (await ctx.port.readState(c.tenant, user, stop.signal)).state;
      } catch (error) {
        if (stop.signal.aborted) return undefined;
        return settle(c, { status: "failed", error: errorInfo(error) });
      }
      if (c.status === "inFlight") {
        // Sent before the interruption: settle what Graph now says instead of sending it again.
        if (reached(current, c.requestedState)) return settle(c, { status: "changed", perUserMfaState: current });
        if (current !== c.previousState && !force) {
          return settle(c, {
            status: "conflict",
            perUserMfaState: current,
            error: { code: "StateChanged", message: `The state is ${current}, neither the ${c.previousState ?? "unknown"} read before the interrupted change nor the ${c.requestedState} requested; left alone.` },
          });
        }
      } else {
        // Someone else already made the change a plan asked for: nothing to send, nothing in the way.
        // An undo is stricter: only users still as the run left them are restored, the rest are conflicts.
        if (run.kind !== "undo" && current !== c.expectedState && reached(current, c.requestedState)) {
          return settle(c, { status: "unchanged", previousState: current, perUserMfaState: current });
        }
        if (c.expectedState !== undefined && current !== c.expectedState && !force) {
          return settle(c, {
            status: "conflict",
            previousState: current,
            perUserMfaState: current,
            error: { code: "StateChanged", message: `Expected ${c.expectedState} but the state is now ${current}: changed outside this run since it was planned; left alone (--force overrides).` },
          });
        }
        if (reached(current, c.requestedState)) return settle(c, { status: "unchanged", previousState: current, perUserMfaState: current });
      }
      previous = c.status === "inFlight" ? c.previousState ?? current : current;
    }
    if (stop.signal.aborted) return undefined;

    // Write-ahead and owner check in one step: a process that lost the run records nothing and sends nothing.
    if (!(await journal.beginChange(c.runId, c.seq, owner.id, previous, iso()))) {
      takenOver(`; this one stopped without sending the change for ${c.userPrincipalName}, and sends no more changes.`);
      return undefined;
    }
    const result = await applyChange(
      ctx.port,
      { tenant: c.tenant, user, previousState: previous ?? "unknown", requestedState: c.requestedState },
      { clock, signal: stop.signal, readBackDelaysMs: ctx.readBackDelaysMs },
    );
    // Stopped mid-request: whether Graph applied it is unknown; leave it in flight for resume.
    if (stop.signal.aborted && result.status === "failed") return undefined;
    return settle(
      c,
      {
        status: result.status === "changed" ? "changed" : "failed",
        previousState: previous,
        perUserMfaState: result.perUserMfaState,
        requestId: result.requestId,
        error: result.error,
      },
      true,
    );
  };

  const guarded = async (c: JournalChange) => {
    try {
      return await handle(c);
    } catch (error) {
      fail(error);
      return undefined;
    }
  };

  try {
    // Pages of unsettled changes, each read to its end before any write (stores may stream).
    async function* unsettled(): AsyncGenerator<JournalChange> {
      let after = -1;
      for (;;) {
        if (stop.signal.aborted) return;
        const page: JournalChange[] = [];
        try {
          for await (const c of journal.changes(run.runId, { status: ["pending", "inFlight"], afterSeq: after, limit: PAGE })) page.push(c);
        } catch (error) {
          fail(error);
          return;
        }
        for (const c of page) yield c;
        if (page.length < PAGE) return;
        after = page[page.length - 1]!.seq;
      }
    }
    for await (const change of mapConcurrent(unsettled(), ctx.window ?? 1000, guarded)) {
      if (change) {
        ctx.onProgress?.({ type: "change", runId: run.runId, change });
        yield change;
      }
    }
  } finally {
    clearInterval(beat);
    ctx.signal?.removeEventListener("abort", onAbort);
  }

  if (journalFailure !== undefined) throw asJournalError(journalFailure, journal);
  if (ctx.signal?.aborted) {
    // False when taken over meanwhile: the run is the other process's to finish.
    await journal.finishRun(run.runId, owner.id, "interrupted", iso()).catch(() => undefined);
    return;
  }
  const after = await journal.getRun(run.runId);
  // False when taken over after the last change was settled here: the new owner finds nothing
  // left and finishes the run; every change this process settled was yielded.
  if (after && after.counts.pending + after.counts.inFlight === 0) await journal.finishRun(run.runId, owner.id, "completed", iso());
}

function asJournalError(error: unknown, journal: JournalStore): unknown {
  if (error instanceof MfactlError) return error;
  return new JournalUnavailableError(`The journal ${journal.location} failed: ${error instanceof Error ? error.message : String(error)}. The run stopped; \`mfactl resume\` finishes it.`, {
    location: journal.location,
  });
}

/** A journaled change in the vocabulary every front end prints. */
export function toChange(c: JournalChange, s?: Omit<ChangeSettlement, "at">): UserMfaChange {
  const previousState = s?.previousState ?? c.previousState;
  const perUserMfaState = s?.perUserMfaState ?? c.perUserMfaState;
  const requestId = s?.requestId ?? c.requestId;
  const error = s?.error ?? c.error;
  const status = s?.status ?? c.status;
  return {
    tenant: c.tenant,
    id: c.id,
    userPrincipalName: c.userPrincipalName,
    ...(previousState !== undefined ? { previousState } : {}),
    requestedState: c.requestedState,
    ...(perUserMfaState !== undefined ? { perUserMfaState } : {}),
    status: status === "pending" || status === "inFlight" ? "failed" : status,
    ...(requestId !== undefined ? { requestId } : {}),
    ...(error !== undefined ? { error } : {}),
    runId: c.runId,
  };
}
