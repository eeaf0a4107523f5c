import { RunNotFoundError, UsageError } from "../domain/errors.js";
import type { MfaState } from "../domain/mfa-state.js";
import { isMfaState } from "../domain/mfa-state.js";
import type { JournalStore, NewChange, RunRecord } from "./types.js";

/** A run by its id or an unambiguous prefix of it (as people type them), or `last`. */
export async function resolveRun(journal: JournalStore, ref: string): Promise<RunRecord> {
  const wanted = ref.trim();
  if (wanted === "") throw new UsageError("Which run? Give its id (see `mfactl runs`).");
  if (wanted === "last") {
    const [latest] = await journal.listRuns({ limit: 1 });
    if (!latest) throw new RunNotFoundError(`The journal ${journal.location} has no runs yet.`, { runId: wanted });
    return latest;
  }
  const exact = await journal.getRun(wanted);
  if (exact) return exact;
  const found = await journal.findRuns(wanted, 5);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new RunNotFoundError(`No run ${wanted} in the journal ${journal.location} (see \`mfactl runs\`).`, { runId: wanted });
  throw new UsageError(`${wanted} matches several runs (${found.map((r) => r.runId).join(", ")}${found.length === 5 ? ", ..." : ""}): give more of the id.`);
}

export interface UndoPlan {
  changes: NewChange[];
  /** Users the run changed whose previous state cannot be written back (it read as unknown). */
  skipped: { tenant: string; id: string; userPrincipalName: string; reason: string }[];
}

/**
 * What undoing a run means: every user it changed goes back to the state read before the change,
 * only where the state is still the one the run read back (the expected state; else a conflict).
 */
export async function planUndo(journal: JournalStore, run: RunRecord): Promise<UndoPlan> {
  if (run.status === "running" && run.owner) {
    throw new UsageError(`Run ${run.runId} has not finished: let it finish or \`mfactl resume ${run.runId}\` it before undoing it.`);
  }
  const changes: NewChange[] = [];
  const skipped: UndoPlan["skipped"] = [];
  for await (const c of journal.changes(run.runId, { status: ["changed"] })) {
    const back: MfaState | undefined = isMfaState(c.previousState) ? c.previousState : undefined;
    if (!back) {
      skipped.push({ tenant: c.tenant, id: c.id, userPrincipalName: c.userPrincipalName, reason: `its state before the run was ${c.previousState ?? "not read"}, which cannot be written back` });
      continue;
    }
    changes.push({ tenant: c.tenant, id: c.id, userPrincipalName: c.userPrincipalName, requestedState: back, ...(c.perUserMfaState !== undefined ? { expectedState: c.perUserMfaState } : {}) });
  }
  return { changes, skipped };
}

/** An undo is recorded with this plan id, so one run is undone once (undo the undo to redo). */
export function undoPlanId(runId: string): string {
  return `undo:${runId}`;
}
