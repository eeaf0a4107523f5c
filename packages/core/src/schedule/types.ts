import { z } from "zod";
import { MfactlError } from "../domain/errors.js";

/**
 * Scheduled drift checks: a policy measured on a cron schedule, alerts sent, drift optionally
 * remediated through the journal. The definition is stored whole (the policy's text included) so any
 * instance can run it without the file it came from.
 */

/** Names are what people type (`mfactl schedule show nightly`): short, no spaces. */
export const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** When an alert goes out: on drift found (default), on every check, or only when remediation changed users. */
export const ALERT_WHEN = ["drift", "always", "remediated"] as const;
export type AlertWhen = (typeof ALERT_WHEN)[number];

/** `mfactl`: the documented JSON payload; `teams`, `slack`: ready for those incoming webhooks. */
export const WEBHOOK_FORMATS = ["mfactl", "teams", "slack"] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

export const WebhookAlertSchema = z
  .object({
    /** https:// (http:// only to loopback). Holds a secret for Teams and Slack: never shown whole. */
    url: z.string().url(),
    format: z.enum(WEBHOOK_FORMATS).default("mfactl"),
    /** Signs the body: `X-Mfactl-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>` with `X-Mfactl-Timestamp`. */
    secret: z.string().min(16).optional(),
    when: z.enum(ALERT_WHEN).default("drift"),
  })
  .strict();
export type WebhookAlert = z.infer<typeof WebhookAlertSchema>;

export const EmailAlertSchema = z
  .object({
    to: z.array(z.string().email()).min(1),
    /** Default: the SMTP settings' `from`. */
    from: z.string().email().optional(),
    when: z.enum(ALERT_WHEN).default("drift"),
  })
  .strict();
export type EmailAlert = z.infer<typeof EmailAlertSchema>;

export const RemediationSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** The run-size cap (`25`, `10%`) for remediation; default the profile's / server's maxChanges. Over it: nothing changed, the alert says so. */
    maxChanges: z.union([z.string().min(1), z.number().int().positive()]).optional(),
  })
  .strict();

/** What `mfactl schedule add` and `POST /v1/schedules` take. */
export const ScheduleInputSchema = z
  .object({
    name: z.string().regex(SCHEDULE_NAME, "letters, digits, '.', '_' or '-', at most 63, starting with a letter or digit"),
    /** Five fields (minute precision) or six (seconds first), as cron and croner read them. */
    cron: z.string().min(1),
    /** IANA time zone the cron expression is read in. */
    timezone: z.string().min(1).default("UTC"),
    /** The policy file's text (YAML or JSON, docs/policy.md). */
    policy: z.string().min(1),
    /** Where the policy came from (a file name), for people only. */
    policySource: z.string().min(1).optional(),
    /** Tenants to check; empty with allTenants: every tenant the policy names (or the profile's / server's tenants for `*`). */
    tenants: z.array(z.string().min(1)).default([]),
    allTenants: z.boolean().default(false),
    alerts: z
      .object({
        webhooks: z.array(WebhookAlertSchema).default([]),
        email: EmailAlertSchema.optional(),
      })
      .strict()
      .default({ webhooks: [] }),
    remediate: RemediationSchema.default({ enabled: false }),
    enabled: z.boolean().default(true),
  })
  .strict();
export type ScheduleInput = z.input<typeof ScheduleInputSchema>;
export type ScheduleDefinition = z.infer<typeof ScheduleInputSchema>;

/** A stored schedule. */
export interface ScheduleRecord extends ScheduleDefinition {
  scheduleId: string;
  createdAt: string;
  updatedAt: string;
  /** The actor who created it (journal vocabulary: `apikey:<name>`, `user:<upn>`, `app:<id>`). */
  createdBy: string;
}

export type NewSchedule = ScheduleRecord;

export const FIRE_STATUSES = ["running", "succeeded", "failed"] as const;
export type FireStatus = (typeof FIRE_STATUSES)[number];

/** One firing of a schedule: the period it is for (unique per schedule: a period fires once). */
export interface ScheduleFire {
  scheduleId: string;
  /** The cron occurrence this firing is for (ISO 8601, UTC). */
  period: string;
  startedAt: string;
  finishedAt?: string | undefined;
  status: FireStatus;
  /** Who fired it: `scheduler` or the actor of a manual run; and the instance (host:pid). */
  trigger: string;
  instance: string;
  /** The server job carrying it out, when run by a server. */
  jobId?: string | undefined;
  /** The DriftCheckResult (JSON-serialisable) once finished. */
  result?: unknown;
  error?: { code: string; message: string } | undefined;
}

export interface NewScheduleFire {
  scheduleId: string;
  period: string;
  startedAt: string;
  trigger: string;
  instance: string;
  jobId?: string | undefined;
}

/** The schedule's name is taken. */
export class ScheduleNameTakenError extends MfactlError {
  readonly kind = "scheduleNameTaken";
}

/**
 * Where schedules and their firings live (the store: SQLite or PostgreSQL). Every method is
 * atomic; `claimFire` is how a period fires once however many instances run.
 */
export interface ScheduleStore {
  /** Throws ScheduleNameTakenError when the name is taken (names compare case-insensitively). */
  createSchedule(schedule: NewSchedule): Promise<ScheduleRecord>;
  /** By id, or by name (case-insensitive). */
  getSchedule(idOrName: string): Promise<ScheduleRecord | undefined>;
  /** By name. */
  listSchedules(): Promise<ScheduleRecord[]>;
  /** Replaces the definition (name included: ScheduleNameTakenError when taken); undefined when there is no such schedule. */
  replaceSchedule(scheduleId: string, definition: ScheduleDefinition, updatedAt: string): Promise<ScheduleRecord | undefined>;
  /** Removes the schedule and its firings; false when there was none. */
  deleteSchedule(scheduleId: string): Promise<boolean>;
  /**
   * Records the firing for (scheduleId, period) as running, unless that period has a firing
   * already: then undefined (someone else fired it). Atomic across processes and instances.
   */
  claimFire(fire: NewScheduleFire): Promise<ScheduleFire | undefined>;
  /** Sets the job carrying out a claimed firing. */
  setFireJob(scheduleId: string, period: string, jobId: string): Promise<void>;
  /** Ends a firing (succeeded or failed) with its result or error. */
  finishFire(scheduleId: string, period: string, end: { status: Exclude<FireStatus, "running">; finishedAt: string; result?: unknown; error?: { code: string; message: string } | undefined }): Promise<void>;
  getFire(scheduleId: string, period: string): Promise<ScheduleFire | undefined>;
  /** Newest period first; `before`: periods earlier than this (paging). */
  listFires(scheduleId: string, options?: { limit?: number; before?: string }): Promise<ScheduleFire[]>;
}
