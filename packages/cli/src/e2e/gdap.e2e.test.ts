import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mfactl, useEmulatorProcess } from "./harness.js";
import { loginAs, partnerOf, signInEnv } from "./login-helpers.js";

// Twenty healthy GDAP customers plus the planted ones (a relationship without Authentication Policy Administrator, ...).
const lab = useEmulatorProcess(["--tenants", "1", "--users", "3", "--partner-customers", "20", "--partner-users", "4", "--partner-planted", "--seed", "e2e-gdap"]);

interface ReportJson {
  users: { tenant: string; userPrincipalName: string }[];
  tenants: { tenant: string; status: string; users: number; error?: { code: string; message: string } }[];
}

interface ChangeRow {
  tenant: string;
  userPrincipalName: string;
  status: string;
  error?: { code: string; message: string };
}

function changeRows(stdout: string): ChangeRow[] {
  const parsed = JSON.parse(stdout) as ChangeRow[] | { results?: ChangeRow[]; users?: ChangeRow[]; changes?: ChangeRow[] };
  const rows = Array.isArray(parsed) ? parsed : (parsed.results ?? parsed.users ?? parsed.changes);
  if (!rows) throw new Error(`no rows in ${stdout.slice(0, 500)}`);
  return rows;
}

async function signedInPartner() {
  const partner = partnerOf(lab.emu);
  const signIn = signInEnv(lab.emu, { access: "gdap", partner: { tenantId: partner.tenantId } });
  const login = await loginAs(lab.emu, ["--partner"], signIn.env, partner.admin.userPrincipalName);
  expect(login.code, login.stderr).toBe(0);
  return { partner, ...signIn };
}

describe("GDAP access to customer tenants", () => {
  it("reaches twenty customers in one report and one bulk set; the tenant whose relationship lacks the role fails with that reason", async () => {
    const { partner, env } = await signedInPartner();
    const missingRole = partner.planted!.missingRole;
    const customers = partner.customers.slice(0, 20).map((c) => c.domain);
    expect(customers).toHaveLength(20);
    const tenantArgs = [...customers, missingRole.domain].flatMap((t) => ["-t", t]);

    // Run 1: every refresh-token redemption spends the token it used (the emulator is stricter than Entra),
    // so the next run works only if the rotated tokens were kept.
    const report = await mfactl(["report", ...tenantArgs, "-o", "json"], env, { timeoutMs: 120_000 });
    expect(report.code, report.stderr).toBe(0);
    const r = JSON.parse(report.stdout) as ReportJson;
    expect(r.tenants).toHaveLength(21);
    expect(r.tenants.every((t) => t.status === "completed"), JSON.stringify(r.tenants.filter((t) => t.status !== "completed"))).toBe(true);
    expect(new Set(r.users.map((u) => u.tenant))).toEqual(new Set([...customers, missingRole.domain]));

    // Run 2, a new process: one bulk set across the same tenants.
    const db = join(mkdtempSync(join(tmpdir(), "mfactl-gdap-")), "journal.db");
    const bulk = await mfactl(["bulk", "set", ...tenantArgs, "--all-users", "--state", "enforced", "--yes", "-o", "json", "--db", db], env, { timeoutMs: 120_000 });
    expect(bulk.code, bulk.stderr).toBe(1);
    const rows = changeRows(bulk.stdout);
    const denied = rows.filter((row) => row.tenant === missingRole.domain);
    expect(denied.filter((row) => row.status === "failed").length).toBeGreaterThan(0);
    for (const row of denied.filter((row) => row.status !== "unchanged")) {
      expect(row.status).toBe("failed");
      expect(row.error?.message).toContain(`The GDAP relationship with ${missingRole.domain} lacks Authentication Policy Administrator, which writing per-user MFA needs`);
      // The relationship is the cause: the message does not blame the app's permissions.
      expect(row.error?.message).not.toContain("The app lacks the permission");
    }
    const others = rows.filter((row) => row.tenant !== missingRole.domain);
    expect(new Set(others.map((row) => row.tenant))).toEqual(new Set(customers));
    expect(others.filter((row) => row.status === "failed")).toEqual([]);
    expect(others.some((row) => row.status === "changed")).toBe(true);
    expect(bulk.stdout + bulk.stderr).not.toMatch(/eyJ[\w-]{10,}/);
    // The journal names the partner administrator who signed in, not the app.
    const run = await mfactl(["runs", "show", "last", "-o", "json", "--db", db], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`"user:${partner.admin.userPrincipalName.toLowerCase()}"`);

    // Run 3: still signed in, the changes are there.
    const again = await mfactl(["report", "-t", customers[19]!, "-o", "json"], env);
    expect(again.code, again.stderr).toBe(0);
    const states = (JSON.parse(again.stdout) as { users: { perUserMfaState: string }[] }).users.map((u) => u.perUserMfaState);
    expect(states.length).toBeGreaterThan(0);
    expect(states.every((s) => s === "enforced")).toBe(true);
  });

  it("a revoked refresh token fails each tenant with 'sign in again', without trying again per request", async () => {
    const { partner, env } = await signedInPartner();
    await lab.emu.admin("POST", `/users/${encodeURIComponent(partner.admin.userPrincipalName)}/revoke-refresh-tokens`);
    const [a, b] = partner.customers;
    const before = await lab.emu.admin<{ tokensIssued: number; requests: number }>("GET", "/stats");
    const report = await mfactl(["report", "-t", a!.domain, "-t", b!.domain, "-o", "json"], env);
    expect(report.code).toBe(1);
    const r = JSON.parse(report.stdout) as ReportJson;
    expect(r.users).toEqual([]);
    for (const t of r.tenants) {
      expect(t.status).toBe("failed");
      expect(t.error?.message).toContain("sign in again: mfactl login --partner");
      expect(t.error?.message).toContain("AADSTS50173");
    }
    const after = await lab.emu.admin<{ tokensIssued: number; requests: number }>("GET", "/stats");
    expect(after.tokensIssued).toBe(before.tokensIssued);
  });

  it("names a customer without a GDAP relationship", async () => {
    const { partner, env } = await signedInPartner();
    const none = partner.planted!.noRelationship;
    const report = await mfactl(["report", "-t", none.domain, "-o", "json"], env);
    expect(report.code).toBe(1);
    const r = JSON.parse(report.stdout) as ReportJson;
    expect(r.tenants[0]?.error?.message).toContain(`The partner has no active GDAP relationship with tenant ${none.domain}`);
  });
});
