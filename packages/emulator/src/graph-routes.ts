/** Graph resources: list users, get a user, get/patch beta authentication requirements. */
import { graphError, type ErrorIds } from "./graph-errors.js";
import type { GraphRoute } from "./graph-path.js";
import { ODATA_JSON, type GraphCall, type GraphResult } from "./graph-types.js";
import { effectiveState, findUser, type UserRecord } from "./model.js";
import { PER_USER_MFA_STATES, type PerUserMfaState } from "./options.js";
import type { EmulatorState } from "./state.js";
import { encodeSkipToken, isQueryError, parseListQuery, parseSelect, projectUser, type QueryError } from "./users-query.js";

const READ_USERS = ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
const READ_REQUIREMENTS = ["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"];
const WRITE_REQUIREMENTS = ["Policy.ReadWrite.AuthenticationMethod"];

const ok = (status: number, body?: unknown): GraphResult =>
  body === undefined ? { status, headers: {} } : { status, headers: { "content-type": ODATA_JSON }, body };

export class GraphRoutes {
  constructor(private readonly state: EmulatorState) {}

  handle(call: GraphCall, route: GraphRoute, options: Map<string, string>): GraphResult {
    const ids: ErrorIds = { requestId: call.requestId, clientRequestId: call.clientRequestId, nowMs: this.state.clock.now() };
    const fail = (e: QueryError) => graphError(e.status, e.code, e.message, ids);
    const methodNotAllowed = () => graphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.", ids);
    const roles = call.caller.roles;
    switch (route.kind) {
      case "error":
        return fail(route.error);
      case "userList":
        if (call.method !== "GET") return methodNotAllowed();
        if (!READ_USERS.some((r) => roles.includes(r))) return this.insufficientPrivileges(ids);
        return this.listUsers(call, options, fail);
      case "user": {
        if (call.method !== "GET") return methodNotAllowed();
        if (!READ_USERS.some((r) => roles.includes(r))) return this.insufficientPrivileges(ids);
        const user = findUser(call.caller.tenant, route.ref);
        if (!user) return this.notFound(route.ref, ids);
        const select = parseSelect(options.get("$select"));
        if (isQueryError(select)) return fail(select);
        const context = `${call.graphBase}/${call.version}/$metadata#users${select ? `(${select.join(",")})` : ""}/$entity`;
        return ok(200, { "@odata.context": context, ...projectUser(user, select, true) });
      }
      case "requirements": {
        if (call.method !== "GET" && call.method !== "PATCH") return methodNotAllowed();
        const needed = call.method === "GET" ? READ_REQUIREMENTS : WRITE_REQUIREMENTS;
        if (!needed.some((r) => roles.includes(r))) return graphError(403, "accessDenied", "Request Authorization failed.", ids);
        const user = findUser(call.caller.tenant, route.ref);
        if (!user) return this.notFound(route.ref, ids);
        if (call.method === "GET")
          return ok(200, {
            "@odata.context": `${call.graphBase}/beta/$metadata#users('${encodeURIComponent(route.ref)}')/authentication/requirements/$entity`,
            perUserMfaState: user.perUserMfaState,
          });
        return this.patchRequirements(call, user, ids);
      }
    }
  }

  private insufficientPrivileges(ids: ErrorIds): GraphResult {
    return graphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", ids);
  }

  private notFound(ref: string, ids: ErrorIds): GraphResult {
    return graphError(404, "Request_ResourceNotFound", `Resource '${ref}' does not exist or one of its queried reference-property objects are not present.`, ids);
  }

  private listUsers(call: GraphCall, options: Map<string, string>, fail: (e: QueryError) => GraphResult): GraphResult {
    const tenant = call.caller.tenant;
    const query = parseListQuery(options, call.headers, tenant.id);
    if (isQueryError(query)) return fail(query);
    const includeState = !this.state.config.omitPerUserMfaStateInList;
    const users = tenant.users;
    const page: Record<string, unknown>[] = [];
    let i = query.start;
    for (; i < users.length && page.length < query.top; i++) {
      const u = users[i] as UserRecord;
      if (query.matches(u)) page.push(projectUser(u, query.select, includeState));
    }
    // Only link to a next page that has at least one user.
    while (i < users.length && !query.matches(users[i] as UserRecord)) i++;
    const body: Record<string, unknown> = {
      "@odata.context": `${call.graphBase}/${call.version}/$metadata#users${query.select ? `(${query.select.join(",")})` : ""}`,
    };
    if (query.count) body["@odata.count"] = users.reduce((n, u) => (query.matches(u) ? n + 1 : n), 0);
    if (i < users.length) body["@odata.nextLink"] = this.nextLink(call, encodeSkipToken(tenant.id, i));
    body["value"] = page;
    return ok(200, body);
  }

  /** The request's own query (as the client encoded it) with $skiptoken replaced. */
  private nextLink(call: GraphCall, token: string): string {
    const q = call.pathAndQuery.indexOf("?");
    const path = q < 0 ? call.pathAndQuery : call.pathAndQuery.slice(0, q);
    const parts = q < 0 ? [] : call.pathAndQuery.slice(q + 1).split("&").filter((p) => p && !/^(%24|\$)skiptoken=/i.test(p));
    parts.push(`$skiptoken=${token}`);
    return `${call.graphBase}/${call.version}${path}?${parts.join("&")}`;
  }

  private patchRequirements(call: GraphCall, user: UserRecord, ids: ErrorIds): GraphResult {
    const bad = (message: string) => graphError(400, "BadRequest", message, ids);
    let body: unknown = call.bodyJson;
    if (body === undefined) {
      if (call.bodyText === undefined || call.bodyText.trim() === "") return bad("Empty Payload. JSON content expected.");
      const jsonType = /\bjson\b/i.test(call.headers["content-type"] ?? "");
      try {
        if (!jsonType) throw new Error("not JSON");
        body = JSON.parse(call.bodyText);
      } catch {
        return bad("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.");
      }
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) return bad("Invalid request body: a JSON object is expected.");
    const entries = Object.entries(body).filter(([k]) => !k.startsWith("@odata."));
    for (const [k] of entries)
      if (k !== "perUserMfaState")
        return bad(`The property '${k}' does not exist on type 'microsoft.graph.strongAuthenticationRequirements'. Make sure to only use property names that are defined by the type.`);
    if (entries.length === 0) return bad("The request body must contain the property 'perUserMfaState'.");
    const value = (body as Record<string, unknown>)["perUserMfaState"];
    if (value === "unknownFutureValue") return bad("The value 'unknownFutureValue' is reserved and cannot be set for property 'perUserMfaState'.");
    if (typeof value !== "string" || !PER_USER_MFA_STATES.includes(value as PerUserMfaState))
      return bad(`Cannot convert the literal '${String(value)}' to the expected type 'microsoft.graph.perUserMfaState'.`);
    user.perUserMfaState = effectiveState(value as PerUserMfaState, user.methods);
    user.patchCount++;
    const stats = this.state.stats;
    stats.patches++;
    const key = `${call.caller.tenant.id}/${user.id}`;
    stats.patchesByUser[key] = (stats.patchesByUser[key] ?? 0) + 1;
    return ok(204);
  }
}
