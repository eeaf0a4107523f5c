/**
 * `mfactl schedule` without a network: the profile's `smtp` key (the password from the environment only) and the
 * refusals that come before anything is stored. The commands against a database and the emulator are in
 * e2e/schedule.e2e.test.ts.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "@mfactl/core";
import { run } from "../main.js";
import { loadProfile, resolveSmtp, SMTP_PASSWORD_ENV } from "../settings.js";

function configFile(smtp: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "mfactl-smtp-"));
  const path = join(dir, "config.json");
  writeFileSync(path, JSON.stringify({ profiles: { default: { clientId: "app", smtp } } }));
  return path;
}

async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await run(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: { HOME: mkdtempSync(join(tmpdir(), "mfactl-home-")), ...env } });
  return { code, stdout, stderr };
}

describe("the profile's smtp key", () => {
  it("is core's SMTP settings with defaults; the password comes from MFACTL_SMTP_PASSWORD; the CA defaults to mfactl's extra CA", () => {
    const config = configFile({ host: "smtp.contoso.com", from: "mfactl <alerts@contoso.com>", user: "alerts@contoso.com" });
    const { extras } = loadProfile({ config }, {});
    expect(() => resolveSmtp(extras, {})).toThrow(new UsageError(`The profile's smtp.user is set: give its password in ${SMTP_PASSWORD_ENV}.`));
    expect(resolveSmtp(extras, { [SMTP_PASSWORD_ENV]: "pa55word" }, "PEM")).toEqual({
      host: "smtp.contoso.com",
      port: 587,
      secure: false,
      requireTls: true,
      from: "mfactl <alerts@contoso.com>",
      user: "alerts@contoso.com",
      password: "pa55word",
      caPem: "PEM",
    });
    // A relay on loopback without authentication: no TLS required, no password needed.
    const local = loadProfile({ config: configFile({ host: "127.0.0.1", port: 2525, from: "alerts@contoso.com" }) }, {});
    expect(resolveSmtp(local.extras, { [SMTP_PASSWORD_ENV]: "ignored" })).toEqual({ host: "127.0.0.1", port: 2525, secure: false, requireTls: false, from: "alerts@contoso.com" });
    expect(resolveSmtp(loadProfile({ config: configFile(undefined) }, {}).extras, {})).toBeUndefined();
  });

  it("a password in the config file is refused when the file is read, without echoing it (exit 2)", async () => {
    const config = configFile({ host: "smtp.contoso.com", from: "alerts@contoso.com", user: "alerts@contoso.com", password: "do-not-print-me" });
    expect(() => loadProfile({ config }, {})).toThrow(/profiles\.default\.smtp\.password: the SMTP password is read from MFACTL_SMTP_PASSWORD/);
    // No --db: the database is the profile's (or the default), so the profile is read first.
    const r = await cli(["schedule", "list", "--config", config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("smtp.password");
    expect(r.stderr + r.stdout).not.toContain("do-not-print-me");
  });

  it("is checked as core checks it: a bad port or a missing from is exit 2 naming the key", () => {
    expect(() => loadProfile({ config: configFile({ host: "smtp.contoso.com", port: 70000, from: "alerts@contoso.com" }) }, {})).toThrow(/profiles\.default\.smtp\.port/);
    expect(() => loadProfile({ config: configFile({ host: "smtp.contoso.com" }) }, {})).toThrow(/profiles\.default\.smtp\.from/);
  });
});

describe("mfactl schedule (no database touched)", () => {
  it("--help of each subcommand has examples and the docs link", async () => {
    for (const sub of ["add", "list", "show", "set", "remove", "run", "results"]) {
      const r = await cli(["schedule", sub, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("Examples:");
      expect(r.stdout).toContain("docs/commands/schedule.md");
    }
  });

  it.each([
    [["schedule", "add", "x", "--policy", "p.yaml"], "schedule add needs --cron"],
    [["schedule", "add", "x", "--cron", "0 6 * * *"], "schedule add needs --policy"],
    [["schedule", "add", "x", "--cron", "0 6 * * *", "--policy", "p.yaml", "--tenant", "contoso.com", "--all-tenants"], "Give --tenant or --all-tenants, not both."],
    [["schedule", "add", "x", "--cron", "0 6 * * *", "--policy", "p.yaml", "--remediate", "--remediate-max-changes", "ten"], "--remediate-max-changes"],
    [["schedule", "add", "x", "--cron", "0 6 * * *", "--policy", "p.yaml", "--webhook-secret-env", "S"], "add --webhook <url>"],
    [["schedule", "add", "x", "--cron", "0 6 * * *", "--policy", "p.yaml", "--alert-when", "sometimes"], "Allowed choices are drift, always, remediated"],
    [["schedule", "set", "x", "--enable", "--disable"], "Give --enable or --disable, not both."],
    [["schedule", "set", "x", "--webhook", "https://a.example/h", "--no-webhooks"], "Give --webhook or --no-webhooks, not both."],
    [["schedule", "results", "x", "--limit", "0"], "Invalid --limit"],
  ])("bad usage is exit 2 before the database is opened: %j", async (args, message) => {
    const db = join(mkdtempSync(join(tmpdir(), "mfactl-db-")), "never.db");
    const r = await cli([...args, "--db", db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    const { existsSync } = await import("node:fs");
    expect(existsSync(db)).toBe(false);
  });
});
