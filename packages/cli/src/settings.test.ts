import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "@mfactl/core";
import { defaultConfigPath, resolveSettings } from "./settings.js";

function configFile(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "mfactl-settings-"));
  const path = join(dir, "config.json");
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  return path;
}

const emptyHome = { HOME: mkdtempSync(join(tmpdir(), "mfactl-home-")) };

describe("resolveSettings", () => {
  it("defaults to Microsoft's real endpoints", () => {
    const s = resolveSettings({}, { ...emptyHome, MFACTL_CLIENT_ID: "app", MFACTL_CLIENT_SECRET: "s3cret-value" });
    expect(s.connection).toEqual({
      clientId: "app",
      credential: { kind: "secret", clientSecret: "s3cret-value" },
      authorityHost: "https://login.microsoftonline.com",
      graphUrl: "https://graph.microsoft.com",
    });
    expect(s.secrets).toEqual(["s3cret-value"]);
  });

  it("flag beats environment beats profile", () => {
    const config = configFile({
      defaultProfile: "lab",
      profiles: { lab: { clientId: "from-profile", clientSecret: "profile-secret", graphUrl: "https://profile.example", caFile: "ca.pem", tenant: "contoso.com" } },
    });
    const env = { ...emptyHome, MFACTL_CONFIG: config, MFACTL_CLIENT_ID: "from-env", MFACTL_GRAPH_URL: "https://env.example/" };
    const s = resolveSettings({ graphUrl: "https://flag.example" }, env);
    expect(s.connection.clientId).toBe("from-env");
    expect(s.connection.graphUrl).toBe("https://flag.example");
    expect(s.connection.credential).toEqual({ kind: "secret", clientSecret: "profile-secret" });
    expect(s.connection.caPem).toContain("BEGIN CERTIFICATE");
    expect(s.defaultTenant).toBe("contoso.com");
    expect(s.profile).toBe("lab");
    expect(resolveSettings({}, env).connection.graphUrl).toBe("https://env.example");
  });

  it("chooses the profile by flag, then MFACTL_PROFILE", () => {
    const config = configFile({ profiles: { a: { clientId: "a", clientSecret: "x1234" }, b: { clientId: "b", clientSecret: "y1234" } } });
    expect(resolveSettings({ config, profile: "b" }, { ...emptyHome, MFACTL_PROFILE: "a" }).connection.clientId).toBe("b");
    expect(resolveSettings({ config }, { ...emptyHome, MFACTL_PROFILE: "a" }).connection.clientId).toBe("a");
  });

  it("finds the config file in the user's config directory", () => {
    const xdg = mkdtempSync(join(tmpdir(), "mfactl-xdg-"));
    mkdirSync(join(xdg, "mfactl"));
    writeFileSync(join(xdg, "mfactl", "config.json"), JSON.stringify({ profiles: { default: { clientId: "d", clientSecret: "z1234" } } }));
    expect(defaultConfigPath({ XDG_CONFIG_HOME: "/x" })).toBe("/x/mfactl/config.json");
    expect(defaultConfigPath({ HOME: "/home/ann" })).toBe("/home/ann/.config/mfactl/config.json");
    const s = resolveSettings({}, { XDG_CONFIG_HOME: xdg });
    expect(s.profile).toBe("default");
    expect(s.connection.clientId).toBe("d");
  });

  it.each([
    [{}, { MFACTL_CLIENT_SECRET: "x1234" }, "No client id"],
    [{}, { MFACTL_CLIENT_ID: "a" }, "No credential"],
    [{}, { MFACTL_CLIENT_ID: "a", MFACTL_CLIENT_SECRET: "x1234", MFACTL_GRAPH_URL: "http://plain.example" }, "Invalid MFACTL_GRAPH_URL: expected an https:// URL."],
    [{ authorityHost: "not a url" }, { MFACTL_CLIENT_ID: "a", MFACTL_CLIENT_SECRET: "x1234" }, "Invalid --authority-host"],
    [{ profile: "nope" }, { MFACTL_CLIENT_ID: "a", MFACTL_CLIENT_SECRET: "x1234" }, 'Profile "nope" was asked for'],
    [{ config: "/nonexistent/mfactl.json" }, {}, "Config file /nonexistent/mfactl.json does not exist."],
    [{}, { MFACTL_CLIENT_ID: "a", MFACTL_CLIENT_SECRET: "x1234", MFACTL_CA_FILE: "/nonexistent/ca.pem" }, "Cannot read the CA file /nonexistent/ca.pem: ENOENT."],
    [{}, { MFACTL_CLIENT_ID: "a", MFACTL_CERTIFICATE_PATH: "/nonexistent/c.pem" }, "Cannot read the certificate file"],
  ] as const)("refuses bad settings clearly (%#)", (flags, env, message) => {
    expect(() => resolveSettings(flags, { ...emptyHome, ...env })).toThrow(UsageError);
    expect(() => resolveSettings(flags, { ...emptyHome, ...env })).toThrow(message);
  });

  it("names a missing profile and the ones that exist", () => {
    const config = configFile({ profiles: { a: { clientId: "a", clientSecret: "x1234" } } });
    expect(() => resolveSettings({ config, profile: "b" }, emptyHome)).toThrow(`Profile "b" not found in ${config}; profiles there: a.`);
  });

  it("rejects a malformed config file without echoing secrets", () => {
    const bad = configFile("{ not json");
    expect(() => resolveSettings({ config: bad }, emptyHome)).toThrow(/is not valid JSON/);
    const unknownKey = configFile({ profiles: { a: { clientId: "a", clientSecret: "hunter2-secret", tenantt: "x" } } });
    const error = (() => {
      try {
        resolveSettings({ config: unknownKey, profile: "a" }, emptyHome);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.message).toMatch(/is not valid: profiles\.a/);
    expect(error?.message).not.toContain("hunter2-secret");
  });

  it("a certificate file must hold both the certificate and the key", () => {
    const dir = mkdtempSync(join(tmpdir(), "mfactl-cert-"));
    const path = join(dir, "only-cert.pem");
    writeFileSync(path, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    expect(() => resolveSettings({}, { ...emptyHome, MFACTL_CLIENT_ID: "a", MFACTL_CERTIFICATE_PATH: path })).toThrow(
      "must hold a PEM certificate and its PEM private key",
    );
  });
});
