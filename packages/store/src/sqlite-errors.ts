import { JournalUnavailableError } from "@mfactl/core";

export interface FailureContext {
  /** The database file, as messages name it. */
  location: string;
  busyTimeoutMs: number;
  readonly: boolean;
}

/** "5 s", "0.2 s", "1.5 s". */
export function formatWait(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The message an administrator can act on for a failure of the journal database: names the file
 * and what to do, never a stack. `undefined` when `error` is not a database or file-system failure.
 */
export function describeFailure(error: unknown, ctx: FailureContext): string | undefined {
  const { location } = ctx;
  const code = codeOf(error);
  // better-sqlite3 checks the parent directory itself and throws a TypeError without a code.
  if (code === undefined && error instanceof TypeError && /directory does not exist/.test(error.message)) {
    return `There is no journal at ${location}: its directory does not exist. Check the path given with --db; nothing was changed.`;
  }
  if (code === undefined) return undefined;
  // Extended result codes (SQLITE_IOERR_WRITE, SQLITE_CANTOPEN_ISDIR, ...) are refinements of the primary one.
  const primary = code.startsWith("SQLITE_") ? code.split("_").slice(0, 2).join("_") : code;
  switch (primary) {
    case "SQLITE_BUSY":
    case "SQLITE_LOCKED":
      return `The journal database ${location} is locked by another process (waited ${formatWait(ctx.busyTimeoutMs)}); nothing was changed. Try again when it finishes.`;
    case "SQLITE_NOTADB":
    case "SQLITE_CORRUPT":
      return `The journal database ${location} is damaged or is not an SQLite database (${messageOf(error)}); nothing was changed. Move it aside (keep it for investigation) or restore a backup, then run again, or pass --db <path> to use another journal.`;
    case "SQLITE_CANTOPEN":
      return code === "SQLITE_CANTOPEN_ISDIR"
        ? `Cannot open the journal database ${location}: it is a directory. Pass --db <path> with a file path; nothing was changed.`
        : `Cannot open the journal database ${location}: check that it is a file and that this user may read and write it and its directory (or pass --db <path>); nothing was changed.`;
    case "SQLITE_READONLY":
      return ctx.readonly
        ? `The journal database ${location} was opened read-only; nothing was written.`
        : `The journal database ${location} is read-only for this user (check the permissions of the file and of its directory, and the file system); nothing was written.`;
    case "SQLITE_FULL":
      return `The disk holding the journal database ${location} is full; nothing was written. Free some space and try again.`;
    case "SQLITE_IOERR":
      return `Cannot read or write the journal database ${location} (I/O error ${code}); nothing was written. Check the disk and the file system it is on.`;
    case "SQLITE_PERM":
    case "SQLITE_AUTH":
    case "EACCES":
    case "EPERM":
      return `Permission denied for the journal database ${location}: this user must be able to read and write it and its directory (or pass --db <path>); nothing was changed.`;
    case "SQLITE_NOMEM":
      return `Out of memory while using the journal database ${location}; nothing was written.`;
    case "ENOTDIR":
      return `Cannot create the journal database ${location}: part of its directory path is a file, not a directory. Pass --db <path>; nothing was changed.`;
    case "EISDIR":
      return `Cannot open the journal database ${location}: it is a directory. Pass --db <path> with a file path; nothing was changed.`;
    case "EROFS":
      return `The journal database ${location} is on a read-only file system; nothing was written. Pass --db <path> on a writable one.`;
    case "ENOSPC":
      return `The disk holding the journal database ${location} is full; nothing was written. Free some space and try again.`;
    case "ENOENT":
      return `There is no journal at ${location}; nothing was changed.`;
    default:
      if (code.startsWith("SQLITE_")) return `The journal database ${location} failed (${code}: ${messageOf(error)}); nothing was changed.`;
      return undefined;
  }
}

export function journalFailure(error: unknown, ctx: FailureContext): JournalUnavailableError | undefined {
  const message = describeFailure(error, ctx);
  return message === undefined ? undefined : new JournalUnavailableError(message, { location: ctx.location }, { cause: error });
}
