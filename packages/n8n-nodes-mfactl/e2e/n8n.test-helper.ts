/**
 * A real n8n 2.38.7 for end-to-end tests: the install `.ci/n8n.sh` makes (Node 24 and n8n outside the
 * repo, in MFACTL_N8N_HOME), one throwaway instance per suite (its own user folder, SQLite database,
 * encryption key and task-broker port), and its CLI: `import:credentials`, `import:workflow`,
 * `execute --id`, each a process with a time limit, killed with its children on timeout or `close()`.
 *
 * The suite runs only with the switch MFACTL_N8N_E2E=1 (`.ci/run` sets it): n8n is 3 GB and minutes
 * to install, so a developer opts in. With the switch but without the install it is skipped with the
 * reason printed, except under MFACTL_E2E=1 (CI), where a failing test takes its place.
 *
 * Loopback only: n8n's own calls out (telemetry, version notifications, templates) are turned off by
 * environment, and every n8n process preloads fixtures/loopback-only.cjs, which refuses any TCP
 * connection to anything but loopback and logs it; `refusedConnections()` reads that log.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

export const N8N_VERSION = "2.38.7";
export const N8N_SWITCH = "MFACTL_N8N_E2E";
const NODE_MAJOR = 24;

const here = path.dirname(fileURLToPath(import.meta.url));
const GUARD = path.join(here, "fixtures", "loopback-only.cjs");

export interface N8nInstall {
  home: string;
  /** Node 24's binary. */
  node: string;
  /** n8n's bin script, run with `node`. */
  n8n: string;
}

export function n8nHome(): string {
  const set = process.env["MFACTL_N8N_HOME"]?.trim();
  return set !== undefined && set !== "" ? set : path.join(homedir(), ".cache", "mfactl-n8n");
}

/** The install in MFACTL_N8N_HOME (the layout .ci/n8n.sh makes), or why there is none. */
export function findN8n(home = n8nHome()): N8nInstall | { missing: string } {
  const fix = "bash .ci/n8n.sh installs it";
  const stamp = path.join(home, ".installed");
  if (!existsSync(stamp)) return { missing: `no finished n8n install in ${home} (${fix})` };
  const platforms = path.join(home, "node24", "node_modules", "node", "node_modules");
  const platform = existsSync(platforms) ? readdirSync(platforms).find((d) => d.startsWith("node-linux-")) : undefined;
  const node = platform === undefined ? undefined : path.join(platforms, platform, "bin", "node");
  const n8n = path.join(home, "n8n", "node_modules", "n8n", "bin", "n8n");
  if (node === undefined || !existsSync(node)) return { missing: `Node ${NODE_MAJOR} is missing in ${home}/node24 (${fix})` };
  if (!existsSync(n8n)) return { missing: `n8n is missing in ${home}/n8n (${fix})` };
  const nodeVersion = spawnSync(node, ["--version"], { encoding: "utf8", timeout: 30_000 }).stdout.trim();
  if (!nodeVersion.startsWith(`v${NODE_MAJOR}.`)) return { missing: `${node} is ${nodeVersion || "not runnable"}, not Node ${NODE_MAJOR} (${fix})` };
  const n8nVersion = spawnSync(node, [n8n, "--version"], { encoding: "utf8", timeout: 60_000, env: { PATH: process.env["PATH"] ?? "", HOME: tmpdir() } }).stdout.trim();
  if (n8nVersion !== N8N_VERSION) return { missing: `n8n in ${home} answers --version with ${JSON.stringify(n8nVersion)}, not ${N8N_VERSION} (${fix})` };
  return { home, node, n8n };
}

/**
 * Call once at the top of the test file: the install when the suite is to run, else undefined, having
 * printed why it is skipped (or, under MFACTL_E2E=1 with the switch on, registered a failing test).
 */
export function requireN8n(suite: string): N8nInstall | undefined {
  if (process.env[N8N_SWITCH] !== "1") {
    console.log(`${suite}: skipped: a real n8n ${N8N_VERSION} runs only with ${N8N_SWITCH}=1 (bash .ci/n8n.sh installs it first; docs/n8n-e2e.md).`);
    return undefined;
  }
  const found = findN8n();
  if (!("missing" in found)) return found;
  const required = process.env["MFACTL_E2E"] === "1";
  console.log(`${suite}: ${found.missing}${required ? `; MFACTL_E2E=1 and ${N8N_SWITCH}=1, so this fails` : ": skipped"}.`);
  it.runIf(required)(`needs n8n ${N8N_VERSION} when MFACTL_E2E=1 and ${N8N_SWITCH}=1`, () => {
    expect.fail(`${found.missing}. .ci/run runs it before the tests.`);
  });
  return undefined;
}

// --- n8n's JSON shapes, as far as the tests read them -------------------------------------------

export interface N8nCredential {
  id: string;
  name: string;
  type: string;
  /** Decrypted: import:credentials encrypts it with the instance's key. */
  data: Record<string, unknown>;
}

export interface N8nNode {
  id: string;
  name: string;
  type: string;
  typeVersion: number;
  position: [number, number];
  parameters: Record<string, unknown>;
  credentials?: Record<string, { id: string; name: string }>;
  continueOnFail?: boolean;
  onError?: "stopWorkflow" | "continueRegularOutput" | "continueErrorOutput";
}

export interface N8nWorkflow {
  id: string;
  name: string;
  nodes: N8nNode[];
  connections: Record<string, { main: { node: string; type: "main"; index: number }[][] }>;
  active?: boolean;
  settings?: Record<string, unknown>;
}

export interface N8nItem {
  json: Record<string, unknown>;
  pairedItem?: { item: number } | { item: number }[];
}

export interface N8nError {
  message: string;
  description?: string | null;
  name?: string;
  httpCode?: string | null;
  node?: { name: string; type: string };
  [key: string]: unknown;
}

export interface N8nNodeRun {
  executionStatus?: string;
  data?: { main: (N8nItem[] | null)[] };
  error?: N8nError;
}

/** What `n8n execute --id` printed: the run (IRun) as JSON. */
export interface N8nExecution {
  status: string;
  finished?: boolean;
  mode?: string;
  data: { resultData: { runData: Record<string, N8nNodeRun[]>; error?: N8nError; lastNodeExecuted?: string } };
}

export interface ProcessResult {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

export type ChainNode = Omit<N8nNode, "id" | "position" | "typeVersion"> & { typeVersion?: number };

/** A workflow: a Manual Trigger, then `nodes` one after another (each gets the previous node's items). */
export function chain(id: string, name: string, nodes: ChainNode[]): N8nWorkflow {
  const trigger: N8nNode = { id: `${id}-trigger`, name: "Start", type: "n8n-nodes-base.manualTrigger", typeVersion: 1, position: [0, 0], parameters: {} };
  const all: N8nNode[] = [trigger, ...nodes.map((n, i): N8nNode => ({ ...n, typeVersion: n.typeVersion ?? 1, id: `${id}-${i + 1}`, position: [220 * (i + 1), 0] }))];
  const connections: N8nWorkflow["connections"] = {};
  for (let i = 0; i + 1 < all.length; i++) connections[all[i]!.name] = { main: [[{ node: all[i + 1]!.name, type: "main", index: 0 }]] };
  return { id, name, nodes: all, connections, active: false, settings: { executionOrder: "v1" } };
}

/** The items a node put on its first output in its first run. */
export function outputOf(execution: N8nExecution, node: string): Record<string, unknown>[] {
  const run = execution.data.resultData.runData[node]?.[0];
  if (run === undefined) throw new Error(`node ${JSON.stringify(node)} did not run; ran: ${Object.keys(execution.data.resultData.runData).join(", ")}`);
  return (run.data?.main[0] ?? []).map((item) => item.json);
}

/** The paired input item of each output item of a node's first run. */
export function pairedItemsOf(execution: N8nExecution, node: string): (number | undefined)[] {
  const run = execution.data.resultData.runData[node]?.[0];
  return (run?.data?.main[0] ?? []).map((item) => (Array.isArray(item.pairedItem) ? item.pairedItem[0]?.item : item.pairedItem?.item));
}

/**
 * The first JSON object printed after one of n8n's "=====" separators: the run, on success and on
 * failure alike (on failure n8n logs it at info level before the error).
 */
export function parseExecution(text: string): N8nExecution | undefined {
  const separator = "====================================";
  for (let at = text.indexOf(separator); at >= 0; at = text.indexOf(separator, at + separator.length)) {
    let start = at + separator.length;
    while (start < text.length && /\s/.test(text[start]!)) start++;
    if (text[start] !== "{") continue;
    const end = endOfJsonObject(text, start);
    if (end === undefined) continue;
    try {
      const parsed = JSON.parse(text.slice(start, end)) as N8nExecution;
      if (typeof parsed.status === "string" && parsed.data?.resultData !== undefined) return parsed;
    } catch {
      // Not the run: look further.
    }
  }
  return undefined;
}

/** Index just past the object that starts at `start`, honouring strings; undefined when it does not close. */
function endOfJsonObject(text: string, start: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port for n8n's task broker");
  return address.port;
}

/**
 * `npm pack` of a package directory, unpacked into `into`/<name>: the files a user's n8n would get
 * from the registry, outside the repo, so `require("n8n-workflow")` resolves to n8n's own copy (as in
 * a real install) rather than the package's devDependency.
 */
export function packPackage(dir: string, into: string): string {
  mkdirSync(into, { recursive: true });
  const packed = spawnSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", into], { cwd: dir, encoding: "utf8", timeout: 120_000 });
  if (packed.status !== 0) throw new Error(`npm pack in ${dir} failed (${packed.status ?? packed.signal}): ${packed.stderr.slice(-2000)}`);
  const [info] = JSON.parse(packed.stdout) as { name: string; filename: string }[];
  if (info === undefined) throw new Error(`npm pack in ${dir} printed no package`);
  const target = path.join(into, info.name);
  mkdirSync(target, { recursive: true });
  const tarball = path.join(into, path.basename(info.filename));
  const untar = spawnSync("tar", ["-xzf", tarball, "-C", target, "--strip-components=1"], { encoding: "utf8", timeout: 60_000 });
  if (untar.status !== 0) throw new Error(`tar -xzf ${tarball} failed: ${untar.stderr}`);
  rmSync(tarball, { force: true });
  return target;
}

export interface N8nInstanceOptions {
  /**
   * The folder for N8N_CUSTOM_EXTENSIONS: every *.node.js and *.credentials.js under it loads as
   * CUSTOM.<name>. One: n8n 2.38 accepts a ;-separated list but keeps only the last folder's loader.
   */
  extensions?: string;
  /** Package folders copied into <user folder>/.n8n/nodes/node_modules, where n8n's Community Nodes install puts packages: types are <package name>.<name>. */
  communityPackages?: string[];
  /** Per process, default 180 s: n8n starts in about 5 s here, migrations included, but CI machines are shared. */
  timeoutMs?: number;
}

export interface N8nInstance {
  userFolder: string;
  /** The CLI with the instance's environment; resolves on exit or timeout (then the process group is killed). */
  run(args: string[], options?: { timeoutMs?: number }): Promise<ProcessResult>;
  importCredentials(credentials: N8nCredential[]): Promise<void>;
  /** One process for them all: n8n takes an array. */
  importWorkflows(workflows: N8nWorkflow[]): Promise<void>;
  /** `n8n execute --id`: the run it printed, and the process result (exit code 1 when the run failed). */
  execute(id: string): Promise<{ execution: N8nExecution; process: ProcessResult }>;
  /** Connections to anything but loopback that n8n's processes tried (and were refused). */
  refusedConnections(): string[];
  close(): Promise<void>;
}

/** A fresh n8n: its own user folder, database and encryption key; nothing reaches beyond loopback. */
export async function startN8n(install: N8nInstall, options: N8nInstanceOptions = {}): Promise<N8nInstance> {
  const root = mkdtempSync(path.join(tmpdir(), "mfactl-n8n-e2e-"));
  const userFolder = path.join(root, "user");
  const home = path.join(root, "home");
  const networkLog = path.join(root, "refused-connections.log");
  mkdirSync(home, { recursive: true });
  mkdirSync(userFolder, { recursive: true });
  for (const dir of options.communityPackages ?? []) {
    const name = (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name: string }).name;
    const nodeModules = path.join(userFolder, ".n8n", "nodes", "node_modules");
    packPackage(dir, nodeModules);
    if (!existsSync(path.join(nodeModules, name, "package.json"))) throw new Error(`${name} did not unpack into ${nodeModules}`);
  }
  const brokerPort = await freePort();
  const env: Record<string, string> = {
    PATH: `${path.dirname(install.node)}:/usr/local/bin:/usr/bin:/bin`,
    HOME: home,
    TZ: "UTC",
    GENERIC_TIMEZONE: "UTC",
    NO_COLOR: "1",
    N8N_USER_FOLDER: userFolder,
    // Fixed so the imported credentials decrypt in every later process.
    N8N_ENCRYPTION_KEY: "mfactl-n8n-e2e-not-a-secret",
    DB_TYPE: "sqlite",
    N8N_LOG_LEVEL: "info",
    N8N_LOG_OUTPUT: "console",
    // n8n's own calls out: telemetry, version notifications, templates, banners.
    N8N_DIAGNOSTICS_ENABLED: "false",
    N8N_VERSION_NOTIFICATIONS_ENABLED: "false",
    N8N_TEMPLATES_ENABLED: "false",
    N8N_PERSONALIZATION_ENABLED: "false",
    N8N_HIRING_BANNER_ENABLED: "false",
    N8N_AI_ENABLED: "false",
    // The task broker listens for n8n's own runners: loopback, and a port of this instance's own.
    N8N_RUNNERS_BROKER_LISTEN_ADDRESS: "127.0.0.1",
    N8N_RUNNERS_BROKER_PORT: String(brokerPort),
    NODE_OPTIONS: `--require ${JSON.stringify(GUARD)}`,
    MFACTL_N8N_NETWORK_LOG: networkLog,
    ...(options.extensions !== undefined ? { N8N_CUSTOM_EXTENSIONS: options.extensions } : {}),
  };
  const live = new Set<number>();
  const timeoutMs = options.timeoutMs ?? 180_000;

  const kill = (pid: number) => {
    try {
      process.kill(-pid, "SIGKILL"); // the group: n8n starts task runners of its own
    } catch {
      // Already gone.
    }
  };

  // A worker that ends without afterAll (a crash, vitest giving up) still takes its n8n processes with it.
  const killAll = () => {
    for (const pid of live) kill(pid);
    live.clear();
  };
  process.once("exit", killAll);

  const run: N8nInstance["run"] = (args, o = {}) =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const child = spawn(install.node, [install.n8n, ...args], { cwd: root, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      const pid = child.pid;
      if (pid !== undefined) live.add(pid);
      let stdout = "";
      let stderr = "";
      let timedOut = false;
      child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
      child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
      const timer = setTimeout(() => {
        timedOut = true;
        if (pid !== undefined) kill(pid);
      }, o.timeoutMs ?? timeoutMs);
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        if (pid !== undefined) {
          kill(pid); // whatever it left behind
          live.delete(pid);
        }
        resolve({ args, code, signal, stdout, stderr, timedOut, ms: Date.now() - started });
      });
    });

  const describeRun = (r: ProcessResult) =>
    `n8n ${r.args.join(" ")} ${r.timedOut ? `timed out after ${r.ms} ms` : `exited ${r.code ?? r.signal}`}:\n${(r.stdout + r.stderr).slice(-4000)}`;

  let files = 0;
  const importFile = async (command: string, content: unknown) => {
    const file = path.join(root, `import-${++files}.json`);
    writeFileSync(file, JSON.stringify(content, null, 2), { mode: 0o600 });
    const r = await run([command, `--input=${file}`]);
    rmSync(file, { force: true }); // decrypted credentials
    if (r.code !== 0 || r.timedOut) throw new Error(describeRun(r));
  };

  return {
    userFolder,
    run,
    importCredentials: (credentials) => importFile("import:credentials", credentials),
    importWorkflows: (workflows) => importFile("import:workflow", workflows),
    async execute(id) {
      const r = await run(["execute", `--id=${id}`]);
      if (r.timedOut) throw new Error(describeRun(r));
      const execution = parseExecution(r.stdout) ?? parseExecution(r.stderr);
      if (execution === undefined) throw new Error(`n8n execute printed no run. ${describeRun(r)}`);
      return { execution, process: r };
    },
    refusedConnections() {
      return existsSync(networkLog) ? readFileSync(networkLog, "utf8").split("\n").filter((l) => l !== "") : [];
    },
    close() {
      killAll();
      process.off("exit", killAll);
      rmSync(root, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}
