import type { JournalStore } from "@mfactl/core";
import { PlanAlreadyRunError } from "@mfactl/core";
import { afterEach, beforeAll, expect, it } from "vitest";
import { at, newChanges, newRun, owner } from "../../core/src/journal/journal-contract.test-helper.js";
import type { ChildReply } from "./journal-child.test-helper.js";
import { openPostgresStore } from "./postgres-store.js";
import { describePostgres, type FreshSchema } from "./postgres.test-helper.js";
import { checkBuilt, killChildren, spawnChild, type Child } from "./processes.test-helper.js";

const ROUNDS = 20;

describePostgres("two processes on one PostgreSQL journal", (pg) => {
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(checkBuilt);
  afterEach(async () => {
    killChildren();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A fresh schema, the parent's journal on it, and `n` children with it open. */
  async function setUp(n = 2): Promise<{ store: JournalStore; children: Child[]; schema: FreshSchema }> {
    const schema = await pg.freshSchema();
    cleanups.push(schema.drop);
    const store = (await openPostgresStore(pg.url, { schema: schema.schema })).journal;
    cleanups.push(() => store.close());
    const children = Array.from({ length: n }, () => spawnChild());
    const opened = await Promise.all(children.map((c) => c.request({ op: "openPostgres", url: pg.url, schema: schema.schema })));
    expect(opened).toStrictEqual(children.map(() => ({ ok: true })));
    cleanups.push(async () => {
      await Promise.all(children.map((c) => c.request({ op: "close" }).catch(() => undefined)));
    });
    return { store, children, schema };
  }

  it("processes opening a new schema at the same moment migrate it once", async () => {
    const schema = await pg.freshSchema();
    cleanups.push(schema.drop);
    await schema.drop();
    const children = Array.from({ length: 4 }, () => spawnChild());
    const replies = await Promise.all(children.map((c) => c.request({ op: "openPostgres", url: pg.url, schema: schema.schema })));
    expect(replies).toStrictEqual(children.map(() => ({ ok: true })));
    expect(await children[0]?.request({ op: "createRun", run: newRun("r1"), changes: newChanges(3), startAt: 0 })).toStrictEqual({ ok: true, value: "r1" });
    await Promise.all(children.map((c) => c.request({ op: "close" })));
  });

  it(`a plan runs once: of two processes creating a run for the same plan at the same moment, exactly one succeeds (${ROUNDS} rounds)`, async () => {
    const { store, children } = await setUp();
    const [a, b] = children as [Child, Child];
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
    const runs = await store.listRuns({ limit: 1000 });
    expect(runs).toHaveLength(ROUNDS);
    expect(new Set(runs.map((r) => r.planId)).size).toBe(ROUNDS);
    expect(runs.every((r) => r.total === 200)).toBe(true);
  });

  it(`one owner per run: of two processes claiming the same run at the same moment, exactly one wins (${ROUNDS} rounds)`, async () => {
    const { store, children } = await setUp();
    await store.createRun(newRun("r1"), newChanges(3));
    let expected: string | null = owner("alpha").id;
    for (let round = 0; round < ROUNDS; round++) {
      // Even rounds: take over from the current owner; odd rounds: claim the run once released.
      if (round % 2 === 1) {
        expect(await store.finishRun("r1", expected ?? "", "interrupted", at(round))).toBe(true);
        expected = null;
      }
      const contenders = [owner(`a-${round}`), owner(`bb-${round}`)];
      const startAt = Date.now() + 30;
      const replies = await Promise.all(children.map((child, i) => child.request({ op: "claimRun", runId: "r1", owner: contenders[i] ?? owner("x"), expectedOwnerId: expected, at: at(round), startAt })));
      expect(replies.every((r) => r.ok)).toBe(true);
      const wins = replies.map((r) => r.ok && r.value === true);
      expect(wins.filter(Boolean), `round ${round}`).toHaveLength(1);
      const winner = contenders[wins.indexOf(true)];
      const run = await store.getRun("r1");
      expect(run?.owner).toStrictEqual(winner);
      expect(run?.status).toBe("running");
      expected = winner?.id ?? null;
    }
  });

  it(`two owners beginning a change: each claims the run and at once begins change n; exactly one begins it, the claim's winner (${ROUNDS} rounds)`, async () => {
    const { store, children } = await setUp();
    const [a, b] = children as [Child, Child];
    await store.createRun(newRun("r1"), newChanges(ROUNDS));
    let current = owner("alpha").id;
    for (let round = 0; round < ROUNDS; round++) {
      const contenders = [owner(`a-${round}`), owner(`bb-${round}`)];
      const startAt = Date.now() + 30;
      const race = async (child: Child, i: number) => {
        const me = contenders[i] ?? owner("x");
        const claim = child.request({ op: "claimRun", runId: "r1", owner: me, expectedOwnerId: current, at: at(round), startAt });
        // Queued in the child: sent the moment its claim returns, won or lost.
        const begin = child.request({ op: "beginChange", runId: "r1", seq: round, ownerId: me.id, previousState: i === 0 ? "disabled" : "enabled", at: at(round) });
        return { claimed: await claim, begun: await begin };
      };
      const results = await Promise.all([race(a, 0), race(b, 1)]);
      expect(results.every((r) => r.claimed.ok && r.begun.ok), `round ${round}`).toBe(true);
      const claimed = results.map((r) => r.claimed.ok && r.claimed.value === true);
      const begun = results.map((r) => r.begun.ok && r.begun.value === true);
      expect(begun.filter(Boolean), `round ${round}`).toHaveLength(1);
      expect(begun, `round ${round}`).toStrictEqual(claimed);
      const winner = begun.indexOf(true);
      const changes = [];
      for await (const c of store.changes("r1", { afterSeq: round - 1, limit: 1 })) changes.push(c);
      expect(changes[0], `round ${round}`).toMatchObject({ status: "inFlight", previousState: winner === 0 ? "disabled" : "enabled" });
      current = contenders[winner]?.id ?? "";
    }
    expect((await store.getRun("r1"))?.counts).toMatchObject({ inFlight: ROUNDS, pending: 0 });
  });

  it(`a write-ahead racing a takeover either lands before the claim or not at all (${ROUNDS} rounds)`, async () => {
    const { store, children } = await setUp();
    const [a, b] = children as [Child, Child];
    const owners = Array.from({ length: ROUNDS + 1 }, (_, i) => owner(`owner-${"x".repeat(i)}`));
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
      expect(await holder.request({ op: "beginChange", runId: "r1", seq: round, ownerId: from.id, previousState: "disabled", at: at(round) }), `round ${round}`).toStrictEqual({ ok: true, value: false });
    }
    expect(outcomes.begun + outcomes.refused).toBe(ROUNDS);
    expect((await store.getRun("r1"))?.owner).toStrictEqual(owners[ROUNDS]);
  });

  it("a process that lost its run to another cannot record a change, settle one or finish the run", async () => {
    const { store, children } = await setUp();
    const [old, next] = children as [Child, Child];
    const alpha = owner("alpha");
    const beta = owner("beta");
    expect(await old.request({ op: "createRun", run: newRun("r1", { owner: alpha }), changes: newChanges(3), startAt: 0 })).toStrictEqual({ ok: true, value: "r1" });
    expect(await old.request({ op: "beginChange", runId: "r1", seq: 0, ownerId: alpha.id, previousState: "disabled", at: at(1) })).toStrictEqual({ ok: true, value: true });
    expect(await next.request({ op: "claimRun", runId: "r1", owner: beta, expectedOwnerId: alpha.id, at: at(100), startAt: 0 })).toStrictEqual({ ok: true, value: true });
    const snapshot = async () => {
      const changes = [];
      for await (const c of store.changes("r1")) changes.push(c);
      return { run: await store.getRun("r1"), changes };
    };
    const beforeWake = await snapshot();
    expect(await old.request({ op: "beginChange", runId: "r1", seq: 1, ownerId: alpha.id, previousState: "disabled", at: at(101) })).toStrictEqual({ ok: true, value: false });
    expect(await old.request({ op: "settleChange", runId: "r1", seq: 0, ownerId: alpha.id, settlement: { status: "failed", error: { code: "stale", message: "stale" }, at: at(101) } })).toStrictEqual({
      ok: true,
      value: false,
    });
    expect(await old.request({ op: "finishRun", runId: "r1", ownerId: alpha.id, status: "interrupted", at: at(101) })).toStrictEqual({ ok: true, value: false });
    expect(await snapshot()).toStrictEqual(beforeWake);
    expect(await next.request({ op: "settleChange", runId: "r1", seq: 0, ownerId: beta.id, settlement: { status: "changed", perUserMfaState: "enforced", at: at(103) } })).toStrictEqual({ ok: true, value: true });
    expect((await snapshot()).changes.map((c) => c.status)).toStrictEqual(["changed", "pending", "pending"]);
  });
});
