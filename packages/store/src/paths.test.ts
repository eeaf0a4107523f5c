import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defaultJournalPath, ensureJournalFile } from "./paths.js";

describe("defaultJournalPath", () => {
  it("uses $XDG_STATE_HOME when it is an absolute path", () => {
    expect(defaultJournalPath({ XDG_STATE_HOME: "/srv/state", HOME: "/home/ada" }, "linux")).toBe("/srv/state/mfactl/journal.db");
  });

  it("falls back to ~/.local/state, ignoring an empty or relative $XDG_STATE_HOME", () => {
    expect(defaultJournalPath({ HOME: "/home/ada" }, "linux")).toBe("/home/ada/.local/state/mfactl/journal.db");
    expect(defaultJournalPath({ XDG_STATE_HOME: "", HOME: "/home/ada" }, "linux")).toBe("/home/ada/.local/state/mfactl/journal.db");
    expect(defaultJournalPath({ XDG_STATE_HOME: "state", HOME: "/home/ada" }, "darwin")).toBe("/home/ada/.local/state/mfactl/journal.db");
  });

  it("takes the home directory from the system when HOME is not set", () => {
    expect(defaultJournalPath({}, "linux")).toBe(path.posix.join(homedir(), ".local", "state", "mfactl", "journal.db"));
  });

  it("uses %LOCALAPPDATA% on Windows, and ignores XDG there", () => {
    expect(defaultJournalPath({ LOCALAPPDATA: "C:\\Users\\ada\\AppData\\Local", XDG_STATE_HOME: "/x" }, "win32")).toBe("C:\\Users\\ada\\AppData\\Local\\mfactl\\journal.db");
    expect(defaultJournalPath({ USERPROFILE: "C:\\Users\\ada" }, "win32")).toBe("C:\\Users\\ada\\AppData\\Local\\mfactl\\journal.db");
  });

  it("defaults the platform to this one", () => {
    const env = { XDG_STATE_HOME: "/srv/state", LOCALAPPDATA: "C:\\L", HOME: "/home/ada" };
    expect(defaultJournalPath(env)).toBe(defaultJournalPath(env, process.platform));
  });
});

describe("ensureJournalFile", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "mfactl-paths-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("creates missing directories 0700 and the file 0600, empty", () => {
    const file = path.join(dir, "a", "b", "journal.db");
    ensureJournalFile(file);
    expect(statSync(path.join(dir, "a")).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, "a", "b")).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(file).size).toBe(0);
  });

  it("leaves an existing directory and file as they are", () => {
    const sub = path.join(dir, "existing");
    mkdirSync(sub, { mode: 0o755 });
    chmodSync(sub, 0o755);
    const file = path.join(sub, "journal.db");
    writeFileSync(file, "data", { mode: 0o644 });
    ensureJournalFile(file);
    expect(statSync(sub).mode & 0o777).toBe(0o755);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(statSync(file).size).toBe(4);
  });

  it("reports a file in the way of the directory as ENOTDIR", () => {
    const blocker = path.join(dir, "blocker");
    writeFileSync(blocker, "");
    expect(() => ensureJournalFile(path.join(blocker, "x", "journal.db"))).toThrow(expect.objectContaining({ code: "ENOTDIR" }));
  });
});
