/**
 * Shared budgets: the Budget's side (the others' spending lowers the level and counts for the refill
 * learned), the engine's side (what is exchanged with the store, when, and what happens when the store
 * fails), and two engines on one simulated tenant (the emulator's throttle model, simulated time)
 * against one engine alone.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { GraphClient, GraphRequest, GraphResponse } from "../transport/types.js";
import { mapConcurrent } from "../util/concurrent.js";
import { createBatchEngine } from "./batch-engine.js";
import { Budget, type BudgetOptions } from "./budget.js";
import { memorySharedBudgets, type SharedBudgetStore } from "./shared-budgets.js";
import { SimClock } from "./sim-clock.test-helper.js";
import { ceilingSeconds, createSimGraph, loadThrottleModel, type SimLimits } from "./sim-graph.test-helper.js";
import type { BatchEngine, BatchEngineOptions, EngineEvent } from "./types.js";

const requirements = (user: string) => `/users/${user}/authentication/requirements`;

describe("memorySharedBudgets", () => {
  it("adds what every caller took and keeps the latest pause", async () => {
    const store = memorySharedBudgets();
    expect(await store.exchange("k", 5, 0)).toEqual({ totalTaken: 5, pausedUntil: 0 });
    expect(await store.exchange("k", 3, 2_000)).toEqual({ totalTaken: 8, pausedUntil: 2_000 });
    expect(await store.exchange("k", 0, 1_000)).toEqual({ totalTaken: 8, pausedUntil: 2_000 });
    expect(await store.exchange("other", 1, 0)).toEqual({ totalTaken: 1, pausedUntil: 0 });
  });
});

describe("Budget: what other instances took", () => {
  const options: BudgetOptions = { name: "resource units of t", capacity: 3_500, windowMs: 10_000, target: 0.9, batchUnits: 20 };

  /** A budget anchored by a reading: 300 units, 85 % used when the reading was taken. */
  const anchored = () => {
    const b = new Budget(options, 0);
    const mark = b.take(255, 0);
    b.settle(255, 255, 0, 10, 0);
    b.observe(0.85, { at: 5, mark }, 10);
    expect(b.anchored).toBe(true);
    expect(b.capacity).toBe(300);
    return b;
  };

  it("lowers the room and raises the wait by what the others took", () => {
    const b = anchored();
    const room = b.room(10);
    expect(room).toBeGreaterThan(10);
    expect(b.waitFor(10, 10)).toBe(0);
    const available = b.available(10);
    b.foreign(40, 10);
    expect(b.available(10)).toBeCloseTo(available - 40, 9);
    expect(b.room(10)).toBeCloseTo(Math.max(0, room - 40), 9);
    // Until 10 more fit above the margin (30), at the refill rate.
    expect(b.waitFor(10, 10)).toBeCloseTo((10 + 30 - (available - 40)) / b.ratePerMs, 6);
    expect(b.foreignSpent).toBe(40);
  });

  it("pauses until another instance's Retry-After", () => {
    const b = anchored();
    b.pause(5_000);
    expect(b.room(1_000)).toBe(0);
    expect(b.waitFor(1, 1_000)).toBeGreaterThanOrEqual(4_000);
    b.pause(2_000);
    expect(b.pausedUntil).toBe(5_000);
  });

  /**
   * One bucket (300 units, 150 per s) and two spenders: another instance taking 80 units per s, and
   * the budget under test sending 5 units whenever its picture allows, answered at once with Graph's
   * percentage. With the others' units (told every 200 ms) the budget learns the bucket's refill;
   * without them it learns what the others leave (150 - 80), about half.
   */
  const learn = (told: boolean) => {
    const capacity = 300;
    const refill = 0.15;
    let tokens = capacity;
    let at = 0;
    const b = new Budget({ ...options, shared: true }, 0);
    let theirs = 0;
    for (let t = 0; t <= 30_000; t += 50) {
      tokens = Math.min(capacity, tokens + refill * (t - at));
      at = t;
      const taken = Math.min(4, Math.max(0, Math.floor(tokens)));
      tokens -= taken;
      theirs += taken;
      if (told && t % 200 === 0) {
        b.foreign(theirs, t);
        theirs = 0;
      }
      if (!b.fits(5, t)) continue;
      const mark = b.take(5, t);
      const reading = { at: t, mark };
      const share = (left: number) => Math.round((1 - left / capacity) * 100) / 100;
      if (tokens >= 5) {
        tokens -= 5;
        b.settle(5, 5, 0, t + 1, t);
        const u = share(tokens);
        if (u > 0.8) b.observe(u, reading, t + 1);
        else b.observeUnder(reading, t + 1);
      } else {
        b.settle(5, 0, 0, t + 1, t);
        b.throttled(1_000, share(tokens - 5), 5, reading, t + 1, true);
      }
    }
    return b.ratePerMs * 1000;
  };

  it("learns the bucket's refill with the others' units counted, not what they leave of it", () => {
    const shared = learn(true);
    const alone = learn(false);
    expect(shared).toBeGreaterThan(150 * 0.85);
    expect(shared).toBeLessThan(150 * 1.15);
    // The same budget not told of the others learns about 70 per s: the test can tell the two apart.
    expect(alone).toBeLessThan(150 * 0.6);
  });

  it("predicts the others' rate from what they took, and debits only the surprise", () => {
    const b = anchored();
    b.foreign(0, 10);
    for (let t = 210; t <= 5_010; t += 200) b.foreign(10, t); // 50 per s
    expect(b.foreignPerMs * 1000).toBeGreaterThan(49);
    expect(b.foreignPerMs * 1000).toBeLessThan(51);
    b.take(300, 5_010);
    const level = b.available(5_010);
    // 200 ms later the others took what was predicted: the level rose by the refill less their share,
    // not less it twice.
    b.foreign(10, 5_210);
    expect(b.available(5_210) - level).toBeCloseTo(b.ratePerMs * 200 - 10, 0);
    // They took 30 more than predicted: those are debited.
    b.foreign(40, 5_410);
    expect(b.available(5_410) - level).toBeCloseTo(2 * (b.ratePerMs * 200 - 10) - 30, 0);
  });
});

/** Answers every sub-request after `latencyMs`; `answer` may throttle some. Records every batch sent. */
class FakeGraph implements GraphClient {
  readonly sent: { at: number; size: number; urls: string[] }[] = [];
  readonly clientId?: string;
  constructor(
    private readonly clock: SimClock,
    private readonly latencyMs = 50,
    private readonly answer: (url: string, attempt: number) => { status: number; headers?: Record<string, string> } = () => ({ status: 200 }),
    clientId?: string,
  ) {
    if (clientId !== undefined) this.clientId = clientId;
  }
  private readonly attempts = new Map<string, number>();
  async request<T>(req: GraphRequest): Promise<GraphResponse<T>> {
    const requests = (req.body as { requests: { id: string; url: string }[] }).requests;
    this.sent.push({ at: this.clock.now(), size: requests.length, urls: requests.map((r) => r.url) });
    await this.clock.sleep(this.latencyMs);
    const responses = requests.map((r) => {
      const attempt = (this.attempts.get(r.url) ?? 0) + 1;
      this.attempts.set(r.url, attempt);
      const a = this.answer(r.url, attempt);
      return { id: r.id, status: a.status, headers: { "x-ms-resource-unit": "1", ...a.headers }, body: a.status === 200 ? { ok: true } : { error: { code: "TooManyRequests", message: "throttled" } } };
    });
    return { status: 200, headers: new Headers(), body: { responses } as T, requestId: "env", attempts: 1 };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A store that records every exchange and can be made to fail or hang. */
function recordingStore(clock: SimClock, inner: SharedBudgetStore = memorySharedBudgets()) {
  const calls: { at: number; key: string; taken: number; pausedUntil: number }[] = [];
  const state = { fail: undefined as Error | undefined, hang: false };
  const store: SharedBudgetStore = {
    exchange(key, taken, pausedUntil) {
      calls.push({ at: clock.now(), key, taken, pausedUntil });
      if (state.hang) return new Promise(() => undefined);
      if (state.fail) return Promise.reject(state.fail);
      return inner.exchange(key, taken, pausedUntil);
    },
  };
  return { store, calls, state, inner };
}

function engineWith(clock: SimClock, graph: GraphClient, store: SharedBudgetStore, options: Partial<BatchEngineOptions> = {}) {
  const events: EngineEvent[] = [];
  const engine = createBatchEngine(graph, { clock, random: () => 0.5, onEvent: (e) => events.push(e), sharedBudgets: { store, app: "app-1" }, ...options });
  return { engine, events };
}

const reads = (engine: BatchEngine, tenant: string, n: number, from = 0) =>
  Promise.all(Array.from({ length: n }, (_, i) => engine.submit({ tenant, version: "beta", method: "GET", url: requirements(`u${from + i}`) })));

describe("batch engine with shared budgets", () => {
  it("exchanges the tenant's and the app's budgets, keyed by app and budget, every syncMs while busy, and stops when idle", async () => {
    const clock = new SimClock();
    const start = clock.now();
    const graph = new FakeGraph(clock, 1_000);
    const { store, calls } = recordingStore(clock);
    const { engine } = engineWith(clock, graph, store);
    await clock.run(reads(engine, "contoso", 30));
    const busyUntil = clock.now();
    await clock.run(clock.sleep(10_000));

    const keys = new Set(calls.map((c) => c.key));
    expect(keys).toEqual(new Set(["app-1|resource units of contoso", "app-1|writes of contoso", "app-1|app resource units", "app-1|app writes"]));
    const ru = calls.filter((c) => c.key === "app-1|resource units of contoso");
    // The first exchange comes with the first submission, before anything was taken: it only records.
    expect(ru[0]).toMatchObject({ at: start, taken: 0 });
    // Everything taken is told, once.
    expect(ru.reduce((sum, c) => sum + c.taken, 0)).toBe(30);
    // On the tick (200 ms on the engine's clock) while the work lasts...
    const ticks = ru.filter((c) => (c.at - start) % 200 === 0 && c.at > start).map((c) => c.at - start);
    for (let t = 200; t < busyUntil - start; t += 200) expect(ticks).toContain(t);
    // ...and none once the engine has been idle for a while (no timer left behind).
    expect(Math.max(...calls.map((c) => c.at))).toBeLessThanOrEqual(busyUntil + 2_200);
    await engine.close();
  });

  it("does not debit what the others took before its first exchange", async () => {
    const clock = new SimClock();
    const graph = new FakeGraph(clock, 50);
    const { store } = recordingStore(clock);
    // Long ago another instance took ten buckets' worth: refilled since, as far as anyone knows.
    await store.exchange("app-1|resource units of t", 1_000, 0);
    const { engine } = engineWith(clock, graph, store, { budgets: { tenantRu: { capacity: 100, windowSeconds: 10 } } });
    const start = clock.now();
    await clock.run(reads(engine, "t", 5));
    expect(graph.sent.map((b) => b.at)).toEqual([start]);
    await clock.run(engine.close());
  });

  it("debits what another instance took since (Graph charged it too), so it is not throttled for it", async () => {
    const model = await loadThrottleModel();
    const run = async (told: boolean) => {
      const clock = new SimClock();
      // 100 RU per 10 s (10 per s). Exchanges every 2 s, so the engine keeps exchanging for 10 s idle.
      const sim = createSimGraph({ clock, limits: { ...model.DEFAULT_THROTTLE_LIMITS, appTenantRuLarge: 100, appTenantRuWindowSeconds: 10 }, model, usersOf: () => 1_000, latencyMs: 50 });
      const { store } = recordingStore(clock);
      const { engine } = engineWith(clock, sim.client, store, { budgets: { tenantRu: { capacity: 100, windowSeconds: 10 } }, sharedBudgets: { store, app: "app-1", syncMs: 2_000 } });
      // The engine learns the bucket (percentages past 80 %, their spread, the refill between them)...
      await clock.run(reads(engine, "t", 150, 1_000));
      const throttledBefore = sim.stats.throttled;
      // ...which refills while it is idle; the other instance (same app) then reads 70 users, and
      // tells the store (or does not).
      await clock.run(clock.sleep(9_000));
      const other = (from: number) => ({ requests: Array.from({ length: 14 }, (_, i) => ({ id: String(i), method: "GET", url: requirements(`o${from + i}`) })) });
      for (let k = 0; k < 5; k++) await clock.run(sim.client.request({ tenant: "t", method: "POST", path: "/beta/$batch", body: other(14 * k) }));
      if (told) await store.exchange("app-1|resource units of t", 70, 0);
      await clock.run(clock.sleep(2_100));
      const results = await clock.run(reads(engine, "t", 60));
      expect(results.every((r) => r.status === 200)).toBe(true);
      await clock.run(engine.close());
      return sim.stats.throttled - throttledBefore;
    };
    const [toldCount, notTold] = [await run(true), await run(false)];
    expect(toldCount).toBe(0);
    // Not told, it finds out from Graph's 429s: the test can fail.
    expect(notTold).toBeGreaterThan(0);
  });

  it("pauses for another instance's 429 and tells the others of its own", async () => {
    const clock = new SimClock();
    const start = clock.now();
    const graph = new FakeGraph(clock, 50, (url, attempt) =>
      url === requirements("slow") && attempt === 1
        ? { status: 429, headers: { "Retry-After": "7", "x-ms-throttle-scope": "Tenant_Application/ReadWrite/app-1/t", "x-ms-throttle-information": "ResourceUnitLimitExceeded" } }
        : { status: 200 },
    );
    const { store } = recordingStore(clock);
    const { engine } = engineWith(clock, graph, store);
    const key = "app-1|resource units of t";

    // Another instance was told to wait 5 s.
    await clock.run(reads(engine, "t", 1));
    await store.exchange(key, 0, start + 5_000);
    await clock.run(clock.sleep(300));
    await clock.run(reads(engine, "t", 1, 1));
    expect(graph.sent.at(-1)!.at).toBeGreaterThanOrEqual(start + 5_000);

    // This one is told to wait 7 s: the others hear of it at once.
    const slow = engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements("slow") });
    await clock.run(clock.sleep(100));
    const answeredAt = graph.sent.at(-1)!.at + 50;
    const seen = await store.exchange(key, 0, 0);
    expect(seen.pausedUntil).toBeGreaterThanOrEqual(answeredAt + 7_000);
    expect((await clock.run(slow)).status).toBe(200);
    await clock.run(engine.close());
  });

  it("goes on when the store fails or hangs: one event when it fails, one when it works again; close does not wait for it", async () => {
    const clock = new SimClock();
    const graph = new FakeGraph(clock, 300);
    const { store, state } = recordingStore(clock);
    const { engine, events } = engineWith(clock, graph, store);
    state.fail = new Error("connection refused");
    const first = await clock.run(reads(engine, "t", 60));
    expect(first.every((r) => r.status === 200)).toBe(true);
    const failures = events.filter((e) => e.type === "shared");
    // Once per budget, however many ticks failed.
    expect(failures.map((e) => e.type === "shared" && e.budget).sort()).toEqual(["app resource units", "app writes", "resource units of t", "writes of t"]);
    expect(failures.every((e) => e.type === "shared" && e.error === "connection refused" && e.tenant === (e.budget.endsWith("of t") ? "t" : undefined))).toBe(true);

    state.fail = undefined;
    await clock.run(reads(engine, "t", 5, 100));
    const recovered = events.filter((e) => e.type === "shared" && e.error === undefined);
    expect(recovered).toHaveLength(4);

    state.hang = true;
    const late = await clock.run(reads(engine, "t", 40, 200));
    expect(late.every((r) => r.status === 200)).toBe(true);
    await clock.run(engine.close());
    expect(engine.stats().queued).toBe(0);
  });

  it("keys the budgets by the client's id, or as the key option says", async () => {
    const clock = new SimClock();
    const { store, calls } = recordingStore(clock);
    const byClient = createBatchEngine(new FakeGraph(clock, 50, undefined, "client-9"), { clock, sharedBudgets: { store } });
    await clock.run(reads(byClient, "t", 1));
    const byOption = createBatchEngine(new FakeGraph(clock, 50), { clock, sharedBudgets: { store, key: (name) => `x/${name}` } });
    await clock.run(reads(byOption, "t", 1));
    expect(new Set(calls.map((c) => c.key))).toEqual(
      new Set(["client-9|resource units of t", "client-9|writes of t", "client-9|app resource units", "client-9|app writes", "x/resource units of t", "x/writes of t", "x/app resource units", "x/app writes"]),
    );
    await clock.run(Promise.all([byClient.close(), byOption.close()]));
  });
});

describe("two engines on one simulated tenant (the emulator's throttle model, simulated time)", () => {
  let model: Awaited<ReturnType<typeof loadThrottleModel>>;
  beforeAll(async () => {
    model = await loadThrottleModel();
  });

  /** Per user: resolve, read, PATCH to enforced, read back (what `bulk set` does). */
  const bulkWrite = async (engine: BatchEngine, users: string[]): Promise<number> => {
    let ok = 0;
    for await (const done of mapConcurrent(users, 1000, async (user) => {
      const resolved = await engine.submit({ tenant: "t", version: "v1.0", method: "GET", url: `/users/${user}?$select=id,userPrincipalName` });
      const before = await engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements(user) });
      const patch = await engine.submit({ tenant: "t", version: "beta", method: "PATCH", url: requirements(user), body: { perUserMfaState: "enforced" } });
      const after = await engine.submit<{ perUserMfaState: string }>({ tenant: "t", version: "beta", method: "GET", url: requirements(user) });
      return resolved.status === 200 && before.status === 200 && patch.status === 204 && after.body.perUserMfaState === "enforced";
    }))
      if (done) ok++;
    return ok;
  };

  /** `n` users changed by `engines` engines at the same time, each its share, on one simulated Graph. */
  const run = async (limits: Partial<SimLimits>, n: number, engines: number, shared: boolean) => {
    const clock = new SimClock();
    const sim = createSimGraph({ clock, limits: { ...model.DEFAULT_THROTTLE_LIMITS, ...limits }, model, usersOf: () => n, latencyMs: 50 });
    const store = memorySharedBudgets();
    const all = Array.from({ length: engines }, () => createBatchEngine(sim.client, { clock, random: () => 0.5, ...(shared ? { sharedBudgets: { store } } : {}) }));
    const users = Array.from({ length: n }, (_, i) => `u${i}`);
    const done = await clock.run(Promise.all(all.map((engine, k) => bulkWrite(engine, users.filter((_, i) => i % engines === k)))));
    const seconds = clock.elapsedSinceStart / 1000;
    await clock.run(Promise.all(all.map((e) => e.close())));
    expect(done.reduce((a, b) => a + b, 0)).toBe(n);
    expect(sim.states.get("t")?.size).toBe(n);
    return { throttled: sim.stats.throttled, seconds };
  };

  it.each([
    // 300 writes per 15 s (20/s): 900 PATCHes take 30 s at best.
    { name: "writes", limits: { appTenantWrites: 300, appTenantWritesWindowSeconds: 15 }, n: 900, ceiling: ceilingSeconds([{ demand: 900, capacity: 300, windowSeconds: 15 }]) },
    // 300 RU per 2 s (150/s): 1 200 users x 4 RU take 30 s at best.
    { name: "resource units", limits: { appTenantRuLarge: 300, appTenantRuWindowSeconds: 2 }, n: 1200, ceiling: ceilingSeconds([{ demand: 4800, capacity: 300, windowSeconds: 2 }]) },
  ])("bound by $name: two engines sharing draw no more 429s than one alone, in about its time", async ({ limits, n, ceiling }) => {
    const alone = await run(limits, n, 1, false);
    const unshared = await run(limits, n, 2, false);
    const shared = await run(limits, n, 2, true);
    console.log(`429s: one engine ${alone.throttled} (${alone.seconds.toFixed(1)} s), two unshared ${unshared.throttled}, two shared ${shared.throttled} (${shared.seconds.toFixed(1)} s); ceiling ${ceiling} s`);
    expect(shared.throttled).toBeLessThanOrEqual(alone.throttled);
    // Two engines that do not share overrun the tenant: the comparison can fail.
    expect(unshared.throttled).toBeGreaterThanOrEqual(alone.throttled + 20);
    // Both within the same tenant ceiling: sharing costs little time.
    expect(shared.seconds).toBeLessThanOrEqual(alone.seconds * 1.1);
    expect(ceiling / shared.seconds).toBeGreaterThanOrEqual(0.85);
  });
});
