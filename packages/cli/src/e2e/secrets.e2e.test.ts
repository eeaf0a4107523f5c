import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { mfactl, useEmulatorProcess } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "1", "--users", "10", "--seed", "e2e-secrets"], { reset: false });

const JWT = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./;

describe("--verbose never shows a secret or an access token", () => {
  it("not on success, not on failure, not with a certificate", async () => {
    const key = readFileSync(lab.emu.certificateFile, "utf8").match(/-----BEGIN [A-Z ]*PRIVATE KEY-----\n([^\n]+)/)?.[1];
    expect(key).toBeTruthy();
    await lab.emu.admin("POST", "/faults", { rules: [{ method: "PATCH", status: 429, retryAfterSeconds: 1, count: 1 }] });
    const runs = [
      await mfactl(["get", "-t", lab.domain, "-u", `adele.vance@${lab.domain}`, "--verbose"], lab.emu.env),
      await mfactl(["set", "-t", lab.domain, "-u", `adele.vance@${lab.domain}`, "-s", "enforced", "--verbose"], lab.emu.env),
      await mfactl(["set", "-t", lab.domain, "-u", `nobody@${lab.domain}`, "-s", "enforced", "--verbose", "-o", "json"], lab.emu.env),
      await mfactl(["get", "-t", lab.domain, "-u", `adele.vance@${lab.domain}`, "--verbose"], { ...lab.emu.env, MFACTL_CLIENT_SECRET: `${lab.emu.clientSecret}x` }),
      await mfactl(["get", "-t", lab.domain, "-u", `adele.vance@${lab.domain}`, "--verbose", "--client-secret", lab.emu.clientSecret], { ...lab.emu.env, MFACTL_CLIENT_SECRET: "" }),
      await mfactl(["get", "-t", lab.domain, "-u", `adele.vance@${lab.domain}`, "--verbose"], { ...lab.emu.env, MFACTL_CLIENT_SECRET: "", MFACTL_CERTIFICATE_PATH: lab.emu.certificateFile }),
    ];
    for (const r of runs) {
      const all = r.stdout + r.stderr;
      expect(all).not.toContain(lab.emu.clientSecret);
      expect(all).not.toMatch(JWT);
      expect(all).not.toContain(key!);
      expect(all).not.toMatch(/Bearer\s+[A-Za-z0-9]/);
    }
    // The runs did print diagnostics: verbose output is there to check.
    expect(runs[1]!.stderr).toMatch(/\[graph\] 204 PATCH/);
    expect(runs[1]!.stderr).toMatch(/\[retry\]/);
    expect(runs[3]!.code).toBe(1);
    expect(runs[3]!.stderr).toMatch(/7000215/);
    expect(runs[4]!.code).toBe(0);
    expect(runs[5]!.code).toBe(0);
  });
});
