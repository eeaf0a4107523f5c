export { openSqliteJournal, type SqliteJournalOptions } from "./sqlite-journal.js";
export { openSqliteStore, type MfactlStore, type SqliteStoreOptions } from "./mfactl-store.js";
export { openPostgresStore, type PostgresStoreOptions } from "./postgres-store.js";
export { openStore, isPostgresUrl, type OpenStoreOptions } from "./open-store.js";
export { defaultJournalPath } from "./paths.js";
export { JOURNAL_SCHEMA_VERSION } from "./schema.js";
export type { JobRecordStore, JobRow } from "./job-records.js";
