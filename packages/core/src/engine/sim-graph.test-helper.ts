/**
 * A simulated Graph for pacing tests: the emulator's own throttle model (token buckets of resource
 * units and writes per app + tenant, per app, per tenant; packages/emulator/src/throttle.ts, imported
 * by a computed path so core's project does not take in the emulator's files) driven by a SimClock,
 * answering `$batch` and direct requests with Graph's headers. Per-user MFA state is kept so results
 * can be checked.
 */
import { GraphError } from "../domain/errors.js";
import type { GraphClient, GraphRequest, GraphResponse } from "../transport/types.js";
import { estimateCost } from "./graph-costs.js";
import type { SimClock } from "./sim-clock.test-helper.js";

/** The emulator's ThrottleLimits (same names). */
export interface SimLimits {
  appTenantRuSmall: number;
  appTenantRuMedium: number;
  appTenantRuLarge: number;
  appTenantRuWindowSeconds: number;
  appTenantWrites: number;
  appTenantWritesWindowSeconds: number;
  appRu: number;
  appRuWindowSeconds: number;
  appWrites: number;
  appWritesWindowSeconds: number;
  tenantWrites: number;
  tenantWritesWindowSeconds: number;
}

type Decision =
  | { ok: true; limitPercentage?: number }
  | { ok: false; scope: string; information: string; retryAfterSeconds: number; limitPercentage: number };

interface Throttler {
  take(appId: string, tenantId: string, tenantUsers: number, cost: { ru: number; writes: number }): Decision;
}

interface ThrottleModule {
  Throttler: new (clock: { now(): number }, config: { throttle: "realistic" | "off"; throttleLimits: SimLimits }) => Throttler;
  appTenantRuBudget(limits: SimLimits, tenantUsers: number): number;
}
interface OptionsModule {
  DEFAULT_THROTTLE_LIMITS: SimLimits;
}

const THROTTLE_MODULE = "../../../emulator/src/throttle.js";
const OPTIONS_MODULE = "../../../emulator/src/options.js";

export async function loadThrottleModel(): Promise<ThrottleModule & OptionsModule> {
  const throttle = (await import(/* @vite-ignore */ THROTTLE_MODULE)) as ThrottleModule;
  const options = (await import(/* @vite-ignore */ OPTIONS_MODULE)) as OptionsModule;
  return { ...throttle, ...options };
}

export interface SimGraphOptions {
  clock: SimClock;
  limits: SimLimits;
  model: ThrottleModule;
  /** Users per tenant (sizes the resource-unit budget). */
  usersOf: (tenant: string) => number;
  /** Round trip added to each call (half before charging, half after). */
  latencyMs?: number;
  /** Per sub-request: answer this status instead (faults), before throttling. */
  fault?: (tenant: string, method: string, url: string) => { status: number; retryAfter?: number } | undefined;
  /** Tenants whose token fails. */
  failing?: Map<string, Error>;
  /** Leave these sub-request urls out of the batch answer (once each). */
  drop?: Set<string>;
}

export interface SimGraphStats {
  batches: number;
  subRequests: number;
  throttled: number;
  throttledByScope: Record<string, number>;
  direct: number;
  /** Time (sim ms since start) and outcome of each executed or throttled sub-request. */
  timeline: { at: number; tenant: string; write: boolean; throttled: boolean; url: string; u?: number }[];
  maxBatch: number;
  mixedVersions: number;
}

export interface SimGraph {
  client: GraphClient;
  stats: SimGraphStats;
  /** tenant -> user -> state */
  states: Map<string, Map<string, string>>;
}

export function createSimGraph(options: SimGraphOptions): SimGraph {
  const { clock, limits, model } = options;
  const throttler = new model.Throttler(clock, { throttle: "realistic", throttleLimits: limits });
  const latency = options.latencyMs ?? 50;
  const stats: SimGraphStats = { batches: 0, subRequests: 0, throttled: 0, throttledByScope: {}, direct: 0, timeline: [], maxBatch: 0, mixedVersions: 0 };
  const states = new Map<string, Map<string, string>>();
  const start = clock.now();

  const execute = (tenant: string, method: string, url: string, body: unknown): { status: number; headers: Record<string, string>; body?: unknown } => {
    const fault = options.fault?.(tenant, method, url);
    if (fault) {
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) headers["Retry-After"] = String(fault.retryAfter);
      return { status: fault.status, headers, body: { error: { code: "Fault", message: `fault ${fault.status}` } } };
    }
    const cost = estimateCost(method as "GET", url);
    stats.subRequests++;
    const decision = throttler.take("app", tenant, options.usersOf(tenant), cost);
    stats.timeline.push({ at: clock.now() - start, tenant, write: cost.writes > 0, throttled: !decision.ok, url, ...(decision.limitPercentage !== undefined ? { u: decision.limitPercentage } : {}) });
    if (!decision.ok) {
      stats.throttled++;
      const key = decision.scope.split("/").slice(0, 2).join("/");
      stats.throttledByScope[key] = (stats.throttledByScope[key] ?? 0) + 1;
      return {
        status: 429,
        headers: {
          "Retry-After": String(decision.retryAfterSeconds),
          "x-ms-throttle-scope": decision.scope,
          "x-ms-throttle-information": decision.information,
          "x-ms-throttle-limit-percentage": decision.limitPercentage.toFixed(2),
          "x-ms-resource-unit": String(cost.ru),
        },
        body: { error: { code: "TooManyRequests", message: "throttled" } },
      };
    }
    const headers: Record<string, string> = { "x-ms-resource-unit": String(cost.ru) };
    if (decision.limitPercentage !== undefined) headers["x-ms-throttle-limit-percentage"] = decision.limitPercentage.toFixed(2);
    const users = states.get(tenant) ?? new Map<string, string>();
    states.set(tenant, users);
    const m = /^\/users\/([^/?]+)\/authentication\/requirements/.exec(url);
    if (m && method === "PATCH") {
      users.set(m[1]!, (body as { perUserMfaState: string }).perUserMfaState);
      return { status: 204, headers };
    }
    if (m) return { status: 200, headers, body: { perUserMfaState: users.get(m[1]!) ?? "disabled" } };
    const u = /^\/users\/([^/?]+)/.exec(url);
    if (u) return { status: 200, headers, body: { id: decodeURIComponent(u[1]!), userPrincipalName: decodeURIComponent(u[1]!) } };
    return { status: 200, headers, body: { value: [] } };
  };

  const client: GraphClient = {
    async request<T>(req: GraphRequest): Promise<GraphResponse<T>> {
      const failure = options.failing?.get(req.tenant);
      if (failure) {
        await clock.sleep(latency);
        throw failure;
      }
      await clock.sleep(latency / 2);
      const batch = /^\/(v1\.0|beta)\/\$batch$/.exec(req.path);
      let result: GraphResponse<T>;
      if (batch) {
        stats.batches++;
        const requests = (req.body as { requests: { id: string; method: string; url: string; body?: unknown }[] }).requests;
        stats.maxBatch = Math.max(stats.maxBatch, requests.length);
        if (new Set(requests.map((r) => r.id)).size !== requests.length) throw new Error("duplicate ids in a batch");
        const responses: { id: string; status: number; headers: Record<string, string>; body?: unknown }[] = [];
        for (const r of requests) {
          if (/^\/?(v1\.0|beta)\//.test(r.url)) stats.mixedVersions++;
          if (options.drop?.delete(r.url)) continue;
          responses.push({ id: r.id, ...execute(req.tenant, r.method, r.url, r.body) });
        }
        responses.reverse();
        result = { status: 200, headers: new Headers({ "request-id": `batch-${stats.batches}` }), body: { responses } as T, requestId: `batch-${stats.batches}`, attempts: 1 };
      } else {
        stats.direct++;
        const url = req.path.replace(/^\/(v1\.0|beta)/, "");
        const query = req.query ? `?${new URLSearchParams(req.query).toString()}` : "";
        const answer = execute(req.tenant, req.method, `${url}${query}`, req.body);
        if (answer.status >= 400) {
          await clock.sleep(latency / 2);
          throw new GraphError(`Graph answered ${answer.status}`, { status: answer.status, code: "Fault", tenant: req.tenant, attempts: 1 });
        }
        result = { status: answer.status, headers: new Headers(answer.headers), body: answer.body as T, requestId: "direct", attempts: 1 };
      }
      await clock.sleep(latency / 2);
      return result;
    },
    close: () => Promise.resolve(),
  };
  return { client, stats, states };
}

/**
 * The shortest time the budgets allow for `demand` units drawn from each budget, starting full:
 * max over budgets of (demand - capacity) / refill per second (0 when the demand fits).
 */
export function ceilingSeconds(budgets: { demand: number; capacity: number; windowSeconds: number }[]): number {
  let worst = 0;
  for (const b of budgets) worst = Math.max(worst, Math.max(0, b.demand - b.capacity) / (b.capacity / b.windowSeconds));
  return worst;
}
