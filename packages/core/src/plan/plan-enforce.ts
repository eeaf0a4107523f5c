import type { BatchEngine } from "../engine/types.js";
import type { ChangeTarget } from "../operations/apply-change.js";
import { driftUsers, type DriftOptions, type DriftTenantOutcome } from "../operations/drift.js";
import type { Policy } from "../policy/policy-file.js";
import { finishPlan, tenantProtection, type CreatePlanOptions } from "./plan-create.js";
import type { LeftOut, PlanBody, PlanFailure } from "./plan-file.js";

export interface EnforcePlan {
  plan: PlanBody;
  /** How each tenant's measurement ended (warnings, failures). */
  outcomes: DriftTenantOutcome[];
  /** Protected accounts as read for this plan (apply checks them again). */
  protectedAccounts: Awaited<ReturnType<typeof tenantProtection>>["protectedAccounts"];
}

/**
 * `enforce`: measure the tenants against the policy and plan the drift: per tenant the users the
 * policy manages are the selection (the base of a percentage cap), those in drift the changes,
 * protected accounts left out unless allowed.
 */
export async function createEnforcePlan(
  engine: BatchEngine,
  policy: Policy,
  tenants: readonly string[],
  options: Omit<CreatePlanOptions, "command"> & Pick<DriftOptions, "readStrategy" | "namedTenants">,
): Promise<EnforcePlan> {
  const { protectedAccounts, directories } = await tenantProtection(engine, tenants, options.protectedList ?? [], options.signal);
  const targets: { target: ChangeTarget; protectedReason: string | undefined }[] = [];
  const leftOut: LeftOut[] = [];
  const outcomes: DriftTenantOutcome[] = [];
  const byTenant: PlanBody["summary"]["byTenant"] = {};
  const tally = (tenant: string) => (byTenant[tenant] ??= { selected: 0, changes: 0, unchanged: 0, leftOut: 0, failed: 0 });
  let unchanged = 0;
  for await (const item of driftUsers(engine, policy, tenants, { readStrategy: options.readStrategy, namedTenants: options.namedTenants, signal: options.signal, onProgress: options.onProgress })) {
    if (item.kind === "tenant") {
      outcomes.push(item.outcome);
      if (item.outcome.status === "failed") tally(item.outcome.tenant).failed = 1;
      continue;
    }
    const row = item.row;
    if (!row.managed || !row.requestedState) continue;
    const t = tally(row.tenant);
    t.selected++;
    if (!row.drift) {
      t.unchanged++;
      unchanged++;
      continue;
    }
    const user = { id: row.id, userPrincipalName: row.userPrincipalName };
    const reason = protectedAccounts.reason(row.tenant, user);
    if (reason && !options.includeProtected) {
      t.leftOut++;
      leftOut.push({ tenant: row.tenant, id: row.id, userPrincipalName: row.userPrincipalName, perUserMfaState: row.perUserMfaState, reason: "protected", detail: reason });
      continue;
    }
    targets.push({ target: { tenant: row.tenant, user, previousState: row.perUserMfaState, requestedState: row.requestedState }, protectedReason: reason });
  }
  const failures: PlanFailure[] = outcomes.filter((o) => o.status === "failed").map((o) => ({ tenant: o.tenant, error: o.error ?? { code: "unknown", message: "the tenant failed" } }));
  const plan = await finishPlan(engine, { targets, leftOut, failures, byTenant, unchanged, tenants: [...tenants] }, directories, { ...options, command: "enforce" });
  return { plan, outcomes, protectedAccounts };
}
