import { NetworkError } from "../domain/errors.js";
import { clockTimeout, type Clock } from "./clock.js";
import { describeNetworkFailure, type NetworkFailure } from "./network-errors.js";
import type { EventSink, HttpMethod, RetryPolicy } from "./types.js";

/** Retried statuses: throttled, unavailable, gateway timeout. Never 400/401/403/404/409/422. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 503, 504]);

/** What one attempt yields when the server answered (body already read). */
export interface AttemptResult {
  status: number;
  headers: Headers;
}

/** Which request is being retried, for events and error messages. */
export interface RetryTarget {
  tenant: string;
  method: HttpMethod;
  url: string;
  /** The caller's signal: aborting it stops the attempt and any wait, and is never retried. */
  signal?: AbortSignal | undefined;
}

export interface RetryOptions {
  policy: RetryPolicy;
  clock: Clock;
  /** [0,1) source for full jitter. */
  random: () => number;
  onEvent?: EventSink | undefined;
  /** Sees every response, retried or not (the throttle learns pauses from it). */
  onResult?: ((result: AttemptResult) => void) | undefined;
}

export interface RetryOutcome<R> {
  /** The last response: a success, a status that is not retried, or the last retryable one when retries ran out. */
  result: R;
  attempts: number;
}

/** One attempt. `signal` combines the caller's signal with the per-attempt timeout. */
export type Attempt<R extends AttemptResult> = (attempt: number, signal: AbortSignal) => Promise<R>;

/**
 * Milliseconds to wait according to a `Retry-After` header: delta-seconds or an HTTP date.
 * Undefined when absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (v === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  // An HTTP date always names a weekday and a GMT time; plain numbers were handled above.
  if (!/[a-z]/i.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Full jitter: a uniform wait in [0, min(maxDelay, base * 2^(attempt-1))). */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, "baseDelayMs" | "maxDelayMs">, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

function giveUpError(target: RetryTarget, failure: NetworkFailure, attempts: number, why: string): NetworkError {
  const where = safeUrl(target.url);
  return new NetworkError(
    `${target.method} ${where} for tenant ${target.tenant} failed: ${failure.detail}${why}`,
    { code: failure.code, tenant: target.tenant, attempts },
  );
}

/** The URL without its query string (which can be long), for messages. */
function safeUrl(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/**
 * Runs `attempt` until it yields a response that is not retried, retrying 429/503/504 and
 * transient network failures with `Retry-After` or jittered exponential backoff, bounded by
 * `maxAttempts`, `maxDelayMs` per wait and `deadlineMs` overall. Waits go through the clock.
 *
 * Returns the last response (the caller decides what a non-2xx means); throws NetworkError when
 * no response came back, and the caller's abort reason when the caller aborted.
 */
export async function withRetry<R extends AttemptResult>(
  attempt: Attempt<R>,
  target: RetryTarget,
  options: RetryOptions,
): Promise<RetryOutcome<R>> {
  const { policy, clock } = options;
  const maxAttempts = Math.max(1, Math.floor(policy.maxAttempts));
  const deadline = clock.now() + policy.deadlineMs;
  for (let n = 1; ; n++) {
    target.signal?.throwIfAborted();
    const timeoutMs = Math.max(1, Math.min(policy.attemptTimeoutMs, deadline - clock.now()));
    const timeout = clockTimeout(clock, timeoutMs);
    const signal = target.signal ? AbortSignal.any([target.signal, timeout]) : timeout;

    let result: R | undefined;
    let failure: NetworkFailure | undefined;
    try {
      result = await attempt(n, signal);
    } catch (error) {
      if (target.signal?.aborted) throw target.signal.reason;
      failure = timeout.aborted
        ? { code: "TIMEOUT", retryable: true, detail: `no response within ${timeoutMs} ms` }
        : describeNetworkFailure(error);
      if (failure === undefined) throw error;
    }

    let delay: number;
    let reason: string;
    if (result !== undefined) {
      options.onResult?.(result);
      if (!RETRYABLE_STATUSES.has(result.status)) return { result, attempts: n };
      if (n >= maxAttempts) return { result, attempts: n };
      const retryAfter = parseRetryAfter(result.headers.get("retry-after"), clock.now());
      delay = retryAfter ?? backoffDelay(n, policy, options.random);
      reason = retryAfter === undefined ? `HTTP ${result.status}` : `HTTP ${result.status}, Retry-After`;
    } else if (failure !== undefined) {
      if (!failure.retryable) throw giveUpError(target, failure, n, "");
      if (n >= maxAttempts) throw giveUpError(target, failure, n, ` (gave up after ${n} attempts)`);
      delay = backoffDelay(n, policy, options.random);
      reason = failure.code;
    } else {
      throw new TypeError("retry: an attempt resolved without a response");
    }

    delay = Math.min(delay, policy.maxDelayMs);
    if (clock.now() + delay >= deadline) {
      // The next attempt could not start before the deadline: stop now rather than wait in vain.
      if (result !== undefined) return { result, attempts: n };
      throw giveUpError(target, failure ?? { code: "DEADLINE", retryable: false, detail: "deadline" }, n, ` (gave up after ${n} attempts: the ${policy.deadlineMs} ms deadline would pass)`);
    }
    options.onEvent?.({
      type: "retry",
      tenant: target.tenant,
      method: target.method,
      url: target.url,
      status: result?.status,
      reason,
      delayMs: delay,
      attempt: n,
    });
    await clock.sleep(delay, target.signal);
  }
}
