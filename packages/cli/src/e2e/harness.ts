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

/** A long-running `mfactl` process (`mfactl serve`): its output so far, a wait for a line, its exit. */
export interface MfactlProcess {
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stderr (or stdout with `stream`), once it is written; rejects if the process exits first. */
  waitFor(pattern: RegExp, options?: { stream?: "stdout" | "stderr"; timeoutMs?: number }): Promise<RegExpMatchArray>;
  /** Resolves when the process has exited (with its exit code, or the signal that ended it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (SIGTERM by default) and waits for the exit; SIGKILL after `killAfterMs` (default 15 s). */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `mfactl` without waiting for it to finish; the environment as for `mfactl()`. */
export function spawnMfactl(args: string[], env: Record<string, string | undefined>): MfactlProcess {
  const home = mkdtempSync(join(tmpdir(), "mfactl-home-"));
  const child = spawn(process.execPath, [MFACTL_BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), ...env } as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  const waiters = new Set<() => void>();
  const onData = (stream: "stdout" | "stderr") => (d: Buffer) => {
    out[stream] += d.toString();
    for (const check of [...waiters]) check();
  };
  child.stdout.on("data", onData("stdout"));
  child.stderr.on("data", onData("stderr"));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("close", (code, signal) => {
      resolve({ code, signal });
      for (const check of [...waiters]) check();
    });
  });
  let done = false;
  void exited.then(() => (done = true));
  return {
    pid: child.pid ?? -1,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited,
    waitFor(pattern, options = {}) {
      const stream = options.stream ?? "stderr";
      const timeoutMs = options.timeoutMs ?? 30_000;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`mfactl ${args.join(" ")}: ${pattern} did not appear on ${stream} in ${timeoutMs} ms\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
        }, timeoutMs);
        const check = () => {
          const m = out[stream].match(pattern);
          if (m) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(m);
          } else if (done || child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`mfactl ${args.join(" ")} exited (${child.exitCode ?? child.signalCode}) before ${pattern} appeared on ${stream}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = "SIGTERM", killAfterMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        timer.unref();
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
  };
}

export interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, or the text when it is not JSON. */
  body: unknown;
}

/**
 * One HTTP or HTTPS request with Node's own client: `ca` (PEM) is the only CA trusted for https
 * URLs (the emulator's, or a test's self-signed certificate).
 */
export async function httpRequest(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; ca?: string } = {}): Promise<HttpsReply> {
  const { request: httpsRequest } = await import("node:https");
  const { request: plainRequest } = await import("node:http");
  const target = new URL(url);
  const send = target.protocol === "https:" ? httpsRequest : plainRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: init.method ?? "GET",
        headers: { ...(init.body !== undefined ? { "content-length": String(Buffer.byteLength(init.body)) } : {}), ...init.headers },
        ...(target.protocol === "https:" && init.ca !== undefined ? { ca: init.ca } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // Not JSON: the text is the body.
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

/** What the emulator's --json line also holds: the API app mfactl serve accepts tokens for, and its callers. */
export interface EmulatorApiInfo {
  apiApp: { clientId: string; identifierUri: string; tenantId: string };
  apiCallers: Record<"readWrite" | "readOnly", { clientId: string; clientSecret: string }>;
}

export function emulatorApi(emu: EmulatorProcess): EmulatorApiInfo {
  const info = emu as unknown as Partial<EmulatorApiInfo>;
  if (!info.apiApp || !info.apiCallers) throw new Error("this emulator printed no apiApp/apiCallers");
  return { apiApp: info.apiApp, apiCallers: info.apiCallers };
}

/** A client-credentials token from the emulator for the API app (`${identifierUri}/.default`). */
export async function emulatorApiToken(emu: EmulatorProcess, caller: "readWrite" | "readOnly"): Promise<string> {
  const { readFileSync } = await import("node:fs");
  const { apiApp, apiCallers } = emulatorApi(emu);
  const app = apiCallers[caller];
  const res = await httpRequest(`${emu.authorityHost}/${apiApp.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    ca: readFileSync(emu.caFile, "utf8"),
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: app.clientId, client_secret: app.clientSecret, scope: `${apiApp.identifierUri}/.default` }).toString(),
  });
  const token = (res.body as { access_token?: unknown }).access_token;
  if (typeof token !== "string") throw new Error(`no token from the emulator: ${res.status} ${res.text}`);
  return token;
}
