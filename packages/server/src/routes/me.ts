import { ApiScopeSchema } from "@mfactl/core";
import { z } from "zod";
import { requirePrincipal, roleOf } from "../auth/principal.js";
import type { ServerContext } from "../context.js";
import { ErrorBodySchema } from "../errors.js";
import { RoleSchema } from "../settings.js";
import type { ZodApp } from "../app.js";

export const MeSchema = z.object({
  /** As the journal and the audit log name the caller: `apikey:<name>`, `app:<client id>`, `user:<upn>`. */
  actor: z.string(),
  kind: z.enum(["apikey", "entra", "user", "schedule"]),
  /** For people: the key's or app's name, or the person's display name and UPN. */
  name: z.string(),
  /** A person's role; for a key or an app, what its scopes amount to. Absent: none (nothing allowed). */
  role: RoleSchema.optional(),
  scopes: z.array(ApiScopeSchema),
  /** The tenants the caller may act on; absent: every tenant served. */
  tenants: z.array(z.string()).optional(),
});

/** GET /v1/me: who the server takes the caller for, and what they may do (the dashboard greets them and hides what they may not use). */
export function meRoutes(app: ZodApp, _ctx: ServerContext): void {
  app.get(
    "/v1/me",
    { schema: { tags: ["access"], summary: "The caller: actor, kind, name, role, scopes and tenants (any credential the server knows, no scope needed)", response: { 200: MeSchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 429: ErrorBodySchema } } },
    async (req) => {
      const p = requirePrincipal(req);
      const role = roleOf(p);
      return { actor: p.actor, kind: p.kind, name: p.name, ...(role !== undefined ? { role } : {}), scopes: [...p.scopes].sort(), ...(p.tenants !== undefined ? { tenants: [...p.tenants] } : {}) };
    },
  );
}
