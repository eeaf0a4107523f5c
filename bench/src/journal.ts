/**
 * The journal's cost: every change is recorded before it is sent and settled after it. Measures
 * begin + settle pairs per second on the SQLite journal with as many changes in flight as bulk
 * runs keep (1,000), against the write rates Graph allows (the reference's throttling numbers).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteJournal } from "@mfactl/store";

export interface JournalBench {
  changes: number;
  inFlight: number;
  createSeconds: number;
  seconds: number;
  pairsPerSecond: number;
  /** 70,000 writes per 5 minutes per app across all tenants. */
  appWriteCeilingPerSecond: number;
  /** 3,000 writes per 150 s per app and tenant. */
  tenantWriteCeilingPerSecond: number;
}

export async function journalThroughput(changes: number, inFlight = 1000): Promise<JournalBench> {
  const dir = await mkdtemp(join(tmpdir(), "mfactl-journal-bench-"));
  const journal = await openSqliteJournal(join(dir, "journal.db"));
  try {
    const owner = { id: "bench", host: "bench", pid: process.pid };
    const created = performance.now();
    await journal.createRun(
      { runId: "bench", kind: "bulk-set", actor: "app:bench", host: "bench", startedAt: new Date().toISOString(), owner },
      Array.from({ length: changes }, (_, i) => ({ tenant: "contoso.onmicrosoft.com", id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, userPrincipalName: `user${i}@contoso.onmicrosoft.com`, requestedState: "enforced" as const, expectedState: "disabled" as const })),
    );
    const createSeconds = (performance.now() - created) / 1000;
    let next = 0;
    const started = performance.now();
    // As the run executor does: record, (the request), settle; many users at once.
    const worker = async () => {
      while (next < changes) {
        const seq = next++;
        const at = new Date().toISOString();
        if (!(await journal.beginChange("bench", seq, owner.id, "disabled", at))) throw new Error("lost the run");
        await new Promise((resolve) => setImmediate(resolve));
        if (!(await journal.settleChange("bench", seq, owner.id, { status: "changed", perUserMfaState: "enforced", requestId: "00000000-0000-0000-0000-000000000000", at }))) throw new Error("lost the run");
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const seconds = (performance.now() - started) / 1000;
    return { changes, inFlight, createSeconds, seconds, pairsPerSecond: changes / seconds, appWriteCeilingPerSecond: 70_000 / 300, tenantWriteCeilingPerSecond: 3000 / 150 };
  } finally {
    await journal.close();
    await rm(dir, { recursive: true, force: true });
  }
}
