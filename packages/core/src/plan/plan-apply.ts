import { UsageError } from "../domain/errors.js";
import { checkMaxChanges, refuseProtected, type MaxChanges, type ProtectedAccounts } from "../operations/guard-rails.js";
import { createRun, type RunContext, type RunSpec } from "../journal/run-executor.js";
import type { NewChange, RunRecord } from "../journal/types.js";
import type { PlanFile } from "./plan-file.js";

export interface ApplyGuards {
  /** Apply where the state no longer matches the plan. */
  force?: boolean | undefined;
  includeProtected?: boolean | undefined;
  maxChanges?: { cap: MaxChanges; source: string } | undefined;
  /** The profile's protected accounts as they are now (the plan may be older than the profile). */
  protectedAccounts?: ProtectedAccounts | undefined;
}

/**
 * Check a plan against the guard rails and record its run: every item pending, expecting the
 * state the plan read. Throws (nothing sent) when a guard rail says no or the plan already ran.
 */
export async function startPlanRun(ctx: RunContext, plan: PlanFile, guards: ApplyGuards, kind: RunSpec["kind"] = "apply"): Promise<RunRecord> {
  checkPlanGuards(plan, guards);
  const changes: NewChange[] = plan.items.map((i) => ({ tenant: i.tenant, id: i.id, userPrincipalName: i.userPrincipalName, requestedState: i.requestedState, expectedState: i.perUserMfaState }));
  return createRun(
    ctx,
    { kind, description: plan.source.description, planId: plan.planId, force: guards.force, includeProtected: guards.includeProtected },
    changes,
  );
}

/** The guard rails alone, to check before asking for confirmation. Throws UsageError. */
export function checkPlanGuards(plan: PlanFile, guards: ApplyGuards): void {
  if (plan.items.length === 0) throw new UsageError("The plan changes nobody: nothing to apply.");
  if (!guards.includeProtected) {
    const found = plan.items
      .map((i) => ({ item: i, reason: i.protected ? "protected when the plan was made" : guards.protectedAccounts?.reason(i.tenant, i) }))
      .filter((x): x is { item: (typeof plan.items)[number]; reason: string } => x.reason !== undefined)
      .map((x) => ({ tenant: x.item.tenant, userPrincipalName: x.item.userPrincipalName, reason: x.reason }));
    refuseProtected(found);
  }
  if (guards.maxChanges) checkMaxChanges(plan.items.length, plan.summary.selected, guards.maxChanges.cap, guards.maxChanges.source);
}
