/** Running mfactl as a child process: wall time, exit code, peak resident memory (VmHWM), and Graph counters over time. */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import type { EmulatorProcess } from "./emulator.js";

export interface ProcessRun {
  seconds: number;
  exitCode: number | null;
  /** Peak resident set size, MB (VmHWM from /proc, polled). */
  peakRssMb: number | undefined;
  stderr: string;
}

async function peakRss(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<ProcessRun> {
  const started = performance.now();
  const child = spawn(command, args, { cwd, env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    if (stderr.length < 20_000) stderr += c.toString("utf8");
    // BENCH_CHILD_STDERR=1 passes mfactl's own stderr through (diagnostics).
    if (process.env["BENCH_CHILD_STDERR"]) process.stderr.write(c);
  });
  let peak: number | undefined;
  const pid = child.pid;
  const poll = setInterval(() => {
    if (pid === undefined) return;
    void peakRss(pid).then((mb) => {
      if (mb !== undefined) peak = Math.max(peak ?? 0, mb);
    });
  }, 50);
  const exitCode = await new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const seconds = (performance.now() - started) / 1000;
  clearInterval(poll);
  return { seconds, exitCode, peakRssMb: peak, stderr };
}

export interface StatsSample {
  /** Seconds since the run started. */
  at: number;
  requests: number;
  throttled: number;
}

/** Polls the emulator's counters while a run goes on (429s over time, to tell warm-up from steady state). */
export class StatsPoller {
  readonly samples: StatsSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private started = 0;
  private busy = false;

  constructor(
    private readonly emulator: EmulatorProcess,
    private readonly everyMs = 1000,
  ) {}

  start(): void {
    this.started = performance.now();
    this.samples.push({ at: 0, requests: 0, throttled: 0 });
    this.timer = setInterval(() => void this.sample(), this.everyMs);
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const s = await this.emulator.stats();
      this.samples.push({ at: (performance.now() - this.started) / 1000, requests: s.requests, throttled: s.throttledTotal });
      if (process.env["BENCH_TRACE"]) process.stderr.write(`t=${((performance.now() - this.started) / 1000).toFixed(1)} requests=${s.requests} patches=${s.patches} 429=${s.throttledTotal} batches=${s.batches} tokens=${s.tokensIssued}\n`);
    } catch {
      // A missed sample is not a failure of the run.
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<{ requests: number; throttled: number; byScope: Record<string, number> }> {
    clearInterval(this.timer);
    const s = await this.emulator.stats();
    this.samples.push({ at: (performance.now() - this.started) / 1000, requests: s.requests, throttled: s.throttledTotal });
    // "Tenant_Application/Write/<app>/<tenant>" -> "Tenant_Application/Write", summed over tenants.
    const byScope: Record<string, number> = {};
    for (const [scope, n] of Object.entries(s.throttled)) {
      const key = scope.split("/").slice(0, 2).join("/");
      byScope[key] = (byScope[key] ?? 0) + n;
    }
    return { requests: s.requests, throttled: s.throttledTotal, byScope };
  }

  /** 429s and Graph requests after `fromSeconds` (the first budget window: warm-up excluded). */
  after(fromSeconds: number): { requests: number; throttled: number } | undefined {
    const last = this.samples[this.samples.length - 1];
    if (!last || last.at <= fromSeconds * 1.5) return undefined;
    let base = this.samples[0]!;
    for (const s of this.samples) if (s.at <= fromSeconds) base = s;
    return { requests: last.requests - base.requests, throttled: last.throttled - base.throttled };
  }
}
