import { Cron } from "croner";
import { describe, expect, it, vi } from "vitest";
import { UsageError } from "../domain/errors.js";
import { checkCron, latestDue, nextFires } from "./cron.js";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe("checkCron", () => {
  it("accepts five fields, six with seconds, and nicknames", () => {
    expect(() => checkCron("0 2 * * *", "UTC")).not.toThrow();
    expect(() => checkCron("*/2 * * * * *", "Europe/Amsterdam")).not.toThrow();
    expect(() => checkCron("@daily", "America/New_York")).not.toThrow();
  });

  it("refuses a bad expression naming the field, and says what is expected", () => {
    const bad = (cron: string) => {
      try {
        checkCron(cron, "UTC");
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as Error).message;
      }
      throw new Error(`accepted ${cron}`);
    };
    expect(bad("61 * * * *")).toMatch(/^cron: "61 \* \* \* \*" is not a cron expression: Invalid value for minute: 61\. Expected five fields/);
    expect(bad("* * * *")).toMatch(/^cron: .*five, six, or seven space separated parts/);
    // Seven fields (years) are not offered.
    expect(bad("0 0 0 * * * 2030")).toMatch(/^cron: .*requires exactly 5 or 6 parts/);
    expect(bad("every night")).toMatch(/^cron: "every night" is not a cron expression/);
    expect(bad("0 0 30 2 *")).toBe('cron: "0 0 30 2 *" never fires (no date matches it).');
  });

  it("refuses an unknown time zone with examples", () => {
    expect(() => checkCron("0 2 * * *", "Mars/Olympus")).toThrow(UsageError);
    expect(() => checkCron("0 2 * * *", "Mars/Olympus")).toThrow('timezone: "Mars/Olympus" is not an IANA time zone (for example "UTC", "Europe/Amsterdam", "America/New_York").');
  });
});

describe("nextFires", () => {
  it("lists occurrences strictly after the reference", () => {
    const fires = nextFires({ cron: "0 2 * * *", timezone: "UTC" }, at("2026-05-01T02:00:00Z"), 3);
    expect(fires.map(iso)).toEqual(["2026-05-02T02:00:00.000Z", "2026-05-03T02:00:00.000Z", "2026-05-04T02:00:00.000Z"]);
  });

  it("follows daylight saving in the schedule's zone (Europe/Amsterdam, 02:00 local)", () => {
    // Spring forward on 29 March 2026: 02:00 does not exist that night, the run is at 03:00 CEST (01:00Z).
    const spring = nextFires({ cron: "0 2 * * *", timezone: "Europe/Amsterdam" }, at("2026-03-27T00:00:00Z"), 4);
    expect(spring.map(iso)).toEqual(["2026-03-27T01:00:00.000Z", "2026-03-28T01:00:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-30T00:00:00.000Z"]);
    // Fall back on 25 October 2026: 02:30 happens twice, the run happens once.
    const fall = nextFires({ cron: "30 2 * * *", timezone: "Europe/Amsterdam" }, at("2026-10-24T00:00:00Z"), 3);
    expect(fall.map(iso)).toEqual(["2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
  });

  it("reads seconds when six fields are given", () => {
    expect(nextFires({ cron: "*/15 * * * * *", timezone: "UTC" }, at("2026-01-01T00:00:00Z"), 3).map(iso)).toEqual([
      "2026-01-01T00:00:15.000Z",
      "2026-01-01T00:00:30.000Z",
      "2026-01-01T00:00:45.000Z",
    ]);
  });

  it("throws UsageError for a bad definition", () => {
    expect(() => nextFires({ cron: "nope", timezone: "UTC" }, 0, 1)).toThrow(UsageError);
  });
});

describe("latestDue", () => {
  const nightly = { cron: "0 2 * * *", timezone: "Europe/Amsterdam" };

  it("is undefined when nothing fell due since notBefore", () => {
    // 02:00 CEST is 00:00Z in May: the occurrence at notBefore is not due again.
    expect(latestDue(nightly, at("2026-05-01T23:59:00Z"), at("2026-05-01T00:00:00Z"))).toBeUndefined();
    expect(latestDue(nightly, at("2026-05-02T00:00:00Z"), at("2026-05-02T00:00:00Z"))).toBeUndefined();
    expect(latestDue(nightly, at("2026-05-01T00:00:00Z"), at("2026-05-02T00:00:00Z"))).toBeUndefined();
  });

  it("returns the occurrence at now exactly, and excludes the one at notBefore", () => {
    // 02:00 CEST is 00:00Z in May.
    const fire = at("2026-05-02T00:00:00Z");
    expect(latestDue(nightly, fire, fire - 1)).toBe(fire);
    expect(latestDue(nightly, fire + 60_000, fire)).toBeUndefined();
  });

  it("returns only the latest of several missed occurrences", () => {
    expect(iso(latestDue(nightly, at("2026-05-10T12:00:00Z"), at("2026-05-01T12:00:00Z")))).toBe("2026-05-10T00:00:00.000Z");
  });

  it("is exact across a spring-forward night", () => {
    expect(iso(latestDue(nightly, at("2026-03-29T01:00:00Z"), at("2026-03-28T12:00:00Z")))).toBe("2026-03-29T01:00:00.000Z");
    expect(latestDue(nightly, at("2026-03-29T00:59:59Z"), at("2026-03-28T12:00:00Z"))).toBeUndefined();
  });

  it("is exact and quick for a schedule every 2 s over a day (43,200 occurrences) and over a year", () => {
    const every2s = { cron: "*/2 * * * * *", timezone: "UTC" };
    const start = at("2026-01-01T00:00:00Z");
    expect(iso(latestDue(every2s, start + 86_400_000 + 1_999, start))).toBe("2026-01-02T00:00:00.000Z");
    expect(iso(latestDue(every2s, start + 86_400_000 - 1, start))).toBe("2026-01-01T23:59:58.000Z");
    expect(iso(latestDue(every2s, at("2027-01-01T00:00:01.500Z"), start))).toBe("2027-01-01T00:00:00.000Z");
    // Cheap: a bounded walk, then a search, not 43,200 steps.
    const calls = vi.spyOn(Cron.prototype, "nextRun");
    try {
      latestDue(every2s, start + 86_400_000, start);
      expect(calls.mock.calls.length).toBeLessThan(1_100);
    } finally {
      calls.mockRestore();
    }
  });

  it("agrees with a full walk just past the walking limit", () => {
    const everyMinute = { cron: "* * * * *", timezone: "Europe/Amsterdam" };
    const start = at("2026-10-24T20:00:00Z");
    const all = nextFires(everyMinute, start, 3_000);
    for (const n of [999, 1_000, 1_001, 1_500, 2_999]) {
      const now = all[n]! + 30_000;
      expect(latestDue(everyMinute, now, start)).toBe(all[n]);
    }
  });

  it("throws UsageError for a bad definition", () => {
    expect(() => latestDue({ cron: "0 2 * * *", timezone: "Nowhere/City" }, 10, 0)).toThrow(/^timezone: /);
  });
});
