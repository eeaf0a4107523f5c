import { GraphError } from "../domain/errors.js";
import { readMfaState, type MfaState, type MfaStateRead } from "../domain/mfa-state.js";
import { parseUserRef, userPathSegment } from "../domain/references.js";
import type { BatchEngine, EngineResponse } from "../engine/types.js";
import { permissionFor } from "../transport/graph-client.js";
import type { GraphClient } from "../transport/types.js";

export interface ResolvedUser {
  id: string;
  userPrincipalName: string;
}

/**
 * The three Graph calls per-user MFA needs, behind one interface so that `set` (one user,
 * direct requests) and `bulk set` (many users, batched by the engine) share one decision path.
 * Every method throws GraphError (or AuthError / NetworkError) when Graph says no.
 */
export interface MfaPort {
  resolveUser(tenant: string, user: string, signal?: AbortSignal): Promise<ResolvedUser>;
  readState(tenant: string, user: ResolvedUser, signal?: AbortSignal): Promise<{ state: MfaStateRead; requestId: string | undefined }>;
  writeState(tenant: string, user: ResolvedUser, state: MfaState, signal?: AbortSignal): Promise<{ requestId: string | undefined }>;
}

const USER_SELECT = "id,userPrincipalName";

export function requirementsUrl(userId: string): string {
  return `/${userPathSegment({ kind: "id", id: userId })}/authentication/requirements`;
}

function userUrl(user: string): string {
  return `/${userPathSegment(parseUserRef(user))}`;
}

function toResolved(body: unknown, user: string): ResolvedUser {
  const { id, userPrincipalName } = (body ?? {}) as { id?: unknown; userPrincipalName?: unknown };
  if (typeof id !== "string" || typeof userPrincipalName !== "string") {
    throw new GraphError(`Graph returned a user without id or userPrincipalName for ${user}.`, { status: 200, code: "UnexpectedResponse", user });
  }
  return { id, userPrincipalName };
}

/** One request at a time through the GraphClient (auth, throttle gate, retry). */
export function directPort(client: GraphClient): MfaPort {
  return {
    async resolveUser(tenant, user, signal) {
      const res = await client.request({ tenant, method: "GET", path: `/v1.0${userUrl(user)}`, query: { $select: USER_SELECT }, user, signal });
      return toResolved(res.body, user);
    },
    async readState(tenant, user, signal) {
      const res = await client.request<{ perUserMfaState?: unknown }>({ tenant, method: "GET", path: `/beta${requirementsUrl(user.id)}`, user: user.userPrincipalName, signal });
      return { state: readMfaState(res.body?.perUserMfaState), requestId: res.requestId };
    },
    async writeState(tenant, user, state, signal) {
      const res = await client.request({
        tenant,
        method: "PATCH",
        path: `/beta${requirementsUrl(user.id)}`,
        body: { perUserMfaState: state },
        user: user.userPrincipalName,
        signal,
      });
      return { requestId: res.requestId };
    },
  };
}

/** Through the batch engine: requests are packed into `$batch` calls and paced per tenant. */
export function enginePort(engine: BatchEngine): MfaPort {
  return {
    async resolveUser(tenant, user, signal) {
      const res = ok(await engine.submit({ tenant, version: "v1.0", method: "GET", url: `${userUrl(user)}?$select=${USER_SELECT}`, user, signal }), tenant, user, "GET", "/users");
      return toResolved(res.body, user);
    },
    async readState(tenant, user, signal) {
      const res = ok(
        await engine.submit<{ perUserMfaState?: unknown }>({ tenant, version: "beta", method: "GET", url: requirementsUrl(user.id), user: user.userPrincipalName, signal }),
        tenant,
        user.userPrincipalName,
        "GET",
        requirementsUrl(user.id),
      );
      return { state: readMfaState(res.body?.perUserMfaState), requestId: res.requestId };
    },
    async writeState(tenant, user, state, signal) {
      const res = ok(
        await engine.submit({ tenant, version: "beta", method: "PATCH", url: requirementsUrl(user.id), body: { perUserMfaState: state }, user: user.userPrincipalName, signal }),
        tenant,
        user.userPrincipalName,
        "PATCH",
        requirementsUrl(user.id),
      );
      return { requestId: res.requestId };
    },
  };
}

/** A sub-response that is not 2xx becomes the same GraphError a direct request would throw. */
export function ok<T>(res: EngineResponse<T>, tenant: string, user: string | undefined, method: string, path?: string): EngineResponse<T> {
  if (res.status >= 200 && res.status < 300) return res;
  throw graphErrorFromBody(res.status, res.body, { tenant, user, requestId: res.requestId, attempts: res.attempts, method, ...(path !== undefined ? { path } : {}) });
}

export function graphErrorFromBody(
  status: number,
  body: unknown,
  ctx: { tenant: string; user: string | undefined; requestId: string | undefined; attempts: number; method: string; path?: string },
): GraphError {
  const error = (body as { error?: { code?: unknown; message?: unknown; innerError?: { "request-id"?: unknown } } } | undefined)?.error;
  const code = typeof error?.code === "string" ? error.code : status === 0 ? "NoResponse" : "UnknownError";
  const message = typeof error?.message === "string" ? error.message.replace(/\s+/g, " ").trim() : `HTTP ${status}`;
  const requestId = ctx.requestId ?? (typeof error?.innerError?.["request-id"] === "string" ? error.innerError["request-id"] : undefined);
  const who = ctx.user ? `user ${ctx.user}, ` : "";
  const tries = ctx.attempts > 1 ? ` Gave up after ${ctx.attempts} attempts.` : "";
  // Inside a $batch too, a 403 says which permission the call needs; not when GDAP's error mapping (auth/delegated.ts)
  // has already named the relationship's missing role, which a delegated token's 403 is about.
  const hint = status === 403 && ctx.path !== undefined && !/^The GDAP relationship /.test(message) ? ` The app lacks the permission or its admin consent (${permissionFor(ctx.path, ctx.method.split(" ")[0] ?? "GET")}).` : "";
  return new GraphError(`Graph answered ${status} ${code} to ${ctx.method} (${who}tenant ${ctx.tenant}): ${message.replace(/\.+$/, "")}.${hint}${tries}`, {
    status,
    code,
    requestId,
    tenant: ctx.tenant,
    user: ctx.user,
    attempts: ctx.attempts,
  });
}
