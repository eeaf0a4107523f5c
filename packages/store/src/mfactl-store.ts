import type { AccessStore, JournalStore } from "@mfactl/core";
import { kyselyAccess } from "./kysely-access.js";
import type { StoreDatabase } from "./kysely-database.js";
import { kyselyJournal } from "./kysely-journal.js";
import { openSqliteDatabase, type SqliteJournalOptions } from "./sqlite-journal.js";

/**
 * Everything mfactl keeps, in one database: the journal (runs and changes) and access (API keys,
 * audit log). `journal.close()` and `close()` both close the database; either may be called,
 * both, or one twice. After that every call fails with `JournalUnavailableError`.
 */
export interface MfactlStore {
  /** The file, or the PostgreSQL URL without its password (and the schema, when one was given). */
  readonly location: string;
  readonly kind: "sqlite" | "postgres";
  journal: JournalStore;
  access: AccessStore;
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
