import { z } from "zod";
import type { ServerContext } from "../context.js";
import type { ZodApp } from "../app.js";

const HealthSchema = z.object({ status: z.literal("ok") });
const ReadySchema = z.object({ status: z.enum(["ready", "unavailable", "shuttingDown"]), database: z.string(), reason: z.string().optional() });

/** Liveness (the process answers) and readiness (the database answers, not shutting down). No credentials needed; no secrets in either. */
export function healthRoutes(app: ZodApp, ctx: ServerContext): void {
  app.get("/health", { schema: { tags: ["operations"], summary: "Liveness", response: { 200: HealthSchema } }, config: { rateLimit: false } }, async () => ({ status: "ok" as const }));
  app.get(
    "/ready",
    { schema: { tags: ["operations"], summary: "Readiness: the database answers and the server takes work", response: { 200: ReadySchema, 503: ReadySchema } }, config: { rateLimit: false } },
    async (_req, reply) => {
      if (!ctx.jobs.accepting) return reply.status(503).send({ status: "shuttingDown" as const, database: ctx.store.kind });
      try {
        await ctx.store.ping();
        return { status: "ready" as const, database: ctx.store.kind };
      } catch (error) {
        return reply.status(503).send({ status: "unavailable" as const, database: ctx.store.kind, reason: (error as Error).message });
      }
    },
  );
}
