import type { Clock } from "../transport/clock.js";

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
  cancelled: boolean;
}

/**
 * A discrete-event clock for simulations: nothing sleeps for real. `run(promise)` lets every pending
 * callback run, then jumps time to the next timer, until the promise settles. Minutes of simulated
 * pacing take milliseconds.
 */
export class SimClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  /** Epoch of the simulation (ms), for timings relative to the start. */
  get elapsedSinceStart(): number {
    return this.time - Date.UTC(2026, 0, 1);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const timer = this.add(ms, () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      const onAbort = () => {
        timer.cancelled = true;
        reject(signal?.reason as Error);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  timeout(ms: number): AbortSignal {
    const controller = new AbortController();
    this.add(ms, () => controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")));
    return controller.signal;
  }

  private add(ms: number, fire: () => void): Timer {
    const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fire, cancelled: false };
    this.timers.push(timer);
    return timer;
  }

  /** Lets callbacks queued by the code under test run (promises, setImmediate). */
  static async settle(rounds = 4): Promise<void> {
    for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Runs the simulation until `promise` settles; throws when nothing is left to happen first. */
  async run<T>(promise: Promise<T>, limitMs = 24 * 3600_000): Promise<T> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    const deadline = this.time + limitMs;
    for (;;) {
      await SimClock.settle();
      if (settled) break;
      this.timers = this.timers.filter((t) => !t.cancelled);
      if (this.timers.length === 0) throw new Error(`SimClock: deadlock at +${this.elapsedSinceStart} ms (nothing scheduled, promise pending)`);
      let next = this.timers[0]!;
      for (const t of this.timers) if (t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
      if (next.at > deadline) throw new Error(`SimClock: still running after ${limitMs} ms of simulated time`);
      this.time = Math.max(this.time, next.at);
      const due = this.timers.filter((t) => t.at <= this.time).sort((a, b) => a.at - b.at || a.seq - b.seq);
      this.timers = this.timers.filter((t) => t.at > this.time);
      for (const t of due) if (!t.cancelled) t.fire();
    }
    return promise;
  }
}
