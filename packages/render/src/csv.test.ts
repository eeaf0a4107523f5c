import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parse } from "csv-parse";
import { parse as parseSync } from "csv-parse/sync";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HOSTILE } from "./hostile.test-helper.js";
import { columnValue, createCsvWriter, csvCell, unescapeFormula, writeCsv } from "./csv.js";

function collector() {
  const chunks: string[] = [];
  return { sink: { write: (s: string) => chunks.push(s) }, text: () => chunks.join("") };
}

describe("csvCell and columnValue", () => {
  it("renders booleans, empties, numbers, dates, arrays and objects as documented", () => {
    expect(csvCell(true)).toBe("true");
    expect(csvCell(false)).toBe("false");
    expect(csvCell(undefined)).toBe("");
    expect(csvCell(null)).toBe("");
    expect(csvCell(-2)).toBe("-2");
    expect(csvCell("-2")).toBe("'-2");
    expect(csvCell(12n)).toBe("12");
    expect(csvCell(new Date("2024-05-06T07:08:09.000Z"))).toBe("2024-05-06T07:08:09.000Z");
    expect(csvCell(["a", "=b", 3])).toBe("a; =b; 3");
    expect(csvCell(["=a", "b"])).toBe("'=a; b");
    expect(csvCell({ code: "x", n: 1 })).toBe('{"code":"x","n":1}');
  });

  it("reads dotted columns from nested objects; a literal dotted key wins", () => {
    const row = { error: { code: "Authorization_RequestDenied", message: "no" }, "a.b": "literal", a: { b: "nested" } };
    expect(columnValue(row, "error.code")).toBe("Authorization_RequestDenied");
    expect(columnValue(row, "error.message")).toBe("no");
    expect(columnValue(row, "error.missing")).toBeUndefined();
    expect(columnValue(row, "a.b")).toBe("literal");
    expect(columnValue({ error: undefined }, "error.code")).toBeUndefined();
    expect(columnValue({ toString: "x" }, "constructor")).toBeUndefined();
  });
});

describe("createCsvWriter", () => {
  it("writes a header and CRLF records, quoting commas, quotes and line breaks (RFC 4180)", async () => {
    const { sink, text } = collector();
    const writer = createCsvWriter(sink, ["a", "b", "c"]);
    await writer.write({ a: "Doe, John", b: 'say "hi"', c: "x\ny" });
    await writer.write({ a: "lone\rcr", b: "plain", c: undefined });
    await writer.end();
    expect(text()).toBe('a,b,c\r\n"Doe, John","say ""hi""","x\ny"\r\n"lone\rcr",plain,\r\n');
    expect(writer.rows).toBe(2);
  });

  it("round-trips hostile values through csv-parse: the original back, but for the formula prefix", async () => {
    const { sink, text } = collector();
    const rows = HOSTILE.map((displayName, i) => ({ id: String(i), displayName, accountEnabled: i % 2 === 0 }));
    await writeCsv(sink, ["id", "displayName", "accountEnabled"], rows);
    const parsed = parseSync(text(), { columns: true }) as Record<string, string>[];
    expect(parsed).toHaveLength(HOSTILE.length);
    parsed.forEach((record, i) => {
      const original = HOSTILE[i]!;
      const expected = /^'*[=+\-@\t\r＝]/.test(original) ? `'${original}` : original;
      expect(record.displayName).toBe(expected);
      expect(unescapeFormula(record.displayName!)).toBe(original);
      expect(record.accountEnabled).toBe(i % 2 === 0 ? "true" : "false");
    });
    // No cell of the file starts a formula once a spreadsheet has split it.
    const cells = parseSync(text(), { columns: false }) as string[][];
    for (const cell of cells.flat()) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
  });

  it("flattens error.code / error.message and keeps undefined empty", async () => {
    const { sink, text } = collector();
    const columns = ["tenant", "id", "userPrincipalName", "previousState", "requestedState", "status", "requestId", "error.code", "error.message"];
    await writeCsv(sink, columns, [
      { tenant: "contoso.com", id: "1", userPrincipalName: "a@contoso.com", requestedState: "enforced", status: "failed", error: { code: "=cmd", message: 'Bad, "really"\nbad' } },
    ]);
    const [record] = parseSync(text(), { columns: true }) as Record<string, string>[];
    expect(record).toEqual({
      tenant: "contoso.com",
      id: "1",
      userPrincipalName: "a@contoso.com",
      previousState: "",
      requestedState: "enforced",
      status: "failed",
      requestId: "",
      "error.code": "'=cmd",
      "error.message": 'Bad, "really"\nbad',
    });
  });

  it("prepends a BOM when asked", async () => {
    const { sink, text } = collector();
    await writeCsv(sink, ["a"], [{ a: "é" }], { bom: true });
    expect(text()).toBe("\uFEFFa\r\né\r\n");
  });

  it("rejects a write after end and needs columns", async () => {
    const writer = createCsvWriter(collector().sink, ["a"]);
    await writer.end();
    await expect(writer.write({ a: 1 })).rejects.toThrow(/after end/);
    expect(() => createCsvWriter(collector().sink, [])).toThrow(/column/);
  });

  it("waits for a sink whose write() returns a promise, one write at a time, in order", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const received: string[] = [];
    const sink = {
      write(text: string): Promise<void> {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return new Promise((resolve) =>
          setImmediate(() => {
            received.push(text);
            inFlight--;
            resolve();
          }),
        );
      },
    };
    const writer = createCsvWriter(sink, ["n"]);
    let waited = 0;
    for (let n = 0; n < 5000; n++) {
      let settled = false;
      const done = writer.write({ n: `${n}`.padStart(40, "0") }).then(() => (settled = true));
      await Promise.resolve();
      if (!settled) waited++;
      await done;
    }
    await writer.end();
    expect(maxInFlight).toBe(1);
    expect(waited).toBeGreaterThan(10);
    const lines = received.join("").split("\r\n");
    expect(lines[0]).toBe("n");
    expect(lines[5000]).toBe("4999".padStart(40, "0"));
    expect(lines).toHaveLength(5002);
  });

  it("surfaces a rejected write of an async sink", async () => {
    const writer = createCsvWriter({ write: () => Promise.reject(new Error("EACCES")) }, ["a"]);
    const attempt = async () => {
      for (let i = 0; i < 1000; i++) await writer.write({ a: "x".repeat(100) });
      await writer.end();
    };
    await expect(attempt()).rejects.toThrow(/EACCES/);
  });

  it("surfaces an error of the destination stream", async () => {
    const failing = new Writable({
      highWaterMark: 16,
      write(_chunk, _enc, callback) {
        callback(new Error("disk full"));
      },
    });
    const writer = createCsvWriter(failing, ["a"]);
    const attempt = async () => {
      for (let i = 0; i < 1000; i++) await writer.write({ a: "x".repeat(100) });
      await writer.end();
    };
    await expect(attempt()).rejects.toThrow(/disk full/);
  });

  it("applies backpressure: write() waits while a slow destination is full", async () => {
    let maxBuffered = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(_chunk: Buffer, _enc, callback) {
        maxBuffered = Math.max(maxBuffered, slow.writableLength);
        setImmediate(callback);
      },
    });
    const writer = createCsvWriter(slow, ["n", "text"]);
    let waited = 0;
    for (let n = 0; n < 2000; n++) {
      let settled = false;
      const done = writer.write({ n, text: "y".repeat(200) }).then(() => (settled = true));
      await Promise.resolve();
      if (!settled) waited++;
      await done;
    }
    await writer.end();
    expect(waited).toBeGreaterThan(10);
    // Data in flight stays near the highWaterMarks, far below the ~400 KB written.
    expect(maxBuffered).toBeLessThan(64 * 1024);
  });
});

describe("createCsvWriter at scale", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "mfactl-csv-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes 100,000 rows to a file with flat memory", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const path = join(dir, "report.csv");
    const file = createWriteStream(path);
    const writer = createCsvWriter(file, ["tenant", "id", "userPrincipalName", "displayName", "userType", "accountEnabled", "isLicensed", "perUserMfaState"], { closeOutput: true });
    const padding = "x".repeat(200);
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = 0;
    for (let i = 0; i < 100_000; i++) {
      await writer.write({
        tenant: "contoso.onmicrosoft.com",
        id: `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`,
        userPrincipalName: `user${i}@contoso.com`,
        displayName: `=User ${i} ${padding}`,
        userType: "Member",
        accountEnabled: true,
        isLicensed: i % 3 === 0,
        perUserMfaState: "enabled",
      });
      if (i % 20_000 === 19_999) {
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - baseline);
      }
    }
    await writer.end();
    const size = (await stat(path)).size;
    // ~33 MB went out; what stays on the heap while writing is bounded by the stream buffers.
    expect(size).toBeGreaterThan(30_000_000);
    expect(peak).toBeLessThan(8 * 1024 * 1024);

    // Spot-check the file end to end.
    let count = 0;
    let last: Record<string, string> | undefined;
    for await (const record of createReadStream(path).pipe(parse({ columns: true }))) {
      count++;
      last = record as Record<string, string>;
    }
    expect(count).toBe(100_000);
    expect(last?.displayName).toBe(`'=User 99999 ${padding}`);
    expect(last?.isLicensed).toBe("true");
  });

  it("closeOutput leaves a complete file; without it the stream stays open", async () => {
    const path = join(dir, "open.csv");
    const file = createWriteStream(path);
    await writeCsv(file, ["a"], [{ a: 1 }]);
    expect(file.writableEnded).toBe(false);
    file.write("tail\r\n");
    file.end();
    await once(file, "close");
    expect(await readFile(path, "utf8")).toBe("a\r\n1\r\ntail\r\n");
  });
});
