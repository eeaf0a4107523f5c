import { JournalUnavailableError, MfactlError } from "@mfactl/core";
import type { Kysely } from "kysely";
import type { JournalTables, SqlKind } from "./schema.js";

/** What a SQL database brings to the store: its transactions and how its failures read. */
export interface JournalDialect {
  readonly kind: SqlKind;
  readonly location: string;
  /**
   * Whether `SELECT ... FOR SHARE` locks rows (PostgreSQL). False where `write` holds a lock on
   * the whole database from its start and a single statement runs alone (SQLite): there nothing
   * moves under a statement or a write transaction, and SQLite does not parse FOR SHARE anyway.
   */
  readonly rowLocks: boolean;
  /**
   * Runs `fn` in a read-write transaction. SQLite: holds the write lock from its start (one
   * writer at a time). PostgreSQL: READ COMMITTED; what must not move is locked row by row.
   */
  write<T>(fn: (db: Kysely<JournalTables>) => Promise<T>): Promise<T>;
  /** Runs `fn` on one consistent snapshot. */
  read<T>(fn: (db: Kysely<JournalTables>) => Promise<T>): Promise<T>;
  /** The administrator's version of a database failure; undefined when `error` is not one. */
  failure(error: unknown): JournalUnavailableError | undefined;
  /** Bound parameters per statement this database accepts. */
  readonly maxParameters: number;
  close(): Promise<void>;
}

/**
 * One open database shared by the journal and the access store: one `closed` state, one way to
 * report failures. Closing it through either (or through the store) closes it for both.
 */
export interface StoreDatabase {
  readonly db: Kysely<JournalTables>;
  readonly dialect: JournalDialect;
  readonly location: string;
  /** Every call: refuse after close, and turn database failures into JournalUnavailableError. */
  guard<T>(fn: () => Promise<T>): Promise<T>;
  /** Idempotent; later calls wait for the first. */
  close(): Promise<void>;
}

export function storeDatabase(db: Kysely<JournalTables>, dialect: JournalDialect): StoreDatabase {
  const location = dialect.location;
  let closing: Promise<void> | undefined;

  const closedError = (cause?: unknown) =>
    new JournalUnavailableError(`The journal database ${location} has been closed; nothing was changed. This is a bug in mfactl: please report it.`, { location }, { cause });

  return {
    db,
    dialect,
    location,
    async guard<T>(fn: () => Promise<T>): Promise<T> {
      if (closing) throw closedError();
      try {
        return await fn();
      } catch (error) {
        if (error instanceof MfactlError) throw error;
        if (closing) throw closedError(error);
        throw dialect.failure(error) ?? error;
      }
    },
    close() {
      closing ??= dialect.close();
      return closing;
    },
  };
}
