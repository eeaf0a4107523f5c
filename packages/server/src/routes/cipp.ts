import { getUserMfa, isMfaState, postureReport, ProtectedAccounts, reportUsers, setUserMfa, toCippMfaUserRow, type CippMfaUserRow } from "@mfactl/core";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { requireScope, type Principal } from "../auth/principal.js";
import { audit, servedTenant, type ServerContext } from "../context.js";
import { mapError, UpstreamError } from "../errors.js";
import type { ZodApp } from "../app.js";

/**
 * CIPP's per-user MFA endpoints, so the Set-CIPPPerUserMFA cmdlet and the n8n CIPP nodes work
 * with only their URL and credential changed. CIPP's dialect (Results, PerUserMFAState,
 * tenantFilter, case-insensitive keys) lives here only; inside it is core's vocabulary. Unlike
 * CIPP, a change Graph refused is a failure (HTTP 500 with the reason), never a success.
 */

const ResultsSchema = z.object({ Results: z.array(z.string()) });
const anyObject = z.record(z.string(), z.unknown());
const CippMfaUserSchema = z.object({
  UPN: z.string(),
  ID: z.string(),
  DisplayName: z.string(),
  AccountEnabled: z.boolean(),
  UserType: z.string(),
  isLicensed: z.boolean(),
  PerUser: z.string().nullable(),
  MFARegistration: z.boolean().nullable(),
  MFACapable: z.boolean().nullable(),
  MFAMethods: z.array(z.string()),
  CoveredByCA: z.string(),
  CAPolicies: z.array(z.object({ DisplayName: z.string(), UserIncluded: z.boolean(), AllApps: z.boolean(), PolicyState: z.string() })),
  CoveredBySD: z.boolean().nullable(),
  IsAdmin: z.boolean(),
  Tenant: z.string(),
});

/** Body and query keys are case-insensitive in CIPP. */
function lowerKeys(value: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (value && typeof value === "object" && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) out.set(k.toLowerCase(), v);
  return out;
}

class CippInputError extends Error {}

function text(keys: Map<string, unknown>, name: string): string | undefined {
  const v = keys.get(name.toLowerCase());
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v.trim() === "" ? undefined : v.trim();
  if (typeof v === "number") return String(v);
  throw new CippInputError(`${name} must be a string.`);
}

/** `State` as "Enforced" or `{ label: "Enforced", value: "enforced" }`, case-insensitive. */
function stateOf(keys: Map<string, unknown>): string {
  const raw = keys.get("state");
  let value: unknown = raw;
  if (raw && typeof raw === "object" && !Array.isArray(raw)) {
    const inner = lowerKeys(raw);
    value = inner.get("value") ?? inner.get("label");
  }
  if (typeof value !== "string" || value.trim() === "") throw new CippInputError("State is required: Enabled, Disabled or Enforced (a string or {label, value}).");
  const state = value.trim().toLowerCase();
  if (!isMfaState(state)) throw new CippInputError(`State ${JSON.stringify(value)} is not one of Enabled, Disabled, Enforced.`);
  return state;
}

function results(reply: FastifyReply, status: number, lines: string[]): FastifyReply {
  return reply.status(status).send({ Results: lines });
}

/** Errors as CIPP clients read them: a status and a Results line. */
function cippError(req: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  if (error instanceof CippInputError) return results(reply, 400, [error.message]);
  // The rate limiter throws its own answer ({ statusCode: 429, error: { message } }), not an Error.
  const limited = rateLimitMessage(error);
  if (limited) return results(reply, 429, [limited]);
  const mapped = mapError(error);
  if (mapped.status >= 500 && mapped.error.code === "InternalError") req.log.error({ err: error }, "request failed");
  return results(reply, mapped.status, [mapped.error.message]);
}

function rateLimitMessage(error: unknown): string | undefined {
  if (!error || typeof error !== "object" || (error as { statusCode?: unknown }).statusCode !== 429) return undefined;
  const inner = (error as { error?: { message?: unknown } }).error?.message;
  return typeof inner === "string" ? inner : undefined;
}

function tenantsFor(ctx: ServerContext, p: Principal, filter: string): string[] {
  if (filter.toLowerCase() === "alltenants") {
    return ctx.tenants.list.filter((t) => p.tenants === undefined || p.tenants.some((n) => t.names.has(n.toLowerCase()))).map((t) => t.tenant);
  }
  return [servedTenant(ctx, p, filter).tenant];
}

export function cippRoutes(app: ZodApp, ctx: ServerContext): void {
  app.post(
    "/api/ExecPerUserMFA",
    {
      schema: {
        tags: ["CIPP-compatible"],
        summary: "Set a user's per-user MFA state (CIPP's ExecPerUserMFA)",
        description:
          'Body {"tenantFilter", "userPrincipalName" or "userId", "State"}: keys case-insensitive; State a string or {label, value}. 200 {"Results": ["Successfully set Per user MFA State for <user>"]}; a failed change 500 {"Results": ["Failed to set MFA State to <state> for <user>. Error: <message>"]}.',
        body: anyObject,
        response: { 200: ResultsSchema, 400: ResultsSchema, 401: ResultsSchema, 403: ResultsSchema, 404: ResultsSchema, 500: ResultsSchema, 503: ResultsSchema },
      },
      errorHandler: (error, req, reply) => {
        cippError(req, reply, error);
      },
    },
    async (req, reply) => {
      const p = requireScope(req, "write");
      const keys = lowerKeys(req.body);
      const tenantRef = text(keys, "tenantFilter");
      if (!tenantRef) throw new CippInputError("tenantFilter is required (a tenant id or domain).");
      const user = text(keys, "userPrincipalName") ?? text(keys, "userId");
      if (!user) throw new CippInputError("userPrincipalName or userId is required.");
      const state = stateOf(keys);
      const tenant = servedTenant(ctx, p, tenantRef);
      const change = await setUserMfa(ctx.graph, { tenant: tenant.tenant, user, state }, { signal: ctx.shutdown, protectedAccounts: new ProtectedAccounts(ctx.protectedList), journal: { journal: ctx.store.journal, actor: p.actor } });
      const ok = change.status === "changed" || change.status === "unchanged";
      await audit(ctx, req, {
        action: "mfa.set",
        outcome: ok ? "ok" : "failed",
        tenant: tenant.tenant,
        target: change.userPrincipalName || user,
        ...(change.runId ? { runId: change.runId } : {}),
        detail: `CIPP ExecPerUserMFA: ${change.previousState ?? "?"} -> ${change.requestedState}: ${change.status}${change.error ? ` (${change.error.code})` : ""}`,
      });
      if (ok) return results(reply, 200, [`Successfully set Per user MFA State for ${change.userPrincipalName || user}`]);
      // Graph's request id, once: core's message may already carry it.
      const requestId = change.requestId && !change.error?.message.includes(change.requestId) ? ` (request id ${change.requestId})` : "";
      const why = change.error ? `${change.error.message}${requestId}` : `the state is ${change.perUserMfaState ?? "unknown"}${change.requestId ? ` (request id ${change.requestId})` : ""}`;
      return results(reply, 500, [`Failed to set MFA State to ${state} for ${change.userPrincipalName || user}. Error: ${why}`]);
    },
  );

  app.get(
    "/api/ListPerUserMFA",
    {
      schema: {
        tags: ["CIPP-compatible"],
        summary: "Per-user MFA state of a user, or of every user with allUsers=true (CIPP's ListPerUserMFA)",
        querystring: anyObject,
        response: { 200: z.array(z.object({ PerUserMFAState: z.string(), UserPrincipalName: z.string(), id: z.string().optional() })), 400: ResultsSchema, 401: ResultsSchema, 403: ResultsSchema, 404: ResultsSchema, 502: ResultsSchema, 503: ResultsSchema },
      },
      errorHandler: (error, req, reply) => {
        cippError(req, reply, error);
      },
    },
    async (req) => {
      const p = requireScope(req, "read");
      const keys = lowerKeys(req.query);
      const tenantRef = text(keys, "tenantFilter");
      if (!tenantRef) throw new CippInputError("tenantFilter is required (a tenant id or domain).");
      const tenant = servedTenant(ctx, p, tenantRef);
      if ((text(keys, "allUsers") ?? "").toLowerCase() === "true") {
        const rows: { PerUserMFAState: string; UserPrincipalName: string; id: string }[] = [];
        for await (const item of reportUsers(ctx.engine, { tenants: [tenant.tenant] }, { signal: ctx.shutdown })) {
          if (item.kind === "user") rows.push({ PerUserMFAState: item.row.perUserMfaState, UserPrincipalName: item.row.userPrincipalName, id: item.row.id });
          else if (item.outcome.status === "failed") throw new UpstreamError("TenantFailed", item.outcome.error?.message ?? "the tenant failed");
        }
        return rows;
      }
      const user = text(keys, "userId") ?? text(keys, "userPrincipalName");
      if (!user) throw new CippInputError("userId (or allUsers=true) is required.");
      const state = await getUserMfa(ctx.graph, { tenant: tenant.tenant, user }, { signal: ctx.shutdown });
      // CIPP echoes the user as the caller named it (an object id stays an object id): clients match rows on it.
      return [{ PerUserMFAState: state.perUserMfaState, UserPrincipalName: user, id: state.id }];
    },
  );

  app.get(
    "/api/ListMFAUsers",
    {
      schema: {
        tags: ["CIPP-compatible"],
        summary: "Every user's MFA posture in CIPP's columns (CIPP's ListMFAUsers); tenantFilter=AllTenants for all",
        querystring: anyObject,
        response: { 200: z.array(CippMfaUserSchema), 400: ResultsSchema, 401: ResultsSchema, 403: ResultsSchema, 404: ResultsSchema, 502: ResultsSchema, 503: ResultsSchema },
      },
      errorHandler: (error, req, reply) => {
        cippError(req, reply, error);
      },
    },
    async (req, reply) => {
      const p = requireScope(req, "read");
      const keys = lowerKeys(req.query);
      const filter = text(keys, "tenantFilter");
      if (!filter) throw new CippInputError("tenantFilter is required (a tenant id or domain, or AllTenants).");
      const tenants = tenantsFor(ctx, p, filter);
      const rows: CippMfaUserRow[] = [];
      const failed: string[] = [];
      for await (const result of postureReport(ctx.engine, { tenants }, { signal: ctx.shutdown })) {
        if (result.status === "failed") failed.push(`${result.tenant}: ${result.error.message}`);
        else for (const u of result.users) rows.push(toCippMfaUserRow(u));
      }
      // One tenant alone failing is a failure; with AllTenants the others are still answered (CIPP does the same),
      // and the tenants left out are logged and named in a header: a partial answer is never silent.
      if (failed.length > 0 && (rows.length === 0 || tenants.length === 1)) throw new UpstreamError("TenantFailed", `Could not read ${failed.join("; ")}`);
      if (failed.length > 0) {
        req.log.warn({ failedTenants: failed }, "ListMFAUsers: tenants left out of the answer");
        reply.header("x-mfactl-failed-tenants", String(failed.length));
      }
      return rows;
    },
  );
}
