import { JOURNAL_CHANGE_STATUSES, JournalChangeSchema, resolveRun, RUN_STATUSES, RunRecordSchema, type JournalChange } from "@mfactl/core";
import { z } from "zod";
import { requireScope } from "../auth/principal.js";
import { mayView, type ServerContext } from "../context.js";
import { ErrorBodySchema } from "../errors.js";
import type { ZodApp } from "../app.js";

const RunParams = z.object({ run: z.string().min(1).max(200).describe("run id, a unique prefix, or last") });
const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 503: ErrorBodySchema };

/** The journal: every run (from the CLI or this server) and its changes, as `mfactl runs` shows them. */
export function runRoutes(app: ZodApp, ctx: ServerContext): void {
  app.get(
    "/v1/runs",
    {
      schema: {
        tags: ["runs"],
        summary: "Runs in the journal, newest first",
        querystring: z.object({ status: z.enum(RUN_STATUSES).optional(), limit: z.coerce.number().int().min(1).max(1000).default(50) }).strict(),
        response: { 200: z.object({ runs: z.array(RunRecordSchema) }), ...errors },
      },
    },
    async (req) => {
      requireScope(req, "read");
      return { runs: await ctx.store.journal.listRuns({ limit: req.query.limit, ...(req.query.status ? { status: req.query.status } : {}) }) };
    },
  );

  app.get("/v1/runs/:run", { schema: { tags: ["runs"], summary: "One run with its counts", params: RunParams, response: { 200: RunRecordSchema, ...errors } } }, async (req) => {
    requireScope(req, "read");
    return resolveRun(ctx.store.journal, req.params.run);
  });

  app.get(
    "/v1/runs/:run/changes",
    {
      schema: {
        tags: ["runs"],
        summary: "A run's changes in order, paged (cursor = the last seq seen); a caller limited to some tenants sees theirs only",
        params: RunParams,
        querystring: z
          .object({
            status: z.union([z.enum(JOURNAL_CHANGE_STATUSES), z.array(z.enum(JOURNAL_CHANGE_STATUSES))]).optional(),
            cursor: z.coerce.number().int().min(-1).optional(),
            limit: z.coerce.number().int().min(1).max(5000).default(1000),
          })
          .strict(),
        response: { 200: z.object({ changes: z.array(JournalChangeSchema), nextCursor: z.number().int().optional() }), ...errors },
      },
    },
    async (req) => {
      const p = requireScope(req, "read");
      const run = await resolveRun(ctx.store.journal, req.params.run);
      const status = req.query.status === undefined ? undefined : Array.isArray(req.query.status) ? req.query.status : [req.query.status];
      const changes: JournalChange[] = [];
      // One more than asked: tells whether there is a next page without a count query.
      for await (const c of ctx.store.journal.changes(run.runId, { status, afterSeq: req.query.cursor, limit: req.query.limit + 1 })) changes.push(c);
      const more = changes.length > req.query.limit;
      if (more) changes.pop();
      const nextCursor = changes.at(-1)?.seq ?? 0;
      // A caller limited to some tenants sees their users only (a page may then hold fewer than limit).
      return { changes: changes.filter((c) => mayView(ctx, p, c.tenant)), ...(more ? { nextCursor } : {}) };
    },
  );
}
