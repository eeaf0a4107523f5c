/**
 * `--backend cipp` end to end: mfactl as its own process against the emulator's CIPP instance over HTTPS, with only
 * CIPP's settings (no Graph app): get, set (journaled, read back), report, the profile's `backend: cipp`, and the
 * refusals (other commands, missing or wrong settings) with the project's exit codes.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { adminUser, mfactl, useEmulatorProcess, type AdminStats, type EmulatorProcess } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "2", "--users", "12", "--seed", "e2e-cipp"]);

interface CippInfo {
  url: string;
  clientId: string;
  tenantId: string;
  caller: { clientId: string; clientSecret: string };
}
const cippOf = (emu: EmulatorProcess): CippInfo => (emu as unknown as { cipp: CippInfo }).cipp;

/** The customer tenant the tests change (CIPP's API client lives in the first). */
const customer = () => lab.emu.tenants[1]!.domain;

/** Only what the CIPP backend needs: no MFACTL_CLIENT_ID or Graph secret at all. */
function cippEnv(extra: Record<string, string> = {}): Record<string, string> {
  const cipp = cippOf(lab.emu);
  return {
    MFACTL_AUTHORITY_HOST: lab.emu.authorityHost,
    MFACTL_CA_FILE: lab.emu.caFile,
    MFACTL_CIPP_CLIENT_SECRET: cipp.caller.clientSecret,
    MFACTL_DB: join(mkdtempSync(join(tmpdir(), "mfactl-cipp-db-")), "journal.db"),
    ...extra,
  };
}

function cippFlags(): string[] {
  const cipp = cippOf(lab.emu);
  return ["--backend", "cipp", "--cipp-url", cipp.url, "--cipp-tenant-id", cipp.tenantId, "--cipp-client-id", cipp.caller.clientId];
}

describe("get and set through CIPP", () => {
  it("get by UPN and by object id, without any Graph settings", async () => {
    const upn = `megan.bowen@${customer()}`;
    const megan = await adminUser(lab.emu, customer(), upn);
    const byUpn = await mfactl(["get", ...cippFlags(), "-t", customer(), "-u", upn, "-o", "json"], cippEnv());
    expect(byUpn.code, byUpn.stderr).toBe(0);
    expect(JSON.parse(byUpn.stdout)).toEqual({ tenant: customer(), id: megan.id, userPrincipalName: upn, perUserMfaState: "enabled" });
    const byId = await mfactl(["get", ...cippFlags(), "--customer-tenant-id", customer(), "--user-id", megan.id], cippEnv());
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stdout).toMatch(new RegExp(`megan\\.bowen@\\S+\\s+${megan.id}\\s+enabled`));
  });

  it("set changes the user, reads it back, and is journaled under CIPP's API client", async () => {
    const env = cippEnv();
    const upn = `alex.wilber@${customer()}`;
    const r = await mfactl(["set", ...cippFlags(), "-t", customer(), "-u", upn, "-s", "Enforced", "-o", "json"], env);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { status: string; previousState: string; perUserMfaState: string; runId: string };
    expect(result).toMatchObject({ userPrincipalName: upn, previousState: "disabled", requestedState: "enforced", perUserMfaState: "enforced", status: "changed" });
    expect(await adminUser(lab.emu, customer(), upn)).toMatchObject({ perUserMfaState: "enforced", patchCount: 1 });

    const runs = await mfactl(["runs", "--output", "json"], env);
    expect(runs.code, runs.stderr).toBe(0);
    const listed = JSON.parse(runs.stdout) as { runId: string; kind: string; actor: string; description: string }[];
    expect(listed).toEqual([expect.objectContaining({ runId: result.runId, kind: "set", actor: `app:${cippOf(lab.emu).clientId}`, description: "set enforced through CIPP" })]);

    const again = await mfactl(["set", ...cippFlags(), "-t", customer(), "-u", upn, "-s", "enforced", "-o", "json"], env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: "unchanged" });
    expect((await adminUser(lab.emu, customer(), upn)).patchCount).toBe(1);
  });

  it("a guest (#EXT#) is changed; a dry run sends nothing", async () => {
    const guest = `john.doe_fabrikam.com#EXT#@${customer()}`;
    const dry = await mfactl(["set", ...cippFlags(), "-t", customer(), "-u", guest, "-s", "enforced", "--dry-run", "-o", "json"], cippEnv());
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ status: "wouldChange", previousState: "disabled" });
    expect((await lab.emu.admin<AdminStats>("GET", "/stats")).patches).toBe(0);
    const r = await mfactl(["set", ...cippFlags(), "-t", customer(), "-u", guest, "-s", "enforced"], cippEnv());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/john\.doe_fabrikam\.com#EXT#@\S+\s+disabled\s+enforced\s+enforced\s+changed/);
    expect((await adminUser(lab.emu, customer(), guest)).perUserMfaState).toBe("enforced");
  });

  it("a change CIPP reports failed exits 1 with CIPP's reason; an unknown user exits 1", async () => {
    await lab.emu.admin("POST", "/faults", { rules: [{ method: "PATCH", pathIncludes: "/authentication/requirements", status: 403, count: 1 }] });
    const upn = `alex.wilber@${customer()}`;
    const r = await mfactl(["set", ...cippFlags(), "-t", customer(), "-u", upn, "-s", "enforced"], cippEnv());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Failed to set MFA State to enforced for alex\.wilber@\S+\. Error: Request Authorization failed/);
    expect((await adminUser(lab.emu, customer(), upn)).perUserMfaState).toBe("disabled");
    const missing = await mfactl(["get", ...cippFlags(), "-t", customer(), "-u", `nobody@${customer()}`], cippEnv());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/error: User nobody@\S+ was not found in tenant/);
  });
});

describe("report through CIPP", () => {
  it("every user of each tenant; a tenant CIPP cannot read fails alone (exit 1)", async () => {
    const r = await mfactl(["report", ...cippFlags(), "-t", customer(), "-t", "nowhere.onmicrosoft.com", "-o", "json"], cippEnv());
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { users: { tenant: string; userPrincipalName: string; perUserMfaState: string; displayName: string }[]; tenants: { tenant: string; status: string; error?: { message: string } }[] };
    const expected = await lab.emu.admin<{ userPrincipalName: string; perUserMfaState: string }[]>("GET", `/tenants/${customer()}/users`);
    expect(report.users.map((u) => [u.userPrincipalName, u.perUserMfaState]).sort()).toEqual(expected.map((u) => [u.userPrincipalName, u.perUserMfaState]).sort());
    expect(report.users.find((u) => u.userPrincipalName === `alex.wilber@${customer()}`)?.displayName).toBe("Alex Wilber");
    expect(report.tenants).toEqual(
      expect.arrayContaining([
        { tenant: customer(), status: "completed", users: expected.length },
        expect.objectContaining({ tenant: "nowhere.onmicrosoft.com", status: "failed", error: expect.objectContaining({ message: expect.stringContaining("AADSTS90002") }) }),
      ]),
    );
    const enforced = await mfactl(["report", ...cippFlags(), "-t", customer(), "--where-state", "enforced", "-o", "csv"], cippEnv());
    expect(enforced.code, enforced.stderr).toBe(0);
    const lines = enforced.stdout.trim().split(/\r?\n/);
    expect(lines[0]).toBe("tenant,id,userPrincipalName,displayName,userType,accountEnabled,isLicensed,perUserMfaState");
    expect(lines.slice(1).length).toBe(expected.filter((u) => u.perUserMfaState === "enforced").length);
    expect(lines.slice(1).every((l) => l.endsWith(",enforced"))).toBe(true);
  });
});

describe("the profile, and what the CIPP backend refuses", () => {
  function profileEnv(): Record<string, string> {
    const cipp = cippOf(lab.emu);
    const dir = mkdtempSync(join(tmpdir(), "mfactl-cipp-profile-"));
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ profiles: { default: { backend: "cipp", tenant: customer(), cipp: { url: cipp.url, tenantId: cipp.tenantId, clientId: cipp.caller.clientId } } } }));
    return cippEnv({ MFACTL_CONFIG: config });
  }

  it("a profile with backend: cipp needs no flags; other commands then refuse with exit 2", async () => {
    const env = profileEnv();
    const get = await mfactl(["get", "-u", `megan.bowen@${customer()}`, "-o", "json"], env);
    expect(get.code, get.stderr).toBe(0);
    expect(JSON.parse(get.stdout)).toMatchObject({ tenant: customer(), perUserMfaState: "enabled" });
    const before = await lab.emu.admin<AdminStats>("GET", "/stats");
    for (const args of [["bulk", "set", "-t", customer(), "-s", "enforced", "--all-users", "--yes"], ["posture", "-t", customer()], ["plan", "-t", customer(), "--state", "enforced", "--all-users", "--out", join(tmpdir(), "never-written.json")]]) {
      const r = await mfactl(args, env);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain("works with the Graph backend only (the profile's backend: cipp was given)");
    }
    // The flag on a Graph-only command (the program's --backend) says the same.
    const flagged = await mfactl(["bulk", "set", "--backend", "cipp", "-t", customer(), "-s", "enforced", "--all-users", "--yes"], env);
    expect(flagged.code, flagged.stderr).toBe(2);
    expect(flagged.stderr).toContain("works with the Graph backend only (--backend cipp was given)");
    expect(await lab.emu.admin<AdminStats>("GET", "/stats")).toMatchObject({ requests: before.requests, tokensIssued: before.tokensIssued });
    // --backend graph on the command wins over the profile (and then needs Graph's settings).
    const graph = await mfactl(["get", "--backend", "graph", "-u", `megan.bowen@${customer()}`], env);
    expect(graph.code).toBe(2);
    expect(graph.stderr).toContain("No client id");
  });

  it("missing or wrong settings: exit 2 naming the setting before anything is sent; a wrong secret exit 1, never printed", async () => {
    const noSecret = await mfactl(["get", ...cippFlags(), "-t", customer(), "-u", `megan.bowen@${customer()}`], { ...cippEnv(), MFACTL_CIPP_CLIENT_SECRET: "" });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toContain("MFACTL_CIPP_CLIENT_SECRET");
    const noUrl = await mfactl(["get", "--backend", "cipp", "-t", customer(), "-u", `megan.bowen@${customer()}`], cippEnv());
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain("--cipp-url, MFACTL_CIPP_URL or cipp.url");
    const httpUrl = await mfactl(["get", ...cippFlags().slice(0, 2), "--cipp-url", "http://cipp.example.com", "--cipp-tenant-id", "x.onmicrosoft.com", "--cipp-client-id", "y", "-t", customer(), "-u", `a@${customer()}`], cippEnv());
    expect(httpUrl.code).toBe(2);
    expect(httpUrl.stderr).toContain("Invalid --cipp-url");
    const stray = await mfactl(["get", "--cipp-url", cippOf(lab.emu).url, "-t", customer(), "-u", `a@${customer()}`], cippEnv());
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain("add --backend cipp");
    const badBackend = await mfactl(["get", "--backend", "ldap", "-t", customer(), "-u", `a@${customer()}`], cippEnv());
    expect(badBackend.code).toBe(2);
    expect((await lab.emu.admin<AdminStats>("GET", "/stats")).tokensIssued).toBe(0);

    const wrong = `${cippOf(lab.emu).caller.clientSecret}x`;
    const r = await mfactl(["set", ...cippFlags(), "-t", customer(), "-u", `alex.wilber@${customer()}`, "-s", "enforced", "--verbose"], { ...cippEnv(), MFACTL_CIPP_CLIENT_SECRET: wrong });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/client secret is not valid for CIPP's API client .*AADSTS7000215/);
    for (const text of [r.stdout, r.stderr]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(cippOf(lab.emu).caller.clientSecret);
      expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./);
    }
  });

  it("--verbose shows CIPP's requests and retries, never the token or the secret", async () => {
    await lab.emu.admin("POST", "/faults", { rules: [{ pathIncludes: "/cipp/api/ExecPerUserMFA", status: 429, retryAfterSeconds: 1, count: 1 }] });
    const r = await mfactl(["set", ...cippFlags(), "-t", customer(), "-u", `alex.wilber@${customer()}`, "-s", "enforced", "--verbose"], cippEnv());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[cipp\] 429 POST https:\/\/127\.0\.0\.1:\d+\/cipp\/api\/ExecPerUserMFA/);
    expect(r.stderr).toMatch(/\[retry\] POST \S+ExecPerUserMFA: HTTP 429, Retry-After/);
    expect(r.stderr).toMatch(/\[cipp\] 200 POST \S+ExecPerUserMFA/);
    expect(r.stderr + r.stdout).not.toContain(cippOf(lab.emu).caller.clientSecret);
    expect(r.stderr + r.stdout).not.toMatch(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./);
  });
});
