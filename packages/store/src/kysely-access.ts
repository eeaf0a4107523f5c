import {
  ApiKeyNameTakenError,
  ApiKeyRecordSchema,
  AuditEntrySchema,
  type AccessStore,
  type ApiKeyRecord,
  type AuditEntry,
  type AuditQuery,
  type NewApiKey,
  type NewAuditEntry,
} from "@mfactl/core";
import type { Insertable, Kysely, Selectable } from "kysely";
import type { StoreDatabase } from "./kysely-database.js";
import type { ApiKeysTable, AuditTable, JournalTables } from "./schema.js";

const NewAuditEntrySchema = AuditEntrySchema.omit({ seq: true });
const DEFAULT_AUDIT_LIMIT = 100;

/**
 * An `AccessStore` over the store's database (schema version 2: `api_keys`, `audit`). Every
 * method is one statement or one write transaction, correct on SQLite and on PostgreSQL under
 * READ COMMITTED without row locks:
 * - a live name is unique by the partial unique index `api_keys_live_name`, which createApiKey
 *   names as its ON CONFLICT target: of two creators racing for a name the second waits for the
 *   first and then inserts nothing (PostgreSQL), or runs after it (SQLite's write lock);
 * - revoking sets `revoked_at` only where it is NULL, so the first revocation's time stays;
 * - the audit seq comes from the database (AUTOINCREMENT, identity), never from a read.
 */
export function kyselyAccess(database: StoreDatabase): AccessStore {
  const { db, dialect, location, guard } = database;

  const byKeyId = (q: Kysely<JournalTables>, keyId: string) => q.selectFrom("api_keys").selectAll().where("key_id", "=", keyId).executeTakeFirst();

  return {
    createApiKey(key: NewApiKey) {
      return guard(async () => {
        const record = validKey(key);
        return dialect.write(async (trx) => {
          // A clear error for a caller's bug (ids and hashes are random), rather than a constraint failure.
          const same = await trx.selectFrom("api_keys").select(["key_id"]).where((eb) => eb.or([eb("key_id", "=", key.keyId), eb("hash", "=", key.hash)])).executeTakeFirst();
          if (same) throw new Error(`An API key with the id ${same.key_id === key.keyId ? key.keyId : "of another key"} or the same hash is already in ${location}; nothing was stored.`);
          const inserted = await trx
            .insertInto("api_keys")
            .values(keyRow(key))
            .onConflict((oc) => oc.column("name").where("revoked_at", "is", null).doNothing())
            .executeTakeFirst();
          if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) {
            throw new ApiKeyNameTakenError(`An API key named ${key.name} already exists (not revoked); revoke it first or choose another name.`, { name: key.name });
          }
          return record;
        });
      });
    },

    findApiKeyByHash(hash: string) {
      return guard(async () => {
        const row = await db.selectFrom("api_keys").selectAll().where("hash", "=", hash).executeTakeFirst();
        return row ? toApiKey(row) : undefined;
      });
    },

    listApiKeys() {
      return guard(async () => {
        const rows = await db.selectFrom("api_keys").selectAll().orderBy("created_at", "desc").orderBy("key_id", "desc").execute();
        return rows.map(toApiKey);
      });
    },

    revokeApiKey(keyIdOrName: string, at: string) {
      return guard(() =>
        dialect.write(async (trx) => {
          const keyId =
            (await byKeyId(trx, keyIdOrName))?.key_id ??
            (await trx.selectFrom("api_keys").select("key_id").where("name", "=", keyIdOrName).where("revoked_at", "is", null).executeTakeFirst())?.key_id;
          if (keyId === undefined) return undefined;
          // Only where not yet revoked: revoking twice (or two revokers racing) keeps the first time.
          await trx.updateTable("api_keys").set({ revoked_at: at }).where("key_id", "=", keyId).where("revoked_at", "is", null).execute();
          const row = await byKeyId(trx, keyId);
          return row ? toApiKey(row) : undefined;
        }),
      );
    },

    touchApiKey(keyId: string, at: string) {
      return guard(async () => {
        await db.updateTable("api_keys").set({ last_used_at: at }).where("key_id", "=", keyId).execute();
      });
    },

    appendAudit(entry: NewAuditEntry) {
      return guard(async () => {
        const valid = NewAuditEntrySchema.parse(entry);
        const values = auditRow(valid);
        const { seq } = await db.insertInto("audit").values(values).returning("seq").executeTakeFirstOrThrow();
        return toAuditEntry({ ...values, seq });
      });
    },

    listAudit(query: AuditQuery = {}) {
      return guard(async () => {
        const limit = sqlLimit(query.limit ?? DEFAULT_AUDIT_LIMIT);
        if (limit === 0) return [];
        let q = db.selectFrom("audit").selectAll();
        if (query.beforeSeq !== undefined) q = q.where("seq", "<", query.beforeSeq);
        if (query.actor !== undefined) q = q.where("actor", "=", query.actor);
        if (query.tenant !== undefined) q = q.where("tenant", "=", query.tenant);
        if (query.action !== undefined) q = q.where("action", "=", query.action);
        if (query.runId !== undefined) q = q.where("run_id", "=", query.runId);
        const rows = await q.orderBy("seq", "desc").limit(limit).execute();
        return rows.map(toAuditEntry);
      });
    },
  };
}

/** A limit as SQL takes it: a whole number, none for Infinity. */
function sqlLimit(limit: number): number {
  if (Number.isNaN(limit)) return DEFAULT_AUDIT_LIMIT;
  if (!Number.isFinite(limit)) return limit > 0 ? Number.MAX_SAFE_INTEGER : 0;
  return Math.max(0, Math.floor(limit));
}

/** The record a new key is stored as; throws (zod) for a key the schema refuses (no scopes, an unknown scope). */
function validKey(key: NewApiKey): ApiKeyRecord {
  if (typeof key.hash !== "string" || key.hash.length === 0) throw new TypeError("An API key needs its hash.");
  return ApiKeyRecordSchema.parse({
    keyId: key.keyId,
    name: key.name,
    scopes: key.scopes,
    ...(key.tenants !== undefined ? { tenants: key.tenants } : {}),
    createdAt: key.createdAt,
    createdBy: key.createdBy,
  });
}

function keyRow(key: NewApiKey): Insertable<ApiKeysTable> {
  return {
    key_id: key.keyId,
    name: key.name,
    hash: key.hash,
    scopes: JSON.stringify(key.scopes),
    tenants: key.tenants === undefined ? null : JSON.stringify(key.tenants),
    created_at: key.createdAt,
    created_by: key.createdBy,
    revoked_at: null,
    last_used_at: null,
  };
}

function toApiKey(r: Selectable<ApiKeysTable>): ApiKeyRecord {
  return ApiKeyRecordSchema.parse({
    keyId: r.key_id,
    name: r.name,
    scopes: JSON.parse(r.scopes),
    ...(r.tenants !== null ? { tenants: JSON.parse(r.tenants) } : {}),
    createdAt: r.created_at,
    createdBy: r.created_by,
    ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
    ...(r.last_used_at !== null ? { lastUsedAt: r.last_used_at } : {}),
  });
}

/** Every column but seq, NULL for what the entry leaves out. */
function auditRow(e: NewAuditEntry): Omit<Selectable<AuditTable>, "seq"> {
  return {
    at: e.at,
    actor: e.actor,
    action: e.action,
    outcome: e.outcome,
    tenant: e.tenant ?? null,
    target: e.target ?? null,
    run_id: e.runId ?? null,
    request_id: e.requestId ?? null,
    detail: e.detail ?? null,
  };
}

function toAuditEntry(r: Selectable<AuditTable>): AuditEntry {
  return {
    seq: Number(r.seq),
    at: r.at,
    actor: r.actor,
    action: r.action,
    outcome: r.outcome,
    ...(r.tenant !== null ? { tenant: r.tenant } : {}),
    ...(r.target !== null ? { target: r.target } : {}),
    ...(r.run_id !== null ? { runId: r.run_id } : {}),
    ...(r.request_id !== null ? { requestId: r.request_id } : {}),
    ...(r.detail !== null ? { detail: r.detail } : {}),
  };
}
