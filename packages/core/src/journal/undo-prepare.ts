import { PlanAlreadyRunError, UsageError } from "../domain/errors.js";
import type { BatchEngine } from "../engine/types.js";
import { checkMaxChanges, refuseProtected, type MaxChanges } from "../operations/guard-rails.js";
import { tenantProtection } from "../plan/plan-create.js";
import { createRun, type RunContext } from "./run-executor.js";
import { planUndo, resolveRun, undoPlanId, type UndoPlan } from "./run-lookup.js";
import type { JournalStore, RunRecord } from "./types.js";

export interface UndoGuards {
  includeProtected?: boolean | undefined;
  /** The profile's protected accounts (UPNs or ids). */
  protectedList?: readonly string[] | undefined;
  maxChanges?: { cap: MaxChanges; source: string } | undefined;
}

export interface PreparedUndo extends UndoPlan {
  target: RunRecord;
  /** Users to restore, per tenant. */
  perTenant: Map<string, number>;
}

/**
 * Everything an undo checks before it asks or records anything: the run (id, prefix or `last`),
 * who can be restored, protected accounts (refused unless allowed) and the run-size cap. Throws
 * (nothing changed) when a guard rail says no.
 */
export async function prepareUndo(journal: JournalStore, engine: BatchEngine, ref: string, guards: UndoGuards, signal?: AbortSignal): Promise<PreparedUndo> {
  const target = await resolveRun(journal, ref);
  const plan = await planUndo(journal, target);
  const perTenant = new Map<string, number>();
  for (const c of plan.changes) perTenant.set(c.tenant, (perTenant.get(c.tenant) ?? 0) + 1);
  if (plan.changes.length > 0 && !guards.includeProtected) {
    const { protectedAccounts } = await tenantProtection(engine, [...perTenant.keys()], guards.protectedList ?? [], signal);
    refuseProtected(
      plan.changes.flatMap((c) => {
        const reason = protectedAccounts.reason(c.tenant, c);
        return reason ? [{ tenant: c.tenant, userPrincipalName: c.userPrincipalName, reason }] : [];
      }),
    );
  }
  if (plan.changes.length > 0) checkMaxChanges(plan.changes.length, target.total, guards.maxChanges?.cap, guards.maxChanges?.source ?? "");
  return { ...plan, target, perTenant };
}

/** Records the undo run (a run is undone once: a second undo is a UsageError naming the first). */
export async function startUndoRun(ctx: RunContext, prepared: PreparedUndo, options: { force?: boolean | undefined; includeProtected?: boolean | undefined }): Promise<RunRecord> {
  const { target } = prepared;
  try {
    return await createRun(
      ctx,
      { kind: "undo", description: `undo of ${target.runId} (${target.description})`, planId: undoPlanId(target.runId), undoOf: target.runId, force: options.force, includeProtected: options.includeProtected },
      prepared.changes,
    );
  } catch (error) {
    if (error instanceof PlanAlreadyRunError) {
      throw new UsageError(`Run ${target.runId} was already undone by run ${error.runId}; undo ${error.runId} to redo it. Nothing was changed.`);
    }
    throw error;
  }
}
