import { z } from "zod";
import { MfaStateReadSchema, type MfaStateRead } from "../domain/mfa-state.js";
import { UsageError } from "../domain/errors.js";

/** Filters shared by `report`, `bulk set` and (later) `plan`. */
export const UserFiltersSchema = z.object({
  states: z.array(MfaStateReadSchema).optional().describe("only users in these states (repeatable)"),
  licensed: z.boolean().optional().describe("only users with at least one licence"),
  members: z.boolean().optional().describe("only members (with guests: both)"),
  guests: z.boolean().optional().describe("only guests (with members: both)"),
  enabledAccounts: z.boolean().optional().describe("only accounts that can sign in"),
});
export type UserFilters = z.infer<typeof UserFiltersSchema>;

export function hasFilters(f: UserFilters): boolean {
  return !!(f.states?.length || f.licensed || f.members || f.guests || f.enabledAccounts);
}

/** Parse `--where-state` values: the three states and `unknown`, case-insensitive. */
export function parseStateFilter(values: readonly string[]): MfaStateRead[] {
  return values.map((v) => {
    const parsed = MfaStateReadSchema.safeParse(v.trim().toLowerCase());
    if (!parsed.success) throw new UsageError(`Invalid --where-state ${JSON.stringify(v)}: expected one of disabled, enabled, enforced, unknown.`);
    return parsed.data;
  });
}

/**
 * The server-side part of the filters as Graph query parameters. The licence filter is an
 * "advanced query": it needs `ConsistencyLevel: eventual` and `$count=true`.
 */
export function graphFilter(f: UserFilters): { filter: string | undefined; advanced: boolean } {
  const clauses: string[] = [];
  if (f.members && !f.guests) clauses.push("userType eq 'Member'");
  if (f.guests && !f.members) clauses.push("userType eq 'Guest'");
  if (f.enabledAccounts) clauses.push("accountEnabled eq true");
  if (f.licensed) clauses.push("assignedLicenses/$count ne 0");
  return { filter: clauses.length ? clauses.join(" and ") : undefined, advanced: !!f.licensed };
}

export function stateMatches(f: UserFilters, state: MfaStateRead): boolean {
  return !f.states?.length || f.states.includes(state);
}
