import { satisfies, type MfaState, type MfaStateRead } from "../domain/mfa-state.js";
import type { UserMfaChange } from "../domain/vocabulary.js";
import { systemClock, type Clock } from "../transport/clock.js";
import { errorInfo, requestIdOf } from "./errors-to-info.js";
import type { MfaPort, ResolvedUser } from "./mfa-port.js";

export interface ChangeTarget {
  tenant: string;
  user: ResolvedUser;
  previousState: MfaStateRead;
  requestedState: MfaState;
}

export interface ApplyOptions {
  clock?: Clock | undefined;
  signal?: AbortSignal | undefined;
  /** Waits before re-reading when the read-back still shows the old state (Graph is eventually consistent). */
  readBackDelaysMs?: readonly number[] | undefined;
}

export const DEFAULT_READ_BACK_DELAYS_MS = [1000, 2000, 4000] as const;

/** Decide without sending: `unchanged` when the state already satisfies the request. */
export function decide(target: ChangeTarget, dryRun: boolean): UserMfaChange | undefined {
  const who = base(target);
  if (satisfies(target.previousState, target.requestedState)) return { ...who, perUserMfaState: target.previousState, status: "unchanged" };
  if (dryRun) return { ...who, perUserMfaState: target.previousState, status: "wouldChange" };
  return undefined;
}

/**
 * Send the change and confirm it: `changed` only when the state read back satisfies the
 * request. Never throws for a Graph failure: the result is `failed` with the reason.
 */
export async function applyChange(port: MfaPort, target: ChangeTarget, options: ApplyOptions = {}): Promise<UserMfaChange> {
  const who = base(target);
  const { tenant, user, requestedState } = target;
  const clock = options.clock ?? systemClock;
  const withId = (requestId: string | undefined) => (requestId ? { requestId } : {});

  let requestId: string | undefined;
  try {
    requestId = (await port.writeState(tenant, user, requestedState, options.signal)).requestId;
  } catch (error) {
    return failed(who, error);
  }

  let readBack: MfaStateRead | undefined;
  const delays = options.readBackDelaysMs ?? DEFAULT_READ_BACK_DELAYS_MS;
  try {
    for (let attempt = 0; ; attempt++) {
      readBack = (await port.readState(tenant, user, options.signal)).state;
      if (satisfies(readBack, requestedState)) return { ...who, perUserMfaState: readBack, status: "changed", ...withId(requestId) };
      const delay = delays[attempt];
      if (delay === undefined) break;
      await clock.sleep(delay, options.signal);
    }
  } catch (error) {
    return {
      ...who,
      status: "failed",
      ...withId(requestId),
      error: { code: "ReadBackFailed", message: `The change was sent (request id ${requestId ?? "unknown"}) but reading it back failed: ${errorInfo(error).message}` },
    };
  }
  return {
    ...who,
    perUserMfaState: readBack,
    status: "failed",
    ...withId(requestId),
    error: { code: "ReadBackMismatch", message: `Graph accepted the change to ${requestedState} but the state reads back as ${readBack ?? "unknown"}.` },
  };
}

function base(target: ChangeTarget): Omit<UserMfaChange, "status"> {
  return {
    tenant: target.tenant,
    id: target.user.id,
    userPrincipalName: target.user.userPrincipalName,
    previousState: target.previousState,
    requestedState: target.requestedState,
  };
}

export function failed(who: Omit<UserMfaChange, "status">, error: unknown): UserMfaChange {
  const requestId = requestIdOf(error);
  return { ...who, status: "failed", ...(requestId ? { requestId } : {}), error: errorInfo(error) };
}
