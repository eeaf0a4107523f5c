/**
 * The Graph calls the emulated CIPP makes in a customer tenant. They go through the same faults, throttling and
 * resource handlers as the emulator's own Graph (one directory, one set of budgets), under CIPP's app id.
 */
import { randomUUID } from "node:crypto";
import { MAIN_APP_ROLES } from "./apps.js";
import type { Endpoints } from "./endpoints.js";
import type { FaultInjector } from "./faults.js";
import { codeForStatus, graphError, type ErrorIds } from "./graph-errors.js";
import { isListRoute, parseGraphPath, specialLimitOf, splitPathAndQuery } from "./graph-path.js";
import { GraphRoutes } from "./graph-routes.js";
import type { GraphCall, GraphResult, GraphVersion } from "./graph-types.js";
import { delay } from "./http.js";
import type { Tenant } from "./model.js";
import type { EmulatorState } from "./state.js";
import type { Throttler } from "./throttle.js";
import { queryOptions, requestCost } from "./users-query.js";

/** What CIPP's app is consented with in its customers' tenants (through GDAP); enough for per-user MFA. */
const CIPP_GRAPH_ROLES: readonly string[] = [...MAIN_APP_ROLES, "User.ReadWrite.All"];

export class CippGraph {
  private readonly routes: GraphRoutes;

  constructor(
    private readonly state: EmulatorState,
    private readonly endpoints: Endpoints,
    private readonly throttler: Throttler,
    private readonly faults: FaultInjector,
    private readonly appId: () => string,
  ) {
    this.routes = new GraphRoutes(state);
  }

  /**
   * One Graph request as CIPP sends it. CIPP writes through `$batch`, so a dropped connection there is a 503 item;
   * every failure comes back as a Graph error result for CIPP's code to (mis)report.
   */
  async call(tenant: Tenant, method: "GET" | "PATCH", version: GraphVersion, pathAndQuery: string, body?: unknown): Promise<GraphResult> {
    const requestId = randomUUID();
    const ids: ErrorIds = { requestId, clientRequestId: requestId, nowMs: this.state.clock.now() };
    this.state.stats.requests++;
    const call: GraphCall = {
      method,
      version,
      pathAndQuery,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      bodyText: body === undefined ? undefined : JSON.stringify(body),
      ...(body === undefined ? {} : { bodyJson: body }),
      caller: { appId: this.appId(), tenant, roles: CIPP_GRAPH_ROLES },
      graphBase: this.endpoints.graphUrl,
      requestId,
      clientRequestId: requestId,
    };
    const { path, search } = splitPathAndQuery(pathAndQuery);
    const options = queryOptions(search);
    const route = parseGraphPath(path, version);
    const cost = requestCost(method, isListRoute(route), options);

    const fault = this.faults.decide(method, `/${version}${pathAndQuery}`, tenant);
    if (fault) {
      this.state.stats.faultsInjected++;
      if (fault.kind === "slow") await delay(fault.delayMs);
      else {
        const status = fault.kind === "reset" ? 503 : fault.status;
        const { code, message } = codeForStatus(status);
        return graphError(status, code, message, ids);
      }
    }
    const decision = this.throttler.take(call.caller.appId, tenant.id, tenant.users.length, cost, specialLimitOf(route));
    if (!decision.ok) {
      const stats = this.state.stats;
      stats.throttled[decision.scope] = (stats.throttled[decision.scope] ?? 0) + 1;
      stats.throttledTotal++;
      return graphError(429, "TooManyRequests", `Your request is throttled temporarily. Please try after ${decision.retryAfterSeconds} seconds.`, ids, {
        "retry-after": String(decision.retryAfterSeconds),
      });
    }
    return this.routes.handle(call, route, options);
  }

  /** Every item of a collection, following `@odata.nextLink` (each page is a request of its own). */
  async list(tenant: Tenant, version: GraphVersion, pathAndQuery: string): Promise<{ ok: true; items: Record<string, unknown>[] } | { ok: false; result: GraphResult }> {
    const items: Record<string, unknown>[] = [];
    let next: string | undefined = pathAndQuery;
    const base = `${this.endpoints.graphUrl}/${version}`;
    while (next !== undefined) {
      const result = await this.call(tenant, "GET", version, next);
      if (result.status !== 200) return { ok: false, result };
      const page = result.body as { value?: Record<string, unknown>[]; "@odata.nextLink"?: string };
      items.push(...(page.value ?? []));
      const link = page["@odata.nextLink"];
      next = typeof link === "string" && link.startsWith(base) ? link.slice(base.length) : undefined;
    }
    return { ok: true, items };
  }
}

/** Graph's error message of a failed result, on one line. */
export function graphMessage(result: GraphResult): string {
  const error = (result.body as { error?: { message?: unknown } } | undefined)?.error;
  return typeof error?.message === "string" ? error.message : `HTTP ${result.status}`;
}
