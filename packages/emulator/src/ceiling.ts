/**
 * The throughput ceiling of the throttle model (throttle.ts): the shortest time in which the budgets
 * allow a given demand, starting from full budgets. Each budget is a token bucket of `capacity` units
 * refilled continuously at capacity / window; a demand of D units on it needs at least
 * max(0, D - capacity) / (capacity / window) seconds (the first `capacity` units are there at once,
 * the rest come at the refill rate). The budgets are independent, so the ceiling is the largest of
 * these times over every budget the demand draws on. Request latency is not part of it.
 */
import { isListRoute, parseGraphPath, splitPathAndQuery } from "./graph-path.js";
import type { ThrottleLimits } from "./options.js";
import { appTenantRuBudget } from "./throttle.js";
import { queryOptions, requestCost } from "./users-query.js";

/**
 * What one Graph request costs under the emulator's cost table (users-query.ts): `pathAndQuery` after
 * the version, e.g. `/users?$select=id&$top=999` (2 RU - 1 for $select) or
 * `/users/{id}/authentication/requirements` (1 RU; PATCH: 1 RU + 1 write); other collections
 * (`/groups/{id}/members`, `/roleManagement/directory/roleAssignments`, ...) cost 2 like `/users`.
 */
export function requestCostOf(method: string, pathAndQuery: string): { ru: number; writes: number } {
  const { path, search } = splitPathAndQuery(pathAndQuery);
  return requestCost(method.toUpperCase(), isListRoute(parseGraphPath(path, "beta")), queryOptions(search));
}

/** The resource units and writes of `count` requests of each kind. */
export function requestDemand(requests: readonly { method: string; pathAndQuery: string; count: number }[]): { ru: number; writes: number } {
  let ru = 0;
  let writes = 0;
  for (const r of requests) {
    const cost = requestCostOf(r.method, r.pathAndQuery);
    ru += cost.ru * r.count;
    writes += cost.writes * r.count;
  }
  return { ru, writes };
}

/** What a run asks of one tenant: its size (which sets its resource-unit budget), resource units, writes. */
export interface TenantDemand {
  tenant: string;
  users: number;
  ru: number;
  writes: number;
}

export interface BudgetTime {
  /** e.g. "app+tenant resource units (contoso)". */
  budget: string;
  capacity: number;
  windowSeconds: number;
  demand: number;
  /** max(0, demand - capacity) / (capacity / windowSeconds). */
  seconds: number;
}

export interface Ceiling {
  seconds: number;
  /** The budget that takes longest (the binding one); undefined when every demand fits its budget. */
  binding: BudgetTime | undefined;
  /** Every budget drawn on, longest first. */
  budgets: BudgetTime[];
}

export function budgetSeconds(demand: number, capacity: number, windowSeconds: number): number {
  return Math.max(0, demand - capacity) / (capacity / windowSeconds);
}

export function ceiling(limits: ThrottleLimits, tenants: readonly TenantDemand[]): Ceiling {
  const budgets: BudgetTime[] = [];
  const add = (budget: string, capacity: number, windowSeconds: number, demand: number) => {
    if (demand > 0) budgets.push({ budget, capacity, windowSeconds, demand, seconds: budgetSeconds(demand, capacity, windowSeconds) });
  };
  for (const t of tenants) {
    add(`app+tenant resource units (${t.tenant})`, appTenantRuBudget(limits, t.users), limits.appTenantRuWindowSeconds, t.ru);
    add(`app+tenant writes (${t.tenant})`, limits.appTenantWrites, limits.appTenantWritesWindowSeconds, t.writes);
    add(`tenant writes, all apps (${t.tenant})`, limits.tenantWrites, limits.tenantWritesWindowSeconds, t.writes);
  }
  add("app resource units, all tenants", limits.appRu, limits.appRuWindowSeconds, tenants.reduce((n, t) => n + t.ru, 0));
  add("app writes, all tenants", limits.appWrites, limits.appWritesWindowSeconds, tenants.reduce((n, t) => n + t.writes, 0));
  budgets.sort((a, b) => b.seconds - a.seconds);
  const top = budgets[0];
  return { seconds: top?.seconds ?? 0, binding: top !== undefined && top.seconds > 0 ? top : undefined, budgets };
}
