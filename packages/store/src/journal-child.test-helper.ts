/**
 * A journal client in a child process, for tests that need two processes on one database (an
 * SQLite file, or a PostgreSQL schema).
 * Tests fork the built copy (dist/journal-child.test-helper.js); it answers each message with one
 * reply. Operations carry `startAt` (epoch ms) so two children start them at the same moment.
 */
import type { ChangeSettlement, JournalChange, JournalStore, NewChange, NewRun, RunOwner, RunStatus } from "@mfactl/core";
import { openPostgresStore } from "./postgres-store.js";
import { openSqliteJournal } from "./sqlite-journal.js";

export type ChildRequest =
  | { op: "open"; path: string; busyTimeoutMs?: number }
  /** The journal of a PostgreSQL store in `schema` (tests: a fresh schema of their own). */
  | { op: "openPostgres"; url: string; schema: string }
  | { op: "createRun"; run: NewRun; changes: NewChange[]; startAt: number }
  | { op: "claimRun"; runId: string; owner: RunOwner; expectedOwnerId: string | null; at: string; startAt: number }
  | { op: "beginChange"; runId: string; seq: number; ownerId: string; previousState: JournalChange["previousState"]; at: string; startAt?: number }
  /** claimRun, then at once the status of change `seq` as this process now sees it: `{ claimed, status }`. */
  | { op: "takeOver"; runId: string; owner: RunOwner; expectedOwnerId: string; seq: number; at: string; startAt: number }
  | { op: "settleChange"; runId: string; seq: number; ownerId: string; settlement: ChangeSettlement }
  | { op: "finishRun"; runId: string; ownerId: string; status: Exclude<RunStatus, "running">; at: string }
  | { op: "close" };

export type ChildReply =
  | { ok: true; value?: unknown }
  | { ok: false; name: string; message: string; planId?: string | undefined; runId?: string | undefined };

async function handle(store: JournalStore | undefined, request: ChildRequest): Promise<{ store: JournalStore | undefined; value?: unknown }> {
  if (request.op === "open") return { store: await openSqliteJournal(request.path, request.busyTimeoutMs !== undefined ? { busyTimeoutMs: request.busyTimeoutMs } : {}) };
  if (request.op === "openPostgres") return { store: (await openPostgresStore(request.url, { schema: request.schema, poolSize: 2 })).journal };
  if (!store) throw new Error("open first");
  if ("startAt" in request && request.startAt !== undefined) {
    const startAt = request.startAt;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())));
  }
  switch (request.op) {
    case "createRun":
      return { store, value: (await store.createRun(request.run, request.changes)).runId };
    case "claimRun":
      return { store, value: await store.claimRun(request.runId, request.owner, request.expectedOwnerId ?? undefined, request.at) };
    case "beginChange":
      return { store, value: await store.beginChange(request.runId, request.seq, request.ownerId, request.previousState, request.at) };
    case "takeOver": {
      const claimed = await store.claimRun(request.runId, request.owner, request.expectedOwnerId, request.at);
      let status: string | undefined;
      for await (const c of store.changes(request.runId, { afterSeq: request.seq - 1, limit: 1 })) status = c.status;
      return { store, value: { claimed, status } };
    }
    case "settleChange":
      return { store, value: await store.settleChange(request.runId, request.seq, request.ownerId, request.settlement) };
    case "finishRun":
      return { store, value: await store.finishRun(request.runId, request.ownerId, request.status, request.at) };
    case "close":
      await store.close();
      return { store: undefined };
  }
}

function serveParent(send: (reply: ChildReply) => void): void {
  let store: JournalStore | undefined;
  let queue = Promise.resolve();
  process.on("message", (request: ChildRequest) => {
    queue = queue.then(async () => {
      try {
        const result = await handle(store, request);
        store = result.store;
        send({ ok: true, value: result.value });
      } catch (error) {
        const e = error as Error & { planId?: string; runId?: string };
        send({ ok: false, name: e.name, message: e.message, planId: e.planId, runId: e.runId });
      }
    });
  });
}

// Only when forked: importing this file for its types starts nothing.
const send = process.send?.bind(process);
if (send) serveParent((reply) => send(reply));
