import type { Insertable, Selectable, Updateable } from "kysely";
import type { JobRecordStore, JobRow } from "./job-records.js";
import type { StoreDatabase } from "./kysely-database.js";
import { json, sqlLimit } from "./kysely-schedules.js";
import type { JobsTable } from "./schema.js";

/** The status of a job not yet ended; any other ends it (and releases its lease). */
const RUNNING = "running";

/**
 * A `JobRecordStore` over the store's database (schema version 3: `jobs`). Every lease operation
 * is one conditional UPDATE: SQLite runs a statement under its write lock; PostgreSQL under READ
 * COMMITTED re-checks the WHERE on the newest row version once a concurrent writer commits, so of
 * two instances acquiring one expired lease exactly one gets a row back (compare and swap).
 */
export function kyselyJobs(database: StoreDatabase): JobRecordStore {
  const { db, location, guard } = database;

  return {
    insertJob(row: JobRow) {
      return guard(async () => {
        const inserted = await db.insertInto("jobs").values(jobRow(row)).onConflict((oc) => oc.column("job_id").doNothing()).executeTakeFirst();
        // Ids are random: a clear error for a caller's bug rather than a constraint failure.
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) throw new Error(`A job with the id ${row.jobId} is already in ${location}; nothing was stored.`);
      });
    },

    getJob(jobId: string) {
      return guard(async () => {
        const row = await db.selectFrom("jobs").selectAll().where("job_id", "=", jobId).executeTakeFirst();
        return row ? toJob(row) : undefined;
      });
    },

    listJobs(options: { limit?: number } = {}) {
      return guard(async () => {
        // No limit given: every job (pruneJobs keeps their number bounded).
        const limit = options.limit === undefined ? Number.MAX_SAFE_INTEGER : sqlLimit(options.limit, Number.MAX_SAFE_INTEGER);
        if (limit === 0) return [];
        const rows = await db.selectFrom("jobs").selectAll().orderBy("created_at", "desc").orderBy("job_id", "desc").limit(limit).execute();
        return rows.map(toJob);
      });
    },

    acquireLease(jobId: string, owner: string, now: number, leaseMs: number) {
      return guard(async () => {
        // SET reads the row as it was: the CASE sees the previous owner (NULL counts as a change).
        const row = await db
          .updateTable("jobs")
          .set((eb) => ({
            attempts: eb.case().when("lease_owner", "=", owner).then(eb.ref("attempts")).else(eb("attempts", "+", 1)).end(),
            lease_owner: owner,
            lease_until: epochMs(now + leaseMs),
          }))
          .where("job_id", "=", jobId)
          .where("status", "=", RUNNING)
          .where((eb) => eb.or([eb("lease_owner", "is", null), eb("lease_until", "is", null), eb("lease_until", "<", epochMs(now)), eb("lease_owner", "=", owner)]))
          .returningAll()
          .executeTakeFirst();
        return row ? toJob(row) : undefined;
      });
    },

    renewLease(jobId: string, owner: string, now: number, leaseMs: number) {
      return guard(async () => {
        const result = await db
          .updateTable("jobs")
          .set({ lease_until: epochMs(now + leaseMs) })
          .where("job_id", "=", jobId)
          .where("status", "=", RUNNING)
          .where("lease_owner", "=", owner)
          .executeTakeFirst();
        return result.numUpdatedRows > 0n;
      });
    },

    updateJob(jobId: string, owner: string, patch: { view?: unknown; status?: string; runId?: string; finishedAt?: string; result?: unknown }) {
      return guard(async () => {
        const set: Updateable<JobsTable> = {};
        if (patch.view !== undefined) set.view = JSON.stringify(patch.view);
        if (patch.runId !== undefined) set.run_id = patch.runId;
        if (patch.finishedAt !== undefined) set.finished_at = patch.finishedAt;
        if (patch.result !== undefined) set.result = json(patch.result);
        if (patch.status !== undefined) {
          set.status = patch.status;
          if (patch.status !== RUNNING) {
            set.lease_owner = null;
            set.lease_until = null;
          }
        }
        // Nothing to write: still says whether `owner` holds the lease.
        if (Object.keys(set).length === 0) set.lease_owner = owner;
        // lease_owner is NULL once the job ended: a job is ended once.
        const result = await db.updateTable("jobs").set(set).where("job_id", "=", jobId).where("lease_owner", "=", owner).executeTakeFirst();
        return result.numUpdatedRows > 0n;
      });
    },

    orphanedJobs(now: number) {
      return guard(async () => {
        const rows = await db
          .selectFrom("jobs")
          .select("job_id")
          .where("status", "=", RUNNING)
          .where("lease_until", "<", epochMs(now))
          .orderBy("created_at")
          .orderBy("job_id")
          .execute();
        return rows.map((r) => r.job_id);
      });
    },

    pruneJobs(keep: number) {
      return guard(async () => {
        const kept = sqlLimit(keep, 0);
        const result = await db
          .deleteFrom("jobs")
          .where("status", "<>", RUNNING)
          .where("job_id", "not in", (eb) =>
            eb.selectFrom("jobs").select("job_id").where("status", "<>", RUNNING).orderBy("created_at", "desc").orderBy("job_id", "desc").limit(kept),
          )
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    },
  };
}

/**
 * A whole number of ms, as the bigint column takes it (a simulated clock may give fractions):
 * rounded up, so `lease_until < epochMs(now)` is `lease_until < now` and a lease never shrinks.
 */
function epochMs(ms: number): number {
  return Math.ceil(ms);
}

function jobRow(j: JobRow): Insertable<JobsTable> {
  return {
    job_id: j.jobId,
    type: j.type,
    status: j.status,
    actor: j.actor,
    created_at: j.createdAt,
    finished_at: j.finishedAt ?? null,
    run_id: j.runId ?? null,
    input: json(j.input) ?? "null",
    view: json(j.view) ?? "null",
    result: json(j.result),
    lease_owner: j.leaseOwner ?? null,
    lease_until: j.leaseUntil === undefined ? null : epochMs(j.leaseUntil),
    attempts: j.attempts,
  };
}

function toJob(r: Selectable<JobsTable>): JobRow {
  return {
    jobId: r.job_id,
    type: r.type,
    status: r.status,
    actor: r.actor,
    createdAt: r.created_at,
    ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}),
    ...(r.run_id !== null ? { runId: r.run_id } : {}),
    input: JSON.parse(r.input) as unknown,
    view: JSON.parse(r.view) as unknown,
    ...(r.result !== null ? { result: JSON.parse(r.result) as unknown } : {}),
    ...(r.lease_owner !== null ? { leaseOwner: r.lease_owner } : {}),
    // PostgreSQL returns bigint as a string.
    ...(r.lease_until !== null ? { leaseUntil: Number(r.lease_until) } : {}),
    attempts: Number(r.attempts),
  };
}
