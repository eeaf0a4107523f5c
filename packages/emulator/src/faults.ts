/** Injected failures: scripted rules for deterministic tests, and random ones at a seeded rate. */
import type { Tenant } from "./model.js";
import { InvalidOptionError, type RuntimeConfig } from "./options.js";
import { createPrng, type Prng } from "./prng.js";

export interface FaultRule {
  /** Match only this HTTP method (case-insensitive). */
  method?: string;
  /** Match when the path after /graph (e.g. "/beta/users/x/authentication/requirements"), raw or decoded, contains this. */
  pathIncludes?: string;
  /** Match only this tenant (id or domain). */
  tenant?: string;
  /** Status for action "status" (default 503). */
  status?: number;
  /** Retry-After header on the faulted response. */
  retryAfterSeconds?: number;
  /** "status" (default): answer with `status`; "reset": drop the connection; "slow": delay, then serve normally. */
  action?: "status" | "reset" | "slow";
  /** Delay for "slow" (default: the configured slow response time). */
  delayMs?: number;
  /** How many matching requests the rule applies to. */
  count: number;
}

export type FaultDecision =
  | { kind: "status"; status: number; retryAfterSeconds?: number }
  | { kind: "reset" }
  | { kind: "slow"; delayMs: number };

interface ActiveRule {
  rule: FaultRule;
  remaining: number;
}

export function validateFaultRule(r: unknown): FaultRule {
  if (typeof r !== "object" || r === null) throw new InvalidOptionError("a fault rule must be an object");
  const rule = r as Record<string, unknown>;
  const isInt = (v: unknown) => typeof v === "number" && Number.isInteger(v);
  if (!isInt(rule["count"]) || (rule["count"] as number) < 1) throw new InvalidOptionError("fault rule count must be an integer >= 1");
  if (rule["action"] !== undefined && !["status", "reset", "slow"].includes(rule["action"] as string))
    throw new InvalidOptionError(`fault rule action must be "status", "reset" or "slow", got ${String(rule["action"])}`);
  if (rule["status"] !== undefined && (!isInt(rule["status"]) || (rule["status"] as number) < 400 || (rule["status"] as number) > 599))
    throw new InvalidOptionError(`fault rule status must be an integer from 400 to 599, got ${String(rule["status"])}`);
  for (const k of ["retryAfterSeconds", "delayMs"])
    if (rule[k] !== undefined && (typeof rule[k] !== "number" || (rule[k] as number) < 0)) throw new InvalidOptionError(`fault rule ${k} must be a number >= 0`);
  for (const k of ["method", "pathIncludes", "tenant"])
    if (rule[k] !== undefined && typeof rule[k] !== "string") throw new InvalidOptionError(`fault rule ${k} must be a string`);
  return rule as unknown as FaultRule;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export class FaultInjector {
  private rules: ActiveRule[] = [];
  private prng: Prng;

  constructor(
    private readonly config: RuntimeConfig,
    seed: string,
  ) {
    this.prng = createPrng(`${seed}/faults`);
  }

  add(rules: readonly FaultRule[]): void {
    const valid = rules.map(validateFaultRule);
    for (const rule of valid) this.rules.push({ rule: { ...rule }, remaining: rule.count });
  }

  clear(): void {
    this.rules = [];
  }

  /** Rules gone, random stream restarted: the same run of requests gets the same faults again. */
  reset(seed: string): void {
    this.rules = [];
    this.prng = createPrng(`${seed}/faults`);
  }

  pending(): FaultRule[] {
    return this.rules.map((a) => ({ ...a.rule, count: a.remaining }));
  }

  /** The fault for this request, if any: the first matching scripted rule, else a random draw. */
  decide(method: string, path: string, tenant: Tenant | undefined): FaultDecision | undefined {
    const decoded = safeDecode(path);
    const active = this.rules.find(({ rule }) => {
      if (rule.method !== undefined && rule.method.toUpperCase() !== method.toUpperCase()) return false;
      if (rule.pathIncludes !== undefined && !path.includes(rule.pathIncludes) && !decoded.includes(rule.pathIncludes)) return false;
      if (rule.tenant !== undefined) {
        const t = rule.tenant.toLowerCase();
        if (!tenant || (tenant.id.toLowerCase() !== t && tenant.domain.toLowerCase() !== t)) return false;
      }
      return true;
    });
    if (active) {
      active.remaining--;
      if (active.remaining <= 0) this.rules.splice(this.rules.indexOf(active), 1);
      const { rule } = active;
      if (rule.action === "reset") return { kind: "reset" };
      if (rule.action === "slow") return { kind: "slow", delayMs: rule.delayMs ?? this.config.slowResponseMs };
      const decision: FaultDecision = { kind: "status", status: rule.status ?? 503 };
      if (rule.retryAfterSeconds !== undefined) decision.retryAfterSeconds = rule.retryAfterSeconds;
      return decision;
    }
    if (this.config.faultRate <= 0 || this.prng.next() >= this.config.faultRate) return undefined;
    switch (this.prng.pick(this.config.faultKinds)) {
      case "429":
        return { kind: "status", status: 429, retryAfterSeconds: 1 };
      case "503":
        return { kind: "status", status: 503 };
      case "504":
        return { kind: "status", status: 504 };
      case "reset":
        return { kind: "reset" };
      case "slow":
        return { kind: "slow", delayMs: this.config.slowResponseMs };
    }
  }
}
