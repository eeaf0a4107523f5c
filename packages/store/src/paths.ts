import { closeSync, constants, mkdirSync, openSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === "" ? undefined : value);

/**
 * Where the journal lives when no `--db` is given: `$XDG_STATE_HOME/mfactl/journal.db`, else
 * `~/.local/state/mfactl/journal.db`; on Windows `%LOCALAPPDATA%\mfactl\journal.db`.
 */
export function defaultJournalPath(env: Record<string, string | undefined>, platform: NodeJS.Platform = process.platform): string {
  if (platform === "win32") {
    const localAppData = nonEmpty(env.LOCALAPPDATA) ?? path.win32.join(nonEmpty(env.USERPROFILE) ?? homedir(), "AppData", "Local");
    return path.win32.join(localAppData, "mfactl", "journal.db");
  }
  // The XDG spec says to ignore a relative value.
  const xdg = nonEmpty(env.XDG_STATE_HOME);
  if (xdg !== undefined && path.posix.isAbsolute(xdg)) return path.posix.join(xdg, "mfactl", "journal.db");
  return path.posix.join(nonEmpty(env.HOME) ?? homedir(), ".local", "state", "mfactl", "journal.db");
}

/**
 * Creates the journal's directory (0700) and an empty file (0600) when they are missing, so
 * nobody else can read who was changed. SQLite gives its -wal and -shm files the file's mode.
 */
export function ensureJournalFile(file: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  } catch (error) {
    // mkdir -p reports a file in the way as EEXIST; ENOTDIR says what is wrong.
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw Object.assign(new Error(`${path.dirname(file)} is not a directory`, { cause: error }), { code: "ENOTDIR" });
    throw error;
  }
  try {
    closeSync(openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  } catch (error) {
    // Already there (or created by a process racing us): leave its mode alone.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}
