import { describe, expect, it } from "vitest";
import { run } from "./main.js";

async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await run(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { HOME: "/nonexistent-home", ...env },
  });
  return { code, stdout, stderr };
}

describe("mfactl argument handling (no network)", () => {
  it("--help lists the commands and exit codes; exit 0", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/get \[options\]\s+read one user's per-user MFA state/);
    expect(r.stdout).toMatch(/set \[options\]\s+set one user's per-user MFA state/);
    expect(r.stdout).toContain("Exit codes: 0 done");
  });

  it("set --help shows the cmdlet aliases and examples", async () => {
    const r = await cli(["set", "--help"]);
    expect(r.code).toBe(0);
    for (const flag of ["--customer-tenant-id", "--user-principal-name", "--user-id", "--dry-run", "--state"]) expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain("Set-CIPPPerUserMFA");
  });

  it("--version prints the version", async () => {
    const r = await cli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    [["set", "-t", "contoso.com", "-u", "a@contoso.com", "-s", "Sometimes"], 'Invalid state "Sometimes": expected one of disabled, enabled, enforced.'],
    [["set", "-t", "contoso.com", "--user-id", "a@contoso.com", "-s", "enabled"], 'Invalid user id "a@contoso.com"'],
    [["get", "-t", "contoso", "-u", "a@contoso.com"], 'Invalid tenant "contoso"'],
    [["get", "-u", "a@contoso.com"], "Which tenant?"],
    [["get", "-t", "contoso.com"], "Which user?"],
    [["get", "-t", "contoso.com", "--tenant", "contoso.com", "--customer-tenant-id", "fabrikam.com", "-u", "a@contoso.com"], "name different tenants"],
    [["set", "-t", "contoso.com", "-u", "a@contoso.com"], "required option '-s, --state <state>' not specified"],
    [["get", "-t", "contoso.com", "-u", "a@contoso.com", "-o", "yaml"], "Allowed choices are table, json"],
    [["get", "-t", "contoso.com", "-u", "a@contoso.com", "--max-attempts", "0"], "Invalid --max-attempts"],
    [["frobnicate"], "unknown command"],
  ])("bad usage exits 2 before any network: %j", async (args, message) => {
    const r = await cli(args, { MFACTL_CLIENT_ID: "x", MFACTL_CLIENT_SECRET: "y1234" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe("");
  });

  it("missing settings are bad usage too (exit 2), naming what to set", async () => {
    const r = await cli(["get", "-t", "contoso.com", "-u", "a@contoso.com"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("No client id");
    const s = await cli(["get", "-t", "contoso.com", "-u", "a@contoso.com"], { MFACTL_CLIENT_ID: "x" });
    expect(s.stderr).toContain("No credential");
  });

  it("the tenant can come from the environment", async () => {
    const r = await cli(["get", "-u", "a@contoso.com"], { MFACTL_TENANT: "not a tenant", MFACTL_CLIENT_ID: "x", MFACTL_CLIENT_SECRET: "y1234" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Invalid tenant "not a tenant"');
  });
});
