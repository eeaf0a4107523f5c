/** Time through an interface, so retry and throttling tests never sleep for real. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms` milliseconds (rejects with the signal's reason when aborted). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * A signal that aborts with a `TimeoutError` DOMException once `ms` have passed on this clock
   * (per-attempt timeouts). Optional: callers fall back to `AbortSignal.timeout`.
   */
  timeout?(ms: number): AbortSignal;
}

function timeoutError(): DOMException {
  return new DOMException("The operation was aborted due to timeout", "TimeoutError");
}

/** `clock.timeout(ms)` when the clock has one, else a real-time `AbortSignal.timeout(ms)`. */
export function clockTimeout(clock: Clock, ms: number): AbortSignal {
  return clock.timeout ? clock.timeout(ms) : AbortSignal.timeout(Math.max(1, Math.ceil(ms)));
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
  timeout: (ms) => AbortSignal.timeout(Math.max(1, Math.ceil(ms))),
};

interface Timer {
  until: number;
  fire: () => void;
}

/** Timers shared by the test clocks: sleepers and timeout signals, fired as time moves on. */
class TimerList {
  private timers: Timer[] = [];
  add(until: number, fire: () => void): Timer {
    const timer = { until, fire };
    this.timers.push(timer);
    return timer;
  }
  remove(timer: Timer): void {
    this.timers = this.timers.filter((t) => t !== timer);
  }
  fireDue(now: number): void {
    const due = this.timers.filter((t) => t.until <= now);
    this.timers = this.timers.filter((t) => t.until > now);
    for (const t of due) t.fire();
  }
  get size(): number {
    return this.timers.length;
  }
}

/** A clock tests move by hand: `sleep` resolves when `advance` passes its deadline. */
export class ManualClock implements Clock {
  private time: number;
  private readonly timers = new TimerList();
  /** Every sleep requested, in order (tests assert on waits without waiting). Timeouts are not sleeps. */
  readonly sleeps: number[] = [];
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = () => {
        this.timers.remove(timer);
        reject(signal?.reason as Error);
      };
      const timer = this.timers.add(this.time + Math.max(0, ms), () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
  timeout(ms: number): AbortSignal {
    const controller = new AbortController();
    this.timers.add(this.time + Math.max(0, ms), () => controller.abort(timeoutError()));
    return controller.signal;
  }
  /** Sleepers and timeouts not yet due. */
  get pending(): number {
    return this.timers.size;
  }
  /** Advance time and wake every sleeper (and fire every timeout) whose deadline has passed. */
  advance(ms: number): void {
    this.time += ms;
    this.timers.fireDue(this.time);
  }
}

/** A clock whose sleeps return at once while time moves on: for tests of code that waits. */
export class InstantClock implements Clock {
  private time: number;
  private readonly timers = new TimerList();
  readonly sleeps: number[] = [];
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }
  now(): number {
    return this.time;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    this.sleeps.push(ms);
    this.time += Math.max(0, ms);
    this.timers.fireDue(this.time);
    return Promise.resolve();
  }
  /** Fires only when sleeps move time past it: an attempt nobody waits beside never times out. */
  timeout(ms: number): AbortSignal {
    const controller = new AbortController();
    this.timers.add(this.time + Math.max(0, ms), () => controller.abort(timeoutError()));
    return controller.signal;
  }
}
