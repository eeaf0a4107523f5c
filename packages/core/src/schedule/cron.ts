import { Cron } from "croner";
import { UsageError } from "../domain/errors.js";

/**
 * Cron expressions read by croner: five fields (minute precision) or six (seconds first), in an
 * IANA time zone. Daylight saving follows croner: a fixed time in the spring-forward gap runs at
 * the first valid time after it, a fixed time that occurs twice runs once.
 */

interface CronDef {
  cron: string;
  timezone: string;
}

/** How many occurrences `latestDue` walks one by one before it searches instead. */
const WALK_LIMIT = 1_000;

function zoneProblem(timezone: string): string | undefined {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return undefined;
  } catch {
    return `timezone: ${JSON.stringify(timezone)} is not an IANA time zone (for example "UTC", "Europe/Amsterdam", "America/New_York").`;
  }
}

function build(def: CronDef): Cron {
  const zone = zoneProblem(def.timezone);
  if (zone) throw new UsageError(zone);
  try {
    return new Cron(def.cron.trim(), { timezone: def.timezone, paused: true, mode: "5-or-6-parts" });
  } catch (error) {
    // croner's messages name the field ("Invalid value for minute: 61"); drop its class prefix.
    const detail = (error instanceof Error ? error.message : String(error)).replace(/^Cron\w*:\s*/, "");
    throw new UsageError(
      `cron: ${JSON.stringify(def.cron)} is not a cron expression: ${detail.replace(/\.$/, "")}. ` +
        `Expected five fields "minute hour day-of-month month day-of-week" (for example "0 2 * * *"), or six with seconds first.`,
    );
  }
}

function next(job: Cron, afterMs: number): number | undefined {
  return job.nextRun(new Date(afterMs))?.getTime();
}

/** Throws UsageError naming the problem ("cron: ...", "timezone: ...") for a bad expression or zone. */
export function checkCron(cron: string, timezone: string): void {
  const job = build({ cron, timezone });
  // A valid expression can still never match (30 February): such a schedule would never fire.
  if (next(job, Date.now()) === undefined) throw new UsageError(`cron: ${JSON.stringify(cron)} never fires (no date matches it).`);
}

/** The next `count` occurrences strictly after `afterMs` (epoch ms). */
export function nextFires(def: CronDef, afterMs: number, count: number): number[] {
  const job = build(def);
  const out: number[] = [];
  let at = afterMs;
  while (out.length < count) {
    const n = next(job, at);
    if (n === undefined) break;
    out.push(n);
    at = n;
  }
  return out;
}

/**
 * The latest occurrence in (notBeforeMs, nowMs], or undefined: the period a scheduler should fire
 * now. Periods missed in between are not fired one by one: only the latest counts.
 */
export function latestDue(def: CronDef, nowMs: number, notBeforeMs: number): number | undefined {
  if (nowMs <= notBeforeMs) return undefined;
  const job = build(def);
  let latest: number | undefined;
  let at = notBeforeMs;
  for (let i = 0; i < WALK_LIMIT; i++) {
    const n = next(job, at);
    if (n === undefined || n > nowMs) return latest;
    latest = n;
    at = n;
  }
  // Many occurrences in between (a schedule every few seconds, down for days): search for the
  // boundary instead. nextRun only moves forward as its reference does, so the largest reference
  // whose next occurrence is still due has the latest due occurrence as its next one.
  const following = next(job, at);
  if (following === undefined || following > nowMs) return latest;
  let low = at; // next(low) <= nowMs
  let high = nowMs; // next(high) > nowMs: nextRun is strictly after its reference
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if ((next(job, mid) ?? Infinity) <= nowMs) low = mid;
    else high = mid;
  }
  return next(job, low);
}
