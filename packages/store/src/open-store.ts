import { openSqliteStore, type MfactlStore, type SqliteStoreOptions } from "./mfactl-store.js";
import { openPostgresStore, type PostgresStoreOptions } from "./postgres-store.js";

/** Each kind of database takes its own options and ignores the other's (`readonly` applies to both). */
export type OpenStoreOptions = SqliteStoreOptions & PostgresStoreOptions;

/** Whether `spec` names a PostgreSQL database (a `postgres://` or `postgresql://` URL) rather than an SQLite file. */
export function isPostgresUrl(spec: string): boolean {
  return /^postgres(ql)?:\/\//i.test(spec.trim());
}

/**
 * Opens the store `spec` names: PostgreSQL for a `postgres://` or `postgresql://` URL, else the
 * SQLite file at that path. Fails with `JournalUnavailableError` before returning when the
 * database cannot be used.
 */
export function openStore(spec: string, options: OpenStoreOptions = {}): Promise<MfactlStore> {
  if (isPostgresUrl(spec)) {
    return openPostgresStore(spec.trim(), {
      ...(options.schema !== undefined ? { schema: options.schema } : {}),
      ...(options.poolSize !== undefined ? { poolSize: options.poolSize } : {}),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      ...(options.readonly !== undefined ? { readonly: options.readonly } : {}),
    });
  }
  return openSqliteStore(spec, {
    ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
    ...(options.readonly !== undefined ? { readonly: options.readonly } : {}),
  });
}
