import type { AuditOutcome, FireStatus, JournalChangeStatus, MfaState, MfaStateRead, RunKind, RunStatus } from "@mfactl/core";
import { sql, type ColumnType, type Generated, type Kysely } from "kysely";

/**
 * The journal's schema version, stored in `mfactl_meta`. Bump it with a new entry in `MIGRATIONS`;
 * a database with a higher version is refused (written by a newer mfactl).
 */
export const JOURNAL_SCHEMA_VERSION = 3;

/** Which SQL the migrations write where the two databases differ (an auto-increment key). */
export type SqlKind = "sqlite" | "postgres";

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

/** API keys (schema version 2). The key itself is never stored, only its SHA-256. */
export interface ApiKeysTable {
  key_id: string;
  name: string;
  hash: string;
  /** ApiScope[] as JSON text. */
  scopes: string;
  /** string[] as JSON text; NULL: every tenant (distinct from "[]": none). */
  tenants: string | null;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** The audit log (schema version 2). */
export interface AuditTable {
  /** Assigned by the database; PostgreSQL returns bigint as a string. */
  seq: Generated<number | string>;
  at: string;
  actor: string;
  action: string;
  outcome: AuditOutcome;
  tenant: string | null;
  target: string | null;
  run_id: string | null;
  request_id: string | null;
  detail: string | null;
}

/** PostgreSQL returns bigint as a string; written as a number. */
type BigintColumn = ColumnType<number | string, number, number>;
type NullableBigintColumn = ColumnType<number | string | null, number | null, number | null>;

/** Scheduled drift checks (schema version 3). */
export interface SchedulesTable {
  schedule_id: string;
  /** As given; `name_key` (lower case) is what is unique. */
  name: string;
  name_key: string;
  /** 0 or 1. */
  enabled: number;
  /** The ScheduleDefinition as JSON text (validated before it was written). */
  definition: string;
  created_at: string;
  updated_at: string;
  created_by: string;
}

/** One row per (schedule, period): a period fires once (schema version 3). */
export interface ScheduleFiresTable {
  schedule_id: string;
  period: string;
  started_at: string;
  finished_at: string | null;
  status: FireStatus;
  trigger: string;
  instance: string;
  job_id: string | null;
  /** JSON text. */
  result: string | null;
  /** `{ code, message }` as JSON text. */
  error: string | null;
}

/** The server's jobs with their leases (schema version 3). */
export interface JobsTable {
  job_id: string;
  type: string;
  status: string;
  actor: string;
  created_at: string;
  finished_at: string | null;
  run_id: string | null;
  /** JSON text, as are view and result. */
  input: string;
  view: string;
  result: string | null;
  lease_owner: string | null;
  /** Epoch ms. */
  lease_until: NullableBigintColumn;
  attempts: number;
}

/** Throttling budgets shared by the instances on one PostgreSQL database (schema version 3; unused on SQLite). */
export interface ThrottleBudgetsTable {
  key: string;
  taken: number;
  /** Epoch ms; 0 for none. */
  paused_until: BigintColumn;
  updated_at: string;
}

/** Every table of the store's database: the journal's, since version 2 access's, since version 3 schedules', jobs' and budgets'. */
export interface JournalTables {
  mfactl_meta: MetaTable;
  runs: RunsTable;
  changes: ChangesTable;
  api_keys: ApiKeysTable;
  audit: AuditTable;
  schedules: SchedulesTable;
  schedule_fires: ScheduleFiresTable;
  jobs: JobsTable;
  throttle_budgets: ThrottleBudgetsTable;
}

export const META_SCHEMA_VERSION = "schema_version";

interface Migration {
  /** The schema version this migration produces. */
  version: number;
  up(db: Kysely<JournalTables>, kind: SqlKind): Promise<void>;
}

/**
 * Portable DDL (text, integer, bigint and double precision columns, which both take) so SQLite and PostgreSQL run the same migrations;
 * where they cannot (the audit log's auto-increment key), `kind` says which SQL to write.
 * Released migrations never change: a new version is a new entry.
 */
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
  {
    version: 2,
    async up(db, kind) {
      await db.schema
        .createTable("api_keys")
        .addColumn("key_id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("hash", "text", (c) => c.notNull().unique())
        .addColumn("scopes", "text", (c) => c.notNull())
        .addColumn("tenants", "text")
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .addColumn("revoked_at", "text")
        .addColumn("last_used_at", "text")
        .execute();
      // A name is unique among live keys only: a revoked key's name may be given again. Both
      // databases take partial indexes, and createApiKey names this one as its conflict target.
      await db.schema.createIndex("api_keys_live_name").on("api_keys").column("name").unique().where(sql.ref("revoked_at"), "is", null).execute();
      await db.schema.createIndex("api_keys_created_at").on("api_keys").columns(["created_at", "key_id"]).execute();
      // The only column whose DDL differs: an increasing key assigned by the database.
      // SQLite's AUTOINCREMENT never reuses a seq, even after the newest row is deleted.
      const seq = kind === "sqlite" ? sql`seq integer primary key autoincrement` : sql`seq bigint generated always as identity primary key`;
      await sql`create table audit (
        ${seq},
        at text not null,
        actor text not null,
        action text not null,
        outcome text not null,
        tenant text,
        target text,
        run_id text,
        request_id text,
        detail text
      )`.execute(db);
      // Newest first is the primary key read backwards; the filters page on their own index.
      await db.schema.createIndex("audit_actor_seq").on("audit").columns(["actor", "seq"]).execute();
      await db.schema.createIndex("audit_tenant_seq").on("audit").columns(["tenant", "seq"]).execute();
      await db.schema.createIndex("audit_run_seq").on("audit").columns(["run_id", "seq"]).execute();
      await db.schema.createIndex("audit_action_seq").on("audit").columns(["action", "seq"]).execute();
    },
  },
  {
    version: 3,
    async up(db) {
      await db.schema
        .createTable("schedules")
        .addColumn("schedule_id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("name_key", "text", (c) => c.notNull())
        .addColumn("enabled", "integer", (c) => c.notNull())
        .addColumn("definition", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .addColumn("created_by", "text", (c) => c.notNull())
        .execute();
      // Named, so a rename onto a taken name is told from other failures, and createSchedule's ON CONFLICT targets it.
      await db.schema.createIndex("schedules_name_key").on("schedules").column("name_key").unique().execute();
      await db.schema
        .createTable("schedule_fires")
        // deleteSchedule removes the firings itself; the cascade is for anything else deleting a schedule.
        .addColumn("schedule_id", "text", (c) => c.notNull().references("schedules.schedule_id").onDelete("cascade"))
        .addColumn("period", "text", (c) => c.notNull())
        .addColumn("started_at", "text", (c) => c.notNull())
        .addColumn("finished_at", "text")
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("trigger", "text", (c) => c.notNull())
        .addColumn("instance", "text", (c) => c.notNull())
        .addColumn("job_id", "text")
        .addColumn("result", "text")
        .addColumn("error", "text")
        // claimFire's ON CONFLICT target: a period fires once.
        .addPrimaryKeyConstraint("schedule_fires_pk", ["schedule_id", "period"])
        .execute();
      await db.schema
        .createTable("jobs")
        .addColumn("job_id", "text", (c) => c.primaryKey())
        .addColumn("type", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("actor", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("finished_at", "text")
        .addColumn("run_id", "text")
        .addColumn("input", "text", (c) => c.notNull())
        .addColumn("view", "text", (c) => c.notNull())
        .addColumn("result", "text")
        .addColumn("lease_owner", "text")
        // bigint: epoch ms outgrow PostgreSQL's integer; SQLite reads it as its (64-bit) integer.
        .addColumn("lease_until", "bigint")
        .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      // orphanedJobs reads running jobs by lease; listJobs and pruneJobs read by age.
      await db.schema.createIndex("jobs_status_lease").on("jobs").columns(["status", "lease_until"]).execute();
      await db.schema.createIndex("jobs_created_at").on("jobs").columns(["created_at", "job_id"]).execute();
      // "double precision" is REAL in SQLite: the same DDL for both.
      await db.schema
        .createTable("throttle_budgets")
        .addColumn("key", "text", (c) => c.primaryKey())
        .addColumn("taken", "double precision", (c) => c.notNull())
        .addColumn("paused_until", "bigint", (c) => c.notNull())
        .addColumn("updated_at", "text", (c) => c.notNull())
        .execute();
    },
  },
];

/**
 * Brings a journal at schema version `from` (0: empty database) to `to` (tests make older
 * versions with it; everything else goes to `JOURNAL_SCHEMA_VERSION`). The caller runs it inside
 * a transaction that holds the migration lock, having re-read `from` there.
 */
export async function migrate(db: Kysely<JournalTables>, from: number, kind: SqlKind, to: number = JOURNAL_SCHEMA_VERSION): Promise<void> {
  if (!Number.isInteger(to) || to < 1 || to > JOURNAL_SCHEMA_VERSION) throw new RangeError(`no schema version ${to}`);
  for (const migration of MIGRATIONS) if (migration.version > from && migration.version <= to) await migration.up(db, kind);
  await db
    .insertInto("mfactl_meta")
    .values({ key: META_SCHEMA_VERSION, value: String(to) })
    .onConflict((oc) => oc.column("key").doUpdateSet({ value: String(to) }))
    .execute();
}
