import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { customersCachePath, writeCustomersCache, type CustomersCache } from "@mfactl/core";
import { run } from "../main.js";
import { pickTenants, tenantSourcesFor, withTenantSources } from "../selection-options.js";

const A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const APA = "0526716b-113d-4c15-b2c8-68e3c22b9f80";
const GR = "f2ef992c-3afb-46b9-b7cf-a126ee74c451";

const cache: CustomersCache = {
  version: 1,
  partnerTenantId: "11111111-1111-4111-8111-111111111111",
  syncedAt: "2026-01-01T00:00:00.000Z",
  customers: [
    { tenantId: A, displayName: "Alpha", domain: "alpha.onmicrosoft.com", roles: ["Global Reader", "Authentication Policy Administrator"], roleIds: [GR, APA], access: "read+write", relationships: [{ id: "r1", displayName: "r1", status: "active", endDateTime: "2030-01-01T00:00:00Z", roleIds: [GR, APA] }] },
    { tenantId: B, displayName: "Beta", roles: ["Global Reader"], roleIds: [GR], access: "read", relationships: [{ id: "r2", displayName: "r2", status: "active", endDateTime: "2029-01-01T00:00:00Z", roleIds: [GR] }] },
  ],
};

function setup(profile: Record<string, unknown> = {}, synced = true) {
  const home = mkdtempSync(join(tmpdir(), "mfactl-tenants-"));
  const state = join(home, "state");
  if (synced) writeCustomersCache(customersCachePath(join(state, "mfactl")), cache);
  const config = join(home, "config.json");
  writeFileSync(config, JSON.stringify({ defaultProfile: "msp", profiles: { msp: { clientId: "11111111-2222-3333-4444-555555555555", ...profile } } }));
  return { HOME: home, XDG_STATE_HOME: state, MFACTL_CONFIG: config };
}

async function cli(args: string[], env: Record<string, string>) {
  let stdout = "";
  let stderr = "";
  const code = await run(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env });
  return { code, stdout, stderr };
}

interface Row {
  tenant: string;
  tenantId?: string;
  source: string;
  accessMode: string;
  access: string;
  roles: string[];
  relationshipEnds?: string;
}

describe("mfactl tenants", () => {
  it("lists the profile's tenants and the synced customers, de-duplicated by id (a domain matched through the cache), with access and mode", async () => {
    const env = setup({ tenants: ["alpha.onmicrosoft.com", "other.onmicrosoft.com"] });
    const r = await cli(["tenants", "-o", "json"], env);
    expect(r.code, r.stderr).toBe(0);
    const rows = (JSON.parse(r.stdout) as { tenants: Row[] }).tenants;
    expect(rows.map((x) => [x.tenant, x.source, x.access, x.accessMode])).toEqual([
      ["alpha.onmicrosoft.com", "profile+synced", "read+write", "app"],
      ["other.onmicrosoft.com", "profile", "no relationship", "app"],
      [B, "synced", "read", "app"],
    ]);
    expect(rows[0]!.tenantId).toBe(A);
    expect(rows[2]!.relationshipEnds).toBe("2029-01-01T00:00:00Z");
    const table = await cli(["tenants"], env);
    expect(table.stdout.split("\n")[0]).toMatch(/^TENANT\s+NAME\s+SOURCE\s+MODE\s+ACCESS\s+ROLES\s+ENDS$/);
    expect(table.stdout).toMatch(/bbbbbbbb-\S+\s+Beta\s+synced\s+app\s+read\s+Global Reader\s+2029-01-01/);
    const csv = await cli(["tenants", "-o", "csv"], env);
    expect(csv.stdout.split("\r\n")[0]).toBe("tenant,tenantId,domain,displayName,source,accessMode,access,roles,relationshipEnds,syncedAt");
    expect(csv.stdout).toContain(`alpha.onmicrosoft.com,${A},alpha.onmicrosoft.com,Alpha,profile+synced,app,read+write,Global Reader; Authentication Policy Administrator`);
  });

  it("before any sync: the profile alone, and a note saying how to sync", async () => {
    const env = setup({ tenants: ["other.onmicrosoft.com"] }, false);
    const r = await cli(["tenants"], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("other.onmicrosoft.com");
    expect(r.stderr).toContain("run mfactl tenants sync");
  });

  it("tenants sync without a partner tenant is bad usage, naming both ways to give it", async () => {
    const r = await cli(["tenants", "sync"], setup());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("partner.tenantId");
    expect(r.stderr).toContain("--partner-tenant");
  });
});

describe("--all-tenants with synced customers", () => {
  const pick = (env: Record<string, string>, flags: Parameters<typeof pickTenants>[0], tenants: string[]) =>
    withTenantSources(tenantSourcesFor(env, () => ({})), () => pickTenants(flags, () => ({ tenants, defaultTenant: undefined }), { required: true }));

  it("is the profile's tenants plus the synced customers, without duplicates; include/exclude narrow it", async () => {
    const env = setup();
    expect(await pick(env, { allTenants: true }, [A.toUpperCase(), "other.onmicrosoft.com"])).toEqual([A.toUpperCase(), "other.onmicrosoft.com", B]);
    expect(await pick(env, { allTenants: true, excludeTenant: ["alpha.onmicrosoft.com"] }, ["other.onmicrosoft.com"])).toEqual(["other.onmicrosoft.com", B]);
    expect(await pick(env, { allTenants: true, includeTenant: [B, "other.onmicrosoft.com"] }, ["other.onmicrosoft.com"])).toEqual(["other.onmicrosoft.com", B]);
    await expect(pick(env, { allTenants: true, includeTenant: [A], excludeTenant: [A] }, [])).rejects.toThrow(/leave no tenant/);
    await expect(pick(env, { tenant: [A], excludeTenant: [A] }, [])).rejects.toThrow(/--exclude-tenant narrows --all-tenants/);
    await expect(pick(env, { allTenants: true, excludeTenant: ["not a tenant"] }, [])).rejects.toThrow(/--exclude-tenant: Invalid tenant/);
    // Neither a profile list nor a sync: say how to get one.
    await expect(pick(setup({}, false), { allTenants: true }, [])).rejects.toThrow(/run mfactl tenants sync/);
  });

  it("the profile's includeTenants/excludeTenants apply (read through the profile's extras)", async () => {
    const env = setup();
    const withLists = (extras: object) => withTenantSources(tenantSourcesFor(env, () => extras), () => pickTenants({ allTenants: true }, () => ({ tenants: [], defaultTenant: undefined }), { required: true }));
    expect(await withLists({ excludeTenants: [B] })).toEqual([A]);
    expect(await withLists({ includeTenants: ["alpha.onmicrosoft.com"] })).toEqual([A]);
    await expect(withLists({ includeTenants: "alpha" })).rejects.toThrow(/must be a list/);
  });

  it("tenants --exclude-tenant narrows the listing", async () => {
    const r = await cli(["tenants", "-o", "json", "--exclude-tenant", "alpha.onmicrosoft.com"], setup());
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { tenants: Row[] }).tenants.map((t) => t.tenant)).toEqual([B]);
  });
});

describe("mfactl consent-url", () => {
  it("prints Entra's admin-consent link for the tenant; a bad tenant is exit 2; no secret needed", async () => {
    const env = setup({ authorityHost: "https://login.example.test" });
    const r = await cli(["consent-url", "--tenant", "Fabrikam.onmicrosoft.com"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("https://login.example.test/fabrikam.onmicrosoft.com/adminconsent?client_id=11111111-2222-3333-4444-555555555555&redirect_uri=https%3A%2F%2Flogin.microsoftonline.com%2Fcommon%2Foauth2%2Fnativeclient\n");
    const json = await cli(["consent-url", "-t", A, "-o", "json", "--redirect-uri", "https://msp.example.com/consented"], env);
    expect(JSON.parse(json.stdout)).toMatchObject({ tenant: A, url: expect.stringContaining("redirect_uri=https%3A%2F%2Fmsp.example.com%2Fconsented") });
    const bad = await cli(["consent-url", "--tenant", "fabrikam"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid tenant "fabrikam"');
    expect((await cli(["consent-url"], env)).code).toBe(2);
  });

  it("takes the redirect from the profile's consentRedirectUri; the flag wins", async () => {
    const env = setup({ authorityHost: "https://login.example.test", consentRedirectUri: "https://msp.example.com/onboarded" });
    const r = await cli(["consent-url", "--tenant", A], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("redirect_uri=https%3A%2F%2Fmsp.example.com%2Fonboarded");
    const flag = await cli(["consent-url", "--tenant", A, "--redirect-uri", "https://msp.example.com/other"], env);
    expect(flag.stdout).toContain("redirect_uri=https%3A%2F%2Fmsp.example.com%2Fother");
  });
});
