import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "@mfactl/core";
import { loadProfile, resolveBackend, resolveCippSettings } from "./settings.js";

const emptyHome = { HOME: mkdtempSync(join(tmpdir(), "mfactl-home-")) };

function configFile(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "mfactl-cipp-settings-"));
  const path = join(dir, "config.json");
  writeFileSync(path, JSON.stringify(content));
  writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  return path;
}

const profileCipp = { url: "https://cipp.profile.example", tenantId: "msp.onmicrosoft.com", clientId: "profile-client", clientSecret: "profile-secret-value" };

describe("resolveBackend", () => {
  it("flag, then MFACTL_BACKEND, then the profile, then graph", () => {
    expect(resolveBackend(undefined, {}, {})).toBe("graph");
    expect(resolveBackend(undefined, {}, { backend: "cipp" })).toBe("cipp");
    expect(resolveBackend(undefined, { MFACTL_BACKEND: "graph" }, { backend: "cipp" })).toBe("graph");
    expect(resolveBackend("cipp", { MFACTL_BACKEND: "graph" }, { backend: "graph" })).toBe("cipp");
    expect(() => resolveBackend(undefined, { MFACTL_BACKEND: "ldap" }, {})).toThrow(/Invalid MFACTL_BACKEND "ldap": expected graph or cipp/);
  });
});

describe("resolveCippSettings", () => {
  it("reads the profile's backend and cipp block; flags beat the environment, which beats the profile", () => {
    const config = configFile({ profiles: { msp: { backend: "cipp", tenant: "fabrikam.onmicrosoft.com", tenants: ["a.example.com"], caFile: "ca.pem", cipp: profileCipp } } });
    const loaded = loadProfile({ config, profile: "msp" }, emptyHome);
    expect(loaded).toMatchObject({ backend: "cipp", cipp: profileCipp, extras: { tenants: ["a.example.com"] } });

    const fromProfile = resolveCippSettings({ config, profile: "msp" }, emptyHome);
    expect(fromProfile).toMatchObject({
      url: "https://cipp.profile.example",
      tenantId: "msp.onmicrosoft.com",
      clientId: "profile-client",
      clientSecret: "profile-secret-value",
      authorityHost: "https://login.microsoftonline.com",
      defaultTenant: "fabrikam.onmicrosoft.com",
      tenants: ["a.example.com"],
      profile: "msp",
      secrets: ["profile-secret-value"],
    });
    expect(fromProfile.caPem).toContain("BEGIN CERTIFICATE");

    const env = { ...emptyHome, MFACTL_CIPP_URL: "https://cipp.env.example/", MFACTL_CIPP_CLIENT_ID: "env-client", MFACTL_CIPP_CLIENT_SECRET: "env-secret-value", MFACTL_AUTHORITY_HOST: "https://login.env.example" };
    const s = resolveCippSettings({ config, profile: "msp", cippUrl: "https://cipp.flag.example", cippTenantId: "flag.onmicrosoft.com" }, env);
    expect(s).toMatchObject({ url: "https://cipp.flag.example", tenantId: "flag.onmicrosoft.com", clientId: "env-client", clientSecret: "env-secret-value", authorityHost: "https://login.env.example" });
  });

  it("needs no Graph client id; names the missing setting, and never echoes a secret", () => {
    const env = { ...emptyHome, MFACTL_CIPP_TENANT_ID: "msp.onmicrosoft.com", MFACTL_CIPP_CLIENT_ID: "c", MFACTL_CIPP_CLIENT_SECRET: "a-secret-value" };
    expect(() => resolveCippSettings({}, env)).toThrow("The CIPP backend needs the CIPP URL: set --cipp-url, MFACTL_CIPP_URL or cipp.url in the profile");
    expect(() => resolveCippSettings({ cippUrl: "https://cipp.example" }, { ...env, MFACTL_CIPP_CLIENT_SECRET: "" })).toThrow(/set MFACTL_CIPP_CLIENT_SECRET/);
    expect(resolveCippSettings({ cippUrl: "https://cipp.example" }, env).clientSecret).toBe("a-secret-value");
    for (const url of ["http://cipp.example", "not a url", "https://"]) {
      let error: unknown;
      try {
        resolveCippSettings({ cippUrl: url }, env);
      } catch (e) {
        error = e;
      }
      expect(error, url).toBeInstanceOf(UsageError);
      expect(String(error)).toContain("Invalid --cipp-url: expected an https:// URL");
      expect(String(error)).not.toContain("a-secret-value");
    }
  });

  it("refuses unknown keys in the profile's cipp block and an unknown backend", () => {
    const typo = configFile({ profiles: { a: { cipp: { ...profileCipp, clientSceret: "x" } } } });
    expect(() => loadProfile({ config: typo, profile: "a" }, emptyHome)).toThrow(/profiles\.a\.cipp/);
    const backend = configFile({ profiles: { a: { backend: "ldap" } } });
    expect(() => loadProfile({ config: backend, profile: "a" }, emptyHome)).toThrow(/profiles\.a\.backend/);
  });
});
