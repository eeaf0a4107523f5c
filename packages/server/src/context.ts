import type { AccessStore, BatchEngine, Clock, FetchLike, GraphClient, MaxChanges, NewAuditEntry, RunContext, SmtpSettings } from "@mfactl/core";
import { enginePort } from "@mfactl/core";
import type { MfactlStore } from "@mfactl/store";
import type { FastifyRequest } from "fastify";
import { requirePrincipal, requireTenant, type Principal } from "./auth/principal.js";
import { NotFoundError } from "./errors.js";
import type { Jobs } from "./jobs/jobs.js";
import type { EntraSignIn } from "./routes/dashboard.js";
import type { ServerSettings } from "./settings.js";
import { ServedTenants, type ServedTenant } from "./tenants.js";

/** What every route needs: the store, Graph, the tenants served, the guard rails, jobs. */
export interface ServerContext {
  settings: ServerSettings;
  store: MfactlStore;
  graph: GraphClient;
  engine: BatchEngine;
  tenants: ServedTenants;
  /** The profile's protected accounts (UPNs or ids). */
  protectedList: readonly string[];
  maxChanges?: { cap: MaxChanges; source: string } | undefined;
  clock: Clock;
  jobs: Jobs;
  /** Webhook alerts go out through this (default: Node's fetch). */
  alertFetch?: FetchLike | undefined;
  /** Alert emails (settings.smtp with its password). */
  smtp?: SmtpSettings | undefined;
  /** Aborted when the server shuts down. */
  shutdown: AbortSignal;
  /** How the dashboard signs people in with Entra ID (entra.dashboard set), for its config and CSP. */
  dashboardSignIn?: EntraSignIn | undefined;
}

export function access(ctx: ServerContext): AccessStore {
  return ctx.store.access;
}

/** The tenant named in a request, if served and allowed for the caller (404, 403 otherwise). */
export function servedTenant(ctx: ServerContext, principal: Principal, ref: string): ServedTenant {
  const tenant = ctx.tenants.find(ref);
  if (!tenant) throw new NotFoundError("TenantNotFound", `This server does not serve the tenant ${ref} (see GET /v1/tenants).`);
  requireTenant(principal, tenant);
  return tenant;
}

/**
 * Whether the caller may see a record (a journal change, an audit entry) of this tenant: always
 * without an allow-list; with one, only records of served tenants on it (under any of their names).
 */
export function mayView(ctx: ServerContext, principal: Principal, tenant: string | undefined): boolean {
  if (principal.tenants === undefined) return true;
  const served = tenant === undefined ? undefined : ctx.tenants.find(tenant);
  return served !== undefined && ServedTenants.allows(principal.tenants, served);
}

export function runContextFor(ctx: ServerContext, principal: Principal, signal?: AbortSignal): RunContext {
  return { journal: ctx.store.journal, port: enginePort(ctx.engine), actor: principal.actor, clock: ctx.clock, signal: signal ?? ctx.shutdown };
}

/** Appends to the audit log; a failure is logged, never fails the request (the journal holds the change). */
export async function audit(ctx: ServerContext, req: FastifyRequest, entry: Omit<NewAuditEntry, "at" | "actor" | "requestId"> & { actor?: string }): Promise<void> {
  const actor = entry.actor ?? req.principal?.actor ?? "anonymous";
  try {
    await ctx.store.access.appendAudit({ ...entry, actor, at: new Date(ctx.clock.now()).toISOString(), requestId: req.id });
  } catch (error) {
    req.log.error({ err: error, action: entry.action }, "audit log write failed");
  }
}

export { requirePrincipal };
