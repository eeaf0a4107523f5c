import { describe, expect, it } from "vitest";
import type { Tenant } from "./model.js";
import { seedTenants, tenantDomain } from "./seed.js";
import { seededApps } from "./apps.js";
import type { CertificateInfo } from "./ca.js";

const strip = (users: { id: string; userPrincipalName: string; perUserMfaState: string; methods: readonly string[] }[]) =>
  users.map((u) => [u.id, u.userPrincipalName, u.perUserMfaState, u.methods.join("+")].join("|"));

describe("seeding", () => {
  it("is deterministic: same seed, same tenants, ids, users and app credentials", () => {
    const a = seedTenants({ tenants: 3, users: 300, seed: "alpha" });
    const b = seedTenants({ tenants: 3, users: 300, seed: "alpha" });
    expect(a.map((t) => t.id)).toEqual(b.map((t) => t.id));
    for (let i = 0; i < 3; i++) expect(strip(a[i]!.users)).toEqual(strip(b[i]!.users));
    const c = seedTenants({ tenants: 3, users: 300, seed: "beta" });
    expect(c[0]!.id).not.toBe(a[0]!.id);
    expect(strip(c[0]!.users)).not.toEqual(strip(a[0]!.users));
    const cert = {} as CertificateInfo;
    const ids = (seed: string) => seededApps(seed, [], cert);
    expect(ids("alpha").main.clientId).toBe(ids("alpha").main.clientId);
    expect(ids("alpha").main.secret).toBe(ids("alpha").main.secret);
    expect(ids("alpha").main.secret).toMatch(/^.{3}8Q~.{34}$/);
    expect(ids("beta").main.clientId).not.toBe(ids("alpha").main.clientId);
  });

  it("keeps earlier tenants and users stable when more are asked for", () => {
    const small = seedTenants({ tenants: 2, users: 50, seed: "s" });
    const big = seedTenants({ tenants: 4, users: 80, seed: "s" });
    expect(big[1]!.id).toBe(small[1]!.id);
    expect(strip(big[1]!.users.slice(0, 50))).toEqual(strip(small[1]!.users));
  });

  it("names domains contoso, fabrikam, ... then tenant<N>", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(tenantDomain)).toEqual([
      "contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", "northwind.onmicrosoft.com", "tailspin.onmicrosoft.com", "woodgrove.onmicrosoft.com",
      "adatum.onmicrosoft.com", "litware.onmicrosoft.com", "wingtip.onmicrosoft.com", "tenant9.onmicrosoft.com", "tenant10.onmicrosoft.com",
    ]);
  });

  it("starts every tenant with the nine fixed users (truncated when users < 9)", () => {
    const [t] = seedTenants({ tenants: 1, users: 25, seed: "mfactl" });
    const fixed = t!.users.slice(0, 9).map((u) => ({
      upn: u.userPrincipalName, name: u.displayName, type: u.userType, enabled: u.accountEnabled, licensed: u.licensed, methods: u.methods.length > 0, state: u.perUserMfaState,
    }));
    const d = "contoso.onmicrosoft.com";
    expect(fixed).toEqual([
      { upn: `admin@${d}`, name: "Tenant Admin", type: "Member", enabled: true, licensed: true, methods: true, state: "enforced" },
      { upn: `adele.vance@${d}`, name: "Adele Vance", type: "Member", enabled: true, licensed: true, methods: true, state: "disabled" },
      { upn: `alex.wilber@${d}`, name: "Alex Wilber", type: "Member", enabled: true, licensed: true, methods: false, state: "disabled" },
      { upn: `megan.bowen@${d}`, name: "Megan Bowen", type: "Member", enabled: true, licensed: true, methods: false, state: "enabled" },
      { upn: `john.doe_fabrikam.com#EXT#@${d}`, name: "John Doe (Guest)", type: "Guest", enabled: true, licensed: false, methods: false, state: "disabled" },
      { upn: `former.employee@${d}`, name: "Former Employee", type: "Member", enabled: false, licensed: true, methods: false, state: "disabled" },
      { upn: `o'brien@${d}`, name: "Pat O'Brien", type: "Member", enabled: true, licensed: true, methods: true, state: "enforced" },
      { upn: `breakglass@${d}`, name: "Break Glass (emergency access)", type: "Member", enabled: true, licensed: false, methods: true, state: "disabled" },
      { upn: expect.stringMatching(new RegExp(`^Sync_SRV01_[0-9a-f]{12}@${d}$`)), name: "On-Premises Directory Synchronization Service Account", type: "Member", enabled: true, licensed: false, methods: false, state: "disabled" },
    ]);
    expect(t!.users[7]!.methods).toEqual(["fido2"]);
    expect(t!.users[8]!.mail).toBeNull();
    expect(t!.users).toHaveLength(25);
    expect(seedTenants({ tenants: 1, users: 3, seed: "mfactl" })[0]!.users.map((u) => u.userPrincipalName)).toEqual([`admin@${d}`, `adele.vance@${d}`, `alex.wilber@${d}`]);
  });

  it("generates a realistic mix, never enabled with methods, with awkward display names", () => {
    const users = seedTenants({ tenants: 1, users: 20_000, seed: "mix" })[0]!.users.slice(9);
    const share = (f: (u: (typeof users)[number]) => boolean, of = users) => of.filter(f).length / of.length;
    const members = users.filter((u) => u.userType === "Member");
    expect(share((u) => u.userType === "Member")).toBeCloseTo(0.85, 1);
    expect(share((u) => !u.accountEnabled)).toBeCloseTo(0.05, 1);
    expect(share((u) => u.licensed, members)).toBeCloseTo(0.75, 1);
    expect(share((u) => u.methods.length > 0)).toBeCloseTo(0.55, 1);
    expect(share((u) => u.perUserMfaState === "disabled")).toBeCloseTo(0.6, 1);
    expect(share((u) => u.perUserMfaState === "enabled")).toBeCloseTo(0.15, 1);
    expect(share((u) => u.perUserMfaState === "enforced")).toBeCloseTo(0.25, 1);
    expect(users.some((u) => u.perUserMfaState === "enabled" && u.methods.length > 0)).toBe(false);
    expect(users.some((u) => u.displayName.includes(","))).toBe(true);
    expect(users.some((u) => u.displayName.includes('"'))).toBe(true);
    expect(users.some((u) => /[^ -~]/.test(u.displayName))).toBe(true);
    expect(users.every((u) => /^[a-z0-9.'_#@-]+$/i.test(u.userPrincipalName.replace("#EXT#", "")))).toBe(true);
    expect(users.filter((u) => u.userType === "Guest").every((u) => u.userPrincipalName.includes("#EXT#@") && !u.licensed)).toBe(true);
    expect(new Set(users.map((u) => u.userPrincipalName.toLowerCase())).size).toBe(users.length);
  });

  it("generates the same users from the same stream as before the later fixed users existed", () => {
    // Ids and UPNs the first generated users had when there were seven fixed users: they moved two places down.
    const [contoso, fabrikam] = seedTenants({ tenants: 2, users: 12, seed: "mfactl" });
    const generated = (t: Tenant | undefined) => t!.users.slice(9).map((u) => [u.id, u.userPrincipalName.split("@")[0], u.perUserMfaState]);
    expect(generated(contoso)).toEqual([
      ["af2d1edf-aa2f-4d1c-b3f3-338bb03f616c", "lee.kowalski8_gmail.com#EXT#", "disabled"],
      ["1029d416-29d8-4a3b-a40f-14507425b34b", "ingrid.deyoung9", "disabled"],
      ["ad1cc39f-aad0-4405-98d9-0e52eed10d6a", "wei.adams10", "disabled"],
    ]);
    expect(generated(fabrikam)[0]).toEqual(["d64632cc-6fe9-4e77-9f17-dd3002730160", "malgorzata.dubois8", "enforced"]);
  });

  it("seeds 100,000-user tenants quickly, groups and roles included", () => {
    const started = performance.now();
    const [t] = seedTenants({ tenants: 1, users: 100_000, seed: "big" });
    const ms = performance.now() - started;
    expect(t!.users).toHaveLength(100_000);
    expect(t!.byId.size).toBe(100_000);
    expect(t!.byUpn.size).toBe(100_000);
    expect(t!.groups.find((g) => g.displayName === "All Staff")!.memberIds.length).toBeGreaterThan(50_000);
    expect(t!.roleAssignments.length).toBeGreaterThan(2_000);
    expect(ms).toBeLessThan(3000);
  });
});

describe("seeded groups and role assignments", () => {
  const GA = "62e90394-69f5-4237-9190-012177145e10";
  const DSA = "d29b2b05-8046-44ba-8758-1e26182fcf32";
  const DELEGATED = ["fe930be7-5e62-47db-91af-98c3a49a38b1", "194ae4cb-b126-40b2-bd5b-6091b380977d", "0526716b-113d-4c15-b2c8-68e3c22b9f80"];
  const [t] = seedTenants({ tenants: 1, users: 20_000, seed: "dir" }) as [Tenant];
  const byName = (name: string) => t.groups.find((g) => g.displayName === name)!;
  const upn = (id: string) => t.byId.get(id)!.userPrincipalName;
  const generatedMembers = t.users.slice(9).filter((u) => u.userType === "Member");

  it("seeds the eight groups in order, with GUID ids", () => {
    expect(t.groups.map((g) => g.displayName)).toEqual([
      "All Staff", "Finance", "Service Accounts", "MFA Exclusions", "Emergency Access", "Contractors", "External Contractors", "Partner Support",
    ]);
    expect(t.groups.every((g) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(g.id))).toBe(true);
    expect(t.groupsById.size).toBe(8);
  });

  it("puts every enabled licensed member in All Staff, and about 10% of members in Finance", () => {
    const expected = t.users.filter((u) => u.userType === "Member" && u.accountEnabled && u.licensed).map((u) => u.id);
    expect(byName("All Staff").memberIds).toEqual(expected);
    const finance = byName("Finance").memberIds;
    expect(upn(finance[0]!)).toBe("adele.vance@contoso.onmicrosoft.com");
    expect(finance.length / generatedMembers.length).toBeCloseTo(0.1, 1);
    expect(finance.every((id) => t.byId.get(id)!.userType === "Member")).toBe(true);
  });

  it("nests Service Accounts in MFA Exclusions and Partner Support two levels under Contractors", () => {
    const service = byName("Service Accounts");
    expect(service.memberIds).toHaveLength(2);
    expect(service.memberIds.every((id) => generatedMembers.some((u) => u.id === id))).toBe(true);
    const exclusions = byName("MFA Exclusions");
    expect(exclusions.memberGroupIds).toEqual([service.id]);
    expect(exclusions.memberIds).toHaveLength(1);
    expect(service.memberIds).not.toContain(exclusions.memberIds[0]);
    expect(byName("Emergency Access").memberIds.map(upn)).toEqual(["breakglass@contoso.onmicrosoft.com"]);
    expect(byName("Contractors")).toMatchObject({ memberIds: [], memberGroupIds: [byName("External Contractors").id] });
    expect(byName("External Contractors").memberGroupIds).toEqual([byName("Partner Support").id]);
    expect(byName("External Contractors").memberIds).toEqual(t.users.filter((u) => u.userType === "Guest").map((u) => u.id));
    const partner = byName("Partner Support").memberIds;
    expect(partner.map(upn)[0]).toBe("john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com");
    expect(partner).toHaveLength(2);
  });

  it("assigns Global Administrator to admin@ and breakglass@, Directory Synchronization Accounts to Sync_, ~3% delegated admins", () => {
    const [a, b, c, ...rest] = t.roleAssignments;
    expect([a, b, c].map((x) => [x!.roleDefinitionId, upn(x!.principalId).split("@")[0]!.replace(/[0-9a-f]{12}$/, "")])).toEqual([
      [GA, "admin"], [GA, "breakglass"], [DSA, "Sync_SRV01_"],
    ]);
    expect(rest.every((x) => DELEGATED.includes(x.roleDefinitionId) && t.byId.get(x.principalId)!.userType === "Member")).toBe(true);
    expect(rest.length / generatedMembers.length).toBeCloseTo(0.03, 1);
    expect(new Set(rest.map((x) => x.roleDefinitionId)).size).toBe(3);
    expect(t.roleAssignments.every((x) => x.directoryScopeId === "/" && /^[A-Za-z0-9_-]{43}-1$/.test(x.id))).toBe(true);
    expect(new Set(t.roleAssignments.map((x) => x.id)).size).toBe(t.roleAssignments.length);
  });

  it("is deterministic, and groups and roles stay put when more users are asked for", () => {
    const shape = (x: Tenant) => [x.groups.map((g) => [g.id, g.memberIds.length, g.memberGroupIds.join()]), x.roleAssignments.map((r) => r.id)];
    const again = seedTenants({ tenants: 1, users: 20_000, seed: "dir" })[0]!;
    expect(shape(again)).toEqual(shape(t));
    expect(seedTenants({ tenants: 1, users: 20_000, seed: "other" })[0]!.groups[0]!.id).not.toBe(t.groups[0]!.id);
    const small = seedTenants({ tenants: 1, users: 300, seed: "dir" })[0]!;
    expect(small.groups.map((g) => g.id)).toEqual(t.groups.map((g) => g.id));
    const roles = (x: Tenant, n: number) => x.roleAssignments.filter((r) => x.users.findIndex((u) => u.id === r.principalId) < n).map((r) => r.id);
    expect(roles(small, 300)).toEqual(roles(t, 300));
    expect(byName("Finance").memberIds.filter((id) => small.byId.has(id))).toEqual(small.groups[1]!.memberIds);
  });

  it("seeds no groups without all nine fixed users, but still the fixed users' roles", () => {
    const [eight] = seedTenants({ tenants: 1, users: 8, seed: "dir" });
    expect(eight!.groups).toEqual([]);
    expect(eight!.roleAssignments.map((r) => r.roleDefinitionId)).toEqual([GA, GA]);
    const [nine] = seedTenants({ tenants: 1, users: 9, seed: "dir" });
    expect(nine!.groups.map((g) => [g.displayName, g.memberIds.length])).toEqual([
      ["All Staff", 5], ["Finance", 1], ["Service Accounts", 0], ["MFA Exclusions", 0], ["Emergency Access", 1], ["Contractors", 0], ["External Contractors", 1], ["Partner Support", 1],
    ]);
    expect(nine!.users[8]!.userPrincipalName).toBe(t.users[8]!.userPrincipalName);
  });
});
