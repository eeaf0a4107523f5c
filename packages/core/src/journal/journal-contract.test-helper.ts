import { afterEach, describe, expect, it } from "vitest";
import { PlanAlreadyRunError, RunNotFoundError } from "../domain/errors.js";
import type { MfaState, MfaStateRead } from "../domain/mfa-state.js";
import type { JournalChange, JournalChangeStatus, JournalStore, NewChange, NewRun, RunCounts, RunOwner, RunRecord } from "./types.js";

export interface JournalContractOptions {
  /** Changes in the large round-trip run (default 10,000). */
  largeRun?: number;
}

/** ISO time `n` seconds after a fixed start, so ordering by time is under the test's control. */
export function at(n: number): string {
  return new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();
}

export function owner(name: string): RunOwner {
  return { id: `${name}-host:${name.length}:r4nd0m`, host: `${name}-host`, pid: 1000 + name.length };
}

export function newRun(runId: string, overrides: Partial<NewRun> = {}): NewRun {
  return { runId, kind: "bulk-set", actor: "app:11111111-2222-3333-4444-555555555555", host: "admin-pc", startedAt: at(0), owner: owner("alpha"), ...overrides };
}

const STATES: readonly MfaState[] = ["disabled", "enabled", "enforced"];
const READ_STATES: readonly MfaStateRead[] = ["disabled", "enabled", "enforced", "unknown"];

/** `n` changes across three tenants; every third has no expected state. */
export function newChanges(n: number, tenants = ["contoso.com", "fabrikam.com", "9a7c4f0e-1b2d-4e3f-8a9b-0c1d2e3f4a5b"]): NewChange[] {
  return Array.from({ length: n }, (_, i) => ({
    tenant: tenants[i % tenants.length] ?? "contoso.com",
    id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    userPrincipalName: i % 7 === 0 ? `guest${i}_outlook.com#EXT#@contoso.onmicrosoft.com` : `user${i}@contoso.com`,
    requestedState: STATES[i % 3] ?? "enforced",
    ...(i % 3 === 2 ? {} : { expectedState: READ_STATES[i % 4] ?? "disabled" }),
  }));
}

/** The owner ids of the runs the suite creates (alpha) and of the processes that take them over. */
const ALPHA = owner("alpha").id;
const BETA = owner("beta").id;

function counts(partial: Partial<RunCounts>): RunCounts {
  return { pending: 0, inFlight: 0, changed: 0, unchanged: 0, failed: 0, conflict: 0, ...partial };
}

async function all(iterable: AsyncIterable<JournalChange>): Promise<JournalChange[]> {
  const out: JournalChange[] = [];
  for await (const c of iterable) out.push(c);
  return out;
}

/** What createRun must have stored for change `seq` of `changes`. */
function pendingChange(runId: string, seq: number, c: NewChange, updatedAt: string): JournalChange {
  return {
    runId,
    seq,
    tenant: c.tenant,
    id: c.id,
    userPrincipalName: c.userPrincipalName,
    requestedState: c.requestedState,
    ...(c.expectedState !== undefined ? { expectedState: c.expectedState } : {}),
    status: "pending",
    updatedAt,
  };
}

/**
 * The rules every `JournalStore` follows, as a vitest suite. `open` returns a new, empty store for
 * each test; the suite closes it. Run it against each implementation (memory, SQLite, ...).
 */
export function describeJournalContract(name: string, open: () => Promise<JournalStore>, options: JournalContractOptions = {}): void {
  const largeRun = options.largeRun ?? 10_000;

  describe(`JournalStore contract: ${name}`, () => {
    const opened: JournalStore[] = [];
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
    });
    const fresh = async (): Promise<JournalStore> => {
      const store = await open();
      opened.push(store);
      return store;
    };
    /** A store with run `r1` of `n` changes, owned by alpha. */
    const withRun = async (n = 5, overrides: Partial<NewRun> = {}) => {
      const store = await fresh();
      const changes = newChanges(n);
      const run = await store.createRun(newRun("r1", overrides), changes);
      return { store, changes, run };
    };

    it("names its location", async () => {
      const store = await fresh();
      expect(store.location).toEqual(expect.any(String));
      expect(store.location.length).toBeGreaterThan(0);
    });

    describe("createRun", () => {
      it("stores the run running, owned by its owner, with every change pending", async () => {
        const { store, run } = await withRun(5, { planId: "plan-1", undoOf: "r0", description: "bulk set enforced (3 tenants)", options: { force: true, includeProtected: false } });
        const expected: RunRecord = {
          runId: "r1",
          kind: "bulk-set",
          actor: "app:11111111-2222-3333-4444-555555555555",
          host: "admin-pc",
          startedAt: at(0),
          status: "running",
          planId: "plan-1",
          undoOf: "r0",
          description: "bulk set enforced (3 tenants)",
          options: { force: true, includeProtected: false },
          owner: owner("alpha"),
          heartbeatAt: at(0),
          total: 5,
          counts: counts({ pending: 5 }),
        };
        expect(run).toStrictEqual(expected);
        expect(await store.getRun("r1")).toStrictEqual(expected);
      });

      it("applies defaults and leaves optional fields absent", async () => {
        const { run } = await withRun(1);
        expect(run.description).toBe("");
        expect(run.options).toStrictEqual({ force: false, includeProtected: false });
        for (const key of ["planId", "undoOf", "finishedAt"]) expect(Object.keys(run)).not.toContain(key);
      });

      it("stores every change pending, in seq order, with its fields", async () => {
        const { store, changes } = await withRun(7);
        const stored = await all(store.changes("r1"));
        expect(stored).toStrictEqual(changes.map((c, seq) => pendingChange("r1", seq, c, at(0))));
      });

      it("accepts a run without changes", async () => {
        const store = await fresh();
        const run = await store.createRun(newRun("empty"), []);
        expect(run.total).toBe(0);
        expect(run.counts).toStrictEqual(counts({}));
        expect(await all(store.changes("empty"))).toStrictEqual([]);
      });

      it("keeps text as given: quotes, percent signs, unicode, guests", async () => {
        const store = await fresh();
        const odd: NewChange = { tenant: "o'brien.com", id: "x%_\\y", userPrincipalName: "zoë.o'brien_x%#EXT#@contoso.onmicrosoft.com", requestedState: "enabled", expectedState: "unknown" };
        await store.createRun(newRun("odd", { description: 'say "hi" -- ; drop table runs' }), [odd]);
        expect((await store.getRun("odd"))?.description).toBe('say "hi" -- ; drop table runs');
        expect(await all(store.changes("odd"))).toStrictEqual([pendingChange("odd", 0, odd, at(0))]);
      });

      it("refuses a second run of the same plan, naming the run that has it, and creates nothing", async () => {
        const { store } = await withRun(3, { planId: "plan-1" });
        const second = store.createRun(newRun("r2", { planId: "plan-1", startedAt: at(5) }), newChanges(4));
        await expect(second).rejects.toBeInstanceOf(PlanAlreadyRunError);
        await expect(second).rejects.toMatchObject({ planId: "plan-1", runId: "r1" });
        expect(await store.getRun("r2")).toBeUndefined();
        expect((await store.listRuns()).map((r) => r.runId)).toStrictEqual(["r1"]);
        await expect(all(store.changes("r2"))).rejects.toBeInstanceOf(RunNotFoundError);
        expect((await store.getRun("r1"))?.total).toBe(3);
      });

      it("allows any number of runs without a plan, and different plans", async () => {
        const store = await fresh();
        await store.createRun(newRun("a"), newChanges(1));
        await store.createRun(newRun("b"), newChanges(1));
        await store.createRun(newRun("c", { planId: "p1" }), newChanges(1));
        await store.createRun(newRun("d", { planId: "p2" }), newChanges(1));
        expect(await store.listRuns()).toHaveLength(4);
      });

      it("returns snapshots: changing a returned record changes nothing stored", async () => {
        const { store, run } = await withRun(2);
        run.counts.pending = 99;
        run.options.force = true;
        const again = await store.getRun("r1");
        expect(again?.counts.pending).toBe(2);
        expect(again?.options.force).toBe(false);
        for await (const c of store.changes("r1")) c.status = "changed";
        expect((await all(store.changes("r1"))).every((c) => c.status === "pending")).toBe(true);
      });

      it(`round-trips a run of ${largeRun} changes`, async () => {
        const store = await fresh();
        const changes = newChanges(largeRun);
        const run = await store.createRun(newRun("big"), changes);
        expect(run.total).toBe(largeRun);
        expect(run.counts).toStrictEqual(counts({ pending: largeRun }));
        let seq = 0;
        for await (const c of store.changes("big")) {
          const want = changes[seq];
          if (!want) throw new Error(`extra change ${c.seq}`);
          expect(c).toStrictEqual(pendingChange("big", seq, want, at(0)));
          seq++;
        }
        expect(seq).toBe(largeRun);
        await store.settleChange("big", largeRun - 1, ALPHA, { status: "unchanged", perUserMfaState: "enforced", at: at(1) });
        const last = await all(store.changes("big", { status: ["unchanged"] }));
        expect(last.map((c) => c.seq)).toStrictEqual([largeRun - 1]);
      });
    });

    describe("claimRun", () => {
      it("claims an unowned run (expected undefined): running, new owner, finishedAt cleared", async () => {
        const { store } = await withRun(2);
        await store.finishRun("r1", ALPHA, "interrupted", at(10));
        expect(await store.claimRun("r1", owner("beta"), undefined, at(20))).toBe(true);
        const run = await store.getRun("r1");
        expect(run).toMatchObject({ status: "running", owner: owner("beta"), heartbeatAt: at(20) });
        expect(Object.keys(run ?? {})).not.toContain("finishedAt");
      });

      it("reopens a completed run", async () => {
        const { store } = await withRun(1);
        await store.finishRun("r1", ALPHA, "completed", at(10));
        expect(await store.claimRun("r1", owner("beta"), undefined, at(20))).toBe(true);
        expect((await store.getRun("r1"))?.status).toBe("running");
      });

      it("takes over from the expected owner", async () => {
        const { store } = await withRun(1);
        expect(await store.claimRun("r1", owner("beta"), owner("alpha").id, at(20))).toBe(true);
        expect((await store.getRun("r1"))?.owner).toStrictEqual(owner("beta"));
      });

      it("is a compare and swap: false, and nothing changed, when the owner is not the expected one", async () => {
        const { store } = await withRun(1);
        const before = await store.getRun("r1");
        expect(await store.claimRun("r1", owner("beta"), undefined, at(20))).toBe(false);
        expect(await store.claimRun("r1", owner("beta"), "someone-else", at(20))).toBe(false);
        expect(await store.getRun("r1")).toStrictEqual(before);
        await store.finishRun("r1", ALPHA, "interrupted", at(30));
        expect(await store.claimRun("r1", owner("beta"), owner("alpha").id, at(40))).toBe(false);
        expect((await store.getRun("r1"))?.status).toBe("interrupted");
      });

      it("lets exactly one of two claimers with the same expectation win", async () => {
        const { store } = await withRun(1);
        await store.finishRun("r1", ALPHA, "interrupted", at(10));
        const results = await Promise.all([store.claimRun("r1", owner("beta"), undefined, at(20)), store.claimRun("r1", owner("gamma"), undefined, at(20))]);
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results[0] ? owner("beta") : owner("gamma");
        expect((await store.getRun("r1"))?.owner).toStrictEqual(winner);
      });

      it("throws RunNotFoundError for an unknown run", async () => {
        const store = await fresh();
        await expect(store.claimRun("nope", owner("beta"), undefined, at(1))).rejects.toBeInstanceOf(RunNotFoundError);
      });
    });

    describe("heartbeat", () => {
      it("records a sign of life from the owner", async () => {
        const { store } = await withRun(1);
        expect(await store.heartbeat("r1", owner("alpha").id, at(30))).toBe(true);
        expect((await store.getRun("r1"))?.heartbeatAt).toBe(at(30));
      });

      it("is false, and records nothing, after a takeover or once the run is finished", async () => {
        const { store } = await withRun(1);
        await store.claimRun("r1", owner("beta"), owner("alpha").id, at(20));
        expect(await store.heartbeat("r1", owner("alpha").id, at(30))).toBe(false);
        expect((await store.getRun("r1"))?.heartbeatAt).toBe(at(20));
        await store.finishRun("r1", BETA, "completed", at(40));
        expect(await store.heartbeat("r1", BETA, at(50))).toBe(false);
      });

      it("throws RunNotFoundError for an unknown run", async () => {
        const store = await fresh();
        await expect(store.heartbeat("nope", "x", at(1))).rejects.toBeInstanceOf(RunNotFoundError);
      });
    });

    describe("beginChange", () => {
      it("marks the change inFlight with the state read before it and when it was sent", async () => {
        const { store, changes } = await withRun(3);
        expect(await store.beginChange("r1", 1, ALPHA, "disabled", at(5))).toBe(true);
        const [c] = await all(store.changes("r1", { status: ["inFlight"] }));
        const want = changes[1];
        if (!want) throw new Error("fixture");
        expect(c).toStrictEqual({ ...pendingChange("r1", 1, want, at(5)), status: "inFlight", previousState: "disabled", sentAt: at(5) });
        expect((await store.getRun("r1"))?.counts).toStrictEqual(counts({ pending: 2, inFlight: 1 }));
      });

      it("may begin an inFlight change again (resume) and keeps a known previous state when given none", async () => {
        const { store } = await withRun(1);
        expect(await store.beginChange("r1", 0, ALPHA, "enabled", at(5))).toBe(true);
        expect(await store.beginChange("r1", 0, ALPHA, undefined, at(9))).toBe(true);
        const [c] = await all(store.changes("r1"));
        expect(c).toMatchObject({ status: "inFlight", previousState: "enabled", sentAt: at(9), updatedAt: at(9) });
      });

      it("leaves previousState absent when none was read", async () => {
        const { store } = await withRun(1);
        await store.beginChange("r1", 0, ALPHA, undefined, at(5));
        const [c] = await all(store.changes("r1"));
        expect(Object.keys(c ?? {})).not.toContain("previousState");
      });

      it("refuses a settled change and leaves it as it was", async () => {
        const { store } = await withRun(1);
        await store.beginChange("r1", 0, ALPHA, "disabled", at(5));
        await store.settleChange("r1", 0, ALPHA, { status: "changed", perUserMfaState: "enforced", requestId: "req-1", at: at(6) });
        const before = await all(store.changes("r1"));
        await expect(store.beginChange("r1", 0, ALPHA, "enforced", at(7))).rejects.toThrow();
        expect(await all(store.changes("r1"))).toStrictEqual(before);
      });

      it("is a compare and swap on the owner: false, and nothing recorded, for a process that does not own the run", async () => {
        const { store } = await withRun(2);
        const before = { run: await store.getRun("r1"), changes: await all(store.changes("r1")) };
        expect(await store.beginChange("r1", 0, "someone-else", "disabled", at(5))).toBe(false);
        expect(await store.beginChange("r1", 1, BETA, undefined, at(5))).toBe(false);
        expect({ run: await store.getRun("r1"), changes: await all(store.changes("r1")) }).toStrictEqual(before);
      });

      it("refuses the old owner after a takeover, for pending and inFlight changes alike, and lets the new owner begin them", async () => {
        const { store } = await withRun(2);
        expect(await store.beginChange("r1", 0, ALPHA, "disabled", at(5))).toBe(true);
        expect(await store.claimRun("r1", owner("beta"), ALPHA, at(10))).toBe(true);
        const before = { run: await store.getRun("r1"), changes: await all(store.changes("r1")) };
        expect(await store.beginChange("r1", 1, ALPHA, "enabled", at(11))).toBe(false);
        expect(await store.beginChange("r1", 0, ALPHA, "enabled", at(11))).toBe(false);
        expect({ run: await store.getRun("r1"), changes: await all(store.changes("r1")) }).toStrictEqual(before);
        expect(await store.beginChange("r1", 1, BETA, "enforced", at(12))).toBe(true);
        expect((await all(store.changes("r1"))).map((c) => [c.status, c.previousState, c.sentAt])).toStrictEqual([
          ["inFlight", "disabled", at(5)],
          ["inFlight", "enforced", at(12)],
        ]);
      });

      it("is false for a settled change when the caller does not own the run (the owner check comes first)", async () => {
        const { store } = await withRun(1);
        await store.settleChange("r1", 0, ALPHA, { status: "changed", at: at(5) });
        await store.claimRun("r1", owner("beta"), ALPHA, at(10));
        expect(await store.beginChange("r1", 0, ALPHA, "disabled", at(11))).toBe(false);
      });

      it("is false once the run is finished: it has no owner", async () => {
        const { store } = await withRun(2);
        await store.finishRun("r1", ALPHA, "interrupted", at(10));
        expect(await store.beginChange("r1", 0, ALPHA, "disabled", at(11))).toBe(false);
        expect((await store.getRun("r1"))?.counts).toStrictEqual(counts({ pending: 2 }));
      });

      it("throws RunNotFoundError for an unknown run or change", async () => {
        const { store } = await withRun(1);
        await expect(store.beginChange("nope", 0, ALPHA, "disabled", at(1))).rejects.toBeInstanceOf(RunNotFoundError);
        await expect(store.beginChange("r1", 1, ALPHA, "disabled", at(1))).rejects.toBeInstanceOf(RunNotFoundError);
      });
    });

    describe("settleChange", () => {
      it("stores every field of the settlement", async () => {
        const { store, changes } = await withRun(2);
        await store.beginChange("r1", 0, ALPHA, "disabled", at(5));
        const settled = await store.settleChange("r1", 0, ALPHA, {
          status: "failed",
          previousState: "enabled",
          perUserMfaState: "unknown",
          requestId: "6b0e1c2d-req",
          error: { code: "accessDenied", message: "Request Authorization failed.", httpStatus: 403 },
          at: at(6),
        });
        expect(settled).toBe(true);
        const [c] = await all(store.changes("r1"));
        const want = changes[0];
        if (!want) throw new Error("fixture");
        expect(c).toStrictEqual({
          ...pendingChange("r1", 0, want, at(6)),
          status: "failed",
          previousState: "enabled",
          perUserMfaState: "unknown",
          requestId: "6b0e1c2d-req",
          error: { code: "accessDenied", message: "Request Authorization failed.", httpStatus: 403 },
          sentAt: at(5),
        });
      });

      it("keeps the previous state from beginChange and stores an error without an HTTP status", async () => {
        const { store } = await withRun(1);
        await store.beginChange("r1", 0, ALPHA, "disabled", at(5));
        await store.settleChange("r1", 0, ALPHA, { status: "failed", error: { code: "ECONNRESET", message: "socket hang up" }, at: at(6) });
        const [c] = await all(store.changes("r1"));
        expect(c?.previousState).toBe("disabled");
        expect(c?.error).toStrictEqual({ code: "ECONNRESET", message: "socket hang up" });
        for (const key of ["perUserMfaState", "requestId"]) expect(Object.keys(c ?? {})).not.toContain(key);
      });

      it("settles a pending change directly (nothing was sent) and counts each status", async () => {
        const { store } = await withRun(6);
        await store.settleChange("r1", 0, ALPHA, { status: "unchanged", previousState: "enforced", perUserMfaState: "enforced", at: at(1) });
        await store.beginChange("r1", 1, ALPHA, "disabled", at(2));
        await store.settleChange("r1", 1, ALPHA, { status: "changed", perUserMfaState: "enforced", requestId: "a", at: at(3) });
        await store.settleChange("r1", 2, ALPHA, { status: "conflict", previousState: "enabled", at: at(4) });
        await store.settleChange("r1", 3, ALPHA, { status: "failed", error: { code: "x", message: "y" }, at: at(5) });
        await store.beginChange("r1", 4, ALPHA, "disabled", at(6));
        const run = await store.getRun("r1");
        expect(run?.total).toBe(6);
        expect(run?.counts).toStrictEqual({ pending: 1, inFlight: 1, changed: 1, unchanged: 1, failed: 1, conflict: 1 });
        const [first] = await all(store.changes("r1"));
        expect(Object.keys(first ?? {})).not.toContain("sentAt");
      });

      it("settles a change once: the owner settling it again throws and the first settlement stays", async () => {
        const { store } = await withRun(1);
        await store.beginChange("r1", 0, ALPHA, "disabled", at(5));
        expect(await store.settleChange("r1", 0, ALPHA, { status: "changed", perUserMfaState: "enforced", requestId: "req-1", at: at(6) })).toBe(true);
        const before = await all(store.changes("r1"));
        await expect(store.settleChange("r1", 0, ALPHA, { status: "failed", error: { code: "late", message: "late" }, at: at(7) })).rejects.toThrow(/already settled/);
        expect(await all(store.changes("r1"))).toStrictEqual(before);
      });

      it("is a compare and swap on the owner: the old owner's late settlement after a takeover is refused and the new owner's result stays", async () => {
        const { store } = await withRun(2);
        await store.beginChange("r1", 0, ALPHA, "disabled", at(5));
        await store.beginChange("r1", 1, ALPHA, "disabled", at(5));
        expect(await store.claimRun("r1", owner("beta"), ALPHA, at(10))).toBe(true);
        // Change 0: the old owner wakes before the new owner settled it.
        const before = await all(store.changes("r1"));
        expect(await store.settleChange("r1", 0, ALPHA, { status: "failed", error: { code: "stale", message: "stale" }, at: at(11) })).toBe(false);
        expect(await all(store.changes("r1"))).toStrictEqual(before);
        // Change 1: the new owner settled it first; the old owner's settlement does not overwrite it.
        expect(await store.settleChange("r1", 1, BETA, { status: "changed", perUserMfaState: "enforced", requestId: "beta-req", at: at(12) })).toBe(true);
        const settledByBeta = await all(store.changes("r1"));
        expect(await store.settleChange("r1", 1, ALPHA, { status: "failed", perUserMfaState: "disabled", requestId: "alpha-req", at: at(13) })).toBe(false);
        expect(await store.settleChange("r1", 1, "someone-else", { status: "conflict", at: at(13) })).toBe(false);
        expect(await all(store.changes("r1"))).toStrictEqual(settledByBeta);
        expect(settledByBeta[1]).toMatchObject({ status: "changed", perUserMfaState: "enforced", requestId: "beta-req", updatedAt: at(12) });
        expect((await store.getRun("r1"))?.counts).toStrictEqual(counts({ inFlight: 1, changed: 1 }));
      });

      it("is false once the run is finished, and the change stays as it was", async () => {
        const { store } = await withRun(1);
        await store.beginChange("r1", 0, ALPHA, "disabled", at(5));
        await store.finishRun("r1", ALPHA, "interrupted", at(6));
        expect(await store.settleChange("r1", 0, ALPHA, { status: "changed", at: at(7) })).toBe(false);
        expect((await all(store.changes("r1")))[0]).toMatchObject({ status: "inFlight", updatedAt: at(5) });
      });

      it("throws RunNotFoundError for an unknown run or change", async () => {
        const { store } = await withRun(1);
        await expect(store.settleChange("nope", 0, ALPHA, { status: "changed", at: at(1) })).rejects.toBeInstanceOf(RunNotFoundError);
        await expect(store.settleChange("r1", 5, ALPHA, { status: "changed", at: at(1) })).rejects.toBeInstanceOf(RunNotFoundError);
      });
    });

    describe("finishRun", () => {
      it.each(["completed", "interrupted"] as const)("ends the run %s, with finishedAt, and releases its owner", async (status) => {
        const { store } = await withRun(1);
        expect(await store.finishRun("r1", ALPHA, status, at(50))).toBe(true);
        const run = await store.getRun("r1");
        expect(run).toMatchObject({ status, finishedAt: at(50) });
        expect(Object.keys(run ?? {})).not.toContain("owner");
        expect(await store.heartbeat("r1", owner("alpha").id, at(51))).toBe(false);
      });

      it("is a compare and swap on the owner: the old owner cannot finish a run taken over, nor release the new owner's claim", async () => {
        const { store } = await withRun(1);
        expect(await store.claimRun("r1", owner("beta"), ALPHA, at(10))).toBe(true);
        const before = await store.getRun("r1");
        expect(await store.finishRun("r1", ALPHA, "completed", at(11))).toBe(false);
        expect(await store.finishRun("r1", "someone-else", "interrupted", at(11))).toBe(false);
        expect(await store.getRun("r1")).toStrictEqual(before);
        expect(before).toMatchObject({ status: "running", owner: owner("beta") });
        expect(await store.heartbeat("r1", BETA, at(12))).toBe(true);
      });

      it("leaves the former owner no write: finishing again, beginning, settling and heartbeats are all false and change nothing", async () => {
        const { store } = await withRun(2);
        await store.beginChange("r1", 0, ALPHA, "disabled", at(5));
        expect(await store.finishRun("r1", ALPHA, "interrupted", at(10))).toBe(true);
        const before = { run: await store.getRun("r1"), changes: await all(store.changes("r1")) };
        expect(await store.finishRun("r1", ALPHA, "completed", at(11))).toBe(false);
        expect(await store.beginChange("r1", 1, ALPHA, "disabled", at(11))).toBe(false);
        expect(await store.settleChange("r1", 0, ALPHA, { status: "changed", at: at(11) })).toBe(false);
        expect(await store.heartbeat("r1", ALPHA, at(11))).toBe(false);
        expect({ run: await store.getRun("r1"), changes: await all(store.changes("r1")) }).toStrictEqual(before);
        expect(before.run).toMatchObject({ status: "interrupted", finishedAt: at(10) });
      });

      it("throws RunNotFoundError for an unknown run", async () => {
        const store = await fresh();
        await expect(store.finishRun("nope", ALPHA, "completed", at(1))).rejects.toBeInstanceOf(RunNotFoundError);
      });
    });

    describe("takeover of a paused owner", () => {
      it("the old owner's writes after claimRun all fail and change nothing; the new owner's work is intact", async () => {
        const { store } = await withRun(4);
        // Alpha settles change 0, records change 1 as sent, then is paused; beta takes the run over.
        await store.settleChange("r1", 0, ALPHA, { status: "unchanged", perUserMfaState: "enforced", at: at(1) });
        await store.beginChange("r1", 1, ALPHA, "disabled", at(2));
        expect(await store.claimRun("r1", owner("beta"), ALPHA, at(100))).toBe(true);
        // Beta re-reads change 1 and settles it, and records change 2.
        expect(await store.settleChange("r1", 1, BETA, { status: "changed", perUserMfaState: "enforced", requestId: "beta-1", at: at(101) })).toBe(true);
        expect(await store.beginChange("r1", 2, BETA, "disabled", at(102))).toBe(true);
        const beforeWake = { run: await store.getRun("r1"), changes: await all(store.changes("r1")) };
        // Alpha wakes: it cannot record a change (so it sends none), settle, beat or finish.
        expect(await store.beginChange("r1", 3, ALPHA, "disabled", at(103))).toBe(false);
        expect(await store.beginChange("r1", 2, ALPHA, "disabled", at(103))).toBe(false);
        expect(await store.settleChange("r1", 1, ALPHA, { status: "failed", error: { code: "stale", message: "stale" }, at: at(103) })).toBe(false);
        expect(await store.settleChange("r1", 2, ALPHA, { status: "changed", at: at(103) })).toBe(false);
        expect(await store.settleChange("r1", 3, ALPHA, { status: "unchanged", at: at(103) })).toBe(false);
        expect(await store.heartbeat("r1", ALPHA, at(103))).toBe(false);
        expect(await store.finishRun("r1", ALPHA, "interrupted", at(103))).toBe(false);
        expect({ run: await store.getRun("r1"), changes: await all(store.changes("r1")) }).toStrictEqual(beforeWake);
        // Beta carries on and finishes the run.
        expect(await store.settleChange("r1", 2, BETA, { status: "changed", at: at(104) })).toBe(true);
        expect(await store.settleChange("r1", 3, BETA, { status: "unchanged", at: at(104) })).toBe(true);
        expect(await store.finishRun("r1", BETA, "completed", at(105))).toBe(true);
        const run = await store.getRun("r1");
        expect(run).toMatchObject({ status: "completed", finishedAt: at(105), counts: counts({ changed: 2, unchanged: 2 }) });
        expect(Object.keys(run ?? {})).not.toContain("owner");
        expect((await all(store.changes("r1")))[1]).toMatchObject({ status: "changed", requestId: "beta-1", previousState: "disabled", sentAt: at(2) });
        // Nobody owns it now: not even beta writes to it until it is claimed again.
        expect(await store.finishRun("r1", BETA, "interrupted", at(106))).toBe(false);
        expect(await store.beginChange("r1", 0, BETA, "disabled", at(106))).toBe(false);
      });

      it("of a write and a takeover issued together, the write lands only if it came before the claim", async () => {
        const { store } = await withRun(50);
        const [claimed, ...begun] = await Promise.all([
          store.claimRun("r1", owner("beta"), ALPHA, at(10)),
          ...Array.from({ length: 50 }, (_, seq) => store.beginChange("r1", seq, ALPHA, "disabled", at(seq))),
        ]);
        expect(claimed).toBe(true);
        const changes = await all(store.changes("r1"));
        // Exactly the begins that returned true were recorded.
        expect(changes.map((c) => c.status === "inFlight")).toStrictEqual(begun);
        expect((await store.getRun("r1"))?.owner).toStrictEqual(owner("beta"));
      });
    });

    describe("getRun, findRuns, listRuns", () => {
      const seed = async () => {
        const store = await fresh();
        // Created out of order: newest first means by startedAt, then by run id.
        await store.createRun(newRun("20260101-b2", { startedAt: at(20) }), newChanges(2));
        await store.createRun(newRun("20260101-a1", { startedAt: at(10) }), newChanges(1));
        await store.createRun(newRun("20260101-c3", { startedAt: at(30) }), newChanges(3));
        await store.createRun(newRun("20260101-c4", { startedAt: at(30) }), []);
        await store.createRun(newRun("20260102-x9", { startedAt: at(40) }), newChanges(1));
        await store.finishRun("20260101-b2", ALPHA, "completed", at(25));
        await store.finishRun("20260101-a1", ALPHA, "interrupted", at(15));
        return store;
      };

      it("getRun is undefined for an unknown run", async () => {
        const store = await seed();
        expect(await store.getRun("nope")).toBeUndefined();
        expect(await store.getRun("20260101")).toBeUndefined();
      });

      it("findRuns returns runs whose id starts with the prefix, newest first, up to the limit", async () => {
        const store = await seed();
        expect((await store.findRuns("20260101-")).map((r) => r.runId)).toStrictEqual(["20260101-c4", "20260101-c3", "20260101-b2", "20260101-a1"]);
        expect((await store.findRuns("20260101-", 2)).map((r) => r.runId)).toStrictEqual(["20260101-c4", "20260101-c3"]);
        expect((await store.findRuns("20260102")).map((r) => r.runId)).toStrictEqual(["20260102-x9"]);
        expect((await store.findRuns("2026010")).map((r) => r.runId)[0]).toBe("20260102-x9");
        expect(await store.findRuns("zz")).toStrictEqual([]);
      });

      it("findRuns takes the prefix literally and case-sensitively", async () => {
        const store = await seed();
        await store.createRun(newRun("ab_c%d"), []);
        await store.createRun(newRun("abXcYd"), []);
        await store.createRun(newRun("ABcd"), []);
        expect((await store.findRuns("ab_")).map((r) => r.runId)).toStrictEqual(["ab_c%d"]);
        expect((await store.findRuns("ab_c%")).map((r) => r.runId)).toStrictEqual(["ab_c%d"]);
        expect((await store.findRuns("ab%")).map((r) => r.runId)).toStrictEqual([]);
        expect((await store.findRuns("AB")).map((r) => r.runId)).toStrictEqual(["ABcd"]);
      });

      it("findRuns records carry their counts", async () => {
        const store = await seed();
        const [run] = await store.findRuns("20260101-c3");
        expect(run).toMatchObject({ runId: "20260101-c3", total: 3, counts: counts({ pending: 3 }) });
      });

      it("listRuns returns runs newest first with their counts", async () => {
        const store = await seed();
        const runs = await store.listRuns();
        expect(runs.map((r) => r.runId)).toStrictEqual(["20260102-x9", "20260101-c4", "20260101-c3", "20260101-b2", "20260101-a1"]);
        expect(runs.map((r) => r.total)).toStrictEqual([1, 0, 3, 2, 1]);
        expect(runs[3]).toMatchObject({ status: "completed", finishedAt: at(25), counts: counts({ pending: 2 }) });
      });

      it("listRuns filters by status and honours the limit", async () => {
        const store = await seed();
        expect((await store.listRuns({ status: "running" })).map((r) => r.runId)).toStrictEqual(["20260102-x9", "20260101-c4", "20260101-c3"]);
        expect((await store.listRuns({ status: "completed" })).map((r) => r.runId)).toStrictEqual(["20260101-b2"]);
        expect((await store.listRuns({ status: "interrupted" })).map((r) => r.runId)).toStrictEqual(["20260101-a1"]);
        expect((await store.listRuns({ limit: 2 })).map((r) => r.runId)).toStrictEqual(["20260102-x9", "20260101-c4"]);
        expect((await store.listRuns({ limit: 1, status: "running" })).map((r) => r.runId)).toStrictEqual(["20260102-x9"]);
      });

      it("listRuns returns at most 50 runs by default", async () => {
        const store = await fresh();
        for (let i = 0; i < 53; i++) await store.createRun(newRun(`run-${String(i).padStart(2, "0")}`, { startedAt: at(i) }), []);
        const runs = await store.listRuns();
        expect(runs).toHaveLength(50);
        expect(runs[0]?.runId).toBe("run-52");
        expect(runs[49]?.runId).toBe("run-03");
      });

      it("an empty journal lists nothing", async () => {
        const store = await fresh();
        expect(await store.listRuns()).toStrictEqual([]);
        expect(await store.findRuns("")).toStrictEqual([]);
      });
    });

    describe("changes", () => {
      const settled = async () => {
        const { store } = await withRun(8);
        await store.settleChange("r1", 1, ALPHA, { status: "changed", at: at(1) });
        await store.settleChange("r1", 3, ALPHA, { status: "failed", error: { code: "x", message: "y" }, at: at(1) });
        await store.beginChange("r1", 4, ALPHA, "disabled", at(1));
        await store.settleChange("r1", 6, ALPHA, { status: "unchanged", at: at(1) });
        return store;
      };

      it("filters by status, in seq order", async () => {
        const store = await settled();
        const seqs = async (status: JournalChangeStatus[]) => (await all(store.changes("r1", { status }))).map((c) => c.seq);
        expect(await seqs(["pending"])).toStrictEqual([0, 2, 5, 7]);
        expect(await seqs(["pending", "inFlight"])).toStrictEqual([0, 2, 4, 5, 7]);
        expect(await seqs(["failed", "changed"])).toStrictEqual([1, 3]);
        expect(await seqs(["conflict"])).toStrictEqual([]);
        expect(await seqs([])).toStrictEqual([]);
        expect((await all(store.changes("r1"))).map((c) => c.seq)).toStrictEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      });

      it("pages with afterSeq and limit, together with a status filter", async () => {
        const store = await settled();
        const seqs = async (query: Parameters<JournalStore["changes"]>[1]) => (await all(store.changes("r1", query))).map((c) => c.seq);
        expect(await seqs({ afterSeq: 4 })).toStrictEqual([5, 6, 7]);
        expect(await seqs({ limit: 3 })).toStrictEqual([0, 1, 2]);
        expect(await seqs({ afterSeq: 1, limit: 2 })).toStrictEqual([2, 3]);
        expect(await seqs({ afterSeq: 0, limit: 2, status: ["pending"] })).toStrictEqual([2, 5]);
        expect(await seqs({ afterSeq: 7 })).toStrictEqual([]);
        expect(await seqs({ limit: 0 })).toStrictEqual([]);
      });

      it("lets the caller settle changes while it iterates, without repeating or skipping any", async () => {
        const { store } = await withRun(25);
        const seen: number[] = [];
        for await (const c of store.changes("r1", { status: ["pending"] })) {
          seen.push(c.seq);
          await store.beginChange("r1", c.seq, ALPHA, "disabled", at(2));
          await store.settleChange("r1", c.seq, ALPHA, { status: "changed", perUserMfaState: "enforced", at: at(3) });
        }
        expect(seen).toStrictEqual(Array.from({ length: 25 }, (_, i) => i));
        expect((await store.getRun("r1"))?.counts).toStrictEqual(counts({ changed: 25 }));
      });

      it("can be abandoned part way and the store still works", async () => {
        const { store } = await withRun(10);
        for await (const c of store.changes("r1")) if (c.seq === 2) break;
        await store.finishRun("r1", ALPHA, "interrupted", at(9));
        expect((await store.getRun("r1"))?.status).toBe("interrupted");
      });

      it("throws RunNotFoundError for an unknown run", async () => {
        const store = await fresh();
        await expect(all(store.changes("nope"))).rejects.toBeInstanceOf(RunNotFoundError);
        await expect(all(store.changes("nope", { status: [] }))).rejects.toBeInstanceOf(RunNotFoundError);
      });
    });

    it("keeps runs apart: changes of one run are not seen in another", async () => {
      const store = await fresh();
      await store.createRun(newRun("a"), newChanges(3));
      await store.createRun(newRun("b", { startedAt: at(1) }), newChanges(2));
      await store.settleChange("a", 0, ALPHA, { status: "changed", at: at(2) });
      expect((await all(store.changes("b"))).map((c) => [c.runId, c.status])).toStrictEqual([
        ["b", "pending"],
        ["b", "pending"],
      ]);
      expect((await store.getRun("b"))?.counts).toStrictEqual(counts({ pending: 2 }));
    });
  });
}
