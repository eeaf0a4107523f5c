/**
 * `mfactl tenants sync`, `mfactl tenants` and `--all-tenants` over real HTTPS against the emulator's partner tenant
 * and its GDAP customers (docs/emulator-fidelity.md, "Partner (GDAP)").
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mfactl, useEmulatorProcess } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "1", "--users", "5", "--partner-customers", "3", "--partner-users", "5", "--partner-planted"], { reset: false });

interface PartnerInfo {
  tenantId: string;
  customers: { tenantId: string; domain: string; displayName: string }[];
  planted: Record<"missingRole" | "noConsent" | "missingPermission" | "noRelationship" | "noLicence", { tenantId: string; domain: string }>;
}
const partner = () => (lab.emu as unknown as { partner: PartnerInfo }).partner;

/** A state directory and a profile kept across the runs of one test (each mfactl run gets a fresh HOME). */
function workspace(profile: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "mfactl-tenants-e2e-"));
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({ defaultProfile: "msp", profiles: { msp: { partner: { tenantId: partner().tenantId }, ...profile } } }));
  return { env: { ...lab.emu.env, XDG_STATE_HOME: join(dir, "state"), MFACTL_CONFIG: config }, stateFile: join(dir, "state", "mfactl", "customers.json") };
}

interface Row {
  tenant: string;
  tenantId: string;
  source: string;
  access: string;
  roles: string[];
  accessMode: string;
  relationshipEnds?: string;
}

describe("mfactl tenants sync / tenants / --all-tenants", () => {
  it("sync reads every customer and its active relationships' roles from the partner tenant and caches them", async () => {
    const ws = workspace();
    const sync = await mfactl(["tenants", "sync", "-o", "json"], ws.env);
    expect(sync.code, sync.stderr).toBe(0);
    const out = JSON.parse(sync.stdout) as { partnerTenantId: string; customers: number; tenants: Row[] };
    expect(out.partnerTenantId).toBe(partner().tenantId);
    const p = partner();
    const byId = new Map(out.tenants.map((r) => [r.tenantId, r]));
    for (const c of p.customers) expect(byId.get(c.tenantId)).toMatchObject({ access: "read+write", roles: expect.arrayContaining(["Authentication Policy Administrator", "Global Reader"]) });
    expect(byId.get(p.planted.missingRole.tenantId)).toMatchObject({ access: "read", roles: ["Global Reader"] });
    // No relationship: not a customer of the partner at all.
    expect(byId.has(p.planted.noRelationship.tenantId)).toBe(false);
    expect(byId.size).toBe(p.customers.length + 4);
    // The cache is on disk, for the next runs.
    const cache = JSON.parse(readFileSync(ws.stateFile, "utf8")) as { partnerTenantId: string; syncedAt: string; customers: { tenantId: string; relationships: { endDateTime?: string }[] }[] };
    expect(cache.partnerTenantId).toBe(p.tenantId);
    expect(Date.parse(cache.syncedAt)).not.toBeNaN();
    expect(cache.customers.every((c) => c.relationships.length > 0 && c.relationships.every((r) => typeof r.endDateTime === "string"))).toBe(true);
  });

  it("tenants lists the profile's tenants and the customers de-duplicated by id, with access and mode; --all-tenants reports them all", async () => {
    const p = partner();
    const first = p.customers[0]!;
    const ws = workspace({ tenants: [first.tenantId, p.planted.noRelationship.domain], tenantAccess: { [p.planted.missingRole.tenantId]: "gdap" } });
    expect((await mfactl(["tenants", "sync"], ws.env)).code).toBe(0);
    const list = await mfactl(["tenants", "-o", "json"], ws.env);
    expect(list.code, list.stderr).toBe(0);
    const rows = (JSON.parse(list.stdout) as { tenants: Row[] }).tenants;
    expect(rows.filter((r) => r.tenantId === first.tenantId)).toHaveLength(1);
    expect(rows[0]).toMatchObject({ tenant: first.tenantId, source: "profile+synced", access: "read+write", accessMode: "app" });
    expect(rows[1]).toMatchObject({ tenant: p.planted.noRelationship.domain, source: "profile", access: "no relationship" });
    expect(rows.find((r) => r.tenantId === p.planted.missingRole.tenantId)).toMatchObject({ accessMode: "gdap", access: "read" });

    // report --all-tenants reaches every healthy customer through the app (no consent fails alone), minus the excluded.
    const report = await mfactl(["report", "--all-tenants", "--exclude-tenant", p.planted.noConsent.tenantId, "--exclude-tenant", p.planted.noRelationship.domain, "--exclude-tenant", p.planted.missingRole.tenantId, "-o", "json"], ws.env);
    expect(report.code, report.stderr).toBe(0);
    const tenants = (JSON.parse(report.stdout) as { tenants: { tenant: string; status: string }[] }).tenants;
    expect(tenants.map((t) => t.tenant).sort()).toEqual(rows.map((r) => r.tenant).filter((t) => ![p.planted.noConsent.tenantId, p.planted.noRelationship.domain, p.planted.missingRole.tenantId].includes(t)).sort());
    expect(tenants.every((t) => t.status === "completed")).toBe(true);

    const only = await mfactl(["report", "--all-tenants", "--include-tenant", first.domain, "--include-tenant", first.tenantId, "-o", "json"], ws.env);
    expect(only.code, only.stderr).toBe(0);
    expect((JSON.parse(only.stdout) as { tenants: { tenant: string }[] }).tenants.map((t) => t.tenant)).toEqual([first.tenantId]);
  });

  it("the profile's excludeTenants apply to --all-tenants; --exclude-tenant without --all-tenants is bad usage", async () => {
    const p = partner();
    const ws = workspace({ excludeTenants: [p.planted.noConsent.tenantId, p.planted.missingRole.tenantId, p.planted.missingPermission.tenantId, p.planted.noLicence.tenantId] });
    expect((await mfactl(["tenants", "sync"], ws.env)).code).toBe(0);
    const list = await mfactl(["tenants", "-o", "json"], ws.env);
    expect((JSON.parse(list.stdout) as { tenants: Row[] }).tenants.map((r) => r.tenant).sort()).toEqual(p.customers.map((c) => c.tenantId).sort());
    const bad = await mfactl(["report", "-t", p.customers[0]!.domain, "--exclude-tenant", p.customers[1]!.domain], ws.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--exclude-tenant narrows --all-tenants");
  });
});
