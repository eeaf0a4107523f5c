import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { JournalUnavailableError, type JournalChange, type JournalStore } from "@mfactl/core";
import Database from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { describeAccessContract, newApiKey } from "../../core/src/access/access-contract.test-helper.js";
import { at, newChanges, newRun, owner } from "../../core/src/journal/journal-contract.test-helper.js";
import { storeDatabase, type JournalDialect } from "./kysely-database.js";
import { kyselyJournal } from "./kysely-journal.js";
import { openSqliteStore, type MfactlStore } from "./mfactl-store.js";
import { openStore } from "./open-store.js";
import { JOURNAL_SCHEMA_VERSION, migrate, type JournalTables } from "./schema.js";
import { openSqliteJournal } from "./sqlite-journal.js";

const dir = mkdtempSync(path.join(tmpdir(), "mfactl-sqlite-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const dbPath = (name = "store") => path.join(dir, `${name}-${n++}.db`);

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close().catch(() => undefined);
});
async function open(file: string, options?: Parameters<typeof openSqliteStore>[1]): Promise<MfactlStore> {
  const store = await openSqliteStore(file, options);
  opened.push(store);
  return store;
}
async function all(iterable: AsyncIterable<JournalChange>): Promise<JournalChange[]> {
  const out: JournalChange[] = [];
  for await (const c of iterable) out.push(c);
  return out;
}
async function unavailable(promise: Promise<unknown>): Promise<JournalUnavailableError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(JournalUnavailableError);
  return error as JournalUnavailableError;
}

describeAccessContract("openSqliteStore (temporary file)", () => openSqliteStore(dbPath("access-contract")));

/** A journal as mfactl with schema version 1 wrote it: the version 1 migration only, and the journal over it. */
async function versionOneJournal(file: string): Promise<JournalStore> {
  const raw = new Database(file);
  raw.pragma("journal_mode = WAL");
  const db = new Kysely<JournalTables>({ dialect: new SqliteDialect({ database: raw }) });
  await db.transaction().execute((trx) => migrate(trx, 0, "sqlite", 1));
  const dialect: JournalDialect = {
    kind: "sqlite",
    location: file,
    rowLocks: false,
    write: (fn) => db.transaction().execute(fn),
    read: (fn) => db.transaction().execute(fn),
    failure: () => undefined,
    maxParameters: 999,
    close: () => db.destroy(),
  };
  return kyselyJournal(storeDatabase(db, dialect));
}

function tablesOf(file: string): { tables: string[]; version: unknown } {
  const raw = new Database(file, { readonly: true });
  try {
    const tables = raw.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name").pluck().all() as string[];
    return { tables, version: raw.prepare("select value from mfactl_meta where key = 'schema_version'").pluck().get() };
  } finally {
    raw.close();
  }
}

describe("schema version 1 to the current one", () => {
  it("migrates a version 1 journal in place: its runs stay as they were, and the API keys and audit log work", async () => {
    const file = dbPath("v1");
    const v1 = await versionOneJournal(file);
    await v1.createRun(newRun("old-1", { planId: "p1", description: "before the upgrade" }), newChanges(5));
    await v1.beginChange("old-1", 0, owner("alpha").id, "disabled", at(1));
    await v1.settleChange("old-1", 0, owner("alpha").id, { status: "changed", perUserMfaState: "enforced", requestId: "req-1", at: at(2) });
    await v1.finishRun("old-1", owner("alpha").id, "interrupted", at(3));
    await v1.createRun(newRun("old-2", { startedAt: at(4) }), newChanges(2));
    const runs = [await v1.getRun("old-1"), await v1.getRun("old-2")];
    const changes = await all(v1.changes("old-1"));
    await v1.close();
    expect(tablesOf(file)).toStrictEqual({ tables: ["changes", "mfactl_meta", "runs"], version: "1" });

    // A read-only open cannot migrate, and says so.
    expect((await unavailable(openSqliteStore(file, { readonly: true }))).message).toBe(
      `The journal database ${file} has schema version 1 and needs an upgrade to ${JOURNAL_SCHEMA_VERSION}, which a read-only open cannot do. Open it once read-write; nothing was changed.`,
    );

    const store = await open(file);
    expect(tablesOf(file)).toStrictEqual({
      tables: ["api_keys", "audit", "changes", "jobs", "mfactl_meta", "runs", "schedule_fires", "schedules", "throttle_budgets"],
      version: String(JOURNAL_SCHEMA_VERSION),
    });
    expect([await store.journal.getRun("old-1"), await store.journal.getRun("old-2")]).toStrictEqual(runs);
    expect(await all(store.journal.changes("old-1"))).toStrictEqual(changes);
    await expect(store.journal.createRun(newRun("new", { planId: "p1" }), [])).rejects.toMatchObject({ name: "PlanAlreadyRunError", runId: "old-1" });
    expect(await store.journal.claimRun("old-1", owner("beta"), undefined, at(10))).toBe(true);
    const key = newApiKey("ops", 1);
    await store.access.createApiKey(key);
    const entry = await store.access.appendAudit({ at: at(11), actor: "cli:admin@pc", action: "apikey.create", outcome: "ok", target: key.keyId });
    await store.close();

    // Reopened (as the journal only, then as the store): everything is there, nothing migrates again.
    const journal = await openSqliteJournal(file);
    expect((await journal.getRun("old-1"))?.owner).toStrictEqual(owner("beta"));
    await journal.close();
    const again = await open(file);
    expect((await again.access.findApiKeyByHash(key.hash))?.name).toBe("ops");
    expect(await again.access.listAudit()).toStrictEqual([entry]);
    expect((await again.journal.listRuns()).map((r) => r.runId)).toStrictEqual(["old-2", "old-1"]);
  });
});

describe("openSqliteStore", () => {
  it("is one database for the journal and access, and names it", async () => {
    const file = dbPath();
    const store = await open(file);
    expect(store.kind).toBe("sqlite");
    expect(store.location).toBe(file);
    expect(store.journal.location).toBe(file);
    await store.ping();
    await store.journal.createRun(newRun("r1"), newChanges(2));
    await store.access.createApiKey(newApiKey("ops", 1));
    await store.close();
    const again = await open(file);
    expect((await again.journal.getRun("r1"))?.total).toBe(2);
    expect(await again.access.listApiKeys()).toHaveLength(1);
  });

  it("closes once, through the store or its journal: later calls fail with JournalUnavailableError", async () => {
    const file = dbPath();
    const store = await openSqliteStore(file);
    await store.journal.close();
    await store.close();
    await store.journal.close();
    await store.close();
    const message = `The journal database ${file} has been closed; nothing was changed. This is a bug in mfactl: please report it.`;
    expect((await unavailable(store.access.listApiKeys())).message).toBe(message);
    expect((await unavailable(store.access.appendAudit({ at: at(1), actor: "a", action: "b", outcome: "ok" }))).message).toBe(message);
    expect((await unavailable(store.journal.listRuns())).message).toBe(message);
    expect((await unavailable(store.ping())).message).toBe(message);
  });

  it("read-only: reads access and refuses to write it", async () => {
    const file = dbPath();
    const writer = await open(file);
    await writer.access.createApiKey(newApiKey("ops", 1));
    await writer.close();
    const reader = await open(file, { readonly: true });
    expect(await reader.access.listApiKeys()).toHaveLength(1);
    expect((await unavailable(reader.access.createApiKey(newApiKey("other", 2)))).message).toBe(`The journal database ${file} was opened read-only; nothing was written.`);
    await unavailable(reader.access.appendAudit({ at: at(1), actor: "a", action: "b", outcome: "ok" }));
  });
});

describe("openStore", () => {
  it("opens SQLite for a path, relative or absolute", async () => {
    const file = dbPath("spec");
    const store = await openStore(file);
    opened.push(store);
    expect(store.kind).toBe("sqlite");
    const relative = path.relative(process.cwd(), dbPath("relative"));
    const second = await openStore(relative, { busyTimeoutMs: 100, schema: "ignored-by-sqlite" });
    opened.push(second);
    expect(second).toMatchObject({ kind: "sqlite", location: path.resolve(relative) });
  });

  it("takes postgres:// and postgresql:// URLs for PostgreSQL", async () => {
    for (const scheme of ["postgres", "postgresql", "POSTGRES"]) {
      // Port 1: nobody listens, so the attempt fails at once and says it was PostgreSQL.
      const error = await unavailable(openStore(`${scheme}://mfactl:pw@127.0.0.1:1/mfactl_test`));
      expect(error.message).toContain("Cannot connect to the PostgreSQL database mfactl_test on 127.0.0.1:1");
    }
  });
});
