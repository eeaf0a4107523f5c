import type { MfaStateRead } from "../../domain/mfa-state.js";
import { parseTenantRef, tenantRefToString } from "../../domain/references.js";
import type { ReportRow, UserMfaChange, UserMfaState } from "../../domain/vocabulary.js";
import { SYNC_ACCOUNT_UPN } from "../../operations/directory.js";
import { parseInput } from "../../operations/parse-input.js";
import type { UserFilters } from "../../operations/user-filters.js";
import { UserMfaGetInputSchema, type UserMfaGetInput } from "../../operations/user-mfa-get.js";
import { setThroughPort, type UserMfaSetInput, type UserMfaSetOptions } from "../../operations/user-mfa-set.js";
import type { CippClient } from "./client.js";
import { cippPort, field, rowsOf, stateOf } from "./port.js";

/**
 * `get` through CIPP: the user (ListPerUserMFA's listing) and their state (ListPerUserMFA for that id). Throws
 * UsageError for bad input; CippError, AuthError or NetworkError when CIPP or the sign-in fails.
 */
export async function cippGetUserMfa(client: CippClient, input: UserMfaGetInput, options: { signal?: AbortSignal | undefined } = {}): Promise<UserMfaState> {
  const { tenant, user } = parseInput(UserMfaGetInputSchema, input);
  const port = cippPort(client);
  const resolved = await port.resolveUser(tenant, user, options.signal);
  const { state } = await port.readState(tenant, resolved, options.signal);
  return { tenant, id: resolved.id, userPrincipalName: resolved.userPrincipalName, perUserMfaState: state };
}

/**
 * `set` through CIPP, with `setUserMfa`'s result and semantics: read, send only when the state differs
 * (`unchanged` otherwise), `wouldChange` for a dry run, a protected account refused (UsageError) before anything is
 * sent, and `changed` only when the state read back satisfies the request: a CIPP "Successfully set" that does not
 * read back is `failed` (code `CippReportedSuccess`). Never throws for CIPP, sign-in or network failures; journaled
 * (kind `set`) when `options.journal` is given.
 */
export async function cippSetUserMfa(client: CippClient, input: UserMfaSetInput, options: UserMfaSetOptions = {}): Promise<UserMfaChange> {
  return setThroughPort(cippPort(client), input, options, {
    // CIPP shows no directory roles: a directory synchronisation account is known by its name only.
    syncReason: async (_tenant, user) => (SYNC_ACCOUNT_UPN.test(user.userPrincipalName) ? "directory synchronisation account (by name: CIPP does not show directory roles)" : undefined),
    description: (state) => `set ${state} through CIPP`,
  });
}

export interface CippListOptions extends UserFilters {
  signal?: AbortSignal | undefined;
}

const bool = (v: unknown, fallback: boolean) => (typeof v === "boolean" ? v : typeof v === "string" ? v.toLowerCase() === "true" : fallback);
const text = (v: unknown) => (typeof v === "string" ? v : "");

/**
 * A tenant's users as core's report rows, through CIPP: the state from ListPerUserMFA's listing (`allUsers=true`,
 * read straight from Graph), the rest (display name, type, account, licence) from ListMFAUsers. Filters apply as in
 * `report` (states, licensed, members, guests, enabledAccounts). Throws (UsageError, CippError, AuthError,
 * NetworkError) when the tenant cannot be read; nothing is yielded before both lists are in.
 */
export async function* cippListUsers(client: CippClient, tenant: string, options: CippListOptions = {}): AsyncGenerator<ReportRow> {
  const t = tenantRefToString(parseTenantRef(tenant));
  const listing = await client.call({ method: "GET", endpoint: "ListPerUserMFA", query: { tenantFilter: t, allUsers: "true" }, tenant: t, signal: options.signal });
  const states = new Map<string, MfaStateRead>();
  for (const r of rowsOf(listing.body, { endpoint: "ListPerUserMFA", tenant: t })) {
    const state = stateOf(field(r, "perUserMfaState"));
    for (const key of [field(r, "id"), field(r, "userPrincipalName")]) if (typeof key === "string" && key !== "") states.set(key.toLowerCase(), state);
  }
  const details = await client.call({ method: "GET", endpoint: "ListMFAUsers", query: { tenantFilter: t }, tenant: t, signal: options.signal });
  const seen = new Set<string>();
  const rows: ReportRow[] = [];
  for (const r of rowsOf(details.body, { endpoint: "ListMFAUsers", tenant: t })) {
    const id = text(field(r, "ID"));
    const upn = text(field(r, "UPN"));
    if (id === "" && upn === "") continue;
    for (const k of [id, upn]) if (k !== "") seen.add(k.toLowerCase());
    rows.push({
      tenant: t,
      id,
      userPrincipalName: upn,
      displayName: text(field(r, "DisplayName")),
      userType: text(field(r, "UserType")),
      accountEnabled: bool(field(r, "AccountEnabled"), true),
      isLicensed: bool(field(r, "isLicensed"), false),
      perUserMfaState: states.get(id.toLowerCase()) ?? states.get(upn.toLowerCase()) ?? stateOf(field(r, "PerUser")),
    });
  }
  // Users the listing has and ListMFAUsers (cached in CIPP) does not yet: reported with what is known.
  for (const r of rowsOf(listing.body, { endpoint: "ListPerUserMFA", tenant: t })) {
    const id = text(field(r, "id"));
    const upn = text(field(r, "userPrincipalName"));
    if ((id === "" && upn === "") || (id !== "" && seen.has(id.toLowerCase())) || (upn !== "" && seen.has(upn.toLowerCase()))) continue;
    rows.push({ tenant: t, id, userPrincipalName: upn, displayName: "", userType: "", accountEnabled: true, isLicensed: false, perUserMfaState: stateOf(field(r, "perUserMfaState")) });
  }
  for (const row of rows) if (matches(row, options)) yield row;
}

function matches(row: ReportRow, f: UserFilters): boolean {
  if (f.states?.length && !f.states.includes(row.perUserMfaState)) return false;
  const guest = row.userType.toLowerCase() === "guest";
  if (f.members && !f.guests && guest) return false;
  if (f.guests && !f.members && !guest) return false;
  if (f.enabledAccounts && !row.accountEnabled) return false;
  if (f.licensed && !row.isLicensed) return false;
  return true;
}
