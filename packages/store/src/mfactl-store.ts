import type { AccessStore, JournalStore, ScheduleStore, SharedBudgetStore } from "@mfactl/core";
import type { JobRecordStore } from "./job-records.js";
import { kyselyAccess } from "./kysely-access.js";
import type { StoreDatabase } from "./kysely-database.js";
import { kyselyJobs } from "./kysely-jobs.js";
import { kyselyJournal } from "./kysely-journal.js";
import { kyselySchedules } from "./kysely-schedules.js";
import { postgresBudgets } from "./postgres-budgets.js";
import { openSqliteDatabase, type SqliteJournalOptions } from "./sqlite-journal.js";

/**
 * Everything mfactl keeps, in one database: the journal (runs and changes), access (API keys,
 * audit log), schedules and their firings, the server's jobs and, on PostgreSQL, the throttling
 * budgets its instances share. `journal.close()` and `close()` both close the database; either may be called,
 * both, or one twice. After that every call fails with `JournalUnavailableError`.
 */
export interface MfactlStore {
  /** The file, or the PostgreSQL URL without its password (and the schema, when one was given). */
  readonly location: string;
  readonly kind: "sqlite" | "postgres";
  journal: JournalStore;
  access: AccessStore;
  schedules: ScheduleStore;
  jobs: JobRecordStore;
  /** PostgreSQL only: the instances on one database share each tenant's budget. SQLite has one instance, nothing to share. */
  budgets?: SharedBudgetStore;
  /** Reads the database: resolves when it answers, else `JournalUnavailableError` (for health checks). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type SqliteStoreOptions = SqliteJournalOptions;

export function mfactlStore(database: StoreDatabase): MfactlStore {
  return {
    location: database.location,
    kind: database.dialect.kind,
    journal: kyselyJournal(database),
    access: kyselyAccess(database),
    schedules: kyselySchedules(database),
    jobs: kyselyJobs(database),
    ...(database.dialect.kind === "postgres" ? { budgets: postgresBudgets(database) } : {}),
    ping: () =>
      database.guard(async () => {
        await database.db.selectFrom("mfactl_meta").select("key").limit(1).execute();
      }),
    close: () => database.close(),
  };
}

/** The SQLite store at `file` (created on first use): see `openSqliteJournal`. */
export async function openSqliteStore(file: string, options: SqliteStoreOptions = {}): Promise<MfactlStore> {
  return mfactlStore(await openSqliteDatabase(file, options));
}
