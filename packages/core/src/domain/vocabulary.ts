import { z } from "zod";
import { MfaStateReadSchema, MfaStateSchema } from "./mfa-state.js";

/**
 * The one vocabulary every front end speaks. Field names here are the names in JSON, CSV,
 * tables and HTTP responses; front ends with another dialect (CIPP, n8n) map at their edge.
 */
export const FIELD_DESCRIPTIONS = {
  tenant: "The tenant as given: a tenant id (GUID) or a domain.",
  id: "The user's object id (GUID).",
  userPrincipalName: "The user's principal name (guests: ...#EXT#@...).",
  perUserMfaState: "The per-user MFA state read from Graph (after a change: the value read back).",
  previousState: "The state read before the change.",
  requestedState: "The state asked for.",
  status: "changed | unchanged | failed | conflict (the state was not what the plan read; nothing sent) | wouldChange (dry run).",
  requestId: "The Graph request id of the change (or of the failed request).",
  error: "Why it failed: a Graph error code and message.",
  warnings: "Things the administrator should know, for example enforced with no registered method.",
  runId: "The journal run that made (or would make) the change.",
  expectedState: "The state a plan or undo expects to find before changing a user (else: conflict).",
} as const;

export const ErrorInfoSchema = z.object({
  code: z.string(),
  message: z.string(),
  /** HTTP status, when an HTTP response was received. */
  httpStatus: z.number().int().optional(),
});
export type ErrorInfo = z.infer<typeof ErrorInfoSchema>;

/** Something the administrator should know about a change before making it. */
export const WarningSchema = z.object({
  /** Stable, for scripts: `NoRegisteredMethod`, `AdminLosesMfa`, `ProtectedAccount`, ... */
  code: z.string(),
  message: z.string(),
});
export type Warning = z.infer<typeof WarningSchema>;

export const UserMfaStateSchema = z.object({
  tenant: z.string(),
  id: z.string(),
  userPrincipalName: z.string(),
  perUserMfaState: MfaStateReadSchema,
});
export type UserMfaState = z.infer<typeof UserMfaStateSchema>;

export const CHANGE_STATUSES = ["changed", "unchanged", "failed", "conflict", "wouldChange"] as const;
export const ChangeStatusSchema = z.enum(CHANGE_STATUSES);
export type ChangeStatus = z.infer<typeof ChangeStatusSchema>;

export const UserMfaChangeSchema = z.object({
  tenant: z.string(),
  /** Empty when the user could not be resolved. */
  id: z.string(),
  userPrincipalName: z.string(),
  /** Absent when the state could not be read. */
  previousState: MfaStateReadSchema.optional(),
  requestedState: MfaStateSchema,
  /** The state read back after the change (the current state when nothing was sent). */
  perUserMfaState: MfaStateReadSchema.optional(),
  status: ChangeStatusSchema,
  requestId: z.string().optional(),
  error: ErrorInfoSchema.optional(),
  warnings: z.array(WarningSchema).optional(),
  /** The journal run that made the change. */
  runId: z.string().optional(),
});
export type UserMfaChange = z.infer<typeof UserMfaChangeSchema>;

/** One row of `report`: the fields administrators expect, in this order. */
export const REPORT_COLUMNS = ["tenant", "id", "userPrincipalName", "displayName", "userType", "accountEnabled", "isLicensed", "perUserMfaState"] as const;

export const ReportRowSchema = z.object({
  tenant: z.string(),
  id: z.string(),
  userPrincipalName: z.string(),
  displayName: z.string(),
  userType: z.string(),
  accountEnabled: z.boolean(),
  isLicensed: z.boolean(),
  perUserMfaState: MfaStateReadSchema,
});
export type ReportRow = z.infer<typeof ReportRowSchema>;

/** How a tenant ended in a multi-tenant run: the others go on whatever one tenant does. */
export const TenantOutcomeSchema = z.object({
  tenant: z.string(),
  status: z.enum(["completed", "failed"]),
  /** Users reported (report) or processed (bulk). */
  users: z.number().int(),
  error: ErrorInfoSchema.optional(),
});
export type TenantOutcome = z.infer<typeof TenantOutcomeSchema>;
