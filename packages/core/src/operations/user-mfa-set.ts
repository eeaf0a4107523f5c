import { z } from "zod";
import { GraphError, UsageError } from "../domain/errors.js";
import { MfaStateInputSchema } from "../domain/mfa-state.js";
import { TenantRefSchema, UserRefSchema } from "../domain/references.js";
import type { UserMfaChange } from "../domain/vocabulary.js";
import { createRun, executeRun, type RunContext } from "../journal/run-executor.js";
import type { GraphClient } from "../transport/types.js";
import { applyChange, decide, failed, type ApplyOptions } from "./apply-change.js";
import { odataString, ROLE_IDS, SYNC_ACCOUNT_UPN } from "./directory.js";
import { refuseProtected, type ProtectedAccounts } from "./guard-rails.js";
import { directPort, type MfaPort, type ResolvedUser } from "./mfa-port.js";
import { parseInput } from "./parse-input.js";

export const UserMfaSetInputSchema = z.object({
  tenant: TenantRefSchema,
  user: UserRefSchema,
  state: MfaStateInputSchema,
  dryRun: z.boolean().default(false).describe("Read and report what would change; send nothing."),
  includeProtected: z.boolean().default(false).describe("Allow changing a protected account (break-glass, directory synchronisation)."),
});
export type UserMfaSetInput = z.input<typeof UserMfaSetInputSchema>;

export interface UserMfaSetOptions extends ApplyOptions {
  /** Journal the change (a run of one): recorded before it is sent, settled after. */
  journal?: Omit<RunContext, "port" | "signal" | "clock" | "readBackDelaysMs"> | undefined;
  /** The profile's protected accounts; the directory synchronisation accounts are added. */
  protectedAccounts?: ProtectedAccounts | undefined;
}

/**
 * `set`: read, PATCH only when the state differs, read back. Never throws for a Graph,
 * auth or network failure: the result says `failed` with the reason and request id.
 * Throws UsageError for bad input or a protected account, before anything is sent, and
 * JournalUnavailableError when the change cannot be journaled (nothing sent).
 */
export async function setUserMfa(client: GraphClient, input: UserMfaSetInput, options: UserMfaSetOptions = {}): Promise<UserMfaChange> {
  return setThroughPort(directPort(client), input, options, {
    syncReason: (tenant, user, signal) => directorySyncReason(client, tenant, user, signal),
    description: (state) => `set ${state}`,
  });
}

/** What differs between the services a single `set` goes through (Graph, CIPP): the rest is one path. */
export interface SetThrough {
  /** Why the user is a directory synchronisation account (protected), if they are. */
  syncReason(tenant: string, user: ResolvedUser, signal: AbortSignal | undefined): Promise<string | undefined>;
  /** The journal run's description. */
  description(state: string): string;
}

/**
 * `set` over any MfaPort: read, change only when the state differs, read back; protected accounts refused before
 * anything is sent (a dry run included); journaled as a run of one when `options.journal` is given.
 */
export async function setThroughPort(port: MfaPort, input: UserMfaSetInput, options: UserMfaSetOptions, through: SetThrough): Promise<UserMfaChange> {
  const { tenant, user, state: requestedState, dryRun, includeProtected } = parseInput(UserMfaSetInputSchema, input);
  let target;
  try {
    const resolved = await port.resolveUser(tenant, user, options.signal);
    const { state: previousState } = await port.readState(tenant, resolved, options.signal);
    target = { tenant, user: resolved, previousState, requestedState };
    const unchanged = decide(target, false);
    if (unchanged) return unchanged;
    // Before the dry run answers: a preview refuses what the real change would refuse.
    if (!includeProtected && options.protectedAccounts) {
      const reason = options.protectedAccounts.reason(tenant, resolved) ?? (await through.syncReason(tenant, resolved, options.signal));
      if (reason) refuseProtected([{ tenant, userPrincipalName: resolved.userPrincipalName, reason }]);
    }
    const preview = decide(target, dryRun);
    if (preview) return preview;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    return failed({ tenant, requestedState, id: "", userPrincipalName: user }, error);
  }
  if (!options.journal) return applyChange(port, target, options);

  const ctx: RunContext = { ...options.journal, port, clock: options.clock, signal: options.signal, readBackDelaysMs: options.readBackDelaysMs };
  const run = await createRun(ctx, { kind: "set", description: through.description(requestedState), includeProtected }, [
    { tenant, id: target.user.id, userPrincipalName: target.user.userPrincipalName, requestedState, expectedState: target.previousState },
  ]);
  let result: UserMfaChange | undefined;
  for await (const change of executeRun(ctx, run, { reread: false })) result = change;
  // Interrupted before the change settled: the journal keeps it in flight for `resume`.
  if (!result) throw new UsageError(`Interrupted; run ${run.runId} is left for \`mfactl resume ${run.runId}\`.`);
  return result;
}

/** Whether the user holds the Directory Synchronization Accounts role (by name when roles cannot be read). */
async function directorySyncReason(client: GraphClient, tenant: string, user: ResolvedUser, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const res = await client.request<{ value?: unknown[] }>({
      tenant,
      method: "GET",
      path: "/v1.0/roleManagement/directory/roleAssignments",
      query: { $filter: `principalId eq ${odataString(user.id)} and roleDefinitionId eq ${odataString(ROLE_IDS.directorySynchronizationAccounts)}`, $select: "id" },
      signal,
    });
    return (res.body?.value?.length ?? 0) > 0 ? "directory synchronisation account" : undefined;
  } catch (error) {
    if (!(error instanceof GraphError) || (error.status !== 403 && error.status !== 401)) throw error;
    return SYNC_ACCOUNT_UPN.test(user.userPrincipalName) ? "directory synchronisation account (by name: roles could not be read)" : undefined;
  }
}
