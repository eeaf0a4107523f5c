import { JournalUnavailableError } from "@mfactl/core";
import { afterEach, describe, expect, it } from "vitest";
import type { JobRow } from "./job-records.js";
import type { MfactlStore } from "./mfactl-store.js";
import { openPostgresStore } from "./postgres-store.js";
import { describePostgres, storeBackendsForTests } from "./postgres.test-helper.js";

/** Epoch ms beyond 2^31 (and 2^32): PostgreSQL's bigint, read back as a number. */
const T0 = 1_900_000_000_000;
const LEASE = 30_000;
const at = (n: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, n)).toISOString();

function job(jobId: string, overrides: Partial<JobRow> = {}): JobRow {
  return {
    jobId,
    type: "drift",
    status: "running",
    actor: "apikey:ops",
    createdAt: at(1),
    input: { request: { tenants: ["contoso.com"], policy: "version: 1" }, caller: { actor: "apikey:ops", tenants: null } },
    view: { progress: 0, counts: {} },
    leaseOwner: "host-a:1",
    leaseUntil: T0 + LEASE,
    attempts: 1,
    ...overrides,
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

for (const backend of storeBackendsForTests()) {
  describe.skipIf(backend.skip !== undefined)(`JobRecordStore on ${backend.name}`, () => {
    async function open(): Promise<MfactlStore> {
      const store = await backend.open();
      cleanups.push(() => store.close());
      return store;
    }

    it("keeps a job as inserted, lists newest first", async () => {
      const { jobs } = await open();
      const first = job("j-1");
      await jobs.insertJob(first);
      expect(await jobs.getJob("j-1")).toStrictEqual(first);
      const finished = job("j-2", { createdAt: at(2), status: "succeeded", finishedAt: at(3), runId: "r-1", result: { plan: [1, "two", null] }, attempts: 2 });
      delete finished.leaseOwner;
      delete finished.leaseUntil;
      await jobs.insertJob(finished);
      await jobs.insertJob(job("j-3", { createdAt: at(3) }));
      expect(await jobs.getJob("j-2")).toStrictEqual(finished);
      expect(await jobs.getJob("j-9")).toBeUndefined();
      expect((await jobs.listJobs()).map((j) => j.jobId)).toStrictEqual(["j-3", "j-2", "j-1"]);
      expect((await jobs.listJobs({ limit: 2 })).map((j) => j.jobId)).toStrictEqual(["j-3", "j-2"]);
      await expect(jobs.insertJob(job("j-1", { type: "other" }))).rejects.toThrow("A job with the id j-1 is already in");
      expect((await jobs.getJob("j-1"))?.type).toBe("drift");
    });

    it("leases: refused while live, taken over once run out, lost by the old owner, released at the end", async () => {
      const { jobs } = await open();
      await jobs.insertJob(job("j-1"));

      // Another owner while the lease is live (and at its last ms): refused, nothing changes.
      expect(await jobs.acquireLease("j-1", "host-b:2", T0 + LEASE - 1, LEASE)).toBeUndefined();
      expect(await jobs.acquireLease("j-1", "host-b:2", T0 + LEASE, LEASE)).toBeUndefined();
      expect(await jobs.getJob("j-1")).toStrictEqual(job("j-1"));

      // The holder again: extended, no new attempt.
      expect(await jobs.acquireLease("j-1", "host-a:1", T0 + 1000, LEASE)).toStrictEqual(job("j-1", { leaseUntil: T0 + 1000 + LEASE }));
      expect(await jobs.renewLease("j-1", "host-a:1", T0 + 2000, LEASE)).toBe(true);
      expect((await jobs.getJob("j-1"))?.leaseUntil).toBe(T0 + 2000 + LEASE);

      // Run out: another instance takes it, one more attempt.
      const later = T0 + 2000 + LEASE + 1;
      const taken = await jobs.acquireLease("j-1", "host-b:2", later, LEASE);
      expect(taken).toStrictEqual(job("j-1", { leaseOwner: "host-b:2", leaseUntil: later + LEASE, attempts: 2 }));
      expect(await jobs.renewLease("j-1", "host-a:1", later, LEASE)).toBe(false);
      expect(await jobs.updateJob("j-1", "host-a:1", { view: { progress: 99 } })).toBe(false);
      expect(await jobs.acquireLease("j-1", "host-a:1", later + 1, LEASE)).toBeUndefined();
      expect(await jobs.getJob("j-1")).toStrictEqual(taken);

      // The new owner writes and ends it.
      expect(await jobs.renewLease("j-1", "host-b:2", later + 10, LEASE)).toBe(true);
      expect(await jobs.updateJob("j-1", "host-b:2", { view: { progress: 50 }, runId: "r-1" })).toBe(true);
      expect(await jobs.getJob("j-1")).toMatchObject({ view: { progress: 50 }, runId: "r-1", leaseOwner: "host-b:2", status: "running" });
      expect(await jobs.updateJob("j-1", "host-b:2", {})).toBe(true);
      expect(await jobs.updateJob("j-1", "host-b:2", { status: "succeeded", finishedAt: at(9), result: { changed: 3 }, view: { progress: 100 } })).toBe(true);
      const ended = await jobs.getJob("j-1");
      const expectedEnd = job("j-1", { status: "succeeded", finishedAt: at(9), runId: "r-1", result: { changed: 3 }, view: { progress: 100 }, attempts: 2 });
      delete expectedEnd.leaseOwner;
      delete expectedEnd.leaseUntil;
      expect(ended).toStrictEqual(expectedEnd);

      // Ended: no lease for anyone, no more writes.
      expect(await jobs.acquireLease("j-1", "host-b:2", later + 20, LEASE)).toBeUndefined();
      expect(await jobs.acquireLease("j-1", "host-c:3", Number.MAX_SAFE_INTEGER - LEASE, LEASE)).toBeUndefined();
      expect(await jobs.renewLease("j-1", "host-b:2", later + 20, LEASE)).toBe(false);
      expect(await jobs.updateJob("j-1", "host-b:2", { status: "failed" })).toBe(false);
      expect((await jobs.getJob("j-1"))?.status).toBe("succeeded");
      expect(await jobs.acquireLease("j-9", "host-b:2", later, LEASE)).toBeUndefined();
      expect(await jobs.renewLease("j-9", "host-b:2", later, LEASE)).toBe(false);
      expect(await jobs.updateJob("j-9", "host-b:2", { view: {} })).toBe(false);
    });

    it("a cancelled or failed job releases its lease too", async () => {
      const { jobs } = await open();
      for (const status of ["cancelled", "failed"]) {
        await jobs.insertJob(job(`j-${status}`));
        expect(await jobs.updateJob(`j-${status}`, "host-a:1", { status, finishedAt: at(5) })).toBe(true);
        const row = await jobs.getJob(`j-${status}`);
        expect(row?.status).toBe(status);
        expect(row?.leaseOwner).toBeUndefined();
        expect(row?.leaseUntil).toBeUndefined();
      }
      expect(await jobs.orphanedJobs(Number.MAX_SAFE_INTEGER)).toStrictEqual([]);
    });

    it("a job without a lease is acquired by the first comer, counting an attempt; fractions of a ms round up", async () => {
      const { jobs } = await open();
      const free = job("j-1", { attempts: 0 });
      delete free.leaseOwner;
      delete free.leaseUntil;
      await jobs.insertJob(free);
      expect(await jobs.acquireLease("j-1", "host-a:1", T0 + 0.25, LEASE)).toMatchObject({ leaseOwner: "host-a:1", leaseUntil: T0 + LEASE + 1, attempts: 1 });
      expect(await jobs.acquireLease("j-1", "host-b:2", T0 + LEASE + 0.5, LEASE)).toBeUndefined();
      expect(await jobs.acquireLease("j-1", "host-b:2", T0 + LEASE + 1.5, LEASE)).toMatchObject({ leaseOwner: "host-b:2", attempts: 2 });
    });

    it("of 10 instances acquiring one run-out lease at once exactly one gets it", async () => {
      const { jobs } = await open();
      await jobs.insertJob(job("j-1"));
      const now = T0 + LEASE + 1;
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => jobs.acquireLease("j-1", `host-${i}:${i}`, now, LEASE)));
      const winners = results.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      expect(winners[0]?.attempts).toBe(2);
      expect(await jobs.getJob("j-1")).toStrictEqual(winners[0]);
    });

    it("orphaned jobs: running and lease run out before now, oldest first", async () => {
      const { jobs } = await open();
      await jobs.insertJob(job("j-new", { createdAt: at(5), leaseUntil: T0 + 10 }));
      await jobs.insertJob(job("j-old", { createdAt: at(2), leaseUntil: T0 + 20 }));
      await jobs.insertJob(job("j-live", { createdAt: at(1), leaseUntil: T0 + 100 }));
      await jobs.insertJob(job("j-edge", { createdAt: at(0), leaseUntil: T0 + 50 }));
      await jobs.insertJob(job("j-done", { createdAt: at(0), leaseUntil: T0 + 1, status: "succeeded", finishedAt: at(3) }));
      expect(await jobs.orphanedJobs(T0 + 50)).toStrictEqual(["j-old", "j-new"]);
      expect(await jobs.orphanedJobs(T0 + 51)).toStrictEqual(["j-edge", "j-old", "j-new"]);
      expect(await jobs.orphanedJobs(T0)).toStrictEqual([]);
      await jobs.acquireLease("j-old", "host-b:2", T0 + 50, LEASE);
      expect(await jobs.orphanedJobs(T0 + 50)).toStrictEqual(["j-new"]);
    });

    it("prunes finished jobs beyond the newest `keep`, never running ones", async () => {
      const { jobs } = await open();
      for (let i = 0; i < 5; i++) await jobs.insertJob(job(`done-${i}`, { createdAt: at(10 + i), status: i % 2 === 0 ? "succeeded" : "failed", finishedAt: at(20 + i) }));
      await jobs.insertJob(job("run-old", { createdAt: at(0) }));
      await jobs.insertJob(job("run-new", { createdAt: at(30) }));
      expect(await jobs.pruneJobs(2)).toBe(3);
      expect((await jobs.listJobs()).map((j) => j.jobId)).toStrictEqual(["run-new", "done-4", "done-3", "run-old"]);
      expect(await jobs.pruneJobs(2)).toBe(0);
      expect(await jobs.pruneJobs(0)).toBe(2);
      expect((await jobs.listJobs()).map((j) => j.jobId)).toStrictEqual(["run-new", "run-old"]);
    });

    it("fails with JournalUnavailableError once closed", async () => {
      const store = await open();
      await store.close();
      await expect(store.jobs.listJobs()).rejects.toBeInstanceOf(JournalUnavailableError);
      await expect(store.jobs.acquireLease("j-1", "a", T0, LEASE)).rejects.toBeInstanceOf(JournalUnavailableError);
    });
  });
}

describePostgres("JobRecordStore: two stores on one PostgreSQL schema", (pg) => {
  it("of two instances taking over run-out leases at once exactly one gets each, and only it may write", async () => {
    const { schema, drop } = await pg.freshSchema();
    cleanups.push(drop);
    const a = await openPostgresStore(pg.url, { schema, poolSize: 5 });
    cleanups.push(() => a.close());
    const b = await openPostgresStore(pg.url, { schema, poolSize: 5 });
    cleanups.push(() => b.close());
    const ids = Array.from({ length: 10 }, (_, i) => `j-${i}`);
    for (const id of ids) await a.jobs.insertJob(job(id, { leaseOwner: "host-dead:9" }));
    const now = T0 + LEASE + 1;
    expect(await b.jobs.orphanedJobs(now)).toHaveLength(10);
    for (const id of ids) {
      const tries = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).jobs.acquireLease(id, `host-${i}:${i}`, now, LEASE)));
      const winners = tries.filter((t) => t !== undefined);
      expect(winners).toHaveLength(1);
      const owner = winners[0]?.leaseOwner ?? "";
      const other = owner === "host-0:0" ? "host-1:1" : "host-0:0";
      expect(await b.jobs.updateJob(id, other, { status: "failed" })).toBe(false);
      expect(await a.jobs.updateJob(id, owner, { status: "succeeded" })).toBe(true);
    }
    expect(await a.jobs.orphanedJobs(Number.MAX_SAFE_INTEGER)).toStrictEqual([]);
  });
});
