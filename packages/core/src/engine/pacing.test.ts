/**
 * Pacing against the emulator's own throttle model (token buckets, continuous refill, 429s with
 * Retry-After, x-ms-throttle-limit-percentage over 80 %), in simulated time. The budgets are scaled
 * down from Microsoft's figures, so the engine has to learn them: it starts from the documented ones.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { mapConcurrent } from "../util/concurrent.js";
import { createBatchEngine } from "./batch-engine.js";
import { SimClock } from "./sim-clock.test-helper.js";
import { ceilingSeconds, createSimGraph, loadThrottleModel, type SimGraph, type SimLimits } from "./sim-graph.test-helper.js";
import type { BatchEngine } from "./types.js";

let model: Awaited<ReturnType<typeof loadThrottleModel>>;
beforeAll(async () => {
  model = await loadThrottleModel();
});

const requirements = (user: string) => `/users/${user}/authentication/requirements`;

function world(limits: Partial<SimLimits>, usersOf: (tenant: string) => number) {
  const clock = new SimClock();
  const sim = createSimGraph({ clock, limits: { ...model.DEFAULT_THROTTLE_LIMITS, ...limits }, model, usersOf, latencyMs: 50 });
  const engine = createBatchEngine(sim.client, { clock, random: () => 0.5 });
  return { clock, sim, engine, start: clock.now() };
}

/** Sub-requests Graph executed (not throttled) per second in [from, to) seconds. */
function rate(sim: SimGraph, from: number, to: number, filter: (e: SimGraph["stats"]["timeline"][number]) => boolean = () => true): number {
  const n = sim.stats.timeline.filter((e) => !e.throttled && filter(e) && e.at >= from * 1000 && e.at < to * 1000).length;
  return n / (to - from);
}

/** Per user: PATCH to enforced, then read back (what `bulk set` does after its reads). */
async function bulkWrite(engine: BatchEngine, targets: { tenant: string; user: string }[]): Promise<number> {
  let failed = 0;
  const work = mapConcurrent(targets, 1000, async ({ tenant, user }) => {
    const resolved = await engine.submit({ tenant, version: "v1.0", method: "GET", url: `/users/${user}?$select=id,userPrincipalName` });
    const before = await engine.submit({ tenant, version: "beta", method: "GET", url: requirements(user) });
    const patch = await engine.submit({ tenant, version: "beta", method: "PATCH", url: requirements(user), body: { perUserMfaState: "enforced" } });
    const after = await engine.submit<{ perUserMfaState: string }>({ tenant, version: "beta", method: "GET", url: requirements(user) });
    return resolved.status === 200 && before.status === 200 && patch.status === 204 && after.body.perUserMfaState === "enforced";
  });
  for await (const ok of work) if (!ok) failed++;
  return failed;
}

describe("pacing under the emulator's budgets (simulated time)", () => {
  it("reads one tenant at ≥ 90 % of its resource-unit ceiling, learning a budget far below the documented one, with ≤ 1 % 429s", async () => {
    // 300 RU per 2 s (150 RU/s) instead of 8 000 per 10 s; 3 000 reads of 1 RU.
    const { clock, sim, engine, start } = world({ appTenantRuLarge: 300, appTenantRuWindowSeconds: 2 }, () => 3000);
    const users = Array.from({ length: 3000 }, (_, i) => `u${i}`);
    const statuses = await clock.run(
      (async () => {
        const out: number[] = [];
        for await (const r of mapConcurrent(users, 1000, (u) => engine.submit({ tenant: "big", version: "beta", method: "GET", url: requirements(u) }))) out.push(r.status);
        return out;
      })(),
    );
    const seconds = (clock.now() - start) / 1000;
    const ceiling = ceilingSeconds([{ demand: 3000, capacity: 300, windowSeconds: 2 }]);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(ceiling / seconds).toBeGreaterThanOrEqual(0.9);
    expect(sim.stats.throttled / sim.stats.subRequests).toBeLessThanOrEqual(0.01);
    // After the first window the batches follow the refill rate (150 RU/s), second after second.
    for (let s = 2; s + 2 <= Math.floor(seconds) - 1; s += 2) expect(rate(sim, s, s + 2)).toBeGreaterThan(150 * 0.85);
    for (let s = 2; s + 2 <= Math.floor(seconds); s += 2) expect(rate(sim, s, s + 2)).toBeLessThanOrEqual(150 * 1.1);
    const learned = engine.stats().tenants["big"]!;
    expect(learned.ruPerSecond).toBeGreaterThan(150 * 0.8);
    expect(learned.ruPerSecond).toBeLessThan(150 * 1.25);
    expect(learned.ruCapacity).toBeGreaterThan(300 * 0.7);
    expect(learned.ruCapacity).toBeLessThan(300 * 1.4);
  });

  it("writes one tenant at ≥ 90 % of its write-quota ceiling (reads interleaved), with ≤ 1 % 429s", async () => {
    // 300 writes per 15 s (20/s, Microsoft's rate, a tenth of the bucket); 900 users: resolve, read, PATCH, read back.
    const { clock, sim, engine, start } = world({ appTenantWrites: 300, appTenantWritesWindowSeconds: 15 }, () => 900);
    const failed = await clock.run(bulkWrite(engine, Array.from({ length: 900 }, (_, i) => ({ tenant: "t", user: `u${i}` }))));
    const seconds = (clock.now() - start) / 1000;
    const ceiling = ceilingSeconds([{ demand: 900, capacity: 300, windowSeconds: 15 }]);
    expect(failed).toBe(0);
    expect(sim.states.get("t")?.size).toBe(900);
    expect(ceiling / seconds).toBeGreaterThanOrEqual(0.9);
    expect(sim.stats.throttled / sim.stats.subRequests).toBeLessThanOrEqual(0.01);
    expect(rate(sim, 10, 25, (e) => e.write)).toBeGreaterThan(20 * 0.9);
    expect(rate(sim, 10, 25, (e) => e.write)).toBeLessThanOrEqual(20 * 1.1);
  });

  it("runs many tenants at once within the app-wide write budget, with ≤ 1 % 429s", async () => {
    // 60 tenants x 50 users; the app may write 600 per 4 s across tenants (150/s): that budget binds.
    const { clock, sim, engine, start } = world({ appWrites: 600, appWritesWindowSeconds: 4 }, () => 50);
    const targets = Array.from({ length: 60 }, (_, t) => Array.from({ length: 50 }, (_, u) => ({ tenant: `t${t}`, user: `u${u}` }))).flat();
    const failed = await clock.run(bulkWrite(engine, targets));
    const seconds = (clock.now() - start) / 1000;
    const ceiling = ceilingSeconds([{ demand: 3000, capacity: 600, windowSeconds: 4 }]);
    expect(failed).toBe(0);
    expect(ceiling / seconds).toBeGreaterThanOrEqual(0.9);
    expect(sim.stats.throttled / sim.stats.subRequests).toBeLessThanOrEqual(0.01);
    expect(engine.stats().app?.writesPerSecond).toBeGreaterThan(150 * 0.8);
  });

  it("learns a very small app-wide write budget from its 429s and keeps to it", async () => {
    // 30 tenants x 50 users; the app may write 200 per 5 s (40/s), 1/350 of Microsoft's budget.
    const { clock, sim, engine, start } = world({ appWrites: 200, appWritesWindowSeconds: 5 }, () => 50);
    const targets = Array.from({ length: 30 }, (_, t) => Array.from({ length: 50 }, (_, u) => ({ tenant: `t${t}`, user: `u${u}` }))).flat();
    const failed = await clock.run(bulkWrite(engine, targets));
    const seconds = (clock.now() - start) / 1000;
    expect(failed).toBe(0);
    expect(ceilingSeconds([{ demand: 1500, capacity: 200, windowSeconds: 5 }]) / seconds).toBeGreaterThanOrEqual(0.9);
    // The first window may overshoot; after it, Graph hardly ever has to say no.
    const late = sim.stats.timeline.filter((e) => e.at > 5_000);
    expect(late.filter((e) => e.throttled).length / late.length).toBeLessThanOrEqual(0.01);
    expect(rate(sim, 10, 30, (e) => e.write)).toBeGreaterThan(40 * 0.9);
    expect(rate(sim, 10, 30, (e) => e.write)).toBeLessThanOrEqual(40 * 1.1);
  });

  it("paces each tenant on its own budget: a small tenant's limit does not slow a large one", async () => {
    // Under 50 users: 100 RU per 2 s; over 500: 400 RU per 2 s.
    const sizes: Record<string, number> = { small: 40, large: 1000 };
    const { clock, sim, engine } = world({ appTenantRuSmall: 100, appTenantRuLarge: 400, appTenantRuWindowSeconds: 2 }, (t) => sizes[t]!);
    const reads = (tenant: string, n: number) =>
      (async () => {
        for await (const r of mapConcurrent(
          Array.from({ length: n }, (_, i) => i),
          500,
          (i) => engine.submit({ tenant, version: "beta", method: "GET", url: requirements(`u${i}`) }),
        ))
          expect(r.status).toBe(200);
      })();
    await clock.run(Promise.all([reads("small", 1000), reads("large", 4000)]));
    const small = rate(sim, 4, 16, (e) => e.tenant === "small");
    const large = rate(sim, 4, 16, (e) => e.tenant === "large");
    expect(small).toBeGreaterThan(50 * 0.85);
    expect(small).toBeLessThanOrEqual(50 * 1.1);
    expect(large).toBeGreaterThan(200 * 0.85);
    expect(large).toBeLessThanOrEqual(200 * 1.1);
    expect(sim.stats.throttled / sim.stats.subRequests).toBeLessThanOrEqual(0.01);
  });

  it("paces direct requests (pages of /users) with the batches of the same tenant", async () => {
    const { clock, sim, engine } = world({ appTenantRuLarge: 200, appTenantRuWindowSeconds: 2 }, () => 1000);
    const pages = Array.from({ length: 20 }, () => engine.direct({ tenant: "t", version: "v1.0", method: "GET", url: "/users", query: { $select: "id", $top: "999" } }));
    const reads = Array.from({ length: 1000 }, (_, i) => engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements(`u${i}`) }));
    const results = await clock.run(Promise.all([...pages, ...reads]));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(sim.stats.direct).toBe(20);
    expect(sim.stats.throttled / sim.stats.subRequests).toBeLessThanOrEqual(0.02);
    // 1 020 RU through a 200 RU / 2 s budget: (1 020 - 200) / 100 = 8.2 s at best.
    expect(clock.elapsedSinceStart).toBeGreaterThan(8_200);
    expect(clock.elapsedSinceStart).toBeLessThan(8_200 / 0.85);
  });
});
