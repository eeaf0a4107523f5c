import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { JournalUnavailableError, PlanAlreadyRunError } from "@mfactl/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { at, newChanges, newRun, owner } from "../../core/src/journal/journal-contract.test-helper.js";
import type { ChildReply } from "./journal-child.test-helper.js";
import { checkBuilt, killChildren, spawnChild } from "./processes.test-helper.js";
import { openSqliteJournal } from "./sqlite-journal.js";

const dir = mkdtempSync(path.join(tmpdir(), "mfactl-store-proc-"));
let n = 0;
const dbPath = () => path.join(dir, `proc-${n++}.db`);

beforeAll(checkBuilt);
afterEach(killChildren);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ROUNDS = 20;

describe("two processes on one journal", () => {
  it(`a plan runs once: of two processes creating a run for the same plan at the same moment, exactly one succeeds (${ROUNDS} rounds)`, async () => {
    const file = dbPath();
    const a = spawnChild();
    const b = spawnChild();
    expect(await Promise.all([a.request({ op: "open", path: file }), b.request({ op: "open", path: file })])).toStrictEqual([{ ok: true }, { ok: true }]);
    for (let round = 0; round < ROUNDS; round++) {
      const planId = `plan-${round}`;
      const startAt = Date.now() + 30;
      const replies = await Promise.all(
        [a, b].map((child, i) => child.request({ op: "createRun", run: newRun(`run-${round}-${i}`, { planId, startedAt: at(round) }), changes: newChanges(200), startAt })),
      );
      const won = replies.filter((r) => r.ok);
      const lost = replies.filter((r): r is Extract<ChildReply, { ok: false }> => !r.ok);
      expect(won, `round ${round}`).toHaveLength(1);
      expect(lost[0]).toMatchObject({ name: PlanAlreadyRunError.name, planId, runId: won[0]?.value });
    }
    await Promise.all([a.request({ op: "close" }), b.request({ op: "close" })]);
    const store = await openSqliteJournal(file);
    try {
      const runs = await store.listRuns({ limit: 1000 });
      expect(runs).toHaveLength(ROUNDS);
      expect(new Set(runs.map((r) => r.planId)).size).toBe(ROUNDS);
      expect(runs.every((r) => r.total === 200)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it(`one owner per run: of two processes claiming the same run at the same moment, exactly one wins (${ROUNDS} rounds)`, async () => {
    const file = dbPath();
    const store = await openSqliteJournal(file);
    try {
      await store.createRun(newRun("r1"), newChanges(3));
      const a = spawnChild();
      const b = spawnChild();
      await Promise.all([a.request({ op: "open", path: file }), b.request({ op: "open", path: file })]);
      let expected: string | null = owner("alpha").id;
      for (let round = 0; round < ROUNDS; round++) {
        // Even rounds: take over from the current owner; odd rounds: claim the run once released.
        if (round % 2 === 1) {
          expect(await store.finishRun("r1", expected ?? "", "interrupted", at(round))).toBe(true);
          expected = null;
        }
        const contenders = [owner(`a-${round}`), owner(`bb-${round}`)];
        const startAt = Date.now() + 30;
        const replies = await Promise.all([a, b].map((child, i) => child.request({ op: "claimRun", runId: "r1", owner: contenders[i] ?? owner("x"), expectedOwnerId: expected, at: at(round), startAt })));
        expect(replies.every((r) => r.ok)).toBe(true);
        const wins = replies.map((r) => r.ok && r.value === true);
        expect(wins.filter(Boolean), `round ${round}`).toHaveLength(1);
        const winner = contenders[wins.indexOf(true)];
        const run = await store.getRun("r1");
        expect(run?.owner).toStrictEqual(winner);
        expect(run?.status).toBe("running");
        expected = winner?.id ?? null;
      }
    } finally {
      await store.close();
    }
  });

  it("a process that lost its run to another cannot record a change, settle one or finish the run", async () => {
    const file = dbPath();
    const alpha = owner("alpha");
    const beta = owner("beta");
    const old = spawnChild();
    const next = spawnChild();
    await Promise.all([old.request({ op: "open", path: file }), next.request({ op: "open", path: file })]);
    expect(await old.request({ op: "createRun", run: newRun("r1", { owner: alpha }), changes: newChanges(3), startAt: 0 })).toStrictEqual({ ok: true, value: "r1" });
    expect(await old.request({ op: "beginChange", runId: "r1", seq: 0, ownerId: alpha.id, previousState: "disabled", at: at(1) })).toStrictEqual({ ok: true, value: true });
    // The old owner is paused; the other process takes the run over.
    expect(await next.request({ op: "claimRun", runId: "r1", owner: beta, expectedOwnerId: alpha.id, at: at(100), startAt: 0 })).toStrictEqual({ ok: true, value: true });
    const store = await openSqliteJournal(file);
    try {
      const snapshot = async () => {
        const changes = [];
        for await (const c of store.changes("r1")) changes.push(c);
        return { run: await store.getRun("r1"), changes };
      };
      const beforeWake = await snapshot();
      // The old owner wakes: every write refuses, so it sends nothing.
      expect(await old.request({ op: "beginChange", runId: "r1", seq: 1, ownerId: alpha.id, previousState: "disabled", at: at(101) })).toStrictEqual({ ok: true, value: false });
      expect(await old.request({ op: "beginChange", runId: "r1", seq: 0, ownerId: alpha.id, previousState: "disabled", at: at(101) })).toStrictEqual({ ok: true, value: false });
      expect(await old.request({ op: "settleChange", runId: "r1", seq: 0, ownerId: alpha.id, settlement: { status: "failed", error: { code: "stale", message: "stale" }, at: at(101) } })).toStrictEqual({
        ok: true,
        value: false,
      });
      expect(await old.request({ op: "finishRun", runId: "r1", ownerId: alpha.id, status: "interrupted", at: at(101) })).toStrictEqual({ ok: true, value: false });
      expect(await snapshot()).toStrictEqual(beforeWake);
      expect(beforeWake.run).toMatchObject({ status: "running", owner: beta, counts: { pending: 2, inFlight: 1 } });
      // The new owner's writes go through.
      expect(await next.request({ op: "beginChange", runId: "r1", seq: 1, ownerId: beta.id, previousState: "enabled", at: at(102) })).toStrictEqual({ ok: true, value: true });
      expect(await next.request({ op: "settleChange", runId: "r1", seq: 0, ownerId: beta.id, settlement: { status: "changed", perUserMfaState: "enforced", at: at(103) } })).toStrictEqual({ ok: true, value: true });
      expect(await old.request({ op: "settleChange", runId: "r1", seq: 0, ownerId: alpha.id, settlement: { status: "failed", error: { code: "stale", message: "stale" }, at: at(104) } })).toStrictEqual({
        ok: true,
        value: false,
      });
      const after = await snapshot();
      expect(after.changes.map((c) => [c.status, c.previousState])).toStrictEqual([
        ["changed", "disabled"],
        ["inFlight", "enabled"],
        ["pending", undefined],
      ]);
      expect(after.changes[0]).toMatchObject({ perUserMfaState: "enforced", updatedAt: at(103) });
    } finally {
      await store.close();
    }
  });

  it(`a write-ahead racing a takeover either lands before the claim or not at all (${ROUNDS} rounds)`, async () => {
    const file = dbPath();
    const store = await openSqliteJournal(file);
    const a = spawnChild();
    const b = spawnChild();
    await Promise.all([a.request({ op: "open", path: file }), b.request({ op: "open", path: file })]);
    const owners = Array.from({ length: ROUNDS + 1 }, (_, i) => owner(`owner-${"x".repeat(i)}`));
    try {
      await store.createRun(newRun("r1", { owner: owners[0]! }), newChanges(ROUNDS));
      const outcomes = { begun: 0, refused: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        // The owner of this round (alternately a and b) records change `round` as the other takes the run over.
        const [holder, taker] = round % 2 === 0 ? [a, b] : [b, a];
        const from = owners[round]!;
        const to = owners[round + 1]!;
        const startAt = Date.now() + 30;
        const [begin, takeOver] = await Promise.all([
          holder.request({ op: "beginChange", runId: "r1", seq: round, ownerId: from.id, previousState: "disabled", at: at(round), startAt }),
          taker.request({ op: "takeOver", runId: "r1", owner: to, expectedOwnerId: from.id, seq: round, at: at(round), startAt }),
        ]);
        expect(begin.ok && takeOver.ok, `round ${round}`).toBe(true);
        const begun = begin.ok && begin.value === true;
        outcomes[begun ? "begun" : "refused"]++;
        // Recorded only if it committed before the claim: the new owner then sees it in flight and re-reads it.
        expect(takeOver.ok && takeOver.value, `round ${round}`).toStrictEqual({ claimed: true, status: begun ? "inFlight" : "pending" });
        // After the claim the old owner never records it.
        expect(await holder.request({ op: "beginChange", runId: "r1", seq: round, ownerId: from.id, previousState: "disabled", at: at(round) }), `round ${round}`).toStrictEqual({ ok: true, value: false });
        const changes = [];
        for await (const c of store.changes("r1", { afterSeq: round - 1, limit: 1 })) changes.push(c);
        expect(changes[0]?.status, `round ${round}`).toBe(begun ? "inFlight" : "pending");
      }
      expect(outcomes.begun + outcomes.refused).toBe(ROUNDS);
      expect((await store.getRun("r1"))?.owner).toStrictEqual(owners[ROUNDS]);
    } finally {
      await store.close();
    }
  });

  it("a change recorded inFlight survives the process being killed (SIGKILL)", async () => {
    const file = dbPath();
    const child = spawnChild();
    await child.request({ op: "open", path: file });
    expect(await child.request({ op: "createRun", run: newRun("r1", { planId: "p" }), changes: newChanges(3), startAt: 0 })).toStrictEqual({ ok: true, value: "r1" });
    expect(await child.request({ op: "beginChange", runId: "r1", seq: 1, ownerId: owner("alpha").id, previousState: "disabled", at: at(7) })).toStrictEqual({ ok: true, value: true });
    const exited = new Promise((resolve) => child.process.once("exit", (_code, signal) => resolve(signal)));
    child.process.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    // Not closed, so not checkpointed: what was committed is in the WAL only.
    expect(existsSync(`${file}-wal`)).toBe(true);
    const store = await openSqliteJournal(file);
    try {
      const run = await store.getRun("r1");
      expect(run).toMatchObject({ status: "running", owner: owner("alpha"), total: 3, counts: { pending: 2, inFlight: 1 } });
      const changes = [];
      for await (const c of store.changes("r1", { status: ["inFlight"] })) changes.push(c);
      expect(changes).toMatchObject([{ seq: 1, status: "inFlight", previousState: "disabled", sentAt: at(7) }]);
    } finally {
      await store.close();
    }
  });

  it("a file this user may not read (chmod 000) fails at open, naming the file", async (ctx) => {
    // Root reads a chmod 000 file anyway: as root, the journal is opened by a child running as nobody.
    const root = process.getuid?.() === 0;
    const shared = mkdtempSync(path.join(tmpdir(), "mfactl-store-perm-"));
    try {
      chmodSync(shared, 0o755);
      const file = path.join(shared, "journal.db");
      await (await openSqliteJournal(file)).close();
      chmodSync(file, 0o000);
      let reply: ChildReply;
      if (root) {
        const child = spawnChild({ uid: 65534, gid: 65534 });
        try {
          reply = await child.request({ op: "open", path: file });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EPERM") throw error;
          const reason = "running as root without the right to start a process as another user, and root reads a chmod 000 file anyway";
          console.log(`skipped "unreadable file": ${reason}`);
          return ctx.skip(reason);
        }
      } else {
        reply = await openSqliteJournal(file).then(
          () => ({ ok: true }) as const,
          (e: Error) => ({ ok: false, name: e.name, message: e.message }),
        );
      }
      expect(reply).toStrictEqual({
        ok: false,
        name: JournalUnavailableError.name,
        message: `Cannot open the journal database ${file}: check that it is a file and that this user may read and write it and its directory (or pass --db <path>); nothing was changed.`,
      });
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });
});
