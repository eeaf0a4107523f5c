import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mfactl, startEmulatorProcess, type EmulatorProcess } from "./harness.js";

let emu: EmulatorProcess;
let domain: string;

beforeAll(async () => {
  emu = await startEmulatorProcess(["--tenants", "1", "--users", "10", "--seed", "e2e-secrets"]);
  domain = emu.tenants[0]!.domain;
});
afterAll(async () => {
  await emu?.stop();
});

const JWT = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./;

describe("--verbose never shows a secret or an access token", () => {
  it("not on success, not on failure, not with a certificate", async () => {
    const key = readFileSync(emu.certificateFile, "utf8").match(/-----BEGIN [A-Z ]*PRIVATE KEY-----\n([^\n]+)/)?.[1];
    expect(key).toBeTruthy();
    await emu.admin("POST", "/faults", { rules: [{ method: "PATCH", status: 429, retryAfterSeconds: 1, count: 1 }] });
    const runs = [
      await mfactl(["get", "-t", domain, "-u", `adele.vance@${domain}`, "--verbose"], emu.env),
      await mfactl(["set", "-t", domain, "-u", `adele.vance@${domain}`, "-s", "enforced", "--verbose"], emu.env),
      await mfactl(["set", "-t", domain, "-u", `nobody@${domain}`, "-s", "enforced", "--verbose", "-o", "json"], emu.env),
      await mfactl(["get", "-t", domain, "-u", `adele.vance@${domain}`, "--verbose"], { ...emu.env, MFACTL_CLIENT_SECRET: `${emu.clientSecret}x` }),
      await mfactl(["get", "-t", domain, "-u", `adele.vance@${domain}`, "--verbose", "--client-secret", emu.clientSecret], { ...emu.env, MFACTL_CLIENT_SECRET: "" }),
      await mfactl(["get", "-t", domain, "-u", `adele.vance@${domain}`, "--verbose"], { ...emu.env, MFACTL_CLIENT_SECRET: "", MFACTL_CERTIFICATE_PATH: emu.certificateFile }),
    ];
    for (const r of runs) {
      const all = r.stdout + r.stderr;
      expect(all).not.toContain(emu.clientSecret);
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
