import { z } from "zod";
import { UsageError } from "../domain/errors.js";
import { MfaStateInputSchema } from "../domain/mfa-state.js";
import { TenantRefSchema, UserRefSchema } from "../domain/references.js";
import type { UserMfaChange } from "../domain/vocabulary.js";
import type { GraphClient } from "../transport/types.js";
import { applyChange, decide, failed, type ApplyOptions } from "./apply-change.js";
import { directPort } from "./mfa-port.js";
import { parseInput } from "./parse-input.js";

export const UserMfaSetInputSchema = z.object({
  tenant: TenantRefSchema,
  user: UserRefSchema,
  state: MfaStateInputSchema,
  dryRun: z.boolean().default(false).describe("Read and report what would change; send nothing."),
});
export type UserMfaSetInput = z.input<typeof UserMfaSetInputSchema>;
export type UserMfaSetOptions = ApplyOptions;

/**
 * `set`: read, PATCH only when the state differs, read back. Never throws for a Graph,
 * auth or network failure: the result says `failed` with the reason and request id.
 * Throws UsageError for bad input, before anything is sent.
 */
export async function setUserMfa(client: GraphClient, input: UserMfaSetInput, options: UserMfaSetOptions = {}): Promise<UserMfaChange> {
  const { tenant, user, state: requestedState, dryRun } = parseInput(UserMfaSetInputSchema, input);
  const port = directPort(client);
  try {
    const resolved = await port.resolveUser(tenant, user, options.signal);
    const { state: previousState } = await port.readState(tenant, resolved, options.signal);
    const target = { tenant, user: resolved, previousState, requestedState };
    return decide(target, dryRun) ?? (await applyChange(port, target, options));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    return failed({ tenant, requestedState, id: "", userPrincipalName: user }, error);
  }
}
