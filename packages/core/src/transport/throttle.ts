import { systemClock, type Clock } from "./clock.js";
import { parseRetryAfter } from "./retry.js";
import type { EventSink, RequestGate } from "./types.js";

export interface TenantGateOptions {
  /** Requests in flight per tenant (default 8). */
  concurrency?: number | undefined;
  clock?: Clock | undefined;
  onEvent?: EventSink | undefined;
}

export interface TenantLoad {
  active: number;
  queued: number;
  /** Epoch ms until which new requests for the tenant wait, when paused. */
  pausedUntil: number | undefined;
}

export interface TenantGate extends RequestGate {
  /** Holds new requests for `tenant` until `untilMs` (epoch ms on the gate's clock). Only ever extends a pause. */
  pauseUntil(tenant: string, untilMs: number): void;
  /** Diagnostics and tests. */
  load(tenant: string): TenantLoad;
}

interface Waiter {
  start: () => void;
}

interface TenantState {
  active: number;
  queue: Waiter[];
  pausedUntil: number;
  /** A wake-up is scheduled for the end of the pause. */
  waking: boolean;
}

/**
 * Per-tenant gate: at most `concurrency` requests in flight per tenant, the rest wait in a FIFO
 * queue of their own tenant (tenants never share a queue), and a 429 with `Retry-After` holds
 * every new request for that tenant until then. Requests already in flight are not interrupted.
 *
 * Deliberately small: a budget-aware scheduler (resource units, write budgets) can replace it
 * through the `RequestGate` interface.
 */
export function createTenantGate(options: TenantGateOptions = {}): TenantGate {
  const limit = Math.max(1, Math.floor(options.concurrency ?? 8));
  const clock = options.clock ?? systemClock;
  const tenants = new Map<string, TenantState>();

  const stateOf = (tenant: string): TenantState => {
    let state = tenants.get(tenant);
    if (!state) {
      state = { active: 0, queue: [], pausedUntil: 0, waking: false };
      tenants.set(tenant, state);
    }
    return state;
  };

  const forgetIfIdle = (tenant: string, state: TenantState): void => {
    if (state.active === 0 && state.queue.length === 0 && !state.waking && state.pausedUntil <= clock.now()) {
      tenants.delete(tenant);
    }
  };

  const pump = (tenant: string, state: TenantState): void => {
    while (state.active < limit && state.queue.length > 0) {
      const wait = state.pausedUntil - clock.now();
      if (wait > 0) {
        if (!state.waking) {
          state.waking = true;
          void clock.sleep(wait).then(() => {
            state.waking = false;
            pump(tenant, state);
          });
        }
        return;
      }
      const next = state.queue.shift();
      if (!next) break;
      state.active++;
      next.start();
    }
    forgetIfIdle(tenant, state);
  };

  const pauseUntil = (tenant: string, untilMs: number): void => {
    const state = stateOf(tenant);
    if (untilMs <= state.pausedUntil || untilMs <= clock.now()) {
      forgetIfIdle(tenant, state);
      return;
    }
    state.pausedUntil = untilMs;
    options.onEvent?.({ type: "throttled", tenant, untilMs });
  };

  return {
    run<T>(tenant: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
      signal?.throwIfAborted();
      const state = stateOf(tenant);
      return new Promise<T>((resolve, reject) => {
        const onAbort = () => {
          const at = state.queue.indexOf(waiter);
          if (at >= 0) {
            state.queue.splice(at, 1);
            forgetIfIdle(tenant, state);
            reject(signal?.reason);
          }
        };
        const waiter: Waiter = {
          start: () => {
            signal?.removeEventListener("abort", onAbort);
            const release = () => {
              state.active--;
              pump(tenant, state);
            };
            let running: Promise<T>;
            try {
              running = task();
            } catch (error) {
              running = Promise.reject(error as Error);
            }
            running.then(
              (value) => {
                release();
                resolve(value);
              },
              (error: unknown) => {
                release();
                reject(error);
              },
            );
          },
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        state.queue.push(waiter);
        pump(tenant, state);
      });
    },

    observe(tenant: string, response: { status: number; headers: Headers }): void {
      if (response.status !== 429) return;
      const wait = parseRetryAfter(response.headers.get("retry-after"), clock.now());
      if (wait !== undefined && wait > 0) pauseUntil(tenant, clock.now() + wait);
    },

    pauseUntil,

    load(tenant: string): TenantLoad {
      const state = tenants.get(tenant);
      if (!state) return { active: 0, queued: 0, pausedUntil: undefined };
      return {
        active: state.active,
        queued: state.queue.length,
        pausedUntil: state.pausedUntil > clock.now() ? state.pausedUntil : undefined,
      };
    },
  };
}
