import { JournalUnavailableError, MfactlError } from "@mfactl/core";
import { CompiledQuery, Kysely, PostgresDialect, sql, type DatabaseConnection } from "kysely";
import pg from "pg";
import { storeDatabase, type JournalDialect, type StoreDatabase } from "./kysely-database.js";
import { mfactlStore, type MfactlStore } from "./mfactl-store.js";
import { postgresFailure, postgresTarget, type PostgresTarget } from "./postgres-errors.js";
import { JOURNAL_SCHEMA_VERSION, META_SCHEMA_VERSION, migrate, type JournalTables } from "./schema.js";

export interface PostgresStoreOptions {
  /**
   * The PostgreSQL schema holding mfactl's tables, created when missing (every connection's
   * search_path is set to it). Default: the connection's current schema, normally `public`.
   */
  schema?: string | undefined;
  /** Connections in the pool (default 10). */
  poolSize?: number | undefined;
  /** How long to wait for a connection before failing (default 10,000 ms). */
  connectTimeoutMs?: number | undefined;
  /** Open for reading only: never creates or migrates the schema; every write fails. */
  readonly?: boolean | undefined;
}

/** PostgreSQL takes up to 65,535 bound parameters per statement. */
const POSTGRES_MAX_PARAMETERS = 65_535;
/** The first key of the advisory lock held while migrating ("mfac"); the second is the schema's hash. */
const MIGRATION_LOCK_CLASS = 0x6d666163;
/** Schema names this store takes: plain identifiers, so they need no care in messages or DDL. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Opens the store in the PostgreSQL database `url` names (`postgres://user:password@host:5432/db`;
 * `sslmode` and the other parameters pg reads may follow). Connects, checks and on first use
 * creates or migrates the schema before returning, so an unreachable server, a refused login,
 * a foreign or newer schema fails here with a `JournalUnavailableError` that names host, port and
 * database (never the password).
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<MfactlStore> {
  return mfactlStore(await openPostgresDatabase(url, options));
}

export async function openPostgresDatabase(url: string, options: PostgresStoreOptions = {}): Promise<StoreDatabase> {
  const poolSize = options.poolSize ?? 10;
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new RangeError(`poolSize must be a whole number of connections, at least 1, not ${poolSize}`);
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1) throw new RangeError(`connectTimeoutMs must be a whole number of milliseconds, not ${connectTimeoutMs}`);
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new RangeError(`schema must be a plain PostgreSQL identifier (letters, digits, _; at most 63), not ${JSON.stringify(options.schema)}`);
  }
  const readonly = options.readonly ?? false;
  const target = postgresTarget(url, { schema: options.schema, readonly, connectTimeoutMs });

  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: "mfactl",
    // A store nobody closed does not keep the process alive once its connections are idle.
    allowExitOnIdle: true,
  });
  // An idle connection that breaks (server restart) is dropped by the pool; the next query
  // reconnects or fails with its own error. Without a listener it would crash the process.
  pool.on("error", () => undefined);

  const setup: string[] = [];
  if (options.schema !== undefined) setup.push(`set search_path to "${options.schema}"`);
  if (readonly) setup.push("set default_transaction_read_only = on");
  const db = new Kysely<JournalTables>({
    dialect: new PostgresDialect({
      pool,
      onCreateConnection: async (connection: DatabaseConnection) => {
        for (const statement of setup) await connection.executeQuery(CompiledQuery.raw(statement));
      },
    }),
  });
  const dialect = postgresDialect(db, target);
  try {
    await prepareSchema(db, target, options.schema);
    return storeDatabase(db, dialect);
  } catch (error) {
    await db.destroy().catch(() => undefined);
    if (error instanceof MfactlError) throw error;
    throw (
      postgresFailure(error, target) ??
      new JournalUnavailableError(`Cannot open ${target.location} (${error instanceof Error ? error.message : String(error)}); nothing was changed.`, { location: target.location }, { cause: error })
    );
  }
}

function postgresDialect(db: Kysely<JournalTables>, target: PostgresTarget): JournalDialect {
  return {
    kind: "postgres",
    location: target.location,
    // READ COMMITTED, with row locks where a check must hold until the write (kysely-journal's
    // ownerCheckedChange); every other write is one statement whose WHERE PostgreSQL re-checks
    // on the newest row version, or an INSERT ... ON CONFLICT DO NOTHING on a unique index.
    rowLocks: true,
    write: (fn) => db.transaction().execute(fn),
    read: (fn) => db.transaction().setIsolationLevel("repeatable read").setAccessMode("read only").execute(fn),
    failure: (error) => postgresFailure(error, target),
    maxParameters: POSTGRES_MAX_PARAMETERS,
    close: () => db.destroy(),
  };
}

interface SchemaState {
  tables: string[];
  /** 0: an empty (or missing) schema; undefined: not an mfactl store. */
  version: number | undefined;
}

async function inspect(q: Kysely<JournalTables>, schema: string): Promise<SchemaState> {
  // Tables, views and foreign tables; not the sequences and indexes mfactl's own tables bring.
  const { rows } = await sql<{ name: string }>`
    select c.relname as name from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.relkind in ('r', 'p', 'v', 'm', 'f') order by c.relname`.execute(q);
  const tables = rows.map((r) => r.name);
  if (!tables.includes("mfactl_meta")) return { tables, version: tables.length === 0 ? 0 : undefined };
  const row = await q.selectFrom("mfactl_meta").select("value").where("key", "=", META_SCHEMA_VERSION).executeTakeFirst();
  const version = Number(row?.value);
  return { tables, version: Number.isInteger(version) && version >= 1 ? version : undefined };
}

function refuseUnknown(state: SchemaState, schema: string, t: PostgresTarget): number {
  if (state.version === undefined) {
    const shown = state.tables.slice(0, 5).join(", ") + (state.tables.length > 5 ? ", ..." : "");
    throw new JournalUnavailableError(
      `The schema ${schema} of the PostgreSQL database ${t.database} on ${t.host}:${t.port} holds tables of another application (${shown}), not an mfactl journal; nothing was changed. Give mfactl a schema of its own, or another database.`,
      { location: t.location },
    );
  }
  if (state.version > JOURNAL_SCHEMA_VERSION) {
    throw new JournalUnavailableError(
      `The journal database ${t.location} has schema version ${state.version}, written by a newer mfactl (this one knows version ${JOURNAL_SCHEMA_VERSION}); nothing was changed. Upgrade mfactl, or use another database or schema.`,
      { location: t.location },
    );
  }
  return state.version;
}

async function prepareSchema(db: Kysely<JournalTables>, t: PostgresTarget, wanted: string | undefined): Promise<void> {
  // The first statement: an unreachable server or a refused login fails here.
  const schema = wanted ?? (await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db)).rows[0]?.schema;
  if (schema === undefined || schema === null) {
    throw new JournalUnavailableError(
      `The PostgreSQL database ${t.database} on ${t.host}:${t.port} has no schema in this user's search_path to hold the journal; nothing was changed. Pass a schema, or create one.`,
      { location: t.location },
    );
  }
  const version = refuseUnknown(await inspect(db, schema), schema, t);
  if (version < JOURNAL_SCHEMA_VERSION) {
    if (t.readonly) {
      throw new JournalUnavailableError(
        version === 0
          ? `There is no journal in ${t.location} yet; nothing was changed.`
          : `The journal database ${t.location} has schema version ${version} and needs an upgrade to ${JOURNAL_SCHEMA_VERSION}, which a read-only open cannot do. Open it once read-write; nothing was changed.`,
        { location: t.location },
      );
    }
    // DDL is transactional in PostgreSQL: the whole migration commits or nothing does. The
    // advisory lock (per schema, released at commit) makes processes that start together
    // migrate one after the other; each looks again once it holds the lock.
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_CLASS}, hashtext(${schema}))`.execute(trx);
      if (wanted !== undefined) await sql`create schema if not exists ${sql.id(wanted)}`.execute(trx);
      const current = refuseUnknown(await inspect(trx, schema), schema, t);
      if (current < JOURNAL_SCHEMA_VERSION) await migrate(trx, current, "postgres");
    });
  }
  // Every table answers (and this user may read it) before anything is sent.
  for (const table of ["runs", "changes", "api_keys", "audit", "schedules", "schedule_fires", "jobs", "throttle_budgets"] as const) await db.selectFrom(table).select(sql.lit(1).as("one")).limit(1).execute();
}
