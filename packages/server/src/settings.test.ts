import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "@mfactl/core";
import { afterAll, describe, expect, it } from "vitest";
import { parseServerSettings, readServerSettings } from "./settings.js";

const dir = mkdtempSync(join(tmpdir(), "mfactl-server-settings-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

/** The UsageError message of parsing `raw`. */
function problem(raw: unknown): string {
  try {
    parseServerSettings(raw, "server.yaml");
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
}

describe("parseServerSettings", () => {
  it("fills in the defaults: loopback, port 8443, 600 requests a minute, 30 s grace, 200 jobs kept, a 1 s scheduler, 30 s cluster leases, info logs", () => {
    expect(parseServerSettings({}, "x")).toStrictEqual({
      host: "127.0.0.1",
      port: 8443,
      rateLimit: { max: 600, windowSeconds: 60 },
      shutdownGraceSeconds: 30,
      keepJobs: 200,
      scheduler: { enabled: true, tickSeconds: 1 },
      cluster: { leaseSeconds: 30, concurrency: 4, pollSeconds: 1, sharedBudgets: true },
      logLevel: "info",
    });
  });

  it("reads tenants with aliases and Entra apps with their scopes and tenants", () => {
    const s = parseServerSettings(
      {
        tenants: ["fabrikam.onmicrosoft.com", { tenant: "contoso.onmicrosoft.com", aliases: ["contoso.com"], displayName: "Contoso" }],
        entra: { tenantId: "t-1", audience: ["api://x", "x"], apps: [{ appId: "app-1", name: "CIPP", scopes: ["write"], tenants: ["contoso.com"] }] },
        rateLimit: { max: 5 },
      },
      "x",
    );
    expect(s.tenants).toStrictEqual(["fabrikam.onmicrosoft.com", { tenant: "contoso.onmicrosoft.com", aliases: ["contoso.com"], displayName: "Contoso" }]);
    expect(s.entra).toStrictEqual({ tenantId: "t-1", audience: ["api://x", "x"], apps: [{ appId: "app-1", name: "CIPP", scopes: ["write"], tenants: ["contoso.com"] }] });
    expect(s.rateLimit).toStrictEqual({ max: 5, windowSeconds: 60 });
    expect(parseServerSettings({ tenants: [{ tenant: "a.example" }], entra: { tenantId: "t", audience: "api://y" } }, "x")).toMatchObject({ tenants: [{ tenant: "a.example", aliases: [] }], entra: { apps: [] } });
  });

  it("reads the dashboard's client, app-role values per role and people with roles and tenants", () => {
    const s = parseServerSettings(
      {
        entra: {
          tenantId: "t-1",
          audience: "api://x",
          dashboard: { clientId: "spa-1" },
          roles: { operator: ["MfaState.ReadWrite", "Helpdesk"] },
          people: [
            { userPrincipalName: "adele@contoso.com", role: "admin" },
            { userPrincipalName: "tech@contoso.com", role: "reader", tenants: ["fabrikam.onmicrosoft.com"] },
          ],
        },
      },
      "x",
    );
    expect(s.entra).toStrictEqual({
      tenantId: "t-1",
      audience: "api://x",
      apps: [],
      dashboard: { clientId: "spa-1" },
      roles: { operator: ["MfaState.ReadWrite", "Helpdesk"] },
      people: [
        { userPrincipalName: "adele@contoso.com", role: "admin" },
        { userPrincipalName: "tech@contoso.com", role: "reader", tenants: ["fabrikam.onmicrosoft.com"] },
      ],
    });
    expect(parseServerSettings({ entra: { tenantId: "t", audience: "x", dashboard: { clientId: "spa", scope: "api://custom/access_as_user" } } }, "x").entra?.dashboard).toStrictEqual({ clientId: "spa", scope: "api://custom/access_as_user" });
  });

  it("refuses bad dashboard, roles and people settings, naming their path", () => {
    const base = { tenantId: "t", audience: "api://x" };
    expect(problem({ entra: { ...base, dashboard: {} } })).toContain("entra.dashboard.clientId");
    expect(problem({ entra: { ...base, dashboard: { clientId: "spa", redirectUri: "x" } } })).toMatch(/entra\.dashboard.*"redirectUri"/);
    expect(problem({ entra: { ...base, roles: { owner: ["Admin"] } } })).toMatch(/entra\.roles.*"owner"/);
    expect(problem({ entra: { ...base, roles: { reader: [""] } } })).toContain("entra.roles.reader.0");
    expect(problem({ entra: { ...base, people: [{ userPrincipalName: "a@b", role: "superuser" }] } })).toContain("entra.people.0.role");
    expect(problem({ entra: { ...base, people: [{ userPrincipalName: "a@b" }] } })).toContain("entra.people.0.role");
    expect(problem({ entra: { ...base, people: [{ userPrincipalName: "a@b", role: "reader", scopes: ["read"] }] } })).toMatch(/entra\.people\.0.*"scopes"/);
    const twice = problem({ entra: { ...base, people: [{ userPrincipalName: "a@b.example", role: "reader" }, { userPrincipalName: "A@B.example", role: "admin" }] } });
    expect(twice).toContain("entra.people.1.userPrincipalName");
    expect(twice).toContain("A@B.example is listed twice");
  });

  it("refuses unknown keys, naming the source, the place and the key", () => {
    const top = problem({ prot: 8443 });
    expect(top).toMatch(/^server\.yaml: /);
    expect(top).toContain("prot");
    const nested = problem({ entra: { tenantId: "t", audience: "a", apps: [{ appId: "x", scopes: ["read"], scope: "write" }] } });
    expect(nested).toContain("entra.apps.0");
    expect(nested).toContain('"scope"');
    expect(problem({ rateLimit: { max: 5, window: 60 } })).toMatch(/rateLimit.*"window"/);
    expect(problem({ tls: { cert: "c", key: "k", ca: "x" } })).toMatch(/tls.*"ca"/);
    expect(problem({ tenants: [{ tenant: "a.example", alias: ["b"] }] })).toContain("tenants.0");
  });

  it("refuses bad values, naming their path", () => {
    expect(problem({ port: 70000 })).toMatch(/^server\.yaml: port: /);
    expect(problem({ port: "8443" })).toContain("port");
    expect(problem({ rateLimit: { max: 0 } })).toContain("rateLimit.max");
    expect(problem({ keepJobs: 1.5 })).toContain("keepJobs");
    expect(problem({ shutdownGraceSeconds: -1 })).toContain("shutdownGraceSeconds");
    expect(problem({ logLevel: "verbose" })).toContain("logLevel");
    expect(problem({ entra: { tenantId: "t", audience: "a", apps: [{ appId: "x", scopes: ["superuser"] }] } })).toContain("entra.apps.0.scopes.0");
    expect(problem({ entra: { tenantId: "t", audience: "a", apps: [{ appId: "x", scopes: [] }] } })).toContain("entra.apps.0.scopes");
    expect(problem({ entra: { tenantId: "t", audience: [] } })).toContain("entra.audience");
    expect(problem({ entra: { audience: "a" } })).toContain("entra.tenantId");
    expect(problem({ entra: { tenantId: "t", audience: "a", authorityHost: "not a url" } })).toContain("entra.authorityHost");
    // Every problem at once, not only the first.
    const both = problem({ port: -1, logLevel: "loud" });
    expect(both).toContain("port");
    expect(both).toContain("logLevel");
    expect(problem([])).toContain("(top)");
  });
});

describe("readServerSettings", () => {
  it("reads YAML and JSON files strictly", async () => {
    const yaml = file("server.yaml", "port: 9443\ntenants:\n  - tenant: contoso.onmicrosoft.com\n    aliases: [contoso.com]\nrateLimit:\n  max: 100\n");
    expect(await readServerSettings(yaml)).toMatchObject({ port: 9443, tenants: [{ tenant: "contoso.onmicrosoft.com", aliases: ["contoso.com"] }], rateLimit: { max: 100, windowSeconds: 60 } });
    const json = file("server.json", JSON.stringify({ host: "0.0.0.0", logLevel: "warn" }));
    expect(await readServerSettings(json)).toMatchObject({ host: "0.0.0.0", logLevel: "warn", port: 8443 });
    const bad = file("bad.yaml", "port: 9443\nbogus: true\n");
    await expect(readServerSettings(bad)).rejects.toThrow(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: .*bogus`));
  });

  it("reads an empty file as the defaults", async () => {
    expect(await readServerSettings(file("empty.yaml", ""))).toMatchObject({ host: "127.0.0.1", port: 8443 });
  });

  it("names a missing file and a file that is not YAML", async () => {
    const missing = join(dir, "nope.yaml");
    await expect(readServerSettings(missing)).rejects.toThrow(UsageError);
    await expect(readServerSettings(missing)).rejects.toThrow(/nope\.yaml.*ENOENT/);
    const broken = file("broken.yaml", "port: [1, 2\n");
    await expect(readServerSettings(broken)).rejects.toThrow(/broken\.yaml is not valid YAML or JSON/);
  });
});
