import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { JournalUnavailableError } from "../domain/errors.js";
import { ADELE, fakeGraph, GUEST, MEGAN, type FakeGraph } from "../operations/fake-graph.test-helper.js";
import { directPort } from "../operations/mfa-port.js";
import { InstantClock } from "../transport/clock.js";
import type { GraphRequest, GraphResponse } from "../transport/types.js";
import { memoryJournal } from "./memory-journal.js";
import { claimForResume, createRun, currentOwner, executeRun, RunBusyError, type RunContext } from "./run-executor.js";
import type { JournalStore, NewChange, RunOwner } from "./types.js";

const clock = new InstantClock();
const T = "contoso.com";
const change = (u: { id: string; userPrincipalName: string }, requestedState: NewChange["requestedState"], expectedState?: NewChange["expectedState"]): NewChange => ({
  tenant: T,
  id: u.id,
  userPrincipalName: u.userPrincipalName,
  requestedState,
  ...(expectedState ? { expectedState } : {}),
});

function setup(journal: JournalStore = memoryJournal()) {
  const graph = fakeGraph();
  const ctx: RunContext = { journal, port: directPort(graph), actor: "app:test", clock, readBackDelaysMs: [] };
  return { graph, journal, ctx };
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Runs `hook` after each request the fake Graph answers, before its caller sees the answer. */
function afterRequest(graph: FakeGraph, hook: (req: GraphRequest) => Promise<void>): void {
  const answer = graph.request.bind(graph);
  graph.request = async <T>(req: GraphRequest): Promise<GraphResponse<T>> => {
    const res = await answer<T>(req);
    await hook(req);
    return res;
  };
}

/** Another host that resumed the run while this process was paused. */
const OTHER: RunOwner = { id: "other-host:4242:f00dbabe", host: "other-host", pid: 4242 };

describe("executeRun", () => {
  it("journals each change before sending it and settles it with the state read back and the request id", async () => {
    const { graph, journal, ctx } = setup();
    const run = await createRun(ctx, { kind: "apply", description: "test" }, [change(ADELE, "enforced", "disabled"), change(MEGAN, "disabled", "disabled")]);
    const results = await all(executeRun(ctx, run, { reread: true }));
    expect(results.map((r) => [r.userPrincipalName, r.status])).toEqual(
      expect.arrayContaining([
        [ADELE.userPrincipalName, "changed"],
        [MEGAN.userPrincipalName, "unchanged"],
      ]),
    );
    const stored = await all(journal.changes(run.runId));
    expect(stored[0]).toMatchObject({ status: "changed", previousState: "disabled", perUserMfaState: "enforced", requestId: expect.any(String) as string, sentAt: expect.any(String) as string });
    expect(stored[1]).toMatchObject({ status: "unchanged", perUserMfaState: "disabled" });
    expect(stored[1]?.sentAt).toBeUndefined();
    expect(graph.patches()).toHaveLength(1);
    expect((await journal.getRun(run.runId))?.status).toBe("completed");
  });

  it("skips a user whose state is no longer the expected one as a conflict, unless forced", async () => {
    const { graph, ctx } = setup();
    const run = await createRun(ctx, { kind: "apply", description: "t" }, [change(ADELE, "enforced", "enabled")]);
    const [r] = await all(executeRun(ctx, run, { reread: true }));
    expect(r).toMatchObject({ status: "conflict", perUserMfaState: "disabled", error: { code: "StateChanged" } });
    expect(graph.patches()).toHaveLength(0);

    const forced = await createRun(ctx, { kind: "apply", description: "t", force: true }, [change(ADELE, "enforced", "enabled")]);
    const [f] = await all(executeRun(ctx, forced, { reread: true }));
    expect(f?.status).toBe("changed");
    expect(graph.patches()).toHaveLength(1);
  });

  it("on resume settles an in-flight change that reached Graph without sending it again", async () => {
    const { graph, journal, ctx } = setup();
    // A process on this host that has died (no such pid) created the run.
    const dead = { ...ctx, owner: { id: "dead", host: hostname(), pid: 2 ** 22 + 12345 } };
    const run = await createRun(dead, { kind: "apply", description: "t" }, [change(ADELE, "enforced", "disabled"), change(MEGAN, "enforced", "disabled")]);
    // It recorded ADELE's change and sent it, then died before settling it.
    await journal.beginChange(run.runId, 0, "dead", "disabled", new Date().toISOString());
    graph.users.find((u) => u.id === ADELE.id)!.perUserMfaState = "enforced";

    const resumed = await claimForResume(ctx, (await journal.getRun(run.runId))!);
    expect(resumed.owner?.pid).toBe(process.pid);
    const results = await all(executeRun(ctx, resumed, { reread: true }));
    expect(results.find((r) => r.id === ADELE.id)).toMatchObject({ status: "changed", perUserMfaState: "enforced" });
    expect(results.find((r) => r.id === MEGAN.id)).toMatchObject({ status: "changed" });
    expect(graph.patches().map((p) => p.path)).toEqual([expect.stringContaining(MEGAN.id)]);
    expect((await journal.getRun(run.runId))?.status).toBe("completed");
  });

  it("re-sends an in-flight change whose state still reads as before, and leaves one changed by someone else", async () => {
    const { graph, journal, ctx } = setup();
    const run = await createRun(ctx, { kind: "apply", description: "t" }, [change(ADELE, "enforced", "disabled"), change(MEGAN, "enforced", "disabled")]);
    await journal.beginChange(run.runId, 0, currentOwner().id, "disabled", new Date().toISOString());
    await journal.beginChange(run.runId, 1, currentOwner().id, "disabled", new Date().toISOString());
    graph.users.find((u) => u.id === MEGAN.id)!.perUserMfaState = "enabled";
    const results = await all(executeRun(ctx, run, { reread: false }));
    expect(results.find((r) => r.id === ADELE.id)?.status).toBe("changed");
    expect(results.find((r) => r.id === MEGAN.id)).toMatchObject({ status: "conflict", perUserMfaState: "enabled" });
    expect(graph.patches()).toHaveLength(1);
  });

  it("stops sending when the journal fails: no change goes out unrecorded", async () => {
    const inner = memoryJournal();
    let fail = false;
    const journal: JournalStore = {
      ...inner,
      location: "flaky",
      beginChange: async (...args) => {
        if (fail) throw new Error("database is locked");
        fail = true;
        return inner.beginChange(...args);
      },
    };
    const { graph, ctx } = setup(journal);
    const run = await createRun({ ...ctx, window: 1 }, { kind: "apply", description: "t" }, [change(ADELE, "enforced"), change(MEGAN, "enforced"), change(GUEST, "enforced")]);
    await expect(all(executeRun({ ...ctx, window: 1 }, run, { reread: true }))).rejects.toBeInstanceOf(JournalUnavailableError);
    expect(graph.patches()).toHaveLength(1);
    const left = await all(inner.changes(run.runId, { status: ["pending"] }));
    expect(left).toHaveLength(2);
    expect((await inner.getRun(run.runId))?.status).toBe("running");
  });

  it("an abort leaves the rest pending and marks the run interrupted", async () => {
    const { graph, journal, ctx } = setup();
    const controller = new AbortController();
    const run = await createRun(ctx, { kind: "apply", description: "t" }, [change(ADELE, "enforced"), change(MEGAN, "enforced"), change(GUEST, "enforced")]);
    const seen: string[] = [];
    for await (const r of executeRun({ ...ctx, window: 1, signal: controller.signal }, run, { reread: true })) {
      seen.push(r.id);
      controller.abort();
    }
    expect(seen).toHaveLength(1);
    expect(graph.patches()).toHaveLength(1);
    const after = await journal.getRun(run.runId);
    expect(after).toMatchObject({ status: "interrupted" });
    expect(after!.counts.pending).toBe(2);
  });

  describe("a run taken over by another process while it runs", () => {
    const three = () => [change(ADELE, "enforced", "disabled"), change(MEGAN, "enforced", "disabled"), change(GUEST, "enforced")];

    it("taken over while a change was being sent: stops with RunBusyError, sends nothing more and leaves that change in flight for the new owner", async () => {
      const { graph, journal, ctx } = setup();
      const run = await createRun({ ...ctx, window: 1 }, { kind: "apply", description: "t" }, three());
      let claimed = false;
      afterRequest(graph, async (req) => {
        if (req.method !== "PATCH" || claimed) return;
        claimed = await journal.claimRun(run.runId, OTHER, currentOwner().id, new Date(clock.now()).toISOString());
      });
      const error = await all(executeRun({ ...ctx, window: 1 }, run, { reread: true })).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(claimed).toBe(true);
      expect(error).toBeInstanceOf(RunBusyError);
      expect((error as Error).message).toMatch(new RegExp(`Run ${run.runId} was taken over by another process .*this one stopped without sending any more changes`));
      expect(graph.patches()).toHaveLength(1);
      const stored = await all(journal.changes(run.runId));
      // The result of the change sent is not recorded by the old owner: the new one reads it again.
      expect(stored.map((c) => c.status)).toStrictEqual(["inFlight", "pending", "pending"]);
      expect(stored[0]).toMatchObject({ previousState: "disabled" });
      expect(await journal.getRun(run.runId)).toMatchObject({ status: "running", owner: OTHER });
    });

    it("taken over between two changes: the next change is not recorded and not sent", async () => {
      const { graph, journal, ctx } = setup();
      const run = await createRun({ ...ctx, window: 1 }, { kind: "apply", description: "t" }, three());
      let claimed = false;
      afterRequest(graph, async (req) => {
        // The read right before MEGAN's change: the old owner is paused there and loses the run.
        if (req.method !== "GET" || !req.path.includes(MEGAN.id) || claimed) return;
        claimed = await journal.claimRun(run.runId, OTHER, currentOwner().id, new Date(clock.now()).toISOString());
      });
      const seen: string[] = [];
      const error = await (async () => {
        for await (const r of executeRun({ ...ctx, window: 1 }, run, { reread: true })) seen.push(r.userPrincipalName);
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(claimed).toBe(true);
      expect(error).toBeInstanceOf(RunBusyError);
      expect((error as Error).message).toMatch(new RegExp(`Run ${run.runId} was taken over by another process; this one stopped without sending the change for ${MEGAN.userPrincipalName}`));
      expect(seen).toStrictEqual([ADELE.userPrincipalName]);
      const patchesAfterTakeover = graph.requests.slice(graph.requests.findIndex((r) => r.method === "GET" && r.path.includes(MEGAN.id))).filter((r) => r.method === "PATCH");
      expect(patchesAfterTakeover).toStrictEqual([]);
      expect(graph.patches().map((p) => p.path)).toStrictEqual([expect.stringContaining(ADELE.id)]);
      expect((await all(journal.changes(run.runId))).map((c) => c.status)).toStrictEqual(["changed", "pending", "pending"]);
      expect(await journal.getRun(run.runId)).toMatchObject({ status: "running", owner: OTHER });
    });

    it("taken over with many changes under way at once: no change is sent after the takeover", async () => {
      const { graph, journal, ctx } = setup();
      const run = await createRun(ctx, { kind: "apply", description: "t" }, three());
      let claiming = false;
      let requestsBeforeTakeover: number | undefined;
      afterRequest(graph, async (req) => {
        // The first read answered: the process is paused there and another host takes the run over.
        if (req.method !== "GET" || claiming) return;
        claiming = true;
        expect(await journal.claimRun(run.runId, OTHER, currentOwner().id, new Date(clock.now()).toISOString())).toBe(true);
        requestsBeforeTakeover = graph.requests.length;
      });
      await expect(all(executeRun(ctx, run, { reread: true }))).rejects.toBeInstanceOf(RunBusyError);
      expect(requestsBeforeTakeover).toBeDefined();
      expect(graph.requests.slice(requestsBeforeTakeover).filter((r) => r.method === "PATCH")).toStrictEqual([]);
      // Every change began after the takeover, so none was recorded or sent.
      expect(graph.patches()).toStrictEqual([]);
      expect((await all(journal.changes(run.runId))).map((c) => c.status)).toStrictEqual(["pending", "pending", "pending"]);
      expect(await journal.getRun(run.runId)).toMatchObject({ status: "running", owner: OTHER });
    });

    it("an abort after a takeover does not release the new owner's claim", async () => {
      const { graph, journal, ctx } = setup();
      const controller = new AbortController();
      const run = await createRun(ctx, { kind: "apply", description: "t" }, three());
      for await (const r of executeRun({ ...ctx, window: 1, signal: controller.signal }, run, { reread: true })) {
        expect(r.userPrincipalName).toBe(ADELE.userPrincipalName);
        expect(await journal.claimRun(run.runId, OTHER, currentOwner().id, new Date(clock.now()).toISOString())).toBe(true);
        controller.abort();
      }
      expect(graph.patches()).toHaveLength(1);
      expect(await journal.getRun(run.runId)).toMatchObject({ status: "running", owner: OTHER });
    });
  });

  it("refuses to resume a run whose owner is alive, and a completed run", async () => {
    const { ctx } = setup();
    const run = await createRun(ctx, { kind: "apply", description: "t" }, [change(ADELE, "disabled")]);
    await expect(claimForResume(ctx, run)).rejects.toBeInstanceOf(RunBusyError);
    await all(executeRun(ctx, run, { reread: true }));
    await expect(claimForResume(ctx, (await ctx.journal.getRun(run.runId))!)).rejects.toThrow(/complete/);
  });
});

describe("executeRun: states changed since the plan", () => {
  it("a plan's change someone else already made is unchanged; an undo's is a conflict", async () => {
    const { graph, ctx } = setup();
    graph.users.find((u) => u.id === ADELE.id)!.perUserMfaState = "enforced";
    const run = await createRun(ctx, { kind: "apply", description: "t" }, [change(ADELE, "enforced", "disabled")]);
    const [applied] = await all(executeRun(ctx, run, { reread: true }));
    expect(applied).toMatchObject({ status: "unchanged", perUserMfaState: "enforced" });

    graph.users.find((u) => u.id === ADELE.id)!.perUserMfaState = "disabled";
    const undo = await createRun(ctx, { kind: "undo", description: "t" }, [change(ADELE, "disabled", "enforced")]);
    const [undone] = await all(executeRun(ctx, undo, { reread: true }));
    expect(undone).toMatchObject({ status: "conflict", perUserMfaState: "disabled" });
    expect(graph.patches()).toHaveLength(0);
  });
});
