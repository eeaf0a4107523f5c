/**
 * End-to-end harness: the emulator as its own process over real HTTPS, and mfactl as its own
 * process, exactly as an administrator runs them. Needs the build (`npm test` runs `tsc -b` first).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach } from "vitest";

const root = fileURLToPath(new URL("../../../../", import.meta.url));
export const EMULATOR_BIN = join(root, "packages/emulator/dist/bin.js");
export const MFACTL_BIN = join(root, "packages/cli/bin/mfactl.js");

export interface EmulatorInfo {
  authorityHost: string;
  graphUrl: string;
  adminUrl: string;
  caFile: string;
  clientId: string;
  clientSecret: string;
  certificateFile: string;
  tenants: { id: string; domain: string; userCount: number }[];
}

export interface EmulatorProcess extends EmulatorInfo {
  /** Environment that points mfactl at this emulator with the main app's secret. */
  env: Record<string, string>;
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export async function startEmulatorProcess(args: string[] = []): Promise<EmulatorProcess> {
  for (const bin of [EMULATOR_BIN, MFACTL_BIN.replace("bin/mfactl.js", "dist/main.js")]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` (npm test does) before the end-to-end tests.`);
  }
  const dataDir = mkdtempSync(join(tmpdir(), "mfactl-e2e-"));
  const child = spawn(process.execPath, [EMULATOR_BIN, "--port", "0", "--json", "--data-dir", dataDir, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const info = await new Promise<EmulatorInfo>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`emulator did not start in 20 s: ${stderr}`)), 20_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as EmulatorInfo);
      } catch (error) {
        reject(new Error(`emulator printed something other than one JSON line: ${line} ${String(error)}`));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited with ${code}: ${stderr}`));
    });
  });
  const env = {
    MFACTL_AUTHORITY_HOST: info.authorityHost,
    MFACTL_GRAPH_URL: info.graphUrl,
    MFACTL_CA_FILE: info.caFile,
    MFACTL_CLIENT_ID: info.clientId,
    MFACTL_CLIENT_SECRET: info.clientSecret,
  };
  return {
    ...info,
    env,
    async admin<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${info.adminUrl}${path}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
  });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** Run `mfactl` as a process. The environment is only what is given (plus PATH and an empty HOME). */
export function mfactl(args: string[], env: Record<string, string | undefined>, options: { timeoutMs?: number } = {}): Promise<CliResult> {
  const started = Date.now();
  const home = mkdtempSync(join(tmpdir(), "mfactl-home-"));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MFACTL_BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), ...env } as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`mfactl ${args.join(" ")} did not finish in ${options.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, durationMs: Date.now() - started });
    });
  });
}

export interface AdminUser {
  id: string;
  userPrincipalName: string;
  userType: string;
  perUserMfaState: string;
  methods: string[];
  patchCount: number;
}

export interface AdminStats {
  requests: number;
  patches: number;
  tokensIssued: number;
  patchesByUser: Record<string, number>;
  throttled: Record<string, number>;
  throttledTotal: number;
}

export function adminUser(emu: EmulatorProcess, tenant: string, user: string): Promise<AdminUser> {
  return emu.admin<AdminUser>("GET", `/tenants/${encodeURIComponent(tenant)}/users/${encodeURIComponent(user)}`);
}

/**
 * One emulator process for a test file: started before its tests, reset to the seed before
 * each test (unless `reset: false`), stopped after. Read `emu` and `domain` inside tests.
 */
export function useEmulatorProcess(args: string[], options: { reset?: boolean } = {}): { readonly emu: EmulatorProcess; readonly domain: string } {
  let emu: EmulatorProcess | undefined;
  beforeAll(async () => {
    emu = await startEmulatorProcess(args);
  });
  afterAll(async () => {
    await emu?.stop();
  });
  if (options.reset !== false) {
    beforeEach(async () => {
      await emu!.admin("POST", "/reset");
    });
  }
  return {
    get emu() {
      if (!emu) throw new Error("the emulator is not started yet (use it inside a test)");
      return emu;
    },
    get domain() {
      return this.emu.tenants[0]!.domain;
    },
  };
}
