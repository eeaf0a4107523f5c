/**
 * `mfactl doctor` over real HTTPS against the emulator's partner, its healthy GDAP customers and the planted problems
 * (docs/emulator-fidelity.md, "Partner (GDAP)"): each planted problem is named with its fix; a healthy tenant passes.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mfactl, useEmulatorProcess } from "./harness.js";
import { loginAs, partnerOf, signInEnv } from "./login-helpers.js";

const lab = useEmulatorProcess(["--tenants", "1", "--users", "5", "--partner-customers", "2", "--partner-users", "5", "--partner-planted"], { reset: false });

type Ref = { tenantId: string; domain: string };
interface PartnerInfo {
  tenantId: string;
  customers: Ref[];
  planted: Record<"missingRole" | "noConsent" | "missingPermission" | "noRelationship" | "noLicence", Ref> & { expiredSecretApp: { clientId: string; clientSecret: string } };
}
const partner = () => (lab.emu as unknown as { partner: PartnerInfo }).partner;

interface Check {
  check: string;
  status: string;
  message: string;
  fix?: string;
  code?: string;
}
interface DoctorJson {
  status: string;
  app: Check;
  tenants: { tenant: string; accessMode: string; status: string; checks: Check[] }[];
}

function workspace(profile: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "mfactl-doctor-e2e-"));
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({ defaultProfile: "msp", profiles: { msp: { partner: { tenantId: partner().tenantId }, ...profile } } }));
  return { ...lab.emu.env, XDG_STATE_HOME: join(dir, "state"), MFACTL_CONFIG: config };
}

async function doctor(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: DoctorJson; stderr: string }> {
  const r = await mfactl(["doctor", ...args, "-o", "json"], env);
  return { code: r.code, out: JSON.parse(r.stdout) as DoctorJson, stderr: r.stderr };
}
const check = (out: DoctorJson, tenant: string, name: string) => out.tenants.find((t) => t.tenant === tenant)!.checks.find((c) => c.check === name)!;

describe("mfactl doctor", () => {
  it("passes a healthy tenant (and the app's secret is checked in the partner tenant)", async () => {
    const healthy = partner().customers[0]!.domain;
    const r = await doctor(["--tenant", healthy], workspace());
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.tenants[0]!.checks.filter((c) => c.status !== "skipped").map((c) => [c.check, c.status])).toEqual([
      ["token", "ok"],
      ["permissions", "ok"],
      ["licences", "ok"],
    ]);
    expect(r.out.app).toMatchObject({ check: "appCredential", status: "ok" });
    expect(r.out.status).toBe("ok");
  });

  it("names each planted problem with its fix: no consent, missing permission, no licence; exit 1", async () => {
    const { planted } = partner();
    const r = await doctor(["-t", planted.noConsent.domain, "-t", planted.missingPermission.domain, "-t", planted.noLicence.domain], workspace());
    expect(r.code).toBe(1);
    const consent = check(r.out, planted.noConsent.domain, "token");
    expect(consent).toMatchObject({ status: "fail", code: "AADSTS700016" });
    expect(consent.fix).toContain(`/${planted.noConsent.domain}/adminconsent?client_id=${lab.emu.clientId}`);
    const perm = check(r.out, planted.missingPermission.domain, "permissions");
    expect(perm.status).toBe("warn");
    expect(perm.message).toContain("Policy.Read.All (posture and migrate cannot read Conditional Access");
    expect(check(r.out, planted.noLicence.domain, "licences")).toMatchObject({ status: "warn", code: "LicenceRequired" });
    // The text output says the same, with the fixes.
    const text = await mfactl(["doctor", "-t", planted.noConsent.domain], workspace());
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/FAIL token\s+App .* is not consented/);
    expect(text.stdout).toContain("fix: A Global Administrator of");
  });

  it("an expired secret fails the token check with what to do", async () => {
    const { planted } = partner();
    const env = { ...workspace(), MFACTL_CLIENT_ID: planted.expiredSecretApp.clientId, MFACTL_CLIENT_SECRET: planted.expiredSecretApp.clientSecret };
    const r = await doctor(["-t", partner().customers[0]!.domain], env);
    expect(r.code).toBe(1);
    const token = r.out.tenants[0]!.checks[0]!;
    expect(token).toMatchObject({ check: "token", status: "fail", code: "AADSTS7000222" });
    expect(token.message).toMatch(/client secret .* has expired/);
    expect(token.fix).toContain("Create a new client secret");
  });

  it("--all-tenants covers the synced customers; a GDAP tenant whose relationship lacks Authentication Policy Administrator is named", async () => {
    const { planted, customers } = partner();
    const env = workspace({ tenantAccess: { [planted.missingRole.tenantId]: "gdap" } });
    expect((await mfactl(["tenants", "sync"], env)).code).toBe(0);
    const r = await doctor(["--all-tenants"], env);
    expect(r.code).toBe(1);
    expect(r.out.tenants.map((t) => t.tenant).sort()).toEqual([...customers.map((c) => c.tenantId), planted.missingRole.tenantId, planted.noConsent.tenantId, planted.missingPermission.tenantId, planted.noLicence.tenantId].sort());
    for (const c of customers) expect(r.out.tenants.find((t) => t.tenant === c.tenantId)!.status).toBe("ok");
    const role = check(r.out, planted.missingRole.tenantId, "gdapRoles");
    expect(role).toMatchObject({ status: "fail", code: "missingRole" });
    expect(role.message).toContain("lacks Authentication Policy Administrator");
    expect(r.out.tenants.find((t) => t.tenant === planted.missingRole.tenantId)!.accessMode).toBe("gdap");
  });

  it("with the partner signed in (GDAP): the delegated token is acquired and its scopes checked; a healthy customer passes", async () => {
    const { customers, tenantId } = partner();
    const signIn = signInEnv(lab.emu, { partner: { tenantId }, access: "gdap" }, { keepSecret: true });
    const login = await loginAs(lab.emu, ["--partner"], signIn.env, partnerOf(lab.emu).admin.userPrincipalName);
    expect(login.code, login.stderr).toBe(0);
    const sync = await mfactl(["tenants", "sync"], signIn.env);
    expect(sync.code, sync.stderr).toBe(0);
    const r = await doctor(["--tenant", customers[0]!.tenantId], signIn.env);
    expect(r.code, JSON.stringify(r.out) + r.stderr).toBe(0);
    const t = r.out.tenants[0]!;
    expect(t.accessMode).toBe("gdap");
    expect(check(r.out, customers[0]!.tenantId, "token")).toMatchObject({ status: "ok" });
    // The delegated token's scp was read: the permission check is a real verdict, not skipped.
    expect(check(r.out, customers[0]!.tenantId, "permissions")).toMatchObject({ status: "ok", message: expect.stringContaining("delegated permission") });
    expect(check(r.out, customers[0]!.tenantId, "gdapRoles").status).toBe("ok");
  });

  it("bad usage: a malformed tenant is exit 2", async () => {
    const r = await mfactl(["doctor", "--tenant", "not a tenant"], workspace());
    expect(r.code).toBe(2);
  });
});
