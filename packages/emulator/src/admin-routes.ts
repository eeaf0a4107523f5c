/** The admin interface over plain HTTP (127.0.0.1 only; never on the Graph port). */
import { NotFoundError, type EmulatorAdmin, type GroupMembersRequest, type GroupRequest, type MintTokenRequest, type RoleRequest } from "./admin.js";
import type { AppRegistration } from "./apps.js";
import type { FaultRule } from "./faults.js";
import { json, parseJson, type Outcome } from "./http.js";
import { InvalidOptionError, type PerUserMfaState } from "./options.js";

const error = (status: number, code: string, message: string): Outcome => json(status, { error: { code, message } });

type Route = { method: string; pattern: RegExp; run: (params: string[], body: unknown) => Outcome | Promise<Outcome> };

const noContent = (): Outcome => ({ kind: "response", status: 204, headers: {} });

export function adminRoutes(admin: EmulatorAdmin): Route[] {
  const obj = (body: unknown): Record<string, unknown> => {
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new InvalidOptionError("a JSON object body is expected");
    return body as Record<string, unknown>;
  };
  const p = (params: string[], i: number) => params[i] ?? "";
  return [
    { method: "GET", pattern: /^\/tenants$/, run: () => json(200, admin.tenants()) },
    { method: "GET", pattern: /^\/tenants\/([^/]+)\/users$/, run: (ps) => json(200, admin.listUsers(p(ps, 0))) },
    {
      method: "PATCH",
      pattern: /^\/tenants\/([^/]+)\/users$/,
      run: (ps, body) => json(200, { updated: admin.setUsers(p(ps, 0), obj(body) as unknown as { perUserMfaState: PerUserMfaState; users?: string[] }) }),
    },
    { method: "GET", pattern: /^\/tenants\/([^/]+)\/users\/([^/]+)$/, run: (ps) => json(200, admin.getUser(p(ps, 0), p(ps, 1))) },
    { method: "PATCH", pattern: /^\/tenants\/([^/]+)\/users\/([^/]+)$/, run: (ps, body) => json(200, admin.patchUser(p(ps, 0), p(ps, 1), obj(body))) },
    { method: "GET", pattern: /^\/tenants\/([^/]+)\/groups$/, run: (ps) => json(200, admin.listGroups(p(ps, 0))) },
    { method: "POST", pattern: /^\/tenants\/([^/]+)\/groups$/, run: (ps, body) => json(201, admin.createGroup(p(ps, 0), obj(body) as unknown as GroupRequest)) },
    {
      method: "POST",
      pattern: /^\/tenants\/([^/]+)\/groups\/([^/]+)\/members$/,
      run: (ps, body) => json(200, admin.addGroupMembers(p(ps, 0), p(ps, 1), obj(body) as GroupMembersRequest)),
    },
    { method: "DELETE", pattern: /^\/tenants\/([^/]+)\/groups\/([^/]+)\/members\/([^/]+)$/, run: (ps) => json(200, admin.removeGroupMember(p(ps, 0), p(ps, 1), p(ps, 2))) },
    { method: "GET", pattern: /^\/tenants\/([^/]+)\/roles$/, run: (ps) => json(200, admin.listRoleAssignments(p(ps, 0))) },
    { method: "POST", pattern: /^\/tenants\/([^/]+)\/roles$/, run: (ps, body) => json(201, admin.assignRole(p(ps, 0), obj(body) as unknown as RoleRequest)) },
    { method: "DELETE", pattern: /^\/tenants\/([^/]+)\/roles\/([^/]+)$/, run: (ps) => (admin.removeRoleAssignment(p(ps, 0), p(ps, 1)), { kind: "response", status: 204, headers: {} }) },
    { method: "GET", pattern: /^\/tenants\/([^/]+)\/posture$/, run: (ps) => json(200, admin.posture(p(ps, 0))) },
    { method: "PATCH", pattern: /^\/tenants\/([^/]+)\/posture$/, run: (ps, body) => json(200, admin.setPosture(p(ps, 0), obj(body))) },
    { method: "GET", pattern: /^\/tenants\/([^/]+)\/conditional-access$/, run: (ps) => json(200, admin.listConditionalAccessPolicies(p(ps, 0))) },
    { method: "POST", pattern: /^\/tenants\/([^/]+)\/conditional-access$/, run: (ps, body) => json(201, admin.addConditionalAccessPolicy(p(ps, 0), obj(body))) },
    {
      method: "DELETE",
      pattern: /^\/tenants\/([^/]+)\/conditional-access\/([^/]+)$/,
      run: (ps) => (admin.removeConditionalAccessPolicy(p(ps, 0), p(ps, 1)), { kind: "response", status: 204, headers: {} }),
    },
    { method: "GET", pattern: /^\/stats$/, run: () => json(200, admin.stats()) },
    { method: "POST", pattern: /^\/stats\/reset$/, run: () => (admin.resetStats(), json(200, admin.stats())) },
    { method: "POST", pattern: /^\/reset$/, run: () => (admin.reset(), json(200, { tenants: admin.tenants(), ...admin.credentials() })) },
    { method: "POST", pattern: /^\/seed$/, run: (_ps, body) => json(200, { tenants: admin.seed(body === undefined ? {} : obj(body)), ...admin.credentials() }) },
    { method: "GET", pattern: /^\/apps\/seeded$/, run: () => json(200, admin.credentials()) },
    { method: "GET", pattern: /^\/faults$/, run: () => json(200, { rules: admin.pendingFaults() }) },
    {
      method: "POST",
      pattern: /^\/faults$/,
      run: (_ps, body) => {
        admin.addFaults(obj(body)["rules"] as FaultRule[]);
        return json(200, { rules: admin.pendingFaults() });
      },
    },
    { method: "DELETE", pattern: /^\/faults$/, run: () => (admin.clearFaults(), json(200, { rules: [] })) },
    { method: "GET", pattern: /^\/config$/, run: () => json(200, admin.config()) },
    { method: "PATCH", pattern: /^\/config$/, run: (_ps, body) => json(200, admin.configure(obj(body))) },
    {
      method: "POST",
      pattern: /^\/apps$/,
      run: (_ps, body) => {
        const reg = obj(body) as unknown as AppRegistration;
        admin.registerApp(reg);
        return json(201, { clientId: reg.clientId.toLowerCase() });
      },
    },
    {
      method: "PUT",
      pattern: /^\/apps\/([^/]+)\/tenants\/([^/]+)$/,
      run: (ps, body) => {
        admin.consent(p(ps, 0), p(ps, 1), obj(body)["roles"] as string[]);
        return json(200, { clientId: p(ps, 0), tenant: p(ps, 1), roles: obj(body)["roles"] });
      },
    },
    { method: "DELETE", pattern: /^\/apps\/([^/]+)\/tenants\/([^/]+)$/, run: (ps) => (admin.revokeConsent(p(ps, 0), p(ps, 1)), { kind: "response", status: 204, headers: {} }) },
    {
      // The resource is a client id or a percent-encoded identifier URI (api%3A%2F%2F...).
      method: "PUT",
      pattern: /^\/apps\/([^/]+)\/api-grants\/([^/]+)\/tenants\/([^/]+)$/,
      run: (ps, body) => {
        const roles = admin.grantApiRoles(p(ps, 0), p(ps, 1), p(ps, 2), obj(body)["roles"] as string[]);
        return json(200, { clientId: p(ps, 0).toLowerCase(), resource: p(ps, 1), tenant: p(ps, 2), roles });
      },
    },
    { method: "DELETE", pattern: /^\/apps\/([^/]+)\/api-grants\/([^/]+)\/tenants\/([^/]+)$/, run: (ps) => (admin.revokeApiGrant(p(ps, 0), p(ps, 1), p(ps, 2)), noContent()) },
    { method: "GET", pattern: /^\/tenants\/([^/]+)\/users\/([^/]+)\/password$/, run: (ps) => json(200, { password: admin.userPassword(p(ps, 0), p(ps, 1)) }) },
    { method: "PUT", pattern: /^\/apps\/([^/]+)\/redirect-uris$/, run: (ps, body) => json(200, admin.setRedirectUris(p(ps, 0), obj(body))) },
    {
      // The app is a client id or a percent-encoded identifier URI; the user an id or UPN.
      method: "GET",
      pattern: /^\/apps\/([^/]+)\/user-roles\/([^/]+)$/,
      run: (ps) => json(200, admin.listUserRoles(p(ps, 0), p(ps, 1))),
    },
    {
      method: "PUT",
      pattern: /^\/apps\/([^/]+)\/user-roles\/([^/]+)\/([^/]+)$/,
      run: (ps, body) => json(200, admin.assignUserRoles(p(ps, 0), p(ps, 1), p(ps, 2), obj(body)["roles"] as string[])),
    },
    { method: "DELETE", pattern: /^\/apps\/([^/]+)\/user-roles\/([^/]+)\/([^/]+)$/, run: (ps) => (admin.removeUserRoles(p(ps, 0), p(ps, 1), p(ps, 2)), noContent()) },
    { method: "GET", pattern: /^\/signing-keys$/, run: () => json(200, { keys: admin.signingKeys() }) },
    {
      method: "POST",
      pattern: /^\/signing-keys\/rotate$/,
      run: (_ps, body) => json(200, admin.rotateSigningKey(body === undefined ? {} : (obj(body) as { retireOld?: boolean }))),
    },
    { method: "DELETE", pattern: /^\/signing-keys\/([^/]+)$/, run: (ps) => (admin.retireSigningKey(p(ps, 0)), noContent()) },
    { method: "GET", pattern: /^\/partner$/, run: () => json(200, admin.partner() ?? null) },
    { method: "GET", pattern: /^\/partner\/relationships$/, run: () => json(200, admin.listRelationships()) },
    { method: "PATCH", pattern: /^\/partner\/relationships\/([^/]+)$/, run: (ps, body) => json(200, admin.patchRelationship(p(ps, 0), obj(body))) },
    {
      method: "POST",
      pattern: /^\/device-codes\/([^/]+)\/approve$/,
      run: (ps, body) => json(200, admin.approveDeviceCode(p(ps, 0), obj(body)["userPrincipalName"] as string)),
    },
    { method: "POST", pattern: /^\/device-codes\/([^/]+)\/decline$/, run: (ps) => (admin.declineDeviceCode(p(ps, 0)), noContent()) },
    { method: "POST", pattern: /^\/users\/([^/]+)\/revoke-refresh-tokens$/, run: (ps) => json(200, { revoked: admin.revokeRefreshTokens(p(ps, 0)) }) },
    { method: "POST", pattern: /^\/apps\/([^/]+)\/expire-secret$/, run: (ps) => (admin.expireSecret(p(ps, 0)), noContent()) },
    { method: "PUT", pattern: /^\/apps\/([^/]+)\/secret-expiry$/, run: (ps, body) => (admin.setSecretExpiry(p(ps, 0), obj(body)["endDateTime"] as string), noContent()) },
    { method: "POST", pattern: /^\/tokens$/, run: async (_ps, body) => json(200, await admin.mintToken(obj(body) as unknown as MintTokenRequest)) },
  ];
}

export async function handleAdmin(routes: Route[], method: string, rawPath: string, bodyText: string): Promise<Outcome> {
  const path = rawPath.split("?")[0] ?? "/";
  let body: unknown;
  if (bodyText.trim() !== "") {
    const parsed = parseJson(bodyText);
    if (!parsed.ok) return error(400, "BadRequest", "the body is not valid JSON");
    body = parsed.value;
  }
  let pathMatched = false;
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    pathMatched = true;
    if (route.method !== method) continue;
    let params: string[];
    try {
      params = m.slice(1).map((s) => decodeURIComponent(s));
    } catch {
      return error(400, "BadRequest", "bad percent-encoding in the path");
    }
    try {
      return await route.run(params, body);
    } catch (e) {
      if (e instanceof NotFoundError) return error(404, "NotFound", e.message);
      if (e instanceof InvalidOptionError) return error(400, "BadRequest", e.message);
      throw e;
    }
  }
  return pathMatched ? error(405, "MethodNotAllowed", `${method} is not supported on ${path}`) : error(404, "NotFound", `no admin route ${path}`);
}
