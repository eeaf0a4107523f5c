import { readMfaState, satisfies, type MfaState, type MfaStateRead } from "../../domain/mfa-state.js";
import type { MfaPort, ResolvedUser } from "../../operations/mfa-port.js";
import type { CippClient } from "./client.js";
import { CippError } from "./errors.js";

/** CIPP's JSON keeps PowerShell's habits: keys in any case. */
export function field(row: Record<string, unknown>, name: string): unknown {
  const key = name.toLowerCase();
  for (const [k, v] of Object.entries(row)) if (k.toLowerCase() === key) return v;
  return undefined;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** CIPP's lines from a `{"Results": ...}` body, a bare list of lines, or a bare string. */
export function resultLines(body: unknown): string[] {
  const lines = (v: unknown): string[] => (typeof v === "string" ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  if (body && typeof body === "object" && !Array.isArray(body)) return lines(field(body as Record<string, unknown>, "Results"));
  return lines(body);
}

/** The rows of a list answer; CIPP answers some failures with 200 and a line of text instead. */
export function rowsOf(body: unknown, ctx: { endpoint: string; tenant: string; user?: string | undefined }): Record<string, unknown>[] {
  const failure = resultLines(body).find((l) => /^Failed/i.test(l));
  if (failure !== undefined) throw new CippError(`CIPP could not answer ${ctx.endpoint} (tenant ${ctx.tenant}): ${failure}`, { status: 200, code: "CippFailed", ...ctx });
  if (!Array.isArray(body) || !body.every((r) => typeof r === "object" && r !== null && !Array.isArray(r)))
    throw new CippError(`CIPP answered ${ctx.endpoint} (tenant ${ctx.tenant}) with something other than a list of rows.`, { status: 200, code: "UnexpectedResponse", ...ctx });
  return body as Record<string, unknown>[];
}

/** Graph's values, whatever case CIPP passes them on in. */
export const stateOf = (v: unknown): MfaStateRead => readMfaState(typeof v === "string" ? v.toLowerCase() : v);

/**
 * The per-user MFA calls through a CIPP instance, so core's `applyChange` (and the journal's run executor) work over
 * CIPP as over Graph. Writes send both `userPrincipalName` and `userId`, whichever CIPP version reads which; and since
 * CIPP may report success for a change Graph refused, a write is confirmed by reading it back before it counts as
 * sent: a "Successfully set" that never shows is a CippError `CippReportedSuccess`.
 */
export function cippPort(client: CippClient): MfaPort {
  const readState = async (tenant: string, user: ResolvedUser, signal?: AbortSignal): Promise<{ state: MfaStateRead; requestId: string | undefined }> => {
    const ctx = { endpoint: "ListPerUserMFA", tenant, user: user.userPrincipalName };
    // By object id: CIPP puts the value into a Graph URL, and a guest's UPN (#EXT#) does not survive that everywhere.
    const answer = await client.call({ method: "GET", endpoint: "ListPerUserMFA", query: { tenantFilter: tenant, userId: user.id || user.userPrincipalName }, tenant, user: user.userPrincipalName, signal });
    const row = rowsOf(answer.body, ctx)[0];
    if (!row) throw new CippError(`CIPP answered ListPerUserMFA for ${user.userPrincipalName} (tenant ${tenant}) with no row.`, { status: answer.status, code: "UnexpectedResponse", ...ctx });
    return { state: stateOf(field(row, "PerUserMFAState")), requestId: answer.requestId };
  };

  return {
    async resolveUser(tenant, user, signal) {
      const key = user.trim().toLowerCase();
      const ctx = { endpoint: "ListPerUserMFA", tenant, user };
      const answer = await client.call({ method: "GET", endpoint: "ListPerUserMFA", query: { tenantFilter: tenant, allUsers: "true" }, tenant, user, signal });
      const matches = (r: Record<string, unknown>, id: string, upn: string) => str(field(r, id))?.toLowerCase() === key || str(field(r, upn))?.toLowerCase() === key;
      const row = rowsOf(answer.body, ctx).find((r) => matches(r, "id", "userPrincipalName"));
      const id = row ? str(field(row, "id")) : undefined;
      const upn = row ? str(field(row, "userPrincipalName")) : undefined;
      if (id && upn) return { id, userPrincipalName: upn };
      // A CIPP whose listing carries no ids: ListMFAUsers has both.
      if (row) {
        const mfa = await client.call({ method: "GET", endpoint: "ListMFAUsers", query: { tenantFilter: tenant }, tenant, user, signal });
        const full = rowsOf(mfa.body, { ...ctx, endpoint: "ListMFAUsers" }).find((r) => matches(r, "ID", "UPN"));
        const fid = full ? str(field(full, "ID")) : undefined;
        const fupn = full ? str(field(full, "UPN")) : undefined;
        if (fid && fupn) return { id: fid, userPrincipalName: fupn };
      }
      throw new CippError(`User ${user} was not found in tenant ${tenant} (CIPP's user listing does not have it).`, { status: 404, code: "UserNotFound", ...ctx });
    },

    readState,

    async writeState(tenant, user, state: MfaState, signal) {
      const ctx = { endpoint: "ExecPerUserMFA", tenant, user: user.userPrincipalName };
      const answer = await client.call({
        method: "POST",
        endpoint: "ExecPerUserMFA",
        body: { tenantFilter: tenant, userPrincipalName: user.userPrincipalName, userId: user.id, State: state },
        tenant,
        user: user.userPrincipalName,
        signal,
      });
      const said = resultLines(answer.body).join(" ");
      // Older CIPP versions answer a failure with 200 and the failure line.
      if (/^Failed/i.test(said)) throw new CippError(`CIPP could not set ${user.userPrincipalName} (tenant ${tenant}) to ${state}: ${said}`, { status: answer.status, code: "CippFailed", requestId: answer.requestId, ...ctx });
      let current: MfaStateRead | undefined;
      for (let attempt = 0; ; attempt++) {
        try {
          current = (await readState(tenant, user, signal)).state;
        } catch {
          // Unconfirmed either way: the caller's own read-back decides (and says the change was sent).
          return { requestId: answer.requestId };
        }
        if (satisfies(current, state)) return { requestId: answer.requestId };
        const wait = client.readBackDelaysMs[attempt];
        if (wait === undefined) break;
        await client.clock.sleep(wait, signal);
      }
      throw new CippError(
        `CIPP reported success ("${said || "no result line"}") but ${user.userPrincipalName} reads back as ${current}, not ${state}: the change was not made.`,
        { status: answer.status, code: "CippReportedSuccess", requestId: answer.requestId, ...ctx },
      );
    },
  };
}
