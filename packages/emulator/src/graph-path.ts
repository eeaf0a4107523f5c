/** Turns a Graph path (after the version) into the resource it names. */
import type { GraphVersion } from "./graph-types.js";
import type { QueryError } from "./users-query.js";

/**
 * A type-cast segment after a directoryObject collection: only users and groups exist in the emulator,
 * so the other types Graph accepts there ("other") always give an empty collection.
 */
export type DirectoryCast = "user" | "group" | "other" | undefined;

export type GraphRoute =
  | { kind: "userList" }
  | { kind: "user"; ref: string }
  | { kind: "requirements"; ref: string }
  | { kind: "authMethods"; ref: string }
  | { kind: "memberOf"; ref: string; transitive: boolean; cast: DirectoryCast }
  | { kind: "groupList" }
  | { kind: "group"; id: string }
  | { kind: "groupMembers"; id: string; transitive: boolean; cast: DirectoryCast }
  | { kind: "roleDefinitions" }
  | { kind: "roleDefinition"; id: string }
  | { kind: "roleAssignments" }
  | { kind: "roleAssignment"; id: string }
  | { kind: "securityDefaults" }
  | { kind: "caPolicies" }
  | { kind: "caPolicy"; id: string }
  | { kind: "registrationDetails" }
  | { kind: "registrationDetail"; id: string }
  | { kind: "gdapCustomers"; id: string | undefined }
  | { kind: "gdapRelationships"; id: string | undefined; accessAssignments: boolean }
  | { kind: "applications" }
  | { kind: "subscribedSkus" }
  | { kind: "error"; error: QueryError };

/** Collections: they cost 2 RU like `GET /users` (other GETs 1). */
export function isListRoute(route: GraphRoute): boolean {
  switch (route.kind) {
    case "userList":
    case "authMethods":
    case "memberOf":
    case "groupList":
    case "groupMembers":
    case "roleDefinitions":
    case "roleAssignments":
    case "caPolicies":
    case "registrationDetails":
    case "gdapCustomers":
    case "gdapRelationships":
    case "applications":
    case "subscribedSkus":
      return true;
    default:
      return false;
  }
}

/** The endpoints with a request limit of their own (Throttling: reports, Conditional Access). */
export function specialLimitOf(route: GraphRoute): "reports" | "conditionalAccess" | undefined {
  if (route.kind === "registrationDetails" || route.kind === "registrationDetail") return "reports";
  if (route.kind === "caPolicies" || route.kind === "caPolicy") return "conditionalAccess";
  return undefined;
}

const segmentNotFound = (segment: string): GraphRoute => ({
  kind: "error",
  error: { status: 400, code: "BadRequest", message: `Resource not found for the segment '${segment}'.` },
});

/** OData key form users('...') or groups('...'), with '' as an escaped quote. */
function keyForm(segment: string): { set: string; key: string } | undefined {
  const m = /^(users|groups)\('((?:[^']|'')*)'\)$/i.exec(segment);
  if (!m) return undefined;
  return { set: (m[1] as string).toLowerCase(), key: (m[2] as string).replace(/''/g, "'") };
}

/** The derived types Graph accepts as a cast on members (of a group) and on memberOf (of a user). */
const MEMBER_CASTS: Record<string, DirectoryCast> = {
  "microsoft.graph.user": "user",
  "microsoft.graph.group": "group",
  "microsoft.graph.device": "other",
  "microsoft.graph.serviceprincipal": "other",
  "microsoft.graph.orgcontact": "other",
};
const MEMBER_OF_CASTS: Record<string, DirectoryCast> = {
  "microsoft.graph.group": "group",
  "microsoft.graph.directoryrole": "other",
  "microsoft.graph.administrativeunit": "other",
};

/** `[cast]` after a collection segment: undefined when the path ends there. */
function castFrom(rest: string[], allowed: Record<string, DirectoryCast>): { cast: DirectoryCast } | GraphRoute {
  const [segment, ...more] = rest;
  if (segment === undefined) return { cast: undefined };
  const cast = allowed[segment.toLowerCase()];
  if (cast === undefined) return segmentNotFound(segment);
  if (more.length > 0) return segmentNotFound(more[0] ?? "");
  return { cast };
}

export function splitPathAndQuery(pathAndQuery: string): { path: string; search: string } {
  const q = pathAndQuery.indexOf("?");
  return q < 0 ? { path: pathAndQuery, search: "" } : { path: pathAndQuery.slice(0, q), search: pathAndQuery.slice(q + 1) };
}

export function parseGraphPath(path: string, version: GraphVersion): GraphRoute {
  const raw = path.split("/").filter((s) => s !== "");
  let decoded: string[];
  try {
    decoded = raw.map((s) => decodeURIComponent(s));
  } catch {
    return { kind: "error", error: { status: 400, code: "BadRequest", message: "The request URI is not valid: bad percent-encoding." } };
  }
  const [first, ...rest] = decoded;
  if (first === undefined) return segmentNotFound("");
  const keyed = keyForm(first);
  const set = keyed?.set ?? first.toLowerCase();
  let ref: string;
  let tail: string[];
  if (keyed !== undefined) {
    ref = keyed.key;
    tail = rest;
  } else if (set === "users" || set === "groups") {
    if (rest.length === 0) return set === "users" ? { kind: "userList" } : { kind: "groupList" };
    // A literal "$" starts an OData system segment ($count, $ref): such UPNs need %24 or users('...').
    if ((raw[1] ?? "").startsWith("$")) return segmentNotFound(rest[0] ?? "");
    ref = rest[0] ?? "";
    tail = rest.slice(1);
  } else if (set === "rolemanagement") {
    return roleManagementRoute(rest);
  } else if (set === "policies" || set === "identity" || set === "reports") {
    return postureRoute(set, rest);
  } else if (set === "tenantrelationships") {
    return tenantRelationshipsRoute(rest);
  } else if (set === "applications" || set === "subscribedskus") {
    if (rest.length > 0) return segmentNotFound(rest[0] ?? "");
    return set === "applications" ? { kind: "applications" } : { kind: "subscribedSkus" };
  } else if (set === "me") {
    return { kind: "error", error: { status: 400, code: "BadRequest", message: "/me request is only valid with delegated authentication flow." } };
  } else {
    return segmentNotFound(first);
  }
  return set === "users" ? userRoute(ref, tail, version) : groupRoute(ref, tail);
}

function userRoute(ref: string, tail: string[], version: GraphVersion): GraphRoute {
  if (tail.length === 0) return { kind: "user", ref };
  const [seg1, seg2, ...more] = tail;
  const name = seg1?.toLowerCase();
  if (name === "memberof" || name === "transitivememberof") {
    const cast = castFrom(tail.slice(1), MEMBER_OF_CASTS);
    if ("kind" in cast) return cast;
    return { kind: "memberOf", ref, transitive: name === "transitivememberof", cast: cast.cast };
  }
  if (name !== "authentication") return segmentNotFound(seg1 ?? "");
  if (seg2 === undefined) return segmentNotFound(seg1 ?? "authentication");
  if (more.length > 0) return segmentNotFound(more[0] ?? "");
  // Both versions list methods; only beta has the requirements segment.
  if (seg2.toLowerCase() === "methods") return { kind: "authMethods", ref };
  if (seg2.toLowerCase() !== "requirements" || version !== "beta") return segmentNotFound(seg2);
  return { kind: "requirements", ref };
}

function groupRoute(id: string, tail: string[]): GraphRoute {
  if (tail.length === 0) return { kind: "group", id };
  const name = tail[0]?.toLowerCase();
  if (name !== "members" && name !== "transitivemembers") return segmentNotFound(tail[0] ?? "");
  const cast = castFrom(tail.slice(1), MEMBER_CASTS);
  if ("kind" in cast) return cast;
  return { kind: "groupMembers", id, transitive: name === "transitivemembers", cast: cast.cast };
}

/** roleManagement/directory/roleDefinitions[/{id}] and roleManagement/directory/roleAssignments[/{id}]. */
function roleManagementRoute(rest: string[]): GraphRoute {
  const [provider, collection, id, ...more] = rest;
  if (provider === undefined) return segmentNotFound("roleManagement");
  if (provider.toLowerCase() !== "directory") return segmentNotFound(provider);
  if (collection === undefined) return segmentNotFound(provider);
  const name = collection.toLowerCase();
  if (name !== "roledefinitions" && name !== "roleassignments") return segmentNotFound(collection);
  if (more.length > 0) return segmentNotFound(more[0] ?? "");
  if (id === undefined) return name === "roledefinitions" ? { kind: "roleDefinitions" } : { kind: "roleAssignments" };
  if (id.startsWith("$")) return segmentNotFound(id);
  return name === "roledefinitions" ? { kind: "roleDefinition", id } : { kind: "roleAssignment", id };
}

/** tenantRelationships/delegatedAdminCustomers[/{id}], tenantRelationships/delegatedAdminRelationships[/{id}[/accessAssignments]]. */
function tenantRelationshipsRoute(rest: string[]): GraphRoute {
  const [collection, id, sub, ...more] = rest;
  if (collection === undefined) return segmentNotFound("tenantRelationships");
  const name = collection.toLowerCase();
  if (id !== undefined && id.startsWith("$")) return segmentNotFound(id);
  if (name === "delegatedadmincustomers") return sub === undefined ? { kind: "gdapCustomers", id } : segmentNotFound(sub);
  if (name !== "delegatedadminrelationships") return segmentNotFound(collection);
  if (more.length > 0) return segmentNotFound(more[0] ?? "");
  if (sub !== undefined && sub.toLowerCase() !== "accessassignments") return segmentNotFound(sub);
  return { kind: "gdapRelationships", id, accessAssignments: sub !== undefined };
}

/** A fixed chain of segments (case-insensitive), then an optional id. */
function chain(rest: string[], names: readonly string[]): { ok: true; id: string | undefined } | GraphRoute {
  for (let i = 0; i < names.length; i++) {
    const seg = rest[i];
    if (seg === undefined) return segmentNotFound(rest[i - 1] ?? names[0] ?? "");
    if (seg.toLowerCase() !== (names[i] as string).toLowerCase()) return segmentNotFound(seg);
  }
  const [id, ...more] = rest.slice(names.length);
  if (more.length > 0) return segmentNotFound(more[0] ?? "");
  if (id !== undefined && id.startsWith("$")) return segmentNotFound(id);
  return { ok: true, id };
}

/** policies/identitySecurityDefaultsEnforcementPolicy, identity/conditionalAccess/policies[/{id}], reports/authenticationMethods/userRegistrationDetails[/{id}]. */
function postureRoute(set: string, rest: string[]): GraphRoute {
  if (set === "policies") {
    const c = chain(rest, ["identitySecurityDefaultsEnforcementPolicy"]);
    if ("kind" in c) return c;
    return c.id === undefined ? { kind: "securityDefaults" } : segmentNotFound(c.id);
  }
  if (set === "identity") {
    const c = chain(rest, ["conditionalAccess", "policies"]);
    if ("kind" in c) return c;
    return c.id === undefined ? { kind: "caPolicies" } : { kind: "caPolicy", id: c.id };
  }
  const c = chain(rest, ["authenticationMethods", "userRegistrationDetails"]);
  if ("kind" in c) return c;
  return c.id === undefined ? { kind: "registrationDetails" } : { kind: "registrationDetail", id: c.id };
}
