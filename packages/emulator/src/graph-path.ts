/** Turns a Graph path (after the version) into the resource it names. */
import type { GraphVersion } from "./graph-types.js";
import type { QueryError } from "./users-query.js";

export type GraphRoute =
  | { kind: "userList" }
  | { kind: "user"; ref: string }
  | { kind: "requirements"; ref: string }
  | { kind: "error"; error: QueryError };

const segmentNotFound = (segment: string): GraphRoute => ({
  kind: "error",
  error: { status: 400, code: "BadRequest", message: `Resource not found for the segment '${segment}'.` },
});

/** OData key form users('...'), with '' as an escaped quote. */
function keyForm(segment: string): string | undefined {
  const m = /^users\('((?:[^']|'')*)'\)$/i.exec(segment);
  return m?.[1]?.replace(/''/g, "'");
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
  let ref: string | undefined;
  let tail: string[];
  const keyed = keyForm(first);
  if (keyed !== undefined) {
    ref = keyed;
    tail = rest;
  } else if (first.toLowerCase() === "users") {
    if (rest.length === 0) return { kind: "userList" };
    // A literal "$" starts an OData system segment ($count, $ref): such UPNs need %24 or users('...').
    if ((raw[1] ?? "").startsWith("$")) return segmentNotFound(rest[0] ?? "");
    ref = rest[0] ?? "";
    tail = rest.slice(1);
  } else if (first.toLowerCase() === "me") {
    return { kind: "error", error: { status: 400, code: "BadRequest", message: "/me request is only valid with delegated authentication flow." } };
  } else {
    return segmentNotFound(first);
  }
  if (tail.length === 0) return { kind: "user", ref };
  const [seg1, seg2, ...more] = tail;
  if (seg1?.toLowerCase() !== "authentication") return segmentNotFound(seg1 ?? "");
  if (seg2 === undefined) return segmentNotFound("authentication");
  // v1.0 has /authentication (methods) but no requirements segment.
  if (seg2.toLowerCase() !== "requirements" || version !== "beta") return segmentNotFound(seg2);
  if (more.length > 0) return segmentNotFound(more[0] ?? "");
  return { kind: "requirements", ref };
}
