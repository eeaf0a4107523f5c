import { z } from "zod";

/**
 * Who may call the server, and what they did: API keys (stored hashed) and the audit log. Core
 * sees this storage through `AccessStore`; `@mfactl/store` keeps it in the journal's database
 * (SQLite or PostgreSQL), `memoryAccessStore()` serves tests.
 */

/** `read`: see tenants, users, runs, reports and the audit log; `write`: change states and run jobs; `admin`: everything, protected accounts and others' jobs included. */
export const API_SCOPES = ["read", "write", "admin"] as const;
export const ApiScopeSchema = z.enum(API_SCOPES);
export type ApiScope = z.infer<typeof ApiScopeSchema>;

export const ApiKeyRecordSchema = z.object({
  /** Short public id (also the key's visible prefix), unique. */
  keyId: z.string().min(1),
  /** Unique among keys that are not revoked; the actor in the journal is `apikey:<name>`. */
  name: z.string().min(1),
  scopes: z.array(ApiScopeSchema).min(1),
  /** Tenants (ids or domains, lower case) this key may touch; absent = every tenant the server serves. */
  tenants: z.array(z.string().min(1)).optional(),
  /** ISO 8601. */
  createdAt: z.string(),
  /** Who created it ("cli:<user>@<host>"). */
  createdBy: z.string(),
  revokedAt: z.string().optional(),
  lastUsedAt: z.string().optional(),
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecordSchema>;

export interface NewApiKey {
  keyId: string;
  name: string;
  /** SHA-256 of the whole key, hex: keys are 256-bit random, so a fast hash is enough. */
  hash: string;
  scopes: ApiScope[];
  tenants?: string[] | undefined;
  createdAt: string;
  createdBy: string;
}

export const AUDIT_OUTCOMES = ["ok", "failed", "denied"] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export const AuditEntrySchema = z.object({
  /** Increasing, assigned by the store. */
  seq: z.number().int(),
  at: z.string(),
  /** `apikey:<name>`, `app:<client id>`, `user:<upn>`, `cli:<user>@<host>`. */
  actor: z.string(),
  /** `mfa.set`, `job.bulkSet`, `job.apply`, `job.undo`, `apikey.create`, `apikey.revoke`, ... */
  action: z.string(),
  outcome: z.enum(AUDIT_OUTCOMES),
  tenant: z.string().optional(),
  /** The user, key or plan acted on. */
  target: z.string().optional(),
  runId: z.string().optional(),
  /** The server's request id (`x-request-id`), to find the log lines. */
  requestId: z.string().optional(),
  /** One line for people; never a secret. */
  detail: z.string().optional(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
export type NewAuditEntry = Omit<AuditEntry, "seq">;

export interface AuditQuery {
  /** Only entries with a smaller seq (paging newest first). */
  beforeSeq?: number | undefined;
  /** Default 100. */
  limit?: number | undefined;
  actor?: string | undefined;
  tenant?: string | undefined;
  action?: string | undefined;
  runId?: string | undefined;
}

/**
 * Storage of API keys and the audit log. Every method is atomic. Failures of the database are
 * `JournalUnavailableError`, like the journal's.
 */
export interface AccessStore {
  /** Throws `ApiKeyNameTakenError` when a key that is not revoked already has this name. */
  createApiKey(key: NewApiKey): Promise<ApiKeyRecord>;
  /** The key with this hash, revoked or not (the caller refuses revoked ones). */
  findApiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Every key, revoked ones included, newest first. */
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Revokes the key with this key id, or the live key with this name; undefined when none. Revoking twice keeps the first time. */
  revokeApiKey(keyIdOrName: string, at: string): Promise<ApiKeyRecord | undefined>;
  /** Records that the key was used (callers may call it at most once a minute per key). */
  touchApiKey(keyId: string, at: string): Promise<void>;
  appendAudit(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Newest first. */
  listAudit(query?: AuditQuery): Promise<AuditEntry[]>;
}
