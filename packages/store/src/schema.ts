import type { JournalChangeStatus, MfaState, MfaStateRead, RunKind, RunStatus } from "@mfactl/core";
import type { Kysely } from "kysely";

/**
 * The journal's schema version, stored in `mfactl_meta`. Bump it with a new entry in `MIGRATIONS`;
 * a database with a higher version is refused (written by a newer mfactl).
 */
export const JOURNAL_SCHEMA_VERSION = 1;

/** Marks the database as an mfactl journal and holds its schema version. */
export interface MetaTable {
  key: string;
  value: string;
}

export interface RunsTable {
  run_id: string;
  kind: RunKind;
  actor: string;
  host: string;
  started_at: string;
  finished_at: string | null;
  status: RunStatus;
  plan_id: string | null;
  undo_of: string | null;
  description: string;
  /** RunOptions as JSON text. */
  options: string;
  owner_id: string | null;
  owner_host: string | null;
  owner_pid: number | null;
  heartbeat_at: string | null;
}

export interface ChangesTable {
  run_id: string;
  seq: number;
  tenant: string;
  user_id: string;
  user_principal_name: string;
  expected_state: MfaStateRead | null;
  previous_state: MfaStateRead | null;
  requested_state: MfaState;
  /** `perUserMfaState` of the change: the state read back. */
  read_back_state: MfaStateRead | null;
  status: JournalChangeStatus;
  request_id: string | null;
  error_code: string | null;
  error_message: string | null;
  error_http_status: number | null;
  sent_at: string | null;
  updated_at: string;
}

export interface JournalTables {
  mfactl_meta: MetaTable;
  runs: RunsTable;
  changes: ChangesTable;
}

export const META_SCHEMA_VERSION = "schema_version";

interface Migration {
  /** The schema version this migration produces. */
  version: number;
  up(db: Kysely<JournalTables>): Promise<void>;
}

/** Portable DDL (text and integer columns only) so a PostgreSQL store can run the same migrations. */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    async up(db) {
      await db.schema
        .createTable("mfactl_meta")
        .addColumn("key", "text", (c) => c.primaryKey())
        .addColumn("value", "text", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("runs")
        .addColumn("run_id", "text", (c) => c.primaryKey())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("actor", "text", (c) => c.notNull())
        .addColumn("host", "text", (c) => c.notNull())
        .addColumn("started_at", "text", (c) => c.notNull())
        .addColumn("finished_at", "text")
        .addColumn("status", "text", (c) => c.notNull())
        // NULLs are distinct in SQLite and PostgreSQL: runs without a plan do not collide.
        .addColumn("plan_id", "text", (c) => c.unique())
        .addColumn("undo_of", "text")
        .addColumn("description", "text", (c) => c.notNull())
        .addColumn("options", "text", (c) => c.notNull())
        .addColumn("owner_id", "text")
        .addColumn("owner_host", "text")
        .addColumn("owner_pid", "integer")
        .addColumn("heartbeat_at", "text")
        .execute();
      await db.schema.createIndex("runs_started_at").on("runs").columns(["started_at", "run_id"]).execute();
      await db.schema
        .createTable("changes")
        .addColumn("run_id", "text", (c) => c.notNull().references("runs.run_id"))
        .addColumn("seq", "integer", (c) => c.notNull())
        .addColumn("tenant", "text", (c) => c.notNull())
        .addColumn("user_id", "text", (c) => c.notNull())
        .addColumn("user_principal_name", "text", (c) => c.notNull())
        .addColumn("expected_state", "text")
        .addColumn("previous_state", "text")
        .addColumn("requested_state", "text", (c) => c.notNull())
        .addColumn("read_back_state", "text")
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("request_id", "text")
        .addColumn("error_code", "text")
        .addColumn("error_message", "text")
        .addColumn("error_http_status", "integer")
        .addColumn("sent_at", "text")
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint("changes_pk", ["run_id", "seq"])
        .execute();
      // Counts per run (GROUP BY status) and status-filtered reads stay on the index.
      await db.schema.createIndex("changes_run_status").on("changes").columns(["run_id", "status"]).execute();
    },
  },
];

/**
 * Brings a journal at schema version `from` (0: empty database) to `JOURNAL_SCHEMA_VERSION`.
 * The caller runs it inside a transaction that holds the write lock, having re-read `from` there.
 */
export async function migrate(db: Kysely<JournalTables>, from: number): Promise<void> {
  for (const migration of MIGRATIONS) if (migration.version > from) await migration.up(db);
  await db
    .insertInto("mfactl_meta")
    .values({ key: META_SCHEMA_VERSION, value: String(JOURNAL_SCHEMA_VERSION) })
    .onConflict((oc) => oc.column("key").doUpdateSet({ value: String(JOURNAL_SCHEMA_VERSION) }))
    .execute();
}
