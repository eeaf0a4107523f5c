import { JournalUnavailableError, type Clock } from "@mfactl/core";
import { afterEach, describe, expect, it } from "vitest";
import type { MfactlStore } from "./mfactl-store.js";
import { postgresBudgets } from "./postgres-budgets.js";
import { openPostgresDatabase, openPostgresStore } from "./postgres-store.js";
import { describePostgres, storeBackendsForTests } from "./postgres.test-helper.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const sqlite = storeBackendsForTests().find((b) => b.name === "sqlite");

describe("shared budgets on SQLite", () => {
  it("are not there: one instance has nothing to share", async () => {
    const store = await sqlite?.open();
    if (store) cleanups.push(() => store.close());
    expect(store?.kind).toBe("sqlite");
    expect(store).not.toHaveProperty("budgets");
  });
});

describePostgres("shared budgets on PostgreSQL", (pg) => {
  async function twoStores(): Promise<[MfactlStore, MfactlStore]> {
    const { schema, drop } = await pg.freshSchema();
    cleanups.push(drop);
    const a = await openPostgresStore(pg.url, { schema, poolSize: 4 });
    cleanups.push(() => a.close());
    const b = await openPostgresStore(pg.url, { schema, poolSize: 4 });
    cleanups.push(() => b.close());
    return [a, b];
  }

  it("adds up what each instance took, per key; the pause only rises", async () => {
    const [a, b] = await twoStores();
    const budgets = a.budgets;
    if (!budgets || !b.budgets) throw new Error("a PostgreSQL store has budgets");
    expect(await budgets.exchange("contoso.com/app/ru", 2.5, 0)).toStrictEqual({ totalTaken: 2.5, pausedUntil: 0 });
    expect(await b.budgets.exchange("contoso.com/app/ru", 1, 0)).toStrictEqual({ totalTaken: 3.5, pausedUntil: 0 });
    // Nothing taken: learns what the others took.
    expect(await budgets.exchange("contoso.com/app/ru", 0, 0)).toStrictEqual({ totalTaken: 3.5, pausedUntil: 0 });
    expect(await budgets.exchange("fabrikam.com/app/ru", 7, 0)).toStrictEqual({ totalTaken: 7, pausedUntil: 0 });

    const pause = 1_900_000_000_000;
    expect(await b.budgets.exchange("contoso.com/app/writes", 1, pause)).toStrictEqual({ totalTaken: 1, pausedUntil: pause });
    expect(await budgets.exchange("contoso.com/app/writes", 1, pause - 5000)).toStrictEqual({ totalTaken: 2, pausedUntil: pause });
    expect(await budgets.exchange("contoso.com/app/writes", 0, 0)).toStrictEqual({ totalTaken: 2, pausedUntil: pause });
    expect(await b.budgets.exchange("contoso.com/app/writes", 0, pause + 1)).toStrictEqual({ totalTaken: 2, pausedUntil: pause + 1 });
    expect(await budgets.exchange("contoso.com/app/ru", 0, 0)).toStrictEqual({ totalTaken: 3.5, pausedUntil: 0 });
  });

  it("two instances exchanging at once: the totals add up exactly, no update is lost", async () => {
    const [a, b] = await twoStores();
    const stores = [a.budgets, b.budgets];
    let sum = 0;
    const calls: Promise<{ totalTaken: number; pausedUntil: number }>[] = [];
    for (let i = 0; i < 200; i++) {
      const side = i % 2;
      // Multiples of 1/4: sums of them are exact in a double, so "exactly" can be asked for.
      const taken = ((i * 7) % 13) / 4;
      sum += taken;
      const budgets = stores[side];
      if (!budgets) throw new Error("a PostgreSQL store has budgets");
      calls.push(budgets.exchange("contoso.com/app/ru", taken, i === 150 ? 5_000 : i));
    }
    const results = await Promise.all(calls);
    expect(Math.max(...results.map((r) => r.totalTaken))).toBe(sum);
    expect(await a.budgets?.exchange("contoso.com/app/ru", 0, 0)).toStrictEqual({ totalTaken: sum, pausedUntil: 5_000 });
    // Every answer is a distinct state of the row: no two exchanges that took something saw the same total.
    const nonZero = results.filter((_, i) => (i * 7) % 13 !== 0).map((r) => r.totalTaken);
    expect(new Set(nonZero).size).toBe(nonZero.length);
  });

  it("stamps updated_at from the clock it is given", async () => {
    const { schema, drop } = await pg.freshSchema();
    cleanups.push(drop);
    const database = await openPostgresDatabase(pg.url, { schema, poolSize: 1 });
    cleanups.push(() => database.close());
    const clock: Clock = { now: () => Date.UTC(2030, 0, 2, 3, 4, 5), sleep: () => Promise.resolve() };
    await postgresBudgets(database, clock).exchange("k", 1, 0);
    const row = await database.db.selectFrom("throttle_budgets").selectAll().executeTakeFirstOrThrow();
    expect(row).toStrictEqual({ key: "k", taken: 1, paused_until: "0", updated_at: "2030-01-02T03:04:05.000Z" });
  });

  it("refuses what is not a number of units, and fails with JournalUnavailableError once closed", async () => {
    const [a] = await twoStores();
    await expect(a.budgets?.exchange("k", Number.NaN, 0)).rejects.toThrow(RangeError);
    await expect(a.budgets?.exchange("k", -1, 0)).rejects.toThrow(RangeError);
    await a.close();
    await expect(a.budgets?.exchange("k", 1, 0)).rejects.toBeInstanceOf(JournalUnavailableError);
  });
});
