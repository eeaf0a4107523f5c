/** Identity-and-access throttling: token buckets of resource units and writes, refilled continuously. */
import type { EmulatorClock, RuntimeConfig, ThrottleLimits } from "./options.js";

export interface Cost {
  ru: number;
  writes: number;
}

export type ThrottleInformation = "ResourceUnitLimitExceeded" | "WriteLimitExceeded" | "RequestLimitExceeded";

/** Endpoints with a request limit of their own, on top of the identity budgets. */
export type SpecialLimit = "reports" | "conditionalAccess";

export type ThrottleDecision =
  | { ok: true; /** Highest share of any budget used, when over 0.8. */ limitPercentage?: number }
  | {
      ok: false; scope: string; information: ThrottleInformation; retryAfterSeconds: number; limitPercentage: number;
      /** Conditional Access throttling sends no Retry-After. */
      noRetryAfter?: true;
    };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

interface Need {
  key: string;
  scope: string;
  information: ThrottleInformation;
  capacity: number;
  windowMs: number;
  amount: number;
  noRetryAfter?: true;
}

/** The app + tenant resource-unit budget depends on the tenant's size. */
export function appTenantRuBudget(limits: ThrottleLimits, tenantUsers: number): number {
  if (tenantUsers < 50) return limits.appTenantRuSmall;
  if (tenantUsers <= 500) return limits.appTenantRuMedium;
  return limits.appTenantRuLarge;
}

export class Throttler {
  private buckets = new Map<string, Bucket>();

  constructor(
    private readonly clock: EmulatorClock,
    private readonly config: RuntimeConfig,
  ) {}

  reset(): void {
    this.buckets.clear();
  }

  /** Takes `cost` from every budget it draws on, or from none when any lacks (a rejected request costs nothing). */
  take(appId: string, tenantId: string, tenantUsers: number, cost: Cost, special?: SpecialLimit): ThrottleDecision {
    if (this.config.throttle === "off") return { ok: true };
    const l = this.config.throttleLimits;
    const scope = (s: string, limit: string) => `${s}/${limit}/${appId}/${tenantId}`;
    const needs: Need[] = [
      { key: `ta-ru/${appId}/${tenantId}`, scope: scope("Tenant_Application", "ReadWrite"), information: "ResourceUnitLimitExceeded", capacity: appTenantRuBudget(l, tenantUsers), windowMs: l.appTenantRuWindowSeconds * 1000, amount: cost.ru },
      { key: `a-ru/${appId}`, scope: scope("Application", "ReadWrite"), information: "ResourceUnitLimitExceeded", capacity: l.appRu, windowMs: l.appRuWindowSeconds * 1000, amount: cost.ru },
    ];
    if (cost.writes > 0)
      needs.push(
        { key: `ta-w/${appId}/${tenantId}`, scope: scope("Tenant_Application", "Write"), information: "WriteLimitExceeded", capacity: l.appTenantWrites, windowMs: l.appTenantWritesWindowSeconds * 1000, amount: cost.writes },
        { key: `a-w/${appId}`, scope: scope("Application", "Write"), information: "WriteLimitExceeded", capacity: l.appWrites, windowMs: l.appWritesWindowSeconds * 1000, amount: cost.writes },
        { key: `t-w/${tenantId}`, scope: scope("Tenant", "Write"), information: "WriteLimitExceeded", capacity: l.tenantWrites, windowMs: l.tenantWritesWindowSeconds * 1000, amount: cost.writes },
      );
    // Checked first: when the request limit is hit, the identity budgets are left alone.
    if (special === "reports")
      needs.unshift({ key: `ta-rep/${appId}/${tenantId}`, scope: scope("Tenant_Application", "Reports"), information: "RequestLimitExceeded", capacity: l.reportsRequests, windowMs: l.reportsWindowSeconds * 1000, amount: 1 });
    else if (special === "conditionalAccess")
      needs.unshift({ key: `t-ca/${tenantId}`, scope: scope("Tenant", "ConditionalAccess"), information: "RequestLimitExceeded", capacity: l.conditionalAccessRequests, windowMs: l.conditionalAccessWindowSeconds * 1000, amount: 1, noRetryAfter: true });
    const now = this.clock.now();
    let worst: { need: Need; waitMs: number } | undefined;
    let maxUsed = 0;
    for (const need of needs) {
      const bucket = this.refill(need, now);
      if (bucket.tokens < need.amount) {
        // Time until the bucket holds enough again (capped: a cost above the budget never fits).
        const deficit = Math.min(need.amount, need.capacity) - bucket.tokens;
        const waitMs = (deficit / need.capacity) * need.windowMs;
        if (!worst || waitMs > worst.waitMs) worst = { need, waitMs };
        maxUsed = Math.max(maxUsed, (need.capacity - bucket.tokens + need.amount) / need.capacity);
      }
    }
    if (worst) {
      const denied: ThrottleDecision = {
        ok: false,
        scope: worst.need.scope,
        information: worst.need.information,
        retryAfterSeconds: Math.max(1, Math.ceil(worst.waitMs / 1000)),
        limitPercentage: Math.min(1.8, maxUsed),
      };
      if (worst.need.noRetryAfter) denied.noRetryAfter = true;
      return denied;
    }
    for (const need of needs) {
      const bucket = this.buckets.get(need.key) as Bucket;
      bucket.tokens -= need.amount;
      // x-ms-throttle-limit-percentage speaks of the resource-unit and write budgets only.
      if (need.information !== "RequestLimitExceeded") maxUsed = Math.max(maxUsed, 1 - bucket.tokens / need.capacity);
    }
    return maxUsed > 0.8 ? { ok: true, limitPercentage: Math.min(1.8, maxUsed) } : { ok: true };
  }

  private refill(need: Need, now: number): Bucket {
    let bucket = this.buckets.get(need.key);
    if (!bucket) {
      bucket = { tokens: need.capacity, updatedAt: now };
      this.buckets.set(need.key, bucket);
      return bucket;
    }
    const elapsed = Math.max(0, now - bucket.updatedAt);
    // Limits may change at run time (PATCH /config, tenant growth): clamp to the current capacity.
    bucket.tokens = Math.min(need.capacity, bucket.tokens + (elapsed / need.windowMs) * need.capacity);
    bucket.updatedAt = now;
    return bucket;
  }
}
