import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { JournalUnavailableError } from "@mfactl/core";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { describeFailure, formatWait, journalFailure, type FailureContext } from "./sqlite-errors.js";

const ctx: FailureContext = { location: "/home/ada/.local/state/mfactl/journal.db", busyTimeoutMs: 5000, readonly: false };
const sqliteError = (code: string, message = "sqlite says no") => new Database.SqliteError(message, code);

describe("describeFailure", () => {
  it.each([
    ["SQLITE_BUSY", "The journal database /home/ada/.local/state/mfactl/journal.db is locked by another process (waited 5 s); nothing was changed. Try again when it finishes."],
    ["SQLITE_BUSY_SNAPSHOT", "is locked by another process (waited 5 s)"],
    ["SQLITE_LOCKED", "is locked by another process (waited 5 s)"],
    ["SQLITE_NOTADB", "is damaged or is not an SQLite database (sqlite says no); nothing was changed. Move it aside"],
    ["SQLITE_CORRUPT", "is damaged or is not an SQLite database"],
    ["SQLITE_CORRUPT_INDEX", "is damaged or is not an SQLite database"],
    ["SQLITE_CANTOPEN", "Cannot open the journal database /home/ada/.local/state/mfactl/journal.db: check that it is a file and that this user may read and write it"],
    ["SQLITE_CANTOPEN_ISDIR", "it is a directory"],
    ["SQLITE_READONLY", "is read-only for this user (check the permissions of the file and of its directory"],
    ["SQLITE_READONLY_DBMOVED", "is read-only for this user"],
    ["SQLITE_FULL", "The disk holding the journal database /home/ada/.local/state/mfactl/journal.db is full; nothing was written. Free some space and try again."],
    ["SQLITE_IOERR_WRITE", "(I/O error SQLITE_IOERR_WRITE); nothing was written. Check the disk"],
    ["SQLITE_PERM", "Permission denied for the journal database"],
    ["SQLITE_NOMEM", "Out of memory"],
    ["SQLITE_MISUSE", "failed (SQLITE_MISUSE: sqlite says no); nothing was changed."],
  ])("%s", (code, expected) => {
    const message = describeFailure(sqliteError(code), ctx);
    expect(message).toContain(expected);
    expect(message).toContain(ctx.location);
  });

  it.each([
    ["EACCES", "Permission denied for the journal database"],
    ["EPERM", "Permission denied for the journal database"],
    ["ENOTDIR", "part of its directory path is a file"],
    ["EISDIR", "it is a directory"],
    ["EROFS", "is on a read-only file system"],
    ["ENOSPC", "is full; nothing was written"],
  ])("file system %s", (code, expected) => {
    expect(describeFailure(Object.assign(new Error("fs says no"), { code }), ctx)).toContain(expected);
  });

  it("says opened read-only when the journal was", () => {
    expect(describeFailure(sqliteError("SQLITE_READONLY"), { ...ctx, readonly: true })).toBe(`The journal database ${ctx.location} was opened read-only; nothing was written.`);
  });

  it("reports the busy timeout it was given", () => {
    expect(describeFailure(sqliteError("SQLITE_BUSY"), { ...ctx, busyTimeoutMs: 200 })).toContain("(waited 0.2 s)");
    expect([formatWait(5000), formatWait(200), formatWait(1500), formatWait(0), formatWait(12_345)]).toStrictEqual(["5 s", "0.2 s", "1.5 s", "0 s", "12.3 s"]);
  });

  it("leaves errors that are not database failures alone", () => {
    expect(describeFailure(new Error("boom"), ctx)).toBeUndefined();
    expect(describeFailure(Object.assign(new Error("x"), { code: "ERR_SOMETHING" }), ctx)).toBeUndefined();
    expect(describeFailure("a string", ctx)).toBeUndefined();
    expect(journalFailure(new RangeError("bad"), ctx)).toBeUndefined();
  });
});

describe("journalFailure on errors SQLite really raises", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "mfactl-errors-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const raised = (fn: () => unknown): unknown => {
    try {
      fn();
    } catch (error) {
      return error;
    }
    throw new Error("expected a failure");
  };

  it("SQLITE_FULL (a database capped by max_page_count) reads as a full disk", () => {
    const db = new Database(path.join(dir, "full.db"));
    try {
      db.exec("create table t (x blob)");
      db.pragma("max_page_count = 3");
      const error = raised(() => db.prepare("insert into t values (randomblob(100000))").run());
      expect(error).toMatchObject({ code: "SQLITE_FULL" });
      const mapped = journalFailure(error, ctx);
      expect(mapped).toBeInstanceOf(JournalUnavailableError);
      expect(mapped?.message).toBe(`The disk holding the journal database ${ctx.location} is full; nothing was written. Free some space and try again.`);
      expect(mapped?.location).toBe(ctx.location);
      expect(mapped?.cause).toBe(error);
    } finally {
      db.close();
    }
  });

  it("SQLITE_READONLY from a read-only connection", () => {
    const file = path.join(dir, "ro.db");
    new Database(file).exec("create table t (x)");
    const db = new Database(file, { readonly: true });
    try {
      const error = raised(() => db.exec("insert into t values (1)"));
      expect(journalFailure(error, { ...ctx, readonly: true })?.message).toContain("was opened read-only");
    } finally {
      db.close();
    }
  });
});
