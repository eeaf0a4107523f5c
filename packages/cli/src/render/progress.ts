/**
 * Progress on a terminal: one bar per tenant in progress and one overall bar with the rate
 * (users/s) and the time left, drawn with cli-progress (MultiBar) on stderr. Fed by plain events
 * (from core's progress events), so the engine never writes to the terminal.
 *
 * - Silent unless `enabled` and the stream is a TTY: then nothing at all is written (no bar, no
 *   escape sequence), whatever is called. The caller turns it off for `--output json`, `--quiet`
 *   and pipes (see {@link progressEnabled}).
 * - At most `maxTenantBars` tenant bars (default 8): the most recently started tenants in progress;
 *   a finished tenant's bar gives way to a hidden one still running. The overall bar says how many
 *   tenants are not shown.
 * - Rate over a sliding window (10 s by default) so it follows throttling; the time left is the
 *   users still expected over that rate. Totals grow as tenants report them (`tenantStarted` may
 *   be called again with a total); while some tenants have no total yet, the time left is an
 *   estimate from the average tenant, marked `~`.
 * - The terminal is left as it was: no hidden cursor, no disabled line wrap (lines are cut to the
 *   terminal's width instead), bars cleared on `stop()`, and the redraw timer does not keep the
 *   process alive. Tenant names are stripped of control characters.
 */
import cliProgress from "cli-progress";

export type TenantStatus = "completed" | "failed";

export interface ProgressOptions {
  enabled: boolean;
  /** Tenant bars shown at once, besides the overall bar. Default 8. */
  maxTenantBars?: number | undefined;
  /** How many tenants the run has, when known: shown as done/expected and used for the estimate. */
  tenantCount?: number | undefined;
  /** Redraws per second. Default 10. */
  fps?: number | undefined;
  /** Window of the rate, in ms. Default 10,000. */
  rateWindowMs?: number | undefined;
  /** Clock in ms (tests). Default Date.now. */
  now?: (() => number) | undefined;
}

export interface Progress {
  /** A tenant began; call again with the total once it is known (or grows). */
  tenantStarted(tenant: string, total?: number): void;
  /** `n` more users of this tenant are done (default 1). */
  advance(tenant: string, n?: number): void;
  tenantDone(tenant: string, status: TenantStatus): void;
  /** A line above the bars (a warning) without breaking them; dropped when silent. */
  log(line: string): void;
  /** Clear the bars and stop redrawing. Idempotent. */
  stop(): void;
}

/** Progress shows only on a terminal, and not with `--output json` or `--quiet`. */
export function progressEnabled(stream: { isTTY?: boolean | undefined }, options: { quiet?: boolean | undefined; output?: string | undefined }): boolean {
  return stream.isTTY === true && !options.quiet && options.output !== "json";
}

const SILENT: Progress = {
  tenantStarted: () => undefined,
  advance: () => undefined,
  tenantDone: () => undefined,
  log: () => undefined,
  stop: () => undefined,
};

interface TenantState {
  label: string;
  total: number | undefined;
  done: number;
  status: "running" | TenantStatus;
  /** Order of start: larger is more recent. */
  seq: number;
  finishedSeq: number;
  bar: cliProgress.SingleBar | undefined;
}

const LABEL_WIDTH = 24;
const BAR_WIDTH = 18;

export function createProgress(stream: NodeJS.WriteStream, options: ProgressOptions): Progress {
  if (!options.enabled || stream.isTTY !== true) return SILENT;

  const maxBars = Math.max(1, options.maxTenantBars ?? 8);
  const now = options.now ?? Date.now;
  const meter = new RateMeter(options.rateWindowMs ?? 10_000, now());
  const tenants = new Map<string, TenantState>();
  let seq = 0;
  let done = 0;
  let stopped = false;

  const multibar = new cliProgress.MultiBar({
    stream,
    fps: options.fps ?? 10,
    format: formatLine,
    clearOnComplete: true,
    hideCursor: false,
    // true: cli-progress cuts each line to the terminal width itself instead of switching the
    // terminal's auto-wrap off (which a crash would leave off).
    linewrap: true,
    forceRedraw: true,
    gracefulExit: false,
    emptyOnZero: true,
    autopadding: false,
  });
  const unrefTimer = () => (multibar as unknown as { timer?: NodeJS.Timeout | null }).timer?.unref?.();
  multibar.on("update-post", unrefTimer);
  multibar.on("redraw-pre", () => refreshOverall());

  const overall = multibar.create(0, 0, { label: "All tenants", text: "" });
  unrefTimer();

  function overallText(): { total: number | undefined; text: string } {
    const running = [...tenants.values()].filter((t) => t.status === "running");
    const finished = tenants.size - running.length;
    const failed = [...tenants.values()].filter((t) => t.status === "failed").length;
    const known = [...tenants.values()].filter((t) => t.total !== undefined);
    const knownTotal = known.reduce((n, t) => n + Math.max(t.total!, t.done), 0);
    const expectedTenants = Math.max(options.tenantCount ?? 0, tenants.size);
    const missing = expectedTenants - known.length;
    const estimated = missing > 0 && known.length > 0;
    const total = missing === 0 ? knownTotal : estimated ? Math.round(knownTotal + (knownTotal / known.length) * missing) : undefined;
    const rate = meter.rate(now(), done);
    const eta = total !== undefined && rate > 0 ? formatDuration(((total - done) / rate) * 1000) : "--";
    const hidden = running.filter((t) => t.bar === undefined).length;
    const parts = [
      total !== undefined ? `${done}/${estimated ? "~" : ""}${total} users` : `${done} users`,
      `${formatRate(rate)} users/s`,
      `ETA ${estimated && eta !== "--" ? "~" : ""}${eta}`,
      `tenants ${finished}/${options.tenantCount ?? tenants.size}${failed ? ` (${failed} failed)` : ""}`,
    ];
    if (hidden > 0) parts.push(`+${hidden} more running`);
    return { total, text: parts.join(" | ") };
  }

  function refreshOverall(): void {
    if (stopped) return;
    const { total, text } = overallText();
    overall.setTotal(total ?? 0);
    overall.update(total === undefined ? 0 : Math.min(done, total), { label: "All tenants", text });
  }

  function tenantPayload(t: TenantState): { label: string; text: string } {
    const count = t.total !== undefined ? `${t.done}/${Math.max(t.total, t.done)}` : `${t.done}`;
    const status = t.status === "running" ? "" : t.status === "failed" ? " FAILED" : " done";
    return { label: t.label, text: `${count}${status}` };
  }

  function drawTenant(t: TenantState): void {
    if (!t.bar) return;
    t.bar.setTotal(t.total ?? 0);
    t.bar.update(t.total === undefined ? 0 : Math.min(t.done, t.total), tenantPayload(t));
  }

  function show(t: TenantState): void {
    if (t.bar) return;
    const visible = [...tenants.values()].filter((x) => x.bar !== undefined);
    if (visible.length >= maxBars) {
      const finished = visible.filter((x) => x.status !== "running").sort((a, b) => a.finishedSeq - b.finishedSeq);
      const victim = finished[0] ?? visible.sort((a, b) => a.seq - b.seq)[0]!;
      multibar.remove(victim.bar!);
      victim.bar = undefined;
    }
    t.bar = multibar.create(t.total ?? 0, 0, tenantPayload(t));
    unrefTimer();
    drawTenant(t);
  }

  function stateOf(tenant: string): TenantState {
    let t = tenants.get(tenant);
    if (!t) {
      t = { label: tenantLabel(tenant), total: undefined, done: 0, status: "running", seq: ++seq, finishedSeq: 0, bar: undefined };
      tenants.set(tenant, t);
      show(t);
    }
    return t;
  }

  return {
    tenantStarted(tenant, total) {
      if (stopped) return;
      const t = stateOf(tenant);
      if (total !== undefined && Number.isFinite(total) && total >= 0) t.total = total;
      drawTenant(t);
      refreshOverall();
    },
    advance(tenant, n = 1) {
      if (stopped || !(n > 0)) return;
      const t = stateOf(tenant);
      t.done += n;
      done += n;
      meter.record(now(), done);
      // Cheap per event: the overall line is recomputed once per redraw (redraw-pre).
      drawTenant(t);
    },
    tenantDone(tenant, status) {
      if (stopped) return;
      const t = stateOf(tenant);
      t.status = status;
      t.finishedSeq = ++seq;
      if (status === "completed" && t.total === undefined) t.total = t.done;
      drawTenant(t);
      // Give the bar to the most recent tenant still running without one.
      const waiting = [...tenants.values()].filter((x) => x.status === "running" && x.bar === undefined).sort((a, b) => b.seq - a.seq)[0];
      if (waiting && t.bar) {
        multibar.remove(t.bar);
        t.bar = undefined;
        show(waiting);
      }
      refreshOverall();
    },
    log(line) {
      if (stopped) return;
      multibar.log(`${sanitize(line).replace(/\n?$/, "\n")}`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      multibar.stop();
    },
  };
}

/** One line: label, bar, text; cut to the terminal width by cli-progress. */
function formatLine(_options: cliProgress.Options, params: cliProgress.Params, payload: { label?: string; text?: string }): string {
  const progress = Math.min(1, Math.max(0, Number.isFinite(params.progress) ? params.progress : 0));
  const filled = Math.round(progress * BAR_WIDTH);
  const bar = "\u2588".repeat(filled) + "\u2591".repeat(BAR_WIDTH - filled);
  return `${(payload.label ?? "").padEnd(LABEL_WIDTH)} ${bar} ${payload.text ?? ""}`;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function sanitize(text: string): string {
  return text.replace(CONTROL, " ");
}

/** A tenant's name for a bar: no control characters, at most LABEL_WIDTH characters. */
export function tenantLabel(tenant: string): string {
  const clean = sanitize(tenant).trim() || "(unnamed)";
  const chars = [...clean];
  return chars.length <= LABEL_WIDTH ? clean : `${chars.slice(0, LABEL_WIDTH - 1).join("")}\u2026`;
}

/** Users per second over a sliding window of samples. */
export class RateMeter {
  private samples: { t: number; n: number }[];
  constructor(
    private readonly windowMs: number,
    start: number,
  ) {
    this.samples = [{ t: start, n: 0 }];
  }

  record(t: number, total: number): void {
    const last = this.samples[this.samples.length - 1]!;
    // One sample per 250 ms is plenty; events can come thousands a second.
    if (this.samples.length > 1 && t - last.t < 250) {
      last.n = total;
      return;
    }
    this.samples.push({ t, n: total });
    // Keep one sample at or before the window's start, so the window is always covered.
    while (this.samples.length > 2 && this.samples[1]!.t <= t - this.windowMs) this.samples.shift();
  }

  rate(t: number, total: number): number {
    const first = this.samples[0]!;
    const elapsed = t - first.t;
    return elapsed > 0 ? ((total - first.n) * 1000) / elapsed : 0;
  }
}

export function formatRate(rate: number): string {
  if (!(rate > 0)) return "0";
  return rate >= 100 ? String(Math.round(rate)) : rate >= 10 ? rate.toFixed(0) : rate.toFixed(1);
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "--";
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}
