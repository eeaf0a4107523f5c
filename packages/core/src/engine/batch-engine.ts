import { AuthError, GraphError, NetworkError, UsageError } from "../domain/errors.js";
import { systemClock, type Clock } from "../transport/clock.js";
import { backoffDelay, parseRetryAfter } from "../transport/retry.js";
import type { GraphClient } from "../transport/types.js";
import { Budget, type BudgetReading } from "./budget.js";
import { estimateCost, headerOf, limitPercentage, relativeUrlProblem, resourceUnits, throttledBudget, type ThrottledBudget } from "./graph-costs.js";
import {
  DEFAULT_BUDGET_HINTS,
  DEFAULT_SUB_REQUEST_RETRY,
  type BatchEngine,
  type BatchEngineOptions,
  type BudgetHints,
  type DirectEngineRequest,
  type EngineEvent,
  type EngineRequest,
  type EngineResponse,
  type EngineStats,
  type EngineTenantStats,
  type SubRequestRetryPolicy,
} from "./types.js";

/** Graph's limit of requests in one `$batch`. */
export const MAX_BATCH_SIZE = 20;

const RETRYABLE = new Set([429, 503, 504]);
/** How far into a tenant's queue a batch looks for sub-requests it may take (other version, writes held back). */
const SCAN_LIMIT = 400;
/** Readings of other tenants younger than this count when deciding whether an app-wide budget is the one near its limit. */
const CONSENSUS_MS = 300;
/** After a 429 naming an app-wide budget, readings of that dimension are taken as the app's for this long. */
const APP_THROTTLE_MEMORY_MS = 10_000;

interface Item {
  seq: number;
  req: DirectEngineRequest;
  direct: boolean;
  isWrite: boolean;
  ru: number;
  attempts: number;
  submittedAt: number;
  readyAt: number;
  settled: boolean;
  resolve: (res: EngineResponse) => void;
  reject: (error: unknown) => void;
}

interface TenantState {
  name: string;
  /** Reads and writes wait apart: reads never queue behind writes held back by the write budget. */
  readQ: Item[];
  writeQ: Item[];
  directs: Item[];
  delayed: Item[];
  inFlight: number;
  ru: Budget;
  writes: Budget;
  failure: { error: unknown; until: number } | undefined;
  subRequests: number;
  throttled: number;
  lastRate: { ru: number; writes: number; at: number };
  /** In the round-robin ring. */
  inRing: boolean;
}

interface Marks {
  tenantRu: number;
  tenantWrites: number;
  appRu: number;
  appWrites: number;
  appRequests: number;
}

interface Observation {
  at: number;
  u: number | undefined;
  /** The app budget's mark of the batch: later-sent batches have higher marks. */
  mark: number;
  /** The tenant's own picture did not put it near its limit: the reading may be the app's. */
  unexplained: boolean;
}

/** Sub-response of a `$batch` answer. */
interface SubResponse {
  id: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

function lowerCaseHeaders(headers: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof headers !== "object" || headers === null) return out;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (typeof v === "string" || typeof v === "number") out[k.toLowerCase()] = String(v);
  }
  return out;
}

function parseEnvelope(body: unknown): Map<string, SubResponse> | undefined {
  const list = typeof body === "object" && body !== null ? (body as { responses?: unknown }).responses : undefined;
  if (!Array.isArray(list)) return undefined;
  const out = new Map<string, SubResponse>();
  for (const entry of list as unknown[]) {
    if (typeof entry !== "object" || entry === null) continue;
    const r = entry as { id?: unknown; status?: unknown; headers?: unknown; body?: unknown };
    const id = typeof r.id === "string" || typeof r.id === "number" ? String(r.id) : undefined;
    if (id === undefined || typeof r.status !== "number" || !Number.isInteger(r.status) || out.has(id)) continue;
    out.set(id, { id, status: r.status, headers: lowerCaseHeaders(r.headers), body: r.body });
  }
  return out;
}

function innerRequestId(body: unknown): string | undefined {
  const error = typeof body === "object" && body !== null ? (body as { error?: { innerError?: Record<string, unknown>; innererror?: Record<string, unknown> } }).error : undefined;
  const inner = error?.innerError ?? error?.innererror;
  const id = inner?.["request-id"] ?? inner?.["requestId"];
  return typeof id === "string" ? id : undefined;
}

function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

/** A shared budget's bookkeeping: what this instance reported and what the store said last. */
interface SyncState {
  /** The store's key (computed on first use: a failing `key` option is an exchange failure). */
  key: string | undefined;
  budget: Budget;
  tenant: string | undefined;
  /** Work is queued or on the wire that draws on the budget (it may be waiting on it). */
  busy: () => boolean;
  /** Of the budget's own spending (`spent`), what the store has been told. */
  reported: number;
  /** Every instance's total, as of the last exchange; undefined before the first. */
  total: number | undefined;
  exchangedAt: number;
  lastUseAt: number;
  pending: boolean;
  failing: boolean;
}

/** The app registration's id, when the client says (createGraphClient's does not: pass `sharedBudgets.app`). */
function clientIdOf(client: GraphClient): string | undefined {
  const id = (client as { clientId?: unknown }).clientId;
  return typeof id === "string" && id !== "" ? id : undefined;
}

function positive(value: number | undefined, fallback: number): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

/**
 * The throttle-aware batch engine (see `BatchEngine`). Per tenant: a FIFO queue of sub-requests,
 * packed into `POST /{version}/$batch` calls of up to 20 through `client.request` (auth, token
 * renewal and the envelope's own retries stay the transport's), paced by the tenant's resource-unit
 * and write budgets and the app-wide ones (`Budget`: learned from `x-ms-resource-unit`,
 * `x-ms-throttle-limit-percentage` and 429s). Every sub-response is checked: 2xx and 4xx other than
 * 429 are final; 429/503/504 and sub-requests missing from the answer go again after their own
 * Retry-After (else jittered exponential backoff) until the retry policy runs out, and are then
 * returned as they are. A tenant whose token or network fails has its queue rejected at once; the
 * other tenants go on.
 */
export function createBatchEngine(client: GraphClient, options: BatchEngineOptions = {}): BatchEngine {
  const clock: Clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const onEvent = options.onEvent;
  const maxBatch = Math.min(MAX_BATCH_SIZE, Math.max(1, Math.floor(positive(options.maxBatchSize, MAX_BATCH_SIZE))));
  const perTenantInFlight = Math.max(1, Math.floor(positive(options.perTenantInFlight, 8)));
  const maxInFlight = Math.max(1, Math.floor(positive(options.maxInFlight, 64)));
  const target = Math.min(0.98, Math.max(0.5, positive(options.targetUtilisation, 0.9)));
  const holdMs = positive(options.networkFailureHoldMs, 60_000);
  const policy: SubRequestRetryPolicy = { ...DEFAULT_SUB_REQUEST_RETRY };
  for (const key of Object.keys(DEFAULT_SUB_REQUEST_RETRY) as (keyof SubRequestRetryPolicy)[]) {
    const value = options.retry?.[key];
    if (value !== undefined && Number.isFinite(value) && value >= 0) policy[key] = value;
  }
  policy.maxAttempts = Math.max(1, Math.floor(policy.maxAttempts));
  const hints: BudgetHints = { ...DEFAULT_BUDGET_HINTS, ...(options.budgets ?? {}) };
  const budget = (name: string, hint: { capacity: number; windowSeconds: number }, batches = 3, shared = options.sharedBudgets !== undefined) =>
    new Budget({ name, capacity: hint.capacity, windowMs: hint.windowSeconds * 1000, target, batchUnits: maxBatch, initialWindow: batches * maxBatch, shared }, clock.now());

  // Slow start: every budget begins with 3 batches' worth in flight, so that a scaled-down budget is
  // found before it is overrun; the app's resource-unit budget, the largest there is (150 000 RU per
  // 20 s, 40 times a tenant's), begins with a quarter of the batches allowed on the wire.
  const app = {
    ru: budget("app resource units", hints.appRu, Math.max(3, Math.ceil(maxInFlight / 4))),
    writes: budget("app writes", hints.appWrites),
    // Not shared (see takeBudgets).
    requests: budget("app requests", hints.appRequests, Math.max(3, Math.ceil(maxInFlight / 4)), false),
  };
  const tenants = new Map<string, TenantState>();
  /** Tenants with queued work, served round-robin. */
  let ring: TenantState[] = [];
  let ringStart = 0;
  const recent = { ru: new Map<string, Observation>(), writes: new Map<string, Observation>() };
  /** When Graph last answered 429 for the app-wide budget of each dimension. */
  const appThrottledAt = { ru: Number.NEGATIVE_INFINITY, writes: Number.NEGATIVE_INFINITY };

  let seq = 0;
  let inFlight = 0;
  let closing = false;
  let pumpQueued = false;
  let wake: { at: number; controller: AbortController } | undefined;
  let idleWaiters: (() => void)[] = [];
  const counters = { batches: 0, subRequests: 0, throttled: 0, retries: 0, directRequests: 0, transient: 0, completed: 0, failed: 0, rejected: 0 };

  const emit = (event: EngineEvent) => {
    try {
      onEvent?.(event);
    } catch {
      // A listener's failure is not the engine's.
    }
  };

  const tenantOf = (name: string): TenantState => {
    let t = tenants.get(name);
    if (!t) {
      t = {
        name,
        readQ: [],
        writeQ: [],
        directs: [],
        delayed: [],
        inFlight: 0,
        ru: budget(`resource units of ${name}`, hints.tenantRu),
        writes: budget(`writes of ${name}`, hints.tenantWrites),
        failure: undefined,
        subRequests: 0,
        throttled: 0,
        lastRate: { ru: 0, writes: 0, at: Number.NEGATIVE_INFINITY },
        inRing: false,
      };
      tenants.set(name, t);
    }
    return t;
  };

  const hasWork = (t: TenantState) => t.readQ.length > 0 || t.writeQ.length > 0 || t.directs.length > 0 || t.delayed.length > 0;

  const activate = (t: TenantState) => {
    if (t.inRing) return;
    t.inRing = true;
    ring.push(t);
  };

  // ----- Shared budgets: what other instances of the app take from the same buckets -----

  const sharing = options.sharedBudgets;
  const syncMs = positive(sharing?.syncMs, 200);
  /** A budget neither in use nor waited on for this long is no longer exchanged. */
  const syncIdleMs = Math.max(2_000, 5 * syncMs);
  /**
   * The others' units learned after a gap this long (idle, or the store failing) are not debited: most
   * of them were taken long enough ago to have refilled, and the readings tell the level anyway.
   */
  const syncStaleMs = Math.max(2_000, 5 * syncMs);
  const appId = sharing?.app ?? clientIdOf(client) ?? "app";
  const keyOf = sharing?.key ?? ((name: string) => `${appId}|${name}`);
  const syncs = new Map<Budget, SyncState>();
  let syncLoop: AbortController | undefined;
  let syncClosed = false;

  /** One exchange with the store for `s`; never rejects (a failure is an event, and the next tick tries again). */
  const exchange = (s: SyncState): Promise<void> => {
    const store = sharing?.store;
    if (!store || s.pending) return Promise.resolve();
    s.pending = true;
    let startedAt = clock.now();
    let taken = 0;
    // After the current pump (every batch it took is told at once).
    return Promise.resolve()
      .then(() => {
        startedAt = clock.now();
        // Told when taken (the others hear of it before Graph answers); a refund (a 429, a fault) is
        // held back from what is told next, as the store's totals only grow.
        taken = Math.max(0, s.budget.spent - s.reported);
        s.reported += taken;
        s.key ??= keyOf(s.budget.name);
        return store.exchange(s.key, taken, s.budget.pausedUntil > startedAt ? s.budget.pausedUntil : 0);
      })
      .then((res) => {
        if (!Number.isFinite(res.totalTaken) || !Number.isFinite(res.pausedUntil)) throw new TypeError(`the store answered ${JSON.stringify(res)}`);
        const now = clock.now();
        // The first exchange (or the first after a long gap) only records where the total stands.
        if (s.total !== undefined && startedAt - s.exchangedAt <= syncStaleMs) {
          const foreign = res.totalTaken - s.total - taken;
          if (foreign >= 0) s.budget.foreign(foreign, now);
          else s.budget.foreignFrom(now);
        } else s.budget.foreignFrom(now, res.totalTaken > s.reported);
        s.total = res.totalTaken;
        s.exchangedAt = now;
        if (res.pausedUntil > s.budget.pausedUntil && res.pausedUntil > now) s.budget.pause(res.pausedUntil);
        // Waits were worked out on the previous picture (the others may have slowed down or stopped).
        if (ring.length > 0) schedulePump();
        if (s.failing) {
          s.failing = false;
          emit({ type: "shared", tenant: s.tenant, budget: s.budget.name, error: undefined });
        }
      })
      .catch((error: unknown) => {
        // Not known to have been added: sent again with the next exchange (counted twice at worst).
        s.reported -= taken;
        if (!s.failing) {
          s.failing = true;
          emit({ type: "shared", tenant: s.tenant, budget: s.budget.name, error: error instanceof Error ? error.message : String(error) });
        }
      })
      .finally(() => {
        s.pending = false;
      });
  };

  /**
   * Exchanges every budget in use (or waited on) every `syncMs` on the engine's clock; stops once
   * none is, so an idle engine keeps no timer.
   */
  const startSyncLoop = () => {
    if (syncLoop || syncClosed) return;
    const controller = new AbortController();
    syncLoop = controller;
    void (async () => {
      try {
        for (;;) {
          await clock.sleep(syncMs, controller.signal);
          const now = clock.now();
          let active = false;
          for (const s of syncs.values()) {
            if (!s.busy() && now - s.lastUseAt >= syncIdleMs) continue;
            active = true;
            void exchange(s);
          }
          if (!active) break;
        }
      } catch {
        // Aborted: the engine closed.
      } finally {
        if (syncLoop === controller) syncLoop = undefined;
      }
    })();
  };

  const syncOf = (b: Budget, tenant: TenantState | undefined, now: number): SyncState => {
    let s = syncs.get(b);
    if (!s) {
      const busy = tenant ? () => hasWork(tenant) || tenant.inFlight > 0 : () => inFlight > 0 || ring.length > 0;
      s = { key: undefined, budget: b, tenant: tenant?.name, busy, reported: 0, total: undefined, exchangedAt: Number.NEGATIVE_INFINITY, lastUseAt: now, pending: false, failing: false };
      syncs.set(b, s);
    }
    return s;
  };

  /**
   * Work for `t` came in: its budgets (and the app's) are exchanged from now on, at once when they have
   * not been lately, so what the others take is known before ours is (writes included, before the
   * first write: an instance joining a bucket the others keep near its limit starts small).
   */
  const shareTenant = (t: TenantState, now: number) => {
    for (const [b, tenant] of [
      [t.ru, t],
      [t.writes, t],
      [app.ru, undefined],
      [app.writes, undefined],
    ] as const) {
      const s = syncOf(b, tenant, now);
      s.lastUseAt = now;
      if (now - s.exchangedAt > syncStaleMs) void exchange(s);
    }
    startSyncLoop();
  };

  /** `b` was just taken from. In slow start the others' batches count against the window: told and heard at once, not on the next tick. */
  const share = (b: Budget, tenant: TenantState | undefined, now: number) => {
    const s = syncOf(b, tenant, now);
    s.lastUseAt = now;
    if (!b.anchored || now - s.exchangedAt > syncStaleMs) void exchange(s);
    startSyncLoop();
  };

  /** On close: tell the store what was taken since the last exchange (waiting a little at most). */
  const stopSharing = async () => {
    syncClosed = true;
    syncLoop?.abort();
    syncLoop = undefined;
    const flushes = [...syncs.values()].filter((s) => s.budget.spent > s.reported).map(exchange);
    if (flushes.length === 0) return;
    const timer = new AbortController();
    await Promise.race([Promise.all(flushes), clock.sleep(Math.max(1_000, 5 * syncMs), timer.signal).catch(() => undefined)]);
    timer.abort();
  };

  const settle = (item: Item, outcome: { response: EngineResponse } | { error: unknown }) => {
    if (item.settled) return;
    item.settled = true;
    counters.completed++;
    if ("response" in outcome) {
      if (outcome.response.status < 200 || outcome.response.status >= 300) counters.failed++;
      item.resolve(outcome.response);
    } else {
      item.reject(outcome.error);
    }
    checkIdle();
  };

  const checkIdle = () => {
    if (idleWaiters.length === 0 || inFlight > 0) return;
    for (const t of tenants.values()) if (hasWork(t) || t.inFlight > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  const schedulePump = () => {
    if (pumpQueued) return;
    pumpQueued = true;
    setImmediate(() => {
      pumpQueued = false;
      pump();
    });
  };

  const scheduleWake = (at: number) => {
    if (!Number.isFinite(at)) return;
    if (wake && wake.at <= at) return;
    wake?.controller.abort();
    const controller = new AbortController();
    wake = { at, controller };
    clock.sleep(Math.max(0, at - clock.now()), controller.signal).then(
      () => {
        if (wake?.controller === controller) wake = undefined;
        pump();
      },
      () => undefined,
    );
  };

  const failTenant = (t: TenantState, error: unknown) => {
    const now = clock.now();
    t.failure = { error, until: error instanceof AuthError ? Number.POSITIVE_INFINITY : now + holdMs };
    const waiting = [...t.readQ, ...t.writeQ, ...t.directs, ...t.delayed];
    t.readQ = [];
    t.writeQ = [];
    t.directs = [];
    t.delayed = [];
    for (const item of waiting) {
      if (item.settled) continue;
      counters.rejected++;
      settle(item, { error });
    }
  };

  /** Schedules another attempt, or settles with the last answer when the policy has run out. */
  const retryLater = (t: TenantState, item: Item, response: EngineResponse, retryAfterMs: number | undefined, now: number) => {
    if (item.settled) return;
    if (item.attempts >= policy.maxAttempts) {
      settle(item, { response });
      return;
    }
    const delay = Math.min(policy.maxDelayMs, retryAfterMs ?? backoffDelay(item.attempts, policy, random));
    if (now + delay - item.submittedAt > policy.deadlineMs) {
      settle(item, { response });
      return;
    }
    if (t.failure) {
      counters.rejected++;
      settle(item, { error: t.failure.error });
      return;
    }
    counters.retries++;
    item.readyAt = now + delay;
    t.delayed.push(item);
    activate(t);
  };

  // ----- Readings: which budget is Graph talking about? -----

  /**
   * A reading of one dimension (resource units or writes) from tenant `t`. The percentage is the
   * highest share of any budget the request drew on: the tenant's own or the app's across tenants.
   * It is the app's when other tenants report the same at the same time and the tenant's own
   * picture does not put it near its limit; otherwise the tenant's.
   */
  const observe = (t: TenantState, dim: "ru" | "writes", u: number | undefined, readings: { tenant: BudgetReading; app: BudgetReading }, now: number): Budget | undefined => {
    const own = dim === "ru" ? t.ru : t.writes;
    const shared = dim === "ru" ? app.ru : app.writes;
    const map = recent[dim];
    if (u === undefined) {
      own.observeUnder(readings.tenant, now);
      shared.observeUnder(readings.app, now);
      map.set(t.name, { at: readings.tenant.at, u: undefined, mark: readings.app.mark, unexplained: false });
      return undefined;
    }
    // Other tenants reporting about the same share at about the same time, which their own budgets do
    // not explain, point at the app's budget; another tenant under 80 % in a batch sent later rules it out.
    let agree = 0;
    let disagree = 0;
    for (const [name, o] of map) {
      if (o.at < readings.tenant.at - 5 * CONSENSUS_MS) {
        map.delete(name);
        continue;
      }
      if (name === t.name || o.at < readings.tenant.at - CONSENSUS_MS) continue;
      if (o.u !== undefined && o.unexplained && Math.abs(o.u - u) <= 0.1) agree++;
      else if (o.u === undefined && o.mark > readings.app.mark) disagree++;
    }
    const ownShare = own.anchored ? 1 - own.available(now) / own.capacity : 0;
    const unexplained = ownShare < 0.6;
    map.set(t.name, { at: readings.tenant.at, u, mark: readings.app.mark, unexplained });
    // Graph named the app's budget in a 429 a moment ago: that is the one near its limit (a tenant
    // at its own limit gets its own 429s, which anchor its own budget).
    const appThrottledRecently = now - appThrottledAt[dim] < APP_THROTTLE_MEMORY_MS;
    if (appThrottledRecently || (agree >= 2 && agree > disagree && unexplained)) {
      shared.observe(u, readings.app, now);
      return shared;
    }
    own.observe(u, readings.tenant, now);
    return own;
  };

  const maybeRateEvent = (t: TenantState, now: number) => {
    const ru = t.ru.ratePerMs * 1000;
    const writes = t.writes.ratePerMs * 1000;
    const last = t.lastRate;
    const changed = Math.abs(ru - last.ru) > 0.1 * Math.max(last.ru, 1e-9) || Math.abs(writes - last.writes) > 0.1 * Math.max(last.writes, 1e-9);
    if (changed && now - last.at >= 1000) {
      t.lastRate = { ru, writes, at: now };
      emit({ type: "rate", tenant: t.name, ruPerSecond: ru, writesPerSecond: writes });
    }
  };

  // ----- Sending -----

  const takeBudgets = (t: TenantState, ru: number, writes: number, requests: number, now: number): Marks => {
    const marks: Marks = {
      tenantRu: t.ru.take(ru, now),
      appRu: app.ru.take(ru, now),
      appRequests: app.requests.take(requests, now),
      tenantWrites: writes > 0 ? t.writes.take(writes, now) : t.writes.spent,
      appWrites: writes > 0 ? app.writes.take(writes, now) : app.writes.spent,
    };
    // Graph's global request limit (130 000 per 10 s per app) is not worth a round trip to the store.
    if (sharing) {
      share(t.ru, t, now);
      share(app.ru, undefined, now);
      if (writes > 0) {
        share(t.writes, t, now);
        share(app.writes, undefined, now);
      }
    }
    return marks;
  };

  const budgetFor = (t: TenantState, which: ThrottledBudget): Budget =>
    which === "tenantRu" ? t.ru : which === "tenantWrites" ? t.writes : which === "appRu" ? app.ru : app.writes;

  const markFor = (marks: Marks, which: ThrottledBudget): number => marks[which];

  interface Answer {
    status: number;
    headers: Record<string, string>;
    body: unknown;
    requestId: string | undefined;
  }

  /**
   * Books what came back for the sub-requests (or direct request) of one round trip: budgets settled
   * with what was charged, readings fed to the budgets, 429s pause the budget they name. Returns
   * nothing; the caller settles or re-queues each item.
   */
  const account = (t: TenantState, sent: { item: Item; answer: Answer | undefined }[], marks: Marks, taken: { ru: number; writes: number; requests: number }, sentAt: number, now: number) => {
    const at = sentAt + (now - sentAt) / 2;
    const reading = (m: number): BudgetReading => ({ at, mark: m });
    let chargedRu = 0;
    let chargedWrites = 0;
    let cleanRu = 0;
    let cleanWrites = 0;
    let readUnder = false;
    let writeUnder = false;
    let readMax: number | undefined;
    let writeMax: number | undefined;
    const readShares: number[] = [];
    const writeShares: number[] = [];
    for (const { item, answer } of sent) {
      if (!answer || answer.status === 0 || answer.status === 503 || answer.status === 504) continue;
      const u = limitPercentage(answer.headers);
      if (answer.status === 429) {
        const which = throttledBudget(headerOf(answer.headers, "x-ms-throttle-scope"), headerOf(answer.headers, "x-ms-throttle-information"), item.isWrite);
        const retryAfter = parseRetryAfter(headerOf(answer.headers, "retry-after"), now) ?? 1000;
        const named = headerOf(answer.headers, "x-ms-throttle-scope") !== undefined || headerOf(answer.headers, "x-ms-throttle-information") !== undefined;
        const b = budgetFor(t, which);
        if (which === "appRu") appThrottledAt.ru = now;
        if (which === "appWrites") appThrottledAt.writes = now;
        b.throttled(retryAfter, u, which === "tenantWrites" || which === "appWrites" ? 1 : item.ru, reading(markFor(marks, which)), now, named || u !== undefined);
        // The others pause at once, not on the next tick.
        const shared = syncs.get(b);
        if (shared) void exchange(shared);
        continue;
      }
      const ru = resourceUnits(answer.headers) ?? item.ru;
      chargedRu += ru;
      if (item.isWrite) chargedWrites += 1;
      if (u === undefined) {
        cleanRu += ru;
        if (item.isWrite) {
          cleanWrites += 1;
          writeUnder = true;
        } else readUnder = true;
      } else if (item.isWrite) {
        writeMax = Math.max(writeMax ?? 0, u);
        writeShares.push(u);
      } else {
        readMax = Math.max(readMax ?? 0, u);
        readShares.push(u);
      }
    }
    t.ru.settle(taken.ru, chargedRu, cleanRu, now, sentAt);
    app.ru.settle(taken.ru, chargedRu, cleanRu, now, sentAt);
    app.requests.settle(taken.requests, taken.requests, taken.requests, now, sentAt);
    if (taken.writes > 0) {
      t.writes.settle(taken.writes, chargedWrites, cleanWrites, now, sentAt);
      app.writes.settle(taken.writes, chargedWrites, cleanWrites, now, sentAt);
    }

    const ruReadings = { tenant: reading(marks.tenantRu), app: reading(marks.appRu) };
    const writeReadings = { tenant: reading(marks.tenantWrites), app: reading(marks.appWrites) };
    // A write with no percentage means every budget it drew on (resource units included) was under 80 %.
    const ruUnder = readMax === undefined && (readUnder || writeUnder);
    if (readMax !== undefined) spread(observe(t, "ru", readMax, ruReadings, now), readShares);
    else if (ruUnder) observe(t, "ru", undefined, ruReadings, now);
    if (writeMax !== undefined) {
      // A write's percentage is the highest of its resource-unit and write budgets: it speaks for the
      // writes when the reads beside it were lower (or under 80 %).
      const ruLevel = readMax ?? (ruUnder ? 0 : recentRu(t, at));
      if (ruLevel === undefined || writeMax > ruLevel + 0.01) spread(observe(t, "writes", writeMax, writeReadings, now), writeShares);
    } else if (writeUnder) observe(t, "writes", undefined, writeReadings, now);
    maybeRateEvent(t, now);
  };

  const recentRu = (t: TenantState, at: number): number | undefined => {
    const o = recent.ru.get(t.name);
    if (!o || o.at < at - CONSENSUS_MS) return undefined;
    return o.u ?? 0;
  };

  /** Several readings of one batch, charged one after another: the share rose by 1/C per unit. */
  const spread = (b: Budget | undefined, shares: number[]) => {
    if (!b || shares.length < 2) return;
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    for (const s of shares) {
      lo = Math.min(lo, s);
      hi = Math.max(hi, s);
    }
    if (hi < 1.8) b.observeSpread(shares.length - 1, hi - lo);
  };

  const sendBatch = (t: TenantState, items: Item[], version: "v1.0" | "beta", ru: number, writes: number, now: number) => {
    const marks = takeBudgets(t, ru, writes, items.length, now);
    t.inFlight++;
    inFlight++;
    counters.batches++;
    counters.subRequests += items.length;
    t.subRequests += items.length;
    for (const item of items) item.attempts++;
    const body = {
      requests: items.map((item) => ({
        id: String(item.seq),
        method: item.req.method,
        url: item.req.url.startsWith("/") ? item.req.url : `/${item.req.url}`,
        ...(item.req.body !== undefined ? { headers: { "Content-Type": "application/json" }, body: item.req.body } : {}),
      })),
    };
    const taken = { ru, writes, requests: items.length };
    const sentAt = now;
    void Promise.resolve()
      .then(() => client.request<unknown>({ tenant: t.name, method: "POST", path: `/${version}/$batch`, body, user: items.length === 1 ? items[0]?.req.user : undefined }))
      .then(
        (res) => {
          const done = clock.now();
          const answers = parseEnvelope(res.body);
          if (!answers) {
            const answer: Answer = {
              status: 0,
              headers: {},
              body: errorBody("InvalidBatchResponse", `Graph's $batch answer has no "responses" array (tenant ${t.name}).`),
              requestId: res.requestId,
            };
            account(t, items.map((item) => ({ item, answer: undefined })), marks, taken, sentAt, done);
            for (const item of items) retryLater(t, item, { ...answer, attempts: item.attempts }, undefined, done);
            return;
          }
          const sent = items.map((item) => {
            const sub = answers.get(String(item.seq));
            const answer: Answer | undefined = sub && {
              status: sub.status,
              headers: sub.headers,
              body: sub.body,
              requestId: sub.headers["request-id"] ?? innerRequestId(sub.body) ?? res.requestId,
            };
            return { item, answer };
          });
          account(t, sent, marks, taken, sentAt, done);
          let throttled = 0;
          let retryAfterMax = 0;
          let scope: string | undefined;
          for (const { item, answer } of sent) {
            if (!answer) {
              counters.transient++;
              const missing: EngineResponse = {
                status: 0,
                headers: {},
                body: errorBody("MissingBatchResponse", `Graph's $batch answer has no response for this request (tenant ${t.name}).`),
                requestId: res.requestId,
                attempts: item.attempts,
              };
              retryLater(t, item, missing, undefined, done);
              continue;
            }
            const response: EngineResponse = { ...answer, attempts: item.attempts };
            if (RETRYABLE.has(answer.status)) {
              const retryAfter = parseRetryAfter(answer.headers["retry-after"], done);
              if (answer.status === 429) {
                throttled++;
                counters.throttled++;
                t.throttled++;
                retryAfterMax = Math.max(retryAfterMax, retryAfter ?? 0);
                scope ??= answer.headers["x-ms-throttle-scope"];
              } else counters.transient++;
              retryLater(t, item, response, retryAfter, done);
              continue;
            }
            settle(item, { response });
          }
          emit({ type: "batch", tenant: t.name, size: items.length, durationMs: done - sentAt, throttled });
          if (throttled > 0) emit({ type: "throttled", tenant: t.name, retryAfterMs: retryAfterMax, scope });
        },
        (error: unknown) => {
          const done = clock.now();
          account(t, items.map((item) => ({ item, answer: undefined })), marks, taken, sentAt, done);
          envelopeFailed(t, items, error, done);
        },
      )
      .finally(() => {
        t.inFlight--;
        inFlight--;
        schedulePump();
        checkIdle();
      });
  };

  /** The `$batch` call itself failed (after the transport's own retries). */
  const envelopeFailed = (t: TenantState, items: Item[], error: unknown, now: number) => {
    if (error instanceof AuthError || error instanceof NetworkError || (error instanceof GraphError && error.status === 401)) {
      for (const item of items) {
        if (item.settled) continue;
        counters.rejected++;
        settle(item, { error });
      }
      failTenant(t, error);
      return;
    }
    if (error instanceof GraphError) {
      const response = (item: Item): EngineResponse => ({
        status: error.status,
        headers: {},
        body: errorBody(error.code, error.message),
        requestId: error.requestId,
        attempts: item.attempts,
      });
      if (RETRYABLE.has(error.status)) {
        if (error.status === 429) {
          counters.throttled += items.length;
          t.throttled += items.length;
        }
        for (const item of items) retryLater(t, item, response(item), undefined, now);
        return;
      }
      for (const item of items) settle(item, { response: response(item) });
      return;
    }
    for (const item of items) settle(item, { error });
  };

  const sendDirect = (t: TenantState, item: Item, now: number) => {
    const writes = item.isWrite ? 1 : 0;
    const marks = takeBudgets(t, item.ru, writes, 1, now);
    t.inFlight++;
    inFlight++;
    counters.subRequests++;
    counters.directRequests++;
    t.subRequests++;
    const req = item.req;
    const taken = { ru: item.ru, writes, requests: 1 };
    const sentAt = now;
    void Promise.resolve()
      .then(() =>
        client.request<unknown>({
        tenant: t.name,
        method: req.method,
        path: `/${req.version}${req.url.startsWith("/") ? req.url : `/${req.url}`}`,
        query: req.query,
        headers: req.headers,
        body: req.body,
        user: req.user,
        signal: req.signal,
        }),
      )
      .then(
        (res) => {
          const done = clock.now();
          const headers: Record<string, string> = {};
          res.headers.forEach((value, key) => {
            headers[key.toLowerCase()] = value;
          });
          item.attempts += res.attempts;
          account(t, [{ item, answer: { status: res.status, headers, body: res.body, requestId: res.requestId } }], marks, taken, sentAt, done);
          settle(item, { response: { status: res.status, headers, body: res.body, requestId: res.requestId, attempts: item.attempts } });
        },
        (error: unknown) => {
          const done = clock.now();
          account(t, [{ item, answer: undefined }], marks, taken, sentAt, done);
          if (req.signal?.aborted) {
            settle(item, { error: req.signal.reason });
            return;
          }
          if (error instanceof AuthError || error instanceof NetworkError || (error instanceof GraphError && error.status === 401)) {
            counters.rejected++;
            settle(item, { error });
            failTenant(t, error);
            return;
          }
          if (error instanceof GraphError) {
            item.attempts += Math.max(1, error.attempts ?? 1);
            const response: EngineResponse = { status: error.status, headers: {}, body: errorBody(error.code, error.message), requestId: error.requestId, attempts: item.attempts };
            if (RETRYABLE.has(error.status)) {
              if (error.status === 429) {
                counters.throttled++;
                t.throttled++;
              } else counters.transient++;
              retryLater(t, item, response, undefined, done);
            } else settle(item, { response });
            return;
          }
          settle(item, { error });
        },
      )
      .finally(() => {
        t.inFlight--;
        inFlight--;
        schedulePump();
        checkIdle();
      });
  };

  // ----- Scheduling -----

  /** Sends one batch or direct request for `t` if its budgets allow; returns 0 when it sent, else how long to wait (ms). */
  const dispatch = (t: TenantState, now: number): number => {
    let nextRetry = Number.POSITIVE_INFINITY;
    if (t.delayed.length > 0) {
      const due: Item[] = [];
      const later: Item[] = [];
      for (const item of t.delayed) {
        if (item.settled) continue;
        if (item.readyAt <= now) due.push(item);
        else {
          later.push(item);
          nextRetry = Math.min(nextRetry, item.readyAt - now);
        }
      }
      t.delayed = later;
      if (due.length > 0) {
        due.sort((a, b) => a.seq - b.seq);
        t.readQ = [...due.filter((i) => !i.direct && !i.isWrite), ...t.readQ];
        t.writeQ = [...due.filter((i) => !i.direct && i.isWrite), ...t.writeQ];
        t.directs = [...due.filter((i) => i.direct), ...t.directs];
      }
    }
    if (t.inFlight >= perTenantInFlight) return Number.POSITIVE_INFINITY;

    while (t.directs.length > 0 && t.directs[0]?.settled) t.directs.shift();
    const direct = t.directs[0];
    if (direct) {
      const wait = Math.max(
        t.ru.waitFor(direct.ru, now),
        app.ru.waitFor(direct.ru, now),
        app.requests.waitFor(1, now),
        direct.isWrite ? Math.max(t.writes.waitFor(1, now), app.writes.waitFor(1, now)) : 0,
      );
      if (wait > 0) return Math.min(wait, nextRetry);
      t.directs.shift();
      sendDirect(t, direct, now);
      return 0;
    }

    const writeRoom = Math.floor(Math.min(t.writes.room(now), app.writes.room(now), t.writes.maxPerBatch(now), app.writes.maxPerBatch(now)));
    const ruCap = Math.min(t.ru.maxPerBatch(now), app.ru.maxPerBatch(now));
    t.readQ = t.readQ.filter((i) => !i.settled);
    t.writeQ = t.writeQ.filter((i) => !i.settled);
    const headRead = t.readQ[0];
    const headWrite = t.writeQ[0];
    const canWrite = headWrite !== undefined && writeRoom >= 1;
    // The batch takes the version of the oldest sub-request it can send now.
    const version = canWrite && (!headRead || headWrite.seq < headRead.seq) ? headWrite.req.version : (headRead?.req.version ?? (canWrite ? headWrite.req.version : undefined));
    if (version === undefined) {
      if (headWrite) {
        const need = Math.min(t.writeQ.length, maxBatch);
        return Math.min(nextRetry, Math.max(t.writes.waitFor(need, now), app.writes.waitFor(need, now)));
      }
      return nextRetry;
    }
    let ru = 0;
    const pickFrom = (queue: Item[], limit: number): number[] => {
      const picked: number[] = [];
      const scan = Math.min(queue.length, SCAN_LIMIT);
      for (let i = 0; i < scan && picked.length < limit; i++) {
        const item = queue[i]!;
        if (item.req.version !== version) continue;
        if (ru > 0 && ru + item.ru > ruCap) break;
        picked.push(i);
        ru += item.ru;
      }
      return picked;
    };
    const writesPicked = canWrite ? pickFrom(t.writeQ, Math.min(writeRoom, maxBatch)) : [];
    const readsPicked = pickFrom(t.readQ, maxBatch - writesPicked.length);
    const count = writesPicked.length + readsPicked.length;
    if (count === 0) return nextRetry;
    const wait = Math.max(t.ru.waitFor(ru, now), app.ru.waitFor(ru, now), app.requests.waitFor(count, now));
    if (wait > 0) return Math.min(wait, nextRetry);
    const take = (queue: Item[], picked: number[]): { taken: Item[]; rest: Item[] } => {
      const chosen = new Set(picked);
      return { taken: picked.map((i) => queue[i]!), rest: queue.filter((_, i) => !chosen.has(i)) };
    };
    const w = take(t.writeQ, writesPicked);
    const r = take(t.readQ, readsPicked);
    t.writeQ = w.rest;
    t.readQ = r.rest;
    sendBatch(t, [...w.taken, ...r.taken], version, ru, w.taken.length, now);
    return 0;
  };

  function pump(): void {
    const now = clock.now();
    let next = Number.POSITIVE_INFINITY;
    let progress = true;
    while (progress && inFlight < maxInFlight && ring.length > 0) {
      progress = false;
      const order = ring.length;
      ringStart = ringStart % order;
      for (let k = 0; k < order && inFlight < maxInFlight; k++) {
        const t = ring[(ringStart + k) % order]!;
        if (!hasWork(t)) continue;
        const wait = dispatch(t, now);
        if (wait === 0) progress = true;
        else next = Math.min(next, now + Math.max(1, wait));
      }
      ringStart++;
    }
    ring = ring.filter((t) => {
      t.inRing = hasWork(t);
      return t.inRing;
    });
    checkIdle();
    if (inFlight >= maxInFlight) return;
    if (ring.length > 0) scheduleWake(next);
  }

  // ----- Public surface -----

  const enqueue = <T>(req: DirectEngineRequest, direct: boolean): Promise<EngineResponse<T>> => {
    if (closing) return Promise.reject(new UsageError("The batch engine is closed."));
    if (req.signal?.aborted) return Promise.reject(req.signal.reason);
    const problem = relativeUrlProblem(req.url);
    if (problem !== undefined) return Promise.reject(new UsageError(`Graph request url ${JSON.stringify(req.url)} ${problem}.`));
    if (req.version !== "v1.0" && req.version !== "beta") return Promise.reject(new UsageError(`Unknown Graph version ${JSON.stringify(req.version)}.`));
    const t = tenantOf(req.tenant);
    const now = clock.now();
    if (t.failure) {
      if (now < t.failure.until) {
        counters.rejected++;
        return Promise.reject(t.failure.error);
      }
      t.failure = undefined;
    }
    const cost = estimateCost(req.method, req.url, direct ? req.query : undefined);
    if (sharing) shareTenant(t, now);
    return new Promise<EngineResponse<T>>((resolve, reject) => {
      const signal = req.signal;
      const onAbort = () => {
        if (item.settled) return;
        settle(item, { error: signal?.reason });
        schedulePump();
      };
      const item: Item = {
        seq: ++seq,
        req,
        direct,
        isWrite: cost.writes > 0,
        ru: cost.ru,
        attempts: 0,
        submittedAt: now,
        readyAt: now,
        settled: false,
        resolve: (res) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(res as EngineResponse<T>);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      (direct ? t.directs : item.isWrite ? t.writeQ : t.readQ).push(item);
      activate(t);
      schedulePump();
    });
  };

  const tenantStats = (t: TenantState): EngineTenantStats => ({
    subRequests: t.subRequests,
    throttled: t.throttled,
    ruPerSecond: t.ru.ratePerMs * 1000,
    writesPerSecond: t.writes.ratePerMs * 1000,
    ruCapacity: t.ru.capacity,
    writesCapacity: t.writes.capacity,
    queued: t.readQ.length + t.writeQ.length + t.directs.length + t.delayed.length,
    inFlight: t.inFlight,
    ...(t.failure ? { failed: t.failure.error instanceof Error ? t.failure.error.message : String(t.failure.error) } : {}),
  });

  return {
    submit: <T>(req: EngineRequest) => enqueue<T>(req, false),
    direct: <T>(req: DirectEngineRequest) => enqueue<T>(req, true),
    stats: (): EngineStats => {
      const perTenant: Record<string, EngineTenantStats> = {};
      let queued = 0;
      for (const t of tenants.values()) {
        const s = tenantStats(t);
        perTenant[t.name] = s;
        queued += s.queued ?? 0;
      }
      return {
        ...counters,
        tenants: perTenant,
        queued,
        inFlight,
        app: {
          ruPerSecond: app.ru.ratePerMs * 1000,
          ruCapacity: app.ru.capacity,
          writesPerSecond: app.writes.ratePerMs * 1000,
          writesCapacity: app.writes.capacity,
        },
      };
    },
    close: async () => {
      closing = true;
      await new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        checkIdle();
      });
      wake?.controller.abort();
      wake = undefined;
      await stopSharing();
    },
  };
}
