/**
 * Two instances over real HTTPS against the emulator (same app registration, one tenant, throttled
 * per app + tenant like Graph): a bulk write split between two Graph clients and two engines sharing
 * their budgets through `memorySharedBudgets()` draws no more 429s from the emulator than one engine
 * doing all of it alone, measured in the same test on a reset emulator (and two engines that do not
 * share draw more: the comparison can fail).
 * The emulator is imported from its source by a computed path (see emulator.test-helper.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulatorGraphClient, startTestEmulator, type TestEmulator } from "../emulator.test-helper.js";
import { mapConcurrent } from "../util/concurrent.js";
import { createBatchEngine } from "./batch-engine.js";
import { memorySharedBudgets, type SharedBudgetStore } from "./shared-budgets.js";
import type { BatchEngine, EngineEvent } from "./types.js";

const USERS = 450;

describe("shared budgets against the emulator (HTTPS, two instances, one tenant)", () => {
  let emulator: TestEmulator;

  beforeAll(async () => {
    emulator = await startTestEmulator({
      tenants: 1,
      users: USERS,
      seed: "shared-budgets-e2e",
      throttle: "realistic",
      // 450 users is the 50..500 tier. Writes bind: 300 per 3 s (100/s), so the 450 PATCHes take
      // (450 - 300) / 100 = 1.5 s at best; resource units (a PATCH and a GET each, 900) 600 per 2 s, 1 s.
      // The write bucket holds 5 initial slow-start windows (3 batches): one engine alone finds it
      // before it is overrun, so "no more 429s than one engine alone" means none here.
      throttleLimits: { appTenantRuMedium: 600, appTenantRuWindowSeconds: 2, appTenantWrites: 300, appTenantWritesWindowSeconds: 3 },
      // Graph takes tens to hundreds of ms to answer a $batch; on loopback the emulator would answer in
      // about one, far below the 200 ms at which the engines exchange what they took.
      latencyMs: 50,
    });
  });

  afterAll(async () => {
    await emulator?.close();
  });

  const graphClient = () =>
    emulatorGraphClient(emulator);

  /** PATCH every user to enforced and read it back; returns how many were confirmed. */
  const bulkWrite = async (engine: BatchEngine, tenant: string, users: { id: string }[]): Promise<number> => {
    const path = (id: string) => `/users/${id}/authentication/requirements`;
    let confirmed = 0;
    for await (const ok of mapConcurrent(users, 400, async (user) => {
      const patch = await engine.submit({ tenant, version: "beta", method: "PATCH", url: path(user.id), body: { perUserMfaState: "enforced" } });
      const back = await engine.submit<{ perUserMfaState?: string }>({ tenant, version: "beta", method: "GET", url: path(user.id) });
      return patch.status === 204 && back.body.perUserMfaState === "enforced";
    }))
      if (ok) confirmed++;
    return confirmed;
  };

  /** The bulk write split over `instances` clients and engines (sharing `store` when given), on a reset emulator. */
  const run = async (instances: number, store: SharedBudgetStore | undefined) => {
    emulator.admin.reset();
    emulator.admin.resetStats();
    const tenant = emulator.tenants[0]!.id;
    const users = emulator.admin.listUsers(tenant);
    expect(users).toHaveLength(USERS);
    const events: EngineEvent[] = [];
    const clients = Array.from({ length: instances }, graphClient);
    const engines = clients.map((client) => createBatchEngine(client, { onEvent: (e) => events.push(e), ...(store ? { sharedBudgets: { store } } : {}) }));
    try {
      const started = Date.now();
      const confirmed = await Promise.all(engines.map((engine, k) => bulkWrite(engine, tenant, users.filter((_, i) => i % instances === k))));
      const seconds = (Date.now() - started) / 1000;
      expect(confirmed.reduce((a, b) => a + b, 0)).toBe(USERS);
      expect(emulator.admin.listUsers(tenant).every((u) => u.perUserMfaState === "enforced")).toBe(true);
      // The store never failed (the engines would have gone on alone, with an event).
      expect(events.filter((e) => e.type === "shared")).toEqual([]);
      return { throttled: emulator.admin.stats().throttledTotal, seconds };
    } finally {
      await Promise.all(engines.map((e) => e.close()));
      await Promise.all(clients.map((c) => c.close()));
    }
  };

  it("two engines sharing their budgets draw no more 429s than one engine alone; two that do not, draw more", async () => {
    const alone = await run(1, undefined);
    const unshared = await run(2, undefined);
    const shared = await run(2, memorySharedBudgets());
    console.log(
      `emulator 429s: one engine ${alone.throttled} (${alone.seconds.toFixed(1)} s), two unshared ${unshared.throttled} (${unshared.seconds.toFixed(1)} s), two shared ${shared.throttled} (${shared.seconds.toFixed(1)} s)`,
    );
    expect(unshared.throttled).toBeGreaterThan(alone.throttled);
    expect(shared.throttled).toBeLessThanOrEqual(alone.throttled);
  }, 60_000);
});
