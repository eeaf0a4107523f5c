import { hostname } from "node:os";
import { UsageError } from "../domain/errors.js";
import type { UserMfaChange } from "../domain/vocabulary.js";
import type { BatchEngine } from "../engine/types.js";
import { executeRun, type RunContext } from "../journal/run-executor.js";
import { errorInfo } from "../operations/errors-to-info.js";
import { parseMaxChanges, type MaxChanges } from "../operations/guard-rails.js";
import type { ProgressEvent } from "../operations/report.js";
import { checkPlanGuards, startPlanRun, type ApplyGuards } from "../plan/plan-apply.js";
import { createEnforcePlan } from "../plan/plan-enforce.js";
import type { PlanBody } from "../plan/plan-file.js";
import { parsePolicy } from "../policy/policy-file.js";
import { systemClock, type Clock } from "../transport/clock.js";
import type { ScheduleRecord } from "./types.js";

export interface DriftCheckDeps {
  engine: BatchEngine;
  /** Needed for remediation (journal, port = enginePort(engine), actor, clock, signal). Absent: remediation is reported skipped. */
  run?: RunContext | undefined;
  protectedList: readonly string[];
  /** The cap when the schedule names none (the profile's / server's maxChanges). */
  maxChanges?: { cap: MaxChanges; source: string } | undefined;
  clock?: Clock | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: ProgressEvent) => void) | undefined;
  /** Each remediation change as it settles. */
  onChange?: ((change: UserMfaChange) => void) | undefined;
  /** Called once the remediation run is recorded (before anything is sent). */
  onRunCreated?: ((runId: string) => void) | undefined;
}

export interface DriftCheckError {
  code: string;
  message: string;
  requestId?: string;
}

export interface DriftCheckTenant {
  tenant: string;
  status: "completed" | "failed";
  users: number;
  inDrift: number;
  warnings: string[];
  error?: DriftCheckError;
}

export interface DriftCheckUser {
  tenant: string;
  id: string;
  userPrincipalName: string;
  perUserMfaState: string;
  requestedState: string;
  rule?: string;
  policy?: string;
  /** Why the account is protected: remediation leaves it alone. */
  protected?: string;
}

export interface RemediationFailure {
  tenant: string;
  id: string;
  userPrincipalName: string;
  status: string;
  error?: DriftCheckError;
}

export type DriftCheckRemediation =
  | { enabled: false }
  | { enabled: true; status: "skipped"; reason: string }
  | {
      enabled: true;
      status: "completed" | "interrupted";
      runId: string;
      /** Settled changes by status: changed, unchanged, failed, conflict. */
      counts: Record<string, number>;
      /** The users that failed or conflicted (first 200). */
      failed: RemediationFailure[];
      /** Said when some tenants were not remediated (they could not be measured) or the run stopped early. */
      note?: string;
      /** Why the run stopped before the end (journal failure, taken over). */
      error?: { code: string; message: string };
    };

export interface DriftCheckResult {
  kind: "mfactl.driftCheck";
  version: 1;
  schedule: { scheduleId: string; name: string };
  period: string;
  startedAt: string;
  finishedAt: string;
  /** noDrift: nothing to change; drift: drift left (not remediated, or partly); remediated: the drift was changed away; failed: no tenant could be measured. */
  status: "noDrift" | "drift" | "remediated" | "failed";
  counts: { tenants: number; tenantsFailed: number; users: number; managed: number; inDrift: number; protectedInDrift: number };
  tenants: DriftCheckTenant[];
  /** The users in drift (first 200; driftTruncated says there were more). */
  drift: DriftCheckUser[];
  driftTruncated: boolean;
  remediation: DriftCheckRemediation;
}

export const DRIFT_LIST_LIMIT = 200;
const FAILED_LIST_LIMIT = 200;

function capOf(schedule: ScheduleRecord, deps: DriftCheckDeps): ApplyGuards["maxChanges"] {
  const own = schedule.remediate.maxChanges;
  if (own === undefined) return deps.maxChanges;
  const source = `schedule ${schedule.name} remediate.maxChanges`;
  return { cap: parseMaxChanges(own, source), source };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * One firing of a schedule: measure the tenants against its policy (as `mfactl enforce` plans), then,
 * when remediation is on and the drift is within the run-size cap, change it through the journal
 * (kind "enforce"), each user re-read first. Protected accounts are never changed; tenants that
 * could not be measured are reported and not remediated. Throws only on bad input (UsageError)
 * or an abort; a journal failure while remediating ends the run `interrupted` with its error.
 */
export async function runDriftCheck(deps: DriftCheckDeps, schedule: ScheduleRecord, tenants: readonly string[], options: { period: string; named?: boolean }): Promise<DriftCheckResult> {
  const clock = deps.clock ?? systemClock;
  const startedAt = new Date(clock.now()).toISOString();
  const policy = parsePolicy(schedule.policy, schedule.policySource ?? `the policy of schedule ${schedule.name}`);
  const maxChanges = schedule.remediate.enabled ? capOf(schedule, deps) : undefined;
  const unique = [...new Set(tenants)];

  // Protected accounts planned like any other, then taken out: the alert says what the policy
  // wants for them too, and remediation never reaches them.
  const measured = await createEnforcePlan(deps.engine, policy, unique, {
    actor: deps.run?.actor ?? "scheduler",
    host: hostname(),
    description: `schedule ${schedule.name} ${options.period}`,
    protectedList: deps.protectedList,
    includeProtected: true,
    checkMethods: false,
    namedTenants: options.named ?? true,
    signal: deps.signal,
    onProgress: deps.onProgress,
    clock,
  });
  const { outcomes, protectedAccounts } = measured;
  const protectedItems = measured.plan.items.filter((i) => i.protected);
  const items = measured.plan.items.filter((i) => !i.protected);
  const plan: PlanBody = {
    ...measured.plan,
    includeProtected: false,
    items,
    leftOut: [
      ...measured.plan.leftOut,
      ...protectedItems.map((i) => ({ tenant: i.tenant, id: i.id, userPrincipalName: i.userPrincipalName, perUserMfaState: i.perUserMfaState, reason: "protected" as const, detail: protectedAccounts.reason(i.tenant, i) ?? "protected" })),
    ],
    summary: { ...measured.plan.summary, changes: items.length, leftOut: measured.plan.summary.leftOut + protectedItems.length, warnings: items.reduce((n, i) => n + i.warnings.length, 0) },
  };

  const driftByTenant = new Map<string, number>();
  for (const t of measured.plan.items) driftByTenant.set(t.tenant, (driftByTenant.get(t.tenant) ?? 0) + 1);
  const tenantRows: DriftCheckTenant[] = outcomes.map((o) => ({
    tenant: o.tenant,
    status: o.status,
    users: o.users,
    inDrift: driftByTenant.get(o.tenant) ?? 0,
    warnings: [...o.warnings],
    ...(o.error ? { error: { code: o.error.code, message: o.error.message } } : {}),
  }));
  // Outcomes come as tenants finish: list them in the order given.
  const order = new Map(unique.map((t, i) => [t, i]));
  tenantRows.sort((a, b) => (order.get(a.tenant) ?? 0) - (order.get(b.tenant) ?? 0));

  const drift: DriftCheckUser[] = measured.plan.items.map((i) => ({
    tenant: i.tenant,
    id: i.id,
    userPrincipalName: i.userPrincipalName,
    perUserMfaState: i.perUserMfaState,
    requestedState: i.requestedState,
    ...(i.protected ? { protected: protectedAccounts.reason(i.tenant, i) ?? "protected" } : {}),
  }));
  drift.sort((a, b) => (order.get(a.tenant) ?? 0) - (order.get(b.tenant) ?? 0) || a.userPrincipalName.localeCompare(b.userPrincipalName));

  const tenantsFailed = tenantRows.filter((t) => t.status === "failed").length;
  const counts: DriftCheckResult["counts"] = {
    tenants: tenantRows.length,
    tenantsFailed,
    users: tenantRows.reduce((n, t) => n + t.users, 0),
    managed: plan.summary.selected,
    inDrift: measured.plan.items.length,
    protectedInDrift: protectedItems.length,
  };

  const remediation = await remediate();
  const status: DriftCheckResult["status"] =
    counts.tenants > 0 && tenantsFailed === counts.tenants
      ? "failed"
      : remediation.enabled && remediation.status === "completed" && remediation.failed.length === 0 && counts.protectedInDrift === 0
        ? "remediated"
        : counts.inDrift > 0
          ? "drift"
          : "noDrift";

  return {
    kind: "mfactl.driftCheck",
    version: 1,
    schedule: { scheduleId: schedule.scheduleId, name: schedule.name },
    period: options.period,
    startedAt,
    finishedAt: new Date(clock.now()).toISOString(),
    status,
    counts,
    tenants: tenantRows,
    drift: drift.slice(0, DRIFT_LIST_LIMIT),
    driftTruncated: drift.length > DRIFT_LIST_LIMIT,
    remediation,
  };

  async function remediate(): Promise<DriftCheckRemediation> {
    if (!schedule.remediate.enabled) return { enabled: false };
    const skipped = (reason: string): DriftCheckRemediation => ({ enabled: true, status: "skipped", reason });
    if (counts.tenants > 0 && tenantsFailed === counts.tenants) return skipped("No tenant could be measured: nothing was changed.");
    if (counts.inDrift === 0) return skipped(tenantsFailed ? "No drift in the tenants measured: nothing to remediate." : "No drift: nothing to remediate.");
    if (plan.items.length === 0) return skipped(`Only protected accounts are in drift (${plural(protectedItems.length, "user")}); remediation never changes them.`);
    const run = deps.run;
    if (!run) return skipped("Remediation needs the journal, and this check ran without one: nothing was changed.");
    const planFile = { ...plan, digest: "" };
    const guards: ApplyGuards = { force: false, includeProtected: false, maxChanges, protectedAccounts };
    try {
      checkPlanGuards(planFile, guards);
    } catch (error) {
      if (error instanceof UsageError) return skipped(error.message);
      throw error;
    }
    let record;
    try {
      record = await startPlanRun(run, planFile, guards, "enforce");
    } catch (error) {
      if (error instanceof UsageError) return skipped(error.message);
      return skipped(`The journal could not record the run: ${errorInfo(error).message} Nothing was changed.`);
    }
    deps.onRunCreated?.(record.runId);
    const byStatus: Record<string, number> = { changed: 0, unchanged: 0, failed: 0, conflict: 0 };
    const failed: RemediationFailure[] = [];
    let failedTotal = 0;
    let stopped: { code: string; message: string } | undefined;
    try {
      for await (const change of executeRun(run, record, { reread: true })) {
        byStatus[change.status] = (byStatus[change.status] ?? 0) + 1;
        if (change.status === "failed" || change.status === "conflict") {
          failedTotal++;
          if (failed.length < FAILED_LIST_LIMIT) {
            const error = change.error ? { code: change.error.code, message: change.error.message, ...(change.requestId !== undefined ? { requestId: change.requestId } : {}) } : undefined;
            failed.push({ tenant: change.tenant, id: change.id, userPrincipalName: change.userPrincipalName, status: change.status, ...(error ? { error } : {}) });
          }
        }
        deps.onChange?.(change);
      }
    } catch (error) {
      // A journal failure or a takeover: what was settled is kept, the rest is for `resume`.
      const info = errorInfo(error);
      stopped = { code: info.code, message: info.message };
    }
    const after = await run.journal.getRun(record.runId).catch(() => undefined);
    const completed = stopped === undefined && after?.status === "completed";
    const notes: string[] = [];
    const unmeasured = tenantRows.filter((t) => t.status === "failed").map((t) => t.tenant);
    if (unmeasured.length) notes.push(`${plural(unmeasured.length, "tenant")} could not be measured and ${unmeasured.length === 1 ? "was" : "were"} not remediated: ${unmeasured.join(", ")}.`);
    if (!completed) {
      const left = after ? after.counts.pending + after.counts.inFlight : undefined;
      notes.push(`The run stopped before the end${left !== undefined ? ` with ${plural(left, "change")} left` : ""}: \`mfactl resume ${record.runId}\` finishes it.`);
    }
    if (failedTotal > failed.length) notes.push(`${failedTotal} users failed or conflicted; the first ${failed.length} are listed.`);
    return {
      enabled: true,
      status: completed ? "completed" : "interrupted",
      runId: record.runId,
      counts: byStatus,
      failed,
      ...(notes.length ? { note: notes.join(" ") } : {}),
      ...(stopped ? { error: stopped } : {}),
    };
  }
}
