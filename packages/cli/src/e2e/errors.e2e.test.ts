import { beforeEach, describe, expect, it } from "vitest";
import { adminUser, mfactl, useEmulatorProcess, type AdminStats } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "2", "--users", "10", "--seed", "e2e-errors"]);
// An app that may read but not write per-user MFA, registered through the admin interface.
const readOnly = { clientId: "5a1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", clientSecret: "read-only-app-secret-e2e" };

beforeEach(async () => {
  await lab.emu.admin("POST", "/apps", { clientId: readOnly.clientId, clientSecret: readOnly.clientSecret, tenants: { "*": ["User.Read.All", "Policy.Read.All"] } });
});

async function expectNothingChanged(): Promise<void> {
  const stats = await lab.emu.admin<AdminStats>("GET", "/stats");
  expect(stats.patches).toBe(0);
  expect((await adminUser(lab.emu, lab.domain, `adele.vance@${lab.domain}`)).perUserMfaState).toBe("disabled");
}

const oneLine = (s: string) => s.trim().split("\n").filter((l) => l.startsWith("error:"));

describe("clear errors, non-zero exits, nothing changed", () => {
  it("an invalid state: exit 2, names the value and the accepted ones", async () => {
    const r = await mfactl(["set", "-t", lab.domain, "-u", `adele.vance@${lab.domain}`, "-s", "on"], lab.emu.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Invalid state "on": expected one of disabled, enabled, enforced.');
    expect(r.stdout).toBe("");
    await expectNothingChanged();
    const stats = await lab.emu.admin<AdminStats>("GET", "/stats");
    expect(stats.requests).toBe(0);
  });

  it("unknownFutureValue is never written: exit 2", async () => {
    const r = await mfactl(["set", "-t", lab.domain, "-u", `adele.vance@${lab.domain}`, "-s", "unknownFutureValue"], lab.emu.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknownFutureValue");
    await expectNothingChanged();
  });

  it("a malformed GUID: exit 2", async () => {
    const r = await mfactl(["set", "-t", lab.domain, "--user-id", "8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c", "-s", "enabled"], lab.emu.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Invalid user id "8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c": expected an object id (GUID)');
    const t = await mfactl(["get", "-t", "72f988bf-86f1-41af-91ab-2d7cd011db4", "-u", `adele.vance@${lab.domain}`], lab.emu.env);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain("not a well-formed GUID");
    await expectNothingChanged();
  });

  it("an unknown user: exit 1, Graph's 404 with its request id", async () => {
    const r = await mfactl(["set", "-t", lab.domain, "-u", `nobody@${lab.domain}`, "-s", "enabled"], lab.emu.env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/nobody@\S+\s+-\s+enabled\s+-\s+failed/);
    expect(r.stderr).toMatch(/Request_ResourceNotFound/);
    expect(r.stderr).toMatch(/request-?id [0-9a-f-]{36}/);
    const g = await mfactl(["get", "-t", lab.domain, "-u", `nobody@${lab.domain}`], lab.emu.env);
    expect(g.code).toBe(1);
    expect(oneLine(g.stderr)).toHaveLength(1);
    expect(g.stderr).toContain("Request_ResourceNotFound");
    expect(g.stderr).not.toMatch(/\n\s+at /);
    await expectNothingChanged();
  });

  it("an unknown tenant: exit 1, AADSTS90002", async () => {
    const r = await mfactl(["set", "-t", "no-such-tenant.onmicrosoft.com", "-u", `adele.vance@${lab.domain}`, "-s", "enforced"], lab.emu.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/90002/);
    expect(r.stderr).toMatch(/no-such-tenant\.onmicrosoft\.com/);
    await expectNothingChanged();
  });

  it("a wrong client secret: exit 1, AADSTS7000215, the secret not shown", async () => {
    const r = await mfactl(["set", "-t", lab.domain, "-u", `adele.vance@${lab.domain}`, "-s", "enforced"], { ...lab.emu.env, MFACTL_CLIENT_SECRET: "wrong-secret-value-123" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/7000215/);
    expect(r.stderr + r.stdout).not.toContain("wrong-secret-value-123");
    await expectNothingChanged();
  });

  it("a missing permission: exit 1, accessDenied, the state untouched", async () => {
    const env = { ...lab.emu.env, MFACTL_CLIENT_ID: readOnly.clientId, MFACTL_CLIENT_SECRET: readOnly.clientSecret };
    const get = await mfactl(["get", "-t", lab.domain, "-u", `adele.vance@${lab.domain}`, "-o", "json"], env);
    expect(get.code, get.stderr).toBe(0);
    const r = await mfactl(["set", "-t", lab.domain, "-u", `adele.vance@${lab.domain}`, "-s", "enforced", "-o", "json"], env);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as { status: string; error: { code: string; httpStatus: number }; requestId: string };
    expect(result).toMatchObject({ status: "failed", error: { code: "accessDenied", httpStatus: 403 } });
    expect(result.requestId).toMatch(/\S/);
    await expectNothingChanged();
  });

  it("usage mistakes exit 2 with a hint", async () => {
    const none = await mfactl(["set", "-t", lab.domain, "-s", "enabled"], lab.emu.env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("Which user?");
    const both = await mfactl(["get", "-t", lab.domain, "-u", "a@b.com", "--user-id", "8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6"], lab.emu.env);
    expect(both.code).toBe(2);
    const unknown = await mfactl(["get", "--frobnicate"], lab.emu.env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option");
    const badOutput = await mfactl(["get", "-t", lab.domain, "-u", "a@b.com", "-o", "xml"], lab.emu.env);
    expect(badOutput.code).toBe(2);
    await expectNothingChanged();
  });
});
