/**
 * Reading the files users give mfactl: users for `bulk set --input` / `--exclude`, tenants for
 * `--tenants-file`. CSV (csv-parse) or JSON, chosen by extension or, failing that, by content.
 *
 * - CSV: a header row, then one user a row. Header names are matched case-insensitively and
 *   without spaces, `_` or `-` (`User Principal Name` = `userPrincipalName`). The delimiter is
 *   `,`, or `;` / tab when the header line uses it (Excel in many locales). A UTF-8 BOM is
 *   skipped. Values are trimmed, and the formula prefix that our CSV writer adds (`'=...`) is
 *   removed, so a file written by `createCsvWriter` reads back as it was. Rows whose fields are all
 *   empty are skipped; a row with fewer fields than the header has empty trailing fields.
 * - JSON: an array of objects, or JSON Lines (one object a line). `.json` files may be either,
 *   `.jsonl`/`.ndjson` are JSON Lines, `.csv`/`.tsv`/`.txt` are CSV; other names are sniffed: `[`
 *   starts an array, `{` JSON Lines, anything else CSV. An array is read whole (it is a few MB for
 *   100,000 users); CSV and JSON Lines stream.
 *
 * Every problem is a UsageError naming the file and the line (the first line of a multi-line
 * CSV record, or the line where a JSON array element starts). Errors in a row are thrown when
 * that row is reached: read the whole input before acting on it.
 */
import { createReadStream } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { extname } from "node:path";
import { createInterface } from "node:readline";
import { UsageError, isGuid, tenantRefProblem, userRefProblem } from "@mfactl/core";
import { parse } from "csv-parse";
import { unescapeFormula } from "@mfactl/render";

export interface UserInputRecord {
  userPrincipalName?: string;
  /** The user's object id (GUID). */
  id?: string;
  tenant?: string;
  /** Where the record starts in the file (1-based; the header is line 1 in CSV). */
  line: number;
}

export type InputFormat = "csv" | "json" | "jsonl";

/** Accepted names (normalised: lower case, no spaces, `_` or `-`) for each field, in order of preference. */
const USER_FIELDS = {
  userPrincipalName: ["userprincipalname", "upn"],
  id: ["id", "userid"],
  tenant: ["tenant", "tenantid"],
} as const;
type UserField = keyof typeof USER_FIELDS;

const TENANT_KEYS = ["tenant", "tenantid", "domain", "defaultdomainname"] as const;

/** One record as read: raw values by original key, and where it starts. */
interface RawRecord {
  line: number;
  values: Map<string, unknown>;
}

/**
 * The users of an input file, streamed. Each record has a `userPrincipalName`, an `id`, or both
 * (the caller picks; `id` is exact), and a `tenant` when the file has that column.
 */
export async function* readUserInput(path: string, options: { format?: InputFormat | undefined } = {}): AsyncGenerator<UserInputRecord> {
  const format = options.format ?? (await detectFormat(path));
  const where = (line: number) => `${path}, line ${line}`;

  if (format === "csv") {
    let keys: Partial<Record<UserField, string>> | undefined;
    for await (const record of readCsvRecords(path, (headers, line) => {
      keys = pickUserColumns(headers, where(line));
    })) {
      yield toUserRecord(record, keys ?? {}, where(record.line));
    }
    return;
  }

  for await (const record of format === "json" ? readJsonArray(path) : readJsonLines(path)) {
    const keys = pickUserColumns([...record.values.keys()], where(record.line), record.values);
    yield toUserRecord(record, keys, where(record.line));
  }
}

/**
 * The tenants of a tenants file, in file order without duplicates (case-insensitive): a CSV with a
 * `tenant`, `tenantId`, `domain` or `defaultDomainName` column (the first of these present is
 * used), a CSV of tenants alone without a header, or JSON (array or lines) of strings or of
 * objects with such a key.
 */
export async function readTenantsFile(path: string, options: { format?: InputFormat | undefined } = {}): Promise<string[]> {
  const format = options.format ?? (await detectFormat(path));
  const where = (line: number) => `${path}, line ${line}`;
  const tenants = new Map<string, string>();
  const add = (value: unknown, line: number) => {
    if (typeof value !== "string") throw new UsageError(`${where(line)}: the tenant must be a string, not ${describe(value)}.`);
    const tenant = value.trim();
    if (tenant === "") throw new UsageError(`${where(line)}: the tenant is empty.`);
    const problem = tenantRefProblem(tenant);
    if (problem) throw new UsageError(`${where(line)}: ${problem}`);
    if (!tenants.has(tenant.toLowerCase())) tenants.set(tenant.toLowerCase(), tenant);
  };

  if (format === "csv") {
    let column: string | undefined;
    let headerless = false;
    for await (const record of readCsvRecords(path, (headers, line) => {
      column = TENANT_KEYS.map((key) => headers.find((h) => normalizeKey(h) === key)).find((h) => h !== undefined);
      if (column !== undefined) return;
      const only = headers.length === 1 ? headers[0]!.trim() : undefined;
      if (only !== undefined && tenantRefProblem(only) === undefined) {
        // A plain list of tenants, one a line, no header.
        headerless = true;
        add(only, line);
        return;
      }
      throw new UsageError(`${where(line)}: no tenant column: expected one of tenant, tenantId, domain, defaultDomainName; found ${listHeaders(headers)}.`);
    })) {
      const value = headerless ? [...record.values.values()][0] : record.values.get(column!);
      if (value === undefined || value === "") {
        throw new UsageError(`${where(record.line)}: the tenant is empty.`);
      }
      add(value, record.line);
    }
  } else {
    for await (const record of format === "json" ? readJsonArray(path, { allowStrings: true }) : readJsonLines(path, { allowStrings: true })) {
      const direct = record.values.get("");
      if (record.values.size === 1 && record.values.has("")) {
        add(direct, record.line);
        continue;
      }
      const key = TENANT_KEYS.map((k) => [...record.values.keys()].find((h) => normalizeKey(h) === k)).find((h) => h !== undefined);
      if (key === undefined) {
        throw new UsageError(`${where(record.line)}: no tenant: expected a string or an object with tenant, tenantId, domain or defaultDomainName.`);
      }
      add(record.values.get(key), record.line);
    }
  }
  if (tenants.size === 0) throw new UsageError(`${path}: no tenants in the file.`);
  return [...tenants.values()];
}

// ---------------------------------------------------------------------------------------------
// Field mapping

function normalizeKey(key: string): string {
  return key.replace(/[\s_-]/g, "").toLowerCase();
}

function listHeaders(headers: readonly string[]): string {
  return headers.length ? headers.map((h) => JSON.stringify(h)).join(", ") : "no columns";
}

/** Which original key holds each field; a duplicate (e.g. both `upn` and `userPrincipalName`) is an error. */
function pickUserColumns(headers: readonly string[], where: string, values?: Map<string, unknown>): Partial<Record<UserField, string>> {
  const keys: Partial<Record<UserField, string>> = {};
  for (const field of Object.keys(USER_FIELDS) as UserField[]) {
    const accepted: readonly string[] = USER_FIELDS[field];
    const present = headers.filter((h) => accepted.includes(normalizeKey(h)) && (values === undefined || !isEmpty(values.get(h))));
    if (present.length > 1) {
      throw new UsageError(`${where}: ${present.map((h) => JSON.stringify(h)).join(" and ")} both give the ${field}; keep one.`);
    }
    if (present[0] !== undefined) keys[field] = present[0];
  }
  if (keys.userPrincipalName === undefined && keys.id === undefined && values === undefined) {
    throw new UsageError(`${where}: no user column: expected userPrincipalName (or upn) or id (or userId); found ${listHeaders(headers)}.`);
  }
  return keys;
}

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === "string" && value.trim() === "");
}

function toUserRecord(record: RawRecord, keys: Partial<Record<UserField, string>>, where: string): UserInputRecord {
  const out: UserInputRecord = { line: record.line };
  for (const field of Object.keys(USER_FIELDS) as UserField[]) {
    const key = keys[field];
    if (key === undefined) continue;
    const value = record.values.get(key);
    if (isEmpty(value)) continue;
    if (typeof value !== "string") throw new UsageError(`${where}: ${key} must be a string, not ${describe(value)}.`);
    out[field] = value.trim();
  }
  if (out.userPrincipalName === undefined && out.id === undefined) {
    throw new UsageError(`${where}: no user: give a userPrincipalName (or upn) or an id (or userId).`);
  }
  if (out.id !== undefined && !isGuid(out.id)) {
    throw new UsageError(`${where}: invalid id ${JSON.stringify(out.id)}: expected an object id (GUID).`);
  }
  if (out.userPrincipalName !== undefined) {
    const problem = userRefProblem(out.userPrincipalName);
    if (problem) throw new UsageError(`${where}: ${problem}`);
  }
  if (out.tenant !== undefined) {
    const problem = tenantRefProblem(out.tenant);
    if (problem) throw new UsageError(`${where}: ${problem}`);
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

// ---------------------------------------------------------------------------------------------
// Formats

/** The format from the extension, else from the first character of the content. */
export async function detectFormat(path: string): Promise<InputFormat> {
  const ext = extname(path).toLowerCase();
  if (ext === ".jsonl" || ext === ".ndjson") return "jsonl";
  if (ext === ".csv" || ext === ".tsv" || ext === ".txt") return "csv";
  const first = firstChar(await readHead(path));
  if (first === "[") return "json";
  if (first === "{") return "jsonl";
  if (ext === ".json") {
    throw new UsageError(`${path}: expected a JSON array ([...]) or JSON Lines (one {...} a line).`);
  }
  return "csv";
}

async function readHead(path: string, bytes = 64 * 1024): Promise<string> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw new UsageError(`Cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`, { cause: error });
  }
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await handle.close();
  }
}

function firstChar(text: string): string | undefined {
  return /^\uFEFF?\s*(\S)/.exec(text)?.[1];
}

/** `,`, or `;` / tab when the header line has more of those (outside quotes) than commas. */
function sniffDelimiter(head: string): string {
  const firstLine = (head.replace(/^\uFEFF/, "").split(/\r\n|\n|\r/, 1)[0] ?? "").replace(/"[^"]*"/g, "");
  const count = (ch: string) => firstLine.split(ch).length - 1;
  const candidates: [string, number][] = [
    [",", count(",")],
    [";", count(";")],
    ["\t", count("\t")],
  ];
  return candidates.reduce((best, c) => (c[1] > best[1] ? c : best))[0];
}

/**
 * CSV records as maps from header to value (trimmed, formula prefix removed), each with the line it
 * starts on. `onHeader` sees the header first and may throw.
 *
 * Line numbers are counted here rather than taken from csv-parse, whose counter drifts on CRLF
 * files: every physical record spans 1 + the line breaks inside its (quoted) values, and empty
 * lines come through as records of one empty field.
 */
async function* readCsvRecords(path: string, onHeader: (headers: string[], line: number) => void): AsyncGenerator<RawRecord> {
  const delimiter = sniffDelimiter(await readHead(path, 16 * 1024));
  const source = createReadStream(path);
  const parser = source.pipe(
    parse({
      bom: true,
      delimiter,
      record_delimiter: ["\r\n", "\n", "\r"],
      relax_column_count: true,
      skip_empty_lines: false,
    }),
  );
  // pipe() does not forward a read error; hand it to the parser so the loop below sees it.
  source.on("error", (error) => parser.destroy(error));
  let nextLine = 1;
  let headers: string[] | undefined;
  try {
    for await (const fields of parser as AsyncIterable<string[]>) {
      const line = nextLine;
      nextLine += 1 + fields.reduce((n, f) => n + (f.match(/\r\n|\n|\r/g)?.length ?? 0), 0);
      if (fields.every((f) => f.trim() === "")) continue;
      if (headers === undefined) {
        headers = fields.map((f) => f.trim());
        onHeader(headers, line);
        continue;
      }
      if (fields.length > headers.length) {
        throw new UsageError(`${path}, line ${line}: ${fields.length} fields but the header has ${headers.length}; quote values that contain "${delimiter === "\t" ? "\\t" : delimiter}".`);
      }
      const values = new Map<string, unknown>();
      headers.forEach((header, i) => values.set(header, unescapeFormula((fields[i] ?? "").trim())));
      yield { line, values };
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const message = (error as Error).message.replace(/\s*at line \d+/, "");
    throw new UsageError(`${path}, line ${nextLine}: not valid CSV: ${message}`, { cause: error });
  } finally {
    parser.destroy();
    source.destroy();
  }
  if (headers === undefined) {
    onHeader([], 1);
  }
}

/** JSON Lines: one object (or, with allowStrings, one string) per non-empty line. */
async function* readJsonLines(path: string, options: { allowStrings?: boolean } = {}): AsyncGenerator<RawRecord> {
  const input = createReadStream(path, { encoding: "utf8" });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of lines) {
      line++;
      const trimmed = (line === 1 ? text.replace(/^\uFEFF/, "") : text).trim();
      if (trimmed === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(trimmed);
      } catch (error) {
        throw new UsageError(`${path}, line ${line}: not valid JSON: ${(error as Error).message}`, { cause: error });
      }
      yield toRawRecord(value, line, path, options.allowStrings ?? false);
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

/** A JSON array, read whole; each element's line is where it starts. */
async function* readJsonArray(path: string, options: { allowStrings?: boolean } = {}): AsyncGenerator<RawRecord> {
  const text = (await readFile(path, "utf8")).replace(/^\uFEFF/, "");
  for (const element of splitJsonArray(text, path)) {
    let value: unknown;
    try {
      value = JSON.parse(element.text);
    } catch (error) {
      throw new UsageError(`${path}, line ${element.line}: not valid JSON: ${(error as Error).message}`, { cause: error });
    }
    yield toRawRecord(value, element.line, path, options.allowStrings ?? false);
  }
}

function toRawRecord(value: unknown, line: number, path: string, allowStrings: boolean): RawRecord {
  if (allowStrings && typeof value === "string") return { line, values: new Map([["", value]]) };
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UsageError(`${path}, line ${line}: expected an object${allowStrings ? " or a string" : ""}, not ${describe(value)}.`);
  }
  return { line, values: new Map(Object.entries(value)) };
}

/**
 * The top-level elements of a JSON array as source slices with their starting line, so that an
 * error can name the line (JSON.parse does not say where). Only the array's structure is checked
 * here; each slice is then parsed on its own.
 */
export function splitJsonArray(text: string, path: string): { text: string; line: number }[] {
  const elements: { text: string; line: number }[] = [];
  let i = 0;
  let line = 1;
  const fail = (message: string): never => {
    throw new UsageError(`${path}, line ${line}: not a valid JSON array: ${message}.`);
  };
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) {
      if (text[i] === "\n") line++;
      i++;
    }
  };
  skipSpace();
  if (text[i] !== "[") fail("expected [");
  i++;
  skipSpace();
  if (text[i] === "]") {
    i++;
  } else {
    for (;;) {
      skipSpace();
      const start = i;
      const startLine = line;
      let depth = 0;
      let inString = false;
      for (; i < text.length; i++) {
        const ch = text[i]!;
        if (ch === "\n") line++;
        if (inString) {
          if (ch === "\\") i++;
          else if (ch === '"') inString = false;
          continue;
        }
        if (ch === '"') inString = true;
        else if (ch === "{" || ch === "[") depth++;
        else if (ch === "}" || ch === "]") {
          if (depth === 0) break;
          depth--;
        } else if (ch === "," && depth === 0) break;
      }
      if (i >= text.length) fail("it ends before its closing ]");
      const slice = text.slice(start, i).trimEnd();
      if (slice === "") fail(text[i] === "]" ? "a trailing comma" : "an empty element");
      elements.push({ text: slice, line: startLine });
      if (text[i] === "]") {
        i++;
        break;
      }
      i++; // the comma
    }
  }
  skipSpace();
  if (i < text.length) fail("unexpected text after the closing ]");
  return elements;
}
