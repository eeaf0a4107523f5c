import { describe, expect, it } from "vitest";
import { mapConcurrent, mergeBounded } from "./concurrent.js";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("mapConcurrent", () => {
  it("never has more than `limit` calls in flight and yields every result", async () => {
    let inFlight = 0;
    let peak = 0;
    const out: number[] = [];
    for await (const r of mapConcurrent(
      Array.from({ length: 50 }, (_, i) => i),
      7,
      async (i) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await tick(i % 3);
        inFlight--;
        return i * 2;
      },
    )) out.push(r);
    expect(peak).toBe(7);
    expect(out.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
  });

  it("yields fast results before slow ones", async () => {
    const out: string[] = [];
    for await (const r of mapConcurrent(["slow", "fast"], 2, async (s) => (await tick(s === "slow" ? 30 : 1), s))) out.push(r);
    expect(out).toEqual(["fast", "slow"]);
  });

  it("pulls lazily from the source", async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield i;
      }
    }
    for await (const r of mapConcurrent(source(), 3, async (i) => i)) {
      if (r >= 5) break;
    }
    expect(pulled).toBeLessThan(20);
  });

  it("propagates a rejection", async () => {
    const run = async () => {
      for await (const _ of mapConcurrent([1, 2, 3], 2, async (i) => {
        if (i === 2) throw new Error("boom");
        return i;
      }));
    };
    await expect(run()).rejects.toThrow("boom");
  });
});

describe("mergeBounded", () => {
  it("runs at most `limit` sources at once and yields everything", async () => {
    let active = 0;
    let peak = 0;
    const source = (n: number) =>
      async function* () {
        active++;
        peak = Math.max(peak, active);
        for (let i = 0; i < 3; i++) {
          await tick(1);
          yield `${n}:${i}`;
        }
        active--;
      };
    const out: string[] = [];
    for await (const v of mergeBounded([0, 1, 2, 3, 4].map(source), 2)) out.push(v);
    expect(peak).toBe(2);
    expect(out).toHaveLength(15);
    expect(new Set(out).size).toBe(15);
  });
});
