/**
 * `npm run load [-- --quick] [-- --duration 60 --clients 50 --users 2000 --db <file|postgres://...>]`:
 * `mfactl serve` under load, in one process, loopback only. The emulator in-process on a worker
 * thread of its own (realistic throttling, 50 ms latency), the server as `mfactl serve` builds it (buildServer, core's Graph
 * client and batch engine, a fresh SQLite or PostgreSQL store) on 127.0.0.1, and 50 clients in a
 * worker thread, each with its own credential and its own users, reading and changing them for
 * 60 s. Then every answer is checked against the emulator and the journal: no 5xx, no lost or
 * misreported change, one journal entry and one Graph PATCH per change. See docs/performance.md.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { createBatchEngine, createFetch, createGraphClient, type JournalChange, type RunRecord } from "@mfactl/core";
import type { EmulatorStats, ThrottleLimits } from "@mfactl/emulator";
import { buildServer, createApiKey, parseServerSettings, ServedTenants } from "@mfactl/server";
import { isPostgresUrl, openStore, type MfactlStore } from "@mfactl/store";
import { KINDS, type Kind, type LoadClientSpec, type LoadRecord, type LoadUser, type WorkerInput, type WorkerMessage } from "./load-server-clients.js";
import { startEmulatorThread, type EmulatorFacts } from "./load-server-emulator.js";
import { verify, type FinalFact, type UserFact, type Verification } from "./load-server-verify.js";

const log = (message: string) => process.stderr.write(`${message}\n`);
const SEED = "load";
const PAGE_SIZE = 50;
const ROUTES: Record<Kind, string> = {
  list: `GET /v1/tenants/{t}/users?limit=${PAGE_SIZE}`,
  get: "GET /v1/tenants/{t}/users/{u}/mfa",
  put: "PUT /v1/tenants/{t}/users/{u}/mfa",
  cipp: "POST /api/ExecPerUserMFA",
};

interface Options {
  durationSeconds: number;
  clients: number;
  tenants: number;
  users: number;
  db: string | undefined;
  latencyMs: number;
  rateLimit: number;
  graphLimits: Partial<ThrottleLimits> | undefined;
  emulatorThread: "main" | "worker";
  /** Graph requests in flight per tenant (core's default: 8). */
  graphConcurrency: number | undefined;
  json: boolean;
  keep: boolean;
  quick: boolean;
}

const USAGE = `Usage: npm run load -- [--quick] [--duration <s>] [--clients <n>] [--tenants <n>] [--users <per tenant>]
                     [--db <file | postgres://...>] [--latency-ms <ms>] [--rate-limit <per key per minute>]
                     [--graph-limits '<json>'] [--emulator-thread worker|main] [--graph-concurrency <n>]
                     [--json] [--keep]
  --duration 60, --clients 50, --tenants 3, --users 2000 (per tenant), --latency-ms 50, --rate-limit 100000;
  --quick: 10 s. --db: SQLite file (default: a fresh one in a temporary directory) or a PostgreSQL URL
  (a fresh schema in it, dropped at the end unless --keep). --graph-limits: emulator budgets to scale
  down, e.g. '{"appTenantWrites":200,"appTenantWritesWindowSeconds":10}' (default: Microsoft's).
  --emulator-thread: the emulator on its own worker thread (default) or on the server's.
  --graph-concurrency: Graph requests in flight per tenant (default core's, 8).
Exit code 0: no 5xx, no lost or misreported change; 1: a check failed; 2: the load test itself failed.
`;

function positive(name: string, raw: string | undefined, fallback: number, integer = true): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)) || (n === 0 && name !== "--latency-ms")) throw new Error(`${name} must be a ${integer ? "whole " : ""}number > 0, not ${JSON.stringify(raw)}`);
  return n;
}

function options(): Options | undefined {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      duration: { type: "string" },
      quick: { type: "boolean" },
      clients: { type: "string" },
      tenants: { type: "string" },
      users: { type: "string" },
      db: { type: "string" },
      "latency-ms": { type: "string" },
      "rate-limit": { type: "string" },
      "graph-limits": { type: "string" },
      "emulator-thread": { type: "string" },
      "graph-concurrency": { type: "string" },
      json: { type: "boolean" },
      keep: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return undefined;
  }
  const quick = values.quick === true;
  return {
    durationSeconds: positive("--duration", values.duration, quick ? 10 : 60, false),
    clients: positive("--clients", values.clients, 50),
    tenants: positive("--tenants", values.tenants, 3),
    users: positive("--users", values.users, 2000),
    db: values.db,
    latencyMs: positive("--latency-ms", values["latency-ms"], 50, false),
    rateLimit: positive("--rate-limit", values["rate-limit"], 100_000),
    graphLimits: values["graph-limits"] === undefined ? undefined : (JSON.parse(values["graph-limits"]) as Partial<ThrottleLimits>),
    emulatorThread: emulatorThread(values["emulator-thread"]),
    graphConcurrency: values["graph-concurrency"] === undefined ? undefined : positive("--graph-concurrency", values["graph-concurrency"], 8),
    json: values.json === true,
    keep: values.keep === true,
    quick,
  };
}

/** 429s per kind of budget (x-ms-throttle-scope without its app and tenant ids). */
function byScope(throttled: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [scope, n] of Object.entries(throttled)) {
    const kind = scope.split("/").slice(0, 2).join("/");
    out[kind] = (out[kind] ?? 0) + n;
  }
  return out;
}

function emulatorThread(raw: string | undefined): "main" | "worker" {
  if (raw === undefined || raw === "worker") return "worker";
  if (raw === "main") return "main";
  throw new Error(`--emulator-thread must be worker or main, not ${JSON.stringify(raw)}`);
}

/** The nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface RouteStats {
  route: string;
  requests: number;
  perSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** HTTP status -> answers (0: no answer). */
  statuses: Record<string, number>;
  ok: number;
  clientErrors: number;
  rateLimited: number;
  serverErrors: number;
  noAnswer: number;
}

function routeStats(route: string, records: readonly LoadRecord[], seconds: number): RouteStats {
  const answered = records.filter((r) => r.http !== 0);
  const ms = answered.map((r) => r.ms).sort((a, b) => a - b);
  const statuses: Record<string, number> = {};
  for (const r of records) statuses[String(r.http)] = (statuses[String(r.http)] ?? 0) + 1;
  const count = (f: (s: number) => boolean) => records.filter((r) => f(r.http)).length;
  return {
    route,
    requests: records.length,
    perSecond: records.length / seconds,
    p50: percentile(ms, 50),
    p90: percentile(ms, 90),
    p99: percentile(ms, 99),
    max: ms[ms.length - 1] ?? NaN,
    mean: ms.length ? ms.reduce((a, b) => a + b, 0) / ms.length : NaN,
    statuses,
    ok: count((s) => s >= 200 && s < 300),
    clientErrors: count((s) => s >= 400 && s < 500 && s !== 429),
    rateLimited: count((s) => s === 429),
    serverErrors: count((s) => s >= 500),
    noAnswer: count((s) => s === 0),
  };
}

interface LoadDocument {
  date: string;
  machine: { cpus: number; cpu: string; memoryGb: number; node: string; platform: string; loadAverageBefore: number; loadAverageAfter: number };
  settings: {
    durationSeconds: number;
    clients: number;
    credentials: string;
    tenants: number;
    usersPerTenant: number;
    usersChangeable: number;
    store: string;
    emulator: string;
    graphConcurrency: string;
    latencyMs: number;
    throttle: string;
    rateLimit: string;
    mix: string;
  };
  seconds: number;
  routes: RouteStats[];
  total: RouteStats;
  /** Every route together, per 10 s of the run (by when each request started). */
  windows: { from: number; to: number; stats: RouteStats }[];
  graph: { requests: number; batches: number; patches: number; tokensIssued: number; throttled: number; throttledByScope: Record<string, number>; surfaced: number };
  server: {
    eventLoopDelayMs: { p50: number; p99: number; max: number };
    /** Share of the run the server's thread was busy (event-loop utilization), and the emulator's when on its own thread. */
    serverThreadBusy: number;
    emulatorThreadBusy: number | undefined;
    cpuSeconds: number; peakRssMb: number; logErrors: number; logWarnings: number; firstLogErrors: string[] };
  verification: Verification;
  noAnswerSamples: string[];
  serverErrorSamples: string[];
  failures: string[];
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "-";
}

function table(rows: RouteStats[]): string {
  const head = ["route", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "2xx", "4xx", "429", "5xx", "no answer"];
  const cells = rows.map((r) => [
    r.route,
    fmt(r.requests),
    fmt(r.perSecond, 1),
    fmt(r.p50, 1),
    fmt(r.p90, 1),
    fmt(r.p99, 1),
    fmt(r.max, 0),
    fmt(r.ok),
    fmt(r.clientErrors),
    fmt(r.rateLimited),
    fmt(r.serverErrors),
    fmt(r.noAnswer),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(" | ")} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? ":" : "") + "-".repeat(w + 1) + (i === 0 ? "" : ":")).join("|")}|`, ...cells.map(line)].join("\n");
}

function render(doc: LoadDocument): string {
  const s = doc.settings;
  const v = doc.verification;
  const g = doc.graph;
  const out: string[] = [];
  out.push(
    `mfactl serve under load, ${doc.date}: ${doc.machine.cpus} x ${doc.machine.cpu}, Node ${doc.machine.node}; load average ${doc.machine.loadAverageBefore.toFixed(2)} before, ${doc.machine.loadAverageAfter.toFixed(2)} after`,
    `${s.clients} clients (${s.credentials}) for ${s.durationSeconds} s (${doc.seconds.toFixed(1)} s with the last answers); ${s.tenants} tenants x ${fmt(s.usersPerTenant)} users ` +
      `(${fmt(s.usersChangeable)} changed by the clients, each its own); store ${s.store}; emulator ${s.emulator}, ${s.latencyMs} ms latency, throttling ${s.throttle}; ` +
      `Graph requests in flight per tenant ${s.graphConcurrency}; server rate limit ${s.rateLimit}; mix ${s.mix}`,
    "",
    table([...doc.routes, doc.total]),
    "",
    `Over time (all routes, by start of the request): ${doc.windows.map((w) => `${w.from}-${w.to} s ${fmt(w.stats.perSecond, 0)} req/s p50 ${fmt(w.stats.p50, 0)} p99 ${fmt(w.stats.p99, 0)} ms`).join("; ")}`,
    `Statuses: ${Object.entries(doc.total.statuses)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([k, n]) => `${k === "0" ? "no answer" : k} ${fmt(n)}`)
      .join(", ")}`,
    `429s: ${fmt(doc.total.rateLimited)} from the server's rate limit; Graph throttled the server ${fmt(g.throttled)} times` +
      `${g.throttled ? ` (${Object.entries(g.throttledByScope).map(([k, n]) => `${k} ${n}`).join(", ")})` : ""}, retried inside, ${fmt(g.surfaced)} surfaced to a client.`,
    `Changes: PUT changed ${fmt(v.put.changed)}, unchanged ${fmt(v.put.unchanged)}, wouldChange (dry run) ${fmt(v.put.wouldChange)}; CIPP succeeded ${fmt(v.cipp.succeeded)} (${fmt(v.cipp.changed)} of them changes); ` +
      `${fmt(v.usersChanged)} users changed at least once.`,
    `Graph (the emulator): ${fmt(g.requests)} requests (${fmt(g.batches)} $batch), ${fmt(g.tokensIssued)} tokens, ${fmt(g.patches)} PATCHes = ${fmt(v.changedAnswers)} changed answers; ` +
      `journal: ${fmt(v.journal.runs)} runs, ${fmt(v.journal.changed)} changed, ${fmt(v.journal.failed)} failed, ${fmt(v.journal.pending + v.journal.inFlight)} pending or in flight, ` +
      `${fmt(v.journal.putChangedMatched)}/${fmt(v.put.changed)} PUT changed answers matched by run id and request id.`,
    `Checked ${fmt(v.usersChecked)} users against the emulator: ${fmt(v.failedWrites)} writes failed or went unanswered, ${fmt(v.undecidedWrites)} of them undecided by their answer ` +
      `(${fmt(v.decidedByJournal)} decided by the journal at the end); ` +
      `mismatches: ${Object.entries(v.byKind)
        .map(([k, n]) => `${k} ${n}`)
        .join(", ")}.`,
    `Server thread: busy ${fmt(doc.server.serverThreadBusy * 100)} % of the run, event-loop delay p50 ${fmt(doc.server.eventLoopDelayMs.p50, 1)} ms, p99 ${fmt(doc.server.eventLoopDelayMs.p99, 1)} ms, max ${fmt(doc.server.eventLoopDelayMs.max, 0)} ms` +
      `${doc.server.emulatorThreadBusy !== undefined ? `; emulator thread busy ${fmt(doc.server.emulatorThreadBusy * 100)} %` : ""}; ` +
      `process: ${fmt(doc.server.cpuSeconds, 1)} s CPU (server, emulator and clients) in ${doc.seconds.toFixed(1)} s; peak RSS ${fmt(doc.server.peakRssMb)} MB; log: ${doc.server.logErrors} errors, ${doc.server.logWarnings} warnings.`,
  );
  for (const p of v.problems.slice(0, 20)) out.push(`  ${p.kind}: ${p.detail}`);
  for (const e of doc.serverErrorSamples) out.push(`  5xx: ${e}`);
  for (const e of doc.noAnswerSamples) out.push(`  no answer: ${e}`);
  for (const e of doc.server.firstLogErrors) out.push(`  log: ${e}`);
  out.push("", doc.failures.length === 0 ? "PASS: no 5xx, no lost or misreported change." : `FAIL: ${doc.failures.join("; ")}`);
  return `${out.join("\n")}\n`;
}

async function entraToken(emu: EmulatorFacts, fetchFn: ReturnType<typeof createFetch>["fetch"]): Promise<string> {
  const app = emu.apiCallers.readWrite;
  const res = await fetchFn(`${emu.authorityHost}/${emu.apiApp.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: app.clientId, client_secret: app.clientSecret, scope: `${emu.apiApp.identifierUri}/.default` }).toString(),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`the emulator gave no token for the Entra caller: ${JSON.stringify(body)}`);
  return body.access_token;
}

function runClients(input: WorkerInput): Promise<{ records: LoadRecord[]; seconds: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./load-server-clients.js", import.meta.url), { workerData: input });
    let done = false;
    worker.on("message", (m: WorkerMessage) => {
      if (m.type === "progress") {
        const statuses = Object.entries(m.byStatus)
          .map(([k, n]) => `${k === "0" ? "no answer" : k} ${n}`)
          .join(", ");
        log(`  ${fmt(m.done)} requests answered (${statuses})`);
      } else {
        done = true;
        resolve({ records: m.records, seconds: m.seconds });
      }
    });
    worker.on("error", reject);
    worker.on("exit", (code) => {
      if (!done) reject(new Error(`the client worker exited (${code}) without its results`));
    });
  });
}

async function readJournal(store: MfactlStore): Promise<{ runs: RunRecord[]; changes: JournalChange[] }> {
  const runs = await store.journal.listRuns({ limit: Infinity });
  const changes: JournalChange[] = [];
  let next = 0;
  const worker = async () => {
    while (next < runs.length) {
      const run = runs[next++]!;
      for await (const c of store.journal.changes(run.runId)) changes.push(c);
    }
  };
  await Promise.all(Array.from({ length: store.kind === "postgres" ? 8 : 1 }, worker));
  return { runs, changes };
}

async function main(): Promise<number> {
  const opts = options();
  if (!opts) return 0;
  const started = new Date();
  const loadAverageBefore = loadavg()[0] ?? 0;
  const dir = await mkdtemp(join(tmpdir(), "mfactl-load-"));
  const schema = opts.db !== undefined && isPostgresUrl(opts.db) ? `mfactl_load_${randomBytes(4).toString("hex")}` : undefined;
  const storeSpec = opts.db ?? join(dir, "mfactl.db");
  log(`mfactl load test: ${opts.clients} clients for ${opts.durationSeconds} s; ${opts.tenants} tenants x ${opts.users} users, ${opts.latencyMs} ms latency; files in ${dir}`);

  const emulator = await startEmulatorThread(
    {
      tenants: opts.tenants,
      users: opts.users,
      seed: SEED,
      latencyMs: opts.latencyMs,
      throttle: "realistic",
      ...(opts.graphLimits ? { throttleLimits: opts.graphLimits } : {}),
    },
    opts.emulatorThread,
  );
  const emu = emulator.facts;
  const admin = emulator.admin;
  const http = createFetch({ caPem: emu.caPem });
  // As `mfactl serve` builds them (packages/cli/src/commands/serve.ts): the default retry policy.
  const graph = createGraphClient({ clientId: emu.clientId, credential: { kind: "secret", clientSecret: emu.clientSecret }, authorityHost: emu.authorityHost, graphUrl: emu.graphUrl, caPem: emu.caPem,
    ...(opts.graphConcurrency !== undefined ? { perTenantConcurrency: opts.graphConcurrency } : {}),
  });
  const engine = createBatchEngine(graph);
  const store = await openStore(storeSpec, schema ? { schema } : {});
  const logFile = join(dir, "server.log");
  const logFileStream = createWriteStream(logFile);
  let logOpen = true;
  // pino's destination: lines after the file is closed (shutdown) are dropped.
  const logStream = { write: (line: string) => void (logOpen && logFileStream.write(line)) };
  const settings = parseServerSettings(
    {
      host: "127.0.0.1",
      port: 0,
      tenants: emu.tenants.map((t) => ({ tenant: t.domain, aliases: [t.id] })),
      entra: {
        tenantId: emu.apiApp.tenantId,
        audience: emu.apiApp.identifierUri,
        apps: [{ appId: emu.apiCallers.readWrite.clientId, name: "CIPP automation", scopes: ["write"] }],
      },
      rateLimit: { max: opts.rateLimit, windowSeconds: 60 },
      logLevel: "info",
    },
    "the load test",
  );
  const server = await buildServer({
    settings,
    store,
    graph,
    engine,
    tenants: new ServedTenants(settings.tenants ?? []),
    protectedList: [],
    fetch: http.fetch,
    authorityHost: emu.authorityHost,
    logStream,
  });

  let failedEarly: unknown;
  try {
    const url = await server.app.listen({ host: "127.0.0.1", port: 0 });
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) throw new Error(`the server listens on ${url}, not loopback`);

    // The users each client changes: every user but the directory synchronisation accounts (protected), dealt round-robin.
    const users: UserFact[] = [];
    for (const t of emu.tenants) {
      const sync = new Set(
        (await admin.listRoleAssignments(t.id))
          .filter((a) => a.roleDisplayName === "Directory Synchronization Accounts")
          .map((a) => a.principalId.toLowerCase()),
      );
      for (const u of await admin.listUsers(t.id)) {
        if (sync.has(u.id.toLowerCase()) || /^sync_/i.test(u.userPrincipalName)) continue;
        const view = await admin.getUser(t.id, u.id);
        const idx = users.length;
        users.push({ idx, tenant: t.domain, tenantId: t.id, id: u.id, upn: u.userPrincipalName, owner: idx % opts.clients, hasMethods: view.methods.length > 0, initialState: u.perUserMfaState, initialPatches: u.patchCount });
      }
    }

    // Credentials: the first client an Entra app token ("CIPP automation"), the others API keys with the write scope.
    const specs: LoadClientSpec[] = [];
    const actors: string[] = [];
    const entraClients = opts.clients >= 2 ? 1 : 0;
    for (let i = 0; i < opts.clients; i++) {
      const mine: LoadUser[] = users.filter((u) => u.owner === i).map((u) => ({ idx: u.idx, tenant: u.tenant, tenantId: u.tenantId, id: u.id, upn: u.upn }));
      if (i < entraClients) {
        specs.push({ name: "CIPP automation (Entra token)", authorization: `Bearer ${await entraToken(emu, http.fetch)}`, header: "authorization", users: mine });
        actors.push(`app:${emu.apiCallers.readWrite.clientId}`);
      } else {
        const name = `load-${String(i).padStart(2, "0")}`;
        const created = await createApiKey(store.access, { name, scopes: ["write"], createdBy: "load-test", at: new Date().toISOString() });
        // Every fifth key in X-Api-Key, the others as a bearer token.
        specs.push(i % 5 === 0 ? { name, authorization: created.key, header: "x-api-key", users: mine } : { name, authorization: `Bearer ${created.key}`, header: "authorization", users: mine });
        actors.push(`apikey:${name}`);
      }
    }

    await admin.resetStats();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const cpuBefore = process.cpuUsage();
    const eluBefore = performance.eventLoopUtilization();
    emulator.utilization();
    log(`running: ${fmt(users.length)} users dealt to ${opts.clients} clients; server on ${url}`);
    const run = await runClients({
      url,
      durationMs: opts.durationSeconds * 1000,
      seed: 1,
      tenants: emu.tenants.map((t) => ({ domain: t.domain, id: t.id })),
      clients: specs,
      requestTimeoutMs: 120_000,
      pageSize: PAGE_SIZE,
    });
    const cpu = process.cpuUsage(cpuBefore);
    const serverThreadBusy = performance.eventLoopUtilization(eluBefore).utilization;
    const emulatorThreadBusy = emulator.utilization();
    loop.disable();
    const stats: EmulatorStats = await admin.stats();
    log(`${fmt(run.records.length)} requests in ${run.seconds.toFixed(1)} s; checking against the emulator and the journal...`);

    const final: FinalFact[] = [];
    for (const t of emu.tenants) {
      const now = new Map((await admin.listUsers(t.id)).map((u) => [u.id.toLowerCase(), u]));
      for (const u of users.filter((x) => x.tenantId === t.id)) {
        const f = now.get(u.id.toLowerCase());
        final[u.idx] = { state: f?.perUserMfaState ?? "missing", patches: f?.patchCount ?? 0 };
      }
    }
    const { runs, changes } = await readJournal(store);
    const verification = verify({ users, final, records: run.records, runs, changes, actors, emulatorPatches: stats.patches });

    const routes = KINDS.map((k) =>
      routeStats(
        ROUTES[k],
        run.records.filter((r) => r.kind === k),
        run.seconds,
      ),
    );
    const total = routeStats("all", run.records, run.seconds);
    const windows: LoadDocument["windows"] = [];
    for (let from = 0; from < opts.durationSeconds; from += 10) {
      const to = Math.min(opts.durationSeconds, from + 10);
      const inWindow = run.records.filter((r) => r.start >= from * 1000 && r.start < to * 1000);
      windows.push({ from, to, stats: routeStats(`${from}-${to} s`, inWindow, to - from) });
    }
    const serverErrors = run.records.filter((r) => r.http >= 500);
    // A 5xx or failed change whose reason is Graph's throttling: a 429 that got out.
    const surfaced = run.records.filter((r) => r.http !== 429 && r.http >= 400 && /429|throttl|TooManyRequests/i.test(`${r.outcome?.errorCode ?? ""} ${r.outcome?.message ?? ""}`)).length;
    logOpen = false;
    await new Promise<void>((resolve) => logFileStream.end(() => resolve()));
    const logText = await readFile(logFile, "utf8");
    const logLines = logText.split("\n").filter((l) => l !== "");
    const levelOf = (l: string) => Number(/"level":(\d+)/.exec(l)?.[1] ?? 0);
    const errorLines = logLines.filter((l) => levelOf(l) >= 50);
    const failures: string[] = [];
    if (serverErrors.length > 0) failures.push(`${serverErrors.length} answers 5xx`);
    const noAnswer = run.records.filter((r) => r.http === 0);
    if (noAnswer.length > 0) failures.push(`${noAnswer.length} requests without an answer`);
    const mismatches = Object.values(verification.byKind).reduce((a, b) => a + b, 0);
    if (mismatches > 0) failures.push(`${mismatches} lost or misreported (${Object.entries(verification.byKind).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ")})`);
    if (surfaced > 0) failures.push(`${surfaced} Graph 429s surfaced to clients`);
    if (run.records.length === 0) failures.push("no requests were made");
    const res = process.resourceUsage();
    const sample = (r: LoadRecord) => `${ROUTES[r.kind]} client ${r.client} at ${(r.start / 1000).toFixed(2)} s: HTTP ${r.http} ${r.error ?? `${r.outcome?.errorCode ?? ""} ${r.outcome?.message ?? ""}`}`.trim();

    const doc: LoadDocument = {
      date: started.toISOString(),
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "unknown", memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}`, loadAverageBefore, loadAverageAfter: loadavg()[0] ?? 0 },
      settings: {
        durationSeconds: opts.durationSeconds,
        clients: opts.clients,
        credentials: entraClients ? `1 Entra app token, ${opts.clients - 1} API keys (write scope)` : `${opts.clients} API keys (write scope)`,
        tenants: opts.tenants,
        usersPerTenant: opts.users,
        usersChangeable: users.length,
        store: store.kind === "postgres" ? `PostgreSQL (schema ${schema ?? "?"})` : "SQLite (temporary file)",
        emulator: emulator.thread === "worker" ? "in-process on a worker thread" : "in-process on the server's thread",
        latencyMs: opts.latencyMs,
        graphConcurrency: opts.graphConcurrency === undefined ? "8 (core's default)" : String(opts.graphConcurrency),
        throttle: opts.graphLimits ? `realistic, scaled: ${JSON.stringify(opts.graphLimits)}` : "realistic (Microsoft's budgets)",
        rateLimit: `${fmt(opts.rateLimit)} requests per 60 s per credential`,
        mix: "30 % list pages (cursors followed), 30 % GET mfa, 30 % PUT mfa (5 % of them dry runs), 10 % CIPP ExecPerUserMFA",
      },
      seconds: run.seconds,
      routes,
      total,
      windows,
      graph: { requests: stats.requests, batches: stats.batches, patches: stats.patches, tokensIssued: stats.tokensIssued, throttled: stats.throttledTotal, throttledByScope: byScope(stats.throttled), surfaced },
      server: {
        eventLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
        serverThreadBusy,
        emulatorThreadBusy,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        peakRssMb: res.maxRSS / 1024,
        logErrors: errorLines.length,
        logWarnings: logLines.filter((l) => levelOf(l) === 40).length,
        firstLogErrors: errorLines.slice(0, 5).map((l) => l.slice(0, 400)),
      },
      verification,
      noAnswerSamples: noAnswer.slice(0, 5).map(sample),
      serverErrorSamples: serverErrors.slice(0, 10).map(sample),
      failures,
    };
    process.stdout.write(opts.json ? `${JSON.stringify(doc, null, 2)}\n` : render(doc));
    return failures.length === 0 ? 0 : 1;
  } catch (error) {
    failedEarly = error;
    throw error;
  } finally {
    await server.shutdown(0).catch(() => undefined);
    await engine.close();
    await graph.close();
    logOpen = false;
    if (!logFileStream.closed) logFileStream.end();
    await store.close();
    if (schema && !opts.keep) await dropSchema(opts.db!, schema).catch((e: unknown) => log(`could not drop the schema ${schema}: ${String(e)}`));
    else if (schema) log(`kept the PostgreSQL schema ${schema}`);
    await http.close();
    await emulator.close();
    if (!opts.keep) await rm(dir, { recursive: true, force: true });
    else log(`kept ${dir} (server.log, the SQLite store)`);
    if (failedEarly) log("the load test stopped before its checks");
  }
}

/** The load test's own schema, dropped at the end (PostgreSQL only). */
async function dropSchema(url: string, schema: string): Promise<void> {
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`load: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 2;
  },
);
