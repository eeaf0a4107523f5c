/**
 * An emulated CIPP instance (`<origin>/cipp/api/<Endpoint>`): the per-user MFA endpoints of cipp-api.md behind CIPP's
 * bearer check, changing the same directory the emulated Graph serves (CIPP calls Graph). Endpoint names are
 * case-sensitive, body and query keys are not. The weaknesses of the real CIPP are switches (RuntimeConfig.cipp).
 */
import { cippSamAppId, CIPP_API_ROLE, seededCippApiApp, type CippInfo } from "./cipp-apps.js";
import { checkCippBearer, unauthorized } from "./cipp-auth.js";
import { CippGraph, graphMessage } from "./cipp-graph.js";
import { cippMfaUserRow, type CippMfaUserRow } from "./cipp-mfa-users.js";
import type { Endpoints } from "./endpoints.js";
import type { FaultInjector } from "./faults.js";
import { codeForStatus } from "./graph-errors.js";
import { delay, json, parseJson, type Outcome, type RequestContext } from "./http.js";
import { findUser, type Tenant } from "./model.js";
import { PER_USER_MFA_STATES, type PerUserMfaState } from "./options.js";
import type { EmulatorState } from "./state.js";
import type { Throttler } from "./throttle.js";
import type { TokenService } from "./tokens.js";

const ENDPOINTS = { ExecPerUserMFA: "POST", ListPerUserMFA: "GET", ListMFAUsers: "GET" } as const;
type EndpointName = keyof typeof ENDPOINTS;

/** A request CIPP's code cannot work with; answered 400 with a Results line. */
class CippBadRequest extends Error {}

/** Body and query keys are case-insensitive in CIPP (PowerShell hashtables). */
function lowerKeys(value: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (value && typeof value === "object" && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) out.set(k.toLowerCase(), v);
  return out;
}

function text(keys: Map<string, unknown>, name: string): string | undefined {
  const v = keys.get(name.toLowerCase());
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v.trim() === "" ? undefined : v.trim();
  if (typeof v === "number") return String(v);
  throw new CippBadRequest(`${name} must be a string.`);
}

/** `State` as "Enforced" or `{ "label": "Enforced", "value": "enforced" }`, case-insensitive. */
function stateOf(keys: Map<string, unknown>): PerUserMfaState {
  const raw = keys.get("state");
  const value = raw && typeof raw === "object" && !Array.isArray(raw) ? (lowerKeys(raw).get("value") ?? lowerKeys(raw).get("label")) : raw;
  if (typeof value !== "string" || value.trim() === "") throw new CippBadRequest("State is required: Enabled, Disabled or Enforced (a string or {label, value}).");
  const state = value.trim().toLowerCase();
  if (!PER_USER_MFA_STATES.includes(state as PerUserMfaState)) throw new CippBadRequest(`State ${JSON.stringify(value)} is not one of Enabled, Disabled, Enforced.`);
  return state as PerUserMfaState;
}

const results = (status: number, lines: string[]): Outcome => json(status, { Results: lines });
/** The list endpoints answer a failure with a bare array holding the message. */
const listFailure = (message: string): Outcome => json(500, [message]);

export class CippService {
  private readonly graph: CippGraph;
  private clientId = "";
  private tenantId = "";

  constructor(
    private readonly state: EmulatorState,
    private readonly tokens: TokenService,
    private readonly endpoints: Endpoints,
    private readonly faults: FaultInjector,
    throttler: Throttler,
  ) {
    this.graph = new CippGraph(state, endpoints, throttler, faults, () => cippSamAppId(state.seedParams.seed));
    this.seed();
  }

  /** Registers CIPP-API in the first tenant; call after every (re)seed, which replaces the apps. */
  seed(): void {
    const home = this.state.tenants[0];
    if (!home) return;
    const app = seededCippApiApp(this.state.seedParams.seed, home.id);
    this.state.apps.set(app.clientId, app);
    this.clientId = app.clientId;
    this.tenantId = home.id;
  }

  info(): CippInfo {
    const app = this.state.findApp(this.clientId);
    return {
      url: this.endpoints.cippUrl,
      clientId: this.clientId,
      identifierUri: app?.api.identifierUris[0] ?? `api://${this.clientId}`,
      tenantId: this.tenantId,
      role: CIPP_API_ROLE,
      caller: { clientId: this.clientId, clientSecret: app?.secret ?? "" },
    };
  }

  /** `ctx.rawUrl` starts with "/cipp". */
  async handle(ctx: RequestContext): Promise<Outcome> {
    const m = /^\/cipp\/api\/([^/?]+)\/?(\?.*)?$/.exec(ctx.rawUrl);
    const name = m?.[1];
    // Routing is case-sensitive, as the Functions host's is for CIPP; a wrong name or method finds no function.
    if (name === undefined || !Object.hasOwn(ENDPOINTS, name) || ENDPOINTS[name as EndpointName] !== ctx.method)
      return { kind: "response", status: 404, headers: {} };
    const endpoint = name as EndpointName;

    const caller = await checkCippBearer(ctx.headers["authorization"], { clientId: this.clientId, tenantId: this.tenantId }, { state: this.state, tokens: this.tokens, endpoints: this.endpoints });
    if (!caller.ok) return unauthorized(this.endpoints, ctx.headers["host"], this.tenantId, this.clientId, caller.reason);

    const query = lowerKeys(Object.fromEntries(ctx.url.searchParams));
    let body: Map<string, unknown> = new Map();
    if (endpoint === "ExecPerUserMFA") {
      const parsed = parseJson(ctx.body.toString("utf8"));
      if (!parsed.ok || typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value))
        return results(400, ["The request body must be a JSON object: {\"tenantFilter\", \"userPrincipalName\" and/or \"userId\", \"State\"}."]);
      body = lowerKeys(parsed.value);
    }
    const tenantRef = endpoint === "ExecPerUserMFA" ? body.get("tenantfilter") : query.get("tenantfilter");
    const tenant = typeof tenantRef === "string" ? this.state.findTenant(tenantRef) : undefined;

    // The host in front of CIPP fails too: scripted rules name `/cipp/api/<Endpoint>`.
    const fault = this.faults.decide(ctx.method, ctx.rawUrl, tenant);
    if (fault) {
      this.state.stats.faultsInjected++;
      if (fault.kind === "reset") return { kind: "reset" };
      if (fault.kind === "slow") await delay(fault.delayMs);
      else {
        const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8" };
        if (fault.retryAfterSeconds !== undefined) headers["retry-after"] = String(fault.retryAfterSeconds);
        return { kind: "response", status: fault.status, headers, raw: codeForStatus(fault.status).message };
      }
    }

    try {
      switch (endpoint) {
        case "ExecPerUserMFA":
          return await this.execPerUserMfa(body);
        case "ListPerUserMFA":
          return await this.listPerUserMfa(query);
        case "ListMFAUsers":
          return await this.listMfaUsers(query);
      }
    } catch (e) {
      if (e instanceof CippBadRequest) return results(400, [e.message]);
      throw e;
    }
  }

  /** CIPP's token for a customer tenant: an unknown tenant fails before any Graph call. */
  private tenantOrWhy(ref: string): Tenant | string {
    return this.state.findTenant(ref) ?? `Could not get a token for tenant ${ref}: AADSTS90002: Tenant '${ref}' not found.`;
  }

  private async execPerUserMfa(body: Map<string, unknown>): Promise<Outcome> {
    const tenantRef = text(body, "tenantFilter");
    if (!tenantRef) throw new CippBadRequest("tenantFilter is required (a tenant id or domain).");
    const upn = text(body, "userPrincipalName");
    const userId = text(body, "userId");
    const state = stateOf(body);
    const weak = this.state.config.cipp;
    // CIPP itself: the UPN, and userId only for a guest's UPN (#EXT#). The careful variant falls back to whichever was given.
    const chosen = upn !== undefined && /#EXT#/i.test(upn) ? userId : upn;
    const user = weak.ignoreUserId ? chosen : (chosen ?? userId ?? upn);
    const success = results(200, [`Successfully set Per user MFA State for ${user ?? ""}`]);
    // No user left: CIPP's $batch item fails unseen, and CIPP answers success.
    if (user === undefined) {
      if (weak.ignoreUserId) return success;
      throw new CippBadRequest("userPrincipalName or userId is required.");
    }
    const failed = (why: string) => results(500, [`Failed to set MFA State to ${state} for ${user}. Error: ${why}`]);
    const tenant = this.tenantOrWhy(tenantRef);
    if (typeof tenant === "string") return failed(tenant);
    const result = await this.graph.call(tenant, "PATCH", "beta", `/users/${encodeURIComponent(user)}/authentication/requirements`, { perUserMfaState: state });
    if (result.status >= 200 && result.status < 300) return success;
    // CIPP never looks at the status of its $batch items.
    return weak.misreportFailures ? success : failed(graphMessage(result));
  }

  private async listPerUserMfa(query: Map<string, unknown>): Promise<Outcome> {
    const tenantRef = text(query, "tenantFilter");
    if (!tenantRef) throw new CippBadRequest("tenantFilter is required (a tenant id or domain).");
    const userId = text(query, "userId");
    const allUsers = (text(query, "allUsers") ?? "").toLowerCase() === "true";
    const failed = (why: string) => listFailure(`Failed to get MFA State for ${userId ?? ""} : ${why}`);
    const tenant = this.tenantOrWhy(tenantRef);
    if (typeof tenant === "string") return failed(tenant);
    if (allUsers) {
      // CIPP passes Graph's user objects through: id, userPrincipalName, perUserMfaState.
      const listed = await this.graph.list(tenant, "v1.0", "/users?$top=999&$select=userPrincipalName,id,perUserMfaState");
      return listed.ok ? json(200, listed.items) : failed(graphMessage(listed.result));
    }
    if (!userId) throw new CippBadRequest("userId (an object id or UPN) or allUsers=true is required.");
    const result = await this.graph.call(tenant, "GET", "v1.0", `/users/${encodeURIComponent(userId)}?$select=userPrincipalName,id,perUserMfaState`);
    if (result.status !== 200) return failed(graphMessage(result));
    const state = (result.body as { perUserMfaState?: unknown }).perUserMfaState;
    // The user comes back as the caller named it (an object id stays an object id).
    return json(200, [{ PerUserMFAState: state ?? null, UserPrincipalName: userId }]);
  }

  private async listMfaUsers(query: Map<string, unknown>): Promise<Outcome> {
    const filter = text(query, "tenantFilter");
    if (!filter) throw new CippBadRequest("tenantFilter is required (a tenant id or domain, or AllTenants).");
    const all = filter.toLowerCase() === "alltenants";
    const tenants: Tenant[] = [];
    if (all) tenants.push(...this.state.tenants);
    else {
      const tenant = this.tenantOrWhy(filter);
      if (typeof tenant === "string") return listFailure(`Failed to retrieve MFA users: ${tenant}`);
      tenants.push(tenant);
    }
    const rows: CippMfaUserRow[] = [];
    for (const tenant of tenants) {
      const listed = await this.graph.list(tenant, "v1.0", "/users?$top=999&$select=id,userPrincipalName,perUserMfaState");
      if (!listed.ok) {
        // AllTenants answers the tenants it could read (CIPP logs the others).
        if (all) continue;
        return listFailure(`Failed to retrieve MFA users: ${graphMessage(listed.result)}`);
      }
      for (const item of listed.items) {
        const u = typeof item["id"] === "string" ? findUser(tenant, item["id"]) : undefined;
        if (u) rows.push(cippMfaUserRow(tenant, u, typeof item["perUserMfaState"] === "string" ? item["perUserMfaState"] : null));
      }
    }
    return json(200, rows);
  }
}
