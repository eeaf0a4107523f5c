import { describe, expect, it } from "vitest";
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

  it("starts every tenant with the seven fixed users (truncated when users < 7)", () => {
    const [t] = seedTenants({ tenants: 1, users: 25, seed: "mfactl" });
    const fixed = t!.users.slice(0, 7).map((u) => ({
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
    ]);
    expect(t!.users).toHaveLength(25);
    expect(seedTenants({ tenants: 1, users: 3, seed: "mfactl" })[0]!.users.map((u) => u.userPrincipalName)).toEqual([`admin@${d}`, `adele.vance@${d}`, `alex.wilber@${d}`]);
  });

  it("generates a realistic mix, never enabled with methods, with awkward display names", () => {
    const users = seedTenants({ tenants: 1, users: 20_000, seed: "mix" })[0]!.users.slice(7);
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

  it("seeds a 100,000-user tenant quickly", () => {
    const started = performance.now();
    const [t] = seedTenants({ tenants: 1, users: 100_000, seed: "big" });
    const ms = performance.now() - started;
    expect(t!.users).toHaveLength(100_000);
    expect(t!.byId.size).toBe(100_000);
    expect(t!.byUpn.size).toBe(100_000);
    expect(ms).toBeLessThan(3000);
  });
});
