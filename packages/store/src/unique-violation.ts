/**
 * Whether `error` is the unique-index violation of `index` (PostgreSQL: SQLSTATE 23505 naming the
 * index) or of `table.column` (SQLite: SQLITE_CONSTRAINT_UNIQUE, whose message names the columns).
 * For the one conflict a statement cannot avoid with ON CONFLICT: an UPDATE onto a taken value.
 */
export function isUniqueViolation(error: unknown, target: { table: string; column: string; index: string }): boolean {
  if (typeof error !== "object" || error === null || !("code" in error)) return false;
  if (error.code === "23505") return "constraint" in error && error.constraint === target.index;
  if (error.code === "SQLITE_CONSTRAINT_UNIQUE") return error instanceof Error && error.message.includes(`${target.table}.${target.column}`);
  return false;
}
