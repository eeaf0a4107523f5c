/** The Graph pipeline: authenticate, then per request (or $batch sub-request) fault -> throttle -> route. */
import { runBatch } from "./batch.js";
import { GRAPH_APP_ID, type Endpoints } from "./endpoints.js";
import type { FaultInjector } from "./faults.js";
import { codeForStatus, graphError, type ErrorIds } from "./graph-errors.js";
import { isListRoute, parseGraphPath, specialLimitOf, splitPathAndQuery } from "./graph-path.js";
import { GraphRoutes } from "./graph-routes.js";
import type { Caller, GraphCall, GraphResult, GraphVersion } from "./graph-types.js";
import { delay, type Outcome, type RequestContext } from "./http.js";
import { rolesInTenant } from "./partner.js";
import type { EmulatorState } from "./state.js";
import type { Throttler } from "./throttle.js";
import type { TokenService } from "./tokens.js";
import { queryOptions, requestCost } from "./users-query.js";

const RESET = Symbol("reset");
type Executed = GraphResult | typeof RESET;

const toOutcome = (r: Executed): Outcome => (r === RESET ? { kind: "reset" } : { kind: "response", status: r.status, headers: r.headers, body: r.body });

export class GraphService {
  private readonly routes: GraphRoutes;

  constructor(
    private readonly state: EmulatorState,
    private readonly tokens: TokenService,
    private readonly endpoints: Endpoints,
    private readonly throttler: Throttler,
    private readonly faults: FaultInjector,
  ) {
    this.routes = new GraphRoutes(state);
  }

  /** `ctx.rawUrl` starts with "/graph". */
  async handleHttp(ctx: RequestContext): Promise<Outcome> {
    const ids: ErrorIds = { requestId: ctx.requestId, clientRequestId: ctx.clientRequestId, nowMs: this.state.clock.now() };
    const rest = ctx.rawUrl.slice("/graph".length);
    const m = /^\/(v1\.0|beta)(\/[^?]*)?(\?.*)?$/.exec(rest);
    if (!m) {
      this.state.stats.requests++;
      return toOutcome(this.withUnit(graphError(400, "BadRequest", "Invalid version.", ids), 1));
    }
    const version = m[1] as GraphVersion;
    const pathAndQuery = `${m[2] ?? "/"}${m[3] ?? ""}`;
    const isBatch = /^\/(\$|%24)batch\/?$/i.test(m[2] ?? "");
    if (isBatch) this.state.stats.batches++;
    else this.state.stats.requests++;

    const caller = await this.authenticate(ctx, ids);
    if (!("tenant" in caller)) return toOutcome(this.withUnit(caller, 1));
    const call: GraphCall = {
      method: ctx.method,
      version,
      pathAndQuery,
      headers: ctx.headers,
      bodyText: ctx.body.length > 0 ? ctx.body.toString("utf8") : undefined,
      caller,
      graphBase: `${this.endpoints.originFor(ctx.headers["host"])}/graph`,
      requestId: ctx.requestId,
      clientRequestId: ctx.clientRequestId,
    };
    if (!isBatch) return toOutcome(await this.execute(call, false));

    if (call.method !== "POST")
      return toOutcome(this.withUnit(graphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.", ids), 0));
    // A fault may hit the envelope itself, like any HTTP request.
    const fault = await this.applyFault(call, false, ids, 0);
    if (fault) return toOutcome(fault);
    return toOutcome(await runBatch(call, async (sub) => (await this.execute(sub, true)) as GraphResult, this.state));
  }

  private async authenticate(ctx: RequestContext, ids: ErrorIds): Promise<Caller | GraphResult> {
    const unauthorized = (message: string) =>
      graphError(401, "InvalidAuthenticationToken", message, ids, {
        "www-authenticate": `Bearer realm="", authorization_uri="${this.endpoints.originFor(ctx.headers["host"])}/common/oauth2/authorize", client_id="${GRAPH_APP_ID}"`,
      });
    const header = ctx.headers["authorization"];
    if (!header) return unauthorized("Access token is empty.");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m?.[1]) return unauthorized("Access token validation failure. The Authorization header is not a Bearer token.");
    const verified = await this.tokens.verify(m[1], this.endpoints.graphAudiences());
    if (!verified.ok) return unauthorized(verified.message);
    const tenant = this.state.findTenant(verified.claims.tid);
    if (!tenant) return unauthorized("Access token validation failure. Invalid tenant.");
    const claims = verified.claims;
    if (claims["idtyp"] !== "user" && typeof claims["scp"] !== "string") return { appId: claims.appid, tenant, roles: claims.roles ?? [] };
    // Delegated: the scopes, and the user's roles as the directory holds them now (a relationship change applies at once).
    const idp = typeof claims["idp"] === "string" ? /^https:\/\/sts\.windows\.net\/([^/]+)\/$/.exec(claims["idp"])?.[1] : undefined;
    const home = idp !== undefined ? this.state.findTenant(idp) : tenant;
    const user = home && typeof claims["oid"] === "string" ? home.byId.get(claims["oid"]) : undefined;
    if (!home || !user) return unauthorized("Access token validation failure. The user does not exist in the directory.");
    const scopes = typeof claims["scp"] === "string" ? claims["scp"].split(" ").filter(Boolean) : [];
    return {
      appId: claims.appid,
      tenant,
      roles: scopes,
      delegated: {
        userId: user.id,
        userPrincipalName: user.userPrincipalName,
        homeTenantId: home.id,
        directoryRoles: rolesInTenant(this.state.partner?.relationships ?? [], home, user, tenant),
      },
    };
  }

  /** One operation; in a batch a connection reset cannot drop one item, so it becomes a 503 there. */
  private async execute(call: GraphCall, inBatch: boolean): Promise<Executed> {
    const ids: ErrorIds = { requestId: call.requestId, clientRequestId: call.clientRequestId, nowMs: this.state.clock.now() };
    const { path, search } = splitPathAndQuery(call.pathAndQuery);
    const options = queryOptions(search);
    const route = parseGraphPath(path, call.version);
    const cost = requestCost(call.method, isListRoute(route), options);

    const fault = await this.applyFault(call, inBatch, ids, cost.ru);
    if (fault) return fault;

    const tenant = call.caller.tenant;
    const decision = this.throttler.take(call.caller.appId, tenant.id, tenant.users.length, cost, specialLimitOf(route));
    if (!decision.ok) {
      const stats = this.state.stats;
      stats.throttled[decision.scope] = (stats.throttled[decision.scope] ?? 0) + 1;
      stats.throttledTotal++;
      const headers: Record<string, string> = {
        "x-ms-throttle-scope": decision.scope,
        "x-ms-throttle-information": decision.information,
        "x-ms-throttle-limit-percentage": decision.limitPercentage.toFixed(2),
      };
      // Conditional Access answers its own limit without Retry-After (the reference's Throttling section).
      if (!decision.noRetryAfter) headers["retry-after"] = String(decision.retryAfterSeconds);
      const message = decision.noRetryAfter
        ? "Too many requests. Please reduce the request rate."
        : `Your request is throttled temporarily. Please try after ${decision.retryAfterSeconds} seconds.`;
      return this.withUnit(graphError(429, "TooManyRequests", message, ids, headers), cost.ru);
    }
    const result = this.withUnit(this.routes.handle(call, route, options), cost.ru);
    result.charged = cost.ru;
    if (decision.limitPercentage !== undefined) result.headers["x-ms-throttle-limit-percentage"] = decision.limitPercentage.toFixed(2);
    return result;
  }

  /** Undefined when no fault applies (or a "slow" fault has only delayed the request). */
  private async applyFault(call: GraphCall, inBatch: boolean, ids: ErrorIds, ru: number): Promise<Executed | undefined> {
    const fault = this.faults.decide(call.method, `/${call.version}${call.pathAndQuery}`, call.caller.tenant);
    if (!fault) return undefined;
    this.state.stats.faultsInjected++;
    if (fault.kind === "slow") {
      await delay(fault.delayMs);
      return undefined;
    }
    if (fault.kind === "reset" && !inBatch) return RESET;
    const status = fault.kind === "reset" ? 503 : fault.status;
    const { code, message } = codeForStatus(status);
    const headers: Record<string, string> = {};
    if (fault.kind === "status" && fault.retryAfterSeconds !== undefined) headers["retry-after"] = String(fault.retryAfterSeconds);
    return this.withUnit(graphError(status, code, message, ids, headers), ru);
  }

  private withUnit(result: GraphResult, ru: number): GraphResult {
    result.headers["x-ms-resource-unit"] = String(Math.max(1, ru));
    return result;
  }
}
