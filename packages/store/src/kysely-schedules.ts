import { ScheduleNameTakenError, type NewSchedule, type NewScheduleFire, type ScheduleDefinition, type ScheduleFire, type ScheduleRecord, type ScheduleStore } from "@mfactl/core";
import type { Insertable, Selectable } from "kysely";
import type { StoreDatabase } from "./kysely-database.js";
import type { ScheduleFiresTable, SchedulesTable } from "./schema.js";
import { isUniqueViolation } from "./unique-violation.js";

const DEFAULT_FIRES_LIMIT = 50;
const NAME_INDEX = "schedules_name_key";

/**
 * A `ScheduleStore` over the store's database (schema version 3: `schedules`, `schedule_fires`).
 * Correct on SQLite and on PostgreSQL under READ COMMITTED without row locks:
 * - a name is unique (case-insensitively) by the unique index on `name_key`: createSchedule names
 *   it as its ON CONFLICT target, a rename onto a taken name fails on it and is told apart;
 * - claimFire is one INSERT ... ON CONFLICT DO NOTHING on the (schedule_id, period) key: of
 *   claimers racing for a period the others wait for the first to commit (PostgreSQL) or run after
 *   it (SQLite's write lock), and insert nothing.
 */
export function kyselySchedules(database: StoreDatabase): ScheduleStore {
  const { db, dialect, location, guard } = database;

  const nameTaken = (name: string) =>
    new ScheduleNameTakenError(`A schedule named ${name} already exists (names compare without regard to case); choose another name or change that schedule.`);

  return {
    createSchedule(schedule: NewSchedule) {
      return guard(() =>
        dialect.write(async (trx) => {
          const { scheduleId, createdAt, updatedAt, createdBy, ...definition } = schedule;
          // A clear error for a caller's bug (ids are random), rather than a constraint failure.
          const same = await trx.selectFrom("schedules").select("schedule_id").where("schedule_id", "=", scheduleId).executeTakeFirst();
          if (same) throw new Error(`A schedule with the id ${scheduleId} is already in ${location}; nothing was stored.`);
          const row: Insertable<SchedulesTable> = {
            schedule_id: scheduleId,
            ...definitionColumns(definition),
            created_at: createdAt,
            updated_at: updatedAt,
            created_by: createdBy,
          };
          const inserted = await trx
            .insertInto("schedules")
            .values(row)
            .onConflict((oc) => oc.column("name_key").doNothing())
            .executeTakeFirst();
          if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) throw nameTaken(definition.name);
          return toSchedule(row as Selectable<SchedulesTable>);
        }),
      );
    },

    getSchedule(idOrName: string) {
      return guard(async () => {
        const row =
          (await db.selectFrom("schedules").selectAll().where("schedule_id", "=", idOrName).executeTakeFirst()) ??
          (await db.selectFrom("schedules").selectAll().where("name_key", "=", nameKey(idOrName)).executeTakeFirst());
        return row ? toSchedule(row) : undefined;
      });
    },

    listSchedules() {
      return guard(async () => {
        const rows = await db.selectFrom("schedules").selectAll().orderBy("name_key").orderBy("schedule_id").execute();
        return rows.map(toSchedule);
      });
    },

    replaceSchedule(scheduleId: string, definition: ScheduleDefinition, updatedAt: string) {
      return guard(async () => {
        try {
          const row = await db
            .updateTable("schedules")
            .set({ ...definitionColumns(definition), updated_at: updatedAt })
            .where("schedule_id", "=", scheduleId)
            .returningAll()
            .executeTakeFirst();
          return row ? toSchedule(row) : undefined;
        } catch (error) {
          // One statement, no transaction to abort: the unique index is the check, even against a racing create.
          if (isUniqueViolation(error, { table: "schedules", column: "name_key", index: NAME_INDEX })) throw nameTaken(definition.name);
          throw error;
        }
      });
    },

    deleteSchedule(scheduleId: string) {
      return guard(() =>
        dialect.write(async (trx) => {
          await trx.deleteFrom("schedule_fires").where("schedule_id", "=", scheduleId).execute();
          const deleted = await trx.deleteFrom("schedules").where("schedule_id", "=", scheduleId).executeTakeFirst();
          return deleted.numDeletedRows > 0n;
        }),
      );
    },

    claimFire(fire: NewScheduleFire) {
      return guard(async () => {
        // INSERT ... SELECT from the schedule's row: nothing is claimed for a schedule deleted meanwhile
        // (undefined, as for a period fired already) rather than failing on the foreign key. The WHERE
        // also keeps SQLite from reading ON CONFLICT as part of the SELECT.
        const row = await db
          .insertInto("schedule_fires")
          .columns(["schedule_id", "period", "started_at", "status", "trigger", "instance", "job_id"])
          .expression((eb) =>
            eb
              .selectFrom("schedules")
              .select([
                "schedules.schedule_id",
                eb.val(fire.period).as("period"),
                eb.val(fire.startedAt).as("started_at"),
                eb.val("running").as("status"),
                eb.val(fire.trigger).as("trigger"),
                eb.val(fire.instance).as("instance"),
                eb.val(fire.jobId ?? null).as("job_id"),
              ])
              .where("schedules.schedule_id", "=", fire.scheduleId),
          )
          .onConflict((oc) => oc.columns(["schedule_id", "period"]).doNothing())
          .returningAll()
          .executeTakeFirst();
        return row ? toFire(row) : undefined;
      });
    },

    setFireJob(scheduleId: string, period: string, jobId: string) {
      return guard(async () => {
        await db.updateTable("schedule_fires").set({ job_id: jobId }).where("schedule_id", "=", scheduleId).where("period", "=", period).execute();
      });
    },

    finishFire(scheduleId: string, period: string, end: { status: "succeeded" | "failed"; finishedAt: string; result?: unknown; error?: { code: string; message: string } | undefined }) {
      return guard(async () => {
        // Only a running firing: a late second end (an instance taken over) does not overwrite the first.
        await db
          .updateTable("schedule_fires")
          .set({
            status: end.status,
            finished_at: end.finishedAt,
            result: json(end.result),
            error: json(end.error),
          })
          .where("schedule_id", "=", scheduleId)
          .where("period", "=", period)
          .where("status", "=", "running")
          .execute();
      });
    },

    getFire(scheduleId: string, period: string) {
      return guard(async () => {
        const row = await db.selectFrom("schedule_fires").selectAll().where("schedule_id", "=", scheduleId).where("period", "=", period).executeTakeFirst();
        return row ? toFire(row) : undefined;
      });
    },

    listFires(scheduleId: string, options: { limit?: number; before?: string } = {}) {
      return guard(async () => {
        const limit = sqlLimit(options.limit ?? DEFAULT_FIRES_LIMIT);
        if (limit === 0) return [];
        let q = db.selectFrom("schedule_fires").selectAll().where("schedule_id", "=", scheduleId);
        if (options.before !== undefined) q = q.where("period", "<", options.before);
        const rows = await q.orderBy("period", "desc").limit(limit).execute();
        return rows.map(toFire);
      });
    },
  };
}

/** Names compare case-insensitively (they are ASCII: SCHEDULE_NAME). */
function nameKey(name: string): string {
  return name.toLowerCase();
}

function definitionColumns(given: ScheduleDefinition): Pick<SchedulesTable, "name" | "name_key" | "enabled" | "definition"> {
  // A whole ScheduleRecord is a ScheduleDefinition too: its own columns stay out of the JSON.
  const { scheduleId: _id, createdAt: _created, updatedAt: _updated, createdBy: _by, ...definition } = given as ScheduleDefinition & Partial<ScheduleRecord>;
  return { name: definition.name, name_key: nameKey(definition.name), enabled: definition.enabled ? 1 : 0, definition: JSON.stringify(definition) };
}

function toSchedule(r: Selectable<SchedulesTable>): ScheduleRecord {
  // Validated before it was written; the columns beside it are copies for the indexes.
  const definition = JSON.parse(r.definition) as ScheduleDefinition;
  return { ...definition, scheduleId: r.schedule_id, createdAt: r.created_at, updatedAt: r.updated_at, createdBy: r.created_by };
}

function toFire(r: Selectable<ScheduleFiresTable>): ScheduleFire {
  return {
    scheduleId: r.schedule_id,
    period: r.period,
    startedAt: r.started_at,
    ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}),
    status: r.status,
    trigger: r.trigger,
    instance: r.instance,
    ...(r.job_id !== null ? { jobId: r.job_id } : {}),
    ...(r.result !== null ? { result: JSON.parse(r.result) as unknown } : {}),
    ...(r.error !== null ? { error: JSON.parse(r.error) as { code: string; message: string } } : {}),
  };
}

/** JSON text, NULL for undefined. */
export function json(value: unknown): string | null {
  return value === undefined ? null : (JSON.stringify(value) ?? null);
}

/** A limit as SQL takes it: a whole number, none for Infinity. */
export function sqlLimit(limit: number, fallback = DEFAULT_FIRES_LIMIT): number {
  if (Number.isNaN(limit)) return fallback;
  if (!Number.isFinite(limit)) return limit > 0 ? Number.MAX_SAFE_INTEGER : 0;
  return Math.max(0, Math.floor(limit));
}
