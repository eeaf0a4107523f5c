import { setTimeout as sleep } from "node:timers/promises";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { RateMeter, createProgress, formatDuration, formatRate, progressEnabled, tenantLabel, type Progress } from "./progress.js";

/** A stand-in terminal: records everything written. */
function fakeTerminal(isTTY: boolean, columns = 120) {
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, callback) {
      writes.push(chunk.toString());
      callback();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY, columns });
  return { stream, writes, text: () => writes.join("") };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g;

/** The lines of the last complete frame: what follows the last "cursor up" (every frame redraws all bars). */
function lastFrame(output: string): string[] {
  // eslint-disable-next-line no-control-regex
  const ups = [...output.matchAll(/\x1b\[\d+A/g)];
  const last = ups[ups.length - 1];
  const frame = last ? output.slice(last.index + last[0].length) : output;
  return frame
    .replace(ANSI, "")
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l !== "");
}

const open: Progress[] = [];
afterEach(() => {
  for (const p of open.splice(0)) p.stop();
});

function exercise(progress: Progress): void {
  progress.tenantStarted("contoso.com");
  progress.tenantStarted("contoso.com", 10);
  progress.advance("contoso.com", 3);
  progress.advance("fabrikam.com");
  progress.log("a warning");
  progress.tenantDone("contoso.com", "completed");
  progress.tenantDone("fabrikam.com", "failed");
}

describe("createProgress when disabled", () => {
  it("writes nothing at all, whatever is called", async () => {
    const tty = fakeTerminal(true);
    const progress = createProgress(tty.stream, { enabled: false, fps: 100 });
    exercise(progress);
    await sleep(60);
    progress.stop();
    progress.stop();
    expect(tty.writes).toEqual([]);
  });

  it("writes nothing on a stream that is not a terminal, even when enabled", async () => {
    const pipe = fakeTerminal(false);
    const progress = createProgress(pipe.stream, { enabled: true, fps: 100 });
    exercise(progress);
    await sleep(60);
    progress.stop();
    expect(pipe.writes).toEqual([]);
  });

  it("progressEnabled: a TTY, not quiet, not json", () => {
    expect(progressEnabled({ isTTY: true }, {})).toBe(true);
    expect(progressEnabled({ isTTY: true }, { output: "table" })).toBe(true);
    expect(progressEnabled({ isTTY: false }, {})).toBe(false);
    expect(progressEnabled({}, {})).toBe(false);
    expect(progressEnabled({ isTTY: true }, { quiet: true })).toBe(false);
    expect(progressEnabled({ isTTY: true }, { output: "json" })).toBe(false);
  });
});

describe("createProgress on a terminal", () => {
  it("draws a bar per tenant and an overall bar with rate and ETA, then clears them", async () => {
    let clock = 1_000_000;
    const tty = fakeTerminal(true);
    const progress = createProgress(tty.stream, { enabled: true, fps: 50, now: () => clock, tenantCount: 2 });
    open.push(progress);
    progress.tenantStarted("contoso.com", 1000);
    progress.tenantStarted("fabrikam.com", 1000);
    clock += 10_000;
    progress.advance("contoso.com", 150);
    progress.advance("fabrikam.com", 50);
    await sleep(100);
    const frame = lastFrame(tty.text());
    expect(frame).toHaveLength(3);
    // 200 users in 10 s = 20 users/s; 1,800 left = 90 s.
    expect(frame[0]).toMatch(/^All tenants\s+[█░]{18} 200\/2000 users \| 20 users\/s \| ETA 1m 30s \| tenants 0\/2$/);
    expect(frame[1]).toMatch(/^contoso\.com\s+█{3}░{15} 150\/1000$/);
    expect(frame[2]).toMatch(/^fabrikam\.com\s+█░{17} 50\/1000$/);

    progress.advance("fabrikam.com", 950);
    progress.tenantDone("fabrikam.com", "completed");
    progress.tenantDone("contoso.com", "failed");
    await sleep(100);
    const after = lastFrame(tty.text());
    expect(after[0]).toMatch(/1150\/2000 users .* tenants 2\/2 \(1 failed\)/);
    expect(after).toContainEqual(expect.stringMatching(/^contoso\.com .* 150\/1000 FAILED$/));
    expect(after).toContainEqual(expect.stringMatching(/^fabrikam\.com\s+█{18} 1000\/1000 done$/));

    progress.stop();
    const end = tty.text();
    // Cleared on stop: the output ends by clearing the screen below the cursor.
    expect(end.endsWith("\x1b[0J")).toBe(true);
    // The terminal is left as it was: the cursor is never hidden, auto-wrap never switched off.
    expect(end).not.toContain("\x1b[?25l");
    expect(end).not.toContain("\x1b[?7l");
    const written = tty.writes.length;
    progress.advance("contoso.com", 1);
    progress.tenantStarted("x.com", 1);
    await sleep(60);
    expect(tty.writes.length).toBe(written);
  });

  it("shows no total and no ETA while totals are unknown, and an estimate (~) once some are known", async () => {
    let clock = 0;
    const tty = fakeTerminal(true);
    const progress = createProgress(tty.stream, { enabled: true, fps: 50, now: () => clock, tenantCount: 4 });
    open.push(progress);
    progress.tenantStarted("a.com");
    clock += 2000;
    progress.advance("a.com", 10);
    await sleep(80);
    expect(lastFrame(tty.text())[0]).toMatch(/10 users \| 5\.0 users\/s \| ETA -- \| tenants 0\/4$/);
    expect(lastFrame(tty.text())[1]).toMatch(/^a\.com\s+░{18} 10$/);
    progress.tenantStarted("a.com", 100);
    await sleep(80);
    // One tenant of 100 known, three expected: ~400 in all, 390 left at 5/s = 78 s.
    expect(lastFrame(tty.text())[0]).toMatch(/10\/~400 users \| 5\.0 users\/s \| ETA ~1m 18s \| tenants 0\/4$/);
  });

  it("caps the tenant bars: the most recent running tenants, and says how many are hidden", async () => {
    const tty = fakeTerminal(true, 200);
    const progress = createProgress(tty.stream, { enabled: true, fps: 50, maxTenantBars: 8 });
    open.push(progress);
    for (let i = 0; i < 200; i++) {
      progress.tenantStarted(`tenant${i}.com`, 50);
      progress.advance(`tenant${i}.com`, 1);
    }
    await sleep(80);
    let frame = lastFrame(tty.text());
    expect(frame).toHaveLength(9);
    expect(frame[0]).toMatch(/200\/10000 users .*tenants 0\/200 \| \+192 more running$/);
    expect(frame.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(Array.from({ length: 8 }, (_, i) => `tenant${192 + i}.com`));

    // A finished tenant's bar goes to the most recent hidden tenant still running.
    progress.advance("tenant195.com", 49);
    progress.tenantDone("tenant195.com", "completed");
    await sleep(80);
    frame = lastFrame(tty.text());
    expect(frame).toHaveLength(9);
    const shown = frame.slice(1).map((l) => l.split(/\s+/)[0]);
    expect(shown).not.toContain("tenant195.com");
    expect(shown).toContain("tenant191.com");
    expect(frame[0]).toMatch(/tenants 1\/200 \| \+191 more running$/);

    // Finished tenants stay on screen while nothing is waiting.
    for (let i = 0; i < 200; i++) progress.tenantDone(`tenant${i}.com`, "completed");
    await sleep(80);
    frame = lastFrame(tty.text());
    expect(frame).toHaveLength(9);
    expect(frame[0]).toMatch(/tenants 200\/200$/);
  });

  it("strips control characters from tenant names and cuts long ones", async () => {
    const tty = fakeTerminal(true);
    const progress = createProgress(tty.stream, { enabled: true, fps: 50 });
    open.push(progress);
    progress.tenantStarted("\x1b[31mevil\x07.com", 5);
    progress.log("line with \x1b]0;title\x07 escape");
    await sleep(80);
    expect(tty.text()).not.toContain("\x1b[31m");
    expect(tty.text()).not.toContain("\x1b]0;");
    expect(tty.text()).toContain("line with  ]0;title  escape\n");
    expect(tenantLabel("a-very-long-tenant-name-that-goes-on.onmicrosoft.com")).toBe("a-very-long-tenant-name\u2026");
    expect(tenantLabel("  ")).toBe("(unnamed)");
  });

  it("cuts lines to the terminal width", async () => {
    const tty = fakeTerminal(true, 40);
    const progress = createProgress(tty.stream, { enabled: true, fps: 50 });
    open.push(progress);
    progress.tenantStarted("contoso.com", 5);
    await sleep(80);
    for (const line of lastFrame(tty.text())) expect(line.length).toBeLessThanOrEqual(40);
  });
});

describe("RateMeter and formatting", () => {
  it("measures over a sliding window, so the rate follows a slowdown", () => {
    const meter = new RateMeter(10_000, 0);
    let n = 0;
    for (let t = 1000; t <= 20_000; t += 1000) meter.record(t, (n += 100)); // 100/s for 20 s
    expect(meter.rate(20_000, n)).toBeCloseTo(100, 0);
    for (let t = 21_000; t <= 40_000; t += 1000) meter.record(t, (n += 10)); // then 10/s
    expect(meter.rate(40_000, n)).toBeGreaterThan(9);
    expect(meter.rate(40_000, n)).toBeLessThan(12);
  });

  it("formats rates and durations", () => {
    expect(formatRate(0)).toBe("0");
    expect(formatRate(4.26)).toBe("4.3");
    expect(formatRate(42.4)).toBe("42");
    expect(formatRate(1234.5)).toBe("1235");
    expect(formatDuration(900)).toBe("1s");
    expect(formatDuration(90_000)).toBe("1m 30s");
    expect(formatDuration(3_725_000)).toBe("1h 02m");
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe("--");
  });
});
