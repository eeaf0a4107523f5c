import { AuthError } from "../domain/errors.js";
import type { BatchEngine, EngineRequest, EngineResponse, EngineStats } from "../engine/types.js";

export interface FakeTenantUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
  userType: "Member" | "Guest";
  accountEnabled: boolean;
  licensed: boolean;
  hasMethods: boolean;
  perUserMfaState: string;
}

/**
 * A BatchEngine over in-memory tenants for operation tests: the Graph answers the operations
 * rely on (user lookup, listing with paging and filters, requirements GET/PATCH), tenants that
 * fail with an AuthError, listings without perUserMfaState, and a log of what was asked.
 */
export class FakeEngine implements BatchEngine {
  readonly log: EngineRequest[] = [];
  readonly failingTenants = new Map<string, AuthError>();
  omitStateInList = false;
  /** PATCHes for these user ids answer 403. */
  readonly deniedPatches = new Set<string>();
  pageSize = 3;

  constructor(readonly tenants: Map<string, FakeTenantUser[]>) {}

  patches(): EngineRequest[] {
    return this.log.filter((r) => r.method === "PATCH");
  }

  submit<T>(req: EngineRequest): Promise<EngineResponse<T>> {
    return this.answer<T>(req);
  }

  direct<T>(req: EngineRequest & { query?: Record<string, string> }): Promise<EngineResponse<T>> {
    return this.answer<T>(req);
  }

  stats(): EngineStats {
    return { batches: 0, subRequests: this.log.length, throttled: 0, retries: 0, tenants: {} };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private answer<T>(req: EngineRequest & { query?: Record<string, string> }): Promise<EngineResponse<T>> {
    this.log.push(req);
    const failure = this.failingTenants.get(req.tenant);
    if (failure) return Promise.reject(failure);
    const users = this.tenants.get(req.tenant);
    const reply = (status: number, body: unknown) => Promise.resolve({ status, body: body as T, headers: {}, requestId: `rid-${this.log.length}`, attempts: 1 });
    const notFound = (ref: string) => reply(404, { error: { code: "Request_ResourceNotFound", message: `Resource '${ref}' does not exist.` } });
    if (!users) return reply(401, { error: { code: "InvalidAuthenticationToken", message: "no such tenant" } });
    const [path, qs] = req.url.split("?");
    const find = (ref: string) => users.find((u) => u.id === ref || u.userPrincipalName.toLowerCase() === decodeURIComponent(ref).toLowerCase());

    if (path === "/users" && req.method === "GET") {
      const query = { ...Object.fromEntries(new URLSearchParams(qs ?? "")), ...req.query };
      const filter = query.$filter ?? "";
      let list = users;
      if (filter.includes("userType eq 'Member'")) list = list.filter((u) => u.userType === "Member");
      if (filter.includes("userType eq 'Guest'")) list = list.filter((u) => u.userType === "Guest");
      if (filter.includes("accountEnabled eq true")) list = list.filter((u) => u.accountEnabled);
      if (filter.includes("assignedLicenses/$count ne 0")) list = list.filter((u) => u.licensed);
      const skip = Number(query.$skiptoken ?? "0");
      const page = list.slice(skip, skip + this.pageSize);
      const withState = (query.$select ?? "").includes("perUserMfaState") && !this.omitStateInList;
      const value = page.map((u) => ({
        id: u.id,
        userPrincipalName: u.userPrincipalName,
        displayName: u.displayName,
        userType: u.userType,
        accountEnabled: u.accountEnabled,
        assignedLicenses: u.licensed ? [{ skuId: "x" }] : [],
        ...(withState ? { perUserMfaState: u.perUserMfaState } : {}),
      }));
      const more = skip + this.pageSize < list.length;
      const next = new URLSearchParams({ ...query, $skiptoken: String(skip + this.pageSize) });
      return reply(200, { value, ...(more ? { "@odata.nextLink": `https://graph.example/v1.0/users?${next.toString()}` } : {}) });
    }
    const userMatch = /^\/users\/([^/?]+)$/.exec(path ?? "");
    if (userMatch && req.method === "GET") {
      const user = find(userMatch[1]!);
      return user ? reply(200, { id: user.id, userPrincipalName: user.userPrincipalName }) : notFound(userMatch[1]!);
    }
    const reqMatch = /^\/users\/([^/]+)\/authentication\/requirements$/.exec(path ?? "");
    const user = reqMatch ? find(reqMatch[1]!) : undefined;
    if (reqMatch && !user) return notFound(reqMatch[1]!);
    if (user && req.method === "GET") return reply(200, { perUserMfaState: user.perUserMfaState });
    if (user && req.method === "PATCH") {
      if (this.deniedPatches.has(user.id)) return reply(403, { error: { code: "accessDenied", message: "Request Authorization failed." } });
      const wanted = (req.body as { perUserMfaState: string }).perUserMfaState;
      user.perUserMfaState = wanted === "enabled" && user.hasMethods ? "enforced" : wanted;
      return reply(204, undefined);
    }
    return Promise.reject(new Error(`FakeEngine: unexpected ${req.method} ${req.url}`));
  }
}

let seq = 0;
export function fakeUser(tenant: string, name: string, over: Partial<FakeTenantUser> = {}): FakeTenantUser {
  seq++;
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`,
    userPrincipalName: `${name}@${tenant}`,
    displayName: name,
    userType: "Member",
    accountEnabled: true,
    licensed: true,
    hasMethods: false,
    perUserMfaState: "disabled",
    ...over,
  };
}
