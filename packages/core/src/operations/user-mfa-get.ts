import { z } from "zod";
import { TenantRefSchema, UserRefSchema } from "../domain/references.js";
import type { UserMfaState } from "../domain/vocabulary.js";
import type { GraphClient } from "../transport/types.js";
import { directPort } from "./mfa-port.js";
import { parseInput } from "./parse-input.js";

export const UserMfaGetInputSchema = z.object({
  tenant: TenantRefSchema,
  user: UserRefSchema,
});
export type UserMfaGetInput = z.input<typeof UserMfaGetInputSchema>;

/** `get`: one user's per-user MFA state. Throws UsageError for bad input, GraphError/AuthError/NetworkError otherwise. */
export async function getUserMfa(client: GraphClient, input: UserMfaGetInput, options: { signal?: AbortSignal } = {}): Promise<UserMfaState> {
  const { tenant, user } = parseInput(UserMfaGetInputSchema, input);
  const port = directPort(client);
  const resolved = await port.resolveUser(tenant, user, options.signal);
  const { state } = await port.readState(tenant, resolved, options.signal);
  return { tenant, id: resolved.id, userPrincipalName: resolved.userPrincipalName, perUserMfaState: state };
}
