import { PlanAlreadyRunError, RunNotFoundError } from "../domain/errors.js";
import {
  JOURNAL_CHANGE_STATUSES,
  NewRunSchema,
  type ChangeSettlement,
  type ChangesQuery,
  type JournalChange,
  type JournalStore,
  type ListRunsOptions,
  type NewChange,
  type NewRun,
  type RunCounts,
  type RunOwner,
  type RunRecord,
  type RunStatus,
} from "./types.js";

interface StoredRun extends Omit<RunRecord, "counts" | "total"> {
  changes: JournalChange[];
}

export function emptyCounts(): RunCounts {
  return Object.fromEntries(JOURNAL_CHANGE_STATUSES.map((s) => [s, 0])) as RunCounts;
}

/** A journal in memory: for library callers without a database, and for tests. Same rules as the stores. */
export function memoryJournal(): JournalStore {
  const runs = new Map<string, StoredRun>();
  const get = (runId: string): StoredRun => {
    const run = runs.get(runId);
    if (!run) throw new RunNotFoundError(`No run ${runId} in the journal.`, { runId });
    return run;
  };
  const change = (runId: string, seq: number): JournalChange => {
    const c = get(runId).changes[seq];
    if (!c) throw new RunNotFoundError(`Run ${runId} has no change ${seq}.`, { runId });
    return c;
  };
  const view = (run: StoredRun): RunRecord => {
    const counts = emptyCounts();
    for (const c of run.changes) counts[c.status]++;
    const { changes, ...rest } = run;
    return structuredClone({ ...rest, total: changes.length, counts });
  };
  const newest = () => [...runs.values()].sort((a, b) => (a.startedAt === b.startedAt ? (a.runId < b.runId ? 1 : -1) : a.startedAt < b.startedAt ? 1 : -1));

  return {
    location: "memory",
    async createRun(raw: NewRun, changes: readonly NewChange[]) {
      const run = NewRunSchema.parse(raw);
      if (runs.has(run.runId)) throw new Error(`run ${run.runId} exists`);
      if (run.planId !== undefined) {
        const other = [...runs.values()].find((r) => r.planId === run.planId);
        if (other) throw new PlanAlreadyRunError(`Plan ${run.planId} is already carried out by run ${other.runId}.`, { planId: run.planId, runId: other.runId });
      }
      const stored: StoredRun = {
        runId: run.runId,
        kind: run.kind,
        actor: run.actor,
        host: run.host,
        startedAt: run.startedAt,
        status: "running",
        description: run.description,
        options: run.options,
        owner: run.owner,
        heartbeatAt: run.startedAt,
        ...(run.planId !== undefined ? { planId: run.planId } : {}),
        ...(run.undoOf !== undefined ? { undoOf: run.undoOf } : {}),
        changes: changes.map((c, seq) => ({
          runId: run.runId,
          seq,
          tenant: c.tenant,
          id: c.id,
          userPrincipalName: c.userPrincipalName,
          requestedState: c.requestedState,
          ...(c.expectedState !== undefined ? { expectedState: c.expectedState } : {}),
          status: "pending",
          updatedAt: run.startedAt,
        })),
      };
      runs.set(run.runId, stored);
      return view(stored);
    },
    async claimRun(runId: string, owner: RunOwner, expectedOwnerId: string | undefined, at: string) {
      const run = get(runId);
      if (run.owner?.id !== expectedOwnerId) return false;
      run.owner = { ...owner };
      run.heartbeatAt = at;
      run.status = "running";
      delete run.finishedAt;
      return true;
    },
    async heartbeat(runId: string, ownerId: string, at: string) {
      const run = get(runId);
      if (run.owner?.id !== ownerId) return false;
      run.heartbeatAt = at;
      return true;
    },
    async beginChange(runId: string, seq: number, ownerId: string, previousState: JournalChange["previousState"], at: string) {
      const c = change(runId, seq);
      if (get(runId).owner?.id !== ownerId) return false;
      if (c.status !== "pending" && c.status !== "inFlight") throw new Error(`Change ${seq} of run ${runId} is already settled (${c.status}); it is not sent again.`);
      c.status = "inFlight";
      if (previousState !== undefined) c.previousState = previousState;
      c.sentAt = at;
      c.updatedAt = at;
      return true;
    },
    async settleChange(runId: string, seq: number, ownerId: string, s: ChangeSettlement) {
      const c = change(runId, seq);
      if (get(runId).owner?.id !== ownerId) return false;
      if (c.status !== "pending" && c.status !== "inFlight") throw new Error(`Change ${seq} of run ${runId} is already settled (${c.status}); a change is settled once.`);
      c.status = s.status;
      if (s.previousState !== undefined) c.previousState = s.previousState;
      if (s.perUserMfaState !== undefined) c.perUserMfaState = s.perUserMfaState;
      if (s.requestId !== undefined) c.requestId = s.requestId;
      if (s.error !== undefined) c.error = structuredClone(s.error);
      c.updatedAt = s.at;
      return true;
    },
    async finishRun(runId: string, ownerId: string, status: Exclude<RunStatus, "running">, at: string) {
      const run = get(runId);
      if (run.owner?.id !== ownerId) return false;
      run.status = status;
      run.finishedAt = at;
      delete run.owner;
      return true;
    },
    async getRun(runId) {
      const run = runs.get(runId);
      return run ? view(run) : undefined;
    },
    async findRuns(prefix, limit = 10) {
      return newest()
        .filter((r) => r.runId.startsWith(prefix))
        .slice(0, limit)
        .map(view);
    },
    async listRuns(options: ListRunsOptions = {}) {
      return newest()
        .filter((r) => options.status === undefined || r.status === options.status)
        .slice(0, options.limit ?? 50)
        .map(view);
    },
    async *changes(runId: string, query: ChangesQuery = {}) {
      let n = 0;
      for (const c of get(runId).changes) {
        if (query.afterSeq !== undefined && c.seq <= query.afterSeq) continue;
        if (query.status && !query.status.includes(c.status)) continue;
        if (query.limit !== undefined && n++ >= query.limit) return;
        yield structuredClone(c);
      }
    },
    async close() {},
  };
}
