import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ScheduleInputSchema } from "@mfactl/core";
import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { newApiKey } from "../../core/src/access/access-contract.test-helper.js";
import { at, newChanges, newRun, owner } from "../../core/src/journal/journal-contract.test-helper.js";
import { kyselyAccess } from "./kysely-access.js";
import { storeDatabase, type JournalDialect } from "./kysely-database.js";
import { kyselyJournal } from "./kysely-journal.js";
import type { MfactlStore } from "./mfactl-store.js";
import { openSqliteStore } from "./mfactl-store.js";
import { openPostgresStore } from "./postgres-store.js";
import { describePostgres } from "./postgres.test-helper.js";
import { JOURNAL_SCHEMA_VERSION, META_SCHEMA_VERSION, migrate, type JournalTables, type SqlKind } from "./schema.js";

const V3_TABLES = ["api_keys", "audit", "changes", "jobs", "mfactl_meta", "runs", "schedule_fires", "schedules", "throttle_budgets"];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What a version 2 mfactl wrote: a run with a settled change, an API key, an audit entry. */
async function writeVersionTwo(db: Kysely<JournalTables>, kind: SqlKind, location: string) {
  await db.transaction().execute((trx) => migrate(trx, 0, kind, 2));
  const dialect: JournalDialect = {
    kind,
    location,
    rowLocks: kind === "postgres",
    write: (fn) => db.transaction().execute(fn),
    read: (fn) => db.transaction().execute(fn),
    failure: () => undefined,
    maxParameters: 999,
    close: () => db.destroy(),
  };
  const database = storeDatabase(db, dialect);
  const journal = kyselyJournal(database);
  const access = kyselyAccess(database);
  await journal.createRun(newRun("old-1", { planId: "p1" }), newChanges(3));
  await journal.beginChange("old-1", 0, owner("alpha").id, "disabled", at(1));
  await journal.settleChange("old-1", 0, owner("alpha").id, { status: "changed", perUserMfaState: "enforced", requestId: "req-1", at: at(2) });
  const key = newApiKey("ops", 1);
  await access.createApiKey(key);
  await access.appendAudit({ at: at(3), actor: "apikey:ops", action: "mfa.set", outcome: "ok", tenant: "contoso.com" });
  const version = await db.selectFrom("mfactl_meta").select("value").where("key", "=", META_SCHEMA_VERSION).executeTakeFirstOrThrow();
  const before = { run: await journal.getRun("old-1"), keys: await access.listApiKeys(), audit: await access.listAudit() };
  await database.close();
  return { before, version: version.value, key };
}

/** The store, opened on the version 2 data: at version 3 now, the old data as it was, the new stores working. */
async function checkUpgraded(store: MfactlStore, before: Awaited<ReturnType<typeof writeVersionTwo>>["before"]) {
  expect(await store.journal.getRun("old-1")).toStrictEqual(before.run);
  expect(await store.access.listApiKeys()).toStrictEqual(before.keys);
  expect(await store.access.listAudit()).toStrictEqual(before.audit);
  const definition = ScheduleInputSchema.parse({ name: "nightly", cron: "0 3 * * *", policy: "version: 1" });
  await store.schedules.createSchedule({ ...definition, scheduleId: "s-1", createdAt: at(4), updatedAt: at(4), createdBy: "apikey:ops" });
  expect(await store.schedules.claimFire({ scheduleId: "s-1", period: at(5), startedAt: at(5), trigger: "scheduler", instance: "h:1" })).toBeDefined();
  await store.jobs.insertJob({ jobId: "j-1", type: "drift", status: "running", actor: "apikey:ops", createdAt: at(6), input: {}, view: {}, leaseOwner: "h:1", leaseUntil: 10, attempts: 1 });
  expect(await store.jobs.orphanedJobs(11)).toStrictEqual(["j-1"]);
}

describe("schema version 2 to 3 on SQLite", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "mfactl-migration-v3-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const tablesOf = (file: string) => {
    const raw = new Database(file, { readonly: true });
    try {
      const tables = raw.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name").pluck().all();
      return { tables, version: raw.prepare("select value from mfactl_meta where key = 'schema_version'").pluck().get() };
    } finally {
      raw.close();
    }
  };

  it("migrates on open: the old data stays, the new tables work", async () => {
    const file = path.join(dir, "v2.db");
    const raw = new Database(file);
    raw.pragma("journal_mode = WAL");
    const { before, version } = await writeVersionTwo(new Kysely<JournalTables>({ dialect: new SqliteDialect({ database: raw }) }), "sqlite", file);
    expect(version).toBe("2");
    expect(tablesOf(file)).toStrictEqual({ tables: ["api_keys", "audit", "changes", "mfactl_meta", "runs"], version: "2" });

    const store = await openSqliteStore(file);
    cleanups.push(() => store.close());
    expect(JOURNAL_SCHEMA_VERSION).toBe(3);
    expect(tablesOf(file)).toStrictEqual({ tables: V3_TABLES, version: "3" });
    await checkUpgraded(store, before);
    expect(store.budgets).toBeUndefined();
  });
});

describePostgres("schema version 2 to 3 on PostgreSQL", (pgt) => {
  it("migrates on open: the old data stays, the new tables work", async () => {
    const { schema, drop } = await pgt.freshSchema();
    cleanups.push(drop);
    const pool = new pg.Pool({ connectionString: pgt.url, max: 2, options: `-c search_path=${schema}` });
    const { before, version } = await writeVersionTwo(new Kysely<JournalTables>({ dialect: new PostgresDialect({ pool }) }), "postgres", schema);
    expect(version).toBe("2");

    const store = await openPostgresStore(pgt.url, { schema, poolSize: 2 });
    cleanups.push(() => store.close());
    const client = new pg.Client({ connectionString: pgt.url });
    await client.connect();
    cleanups.push(() => client.end());
    const tables = await client.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = $1 order by 1", [schema]);
    expect(tables.rows.map((r) => r.table_name)).toStrictEqual(V3_TABLES);
    const meta = await client.query(`select value from "${schema}".mfactl_meta where key = 'schema_version'`);
    expect(meta.rows).toStrictEqual([{ value: "3" }]);
    await checkUpgraded(store, before);
    expect(await store.budgets?.exchange("k", 1, 0)).toStrictEqual({ totalTaken: 1, pausedUntil: 0 });
  });
});
