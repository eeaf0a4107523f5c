import {
  getUserMfa,
  MfaStateInputSchema,
  MfaStateReadSchema,
  ProtectedAccounts,
  ReportRowSchema,
  setUserMfa,
  UserMfaChangeSchema,
  UserMfaStateSchema,
  usersPage,
  type UserSort,
} from "@mfactl/core";
import { z } from "zod";
import { AccessDeniedError, hasScope, requireScope } from "../auth/principal.js";
import { audit, servedTenant, type ServerContext } from "../context.js";
import { ErrorBodySchema } from "../errors.js";
import type { ZodApp } from "../app.js";

const TenantParams = z.object({ tenant: z.string().min(1).max(256) });
const UserParams = TenantParams.extend({ user: z.string().min(1).max(1024).describe("object id or userPrincipalName (percent-encoded: guests' #EXT# is %23EXT%23)") });

const TenantSchema = z.object({ tenant: z.string(), displayName: z.string().optional(), names: z.array(z.string()) });

/** Graph's two sortable user properties; a leading "-" sorts descending. */
const USER_SORTS = ["displayName", "-displayName", "userPrincipalName", "-userPrincipalName"] as const;
const SORT_OF: Record<(typeof USER_SORTS)[number], UserSort> = {
  displayName: { by: "displayName", direction: "asc" },
  "-displayName": { by: "displayName", direction: "desc" },
  userPrincipalName: { by: "userPrincipalName", direction: "asc" },
  "-userPrincipalName": { by: "userPrincipalName", direction: "desc" },
};

const UsersQuery = z
  .object({
    state: z
      .union([MfaStateReadSchema, z.array(MfaStateReadSchema)])
      .optional()
      .describe("only users in this state (repeatable: state=enabled&state=enforced)"),
    search: z.string().trim().min(1).max(256).optional().describe("display name or UPN starting with this (case-insensitive)"),
    sort: z.enum(USER_SORTS).optional().describe("order by display name or UPN, case-insensitive; a leading - for descending. Absent: Graph's listing order"),
    cursor: z.string().min(1).max(4096).optional().describe("nextCursor of the previous page"),
    limit: z.coerce.number().int().min(1).max(999).default(100),
  })
  .strict();

export const PutMfaBodySchema = z
  .object({
    perUserMfaState: MfaStateInputSchema.describe("disabled | enabled | enforced (case-insensitive)"),
    dryRun: z.boolean().default(false),
    includeProtected: z.boolean().default(false).describe("change a protected account (needs the admin scope)"),
  })
  .strict();

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 429: ErrorBodySchema, 502: ErrorBodySchema, 503: ErrorBodySchema };

export function userRoutes(app: ZodApp, ctx: ServerContext): void {
  app.get(
    "/v1/tenants",
    { schema: { tags: ["tenants"], summary: "The tenants this server serves that the caller may see", response: { 200: z.object({ tenants: z.array(TenantSchema) }), 401: ErrorBodySchema, 403: ErrorBodySchema } } },
    async (req) => {
      const p = requireScope(req, "read");
      const tenants = ctx.tenants.list.filter((t) => p.tenants === undefined || p.tenants.some((n) => t.names.has(n.toLowerCase())));
      return { tenants: tenants.map((t) => ({ tenant: t.tenant, ...(t.displayName !== undefined ? { displayName: t.displayName } : {}), names: [...t.names] })) };
    },
  );

  app.get(
    "/v1/tenants/:tenant/users",
    {
      schema: {
        tags: ["users"],
        summary: "A page of the tenant's users with their per-user MFA state",
        params: TenantParams,
        querystring: UsersQuery,
        response: { 200: z.object({ users: z.array(ReportRowSchema), nextCursor: z.string().optional() }), ...errors },
      },
    },
    async (req) => {
      const p = requireScope(req, "read");
      const tenant = servedTenant(ctx, p, req.params.tenant);
      const states = req.query.state === undefined ? undefined : Array.isArray(req.query.state) ? req.query.state : [req.query.state];
      const page = await usersPage(
        ctx.engine,
        {
          tenant: tenant.tenant,
          limit: req.query.limit,
          ...(states ? { states } : {}),
          ...(req.query.search ? { search: req.query.search } : {}),
          ...(req.query.sort ? { sort: SORT_OF[req.query.sort] } : {}),
          ...(req.query.cursor ? { cursor: req.query.cursor } : {}),
        },
        ctx.shutdown,
      );
      return { users: page.users, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
    },
  );

  app.get(
    "/v1/tenants/:tenant/users/:user/mfa",
    { schema: { tags: ["users"], summary: "One user's per-user MFA state, read from Graph", params: UserParams, response: { 200: UserMfaStateSchema, ...errors } } },
    async (req) => {
      const p = requireScope(req, "read");
      const tenant = servedTenant(ctx, p, req.params.tenant);
      return getUserMfa(ctx.graph, { tenant: tenant.tenant, user: req.params.user }, { signal: ctx.shutdown });
    },
  );

  app.put(
    "/v1/tenants/:tenant/users/:user/mfa",
    {
      schema: {
        tags: ["users"],
        summary: "Set one user's per-user MFA state: read, change when it differs, read back, journaled",
        description:
          "200 with status changed, unchanged or wouldChange (dryRun). A change Graph refused answers with the change itself, status failed, its error and Graph's requestId: 404 when the user does not exist, 429 (Retry-After) or 503 when Graph still throttled or was unavailable after every retry, 502 otherwise.",
        params: UserParams,
        body: PutMfaBodySchema,
        response: { 200: UserMfaChangeSchema, 404: z.union([UserMfaChangeSchema, ErrorBodySchema]), 502: z.union([UserMfaChangeSchema, ErrorBodySchema]), 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 409: UserMfaChangeSchema, 429: z.union([UserMfaChangeSchema, ErrorBodySchema]), 503: z.union([UserMfaChangeSchema, ErrorBodySchema]) },
      },
    },
    async (req, reply) => {
      const p = requireScope(req, req.body.dryRun ? "read" : "write");
      const tenant = servedTenant(ctx, p, req.params.tenant);
      if (req.body.includeProtected && !hasScope(p, "admin")) throw new AccessDeniedError(403, "InsufficientScope", `${p.name}: includeProtected needs the admin scope.`);
      const change = await setUserMfa(
        ctx.graph,
        { tenant: tenant.tenant, user: req.params.user, state: req.body.perUserMfaState, dryRun: req.body.dryRun, includeProtected: req.body.includeProtected },
        { signal: ctx.shutdown, protectedAccounts: new ProtectedAccounts(ctx.protectedList), ...(req.body.dryRun ? {} : { journal: { journal: ctx.store.journal, actor: p.actor } }) },
      );
      if (!req.body.dryRun) {
        await audit(ctx, req, {
          action: "mfa.set",
          outcome: change.status === "failed" || change.status === "conflict" ? "failed" : "ok",
          tenant: tenant.tenant,
          target: change.userPrincipalName || req.params.user,
          ...(change.runId ? { runId: change.runId } : {}),
          detail: `${change.previousState ?? "?"} -> ${change.requestedState}: ${change.status}${change.error ? ` (${change.error.code})` : ""}`,
        });
      }
      if (change.status === "failed") {
        const graphStatus = change.error?.httpStatus;
        // Graph still throttling (or down) after every retry: say so, and when to come back, rather than a bare 502.
        if (graphStatus === 429 || graphStatus === 503 || graphStatus === 504) return reply.status(graphStatus === 429 ? 429 : 503).header("retry-after", "30").send(change);
        return reply.status(graphStatus === 404 ? 404 : 502).send(change);
      }
      if (change.status === "conflict") return reply.status(409).send(change);
      return change;
    },
  );
}
