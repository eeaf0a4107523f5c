/** OData query options on /users: $select, $top, $skiptoken, $count, $orderby, and the few $filter clauses mfactl uses; paging shared by every collection. */
import { LICENSE_SKUS, type UserRecord } from "./model.js";
import { signInActivity } from "./posture.js";

/** Properties a client may $select (a subset of microsoft.graph.user, plus the undocumented perUserMfaState). */
export const USER_PROPERTIES = [
  "id", "userPrincipalName", "displayName", "givenName", "surname", "userType", "accountEnabled", "assignedLicenses",
  "mail", "perUserMfaState", "businessPhones", "jobTitle", "mobilePhone", "officeLocation", "preferredLanguage",
] as const;
export type UserProperty = (typeof USER_PROPERTIES)[number];

/** Graph's default user properties when no $select is given. */
export const DEFAULT_USER_SELECT: readonly UserProperty[] = [
  "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
];

/** On /users and /users/{id} only (not on members or memberOf): needs AuditLog.Read.All and a premium tenant. */
export const SIGN_IN_ACTIVITY = "signInActivity";
export type UserSelectable = UserProperty | typeof SIGN_IN_ACTIVITY;

const BY_LOWER = new Map<string, UserSelectable>([...USER_PROPERTIES, SIGN_IN_ACTIVITY].map((p) => [p.toLowerCase(), p as UserSelectable]));

export interface QueryError {
  status: number;
  code: string;
  message: string;
}

export const isQueryError = (v: unknown): v is QueryError => typeof v === "object" && v !== null && "code" in v && "status" in v;

/** Query options by lower-case name ("$select", "$top", ...). */
export function queryOptions(search: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(search)) out.set(k.toLowerCase(), v);
  return out;
}

const noProperty = (name: string): QueryError => ({
  status: 400,
  code: "Request_BadRequest",
  message: `Could not find a property named '${name}' on type 'microsoft.graph.user'.`,
});

export function parseSelect(value: string | undefined): UserSelectable[] | undefined | QueryError {
  if (value === undefined) return undefined;
  const out: UserSelectable[] = [];
  for (const raw of value.split(",")) {
    const name = raw.trim();
    if (!name) continue;
    const prop = BY_LOWER.get(name.toLowerCase());
    if (!prop) return noProperty(name);
    if (!out.includes(prop)) out.push(prop);
  }
  return out.length > 0 ? out : undefined;
}

export function projectUser(u: UserRecord, select: readonly UserSelectable[] | undefined, includeState: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of select ?? DEFAULT_USER_SELECT) {
    switch (p) {
      case "assignedLicenses":
        out[p] = u.licensed ? LICENSE_SKUS.map((skuId) => ({ disabledPlans: [], skuId })) : [];
        break;
      case "businessPhones":
        out[p] = [];
        break;
      case "jobTitle":
      case "mobilePhone":
      case "officeLocation":
      case "preferredLanguage":
        out[p] = null;
        break;
      case "perUserMfaState":
        // Undocumented on the user resource: it may be absent; clients fall back to per-user reads.
        if (includeState) out[p] = u.perUserMfaState;
        break;
      case "signInActivity":
        out[p] = signInActivity(u);
        break;
      default:
        out[p] = u[p];
    }
  }
  return out;
}

export interface ListQuery {
  select: UserSelectable[] | undefined;
  top: number;
  count: boolean;
  matches: (u: UserRecord) => boolean;
  /** Absent: the tenant's own order. */
  order: UserOrder | undefined;
  /** Index in the (sorted) user array to resume scanning from. */
  start: number;
}

/** Graph sorts users on these two only (user resource: "$orderby" on displayName and userPrincipalName). */
export const ORDERBY_PROPERTIES = ["displayName", "userPrincipalName"] as const;
export type UserOrderProperty = (typeof ORDERBY_PROPERTIES)[number];
export interface UserOrder {
  by: UserOrderProperty;
  descending: boolean;
}

const isOrderProperty = (p: string): p is UserOrderProperty => (ORDERBY_PROPERTIES as readonly string[]).includes(p);

/** `$orderby=displayName`, `userPrincipalName desc`, ...: one property, `asc`/`desc` in any case. */
export function parseOrderBy(value: string | undefined): UserOrder | undefined | QueryError {
  if (value === undefined || value.trim() === "") return undefined;
  const orders: UserOrder[] = [];
  for (const clause of value.split(",").map((c) => c.trim())) {
    const m = /^([A-Za-z][A-Za-z0-9]*)(?:\s+(asc|desc))?$/i.exec(clause);
    if (!m) return { status: 400, code: "BadRequest", message: `Invalid $orderby clause '${clause}'.` };
    const name = m[1] ?? "";
    const prop = BY_LOWER.get(name.toLowerCase());
    if (!prop) return noProperty(name);
    if (!isOrderProperty(prop)) return { status: 400, code: "Request_UnsupportedQuery", message: `Unsupported sort property '${prop}' for 'User'.` };
    orders.push({ by: prop, descending: m[2]?.toLowerCase() === "desc" });
  }
  const [first, ...rest] = orders;
  if (rest.length > 0) return { status: 400, code: "Request_UnsupportedQuery", message: "Sorting on more than one property is not supported." };
  return first;
}

/** Case-insensitive on the property, ties by id (so paging by position is stable); desc reverses the names only. */
function compareUsers(order: UserOrder): (a: UserRecord, b: UserRecord) => number {
  const sign = order.descending ? -1 : 1;
  return (a, b) => {
    const x = a[order.by].toLowerCase();
    const y = b[order.by].toLowerCase();
    if (x !== y) return x < y ? -sign : sign;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };
}

/** Sorted copies per user array and order: every page of a large tenant would otherwise sort it again. */
const sortedCache = new WeakMap<readonly UserRecord[], Map<string, readonly UserRecord[]>>();

/** The users in `order`; a cached copy is reused only while still in order (an admin rename may break it). */
export function sortUsers(users: readonly UserRecord[], order: UserOrder): readonly UserRecord[] {
  const key = `${order.by}:${order.descending ? "desc" : "asc"}`;
  let byOrder = sortedCache.get(users);
  if (!byOrder) sortedCache.set(users, (byOrder = new Map()));
  const compare = compareUsers(order);
  const cached = byOrder.get(key);
  if (cached && cached.length === users.length && cached.every((u, i) => i === 0 || compare(cached[i - 1] as UserRecord, u) < 0)) return cached;
  const sorted = [...users].sort(compare);
  byOrder.set(key, sorted);
  return sorted;
}

const unsupportedFilter = (prop: string): QueryError => ({
  status: 400,
  code: "Request_UnsupportedQuery",
  message: `Unsupported or invalid query filter clause specified for property '${prop}' of resource 'User'.`,
});

/** Properties `startswith` works on (Graph: the string properties that support $filter with startsWith). */
const STARTSWITH_PROPERTIES: ReadonlySet<string> = new Set(["displayName", "userPrincipalName", "mail", "givenName", "surname"]);

/** Splits on a keyword ("and", "or") outside quotes and parentheses. */
function splitTopLevel(text: string, keyword: "and" | "or"): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  const re = new RegExp(`^\\s+${keyword}\\s+`, "i");
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'") quoted = !quoted;
    else if (!quoted && ch === "(") depth++;
    else if (!quoted && ch === ")") depth--;
    else if (!quoted && depth === 0 && /\s/.test(ch ?? "")) {
      const m = re.exec(text.slice(i));
      if (m) {
        parts.push(text.slice(start, i));
        i += m[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

/** Strips parentheses around a whole clause. */
function unwrap(clause: string): string {
  let c = clause.trim();
  while (c.startsWith("(") && c.endsWith(")") && balanced(c.slice(1, -1))) c = c.slice(1, -1).trim();
  return c;
}

function balanced(text: string): boolean {
  let depth = 0;
  let quoted = false;
  for (const ch of text) {
    if (ch === "'") quoted = !quoted;
    else if (!quoted && ch === "(") depth++;
    else if (!quoted && ch === ")" && --depth < 0) return false;
  }
  return depth === 0;
}

/**
 * Supports: userType eq 'Member'|'Guest', accountEnabled eq true|false, assignedLicenses/$count ne 0,
 * startswith(displayName|userPrincipalName|mail|givenName|surname,'text') (case-insensitive, '' escapes
 * a quote), joined by "and" and "or", with parentheses.
 */
function parseFilter(filter: string, advanced: boolean): ((u: UserRecord) => boolean) | QueryError {
  const all: ((u: UserRecord) => boolean)[] = [];
  for (const conjunct of splitTopLevel(unwrap(filter), "and")) {
    const any: ((u: UserRecord) => boolean)[] = [];
    for (const raw of splitTopLevel(unwrap(conjunct), "or")) {
      const clause = unwrap(raw);
      let m: RegExpExecArray | null;
      if (splitTopLevel(clause, "and").length > 1 || splitTopLevel(clause, "or").length > 1) {
        const nested = parseFilter(clause, advanced);
        if (isQueryError(nested)) return nested;
        any.push(nested);
      } else if ((m = /^userType\s+eq\s+'(member|guest)'$/i.exec(clause))) {
        const want = m[1]?.toLowerCase() === "member" ? "Member" : "Guest";
        any.push((u) => u.userType === want);
      } else if ((m = /^accountEnabled\s+eq\s+(true|false)$/i.exec(clause))) {
        const want = m[1]?.toLowerCase() === "true";
        any.push((u) => u.accountEnabled === want);
      } else if (/^assignedLicenses\/\$count\s+ne\s+0$/i.test(clause)) {
        // An "advanced query": only with ConsistencyLevel: eventual and $count=true.
        if (!advanced) return unsupportedFilter("assignedLicenses");
        any.push((u) => u.licensed);
      } else if ((m = /^startswith\(\s*([A-Za-z]+)\s*,\s*'((?:[^']|'')*)'\s*\)$/i.exec(clause))) {
        const prop = BY_LOWER.get((m[1] ?? "").toLowerCase());
        if (!prop) return noProperty(m[1] ?? "");
        if (!STARTSWITH_PROPERTIES.has(prop)) return unsupportedFilter(prop);
        const prefix = (m[2] ?? "").replaceAll("''", "'").toLowerCase();
        any.push((u) => {
          const value = (u as unknown as Record<string, unknown>)[prop];
          return typeof value === "string" && value.toLowerCase().startsWith(prefix);
        });
      } else {
        const name = /^[A-Za-z][A-Za-z0-9]*/.exec(clause)?.[0];
        if (name === undefined) return { status: 400, code: "BadRequest", message: "Invalid filter clause" };
        if (!BY_LOWER.has(name.toLowerCase())) return noProperty(name);
        return unsupportedFilter(name);
      }
    }
    all.push((u) => any.some((t) => t(u)));
  }
  return (u) => all.every((t) => t(u));
}

export function encodeSkipToken(tenantId: string, position: number): string {
  return Buffer.from(`mfactl-emulator:${tenantId}:${position}`, "utf8").toString("base64url");
}

function decodeSkipToken(tenantId: string, token: string): number | undefined {
  const text = Buffer.from(token, "base64url").toString("utf8");
  const m = /^mfactl-emulator:([0-9a-f-]+):(\d+)$/.exec(text);
  if (!m || m[1] !== tenantId) return undefined;
  return Number(m[2]);
}

const SUPPORTED_OPTIONS = new Set(["$select", "$top", "$skiptoken", "$count", "$filter", "$orderby"]);

/** Paging and counting, shared by every directory collection: $top (1..999, default 100), $count, $skiptoken. */
export interface Paging {
  top: number;
  count: boolean;
  /** ConsistencyLevel: eventual was sent. */
  eventual: boolean;
  /** Position in the collection to resume from. */
  start: number;
}

/** Rejects `$` options outside `supported`; `onExpand` answers a stray $expand (Graph names the property). */
export function checkOptions(options: Map<string, string>, supported: ReadonlySet<string>, onExpand: (value: string) => QueryError): QueryError | undefined {
  for (const name of options.keys())
    if (name.startsWith("$") && !supported.has(name)) {
      if (name === "$expand") return onExpand(options.get(name) ?? "");
      return { status: 400, code: "Request_UnsupportedQuery", message: `Query option '${name}' is not supported.` };
    }
  return undefined;
}

export function parsePaging(options: Map<string, string>, headers: Record<string, string>, tenantId: string): Paging | QueryError {
  let top = 100;
  const topText = options.get("$top");
  if (topText !== undefined) {
    if (!/^\d+$/.test(topText.trim())) return { status: 400, code: "BadRequest", message: `Invalid value '${topText}' for query option $top.` };
    top = Number(topText.trim());
    if (top < 1 || top > 999)
      return { status: 400, code: "Request_BadRequest", message: `Invalid page size specified: '${top}'. Must be between 1 and 999 inclusive.` };
  }

  const eventual = (headers["consistencylevel"] ?? "").toLowerCase() === "eventual";
  const countText = options.get("$count")?.toLowerCase();
  if (countText !== undefined && countText !== "true" && countText !== "false")
    return { status: 400, code: "BadRequest", message: `Invalid value '${countText}' for query option $count.` };
  const count = countText === "true";
  if (count && !eventual) return { status: 400, code: "Request_BadRequest", message: "$count is not currently supported." };

  let start = 0;
  const skip = options.get("$skiptoken");
  if (skip !== undefined) {
    const position = decodeSkipToken(tenantId, skip);
    if (position === undefined)
      return { status: 400, code: "Directory_ExpiredPageToken", message: "The specified page token value has expired and can no longer be included in your request." };
    start = position;
  }
  return { top, count, eventual, start };
}

export function parseListQuery(options: Map<string, string>, headers: Record<string, string>, tenantId: string): ListQuery | QueryError {
  const unsupported = checkOptions(options, SUPPORTED_OPTIONS, noProperty);
  if (unsupported) return unsupported;
  const select = parseSelect(options.get("$select"));
  if (isQueryError(select)) return select;
  const paging = parsePaging(options, headers, tenantId);
  if (isQueryError(paging)) return paging;

  const order = parseOrderBy(options.get("$orderby"));
  if (isQueryError(order)) return order;

  const advanced = paging.eventual && paging.count;
  let matches: (u: UserRecord) => boolean = () => true;
  const filterText = options.get("$filter");
  if (filterText !== undefined && filterText.trim() !== "") {
    const parsed = parseFilter(filterText, advanced);
    if (isQueryError(parsed)) return parsed;
    matches = parsed;
    // $filter with $orderby is an advanced query.
    if (order && !advanced) return { status: 400, code: "Request_UnsupportedQuery", message: "Sorting not supported for current query." };
  }
  return { select, top: paging.top, count: paging.count, matches, order, start: paging.start };
}

/** Resource units of a Graph request (identity throttling table): list GETs 2, other GETs 1, writes 1 + 1 write. */
export function requestCost(method: string, isList: boolean, options: Map<string, string>): { ru: number; writes: number } {
  const write = method !== "GET" && method !== "HEAD";
  let ru = !write && isList ? 2 : 1;
  if (options.has("$select")) ru -= 1;
  if (options.has("$expand")) ru += 1;
  const top = Number(options.get("$top"));
  if (Number.isFinite(top) && top < 20) ru -= 1;
  return { ru: Math.max(1, ru), writes: write ? 1 : 0 };
}
