import { ApiKeyNameTakenError } from "../domain/errors.js";
import { ApiKeyRecordSchema, AuditEntrySchema, type AccessStore, type ApiKeyRecord, type AuditEntry, type AuditQuery, type NewApiKey, type NewAuditEntry } from "./types.js";

const NewAuditEntrySchema = AuditEntrySchema.omit({ seq: true });
const DEFAULT_AUDIT_LIMIT = 100;

interface StoredKey {
  record: ApiKeyRecord;
  hash: string;
}

/** Newest first; equal times by key id, descending (as the SQL stores order them). */
function newestFirst(a: StoredKey, b: StoredKey): number {
  if (a.record.createdAt !== b.record.createdAt) return a.record.createdAt < b.record.createdAt ? 1 : -1;
  return a.record.keyId < b.record.keyId ? 1 : a.record.keyId > b.record.keyId ? -1 : 0;
}

function limitOf(limit: number | undefined): number {
  if (limit === undefined || Number.isNaN(limit)) return DEFAULT_AUDIT_LIMIT;
  return Math.max(0, Math.floor(limit));
}

/** API keys and the audit log in memory: for tests and library callers without a database. Same rules as the stores. */
export function memoryAccessStore(): AccessStore {
  const keys: StoredKey[] = [];
  const audit: AuditEntry[] = [];
  let nextSeq = 1;

  const byKeyId = (keyId: string) => keys.find((k) => k.record.keyId === keyId);
  const liveByName = (name: string) => keys.find((k) => k.record.name === name && k.record.revokedAt === undefined);

  return {
    async createApiKey(key: NewApiKey) {
      if (typeof key.hash !== "string" || key.hash.length === 0) throw new TypeError("An API key needs its hash.");
      const record = ApiKeyRecordSchema.parse({
        keyId: key.keyId,
        name: key.name,
        scopes: key.scopes,
        ...(key.tenants !== undefined ? { tenants: key.tenants } : {}),
        createdAt: key.createdAt,
        createdBy: key.createdBy,
      });
      if (keys.some((k) => k.record.keyId === key.keyId || k.hash === key.hash)) {
        throw new Error(`An API key with the id ${key.keyId} or the same hash is already in memory; nothing was stored.`);
      }
      if (liveByName(key.name)) throw new ApiKeyNameTakenError(`An API key named ${key.name} already exists (not revoked); revoke it first or choose another name.`, { name: key.name });
      keys.push({ record, hash: key.hash });
      return structuredClone(record);
    },
    async findApiKeyByHash(hash: string) {
      const found = keys.find((k) => k.hash === hash);
      return found ? structuredClone(found.record) : undefined;
    },
    async listApiKeys() {
      return [...keys].sort(newestFirst).map((k) => structuredClone(k.record));
    },
    async revokeApiKey(keyIdOrName: string, at: string) {
      const found = byKeyId(keyIdOrName) ?? liveByName(keyIdOrName);
      if (!found) return undefined;
      found.record.revokedAt ??= at;
      return structuredClone(found.record);
    },
    async touchApiKey(keyId: string, at: string) {
      const found = byKeyId(keyId);
      if (found) found.record.lastUsedAt = at;
    },
    async appendAudit(entry: NewAuditEntry) {
      const valid = NewAuditEntrySchema.parse(entry);
      // Optional fields given as undefined are left out, as a database leaves NULL out.
      const stored = Object.fromEntries(Object.entries({ seq: nextSeq++, ...valid }).filter(([, v]) => v !== undefined)) as AuditEntry;
      audit.push(stored);
      return structuredClone(stored);
    },
    async listAudit(query: AuditQuery = {}) {
      const limit = limitOf(query.limit);
      const out: AuditEntry[] = [];
      for (let i = audit.length - 1; i >= 0 && out.length < limit; i--) {
        const e = audit[i];
        if (!e) continue;
        if (query.beforeSeq !== undefined && e.seq >= query.beforeSeq) continue;
        if (query.actor !== undefined && e.actor !== query.actor) continue;
        if (query.tenant !== undefined && e.tenant !== query.tenant) continue;
        if (query.action !== undefined && e.action !== query.action) continue;
        if (query.runId !== undefined && e.runId !== query.runId) continue;
        out.push(structuredClone(e));
      }
      return out;
    },
  };
}
