import { describe, expect, it } from "vitest";
import { ManualClock } from "./clock.js";
import { createTenantGate } from "./throttle.js";
import type { TransportEvent } from "./types.js";

/** A task the test finishes by hand, recording when it started. */
function controllable(log: string[], name: string) {
  let finish!: () => void;
  const done = new Promise<string>((resolve) => {
    finish = () => resolve(name);
  });
  return {
    task: () => {
      log.push(name);
      return done;
    },
    finish,
  };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

describe("createTenantGate", () => {
  it("keeps tenants apart: a full tenant does not hold up another", async () => {
    const gate = createTenantGate({ concurrency: 1, clock: new ManualClock() });
    const started: string[] = [];
    const a1 = controllable(started, "a1");
    const a2 = controllable(started, "a2");
    const b1 = controllable(started, "b1");
    const ra1 = gate.run("a", a1.task);
    const ra2 = gate.run("a", a2.task);
    const rb1 = gate.run("b", b1.task);
    await flush();
    expect(started).toEqual(["a1", "b1"]);
    expect(gate.load("a")).toEqual({ active: 1, queued: 1, pausedUntil: undefined });
    b1.finish();
    await expect(rb1).resolves.toBe("b1");
    expect(started).toEqual(["a1", "b1"]);
    a1.finish();
    await expect(ra1).resolves.toBe("a1");
    await flush();
    expect(started).toEqual(["a1", "b1", "a2"]);
    a2.finish();
    await expect(ra2).resolves.toBe("a2");
    expect(gate.load("a")).toEqual({ active: 0, queued: 0, pausedUntil: undefined });
  });

  it("runs at most `concurrency` requests per tenant, in FIFO order", async () => {
    const gate = createTenantGate({ concurrency: 2, clock: new ManualClock() });
    const started: string[] = [];
    const tasks = ["t1", "t2", "t3", "t4", "t5"].map((n) => controllable(started, n));
    const runs = tasks.map((t) => gate.run("contoso", t.task));
    await flush();
    expect(started).toEqual(["t1", "t2"]);
    tasks[1]!.finish();
    await flush();
    expect(started).toEqual(["t1", "t2", "t3"]);
    tasks[0]!.finish();
    tasks[2]!.finish();
    await flush();
    expect(started).toEqual(["t1", "t2", "t3", "t4", "t5"]);
    expect(gate.load("contoso").active).toBe(2);
    tasks[3]!.finish();
    tasks[4]!.finish();
    expect(await Promise.all(runs)).toEqual(["t1", "t2", "t3", "t4", "t5"]);
  });

  it("releases the slot when a task fails", async () => {
    const gate = createTenantGate({ concurrency: 1, clock: new ManualClock() });
    await expect(gate.run("a", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(gate.run("a", () => Promise.resolve(1))).resolves.toBe(1);
  });

  it("pauses only the tenant that got a 429 with Retry-After, until then", async () => {
    const clock = new ManualClock();
    const events: TransportEvent[] = [];
    const gate = createTenantGate({ concurrency: 4, clock, onEvent: (e) => events.push(e) });
    gate.observe("a", { status: 429, headers: new Headers({ "retry-after": "5" }) });
    expect(events).toEqual([{ type: "throttled", tenant: "a", untilMs: clock.now() + 5000 }]);

    const started: string[] = [];
    const a = controllable(started, "a");
    const b = controllable(started, "b");
    const ra = gate.run("a", a.task);
    const rb = gate.run("b", b.task);
    await flush();
    expect(started).toEqual(["b"]);
    expect(gate.load("a")).toMatchObject({ active: 0, queued: 1, pausedUntil: clock.now() + 5000 });
    clock.advance(4999);
    await flush();
    expect(started).toEqual(["b"]);
    clock.advance(1);
    await flush();
    expect(started).toEqual(["b", "a"]);
    a.finish();
    b.finish();
    await Promise.all([ra, rb]);
  });

  it("ignores responses that are not 429 and only ever extends a pause", () => {
    const clock = new ManualClock();
    const events: TransportEvent[] = [];
    const gate = createTenantGate({ clock, onEvent: (e) => events.push(e) });
    gate.observe("a", { status: 503, headers: new Headers({ "retry-after": "5" }) });
    gate.observe("a", { status: 429, headers: new Headers() });
    expect(events).toEqual([]);
    gate.pauseUntil("a", clock.now() + 10_000);
    gate.pauseUntil("a", clock.now() + 2_000);
    expect(gate.load("a").pausedUntil).toBe(clock.now() + 10_000);
    expect(events).toHaveLength(1);
  });

  it("drops a queued request whose signal aborts", async () => {
    const gate = createTenantGate({ concurrency: 1, clock: new ManualClock() });
    const started: string[] = [];
    const first = controllable(started, "first");
    const running = gate.run("a", first.task);
    const controller = new AbortController();
    const queued = gate.run("a", () => Promise.resolve("never"), controller.signal);
    controller.abort(new Error("cancelled"));
    await expect(queued).rejects.toThrow("cancelled");
    expect(gate.load("a").queued).toBe(0);
    first.finish();
    await running;
  });
});
