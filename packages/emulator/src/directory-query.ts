/** OData options on groups, directoryObject collections (members, memberOf) and role management: $select, $filter, $expand. */
import { ROLE_DEFINITIONS, type GroupRecord, type RoleAssignmentRecord, type RoleDefinition, type UserRecord } from "./model.js";
import { USER_PROPERTIES, type QueryError, type UserProperty } from "./users-query.js";

/** Properties a client may $select on a group (a subset of microsoft.graph.group). */
export const GROUP_PROPERTIES = [
  "id", "displayName", "description", "groupTypes", "isAssignableToRole", "mail", "mailEnabled", "mailNickname", "securityEnabled", "visibility",
] as const;
export type GroupProperty = (typeof GROUP_PROPERTIES)[number];

/** Graph's default group properties (the emulated subset, in Graph's order). */
export const DEFAULT_GROUP_SELECT: readonly GroupProperty[] = [
  "id", "description", "displayName", "groupTypes", "isAssignableToRole", "mail", "mailEnabled", "mailNickname", "securityEnabled", "visibility",
];

export const ROLE_DEFINITION_PROPERTIES = ["id", "description", "displayName", "isBuiltIn", "isEnabled", "resourceScopes", "templateId", "version", "rolePermissions"] as const;
export const ROLE_ASSIGNMENT_PROPERTIES = ["id", "principalId", "resourceScope", "directoryScopeId", "roleDefinitionId"] as const;

export const noProperty = (name: string, type: string): QueryError => ({
  status: 400,
  code: "Request_BadRequest",
  message: `Could not find a property named '${name}' on type 'microsoft.graph.${type}'.`,
});

/** $select against a property list, canonical casing, no duplicates; undefined when absent or empty. */
export function parseSelectOf<P extends string>(value: string | undefined, properties: readonly P[], type: string): P[] | undefined | QueryError {
  if (value === undefined) return undefined;
  const byLower = new Map<string, P>(properties.map((p) => [p.toLowerCase(), p]));
  const out: P[] = [];
  for (const raw of value.split(",")) {
    const name = raw.trim();
    if (!name) continue;
    const prop = byLower.get(name.toLowerCase());
    if (!prop) return noProperty(name, type);
    if (!out.includes(prop)) out.push(prop);
  }
  return out.length > 0 ? out : undefined;
}

/** A $select over a collection that may hold users and groups: each type keeps the properties it has. */
export interface DirectorySelect {
  /** As the client gave it (for @odata.context); undefined without $select. */
  names: string[] | undefined;
  user: UserProperty[] | undefined;
  group: GroupProperty[] | undefined;
}

const DIRECTORY_OBJECT_PROPERTIES: readonly string[] = [...new Set<string>([...USER_PROPERTIES, ...GROUP_PROPERTIES])];

export function parseDirectorySelect(value: string | undefined, cast: "user" | "group" | undefined): DirectorySelect | QueryError {
  const properties = cast === "user" ? USER_PROPERTIES : cast === "group" ? GROUP_PROPERTIES : DIRECTORY_OBJECT_PROPERTIES;
  const names = parseSelectOf<string>(value, properties, cast ?? "directoryObject");
  if (names === undefined) return { names: undefined, user: undefined, group: undefined };
  if (!Array.isArray(names)) return names;
  // In the client's order, as Graph answers.
  return {
    names,
    user: names.filter((n): n is UserProperty => (USER_PROPERTIES as readonly string[]).includes(n)),
    group: names.filter((n): n is GroupProperty => (GROUP_PROPERTIES as readonly string[]).includes(n)),
  };
}

/** Security groups created in the portal: no mail, not mail-enabled, no group types. */
export function projectGroup(g: GroupRecord, select: readonly GroupProperty[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of select ?? DEFAULT_GROUP_SELECT) {
    switch (p) {
      case "groupTypes":
        out[p] = [];
        break;
      case "mailEnabled":
        out[p] = false;
        break;
      case "securityEnabled":
        out[p] = true;
        break;
      case "mailNickname":
        out[p] = g.displayName.replace(/[^A-Za-z0-9]/g, "") || "group";
        break;
      case "isAssignableToRole":
      case "mail":
      case "visibility":
        out[p] = null;
        break;
      default:
        out[p] = g[p];
    }
  }
  return out;
}

export function projectRoleDefinition(r: RoleDefinition, select: readonly string[] | undefined): Record<string, unknown> {
  // Permissions are not emulated: rolePermissions is empty (see docs/emulator-fidelity.md).
  const full: Record<string, unknown> = {
    id: r.id, description: r.description, displayName: r.displayName, isBuiltIn: true, isEnabled: true, resourceScopes: ["/"], templateId: r.id, version: "1", rolePermissions: [],
  };
  if (select === undefined) return full;
  return Object.fromEntries(select.map((p) => [p, full[p]]));
}

export function projectRoleAssignment(a: RoleAssignmentRecord, select: readonly string[] | undefined): Record<string, unknown> {
  const full: Record<string, unknown> = { id: a.id, principalId: a.principalId, resourceScope: a.directoryScopeId, directoryScopeId: a.directoryScopeId, roleDefinitionId: a.roleDefinitionId };
  if (select === undefined) return full;
  return Object.fromEntries(select.map((p) => [p, full[p]]));
}

/** An expanded principal: the user's main directoryObject properties. */
export function principalObject(u: UserRecord): Record<string, unknown> {
  return {
    "@odata.type": "#microsoft.graph.user",
    id: u.id,
    accountEnabled: u.accountEnabled,
    displayName: u.displayName,
    mail: u.mail,
    userPrincipalName: u.userPrincipalName,
    userType: u.userType,
  };
}

export type RoleExpand = "principal" | "roleDefinition";

export function parseRoleExpand(value: string | undefined): RoleExpand[] | QueryError {
  if (value === undefined) return [];
  const out: RoleExpand[] = [];
  for (const raw of value.split(",")) {
    const name = raw.trim();
    if (!name) continue;
    const lower = name.toLowerCase();
    const known: RoleExpand | undefined = lower === "principal" ? "principal" : lower === "roledefinition" ? "roleDefinition" : undefined;
    if (!known) return noProperty(name, "unifiedRoleAssignment");
    if (!out.includes(known)) out.push(known);
  }
  return out;
}

// ---- $filter ---------------------------------------------------------------------------------

/** One supported clause: a sticky pattern and what a match tests. */
interface Clause<T> {
  pattern: RegExp;
  test: (m: RegExpExecArray) => (x: T) => boolean;
}

/** OData string literal body: '' stands for one quote. */
const LITERAL = "'((?:[^']|'')*)'";
const unquote = (s: string | undefined) => (s ?? "").replace(/''/g, "'");
const eqString = (prop: string) => new RegExp(`${prop}\\s+eq\\s+${LITERAL}`, "iy");
const eqBool = (prop: string) => new RegExp(`${prop}\\s+eq\\s+(true|false)`, "iy");

/**
 * Clauses joined by `and`, read left to right (a literal may itself contain " and "). An unknown
 * property -> Request_BadRequest; a known property in an unsupported clause -> Request_UnsupportedQuery.
 */
function parseClauses<T>(text: string, clauses: readonly Clause<T>[], properties: readonly string[], type: string, resource: string): ((x: T) => boolean) | QueryError {
  const tests: ((x: T) => boolean)[] = [];
  let pos = 0;
  const skipSpace = () => {
    while (pos < text.length && /\s/.test(text.charAt(pos))) pos++;
  };
  skipSpace();
  for (;;) {
    let matched = false;
    for (const clause of clauses) {
      clause.pattern.lastIndex = pos;
      const m = clause.pattern.exec(text);
      if (!m) continue;
      tests.push(clause.test(m));
      pos = clause.pattern.lastIndex;
      matched = true;
      break;
    }
    if (!matched) {
      const rest = text.slice(pos);
      // startswith(prop, ...) names its property inside the call.
      const name = /^(?:[A-Za-z]+\(\s*)?([A-Za-z][A-Za-z0-9]*)/.exec(rest)?.[1];
      if (name === undefined) return { status: 400, code: "BadRequest", message: "Invalid filter clause" };
      if (!properties.some((p) => p.toLowerCase() === name.toLowerCase())) return noProperty(name, type);
      return { status: 400, code: "Request_UnsupportedQuery", message: `Unsupported or invalid query filter clause specified for property '${name}' of resource '${resource}'.` };
    }
    const and = /\s+and\s+/iy;
    and.lastIndex = pos;
    if (and.exec(text)) {
      pos = and.lastIndex;
      continue;
    }
    skipSpace();
    if (pos === text.length) break;
    return { status: 400, code: "BadRequest", message: "Invalid filter clause" };
  }
  return (x) => tests.every((t) => t(x));
}

/** Graph compares directory strings without regard to case. */
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

const GROUP_CLAUSES: readonly Clause<GroupRecord>[] = [
  { pattern: eqString("displayName"), test: (m) => (g) => same(g.displayName, unquote(m[1])) },
  {
    pattern: new RegExp(`startswith\\(\\s*displayName\\s*,\\s*${LITERAL}\\s*\\)`, "iy"),
    test: (m) => (g) => g.displayName.toLowerCase().startsWith(unquote(m[1]).toLowerCase()),
  },
  { pattern: eqString("id"), test: (m) => (g) => same(g.id, unquote(m[1])) },
  // Every emulated group is a security group without mail.
  { pattern: eqBool("securityEnabled"), test: (m) => () => (m[1] ?? "").toLowerCase() === "true" },
  { pattern: eqBool("mailEnabled"), test: (m) => () => (m[1] ?? "").toLowerCase() === "false" },
];

/** `displayName eq '...'`, `startswith(displayName,'...')`, `id eq '...'`, `securityEnabled`/`mailEnabled eq bool`, joined by `and`. */
export function parseGroupFilter(text: string): ((g: GroupRecord) => boolean) | QueryError {
  return parseClauses(text, GROUP_CLAUSES, GROUP_PROPERTIES, "group", "Group");
}

const ROLE_DEFINITION_CLAUSES: readonly Clause<RoleDefinition>[] = [
  { pattern: eqString("displayName"), test: (m) => (r) => same(r.displayName, unquote(m[1])) },
  { pattern: eqString("id"), test: (m) => (r) => same(r.id, unquote(m[1])) },
  { pattern: eqString("templateId"), test: (m) => (r) => same(r.id, unquote(m[1])) },
  { pattern: eqBool("isBuiltIn"), test: (m) => () => (m[1] ?? "").toLowerCase() === "true" },
];

export function parseRoleDefinitionFilter(text: string): ((r: RoleDefinition) => boolean) | QueryError {
  return parseClauses(text, ROLE_DEFINITION_CLAUSES, ROLE_DEFINITION_PROPERTIES, "unifiedRoleDefinition", "unifiedRoleDefinition");
}

const ROLE_ASSIGNMENT_CLAUSES: readonly Clause<RoleAssignmentRecord>[] = [
  { pattern: eqString("roleDefinitionId"), test: (m) => (a) => same(a.roleDefinitionId, unquote(m[1])) },
  { pattern: eqString("principalId"), test: (m) => (a) => same(a.principalId, unquote(m[1])) },
  { pattern: eqString("directoryScopeId"), test: (m) => (a) => a.directoryScopeId === unquote(m[1]) },
];

/** `roleDefinitionId eq '...'`, `principalId eq '...'`, `directoryScopeId eq '/'`, joined by `and`. */
export function parseRoleAssignmentFilter(text: string): ((a: RoleAssignmentRecord) => boolean) | QueryError {
  return parseClauses(text, ROLE_ASSIGNMENT_CLAUSES, ROLE_ASSIGNMENT_PROPERTIES, "unifiedRoleAssignment", "unifiedRoleAssignment");
}

export function roleDefinitionById(id: string): RoleDefinition | undefined {
  return ROLE_DEFINITIONS.find((r) => same(r.id, id));
}
