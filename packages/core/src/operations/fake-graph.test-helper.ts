import { GraphError } from "../domain/errors.js";
import type { GraphClient, GraphRequest, GraphResponse } from "../transport/types.js";

export interface FakeUser {
  id: string;
  userPrincipalName: string;
  perUserMfaState: string;
  hasMethods: boolean;
}

/**
 * An in-memory GraphClient for operation tests: the two endpoints `get`/`set` use, with
 * Entra's enabled -> enforced rule, a request log and scripted failures.
 */
export class FakeGraph implements GraphClient {
  readonly requests: GraphRequest[] = [];
  /** Scripted failures: the next request matching `method` (and `stale` reads) behaves as told. */
  failNext: { method: string; error: GraphError }[] = [];
  /** Number of reads after a PATCH that still return the old state (eventual consistency). */
  staleReads = 0;
  /** When set, PATCHes are accepted but not applied. */
  dropPatches = false;
  private stale: { id: string; state: string; left: number } | undefined;
  private seq = 0;

  constructor(readonly users: FakeUser[]) {}

  request<T>(req: GraphRequest): Promise<GraphResponse<T>> {
    this.requests.push(req);
    const requestId = `req-${++this.seq}`;
    const failure = this.failNext.findIndex((f) => f.method === req.method);
    if (failure >= 0) {
      const [f] = this.failNext.splice(failure, 1);
      return Promise.reject(f!.error);
    }
    const ok = (body: unknown, status = 200): Promise<GraphResponse<T>> =>
      Promise.resolve({ status, headers: new Headers({ "request-id": requestId }), body: body as T, requestId, attempts: 1 });

    const userMatch = /^\/v1\.0\/users\/([^/]+)$/.exec(req.path);
    if (req.method === "GET" && userMatch) {
      const ref = decodeURIComponent(userMatch[1]!).toLowerCase();
      const user = this.users.find((u) => u.id === ref || u.userPrincipalName.toLowerCase() === ref);
      if (!user) return Promise.reject(new GraphError(`Resource '${ref}' does not exist.`, { status: 404, code: "Request_ResourceNotFound", requestId, tenant: req.tenant }));
      return ok({ id: user.id, userPrincipalName: user.userPrincipalName });
    }
    const reqMatch = /^\/beta\/users\/([^/]+)\/authentication\/requirements$/.exec(req.path);
    const user = reqMatch ? this.users.find((u) => u.id === reqMatch[1]) : undefined;
    if (user && req.method === "GET") {
      if (this.stale && this.stale.id === user.id && this.stale.left > 0) {
        this.stale.left--;
        return ok({ "@odata.context": "x", perUserMfaState: this.stale.state });
      }
      return ok({ "@odata.context": "x", perUserMfaState: user.perUserMfaState });
    }
    if (user && req.method === "PATCH") {
      const wanted = (req.body as { perUserMfaState: string }).perUserMfaState;
      if (this.staleReads > 0) this.stale = { id: user.id, state: user.perUserMfaState, left: this.staleReads };
      if (!this.dropPatches) user.perUserMfaState = wanted === "enabled" && user.hasMethods ? "enforced" : wanted;
      return ok(undefined, 204);
    }
    return Promise.reject(new Error(`FakeGraph: unexpected ${req.method} ${req.path}`));
  }

  patches(): GraphRequest[] {
    return this.requests.filter((r) => r.method === "PATCH");
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export const ADELE: FakeUser = { id: "11111111-1111-4111-8111-111111111111", userPrincipalName: "adele@contoso.com", perUserMfaState: "disabled", hasMethods: false };
export const MEGAN: FakeUser = { id: "22222222-2222-4222-8222-222222222222", userPrincipalName: "megan@contoso.com", perUserMfaState: "disabled", hasMethods: true };
export const GUEST: FakeUser = { id: "33333333-3333-4333-8333-333333333333", userPrincipalName: "john_fabrikam.com#EXT#@contoso.com", perUserMfaState: "unknownFutureValue", hasMethods: false };

export function fakeGraph(): FakeGraph {
  return new FakeGraph([{ ...ADELE }, { ...MEGAN }, { ...GUEST }]);
}
