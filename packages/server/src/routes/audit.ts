import { AuditEntrySchema } from "@mfactl/core";
import { z } from "zod";
import { requireScope, requireTenant } from "../auth/principal.js";
import { mayView, type ServerContext } from "../context.js";
import { ErrorBodySchema } from "../errors.js";
import type { ZodApp } from "../app.js";

/** Who did what through this server (and `mfactl apikey`), newest first (the read scope: runs name their actors too). */
export function auditRoutes(app: ZodApp, ctx: ServerContext): void {
  app.get(
    "/v1/audit",
    {
      schema: {
        tags: ["audit"],
        summary: "The audit log, newest first (cursor = the last seq seen)",
        querystring: z
          .object({
            actor: z.string().min(1).optional(),
            tenant: z.string().min(1).optional(),
            action: z.string().min(1).optional(),
            runId: z.string().min(1).optional(),
            cursor: z.coerce.number().int().min(1).optional(),
            limit: z.coerce.number().int().min(1).max(1000).default(100),
          })
          .strict(),
        response: { 200: z.object({ entries: z.array(AuditEntrySchema), nextCursor: z.number().int().optional() }), 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 503: ErrorBodySchema },
      },
    },
    async (req) => {
      const p = requireScope(req, "read");
      const q = req.query;
      // Entries name a tenant as it is served: a tenant asked for by another of its names finds them too.
      const served = q.tenant === undefined ? undefined : ctx.tenants.find(q.tenant);
      if (served) requireTenant(p, served);
      const tenant = served?.tenant ?? q.tenant;
      const entries = await ctx.store.access.listAudit({ beforeSeq: q.cursor, limit: q.limit + 1, actor: q.actor, tenant, action: q.action, runId: q.runId });
      const more = entries.length > q.limit;
      if (more) entries.pop();
      const nextCursor = entries.at(-1)?.seq ?? 0;
      // A caller limited to some tenants sees its own entries and those of its tenants (a page may then hold fewer than limit).
      const shown = entries.filter((e) => e.actor === p.actor || mayView(ctx, p, e.tenant));
      return { entries: shown, ...(more ? { nextCursor } : {}) };
    },
  );
}
