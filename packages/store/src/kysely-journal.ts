import {
  NewRunSchema,
  PlanAlreadyRunError,
  RunNotFoundError,
  RunOptionsSchema,
  emptyCounts,
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
} from "@mfactl/core";
import type { Insertable, Kysely, Selectable, Updateable } from "kysely";
import type { StoreDatabase } from "./kysely-database.js";
import type { ChangesTable, JournalTables, RunsTable } from "./schema.js";

export type { JournalDialect } from "./kysely-database.js";

/** Rows per page when streaming changes: memory stays flat however large the run. */
const PAGE_SIZE = 1000;
/** Columns createRun writes per change; the chunk size follows from the parameter limit. */
const CHANGE_INSERT_COLUMNS = 9;
const IN_LIST_CHUNK = 500;

/**
 * A `JournalStore` over any Kysely database with the journal's tables. Queries are plain SQL that
 * SQLite and PostgreSQL both run (ON CONFLICT DO NOTHING, substr, IS NULL); what differs lives in
 * the dialect.
 */
export function kyselyJournal(database: StoreDatabase): JournalStore {
  const { db, dialect, location, guard } = database;

  const notFound = (runId: string) => new RunNotFoundError(`No run ${runId} in the journal ${location}.`, { runId });

  async function requireRun(q: Kysely<JournalTables>, runId: string): Promise<void> {
    const row = await q.selectFrom("runs").select("run_id").where("run_id", "=", runId).executeTakeFirst();
    if (!row) throw notFound(runId);
  }

  /** The run's owner, read with a share lock where the database has row locks: until the transaction ends no claimRun can change it. */
  async function lockedOwner(q: Kysely<JournalTables>, runId: string): Promise<{ owner_id: string | null } | undefined> {
    const select = q.selectFrom("runs").select("owner_id").where("run_id", "=", runId);
    return (dialect.rowLocks ? select.forShare() : select).executeTakeFirst();
  }

  /**
   * Updates change `seq` of `runId` with `set` only while it is unsettled and `ownerId` owns the
   * run, atomically: no claimRun (a takeover) can commit between the owner check and the write.
   *
   * The fast path is one UPDATE whose WHERE checks both. On SQLite a statement runs under the
   * database's write lock, which is enough. On PostgreSQL under READ COMMITTED a plain EXISTS
   * reads a snapshot without locking: a claimRun could commit after it and before this UPDATE
   * commits, and the new owner, reading the change as still pending, would send it a second
   * time. So there the EXISTS takes FOR SHARE on the run row: claimRun's UPDATE of that row waits
   * until this statement's transaction ends, and if a claimRun committed first, the lock waits
   * for it and re-checks the row's new version (owner_id no longer matches: nothing written).
   * FOR SHARE rather than FOR UPDATE: writes of one owner to different changes do not queue.
   *
   * When the UPDATE touches no row, a write transaction finds out why, in the contract's order
   * (existence, owner, status), with the owner held by `lockedOwner`, and tries once more: the
   * change may have been begun or the run claimed in between.
   */
  function ownerCheckedChange(runId: string, seq: number, ownerId: string, set: Updateable<ChangesTable>, settled: (status: string) => string): Promise<boolean> {
    const update = async (q: Kysely<JournalTables>): Promise<boolean> => {
      const result = await q
        .updateTable("changes")
        .set(set)
        .where("run_id", "=", runId)
        .where("seq", "=", seq)
        .where("status", "in", ["pending", "inFlight"])
        .where((eb) => {
          const owned = eb.selectFrom("runs").select(eb.lit(1).as("owned")).where("runs.run_id", "=", runId).where("runs.owner_id", "=", ownerId);
          return eb.exists(dialect.rowLocks ? owned.forShare() : owned);
        })
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    };
    return guard(async () => {
      if (await update(db)) return true;
      return dialect.write(async (trx) => {
        const run = await lockedOwner(trx, runId);
        if (!run) throw notFound(runId);
        const read = () => trx.selectFrom("changes").select("status").where("run_id", "=", runId).where("seq", "=", seq).executeTakeFirst();
        const row = await read();
        if (!row) throw new RunNotFoundError(`Run ${runId} has no change ${seq} in the journal ${location}.`, { runId });
        if (run.owner_id !== ownerId) return false;
        if (await update(trx)) return true;
        // The owner is locked and ours: only a settlement (by this owner) stops the update.
        throw new Error(settled((await read())?.status ?? row.status));
      });
    });
  }

  async function countsOf(q: Kysely<JournalTables>, runIds: readonly string[]): Promise<Map<string, RunCounts>> {
    const byRun = new Map<string, RunCounts>(runIds.map((id) => [id, emptyCounts()]));
    for (let i = 0; i < runIds.length; i += IN_LIST_CHUNK) {
      const rows = await q
        .selectFrom("changes")
        .select(["run_id", "status", (eb) => eb.fn.countAll().as("n")])
        .where("run_id", "in", runIds.slice(i, i + IN_LIST_CHUNK))
        .groupBy(["run_id", "status"])
        .execute();
      for (const row of rows) {
        const counts = byRun.get(row.run_id);
        // PostgreSQL returns count(*) as a string (bigint).
        if (counts && row.status in counts) counts[row.status] = Number(row.n);
      }
    }
    return byRun;
  }

  async function withCounts(q: Kysely<JournalTables>, rows: readonly Selectable<RunsTable>[]): Promise<RunRecord[]> {
    const counts = await countsOf(q, rows.map((r) => r.run_id));
    return rows.map((r) => toRunRecord(r, counts.get(r.run_id) ?? emptyCounts()));
  }

  async function loadRun(q: Kysely<JournalTables>, runId: string): Promise<RunRecord | undefined> {
    const row = await q.selectFrom("runs").selectAll().where("run_id", "=", runId).executeTakeFirst();
    if (!row) return undefined;
    const [record] = await withCounts(q, [row]);
    return record;
  }

  return {
    location,

    createRun(raw: NewRun, changes: readonly NewChange[]) {
      return guard(() => {
        const run = NewRunSchema.parse(raw);
        return dialect.write(async (trx) => {
          // Two processes racing on one plan: SQLite's write transaction runs them one after the
          // other; in PostgreSQL the second INSERT waits on the unique index for the first to
          // commit. Either way DO NOTHING then tells the loser without an error, which in
          // PostgreSQL would abort the whole transaction.
          const inserted = await trx.insertInto("runs").values(runRow(run)).onConflict((oc) => oc.doNothing()).executeTakeFirst();
          if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) {
            if (run.planId !== undefined) {
              const other = await trx.selectFrom("runs").select("run_id").where("plan_id", "=", run.planId).executeTakeFirst();
              if (other) throw new PlanAlreadyRunError(`Plan ${run.planId} is already carried out by run ${other.run_id}.`, { planId: run.planId, runId: other.run_id });
            }
            throw new Error(`Run ${run.runId} is already in the journal ${location}.`);
          }
          const chunk = Math.max(1, Math.floor(dialect.maxParameters / CHANGE_INSERT_COLUMNS));
          for (let start = 0; start < changes.length; start += chunk) {
            const rows = changes.slice(start, start + chunk).map((c, i) => changeRow(run.runId, start + i, c, run.startedAt));
            await trx.insertInto("changes").values(rows).execute();
          }
          const record = await loadRun(trx, run.runId);
          if (!record) throw new Error(`Run ${run.runId} vanished while it was created.`);
          return record;
        });
      });
    },

    claimRun(runId: string, newOwner: RunOwner, expectedOwnerId: string | undefined, at: string) {
      return guard(async () => {
        // Compare and swap in one statement: atomic across processes, whoever commits first wins.
        const update = db
          .updateTable("runs")
          .set({ owner_id: newOwner.id, owner_host: newOwner.host, owner_pid: newOwner.pid, heartbeat_at: at, status: "running", finished_at: null })
          .where("run_id", "=", runId);
        // "IS NULL" / "= ?" rather than SQLite's "IS ?", which PostgreSQL does not take.
        const result = await (expectedOwnerId === undefined ? update.where("owner_id", "is", null) : update.where("owner_id", "=", expectedOwnerId)).executeTakeFirst();
        if (result.numUpdatedRows > 0n) return true;
        await requireRun(db, runId);
        return false;
      });
    },

    heartbeat(runId: string, ownerId: string, at: string) {
      return guard(async () => {
        const result = await db.updateTable("runs").set({ heartbeat_at: at }).where("run_id", "=", runId).where("owner_id", "=", ownerId).executeTakeFirst();
        if (result.numUpdatedRows > 0n) return true;
        await requireRun(db, runId);
        return false;
      });
    },

    beginChange(runId: string, seq: number, ownerId: string, previousState: JournalChange["previousState"], at: string) {
      const set: Updateable<ChangesTable> = { status: "inFlight", sent_at: at, updated_at: at };
      if (previousState !== undefined) set.previous_state = previousState;
      return ownerCheckedChange(runId, seq, ownerId, set, (status) => `Change ${seq} of run ${runId} is already settled (${status}); it is not sent again.`);
    },

    settleChange(runId: string, seq: number, ownerId: string, s: ChangeSettlement) {
      const set: Updateable<ChangesTable> = { status: s.status, updated_at: s.at };
      if (s.previousState !== undefined) set.previous_state = s.previousState;
      if (s.perUserMfaState !== undefined) set.read_back_state = s.perUserMfaState;
      if (s.requestId !== undefined) set.request_id = s.requestId;
      if (s.error !== undefined) {
        set.error_code = s.error.code;
        set.error_message = s.error.message;
        set.error_http_status = s.error.httpStatus ?? null;
      }
      return ownerCheckedChange(runId, seq, ownerId, set, (status) => `Change ${seq} of run ${runId} is already settled (${status}); a change is settled once.`);
    },

    finishRun(runId: string, ownerId: string, status: Exclude<RunStatus, "running">, at: string) {
      return guard(async () => {
        // Compare and swap on the owner in one statement, like claimRun.
        const result = await db
          .updateTable("runs")
          .set({ status, finished_at: at, owner_id: null, owner_host: null, owner_pid: null })
          .where("run_id", "=", runId)
          .where("owner_id", "=", ownerId)
          .executeTakeFirst();
        if (result.numUpdatedRows > 0n) return true;
        await requireRun(db, runId);
        return false;
      });
    },

    getRun(runId: string) {
      return guard(() => dialect.read((q) => loadRun(q, runId)));
    },

    findRuns(prefix: string, limit = 10) {
      return guard(() =>
        dialect.read(async (q) => {
          // substr, not LIKE: LIKE is case-insensitive in SQLite and treats % and _ as wildcards.
          const length = [...prefix].length;
          const rows = await q
            .selectFrom("runs")
            .selectAll()
            .where((eb) => eb(eb.fn("substr", ["run_id", eb.val(1), eb.val(length)]), "=", prefix))
            .orderBy("started_at", "desc")
            .orderBy("run_id", "desc")
            .limit(sqlLimit(limit))
            .execute();
          return withCounts(q, rows);
        }),
      );
    },

    listRuns(options: ListRunsOptions = {}) {
      return guard(() =>
        dialect.read(async (q) => {
          let query = q.selectFrom("runs").selectAll();
          if (options.status !== undefined) query = query.where("status", "=", options.status);
          const rows = await query
            .orderBy("started_at", "desc")
            .orderBy("run_id", "desc")
            .limit(sqlLimit(options.limit ?? 50))
            .execute();
          return withCounts(q, rows);
        }),
      );
    },

    async *changes(runId: string, query: ChangesQuery = {}) {
      // Pages by seq rather than one open cursor: the connection is free between pages, so the
      // caller may write to the journal while it iterates.
      await guard(() => requireRun(db, runId));
      const statuses = query.status;
      let remaining = query.limit === undefined ? Infinity : Math.max(0, Math.floor(query.limit));
      if (statuses?.length === 0) return;
      let after = query.afterSeq ?? -1;
      while (remaining > 0) {
        const size = Math.min(PAGE_SIZE, remaining);
        const page = await guard(() => {
          let q = db.selectFrom("changes").selectAll().where("run_id", "=", runId).where("seq", ">", after);
          if (statuses) q = q.where("status", "in", [...statuses]);
          return q.orderBy("seq").limit(size).execute();
        });
        for (const row of page) yield toJournalChange(row);
        const last = page.at(-1);
        if (!last || page.length < size) return;
        after = last.seq;
        remaining -= page.length;
      }
    },

    close() {
      return database.close();
    },
  };
}

/** A limit as SQL takes it: a whole number, none for Infinity. */
function sqlLimit(limit: number): number {
  if (!Number.isFinite(limit)) return Number.MAX_SAFE_INTEGER;
  return Math.max(0, Math.floor(limit));
}

function runRow(run: ReturnType<typeof NewRunSchema.parse>): Insertable<RunsTable> {
  return {
    run_id: run.runId,
    kind: run.kind,
    actor: run.actor,
    host: run.host,
    started_at: run.startedAt,
    status: "running",
    plan_id: run.planId ?? null,
    undo_of: run.undoOf ?? null,
    description: run.description,
    options: JSON.stringify(run.options),
    owner_id: run.owner.id,
    owner_host: run.owner.host,
    owner_pid: run.owner.pid,
    // The creator is alive as it creates the run.
    heartbeat_at: run.startedAt,
  };
}

function changeRow(runId: string, seq: number, c: NewChange, at: string): Insertable<ChangesTable> {
  // Exactly CHANGE_INSERT_COLUMNS columns: every row of a multi-row insert has the same ones.
  return {
    run_id: runId,
    seq,
    tenant: c.tenant,
    user_id: c.id,
    user_principal_name: c.userPrincipalName,
    expected_state: c.expectedState ?? null,
    requested_state: c.requestedState,
    status: "pending",
    updated_at: at,
  };
}

function toRunRecord(r: Selectable<RunsTable>, counts: RunCounts): RunRecord {
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  return {
    runId: r.run_id,
    kind: r.kind,
    actor: r.actor,
    host: r.host,
    startedAt: r.started_at,
    ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}),
    status: r.status,
    ...(r.plan_id !== null ? { planId: r.plan_id } : {}),
    ...(r.undo_of !== null ? { undoOf: r.undo_of } : {}),
    description: r.description,
    options: RunOptionsSchema.parse(JSON.parse(r.options)),
    ...(r.owner_id !== null ? { owner: { id: r.owner_id, host: r.owner_host ?? "", pid: r.owner_pid ?? 0 } } : {}),
    ...(r.heartbeat_at !== null ? { heartbeatAt: r.heartbeat_at } : {}),
    total,
    counts,
  };
}

function toJournalChange(r: Selectable<ChangesTable>): JournalChange {
  return {
    runId: r.run_id,
    seq: r.seq,
    tenant: r.tenant,
    id: r.user_id,
    userPrincipalName: r.user_principal_name,
    ...(r.expected_state !== null ? { expectedState: r.expected_state } : {}),
    ...(r.previous_state !== null ? { previousState: r.previous_state } : {}),
    requestedState: r.requested_state,
    ...(r.read_back_state !== null ? { perUserMfaState: r.read_back_state } : {}),
    status: r.status,
    ...(r.request_id !== null ? { requestId: r.request_id } : {}),
    ...(r.error_code !== null
      ? { error: { code: r.error_code, message: r.error_message ?? "", ...(r.error_http_status !== null ? { httpStatus: r.error_http_status } : {}) } }
      : {}),
    ...(r.sent_at !== null ? { sentAt: r.sent_at } : {}),
    updatedAt: r.updated_at,
  };
}
