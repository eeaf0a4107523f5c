import { z } from "zod";
import { UsageError } from "../domain/errors.js";
import { MfaStateInputSchema, satisfies, type MfaStateRead } from "../domain/mfa-state.js";
import { TenantRefSchema, UserRefSchema } from "../domain/references.js";
import type { UserMfaChange } from "../domain/vocabulary.js";
import { systemClock, type Clock } from "../transport/clock.js";
import type { GraphClient } from "../transport/types.js";
import { errorInfo, requestIdOf } from "./errors-to-info.js";
import { requirementsPath } from "./graph-paths.js";
import { parseInput } from "./parse-input.js";
import { readRequirements, resolveUser, type ResolvedUser } from "./user-mfa-get.js";

export const UserMfaSetInputSchema = z.object({
  tenant: TenantRefSchema,
  user: UserRefSchema,
  state: MfaStateInputSchema,
  dryRun: z.boolean().default(false).describe("Read and report what would change; send nothing."),
});
export type UserMfaSetInput = z.input<typeof UserMfaSetInputSchema>;

export interface UserMfaSetOptions {
  clock?: Clock;
  signal?: AbortSignal;
  /**
   * Waits before re-reading when the read-back still shows the old state (Graph is
   * eventually consistent). Default [1000, 2000, 4000].
   */
  readBackDelaysMs?: readonly number[];
}

/**
 * `set`: read, PATCH only when the state differs, read back. Never throws for a Graph,
 * auth or network failure: the result says `failed` with the reason and request id.
 * Throws UsageError for bad input, before anything is sent.
 */
export async function setUserMfa(client: GraphClient, input: UserMfaSetInput, options: UserMfaSetOptions = {}): Promise<UserMfaChange> {
  const { tenant, user, state: requestedState, dryRun } = parseInput(UserMfaSetInputSchema, input);
  const clock = options.clock ?? systemClock;
  const signal = options.signal;
  const base = { tenant, requestedState };

  let resolved: ResolvedUser;
  let previousState: MfaStateRead;
  try {
    resolved = await resolveUser(client, tenant, user, signal);
    previousState = (await readRequirements(client, tenant, resolved, signal)).state;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    return failed({ ...base, id: "", userPrincipalName: user }, error);
  }
  const who = { ...base, id: resolved.id, userPrincipalName: resolved.userPrincipalName, previousState };

  if (satisfies(previousState, requestedState)) {
    return { ...who, perUserMfaState: previousState, status: "unchanged" };
  }
  if (dryRun) {
    return { ...who, perUserMfaState: previousState, status: "wouldChange" };
  }

  let requestId: string | undefined;
  try {
    const res = await client.request({
      tenant,
      method: "PATCH",
      path: requirementsPath(resolved.id),
      body: { perUserMfaState: requestedState },
      user: resolved.userPrincipalName,
      signal,
    });
    requestId = res.requestId;
  } catch (error) {
    return failed(who, error);
  }

  // Confirm with Graph: a change is `changed` only when read back.
  let readBack: MfaStateRead | undefined;
  const delays = options.readBackDelaysMs ?? [1000, 2000, 4000];
  try {
    for (let attempt = 0; ; attempt++) {
      readBack = (await readRequirements(client, tenant, resolved, signal)).state;
      if (satisfies(readBack, requestedState)) {
        return { ...who, perUserMfaState: readBack, status: "changed", ...(requestId ? { requestId } : {}) };
      }
      const delay = delays[attempt];
      if (delay === undefined) break;
      await clock.sleep(delay, signal);
    }
  } catch (error) {
    return {
      ...failed(who, error),
      ...(requestId ? { requestId } : {}),
      error: { code: "ReadBackFailed", message: `The change was sent (request id ${requestId ?? "unknown"}) but reading it back failed: ${errorInfo(error).message}` },
    };
  }
  return {
    ...who,
    perUserMfaState: readBack,
    status: "failed",
    ...(requestId ? { requestId } : {}),
    error: {
      code: "ReadBackMismatch",
      message: `Graph accepted the change to ${requestedState} but the state reads back as ${readBack ?? "unknown"}.`,
    },
  };
}

function failed(who: Omit<UserMfaChange, "status">, error: unknown): UserMfaChange {
  const requestId = requestIdOf(error);
  return { ...who, status: "failed", ...(requestId ? { requestId } : {}), error: errorInfo(error) };
}
