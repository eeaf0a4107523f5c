export { openSqliteJournal, type SqliteJournalOptions } from "./sqlite-journal.js";
export { defaultJournalPath } from "./paths.js";
export { JOURNAL_SCHEMA_VERSION } from "./schema.js";
