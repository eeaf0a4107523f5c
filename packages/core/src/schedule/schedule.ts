import { randomBytes } from "node:crypto";
import { UsageError } from "../domain/errors.js";
import { parseTenantRef, tenantRefProblem, tenantRefToString } from "../domain/references.js";
import { redactUrl } from "../alerts/deliver.js";
import { policyTenantRefs } from "../policy/evaluate.js";
import { ALL_TENANTS, parsePolicy, type Policy } from "../policy/policy-file.js";
import { parseMaxChanges } from "../operations/guard-rails.js";
import { checkCron } from "./cron.js";
import { ScheduleInputSchema, type AlertWhen, type EmailAlert, type ScheduleDefinition, type ScheduleRecord, type WebhookFormat } from "./types.js";

/** Hosts a webhook may be sent to over plain http:// (a receiver on this machine). */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "[::1]", "localhost"]);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase());
}

function policySourceOf(def: { policySource?: string | undefined }): string {
  return def.policySource ?? "the schedule's policy";
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Checks zod cannot make: the cron expression and zone, the policy text, webhook URL schemes and
 * tenants. Run on the raw input too, so one answer lists every problem. Never quotes a webhook URL
 * or secret (Teams and Slack URLs are secrets).
 */
function deeperProblems(raw: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const { cron, timezone, policy, policySource, tenants, allTenants } = raw;
  if (typeof cron === "string" && cron.trim() && (timezone === undefined || (typeof timezone === "string" && timezone))) {
    try {
      checkCron(cron, typeof timezone === "string" ? timezone : "UTC");
    } catch (error) {
      problems.push(messageOf(error));
      // A bad zone hides what is wrong with the expression: check it on its own too.
      if (messageOf(error).startsWith("timezone:")) {
        try {
          checkCron(cron, "UTC");
        } catch (cronError) {
          problems.push(messageOf(cronError));
        }
      }
    }
  }
  let parsedPolicy: Policy | undefined;
  if (typeof policy === "string" && policy) {
    try {
      parsedPolicy = parsePolicy(policy, typeof policySource === "string" && policySource ? policySource : "the schedule's policy");
    } catch (error) {
      problems.push(`policy: ${messageOf(error)}`);
    }
  }
  const webhooks = asRecord(raw["alerts"])?.["webhooks"];
  if (Array.isArray(webhooks)) {
    webhooks.forEach((hook, index) => {
      const url = asRecord(hook)?.["url"];
      if (typeof url !== "string") return;
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        return; // zod reports it, without the value.
      }
      const where = `alerts.webhooks.${index}.url`;
      if (parsed.protocol === "http:" && !isLoopbackHost(parsed.hostname)) problems.push(`${where}: must be https:// (http:// only to 127.0.0.1, ::1 or localhost).`);
      else if (parsed.protocol !== "https:" && parsed.protocol !== "http:") problems.push(`${where}: must be an https:// URL.`);
    });
  }
  const maxChanges = asRecord(raw["remediate"])?.["maxChanges"];
  if (typeof maxChanges === "string" || typeof maxChanges === "number") {
    try {
      parseMaxChanges(maxChanges, "remediate.maxChanges");
    } catch (error) {
      problems.push(`remediate.maxChanges: ${messageOf(error)}`);
    }
  }
  const named = Array.isArray(tenants) ? tenants : [];
  named.forEach((tenant, index) => {
    if (typeof tenant !== "string" || !tenant) return;
    const problem = tenantRefProblem(tenant);
    if (problem) problems.push(`tenants.${index}: ${problem}`);
  });
  if (named.length > 0 && allTenants === true) problems.push("allTenants: give tenants or allTenants, not both.");
  if (parsedPolicy && named.length === 0 && allTenants !== true && policyTenantRefs(parsedPolicy).length === 0) {
    problems.push(`tenants: the policy applies to "${ALL_TENANTS}": give tenants or allTenants.`);
  }
  return problems;
}

/** zod + cron + the policy text parsed (parsePolicy) -> UsageError listing every problem by path; secrets never echoed. */
export function parseScheduleInput(raw: unknown, source: string): ScheduleDefinition {
  const result = ScheduleInputSchema.safeParse(raw);
  const problems = result.success ? [] : result.error.issues.map((i) => `${i.path.map(String).join(".") || "(top level)"}: ${i.message}`);
  const record = asRecord(raw);
  if (record) problems.push(...deeperProblems(record));
  if (problems.length || !result.success) {
    const unique = [...new Set(problems)];
    const listed = unique.length === 1 ? unique[0] : `${unique.length} problems: ${unique.map((p) => p.replace(/\.$/, "")).join("; ")}.`;
    throw new UsageError(`Invalid schedule (${source}): ${listed}`);
  }
  const def = result.data;
  // Canonical tenant refs (lower case), each once: the policy's are canonical too.
  return { ...def, cron: def.cron.trim(), tenants: [...new Set(def.tenants.map((t) => tenantRefToString(parseTenantRef(t))))] };
}

/** scheduleId `sch-<12 hex>`; createdAt = updatedAt = now. */
export function newScheduleRecord(def: ScheduleDefinition, actor: string, nowMs: number): ScheduleRecord {
  const at = new Date(nowMs).toISOString();
  return { ...def, scheduleId: `sch-${randomBytes(6).toString("hex")}`, createdAt: at, updatedAt: at, createdBy: actor };
}

/**
 * Tenants a firing measures, as `mfactl drift` picks them: the schedule's own list (named: true);
 * allTenants: every tenant known (the profile's / server's; named: false, so a tenant no policy
 * covers is not a failure); else the tenants the policy names (named: true).
 */
export function scheduleTenants(def: ScheduleDefinition, known: readonly string[]): { tenants: string[]; named: boolean } {
  if (def.tenants.length) return { tenants: [...def.tenants], named: true };
  if (def.allTenants) return { tenants: [...new Set(known)], named: false };
  const named = policyTenantRefs(parsePolicy(def.policy, policySourceOf(def)));
  if (named.length) return { tenants: named, named: true };
  throw new UsageError(`The policy of schedule ${def.name} (${policySourceOf(def)}) applies to "${ALL_TENANTS}": give tenants or allTenants.`);
}

/** For output (CLI, API): webhook URLs redacted (`redactUrl`), webhook secrets replaced by `"[set]"`, the policy text kept. */
export type ScheduleView = Omit<ScheduleRecord, "alerts"> & {
  alerts: { webhooks: { url: string; format: WebhookFormat; secret?: "[set]"; when: AlertWhen }[]; email?: EmailAlert };
};

export function scheduleView(record: ScheduleRecord): ScheduleView {
  const { alerts, ...rest } = record;
  return {
    ...rest,
    alerts: {
      webhooks: alerts.webhooks.map((w) => ({ url: redactUrl(w.url), format: w.format, ...(w.secret !== undefined ? { secret: "[set]" as const } : {}), when: w.when })),
      ...(alerts.email ? { email: alerts.email } : {}),
    },
  };
}
