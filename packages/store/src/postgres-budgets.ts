import { systemClock, type Clock, type SharedBudgetStore } from "@mfactl/core";
import { sql } from "kysely";
import type { StoreDatabase } from "./kysely-database.js";

/**
 * The throttling budgets shared by every instance on one PostgreSQL database (schema version 3:
 * `throttle_budgets`). `exchange` is one upsert: the row lock of ON CONFLICT DO UPDATE serialises
 * instances on a key, so totals add up exactly and the pause only rises. It runs every few hundred
 * ms per active budget: one round trip, no transaction around it.
 */
export function postgresBudgets(database: StoreDatabase, clock: Clock = systemClock): SharedBudgetStore {
  const { db, guard } = database;
  return {
    exchange(key: string, taken: number, pausedUntil: number) {
      return guard(async () => {
        if (!Number.isFinite(taken) || taken < 0) throw new RangeError(`taken must be a finite number of units, at least 0, not ${taken}`);
        if (!Number.isFinite(pausedUntil) || pausedUntil < 0) throw new RangeError(`pausedUntil must be epoch ms or 0, not ${pausedUntil}`);
        const { rows } = await sql<{ taken: number | string; paused_until: number | string }>`
          insert into throttle_budgets (key, taken, paused_until, updated_at)
          values (${key}, ${taken}, ${Math.ceil(pausedUntil)}, ${new Date(clock.now()).toISOString()})
          on conflict (key) do update set
            taken = throttle_budgets.taken + excluded.taken,
            paused_until = greatest(throttle_budgets.paused_until, excluded.paused_until),
            updated_at = excluded.updated_at
          returning taken, paused_until`.execute(db);
        const row = rows[0];
        if (!row) throw new Error(`The budget ${key} was not returned by its upsert.`);
        // float8 comes back as a number, bigint as a string.
        return { totalTaken: Number(row.taken), pausedUntil: Number(row.paused_until) };
      });
    },
  };
}
