import { JournalUnavailableError } from "@mfactl/core";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { describeAccessContract, newApiKey } from "../../core/src/access/access-contract.test-helper.js";
import { at, describeJournalContract, newChanges, newRun, owner } from "../../core/src/journal/journal-contract.test-helper.js";
import type { MfactlStore } from "./mfactl-store.js";
import { openStore } from "./open-store.js";
import { openPostgresStore, type PostgresStoreOptions } from "./postgres-store.js";
import { describePostgres, storeBackendsForTests, type PostgresForTests } from "./postgres.test-helper.js";
import { JOURNAL_SCHEMA_VERSION } from "./schema.js";

const PASSWORD = "Sup3r-s3cret_pw";

/** Every message of `error` and of its causes, and its location. */
function texts(error: unknown): string[] {
  const out: string[] = [];
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    out.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    if (e instanceof AggregateError) out.push(...e.errors.map((x: unknown) => (x instanceof Error ? x.message : String(x))));
    if (e instanceof JournalUnavailableError) out.push(e.location);
  }
  return out;
}

/** The rejection of `promise`: a JournalUnavailableError without stack lines or the password anywhere. */
async function unavailable(promise: Promise<unknown>): Promise<JournalUnavailableError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(JournalUnavailableError);
  const e = error as JournalUnavailableError;
  expect(e.message).not.toMatch(/\n\s+at /);
  for (const text of texts(e)) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(encodeURIComponent(PASSWORD));
  }
  return e;
}

/** `url` with its user and password replaced. */
function withLogin(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

describe("openPostgresStore without a server", () => {
  it("a refused connection names host, port and database, and never the password", async () => {
    const error = await unavailable(openPostgresStore(`postgres://mfactl:${PASSWORD}@127.0.0.1:1/mfactl_test`));
    expect(error.message).toBe(
      "Cannot connect to the PostgreSQL database mfactl_test on 127.0.0.1:1: the connection was refused. Check that the server is running and listens on 127.0.0.1:1 (listen_addresses, port), or fix the URL; nothing was changed.",
    );
    expect(error.location).toBe("postgres://mfactl@127.0.0.1:1/mfactl_test");
    expect(error.cause).toBeDefined();
  });

  it("localhost (IPv6 and IPv4 tried) and a schema in the location", async () => {
    const error = await unavailable(openStore(`postgresql://mfactl:${PASSWORD}@localhost:1/db`, { schema: "tenant_a" }));
    expect(error.message).toContain("Cannot connect to the PostgreSQL database db on localhost:1: the connection was refused.");
    expect(error.location).toBe("postgres://mfactl@localhost:1/db (schema tenant_a)");
  });

  it("a URL that does not parse: no password, no cause that carries the URL", async () => {
    const error = await unavailable(openPostgresStore(`postgres://mfactl:${PASSWORD}@127.0.0.1:notaport/db`));
    expect(error.message).toContain("is not a valid URL");
    expect(error.cause).toBeUndefined();
  });

  it("refuses options it cannot take", async () => {
    const url = "postgres://u:p@127.0.0.1:1/db";
    const bad: PostgresStoreOptions[] = [{ schema: 'x"; drop table runs; --' }, { schema: "" }, { poolSize: 0 }, { poolSize: 1.5 }, { connectTimeoutMs: -1 }];
    for (const options of bad) await expect(openPostgresStore(url, options)).rejects.toBeInstanceOf(RangeError);
  });
});

const backends = storeBackendsForTests();
const postgresBackend = backends.find((b) => b.name === "postgres");
if (!postgresBackend) throw new Error("storeBackendsForTests() has no postgres backend");

describePostgres("PostgreSQL store", (pgt: PostgresForTests) => {
  describeJournalContract("openPostgresStore (fresh schema)", async () => (await postgresBackend.open()).journal);
  describeAccessContract("openPostgresStore (fresh schema)", () => postgresBackend.open());

  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });
  async function schema(): Promise<string> {
    const fresh = await pgt.freshSchema();
    cleanups.push(fresh.drop);
    return fresh.schema;
  }
  async function open(name: string, options: PostgresStoreOptions = {}, url = pgt.url): Promise<MfactlStore> {
    const store = await openPostgresStore(url, { schema: name, ...options });
    cleanups.push(() => store.close());
    return store;
  }
  /** A plain pg client with its search_path on `name`, for looking behind the store's back. */
  async function raw(name?: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: pgt.url });
    await client.connect();
    cleanups.push(() => client.end());
    if (name !== undefined) await client.query(`set search_path to "${name}"`);
    return client;
  }
  const tablesIn = async (client: pg.Client, name: string) =>
    (await client.query<{ table_name: string }>("select table_name from information_schema.tables where table_schema = $1 order by 1", [name])).rows.map((r) => r.table_name);

  describe("schema", () => {
    it("creates a missing schema and its tables there only, at the current version", async () => {
      const name = await schema();
      const client = await raw();
      await client.query(`drop schema "${name}"`);
      const store = await open(name);
      expect(store.kind).toBe("postgres");
      expect(store.location).toBe(`${new URL(pgt.url).protocol}//${new URL(pgt.url).username}@${new URL(pgt.url).host}${new URL(pgt.url).pathname} (schema ${name})`.replace(/^postgresql:/, "postgres:"));
      await store.ping();
      expect(await tablesIn(client, name)).toStrictEqual(["api_keys", "audit", "changes", "jobs", "mfactl_meta", "runs", "schedule_fires", "schedules", "throttle_budgets"]);
      const { rows } = await client.query(`select value from "${name}".mfactl_meta where key = 'schema_version'`);
      expect(rows).toStrictEqual([{ value: String(JOURNAL_SCHEMA_VERSION) }]);
    });

    it("keeps everything across close and reopen", async () => {
      const name = await schema();
      const first = await open(name);
      await first.journal.createRun(newRun("r1", { planId: "p1" }), newChanges(4));
      await first.journal.beginChange("r1", 0, owner("alpha").id, "disabled", at(1));
      await first.access.createApiKey(newApiKey("ops", 1, { tenants: [] }));
      const entry = await first.access.appendAudit({ at: at(2), actor: "apikey:ops", action: "mfa.set", outcome: "ok", tenant: "contoso.com" });
      const run = await first.journal.getRun("r1");
      await first.close();
      const second = await open(name);
      expect(await second.journal.getRun("r1")).toStrictEqual(run);
      expect((await second.access.listApiKeys())[0]?.tenants).toStrictEqual([]);
      expect(await second.access.listAudit()).toStrictEqual([entry]);
      // The audit seq goes on from where it was.
      expect((await second.access.appendAudit({ at: at(3), actor: "a", action: "b", outcome: "ok" })).seq).toBeGreaterThan(entry.seq);
    });

    it("without the schema option, uses the connection's current schema", async () => {
      const name = await schema();
      const url = new URL(pgt.url);
      url.searchParams.set("options", `-c search_path=${name}`);
      const store = await openPostgresStore(url.toString());
      cleanups.push(() => store.close());
      await store.journal.createRun(newRun("r1"), newChanges(1));
      expect(await tablesIn(await raw(), name)).toContain("runs");
    });

    it("processes opening one new schema at once migrate it once", async () => {
      const name = await schema();
      await (await raw()).query(`drop schema "${name}"`);
      const stores = await Promise.all(Array.from({ length: 6 }, () => openPostgresStore(pgt.url, { schema: name, poolSize: 1 })));
      for (const store of stores) cleanups.push(() => store.close());
      await stores[0]?.journal.createRun(newRun("r1"), newChanges(2));
      expect((await stores[5]?.journal.getRun("r1"))?.total).toBe(2);
    });

    it("refuses a schema with another application's tables, and leaves it untouched", async () => {
      const name = await schema();
      const client = await raw(name);
      await client.query("create table contacts (name text); create table notes (body text); insert into notes values ('keep')");
      const error = await unavailable(openPostgresStore(pgt.url, { schema: name }));
      expect(error.message).toContain(`The schema ${name} of the PostgreSQL database`);
      expect(error.message).toContain("holds tables of another application (contacts, notes), not an mfactl journal; nothing was changed.");
      expect(await tablesIn(client, name)).toStrictEqual(["contacts", "notes"]);
    });

    it("refuses a newer schema version, and one whose version is missing", async () => {
      const name = await schema();
      await (await open(name)).close();
      const client = await raw(name);
      await client.query("update mfactl_meta set value = $1 where key = 'schema_version'", [String(JOURNAL_SCHEMA_VERSION + 1)]);
      const newer = await unavailable(openPostgresStore(pgt.url, { schema: name }));
      expect(newer.message).toContain(`has schema version ${JOURNAL_SCHEMA_VERSION + 1}, written by a newer mfactl (this one knows version ${JOURNAL_SCHEMA_VERSION}); nothing was changed.`);
      await client.query("delete from mfactl_meta");
      expect((await unavailable(openPostgresStore(pgt.url, { schema: name }))).message).toContain("not an mfactl journal");
    });

    it("read-only: reads, never writes, never creates", async () => {
      const name = await schema();
      expect((await unavailable(openPostgresStore(pgt.url, { schema: name, readonly: true }))).message).toContain("There is no journal in");
      expect(await tablesIn(await raw(), name)).toStrictEqual([]);
      const writer = await open(name);
      await writer.journal.createRun(newRun("r1"), newChanges(2));
      await writer.close();
      const reader = await open(name, { readonly: true });
      expect((await reader.journal.getRun("r1"))?.total).toBe(2);
      const error = await unavailable(reader.journal.createRun(newRun("r2"), []));
      expect(error.message).toContain("was opened read-only; nothing was written.");
      await unavailable(reader.access.appendAudit({ at: at(1), actor: "a", action: "b", outcome: "ok" }));
    });
  });

  describe("logins", () => {
    it("a wrong password: refused, naming user, database, host and port, never the password", async () => {
      const url = withLogin(pgt.url, new URL(pgt.url).username, PASSWORD);
      const error = await unavailable(openPostgresStore(url, { schema: await schema() }));
      const u = new URL(pgt.url);
      expect(error.message).toBe(
        `The PostgreSQL server at ${u.hostname}:${u.port || 5432} refused the password of user ${decodeURIComponent(u.username)} for the database ${u.pathname.slice(1)}; nothing was changed. Check the user and password in the URL.`,
      );
    });

    it("a URL without a password where the server asks for one", async () => {
      const u = new URL(pgt.url);
      u.password = "";
      const previous = process.env.PGPASSWORD;
      delete process.env.PGPASSWORD;
      try {
        const error = await unavailable(openPostgresStore(u.toString()));
        expect(error.message).toContain(`asks for a password for user ${decodeURIComponent(u.username)}, and the URL has none`);
      } finally {
        if (previous !== undefined) process.env.PGPASSWORD = previous;
      }
    });

    it("an unknown user, an unknown database", async () => {
      await unavailable(openPostgresStore(withLogin(pgt.url, "no_such_user_x", PASSWORD)));
      const u = new URL(pgt.url);
      u.pathname = "/no_such_database_x";
      const error = await unavailable(openPostgresStore(u.toString()));
      expect(error.message).toContain(`There is no database no_such_database_x on the PostgreSQL server at ${u.hostname}:${u.port || 5432}`);
    });
  });

  describe("closing", () => {
    it("closes once, through the store or its journal: later calls fail with JournalUnavailableError", async () => {
      const name = await schema();
      const store = await openPostgresStore(pgt.url, { schema: name });
      await store.journal.createRun(newRun("r1"), newChanges(1));
      await Promise.all([store.close(), store.journal.close()]);
      await store.close();
      for (const call of [store.journal.getRun("r1"), store.access.listAudit(), store.ping()]) {
        expect((await unavailable(call)).message).toBe(`The journal database ${store.location} has been closed; nothing was changed. This is a bug in mfactl: please report it.`);
      }
    });
  });

  describe("owner-checked writes under READ COMMITTED", () => {
    /** Holds an uncommitted takeover of `r1` (beta) in another session; returns its commit. */
    async function pendingTakeover(name: string): Promise<{ commit(): Promise<void>; rollback(): Promise<void> }> {
      const client = await raw(name);
      await client.query("begin");
      const result = await client.query("update runs set owner_id = $1, owner_host = 'beta-host', owner_pid = 1 where run_id = 'r1'", [owner("beta").id]);
      expect(result.rowCount).toBe(1);
      return {
        commit: async () => void (await client.query("commit")),
        rollback: async () => void (await client.query("rollback")),
      };
    }
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    for (const write of ["beginChange", "settleChange"] as const) {
      it(`${write} waits for a takeover in progress and is refused once it commits`, async () => {
        const name = await schema();
        const store = await open(name);
        await store.journal.createRun(newRun("r1"), newChanges(2));
        const takeover = await pendingTakeover(name);
        let done = false;
        const alpha = owner("alpha").id;
        const attempt = (
          write === "beginChange" ? store.journal.beginChange("r1", 0, alpha, "disabled", at(1)) : store.journal.settleChange("r1", 0, alpha, { status: "changed", at: at(1) })
        ).finally(() => {
          done = true;
        });
        await sleep(300);
        // A plain EXISTS would have read the old owner from its snapshot and written by now.
        expect(done).toBe(false);
        await takeover.commit();
        expect(await attempt).toBe(false);
        const [first] = await (async () => {
          const out = [];
          for await (const c of store.journal.changes("r1")) out.push(c);
          return out;
        })();
        expect(first?.status).toBe("pending");
        expect((await store.journal.getRun("r1"))?.owner).toStrictEqual({ id: owner("beta").id, host: "beta-host", pid: 1 });
      });
    }

    it("beginChange goes through once a takeover in progress rolls back", async () => {
      const name = await schema();
      const store = await open(name);
      await store.journal.createRun(newRun("r1"), newChanges(1));
      const takeover = await pendingTakeover(name);
      const attempt = store.journal.beginChange("r1", 0, owner("alpha").id, "disabled", at(1));
      await sleep(200);
      await takeover.rollback();
      expect(await attempt).toBe(true);
    });
  });
});
