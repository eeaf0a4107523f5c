import type { BatchEngine } from "../engine/types.js";
import type { ChangeTarget } from "../operations/apply-change.js";
import { postureReport, type PostureOptions } from "../operations/posture-report.js";
import { migrationCandidates } from "../posture/evaluate-posture.js";
import { finishPlan, tenantProtection, type CreatePlanOptions } from "./plan-create.js";
import type { LeftOut, PlanBody, PlanFailure } from "./plan-file.js";

/**
 * `migrate plan`: per-user MFA `disabled` for the users Conditional Access for all apps or
 * security defaults already cover, as a plan `apply` carries out. Users whose only known
 * protection is per-user MFA are listed (left out as `wouldLoseMfa`), never included; so are
 * users whose protection cannot be known (a source the tenant's licence does not allow).
 */
export async function createMigrationPlan(
  engine: BatchEngine,
  tenants: readonly string[],
  options: Omit<CreatePlanOptions, "command" | "checkMethods"> & Pick<PostureOptions, "tenantConcurrency">,
): Promise<PlanBody> {
  const targets: { target: ChangeTarget; protectedReason: string | undefined }[] = [];
  const leftOut: LeftOut[] = [];
  const failures: PlanFailure[] = [];
  const byTenant: PlanBody["summary"]["byTenant"] = {};
  const unique = [...new Set(tenants)];
  const { protectedAccounts, directories } = await tenantProtection(engine, unique, options.protectedList ?? [], options.signal);
  let unchanged = 0;
  for await (const result of postureReport(engine, { tenants: unique }, { signal: options.signal, onProgress: options.onProgress, tenantConcurrency: options.tenantConcurrency })) {
    if (result.status === "failed") {
      byTenant[result.tenant] = { selected: 0, changes: 0, unchanged: 0, leftOut: 0, failed: 1 };
      failures.push({ tenant: result.tenant, error: result.error });
      continue;
    }
    const t = (byTenant[result.tenant] = { selected: result.users.length, changes: 0, unchanged: 0, leftOut: 0, failed: 0 });
    const { candidates, leftWithoutMfa } = migrationCandidates(result.users);
    for (const c of candidates) {
      const user = { id: c.id, userPrincipalName: c.userPrincipalName };
      const reason = protectedAccounts.reason(c.tenant, user);
      if (reason && !options.includeProtected) {
        t.leftOut++;
        leftOut.push({ tenant: c.tenant, id: c.id, userPrincipalName: c.userPrincipalName, perUserMfaState: c.perUserMfaState, reason: "protected", detail: reason });
        continue;
      }
      targets.push({ target: { tenant: c.tenant, user, previousState: c.perUserMfaState, requestedState: "disabled" }, protectedReason: reason });
    }
    for (const h of leftWithoutMfa) {
      t.leftOut++;
      leftOut.push({ tenant: h.tenant, id: h.id, userPrincipalName: h.userPrincipalName, perUserMfaState: h.perUserMfaState, reason: "wouldLoseMfa", detail: `${h.reason} (without per-user MFA: ${h.protectionWithoutPerUser})` });
    }
    t.unchanged = t.selected - candidates.length - leftWithoutMfa.length;
    unchanged += t.unchanged;
  }
  return finishPlan(engine, { targets, leftOut, failures, byTenant, unchanged, tenants: unique }, directories, { ...options, command: "migrate", checkMethods: false });
}
