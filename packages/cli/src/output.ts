/** Rendering for the CLI: tables for people, JSON for programs. Core returns data; this draws it. */

export const OUTPUT_FORMATS = ["table", "json"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface Column<T> {
  header: string;
  value: (row: T) => string | undefined;
}

/** A plain aligned table; cells never wrap, empty cells show "-". */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => sanitizeCell(c.value(row) ?? "-")));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n") + "\n";
}

export function renderJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

// Control characters in data (display names can hold anything) must not drive the terminal.
function sanitizeCell(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f-\u009f]/g, " ");
}
