import { createHash } from "node:crypto";
import { z } from "zod";
import { UsageError } from "../domain/errors.js";
import { MfaStateReadSchema, MfaStateSchema } from "../domain/mfa-state.js";
import { ErrorInfoSchema, WarningSchema } from "../domain/vocabulary.js";

/**
 * The plan file: what `mfactl plan` (and `enforce`, `migrate plan`) would change, written to disk
 * to be read by people (`plan show`) and carried out by `apply`. Versioned; its digest makes a
 * hand-edited or truncated file fail before anything is sent. Documented in docs/plan-file.md.
 */
export const PLAN_KIND = "mfactl.plan";
export const PLAN_VERSION = 1;

export const PlanItemSchema = z
  .object({
    tenant: z.string().min(1),
    id: z.string().min(1),
    userPrincipalName: z.string(),
    /** The state read when the plan was made; `apply` skips the user as a conflict when it differs. */
    perUserMfaState: MfaStateReadSchema,
    requestedState: MfaStateSchema,
    /** A protected account, included because the plan was made with --include-protected. */
    protected: z.boolean().default(false),
    warnings: z.array(WarningSchema).default([]),
  })
  .strict();
export type PlanItem = z.infer<typeof PlanItemSchema>;

/**
 * `protected`: a protected account the selection reached; `excluded`: in the --exclude list;
 * `wouldLoseMfa`: (migrate) per-user MFA is the user's only known protection.
 */
export const LEFT_OUT_REASONS = ["protected", "excluded", "wouldLoseMfa"] as const;
export const LeftOutSchema = z
  .object({
    tenant: z.string(),
    id: z.string(),
    userPrincipalName: z.string(),
    perUserMfaState: MfaStateReadSchema.optional(),
    reason: z.enum(LEFT_OUT_REASONS),
    detail: z.string().optional(),
  })
  .strict();
export type LeftOut = z.infer<typeof LeftOutSchema>;

export const PlanFailureSchema = z
  .object({
    tenant: z.string(),
    /** Absent when the whole tenant failed. */
    userPrincipalName: z.string().optional(),
    error: ErrorInfoSchema,
  })
  .strict();
export type PlanFailure = z.infer<typeof PlanFailureSchema>;

export const TenantPlanSummarySchema = z.object({ selected: z.number().int(), changes: z.number().int(), unchanged: z.number().int(), leftOut: z.number().int(), failed: z.number().int() }).strict();

export const PlanBodySchema = z
  .object({
    kind: z.literal(PLAN_KIND),
    version: z.literal(PLAN_VERSION),
    /** A plan is carried out by one run only (the journal refuses a second). */
    planId: z.uuid(),
    createdAt: z.iso.datetime({ offset: true }),
    createdBy: z.object({ actor: z.string(), host: z.string() }).strict(),
    /** What made the plan, for people: `plan --state enforced --licensed`, `enforce --policy p.yaml`. */
    source: z.object({ command: z.enum(["plan", "enforce", "migrate"]), description: z.string(), tenants: z.array(z.string()) }).strict(),
    includeProtected: z.boolean().default(false),
    summary: z
      .object({
        /** Users read to make the plan (the base of a percentage --max-changes). */
        selected: z.number().int().nonnegative(),
        changes: z.number().int().nonnegative(),
        unchanged: z.number().int().nonnegative(),
        leftOut: z.number().int().nonnegative(),
        warnings: z.number().int().nonnegative(),
        failed: z.number().int().nonnegative(),
        byTenant: z.record(z.string(), TenantPlanSummarySchema),
      })
      .strict(),
    items: z.array(PlanItemSchema),
    leftOut: z.array(LeftOutSchema).default([]),
    failures: z.array(PlanFailureSchema).default([]),
  })
  .strict();
export type PlanBody = z.infer<typeof PlanBodySchema>;
export type PlanFile = PlanBody & { digest: string };

function digestOf(body: PlanBody): string {
  return `sha256:${createHash("sha256").update(JSON.stringify(body)).digest("hex")}`;
}

/** The file's text: the validated body (keys in schema order) and its digest. */
export function serializePlan(body: z.input<typeof PlanBodySchema>): string {
  const parsed = PlanBodySchema.parse(body);
  return `${JSON.stringify({ ...parsed, digest: digestOf(parsed) }, null, 2)}\n`;
}

/**
 * Read a plan file's text. Anything wrong (not JSON, not a plan, a newer version, a field out of
 * place, edited by hand, the same user twice) is a UsageError naming the file and the place.
 */
export function parsePlan(text: string, source: string): PlanFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${source} is not a plan file: it is not valid JSON (${(error as Error).message}). Nothing was changed.`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || (raw as { kind?: unknown }).kind !== PLAN_KIND) {
    throw new UsageError(`${source} is not an mfactl plan file (no "kind": "${PLAN_KIND}"). Make one with \`mfactl plan --out ${source}\`. Nothing was changed.`);
  }
  const { digest, ...rest } = raw as Record<string, unknown>;
  const version = rest["version"];
  if (typeof version === "number" && version > PLAN_VERSION) {
    throw new UsageError(`${source} is a version ${version} plan; this mfactl reads version ${PLAN_VERSION}. Upgrade mfactl or make the plan again. Nothing was changed.`);
  }
  const parsed = PlanBodySchema.safeParse(rest);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`);
    throw new UsageError(`${source} is not a valid plan file: ${issues.join("; ")}. Nothing was changed.`);
  }
  if (typeof digest !== "string") throw new UsageError(`${source} has no digest: it was not written by mfactl plan, or was cut short. Nothing was changed.`);
  if (digest !== digestOf(parsed.data)) {
    throw new UsageError(`${source} was changed after mfactl wrote it (its digest does not match its content). Make a new plan with \`mfactl plan\` instead of editing one. Nothing was changed.`);
  }
  const seen = new Set<string>();
  for (const [index, item] of parsed.data.items.entries()) {
    const key = `${item.tenant.toLowerCase()}/${item.id.toLowerCase()}`;
    if (seen.has(key)) throw new UsageError(`${source}: items.${index} repeats user ${item.userPrincipalName} of ${item.tenant}. Nothing was changed.`);
    seen.add(key);
  }
  return { ...parsed.data, digest };
}
