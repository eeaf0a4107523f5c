import { z } from "zod";
import { readMfaState } from "../domain/mfa-state.js";
import { parseUserRef, TenantRefSchema, UserRefSchema } from "../domain/references.js";
import type { UserMfaState } from "../domain/vocabulary.js";
import type { GraphClient } from "../transport/types.js";
import { requirementsPath, userPath } from "./graph-paths.js";
import { parseInput } from "./parse-input.js";

export const UserMfaGetInputSchema = z.object({
  tenant: TenantRefSchema,
  user: UserRefSchema,
});
export type UserMfaGetInput = z.input<typeof UserMfaGetInputSchema>;

export interface ResolvedUser {
  id: string;
  userPrincipalName: string;
}

/** Resolve a user reference to its object id and UPN (GET /users/{ref}). */
export async function resolveUser(client: GraphClient, tenant: string, user: string, signal?: AbortSignal): Promise<ResolvedUser> {
  const res = await client.request<{ id?: unknown; userPrincipalName?: unknown }>({
    tenant,
    method: "GET",
    path: userPath(parseUserRef(user)),
    query: { $select: "id,userPrincipalName" },
    user,
    signal,
  });
  const { id, userPrincipalName } = res.body ?? {};
  if (typeof id !== "string" || typeof userPrincipalName !== "string") {
    throw new TypeError(`Graph returned a user without id or userPrincipalName for ${user}.`);
  }
  return { id, userPrincipalName };
}

/** Read the per-user MFA state of a user already resolved to an object id. */
export async function readRequirements(
  client: GraphClient,
  tenant: string,
  user: ResolvedUser,
  signal?: AbortSignal,
): Promise<{ state: ReturnType<typeof readMfaState>; requestId: string | undefined }> {
  const res = await client.request<{ perUserMfaState?: unknown }>({
    tenant,
    method: "GET",
    path: requirementsPath(user.id),
    user: user.userPrincipalName,
    signal,
  });
  return { state: readMfaState(res.body?.perUserMfaState), requestId: res.requestId };
}

/** `get`: one user's per-user MFA state. Throws UsageError for bad input, GraphError/AuthError/NetworkError otherwise. */
export async function getUserMfa(client: GraphClient, input: UserMfaGetInput, options: { signal?: AbortSignal } = {}): Promise<UserMfaState> {
  const { tenant, user } = parseInput(UserMfaGetInputSchema, input);
  const resolved = await resolveUser(client, tenant, user, options.signal);
  const { state } = await readRequirements(client, tenant, resolved, options.signal);
  return { tenant, id: resolved.id, userPrincipalName: resolved.userPrincipalName, perUserMfaState: state };
}
