/**
 * PostgreSQL and store backends for tests, for every package (import it by relative path, e.g.
 * `../../store/src/postgres.test-helper.js`). The API, in full:
 *
 * - `postgresForTests()`: `{ url, freshSchema() }` when PostgreSQL tests should run, `{ skip }`
 *   (the reason) when they should be skipped. `freshSchema()` creates an empty schema of its own
 *   for one test and returns `{ schema, drop() }`; pass `{ schema }` to `openPostgresStore`.
 * - `describePostgres(name, (pg) => { ... })`: a `describe` that runs with `pg` as above, or is
 *   skipped with the reason printed once (console.warn).
 * - `storeBackendsForTests()`: `[{ name: "sqlite", open }, { name: "postgres", open, skip? }]`;
 *   each `open()` gives a fresh, empty, isolated `MfactlStore` (a temporary SQLite file; a new
 *   PostgreSQL schema) that its `close()` (or its journal's) removes. Run a suite on each:
 *   `for (const b of storeBackendsForTests()) describe.skipIf(b.skip !== undefined)(b.name, ...)`.
 *
 * The server is the one `MFACTL_TEST_POSTGRES_URL` names (postgres://user:password@host:port/db;
 * the user needs CREATE on the database). `bash .ci/postgres.sh` starts one on this machine and
 * prints the variable to export. Without it the PostgreSQL tests are skipped, except under
 * `MFACTL_E2E=1` (CI), where they fail instead: there a missing or unreachable server is an
 * error. A URL that is set but unreachable fails too (someone meant to test against it).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { beforeAll, describe, it } from "vitest";
import { openSqliteStore, type MfactlStore } from "./mfactl-store.js";
import { postgresTarget } from "./postgres-errors.js";
import { openPostgresStore } from "./postgres-store.js";

export const POSTGRES_URL_VARIABLE = "MFACTL_TEST_POSTGRES_URL";

export interface FreshSchema {
  /** A new, empty schema: `mfactl_t_<pid>_<n>_<random>`. */
  schema: string;
  /** Drops the schema and everything in it, as it is now; harmless when it is gone. */
  drop(): Promise<void>;
}

export interface PostgresForTests {
  url: string;
  freshSchema(): Promise<FreshSchema>;
}

export interface StoreBackendForTests {
  name: "sqlite" | "postgres";
  /** A fresh, empty store; closing it (or its journal) deletes it. */
  open(): Promise<MfactlStore>;
  /** Present when this backend's tests are to be skipped: why. */
  skip?: string;
}

const SKIP_REASON = `PostgreSQL tests skipped: ${POSTGRES_URL_VARIABLE} is not set (bash .ci/postgres.sh starts one)`;

const e2e = () => process.env.MFACTL_E2E === "1";
const configuredUrl = () => {
  const url = process.env[POSTGRES_URL_VARIABLE]?.trim();
  return url === undefined || url === "" ? undefined : url;
};

let adminPool: pg.Pool | undefined;
let schemas = 0;

/** The URL without its password, for messages. */
function shown(url: string): string {
  try {
    return postgresTarget(url, { readonly: false, connectTimeoutMs: 5000 }).location;
  } catch {
    return "(an invalid URL)";
  }
}

async function admin(url: string, statement: string): Promise<void> {
  if (!adminPool) {
    adminPool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5000, allowExitOnIdle: true, application_name: "mfactl-tests" });
    adminPool.on("error", () => undefined);
  }
  try {
    await adminPool.query(statement);
  } catch (error) {
    // Not the URL itself: it holds the password.
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`PostgreSQL for tests (${POSTGRES_URL_VARIABLE}=${shown(url)}) failed: ${reason}. Is it running? bash .ci/postgres.sh starts one.`);
  }
}

function forUrl(url: string): PostgresForTests {
  return {
    url,
    async freshSchema() {
      const schema = `mfactl_t_${process.pid}_${schemas++}_${Math.random().toString(36).slice(2, 8)}`;
      await admin(url, `create schema "${schema}"`);
      // Not memoised: a test may drop the schema, let the store create it again, and drop it again.
      return { schema, drop: () => admin(url, `drop schema if exists "${schema}" cascade`) };
    },
  };
}

/** PostgreSQL for this test run, or why its tests are skipped; see the top of this file. */
export function postgresForTests(): PostgresForTests | { skip: string } {
  const url = configuredUrl();
  if (url !== undefined) return forUrl(url);
  if (!e2e()) return { skip: SKIP_REASON };
  const missing = `MFACTL_E2E=1 but ${POSTGRES_URL_VARIABLE} is not set: the PostgreSQL tests must run here (bash .ci/postgres.sh starts a server and prints the variable).`;
  return {
    url: "",
    freshSchema: () => Promise.reject(new Error(missing)),
  };
}

let warned = false;
function warnSkipped(reason: string): void {
  if (warned) return;
  warned = true;
  console.warn(reason);
}

/** `describe(name, ...)` with PostgreSQL, or skipped with the reason printed once; under MFACTL_E2E=1 it fails instead. */
export function describePostgres(name: string, fn: (pg: PostgresForTests) => void): void {
  const pg = postgresForTests();
  if (!("skip" in pg) && pg.url === "") {
    // MFACTL_E2E=1 without a server: a failing test, not a skipped suite.
    describe(name, () => {
      it("needs PostgreSQL (MFACTL_E2E=1)", async () => {
        await pg.freshSchema();
      });
    });
    return;
  }
  if ("skip" in pg) {
    warnSkipped(pg.skip);
    // Deliberate: no PostgreSQL on this machine and not CI, so the suite is reported as skipped (the reason is
    // printed above), as the guide asks of heavy suites; under MFACTL_E2E=1 the branch above fails instead.
    describe.skip(name, () => {
      it("needs PostgreSQL", () => undefined);
    });
    return;
  }
  describe(name, () => {
    // One clear failure for an absent or unreachable server, rather than one per test only.
    beforeAll(async () => {
      const { drop } = await pg.freshSchema();
      await drop();
    });
    fn(pg);
  });
}

/** `store` whose close (and its journal's) also runs `cleanup`, once. */
function cleaningUp(store: MfactlStore, cleanup: () => Promise<void> | void): MfactlStore {
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      try {
        await store.close();
      } finally {
        await cleanup();
      }
    })());
  return { ...store, journal: { ...store.journal, close }, close };
}

/**
 * PostgreSQL for a server running as one of a cluster: a fresh store as `storeBackendsForTests()`'s, and
 * for it `clusterOf(store)`, pg-boss's connection and schema (`<the store's schema>_queue`, dropped
 * with the store).
 */
export function clusterBackendForTests(): StoreBackendForTests & { clusterOf(store: MfactlStore): { connectionString: string; queueSchema: string } } {
  const pgForTests = postgresForTests();
  const clusters = new WeakMap<object, { connectionString: string; queueSchema: string }>();
  if ("skip" in pgForTests) {
    warnSkipped(pgForTests.skip);
    return { name: "postgres", open: () => Promise.reject(new Error(pgForTests.skip)), skip: pgForTests.skip, clusterOf: () => ({ connectionString: "", queueSchema: "" }) };
  }
  return {
    name: "postgres",
    async open() {
      const { schema, drop } = await pgForTests.freshSchema();
      const queueSchema = `${schema}_queue`;
      const dropBoth = async () => {
        await admin(pgForTests.url, `drop schema if exists "${queueSchema}" cascade`);
        await drop();
      };
      try {
        const store = cleaningUp(await openPostgresStore(pgForTests.url, { schema, poolSize: 4 }), dropBoth);
        clusters.set(store, { connectionString: pgForTests.url, queueSchema });
        return store;
      } catch (error) {
        await dropBoth();
        throw error;
      }
    },
    clusterOf(store) {
      const c = clusters.get(store);
      if (!c) throw new Error("clusterOf: not a store this backend opened");
      return c;
    },
  };
}

let sqliteDir: string | undefined;
let sqliteFiles = 0;

/** Both backends, for suites that run on each; see the top of this file. */
export function storeBackendsForTests(): StoreBackendForTests[] {
  const sqlite: StoreBackendForTests = {
    name: "sqlite",
    async open() {
      if (sqliteDir === undefined) {
        const dir = mkdtempSync(path.join(tmpdir(), "mfactl-store-test-"));
        sqliteDir = dir;
        process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
      }
      const file = path.join(sqliteDir, `store-${sqliteFiles++}.db`);
      const store = await openSqliteStore(file);
      return cleaningUp(store, () => {
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
      });
    },
  };
  const pgForTests = postgresForTests();
  if ("skip" in pgForTests) {
    warnSkipped(pgForTests.skip);
    return [sqlite, { name: "postgres", open: () => Promise.reject(new Error(pgForTests.skip)), skip: pgForTests.skip }];
  }
  const postgres: StoreBackendForTests = {
    name: "postgres",
    async open() {
      const { schema, drop } = await pgForTests.freshSchema();
      try {
        return cleaningUp(await openPostgresStore(pgForTests.url, { schema, poolSize: 4 }), drop);
      } catch (error) {
        await drop();
        throw error;
      }
    },
  };
  return [sqlite, postgres];
}
