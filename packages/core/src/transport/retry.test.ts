import { describe, expect, it } from "vitest";
import { NetworkError } from "../domain/errors.js";
import { InstantClock, ManualClock } from "./clock.js";
import { backoffDelay, parseRetryAfter, withRetry, type AttemptResult, type RetryOptions, type RetryTarget } from "./retry.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy, type TransportEvent } from "./types.js";

type Step = { status: number; headers?: Record<string, string> } | { throw: unknown };

/** An attempt function that plays `steps` in order (the last one repeats) and counts calls. */
function scripted(steps: Step[]) {
  const calls: { attempt: number; signal: AbortSignal }[] = [];
  const fn = (attempt: number, signal: AbortSignal): Promise<AttemptResult> => {
    calls.push({ attempt, signal });
    const step = steps[Math.min(calls.length - 1, steps.length - 1)]!;
    if ("throw" in step) return Promise.reject(step.throw as Error);
    return Promise.resolve({ status: step.status, headers: new Headers(step.headers ?? {}) });
  };
  return { fn, calls };
}

const target: RetryTarget = { tenant: "contoso.onmicrosoft.com", method: "GET", url: "https://graph.test/v1.0/users" };

function options(clock: InstantClock | ManualClock, policy: Partial<RetryPolicy> = {}, events: TransportEvent[] = []): RetryOptions {
  return { policy: { ...DEFAULT_RETRY_POLICY, ...policy }, clock, random: () => 0.5, onEvent: (e) => events.push(e) };
}

function socketError(code: string, message = `read ${code}`): TypeError {
  return new TypeError("fetch failed", { cause: Object.assign(new Error(message), { code }) });
}

const flush = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

describe("parseRetryAfter", () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  it("reads delta-seconds", () => {
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
    expect(parseRetryAfter("1.5", now)).toBe(1500);
  });
  it("reads an HTTP date relative to now, never negative", () => {
    expect(parseRetryAfter(new Date(now + 7000).toUTCString(), now)).toBe(7000);
    expect(parseRetryAfter(new Date(now - 7000).toUTCString(), now)).toBe(0);
  });
  it("ignores absent and unreadable values", () => {
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter("", now)).toBeUndefined();
    expect(parseRetryAfter("-3", now)).toBeUndefined();
    expect(parseRetryAfter("soon", now)).toBeUndefined();
  });
});

describe("backoffDelay", () => {
  it("doubles the ceiling per attempt, applies full jitter and caps at maxDelayMs", () => {
    const policy = { baseDelayMs: 1000, maxDelayMs: 5000 };
    expect(backoffDelay(1, policy, () => 0.999)).toBe(999);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(2000);
    expect(backoffDelay(10, policy, () => 0.5)).toBe(2500);
    expect(backoffDelay(10, policy, () => 0)).toBe(0);
  });
});

describe("withRetry", () => {
  it("waits Retry-After seconds on the clock after a 429, then succeeds", async () => {
    const clock = new ManualClock();
    const { fn, calls } = scripted([{ status: 429, headers: { "retry-after": "3" } }, { status: 200 }]);
    const events: TransportEvent[] = [];
    const done = withRetry(fn, target, options(clock, {}, events));
    await flush();
    expect(calls).toHaveLength(1);
    expect(clock.sleeps).toEqual([3000]);
    clock.advance(2999);
    await flush();
    expect(calls).toHaveLength(1);
    clock.advance(1);
    const outcome = await done;
    expect(calls).toHaveLength(2);
    expect(outcome.result.status).toBe(200);
    expect(outcome.attempts).toBe(2);
    expect(events).toEqual([
      { type: "retry", tenant: target.tenant, method: "GET", url: target.url, status: 429, reason: "HTTP 429, Retry-After", delayMs: 3000, attempt: 1 },
    ]);
  });

  it("honours Retry-After given as an HTTP date", async () => {
    const clock = new InstantClock();
    const at = new Date(clock.now() + 5000).toUTCString();
    const { fn } = scripted([{ status: 429, headers: { "retry-after": at } }, { status: 200 }]);
    const outcome = await withRetry(fn, target, options(clock));
    expect(clock.sleeps).toEqual([5000]);
    expect(outcome.attempts).toBe(2);
  });

  it("retries 503 with jittered backoff when there is no Retry-After", async () => {
    const clock = new InstantClock();
    const { fn } = scripted([{ status: 503 }, { status: 504 }, { status: 200 }]);
    const outcome = await withRetry(fn, target, options(clock, { baseDelayMs: 1000 }));
    // random 0.5: half of 1000, then half of 2000
    expect(clock.sleeps).toEqual([500, 1000]);
    expect(outcome).toMatchObject({ result: { status: 200 }, attempts: 3 });
  });

  it.each([400, 401, 403, 404, 409, 500])("does not retry %i", async (status) => {
    const clock = new InstantClock();
    const { fn, calls } = scripted([{ status, headers: { "retry-after": "1" } }, { status: 200 }]);
    const outcome = await withRetry(fn, target, options(clock));
    expect(calls).toHaveLength(1);
    expect(outcome).toMatchObject({ result: { status }, attempts: 1 });
    expect(clock.sleeps).toEqual([]);
  });

  it("gives up after maxAttempts with the last status", async () => {
    const clock = new InstantClock();
    const { fn, calls } = scripted([{ status: 503 }, { status: 503 }, { status: 429, headers: { "retry-after": "1" } }, { status: 200 }]);
    const outcome = await withRetry(fn, target, options(clock, { maxAttempts: 3 }));
    expect(calls).toHaveLength(3);
    expect(outcome).toMatchObject({ result: { status: 429 }, attempts: 3 });
    expect(clock.sleeps).toHaveLength(2);
  });

  it("caps each wait at maxDelayMs, Retry-After included", async () => {
    const clock = new InstantClock();
    const { fn } = scripted([{ status: 429, headers: { "retry-after": "600" } }, { status: 200 }]);
    await withRetry(fn, target, options(clock, { maxDelayMs: 180_000 }));
    expect(clock.sleeps).toEqual([180_000]);
  });

  it("does not start a wait that would cross the deadline", async () => {
    const clock = new InstantClock();
    const { fn, calls } = scripted([{ status: 429, headers: { "retry-after": "4" } }]);
    const outcome = await withRetry(fn, target, options(clock, { deadlineMs: 10_000, maxAttempts: 100 }));
    // 0 s, 4 s, 8 s: a third wait would end at 12 s, past the 10 s deadline.
    expect(clock.sleeps).toEqual([4000, 4000]);
    expect(calls).toHaveLength(3);
    expect(outcome).toMatchObject({ result: { status: 429 }, attempts: 3 });
  });

  it("retries transient network errors and then succeeds", async () => {
    const clock = new InstantClock();
    const { fn, calls } = scripted([
      { throw: socketError("ECONNRESET") },
      { throw: socketError("UND_ERR_SOCKET", "other side closed") },
      { throw: new Error("socket hang up") },
      { status: 200 },
    ]);
    const events: TransportEvent[] = [];
    const outcome = await withRetry(fn, target, options(clock, {}, events));
    expect(calls).toHaveLength(4);
    expect(outcome.attempts).toBe(4);
    expect(events.map((e) => (e.type === "retry" ? e.reason : e.type))).toEqual(["ECONNRESET", "UND_ERR_SOCKET", "ECONNRESET"]);
  });

  it("throws NetworkError with the code and attempts when network errors persist", async () => {
    const clock = new InstantClock();
    const { fn, calls } = scripted([{ throw: socketError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:443") }]);
    const error = await withRetry(fn, target, options(clock, { maxAttempts: 4 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect(error).toMatchObject({ code: "ECONNREFUSED", tenant: target.tenant, attempts: 4 });
    expect(calls).toHaveLength(4);
    expect((error as Error).message).toContain("gave up after 4 attempts");
  });

  it("does not retry failures that will not heal (DNS, TLS)", async () => {
    const clock = new InstantClock();
    for (const code of ["ENOTFOUND", "SELF_SIGNED_CERT_IN_CHAIN"]) {
      const { fn, calls } = scripted([{ throw: socketError(code) }, { status: 200 }]);
      const error = await withRetry(fn, target, options(clock)).catch((e: unknown) => e);
      expect(error).toMatchObject({ kind: "network", code, attempts: 1 });
      expect(calls).toHaveLength(1);
    }
  });

  it("rethrows errors that are not network failures, without retrying", async () => {
    const bug = new RangeError("bug in the attempt");
    const { fn, calls } = scripted([{ throw: bug }, { status: 200 }]);
    await expect(withRetry(fn, target, options(new InstantClock()))).rejects.toBe(bug);
    expect(calls).toHaveLength(1);
  });

  it("aborts an attempt that outlives attemptTimeoutMs and retries it", async () => {
    const clock = new ManualClock();
    let calls = 0;
    const fn = (_n: number, signal: AbortSignal): Promise<AttemptResult> => {
      calls++;
      if (calls > 1) return Promise.resolve({ status: 200, headers: new Headers() });
      // Like fetch: settles only when aborted.
      return new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error)));
    };
    const events: TransportEvent[] = [];
    const done = withRetry(fn, target, { ...options(clock, { attemptTimeoutMs: 1000 }, events), random: () => 0 });
    await flush();
    clock.advance(999);
    await flush();
    expect(calls).toBe(1);
    expect(events).toEqual([]);
    clock.advance(1);
    await flush();
    expect(events).toMatchObject([{ type: "retry", reason: "TIMEOUT", attempt: 1, status: undefined }]);
    clock.advance(0);
    const outcome = await done;
    expect(outcome).toMatchObject({ result: { status: 200 }, attempts: 2 });
  });

  it("stops at once when the caller aborts, even during a wait", async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const { fn, calls } = scripted([{ status: 503 }]);
    const done = withRetry(fn, { ...target, signal: controller.signal }, options(clock));
    await flush();
    expect(clock.sleeps).toHaveLength(1);
    controller.abort(new Error("stop"));
    await expect(done).rejects.toThrow("stop");
    expect(calls).toHaveLength(1);
  });

  it("reports every response to onResult", async () => {
    const seen: number[] = [];
    const { fn } = scripted([{ status: 429 }, { status: 503 }, { status: 204 }]);
    await withRetry(fn, target, { ...options(new InstantClock()), onResult: (r) => seen.push(r.status) });
    expect(seen).toEqual([429, 503, 204]);
  });
});
