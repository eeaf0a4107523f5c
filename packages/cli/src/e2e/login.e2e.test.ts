import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mfactl, useEmulatorProcess } from "./harness.js";
import { loginAs, partnerOf, signInEnv } from "./login-helpers.js";

const lab = useEmulatorProcess(["--tenants", "1", "--users", "5", "--partner-customers", "2", "--partner-users", "5", "--seed", "e2e-login"]);

describe("mfactl login and logout", () => {
  it("signs the partner administrator in with a device code, keeps the tokens encrypted, and logout removes them", async () => {
    const partner = partnerOf(lab.emu);
    const upn = partner.admin.userPrincipalName;
    const { env, storePath } = signInEnv(lab.emu, { access: "gdap", partner: { tenantId: partner.tenantId } });

    const login = await loginAs(lab.emu, ["--partner"], env, upn);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toMatch(/To sign in, use a web browser to open the page https:\/\/\S+\/devicelogin and enter the code/);
    expect(login.stdout).toBe(`Signed in ${upn} (tenant ${partner.tenantId}) as the partner administrator for GDAP access to customer tenants.\n`);
    expect(login.stderr).toContain(`Tokens are stored encrypted in ${storePath} (key from MFACTL_TOKEN_KEY).`);
    expect(login.stdout + login.stderr).not.toMatch(/eyJ[\w-]{10,}/);

    // The store on disk: owner-only, and nothing in it readable.
    expect(statSync(storePath).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(storePath);
    for (const text of [bytes.toString("latin1"), bytes.toString("utf16le")]) {
      expect(text).not.toContain(upn);
      expect(text).not.toContain(partner.domain);
      expect(text).not.toMatch(/eyJ|refresh|secret|RefreshToken/i);
    }

    // The sign-in works: a GDAP customer's users are read with it.
    const customer = partner.customers[0]!;
    const report = await mfactl(["report", "-t", customer.domain, "-o", "json"], env);
    expect(report.code, report.stderr).toBe(0);
    expect((JSON.parse(report.stdout) as { users: unknown[] }).users).toHaveLength(5);

    // Another key cannot read it.
    const wrong = await mfactl(["report", "-t", customer.domain, "-o", "json"], { ...env, MFACTL_TOKEN_KEY: randomBytes(32).toString("base64") });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`the token store cannot be decrypted with this key: ${storePath} (key from MFACTL_TOKEN_KEY)`);

    const out = await mfactl(["logout"], env);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe(`Signed out ${upn} (partner, GDAP): their tokens were removed from ${storePath}.\n`);
    expect(existsSync(storePath)).toBe(false);

    const after = await mfactl(["report", "-t", customer.domain, "-o", "json"], env);
    expect(after.code).toBe(1);
    expect(after.stdout + after.stderr).toContain(`No one is signed in for tenant ${customer.domain}: run mfactl login --partner first.`);

    const again = await mfactl(["logout"], env);
    expect(again.stdout).toBe(`Nothing to remove: there is no token store at ${storePath}.\n`);
  });

  it("signs a tenant administrator in to their own tenant (delegated), with the key in an owner-only key file", async () => {
    const tenant = lab.emu.tenants[0]!;
    const users = await lab.emu.admin<{ userPrincipalName: string }[]>("GET", `/tenants/${tenant.id}/users`);
    const adminUpn = users.map((u) => u.userPrincipalName).find((u) => u.startsWith("admin@")) ?? `admin@${tenant.domain}`;
    const { env: base, storePath } = signInEnv(lab.emu, { access: "delegated" });
    const { MFACTL_TOKEN_KEY: _k, ...env } = base;
    const configHome = mkdtempSync(join(tmpdir(), "mfactl-config-"));
    env.XDG_CONFIG_HOME = configHome;

    const login = await loginAs(lab.emu, ["--tenant", tenant.domain], env, adminUpn);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toBe(`Signed in ${adminUpn} (tenant ${tenant.id}) as the administrator of tenant ${tenant.domain}.\n`);
    const keyFile = join(configHome, "mfactl", "key");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(storePath).toString("latin1")).not.toContain(adminUpn);

    const get = await mfactl(["report", "-t", tenant.domain, "-o", "json"], env);
    expect(get.code, get.stderr).toBe(0);
    expect((JSON.parse(get.stdout) as { users: unknown[] }).users.length).toBeGreaterThan(0);

    const logout = await mfactl(["logout", "--all"], env);
    expect(logout.stdout).toBe(`Removed the token store ${storePath} (the tokens of ${adminUpn} (tenant ${tenant.domain}) and 0 stored app secrets).\n`);
  });

  it("says what to do without --tenant or --partner, and stores an app secret encrypted", async () => {
    const { env, storePath } = signInEnv(lab.emu, {}, { keepSecret: true });
    const bare = await mfactl(["login"], env);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("Give --tenant <tenant> (the tenant the administrator signs in to), or --partner for GDAP.");

    const stored = await mfactl(["login", "--store-secret"], env);
    expect(stored.code, stored.stderr).toBe(0);
    expect(stored.stdout).toContain(`Stored the client secret of app ${lab.emu.clientId} encrypted in ${storePath}`);
    expect(readFileSync(storePath).toString("latin1")).not.toContain(lab.emu.clientSecret);
    // App-only access with the stored secret, none in the environment.
    const { MFACTL_CLIENT_SECRET: _s, ...noSecret } = env;
    const report = await mfactl(["report", "-t", lab.domain, "-o", "json"], noSecret);
    expect(report.code, report.stderr).toBe(0);
    const out = await mfactl(["logout"], noSecret);
    expect(out.stdout).toBe("No one is signed in; nothing removed.\n");
    const all = await mfactl(["logout", "--all"], noSecret);
    expect(all.stdout).toBe(`Removed the token store ${storePath} (no signed-in account and 1 stored app secret).\n`);
  });
});
