import { readFile } from "node:fs/promises";
import { ApiScopeSchema, SmtpServerSchema, UsageError } from "@mfactl/core";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

/** A tenant the server serves: its id or domain, and other names callers may use for it. */
export const ServedTenantSchema = z.union([
  z.string().min(1),
  z
    .object({
      /** What Graph is called with (tenant id or a verified domain). */
      tenant: z.string().min(1),
      /** Other names for it (the id, other domains): callers and allow-lists may use any. */
      aliases: z.array(z.string().min(1)).default([]),
      displayName: z.string().optional(),
    })
    .strict(),
]);

/** An app allowed to call with an Entra access token: its app (client) id mapped to scopes and tenants. */
export const EntraAppSchema = z
  .object({
    appId: z.string().min(1),
    /** For people and the journal: the actor is `app:<appId>` and this name shows in the audit log. */
    name: z.string().min(1).optional(),
    scopes: z.array(ApiScopeSchema).min(1),
    /** Tenants this app may touch; absent = every tenant served. */
    tenants: z.array(z.string().min(1)).optional(),
  })
  .strict();
export type EntraApp = z.infer<typeof EntraAppSchema>;

/** What a person may do through the dashboard; each holds the one below it. */
export const ROLES = ["reader", "operator", "admin"] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

/** A person given a role in the settings: wins over the app roles in their token. */
export const EntraPersonSchema = z
  .object({
    /** Matched case-insensitively on the token's upn (v1) or preferred_username (v2). */
    userPrincipalName: z.string().min(1),
    role: RoleSchema,
    /** Tenants this person may touch; absent = every tenant served. */
    tenants: z.array(z.string().min(1)).optional(),
  })
  .strict();
export type EntraPerson = z.infer<typeof EntraPersonSchema>;

/** The app-role values (the token's `roles` claim) that give each role. */
export const EntraRolesSchema = z
  .object({
    reader: z.array(z.string().min(1)).optional(),
    operator: z.array(z.string().min(1)).optional(),
    admin: z.array(z.string().min(1)).optional(),
  })
  .strict();
export type EntraRoles = z.infer<typeof EntraRolesSchema>;

/** The app roles defined on the mfactl API app registration, by default. */
export const DEFAULT_ROLE_VALUES: Readonly<Record<Role, readonly string[]>> = { reader: ["MfaState.Read"], operator: ["MfaState.ReadWrite"], admin: ["Admin"] };

export const EntraSettingsSchema = z
  .object({
    /** The tenant that issues the callers' tokens (the MSP's own tenant id). */
    tenantId: z.string().min(1),
    /** Accepted `aud` values: `api://<server app client id>` (v1 tokens) and/or the client id (v2 tokens). */
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Default: the CLI's authority host (https://login.microsoftonline.com). */
    authorityHost: z.string().url().optional(),
    /** Accepted issuers; default the v1 (`https://sts.windows.net/<tid>/`) and v2 (from discovery) issuers of `tenantId`. */
    issuers: z.array(z.string().min(1)).optional(),
    apps: z.array(EntraAppSchema).default([]),
    /** The dashboard's SPA app registration: its delegated tokens (people signed in) are accepted. */
    dashboard: z
      .object({
        clientId: z.string().min(1),
        /** The API scope the dashboard asks for; default `<the first api:// audience>/access_as_user`. */
        scope: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** App-role values per role; default reader ← MfaState.Read, operator ← MfaState.ReadWrite, admin ← Admin. */
    roles: EntraRolesSchema.optional(),
    /** Roles given here, by UPN, instead of (and winning over) app roles. */
    people: z
      .array(EntraPersonSchema)
      .superRefine((people, ctx) => {
        const seen = new Set<string>();
        people.forEach((p, i) => {
          const key = p.userPrincipalName.toLowerCase();
          if (seen.has(key)) ctx.addIssue({ code: "custom", path: [i, "userPrincipalName"], message: `${p.userPrincipalName} is listed twice: give each person one role` });
          seen.add(key);
        });
      })
      .optional(),
  })
  .strict();
export type EntraSettings = z.infer<typeof EntraSettingsSchema>;
export type EntraSettingsInput = z.input<typeof EntraSettingsSchema>;

export const ServerSettingsSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8443),
    /** Tenants served (the profile's tenants when absent). */
    tenants: z.array(ServedTenantSchema).optional(),
    tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
    rateLimit: z
      .object({
        /** Requests per credential (or per address when unauthenticated) per window. */
        max: z.number().int().positive().default(600),
        windowSeconds: z.number().positive().default(60),
      })
      .strict()
      .default({ max: 600, windowSeconds: 60 }),
    entra: EntraSettingsSchema.optional(),
    /** Seconds a shutdown waits for running jobs before leaving them resumable. */
    shutdownGraceSeconds: z.number().nonnegative().default(30),
    /** Finished jobs kept (in memory, or in the store in a cluster) for their results. */
    keepJobs: z.number().int().positive().default(200),
    /** Scheduled drift checks (docs/commands/schedule.md): fired by every instance's scheduler, each period once. */
    scheduler: z
      .object({
        enabled: z.boolean().default(true),
        /** How often schedules are looked at; a period fires within this of its time. */
        tickSeconds: z.number().positive().default(1),
      })
      .strict()
      .default({ enabled: true, tickSeconds: 1 }),
    /**
     * Several instances on one PostgreSQL database (docs/api/cluster.md): jobs queued with pg-boss and
     * carried out by any instance, taken over when an instance dies; shared tenant throttling budgets.
     */
    cluster: z
      .object({
        /** Default: on with a PostgreSQL store, off (one instance) with SQLite. */
        enabled: z.boolean().optional(),
        /** An instance silent this long is taken for dead and its jobs go on elsewhere. */
        leaseSeconds: z.number().min(1).default(30),
        /** Jobs one instance carries out at once. */
        concurrency: z.number().int().positive().default(4),
        /** How often an idle instance asks the queue for work (at least 0.5). */
        pollSeconds: z.number().min(0.5).default(1),
        /** The PostgreSQL schema of pg-boss's tables; default `<the store's schema>_queue`. */
        queueSchema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, "a plain PostgreSQL identifier").optional(),
        /** Share each tenant's throttling budget between instances through the database. */
        sharedBudgets: z.boolean().default(true),
      })
      .strict()
      .default({ leaseSeconds: 30, concurrency: 4, pollSeconds: 1, sharedBudgets: true }),
    /** How alert emails are sent (the password from MFACTL_SMTP_PASSWORD, never in this file). */
    smtp: SmtpServerSchema.optional(),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  })
  .strict();
export type ServerSettings = z.infer<typeof ServerSettingsSchema>;
export type ServerSettingsInput = z.input<typeof ServerSettingsSchema>;

/** Reads a settings file (YAML or JSON), strictly: unknown keys and bad values name their path. */
export async function readServerSettings(file: string): Promise<ServerSettingsInput> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`Cannot read the server settings ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  return parseServerSettings(raw ?? {}, file);
}

export function parseServerSettings(raw: unknown, source: string): ServerSettings {
  const parsed = ServerSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ");
    throw new UsageError(`${source}: ${problems}`);
  }
  return parsed.data;
}
