import { JournalUnavailableError, ScheduleInputSchema, ScheduleNameTakenError, type NewScheduleFire, type ScheduleDefinition, type ScheduleInput, type ScheduleRecord } from "@mfactl/core";
import { afterEach, describe, expect, it } from "vitest";
import type { MfactlStore } from "./mfactl-store.js";
import { openPostgresStore } from "./postgres-store.js";
import { describePostgres, storeBackendsForTests } from "./postgres.test-helper.js";

const at = (n: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, n)).toISOString();
const period = (n: number) => new Date(Date.UTC(2030, 0, 1, n)).toISOString();

function definition(name: string, overrides: Partial<ScheduleInput> = {}): ScheduleDefinition {
  return ScheduleInputSchema.parse({
    name,
    cron: "0 3 * * *",
    policy: "version: 1\nrules: []\n",
    policySource: "policy.yaml",
    tenants: ["contoso.com"],
    alerts: { webhooks: [{ url: "https://hooks.example.com/x", secret: "0123456789abcdef-secret" }] },
    ...overrides,
  });
}

function schedule(id: string, name: string, overrides: Partial<ScheduleInput> = {}): ScheduleRecord {
  return { ...definition(name, overrides), scheduleId: id, createdAt: at(1), updatedAt: at(1), createdBy: "apikey:ops" };
}

function fire(scheduleId: string, n: number, overrides: Partial<NewScheduleFire> = {}): NewScheduleFire {
  return { scheduleId, period: period(n), startedAt: at(n), trigger: "scheduler", instance: "host-a:100", ...overrides };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

for (const backend of storeBackendsForTests()) {
  describe.skipIf(backend.skip !== undefined)(`ScheduleStore on ${backend.name}`, () => {
    async function open(): Promise<MfactlStore> {
      const store = await backend.open();
      cleanups.push(() => store.close());
      return store;
    }

    it("creates, gets by id and by name in any case, lists by name", async () => {
      const { schedules } = await open();
      const nightly = schedule("s-1", "Nightly", { remediate: { enabled: true, maxChanges: "10%" }, enabled: false });
      expect(await schedules.createSchedule(nightly)).toStrictEqual(nightly);
      await schedules.createSchedule(schedule("s-2", "alpha.check"));
      await schedules.createSchedule(schedule("s-3", "Zulu"));
      expect(await schedules.getSchedule("s-1")).toStrictEqual(nightly);
      expect(await schedules.getSchedule("nightly")).toStrictEqual(nightly);
      expect(await schedules.getSchedule("NIGHTLY")).toStrictEqual(nightly);
      expect(await schedules.getSchedule("nightl")).toBeUndefined();
      expect(await schedules.getSchedule("s-9")).toBeUndefined();
      expect((await schedules.listSchedules()).map((s) => s.name)).toStrictEqual(["alpha.check", "Nightly", "Zulu"]);
    });

    it("refuses a taken name, in another case too, and keeps the first", async () => {
      const { schedules } = await open();
      const first = await schedules.createSchedule(schedule("s-1", "nightly"));
      const error = await schedules.createSchedule(schedule("s-2", "NightLY", { cron: "* * * * *" })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ScheduleNameTakenError);
      expect(error).toMatchObject({ name: "ScheduleNameTakenError", kind: "scheduleNameTaken" });
      expect((error as Error).message).toContain("A schedule named NightLY already exists");
      expect(await schedules.getSchedule("s-2")).toBeUndefined();
      expect(await schedules.listSchedules()).toStrictEqual([first]);
      // A caller's bug: the same id again.
      await expect(schedules.createSchedule(schedule("s-1", "other"))).rejects.toThrow("A schedule with the id s-1 is already in");
    });

    it("replaces a definition, renames, refuses a rename to a taken name", async () => {
      const { schedules } = await open();
      await schedules.createSchedule(schedule("s-1", "nightly"));
      await schedules.createSchedule(schedule("s-2", "weekly"));
      const changed = definition("Nightly-EU", { cron: "30 2 * * *", timezone: "Europe/Paris", enabled: false, tenants: [], allTenants: true });
      const replaced = await schedules.replaceSchedule("s-1", changed, at(5));
      expect(replaced).toStrictEqual({ ...changed, scheduleId: "s-1", createdAt: at(1), updatedAt: at(5), createdBy: "apikey:ops" });
      expect(await schedules.getSchedule("nightly-eu")).toStrictEqual(replaced);
      expect(await schedules.getSchedule("nightly")).toBeUndefined();

      // Its own name in another case is no conflict.
      expect((await schedules.replaceSchedule("s-1", definition("NIGHTLY-eu"), at(6)))?.name).toBe("NIGHTLY-eu");

      const error = await schedules.replaceSchedule("s-1", definition("WEEKLY"), at(7)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ScheduleNameTakenError);
      expect((await schedules.getSchedule("s-1"))?.name).toBe("NIGHTLY-eu");
      expect((await schedules.getSchedule("s-1"))?.updatedAt).toBe(at(6));
      // The store still works after the refused statement (PostgreSQL: no transaction left aborted).
      expect((await schedules.listSchedules()).map((s) => s.scheduleId)).toStrictEqual(["s-1", "s-2"]);

      expect(await schedules.replaceSchedule("s-9", definition("other"), at(8))).toBeUndefined();
      expect(await schedules.getSchedule("other")).toBeUndefined();
    });

    it("deletes a schedule and its firings; its name is free again", async () => {
      const { schedules } = await open();
      await schedules.createSchedule(schedule("s-1", "nightly"));
      await schedules.createSchedule(schedule("s-2", "weekly"));
      expect(await schedules.claimFire(fire("s-1", 1))).toBeDefined();
      expect(await schedules.claimFire(fire("s-1", 2))).toBeDefined();
      expect(await schedules.claimFire(fire("s-2", 1))).toBeDefined();
      expect(await schedules.deleteSchedule("s-1")).toBe(true);
      expect(await schedules.getSchedule("s-1")).toBeUndefined();
      expect(await schedules.listFires("s-1")).toStrictEqual([]);
      expect(await schedules.getFire("s-1", period(1))).toBeUndefined();
      expect(await schedules.listFires("s-2")).toHaveLength(1);
      expect(await schedules.deleteSchedule("s-1")).toBe(false);
      // Nothing of the old one is left: the same id and name again, and the same period fires anew.
      await schedules.createSchedule(schedule("s-1", "NIGHTLY"));
      expect(await schedules.claimFire(fire("s-1", 1))).toBeDefined();
    });

    it("claims a period once, records the job and the end, keeps the first end", async () => {
      const { schedules } = await open();
      await schedules.createSchedule(schedule("s-1", "nightly"));
      const claimed = await schedules.claimFire(fire("s-1", 3, { jobId: "job-1" }));
      const expected = { scheduleId: "s-1", period: period(3), startedAt: at(3), status: "running", trigger: "scheduler", instance: "host-a:100", jobId: "job-1" };
      expect(claimed).toStrictEqual(expected);
      expect(await schedules.claimFire(fire("s-1", 3, { instance: "host-b:200", trigger: "apikey:ops" }))).toBeUndefined();
      expect(await schedules.getFire("s-1", period(3))).toStrictEqual(expected);

      const other = await schedules.claimFire(fire("s-1", 4));
      expect(other).toStrictEqual({ scheduleId: "s-1", period: period(4), startedAt: at(4), status: "running", trigger: "scheduler", instance: "host-a:100" });
      await schedules.setFireJob("s-1", period(4), "job-2");
      const result = { tenants: [{ tenant: "contoso.com", drift: 2, users: ["a@contoso.com"] }], nested: { ok: true, n: null } };
      await schedules.finishFire("s-1", period(4), { status: "succeeded", finishedAt: at(9), result });
      expect(await schedules.getFire("s-1", period(4))).toStrictEqual({ ...other, jobId: "job-2", status: "succeeded", finishedAt: at(9), result });
      // A second end (a late instance) leaves the first.
      await schedules.finishFire("s-1", period(4), { status: "failed", finishedAt: at(10), error: { code: "graph", message: "late" } });
      expect((await schedules.getFire("s-1", period(4)))?.status).toBe("succeeded");

      await schedules.finishFire("s-1", period(3), { status: "failed", finishedAt: at(11), error: { code: "throttled", message: "Graph said 429" } });
      expect(await schedules.getFire("s-1", period(3))).toStrictEqual({ ...expected, status: "failed", finishedAt: at(11), error: { code: "throttled", message: "Graph said 429" } });
    });

    it("claims nothing for a schedule that does not exist (deleted meanwhile)", async () => {
      const { schedules } = await open();
      expect(await schedules.claimFire(fire("s-gone", 1))).toBeUndefined();
      expect(await schedules.getFire("s-gone", period(1))).toBeUndefined();
    });

    it("of 20 concurrent claims for one period exactly one wins", async () => {
      const { schedules } = await open();
      await schedules.createSchedule(schedule("s-1", "nightly"));
      const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => schedules.claimFire(fire("s-1", 7, { instance: `host:${i}` }))));
      const winners = claims.filter((c) => c !== undefined);
      expect(winners).toHaveLength(1);
      expect(await schedules.getFire("s-1", period(7))).toStrictEqual(winners[0]);
      expect(await schedules.listFires("s-1")).toHaveLength(1);
    });

    it("lists firings newest period first, 50 by default, pages with before", async () => {
      const { schedules } = await open();
      await schedules.createSchedule(schedule("s-1", "nightly"));
      await schedules.createSchedule(schedule("s-2", "weekly"));
      // Claimed out of order: the order comes from the period.
      const hours = Array.from({ length: 60 }, (_, i) => (i * 37) % 60);
      for (const h of hours) await schedules.claimFire(fire("s-1", h));
      await schedules.claimFire(fire("s-2", 100));
      const all = (await schedules.listFires("s-1", { limit: Infinity })).map((f) => f.period);
      expect(all).toStrictEqual(Array.from({ length: 60 }, (_, i) => period(59 - i)));
      expect((await schedules.listFires("s-1")).map((f) => f.period)).toStrictEqual(all.slice(0, 50));
      expect((await schedules.listFires("s-1", { limit: 3 })).map((f) => f.period)).toStrictEqual(all.slice(0, 3));
      expect((await schedules.listFires("s-1", { limit: 3, before: period(10) })).map((f) => f.period)).toStrictEqual([period(9), period(8), period(7)]);
      expect(await schedules.listFires("s-1", { before: period(0) })).toStrictEqual([]);
      expect(await schedules.listFires("s-1", { limit: 0 })).toStrictEqual([]);
    });

    it("fails with JournalUnavailableError once closed", async () => {
      const store = await open();
      await store.close();
      await expect(store.schedules.listSchedules()).rejects.toBeInstanceOf(JournalUnavailableError);
      await expect(store.schedules.claimFire(fire("s-1", 1))).rejects.toBeInstanceOf(JournalUnavailableError);
    });
  });
}

describePostgres("ScheduleStore: two stores on one PostgreSQL schema", (pg) => {
  async function twoStores(): Promise<[MfactlStore, MfactlStore]> {
    const { schema, drop } = await pg.freshSchema();
    cleanups.push(drop);
    const a = await openPostgresStore(pg.url, { schema, poolSize: 5 });
    cleanups.push(() => a.close());
    const b = await openPostgresStore(pg.url, { schema, poolSize: 5 });
    cleanups.push(() => b.close());
    return [a, b];
  }

  it("of 20 concurrent claims for one period from two instances exactly one wins, period after period", async () => {
    const [a, b] = await twoStores();
    await a.schedules.createSchedule(schedule("s-1", "nightly"));
    for (let p = 0; p < 5; p++) {
      const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).schedules.claimFire(fire("s-1", p, { instance: `host-${i % 2}:${i}` }))));
      expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
    }
    expect(await b.schedules.listFires("s-1")).toHaveLength(5);
  });

  it("of two instances creating one name (in different cases) at once, one wins", async () => {
    const [a, b] = await twoStores();
    const results = await Promise.allSettled([a.schedules.createSchedule(schedule("s-1", "nightly")), b.schedules.createSchedule(schedule("s-2", "NIGHTLY"))]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected");
    expect(rejected?.reason).toBeInstanceOf(ScheduleNameTakenError);
    expect(await a.schedules.listSchedules()).toHaveLength(1);
  });
});
