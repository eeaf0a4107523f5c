import type { UserMfaChange } from "@mfactl/core";
import { createCsvWriter } from "@mfactl/render";
import type { CommandContext } from "../context.js";
import { renderTable } from "../output.js";
import { openSink } from "../sink.js";

export const CHANGE_FORMATS = ["table", "json", "csv"] as const;
export type ChangeFormat = (typeof CHANGE_FORMATS)[number];

/** Columns of the CSV output and of --failed-out; `bulk set --input` reads this file back as it is. */
export const CHANGE_CSV_COLUMNS = ["tenant", "id", "userPrincipalName", "previousState", "requestedState", "perUserMfaState", "status", "requestId", "error.code", "error.message"] as const;

export const CHANGE_COLUMNS = [
  { header: "TENANT", value: (r: UserMfaChange) => r.tenant },
  { header: "USER", value: (r: UserMfaChange) => r.userPrincipalName },
  { header: "PREVIOUS", value: (r: UserMfaChange) => r.previousState },
  { header: "REQUESTED", value: (r: UserMfaChange) => r.requestedState },
  { header: "STATE", value: (r: UserMfaChange) => r.perUserMfaState },
  { header: "STATUS", value: (r: UserMfaChange) => r.status },
  { header: "REQUEST ID", value: (r: UserMfaChange) => r.requestId },
];

export function flattenChange(r: UserMfaChange): Record<string, unknown> {
  const { error, warnings: _w, ...rest } = r;
  return { ...rest, "error.code": error?.code, "error.message": error?.message };
}

export async function writeChanges(ctx: CommandContext, format: ChangeFormat, out: string | undefined, results: readonly UserMfaChange[]): Promise<void> {
  const sink = await openSink(out, ctx.out);
  try {
    if (format === "json") await sink.write(`${JSON.stringify(results, null, 2)}\n`);
    else if (format === "csv") {
      const csv = createCsvWriter(sink, CHANGE_CSV_COLUMNS);
      for (const r of results) await csv.write(flattenChange(r));
      await csv.end();
    } else await sink.write(renderTable(results, CHANGE_COLUMNS));
  } finally {
    await sink.close();
  }
}

/** The users that failed or conflicted, as CSV that `bulk set --input` reads back. */
export async function writeFailed(ctx: CommandContext, path: string, results: readonly UserMfaChange[]): Promise<void> {
  const sink = await openSink(path, ctx.out);
  const csv = createCsvWriter(sink, CHANGE_CSV_COLUMNS);
  for (const r of results) if (r.status === "failed" || r.status === "conflict") await csv.write(flattenChange(r));
  await csv.end();
  await sink.close();
}
