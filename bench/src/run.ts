/**
 * `npm run bench [-- --quick] [-- --json]`: mfactl against the emulator in its own process (50 ms
 * latency, throttling scaled down so each scenario lasts several budget windows), side by side with
 * the sequential baseline and with the ceiling of the emulator's budget model. See docs/performance.md.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { journalThroughput, type JournalBench } from "./journal.js";
import { ceiling, DEFAULT_THROTTLE_LIMITS, requestDemand, type BudgetTime, type TenantDemand, type ThrottleLimits } from "@mfactl/emulator";
import { runBaseline, type BaselineRun } from "./baseline.js";
import { csvLine, csvRecords } from "./csv.js";
import { EmulatorProcess } from "./emulator.js";
import { runProcess, StatsPoller } from "./measure.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SEED = "bench";
const LATENCY_MS = 50;
const PAGE = 999;

interface Sizes {
  reportUsers: number;
  baselineSample: number;
  bulkUsers: number;
  manyTenants: number;
  manyUsers: number;
  bigReportUsers: number;
  /** Budgets scaled down per scenario (the rest stay Microsoft's). */
  readLimits: Partial<ThrottleLimits>;
  bulkLimits: Partial<ThrottleLimits>;
  manyLimits: Partial<ThrottleLimits>;
}

const FULL: Sizes = {
  reportUsers: 10_000,
  baselineSample: 600,
  bulkUsers: 3_000,
  manyTenants: 200,
  manyUsers: 50,
  bigReportUsers: 100_000,
  readLimits: { appTenantRuLarge: 1_500, appTenantRuWindowSeconds: 10 },
  bulkLimits: { appTenantWrites: 300, appTenantWritesWindowSeconds: 15 },
  manyLimits: { appWrites: 1_000, appWritesWindowSeconds: 10 },
};

const QUICK: Sizes = {
  reportUsers: 4_000,
  baselineSample: 100,
  bulkUsers: 700,
  manyTenants: 30,
  manyUsers: 50,
  bigReportUsers: 10_000,
  readLimits: { appTenantRuLarge: 400, appTenantRuWindowSeconds: 2 },
  bulkLimits: { appTenantWrites: 150, appTenantWritesWindowSeconds: 7.5 },
  manyLimits: { appWrites: 200, appWritesWindowSeconds: 5 },
};

interface CeilingInfo {
  seconds: number;
  binding: string | undefined;
  formula: string;
  budgets: BudgetTime[];
}

interface Throttling {
  subRequests: number;
  throttled: number;
  share: number;
  /** 429s per throttle scope (Scope/Limit). */
  byScope: Record<string, number>;
  /** After the first window of the binding budget (warm-up excluded); undefined when the run was too short to tell. */
  steady: { afterSeconds: number; subRequests: number; throttled: number; share: number } | undefined;
}

interface ScenarioResult {
  id: string;
  title: string;
  tenants: number;
  users: number;
  seconds: number;
  usersPerSecond: number;
  ceiling: CeilingInfo | undefined;
  /** ceiling seconds / actual seconds (1 = at the ceiling). */
  ratioToCeiling: number | undefined;
  /** users per second / the baseline's. */
  ratioToBaseline: number | undefined;
  throttling: Throttling | undefined;
  failed: number;
  missing: number;
  /** Users reported more than once, or in a state other than the emulator's. */
  wrong: number;
  peakRssMb: number | undefined;
  exitCode: number | null | undefined;
  scaledLimits: Partial<ThrottleLimits>;
  notes: string[];
}

interface Target {
  name: string;
  met: boolean;
  detail: string;
}

const log = (message: string) => process.stderr.write(`${message}\n`);

function describeCeiling(c: ReturnType<typeof ceiling>): CeilingInfo {
  const b = c.binding;
  const formula = b
    ? `(${b.demand} - ${b.capacity}) / (${b.capacity} / ${b.windowSeconds} s) = ${c.seconds.toFixed(1)} s on ${b.budget}`
    : "every demand fits its full budget: 0 s (latency-bound, no budget binds)";
  return { seconds: c.seconds, binding: b?.budget, formula, budgets: c.budgets };
}

function throttlingOf(poller: StatsPoller, totals: { requests: number; throttled: number; byScope: Record<string, number> }, windowSeconds: number): Throttling {
  const steady = poller.after(windowSeconds);
  return {
    subRequests: totals.requests,
    throttled: totals.throttled,
    share: totals.requests > 0 ? totals.throttled / totals.requests : 0,
    byScope: totals.byScope,
    steady: steady && { afterSeconds: windowSeconds, subRequests: steady.requests, throttled: steady.throttled, share: steady.requests > 0 ? steady.throttled / steady.requests : 0 },
  };
}

class Bench {
  readonly results: ScenarioResult[] = [];
  baseline: BaselineRun | undefined;

  constructor(
    private readonly emu: EmulatorProcess,
    private readonly dir: string,
    private readonly sizes: Sizes,
  ) {}

  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("MFACTL_")) env[k] = v;
    const f = this.emu.facts;
    return {
      ...env,
      XDG_CONFIG_HOME: this.dir,
      // bulk set journals every change: the bench's journal lives in its scratch folder.
      XDG_STATE_HOME: this.dir,
      MFACTL_AUTHORITY_HOST: f.authorityHost,
      MFACTL_GRAPH_URL: f.graphUrl,
      MFACTL_CA_FILE: f.caFile,
      MFACTL_CLIENT_ID: f.clientId,
      MFACTL_CLIENT_SECRET: f.clientSecret,
    };
  }

  private mfactl(args: string[]) {
    return runProcess(process.execPath, [join(ROOT, "packages/cli/bin/mfactl.js"), ...args], this.env(), ROOT);
  }

  private async configure(limits: Partial<ThrottleLimits>): Promise<ThrottleLimits> {
    const full = { ...DEFAULT_THROTTLE_LIMITS, ...limits };
    await this.emu.limits(full);
    return full;
  }

  /** Report one tenant: the sequential baseline, then mfactl per user and from the listing. */
  async report(): Promise<void> {
    const n = this.sizes.reportUsers;
    const limits = await this.configure(this.sizes.readLimits);
    const [tenant] = await this.emu.seed(1, n, SEED);
    const domain = tenant!.domain;
    const truth = new Map((await this.emu.users(domain)).map((u) => [u.id, u.perUserMfaState as string]));
    const pages = Math.ceil(n / PAGE);

    log(`report ${n}: sequential baseline (${this.sizes.baselineSample} users read one at a time, the rest extrapolated)...`);
    await this.emu.reset();
    await this.emu.resetStats();
    const baseline = await runBaseline(this.emu.facts, domain, n, this.sizes.baselineSample, truth);
    this.baseline = baseline;
    const baseStats = await this.emu.stats();
    this.results.push({
      id: "report-baseline",
      title: `report ${n.toLocaleString("en-US")} users: sequential baseline`,
      tenants: 1,
      users: n,
      seconds: baseline.seconds,
      usersPerSecond: baseline.usersPerSecond,
      ceiling: undefined,
      ratioToCeiling: undefined,
      ratioToBaseline: 1,
      throttling: { subRequests: baseStats.requests, throttled: baseStats.throttledTotal, share: baseStats.requests ? baseStats.throttledTotal / baseStats.requests : 0, byScope: {}, steady: undefined },
      failed: 0,
      missing: 0,
      wrong: baseline.wrong,
      peakRssMb: undefined,
      exitCode: undefined,
      scaledLimits: this.sizes.readLimits,
      notes: [
        `one GET per user, one at a time, plain fetch with a token; ${baseline.sampled} users timed (${baseline.sampleSeconds.toFixed(1)} s) after the listing (${baseline.listSeconds.toFixed(1)} s), time for all ${n} extrapolated`,
      ],
    });

    for (const strategy of ["per-user", "list"] as const) {
      log(`report ${n}: mfactl --read-strategy ${strategy}...`);
      await this.emu.reset();
      const select = strategy === "list" ? "id,userPrincipalName,displayName,userType,accountEnabled,assignedLicenses,perUserMfaState" : "id,userPrincipalName,displayName,userType,accountEnabled,assignedLicenses";
      const demand = requestDemand([
        { method: "GET", pathAndQuery: `/users?$select=${select}&$top=${PAGE}`, count: pages },
        ...(strategy === "per-user" ? [{ method: "GET", pathAndQuery: "/users/{id}/authentication/requirements", count: n }] : []),
      ]);
      const c = describeCeiling(ceiling(limits, [{ tenant: domain, users: n, ...demand }]));
      const out = join(this.dir, `report-${strategy}.csv`);
      this.results.push(
        await this.runReport(`report-${strategy}`, `report ${n.toLocaleString("en-US")} users: mfactl ${strategy}`, ["--tenant", domain, "--read-strategy", strategy], out, truth, c, limits.appTenantRuWindowSeconds, this.sizes.readLimits, [
          strategy === "per-user"
            ? `${pages} listing pages (1 RU each) + ${n} GET requirements (1 RU each) through $batch`
            : `${pages} listing pages of ${PAGE} with perUserMfaState (1 RU each)`,
        ]),
      );
    }
  }

  /** Report 100,000 users of one tenant to CSV, streamed (the memory test). */
  async bigReport(): Promise<void> {
    const n = this.sizes.bigReportUsers;
    const limits = await this.configure({});
    log(`report ${n}: seeding...`);
    const [tenant] = await this.emu.seed(1, n, SEED);
    const domain = tenant!.domain;
    const truth = new Map((await this.emu.users(domain)).map((u) => [u.id, u.perUserMfaState as string]));
    const pages = Math.ceil(n / PAGE);
    const demand = requestDemand([{ method: "GET", pathAndQuery: `/users?$select=id,perUserMfaState&$top=${PAGE}`, count: pages }]);
    const c = describeCeiling(ceiling(limits, [{ tenant: domain, users: n, ...demand }]));
    log(`report ${n}: mfactl --read-strategy list --output csv...`);
    this.results.push(
      await this.runReport("report-big-csv", `report ${n.toLocaleString("en-US")} users to CSV (streamed)`, ["--tenant", domain, "--read-strategy", "list"], join(this.dir, "report-big.csv"), truth, c, limits.appTenantRuWindowSeconds, {}, [
        `${pages} listing pages; peak RSS is the target here`,
      ]),
    );
  }

  private async runReport(
    id: string,
    title: string,
    args: string[],
    out: string,
    truth: Map<string, string>,
    c: CeilingInfo,
    windowSeconds: number,
    scaledLimits: Partial<ThrottleLimits>,
    notes: string[],
  ): Promise<ScenarioResult> {
    await this.emu.resetStats();
    const poller = new StatsPoller(this.emu);
    poller.start();
    const run = await this.mfactl(["report", ...args, "--output", "csv", "--out", out, "--quiet"]);
    const totals = await poller.stop();
    if (run.exitCode !== 0) notes.push(`exit ${String(run.exitCode)}: ${run.stderr.trim().slice(0, 500)}`);
    // Every user exactly once, in the emulator's state.
    let rows: Record<string, string>[] = [];
    try {
      rows = csvRecords(await readFile(out, "utf8"));
    } catch (e) {
      notes.push(`no report: ${e instanceof Error ? e.message : String(e)}`);
    }
    const seen = new Map<string, number>();
    let wrong = 0;
    for (const r of rows) {
      const id = r["id"] ?? "";
      seen.set(id, (seen.get(id) ?? 0) + 1);
      if (truth.get(id) !== r["perUserMfaState"]) wrong++;
    }
    for (const count of seen.values()) if (count > 1) wrong += count - 1;
    const missing = [...truth.keys()].filter((id) => !seen.has(id)).length;
    const baseline = this.baseline?.usersPerSecond;
    const usersPerSecond = truth.size / run.seconds;
    return {
      id,
      title,
      tenants: 1,
      users: truth.size,
      seconds: run.seconds,
      usersPerSecond,
      ceiling: c,
      ratioToCeiling: c.seconds > 0 ? c.seconds / run.seconds : undefined,
      ratioToBaseline: baseline ? usersPerSecond / baseline : undefined,
      throttling: throttlingOf(poller, totals, windowSeconds),
      failed: run.exitCode === 0 ? 0 : truth.size - seen.size,
      missing,
      wrong,
      peakRssMb: run.peakRssMb,
      exitCode: run.exitCode,
      scaledLimits,
      notes,
    };
  }

  /** Bulk set in one tenant: the write quota binds. */
  async bulkOne(): Promise<void> {
    const n = this.sizes.bulkUsers;
    const limits = await this.configure(this.sizes.bulkLimits);
    const [tenant] = await this.emu.seed(1, n, SEED);
    const domain = tenant!.domain;
    await this.emu.setAll(domain, "disabled");
    const users = await this.emu.users(domain);
    const input = join(this.dir, "bulk-one.csv");
    await writeFile(input, ["userPrincipalName", ...users.map((u) => csvLine([u.userPrincipalName]))].join("\n") + "\n");
    const demand = requestDemand(perUserBulk(n));
    const c = describeCeiling(ceiling(limits, [{ tenant: domain, users: n, ...demand }]));
    log(`bulk set ${n} users in one tenant...`);
    this.results.push(
      await this.runBulk("bulk-one-tenant", `bulk set ${n.toLocaleString("en-US")} users, one tenant`, ["--tenant", domain, "--input", input], [domain], c, limits.appTenantWritesWindowSeconds, this.sizes.bulkLimits, [
        "per user: resolve the UPN, read, PATCH, read back (4 RU, 1 write)",
      ]),
    );
  }

  /** Bulk set across many small tenants at once: the app-wide write quota binds. */
  async bulkMany(): Promise<void> {
    const { manyTenants: t, manyUsers: n } = this.sizes;
    const limits = await this.configure(this.sizes.manyLimits);
    const tenants = await this.emu.seed(t, n, SEED);
    const lines = ["userPrincipalName,tenant"];
    const demands: TenantDemand[] = [];
    for (const tenant of tenants) {
      await this.emu.setAll(tenant.domain, "disabled");
      for (const u of await this.emu.users(tenant.domain)) lines.push(csvLine([u.userPrincipalName, tenant.domain]));
      demands.push({ tenant: tenant.domain, users: n, ...requestDemand(perUserBulk(n)) });
    }
    const input = join(this.dir, "bulk-many.csv");
    await writeFile(input, `${lines.join("\n")}\n`);
    const tenantsFile = join(this.dir, "tenants.csv");
    await writeFile(tenantsFile, ["tenant", ...tenants.map((x) => x.domain)].join("\n") + "\n");
    const c = describeCeiling(ceiling(limits, demands));
    log(`bulk set ${t} tenants x ${n} users...`);
    this.results.push(
      await this.runBulk("bulk-many-tenants", `bulk set ${t} tenants x ${n} users`, ["--tenants-file", tenantsFile, "--input", input], tenants.map((x) => x.domain), c, limits.appWritesWindowSeconds, this.sizes.manyLimits, [
        "per user: resolve, read, PATCH, read back; every tenant in one run (--tenants-file)",
      ]),
    );
  }

  private async runBulk(
    id: string,
    title: string,
    args: string[],
    domains: string[],
    c: CeilingInfo,
    windowSeconds: number,
    scaledLimits: Partial<ThrottleLimits>,
    notes: string[],
  ): Promise<ScenarioResult> {
    const out = join(this.dir, `${id}.json`);
    await this.emu.resetStats();
    const poller = new StatsPoller(this.emu);
    poller.start();
    // --include-protected: every seeded user is measured, the directory synchronisation account too.
    const run = await this.mfactl(["bulk", "set", ...args, "--state", "enforced", "--include-protected", "--yes", "--output", "json", "--out", out, "--quiet"]);
    const totals = await poller.stop();
    if (run.exitCode !== 0) notes.push(`exit ${String(run.exitCode)}: ${run.stderr.trim().slice(0, 500)}`);
    let results: { tenant: string; id: string; userPrincipalName: string; status: string }[] = [];
    try {
      results = JSON.parse(await readFile(out, "utf8")) as typeof results;
    } catch (e) {
      notes.push(`no results: ${e instanceof Error ? e.message : String(e)}`);
    }
    const reported = new Map<string, number>();
    let failed = 0;
    let wrong = 0;
    for (const r of results) {
      const key = `${r.tenant}/${r.userPrincipalName.toLowerCase()}`;
      reported.set(key, (reported.get(key) ?? 0) + 1);
      if (r.status === "failed") failed++;
    }
    for (const count of reported.values()) if (count > 1) wrong += count - 1;
    let missing = 0;
    let users = 0;
    for (const d of domains) {
      const after = await this.emu.users(d);
      const patches = new Map(after.map((u) => [u.id, u.patchCount]));
      for (const u of after) {
        users++;
        if (!reported.has(`${d}/${u.userPrincipalName.toLowerCase()}`)) missing++;
        // The requested state in the directory.
        if (u.perUserMfaState !== "enforced") wrong++;
      }
      // Never "changed" without a Graph PATCH of that user.
      wrong += results.filter((r) => r.tenant === d && r.status === "changed" && (patches.get(r.id) ?? 0) === 0).length;
    }
    const baseline = this.baseline?.usersPerSecond;
    const usersPerSecond = users / run.seconds;
    return {
      id,
      title,
      tenants: domains.length,
      users,
      seconds: run.seconds,
      usersPerSecond,
      ceiling: c,
      ratioToCeiling: c.seconds > 0 ? c.seconds / run.seconds : undefined,
      ratioToBaseline: baseline ? usersPerSecond / baseline : undefined,
      throttling: throttlingOf(poller, totals, windowSeconds),
      failed,
      missing,
      wrong,
      peakRssMb: run.peakRssMb,
      exitCode: run.exitCode,
      scaledLimits,
      notes,
    };
  }
}

/** What `bulk set --input` sends per user (see packages/core/src/operations/bulk-set.ts). */
function perUserBulk(n: number) {
  return [
    { method: "GET", pathAndQuery: "/users/{upn}?$select=id,userPrincipalName", count: n },
    { method: "GET", pathAndQuery: "/users/{id}/authentication/requirements", count: n },
    { method: "PATCH", pathAndQuery: "/users/{id}/authentication/requirements", count: n },
    { method: "GET", pathAndQuery: "/users/{id}/authentication/requirements", count: n },
  ];
}

function targets(results: ScenarioResult[]): Target[] {
  const by = (id: string) => results.find((r) => r.id === id);
  const out: Target[] = [];
  const ratio = (id: string, name: string, min: number) => {
    const r = by(id);
    if (r?.ratioToCeiling !== undefined) out.push({ name, met: r.ratioToCeiling >= min, detail: `${(r.ratioToCeiling * 100).toFixed(1)} % of the ceiling` });
  };
  ratio("report-per-user", "per-user reads >= 90 % of the resource-unit ceiling", 0.9);
  ratio("bulk-one-tenant", "bulk writes (one tenant) >= 90 % of the write-quota ceiling", 0.9);
  ratio("bulk-many-tenants", "bulk writes (many tenants) >= 90 % of the write-quota ceiling", 0.9);
  const mfactl = results.filter((r) => r.id !== "report-baseline");
  const bad = mfactl.filter((r) => r.failed + r.missing + r.wrong > 0);
  out.push({ name: "zero failed or missing users", met: bad.length === 0 && mfactl.length > 0, detail: bad.length === 0 ? "every user present once, in the requested state" : bad.map((r) => `${r.id}: ${r.failed} failed, ${r.missing} missing, ${r.wrong} wrong`).join("; ") });
  const steady = mfactl.filter((r) => r.throttling?.steady !== undefined);
  const worst = steady.reduce((m, r) => Math.max(m, r.throttling!.steady!.share), 0);
  out.push({ name: "429s <= 1 % of sub-requests once running", met: steady.length > 0 && worst <= 0.01, detail: `worst ${(worst * 100).toFixed(2)} % after the first budget window` });
  const list = by("report-list");
  if (list?.ratioToBaseline !== undefined) out.push({ name: "list strategy >= 100x the sequential baseline", met: list.ratioToBaseline >= 100, detail: `${list.ratioToBaseline.toFixed(0)}x` });
  const big = by("report-big-csv");
  if (big) out.push({ name: `peak RSS < 300 MB while ${big.users.toLocaleString("en-US")} users stream to CSV`, met: (big.peakRssMb ?? Infinity) < 300, detail: `${big.peakRssMb?.toFixed(0) ?? "?"} MB` });
  return out;
}

function pct(x: number | undefined): string {
  return x === undefined ? "-" : `${(x * 100).toFixed(2)} %`;
}

function table(results: ScenarioResult[]): string {
  const head = ["scenario", "users", "time s", "users/s", "ceiling s", "vs ceiling", "vs baseline", "429s", "429 share", "steady", "failed/missing/wrong", "peak RSS"];
  const rows = results.map((r) => [
    r.title,
    String(r.users),
    r.seconds.toFixed(1) + (r.id === "report-baseline" ? "*" : ""),
    r.usersPerSecond.toFixed(r.usersPerSecond < 100 ? 1 : 0),
    r.ceiling ? r.ceiling.seconds.toFixed(1) : "-",
    r.ratioToCeiling !== undefined ? `${(r.ratioToCeiling * 100).toFixed(1)} %` : "-",
    r.ratioToBaseline !== undefined ? `${r.ratioToBaseline.toFixed(r.ratioToBaseline < 10 ? 1 : 0)}x` : "-",
    String(r.throttling?.throttled ?? "-"),
    pct(r.throttling?.share),
    pct(r.throttling?.steady?.share),
    `${r.failed}/${r.missing}/${r.wrong}`,
    r.peakRssMb !== undefined ? `${r.peakRssMb.toFixed(0)} MB` : "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? ":" : "") + "-".repeat(w + 1) + (i === 0 ? "" : ":")).join("|")}|`, ...rows.map(line)].join("\n");
}

interface BenchDocument {
  mode: "quick" | "full";
  latencyMs: number;
  machine: { cpus: number; cpu: string; node: string; platform: string };
  totalSeconds: number;
  scenarios: ScenarioResult[];
  journal?: JournalBench | undefined;
  targets: Target[];
}

function render(doc: BenchDocument): string {
  const { machine, scenarios: results, targets: goals } = doc;
  const out: string[] = [];
  out.push(`mfactl bench, ${doc.mode} run: ${machine.cpus} x ${machine.cpu}, Node ${machine.node}; emulator with ${doc.latencyMs} ms latency; ${doc.totalSeconds.toFixed(0)} s in all`, "");
  out.push(table(results), "");
  out.push("* the baseline's time is extrapolated from its timed sample (see its note).", "");
  out.push("Ceilings: the shortest time the emulator's budgets allow, starting full: max over every budget drawn on of (demand - size) / (size / window).");
  for (const r of results) {
    out.push(`  ${r.title}: ${r.ceiling ? r.ceiling.formula : "no ceiling (the straw man)"}`);
    const scopes = Object.entries(r.throttling?.byScope ?? {});
    if (scopes.length > 0) out.push(`    429s by scope: ${scopes.map(([k, v]) => `${k} ${v}`).join(", ")}`);
    for (const n of r.notes) out.push(`    ${n}`);
    const scaled = Object.entries(r.scaledLimits)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(", ");
    if (scaled) out.push(`    budgets scaled: ${scaled} (the others are Microsoft's)`);
  }
  if (doc.journal) {
    const j = doc.journal;
    out.push(
      "",
      `Journal (SQLite, every change recorded before its request and settled after it): ${j.changes} changes recorded in ${j.createSeconds.toFixed(2)} s, ` +
        `then ${j.pairsPerSecond.toFixed(0)} begin+settle pairs/s with ${j.inFlight} in flight: ` +
        `${(j.pairsPerSecond / j.appWriteCeilingPerSecond).toFixed(0)}x the app-wide write ceiling (${j.appWriteCeilingPerSecond.toFixed(0)}/s), ` +
        `${(j.pairsPerSecond / j.tenantWriteCeilingPerSecond).toFixed(0)}x one tenant's (${j.tenantWriteCeilingPerSecond.toFixed(0)}/s).`,
    );
  }
  out.push("", "Targets:");
  for (const t of goals) out.push(`  [${t.met ? "x" : " "}] ${t.name}: ${t.detail}`);
  return `${out.join("\n")}\n`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      json: { type: "boolean" },
      quick: { type: "boolean" },
      only: { type: "string" },
      keep: { type: "boolean" },
      "baseline-sample": { type: "string" },
      render: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(
      "Usage: npm run bench -- [--quick] [--json] [--only report,bulk-one,bulk-many,report-big,journal] [--keep] [--baseline-sample <n>] [--render <saved.json>]\n",
    );
    return 0;
  }
  if (values.render !== undefined) {
    // Print a saved --json result the way a run prints it.
    const doc = JSON.parse(await readFile(values.render, "utf8")) as BenchDocument;
    process.stdout.write(render(doc));
    return doc.targets.every((t) => t.met) ? 0 : 1;
  }
  const sizes = { ...(values.quick ? QUICK : FULL) };
  if (values["baseline-sample"] !== undefined) sizes.baselineSample = Math.max(1, Number(values["baseline-sample"]));
  const only = new Set((values.only ?? "report,bulk-one,bulk-many,report-big,journal").split(",").map((s) => s.trim()));
  const dir = await mkdtemp(join(tmpdir(), "mfactl-bench-"));
  log(`mfactl bench (${values.quick ? "quick" : "full"}): emulator in its own process, ${LATENCY_MS} ms latency, budgets scaled per scenario; files in ${dir}`);
  const emu = await EmulatorProcess.start(ROOT, ["--latency-ms", String(LATENCY_MS), "--tenants", "1", "--users", "10", "--seed", SEED]);
  const bench = new Bench(emu, dir, sizes);
  const started = performance.now();
  let journal: JournalBench | undefined;
  try {
    if (only.has("report")) await bench.report();
    if (only.has("bulk-one")) await bench.bulkOne();
    if (only.has("bulk-many")) await bench.bulkMany();
    if (only.has("report-big")) await bench.bigReport();
    if (only.has("journal")) {
      log("journal throughput...");
      journal = await journalThroughput(values.quick ? 20_000 : 100_000);
    }
  } finally {
    await emu.stop();
    if (!values.keep) await rm(dir, { recursive: true, force: true });
  }
  const results = bench.results;
  const goals = targets(results);
  if (journal) {
    const ratio = journal.pairsPerSecond / journal.appWriteCeilingPerSecond;
    goals.push({ name: "journal keeps up: >= 10x the app-wide write ceiling", met: ratio >= 10, detail: `${ratio.toFixed(0)}x (${journal.pairsPerSecond.toFixed(0)} changes/s)` });
  }
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? "unknown", node: process.version, platform: `${process.platform} ${process.arch}` };
  const doc: BenchDocument = { mode: values.quick ? "quick" : "full", latencyMs: LATENCY_MS, machine, totalSeconds: (performance.now() - started) / 1000, scenarios: results, journal, targets: goals };
  process.stdout.write(values.json ? `${JSON.stringify(doc, null, 2)}\n` : render(doc));
  return goals.every((t) => t.met) ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 2;
  },
);
