import { z } from "zod";
import { GraphError, UsageError } from "../domain/errors.js";
import { MfaStateReadSchema, readMfaState, type MfaStateRead } from "../domain/mfa-state.js";
import type { ReportRow } from "../domain/vocabulary.js";
import type { BatchEngine } from "../engine/types.js";
import { mapConcurrent } from "../util/concurrent.js";
import { odataString } from "./directory.js";
import { enginePort, ok } from "./mfa-port.js";
import { relativeNextLink, reportRowOf, type WireUser } from "./tenant-users.js";

/** What Graph sorts users on ($orderby). */
export const USER_SORT_PROPERTIES = ["displayName", "userPrincipalName"] as const;
export const UserSortSchema = z.object({
  by: z.enum(USER_SORT_PROPERTIES),
  direction: z.enum(["asc", "desc"]).default("asc"),
});
export type UserSort = z.input<typeof UserSortSchema>;

export const UsersPageInputSchema = z.object({
  tenant: z.string().min(1),
  /** Only users in these states. */
  states: z.array(MfaStateReadSchema).optional(),
  /** Display names or UPNs starting with this text (case-insensitive, as Graph's startswith). */
  search: z.string().trim().min(1).max(256).optional(),
  /** Graph's order (case-insensitive names); absent: the listing's own order. A cursor keeps the order it was made with. */
  sort: UserSortSchema.optional(),
  /** From the previous page's `nextCursor`. */
  cursor: z.string().min(1).max(4096).optional(),
  limit: z.number().int().min(1).max(999).default(100),
});
export type UsersPageInput = z.input<typeof UsersPageInputSchema>;

export interface UsersPage {
  users: ReportRow[];
  /** Absent on the last page. */
  nextCursor?: string | undefined;
}

interface Cursor {
  /** Path after the Graph version (always under /users) and query of the Graph page to read. */
  url: string;
  query: Record<string, string>;
  /** Users of that Graph page already handed out. */
  offset: number;
}

const SELECT = "id,userPrincipalName,displayName,userType,accountEnabled,assignedLicenses,perUserMfaState";

/**
 * One page of a tenant's users with their per-user MFA state, for screens and APIs that page
 * (cursor in, cursor out). The cursor holds only a Graph path under /users and an offset, so a
 * forged cursor cannot send the server anywhere else. `sort` is Graph's `$orderby` (with `search`, an advanced
 * query: `$count=true` and `ConsistencyLevel: eventual`). With a state filter, Graph pages are read
 * until the page is full or the tenant ends; the states missing from the listing are read per user.
 */
export async function usersPage(engine: BatchEngine, raw: UsersPageInput, signal?: AbortSignal): Promise<UsersPage> {
  const input = UsersPageInputSchema.parse(raw);
  const port = enginePort(engine);
  let cursor: Cursor = input.cursor ? decodeCursor(input.cursor) : firstPage(input.limit, input.search, input.sort);
  const users: ReportRow[] = [];
  // Bounded work per call: a sparse state filter returns a short page with a cursor, not a whole-tenant scan.
  for (let pages = 0; pages < 20; pages++) {
    const res = ok(
      await engine.direct<{ value?: WireUser[]; "@odata.nextLink"?: string }>({ tenant: input.tenant, version: "v1.0", method: "GET", url: cursor.url, query: cursor.query, ...advancedHeaders(cursor.query), signal }),
      input.tenant,
      undefined,
      "GET /users",
    );
    const page = res.body?.value;
    if (!Array.isArray(page)) throw new GraphError(`Graph listed the users of ${input.tenant} without a "value" array.`, { status: res.status, code: "UnexpectedResponse", tenant: input.tenant, requestId: res.requestId });
    const rest = page.slice(cursor.offset);
    const rows = await readStates(rest, input.tenant, port, signal);
    let used = 0;
    for (const row of rows) {
      if (users.length === input.limit) break;
      used++;
      if (!input.states?.length || input.states.includes(row.perUserMfaState)) users.push(row);
    }
    const next = res.body?.["@odata.nextLink"];
    if (cursor.offset + used < page.length) return { users, nextCursor: encodeCursor({ ...cursor, offset: cursor.offset + used }) };
    if (typeof next !== "string" || next === "") return { users };
    const link = relativeNextLink(next, input.tenant);
    // Should a next link drop $count, the following pages are still the advanced query they continue.
    const query = isAdvanced(cursor.query) && !isAdvanced(link.query) ? { ...link.query, $count: "true" } : link.query;
    cursor = { url: link.url, query, offset: 0 };
    if (users.length === input.limit) return { users, nextCursor: encodeCursor(cursor) };
  }
  return { users, nextCursor: encodeCursor(cursor) };
}

async function readStates(page: WireUser[], tenant: string, port: ReturnType<typeof enginePort>, signal: AbortSignal | undefined): Promise<ReportRow[]> {
  const indexed = page.map((user, i) => ({ user, i }));
  const out = new Array<ReportRow>(page.length);
  for await (const row of mapConcurrent(indexed, 100, async ({ user, i }) => {
    const state: MfaStateRead = Object.hasOwn(user, "perUserMfaState")
      ? readMfaState(user.perUserMfaState)
      : (await port.readState(tenant, { id: user.id ?? "", userPrincipalName: user.userPrincipalName ?? "" }, signal)).state;
    return { i, row: reportRowOf(tenant, user, state) };
  })) {
    out[row.i] = row.row;
  }
  return out.filter((r): r is ReportRow => r !== undefined);
}

function firstPage(limit: number, search: string | undefined, sort: z.output<typeof UserSortSchema> | undefined): Cursor {
  const query: Record<string, string> = { $select: SELECT, $top: String(limit) };
  if (search) {
    const lit = odataString(search);
    query.$filter = `startswith(displayName,${lit}) or startswith(userPrincipalName,${lit})`;
  }
  if (sort) {
    query.$orderby = `${sort.by} ${sort.direction}`;
    // $filter with $orderby is an advanced query: $count=true here, ConsistencyLevel from advancedHeaders.
    if (search) query.$count = "true";
  }
  return { url: "/users", query, offset: 0 };
}

/**
 * An advanced query needs `ConsistencyLevel: eventual` on every page. Graph's next links keep `$count=true`, so the
 * header follows from the query and the cursor need not carry headers.
 */
function advancedHeaders(query: Record<string, string>): { headers?: Record<string, string> } {
  return isAdvanced(query) ? { headers: { ConsistencyLevel: "eventual" } } : {};
}

const isAdvanced = (query: Record<string, string>) => Object.entries(query).some(([k, v]) => k.toLowerCase() === "$count" && v.toLowerCase() === "true");

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.url, c.query, c.offset]), "utf8").toString("base64url");
}

function decodeCursor(text: string): Cursor {
  const bad = () => new UsageError("The cursor is not one this server handed out: start again without it.");
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!Array.isArray(value) || value.length !== 3) throw bad();
  const [url, query, offset] = value as [unknown, unknown, unknown];
  if (typeof url !== "string" || url !== "/users") throw bad();
  if (typeof query !== "object" || query === null || Array.isArray(query)) throw bad();
  if (!Object.values(query).every((v) => typeof v === "string")) throw bad();
  if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0 || offset > 999) throw bad();
  return { url, query: query as Record<string, string>, offset };
}
