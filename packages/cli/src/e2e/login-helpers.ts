import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { spawnMfactl, type EmulatorProcess } from "./harness.js";

export interface PartnerFacts {
  tenantId: string;
  domain: string;
  admin: { userPrincipalName: string };
  customers: { tenantId: string; domain: string; displayName: string }[];
  planted?: { missingRole: { tenantId: string; domain: string }; noRelationship: { tenantId: string; domain: string } };
}

export function partnerOf(emu: EmulatorProcess): PartnerFacts {
  const partner = (emu as EmulatorProcess & { partner?: PartnerFacts }).partner;
  if (!partner) throw new Error("the emulator was started without --partner-customers");
  return partner;
}

/** A state directory, a key and a profile that persist across mfactl runs (each run gets a fresh HOME). */
export function signInEnv(emu: EmulatorProcess, profile: Record<string, unknown>, options: { keepSecret?: boolean } = {}): { env: Record<string, string>; stateDir: string; storePath: string } {
  const dir = mkdtempSync(join(tmpdir(), "mfactl-login-"));
  const stateDir = join(dir, "state");
  const config = join(dir, "config.json");
  writeFileSync(config, JSON.stringify({ profiles: { default: profile } }));
  const { MFACTL_CLIENT_SECRET, ...rest } = emu.env;
  const env: Record<string, string> = {
    ...rest,
    ...(options.keepSecret && MFACTL_CLIENT_SECRET ? { MFACTL_CLIENT_SECRET } : {}),
    MFACTL_CONFIG: config,
    XDG_STATE_HOME: stateDir,
    MFACTL_TOKEN_KEY: randomBytes(32).toString("base64"),
  };
  return { env, stateDir, storePath: join(stateDir, "mfactl", "tokens.enc") };
}

/** `mfactl login ...`, approving the device code it prints as `upn` (the emulator's test route). */
export async function loginAs(emu: EmulatorProcess, args: string[], env: Record<string, string>, upn: string): Promise<{ code: number | null; stdout: string; stderr: string; userCode: string }> {
  const child = spawnMfactl(["login", ...args], env);
  const match = await child.waitFor(/enter the code (\S+) to authenticate/);
  const userCode = match[1]!;
  // Nothing but the device-code message on stdout: that stays for results.
  expect(child.stdout()).toBe("");
  await emu.admin("POST", `/device-codes/${encodeURIComponent(userCode)}/approve`, { userPrincipalName: upn });
  const { code } = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr(), userCode };
}
