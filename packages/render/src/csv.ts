/**
 * Streaming CSV output over `csv-stringify`, safe to open in a spreadsheet.
 *
 * Format (what readers of our CSV can rely on):
 * - UTF-8, a header line with the column names, records separated by CRLF (RFC 4180). A field is
 *   quoted when it holds a comma, a double quote (doubled inside) or a line break (CR or LF).
 *   `bom: true` prepends a byte order mark, which Excel needs to read non-ASCII names as UTF-8.
 * - Cells: `undefined` and `null` are empty; booleans are `true`/`false`; numbers as JavaScript prints
 *   them; dates as ISO 8601; arrays of plain values joined with `; `; any other object as JSON.
 * - Nested objects are flattened by naming the path as the column: the column `error.code` takes
 *   `row.error.code` (a key literally named `error.code` wins, so rows read back from CSV write the same).
 * - Formula injection (OWASP "CSV Injection"): a text cell starting with `=`, `+`, `-`, `@`, tab or
 *   carriage return (or the full-width `＝＋－＠` some spreadsheets also take as formulas) gets a
 *   single quote `'` in front. Numbers are data, not text, and are never prefixed, so a negative
 *   number stays `-2`; a negative number given as a string becomes `'-2`. To keep the escaping
 *   reversible, a text cell that starts with quotes followed by one of those characters gets one
 *   more quote as well; {@link unescapeFormula} undoes exactly one.
 */
import { once } from "node:events";
import { Writable } from "node:stream";
import { finished as finishedStream } from "node:stream/promises";
import { stringify, type Stringifier } from "csv-stringify";
import { escapeFormula } from "./formula.js";

export { escapeFormula, unescapeFormula } from "./formula.js";

/**
 * Where output goes: a Node Writable (a file, stdout), or anything with `write`. Backpressure
 * applies to a Writable, and to a sink whose `write` returns a promise (it is awaited before more
 * is written); a plain synchronous sink takes everything as it comes.
 */
export interface TextSink {
  write(chunk: string): unknown;
}

export interface CsvWriterOptions {
  /** Prepend a UTF-8 byte order mark (for Excel). Default false. */
  bom?: boolean | undefined;
  /**
   * When `out` is a Node Writable: end it in `end()` and wait until it has flushed (for a file that
   * this writer owns). Default false: stdout and streams the caller owns stay open.
   */
  closeOutput?: boolean | undefined;
}

export interface CsvWriter {
  /**
   * Add one row; the columns are taken from it by name (see the module comment). The promise
   * resolves at once while the destination keeps up and only when it has drained otherwise:
   * await it to keep memory flat however many rows.
   */
  write(row: Readonly<Record<string, unknown>>): Promise<void>;
  /** Flush everything into `out` (and close it with `closeOutput`). Call once, after the last write. */
  end(): Promise<void>;
  /** Rows written so far (without the header). */
  readonly rows: number;
}

/** The text of one cell, formula-safe. Exported for tests and other tabular outputs. */
export function csvCell(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  return escapeFormula(plainText(value));
}

function plainText(value: unknown): string {
  if (value === undefined || value === null) return "";
  switch (typeof value) {
    case "string":
      return value;
    case "boolean":
    case "number":
    case "bigint":
      return String(value);
    default:
      break;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "" : value.toISOString();
  if (Array.isArray(value)) {
    return value.map((item) => (item !== null && typeof item === "object" && !(item instanceof Date) ? JSON.stringify(item) : plainText(item))).join("; ");
  }
  return JSON.stringify(value) ?? "";
}

/** `row[column]`, or for a dotted column the nested value (`error.code` -> `row.error.code`). */
export function columnValue(row: Readonly<Record<string, unknown>>, column: string): unknown {
  if (Object.hasOwn(row, column)) return row[column];
  if (!column.includes(".")) return undefined;
  let current: unknown = row;
  for (const key of column.split(".")) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/**
 * A streaming CSV writer: header first, then one record per `write`. Memory stays flat when the
 * caller awaits each `write` (or uses {@link writeCsv}).
 */
export function createCsvWriter(out: TextSink, columns: readonly string[], options: CsvWriterOptions = {}): CsvWriter {
  if (columns.length === 0) throw new Error("createCsvWriter: at least one column is needed.");
  const stringifier: Stringifier = stringify({
    record_delimiter: "\r\n",
    // With an explicit record delimiter csv-stringify would quote only CRLF, not a lone CR or LF.
    quote_record_delimiter: true,
    bom: options.bom ?? false,
  });
  let failure: Error | undefined;
  let pending: Promise<void> | undefined;
  stringifier.on("error", (error: Error) => {
    failure ??= error;
  });

  const writable = out instanceof Writable ? out : undefined;
  const onWritableError = (error: Error) => {
    failure ??= error;
    stringifier.destroy(error);
  };
  if (writable) {
    // pipe() pauses the stringifier while the destination is full; our write() then waits for
    // the stringifier's own 'drain'. So backpressure reaches the caller. A failing destination
    // destroys the stringifier, which rejects whatever write() or end() is waiting for.
    stringifier.pipe(writable, { end: false });
    writable.on("error", onWritableError);
  } else {
    // A sink whose write() returns a promise (an async sink over a file) gets the same
    // backpressure: the stringifier pauses until that promise settles.
    stringifier.on("data", (chunk: Buffer | string) => {
      const result = out.write(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
      if (!isThenable(result)) return;
      stringifier.pause();
      pending = Promise.resolve(result).then(
        () => {
          pending = undefined;
          if (!stringifier.destroyed) stringifier.resume();
        },
        (error: unknown) => {
          const err = error instanceof Error ? error : new Error(String(error));
          failure ??= err;
          stringifier.destroy(err);
        },
      );
    });
  }
  const finished = once(stringifier, "end");
  // Errors surface from write()/end(); keep an unobserved rejection from crashing the process.
  finished.catch(() => undefined);

  stringifier.write([...columns]);
  let rows = 0;
  let ended = false;

  const throwIfFailed = () => {
    if (failure) throw failure;
  };

  return {
    get rows() {
      return rows;
    },
    async write(row) {
      throwIfFailed();
      if (ended) throw new Error("CSV writer: write() after end().");
      rows++;
      if (stringifier.write(columns.map((column) => csvCell(columnValue(row, column))))) return;
      await once(stringifier, "drain");
    },
    async end() {
      if (ended) return;
      ended = true;
      throwIfFailed();
      stringifier.end();
      await finished;
      await pending;
      throwIfFailed();
      if (writable) {
        stringifier.unpipe(writable);
        writable.off("error", onWritableError);
        if (options.closeOutput) {
          writable.end();
          await finishedStream(writable);
        }
      }
    },
  };
}

/** Write every row (sync or async iterable) with backpressure; resolves with the row count. */
export async function writeCsv(
  out: TextSink,
  columns: readonly string[],
  rows: AsyncIterable<Readonly<Record<string, unknown>>> | Iterable<Readonly<Record<string, unknown>>>,
  options: CsvWriterOptions = {},
): Promise<number> {
  const writer = createCsvWriter(out, columns, options);
  for await (const row of rows) await writer.write(row);
  await writer.end();
  return writer.rows;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}
