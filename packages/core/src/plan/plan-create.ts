import { randomUUID } from "node:crypto";
import { GraphError } from "../domain/errors.js";
import type { MfaState } from "../domain/mfa-state.js";
import type { Warning } from "../domain/vocabulary.js";
import type { BatchEngine } from "../engine/types.js";
import { planBulkSet, type BulkOptions, type ValidatedBulk } from "../operations/bulk-set.js";
import type { ChangeTarget } from "../operations/apply-change.js";
import { directoryRoleHolders, registeredMfaMethods, SYNC_ACCOUNT_UPN, type RoleHolders } from "../operations/directory.js";
import { errorInfo } from "../operations/errors-to-info.js";
import { ProtectedAccounts, refuseProtected } from "../operations/guard-rails.js";
import { systemClock, type Clock } from "../transport/clock.js";
import { mapConcurrent } from "../util/concurrent.js";
import { PLAN_KIND, PLAN_VERSION, type LeftOut, type PlanBody, type PlanFailure, type PlanItem } from "./plan-file.js";

export interface TenantDirectory {
  roles: RoleHolders | undefined;
  /** Why roles could not be read (the sync account is then recognised by its name). */
  rolesProblem: string | undefined;
}

/**
 * Protected accounts for these tenants: the profile's list, plus each tenant's directory
 * synchronisation accounts (holders of that role; by the `Sync_...@` name when roles cannot be read).
 */
export async function tenantProtection(
  engine: BatchEngine,
  tenants: readonly string[],
  listed: readonly string[],
  signal?: AbortSignal,
): Promise<{ protectedAccounts: ProtectedAccounts; directories: Map<string, TenantDirectory> }> {
  const protectedAccounts = new ProtectedAccounts(listed);
  const directories = new Map<string, TenantDirectory>();
  const read = mapConcurrent(tenants, 16, async (tenant) => {
    try {
      return { tenant, roles: await directoryRoleHolders(engine, tenant, signal), problem: undefined };
    } catch (error) {
      if (signal?.aborted) throw error;
      const why = error instanceof GraphError && (error.status === 403 || error.status === 401) ? "the app may not read directory roles (RoleManagement.Read.Directory)" : errorInfo(error).message;
      return { tenant, roles: undefined, problem: why };
    }
  });
  for await (const { tenant, roles, problem } of read) {
    directories.set(tenant, { roles, rolesProblem: problem });
    if (roles) for (const id of roles.directorySync) protectedAccounts.add(id, "directory synchronisation account", tenant);
    else protectedAccounts.addPattern(SYNC_ACCOUNT_UPN, "directory synchronisation account (by name: roles could not be read)", tenant);
  }
  return { protectedAccounts, directories };
}

export interface CreatePlanOptions extends BulkOptions {
  actor: string;
  host: string;
  command: PlanBody["source"]["command"];
  description: string;
  /** The profile's protected accounts (UPNs or ids). */
  protectedList?: readonly string[] | undefined;
  /** Look up registered methods for users planned `enforced` (warnings). Default true. */
  checkMethods?: boolean | undefined;
  /**
   * Protected accounts named in `users` are left out (and listed so) instead of refusing the plan:
   * for screens where a person picks users from a table and the plan is the review.
   */
  leaveOutProtected?: boolean | undefined;
  clock?: Clock | undefined;
}

/**
 * `plan`: read every selected user and write down what would change, with warnings, the users
 * left out (protected, excluded) and what could not be read. Nothing is changed. Naming a
 * protected account without --include-protected is refused (UsageError), unless `leaveOutProtected`.
 */
export async function createPlan(engine: BatchEngine, validated: ValidatedBulk, options: CreatePlanOptions): Promise<PlanBody> {
  const { protectedAccounts, directories } = await tenantProtection(engine, validated.tenants, options.protectedList ?? [], options.signal);
  const explicit = validated.usersByTenant !== undefined;
  const targets: { target: ChangeTarget; protectedReason: string | undefined }[] = [];
  const leftOut: LeftOut[] = [];
  const failures: PlanFailure[] = [];
  const refused: { tenant: string; userPrincipalName: string; reason: string }[] = [];
  const byTenant: PlanBody["summary"]["byTenant"] = {};
  const tally = (tenant: string) => (byTenant[tenant] ??= { selected: 0, changes: 0, unchanged: 0, leftOut: 0, failed: 0 });
  let unchanged = 0;

  for await (const item of planBulkSet(engine, { ...validated, input: { ...validated.input, dryRun: false } }, { ...options, protectedAccounts, includeProtected: options.includeProtected })) {
    switch (item.kind) {
      case "change": {
        tally(item.target.tenant).selected++;
        const protectedReason = protectedAccounts.reason(item.target.tenant, item.target.user);
        targets.push({ target: item.target, protectedReason });
        break;
      }
      case "protected":
        tally(item.target.tenant).selected++;
        if (explicit && !options.leaveOutProtected) refused.push({ tenant: item.target.tenant, userPrincipalName: item.target.user.userPrincipalName, reason: item.reason });
        else {
          tally(item.target.tenant).leftOut++;
          leftOut.push({ tenant: item.target.tenant, id: item.target.user.id, userPrincipalName: item.target.user.userPrincipalName, perUserMfaState: item.target.previousState, reason: "protected", detail: item.reason });
        }
        break;
      case "excluded":
        tally(item.tenant).selected++;
        tally(item.tenant).leftOut++;
        leftOut.push({ tenant: item.tenant, id: item.id, userPrincipalName: item.userPrincipalName, reason: "excluded", detail: "in the --exclude list" });
        break;
      case "result":
        tally(item.change.tenant).selected++;
        if (item.change.status === "failed") {
          tally(item.change.tenant).failed++;
          failures.push({ tenant: item.change.tenant, userPrincipalName: item.change.userPrincipalName, error: item.change.error ?? { code: "unknown", message: "failed" } });
        } else {
          tally(item.change.tenant).unchanged++;
          unchanged++;
        }
        break;
      case "tenant":
        tally(item.outcome.tenant);
        if (item.outcome.status === "failed") failures.push({ tenant: item.outcome.tenant, error: item.outcome.error ?? { code: "unknown", message: "the tenant failed" } });
        break;
    }
  }
  refuseProtected(refused);
  return finishPlan(engine, { targets, leftOut, failures, byTenant, unchanged, tenants: validated.tenants }, directories, options);
}

export interface PlanParts {
  targets: { target: ChangeTarget; protectedReason: string | undefined }[];
  leftOut: LeftOut[];
  failures: PlanFailure[];
  byTenant: PlanBody["summary"]["byTenant"];
  unchanged: number;
  tenants: string[];
}

/** The plan from what was read: warnings looked up, counts summed, a new plan id. */
export async function finishPlan(engine: BatchEngine, parts: PlanParts, directories: Map<string, TenantDirectory>, options: CreatePlanOptions): Promise<PlanBody> {
  const clock = options.clock ?? systemClock;
  const { leftOut, failures, byTenant } = parts;
  const items = await withWarnings(engine, parts.targets, directories, options);
  for (const i of items) (byTenant[i.tenant] ??= { selected: 0, changes: 0, unchanged: 0, leftOut: 0, failed: 0 }).changes++;
  const selected = Object.values(byTenant).reduce((n, t) => n + t.selected, 0);
  return {
    kind: PLAN_KIND,
    version: PLAN_VERSION,
    planId: randomUUID(),
    createdAt: new Date(clock.now()).toISOString(),
    createdBy: { actor: options.actor, host: options.host },
    source: { command: options.command, description: options.description, tenants: parts.tenants },
    includeProtected: options.includeProtected === true,
    summary: {
      selected,
      changes: items.length,
      unchanged: parts.unchanged,
      leftOut: leftOut.length,
      warnings: items.reduce((n, i) => n + i.warnings.length, 0),
      failed: failures.length,
      byTenant,
    },
    items,
    leftOut,
    failures,
  };
}

/** Warnings an administrator must see before the change: lost legacy apps, admins without MFA, protected accounts. */
async function withWarnings(
  engine: BatchEngine,
  targets: { target: ChangeTarget; protectedReason: string | undefined }[],
  directories: Map<string, TenantDirectory>,
  options: CreatePlanOptions,
): Promise<PlanItem[]> {
  const checkMethods = options.checkMethods !== false;
  const methodsDenied = new Map<string, string>();
  const out = mapConcurrent(targets, options.window ?? 1000, async ({ target, protectedReason }): Promise<PlanItem> => {
    const { tenant, user, previousState, requestedState } = target;
    const warnings: Warning[] = [];
    if (protectedReason) warnings.push({ code: "ProtectedAccount", message: `Protected account (${protectedReason}), included with --include-protected.` });
    const denied = methodsDenied.get(tenant);
    if (requestedState === "enforced" && checkMethods && denied) {
      warnings.push({ code: "MethodsUnknown", message: `Registered methods could not be checked: ${denied}` });
    } else if (requestedState === "enforced" && checkMethods) {
      try {
        const methods = await registeredMfaMethods(engine, tenant, user, options.signal);
        if (methods.length === 0) {
          warnings.push({
            code: "NoRegisteredMethod",
            message: "Enforced with no registered MFA method: the user's legacy-authentication apps stop working (they need app passwords) and the next sign-in demands registration.",
          });
        }
      } catch (error) {
        if (options.signal?.aborted) throw error;
        const message = errorInfo(error).message;
        // Denied once, denied for every user of the tenant: stop asking, keep warning.
        if (error instanceof GraphError && (error.status === 403 || error.status === 401)) methodsDenied.set(tenant, message);
        warnings.push({ code: "MethodsUnknown", message: `Registered methods could not be checked: ${message}` });
      }
    }
    const roles = directories.get(tenant)?.roles?.rolesOf.get(user.id.toLowerCase());
    if (roles?.length && requestedState === "disabled") {
      warnings.push({ code: "AdminLosesMfa", message: `Holds ${roles.join(", ")}: with per-user MFA disabled, only Conditional Access or security defaults still protect this admin.` });
    }
    return { tenant, id: user.id, userPrincipalName: user.userPrincipalName, perUserMfaState: previousState, requestedState: requestedState satisfies MfaState, protected: protectedReason !== undefined, warnings };
  });
  const items: PlanItem[] = [];
  for await (const item of out) items.push(item);
  // Results come back as they complete: keep a stable order for people and diffs.
  const order = new Map(targets.map((t, i) => [`${t.target.tenant}/${t.target.user.id}`, i]));
  return items.sort((a, b) => (order.get(`${a.tenant}/${a.id}`) ?? 0) - (order.get(`${b.tenant}/${b.id}`) ?? 0));
}
