import { Command, Option } from "commander";
import { JOURNAL_CHANGE_STATUSES, resolveRun, RunNotFoundError, UsageError, type JournalChange, type JournalChangeStatus, type RunRecord } from "@mfactl/core";
import { createCsvWriter } from "@mfactl/render";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { renderTable } from "../output.js";
import { openSink } from "../sink.js";
import type { CommandRunner } from "./types.js";

const RUNS_FORMATS = ["table", "json", "csv"] as const;
type RunsFormat = (typeof RUNS_FORMATS)[number];

export const RUN_CSV_COLUMNS = ["runId", "kind", "status", "actor", "host", "startedAt", "finishedAt", "description", "planId", "undoOf", "total", "changed", "unchanged", "failed", "conflict", "pending", "inFlight"] as const;
export const JOURNAL_CSV_COLUMNS = ["runId", "seq", "tenant", "id", "userPrincipalName", "expectedState", "previousState", "requestedState", "perUserMfaState", "status", "requestId", "error.code", "error.message", "sentAt", "updatedAt"] as const;

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function runsCommand(run: CommandRunner): Command {
  const cmd = new Command("runs")
    .summary("list the journal's runs: who changed what, when, and how it ended")
    .description("List the runs in the journal, newest first: every set, bulk set, apply, enforce and undo, with its actor, host, time and counts.")
    .option("--limit <n>", "how many runs (default 50)")
    .option("--unfinished", "only runs that are not complete (running, or interrupted: resume them)")
    .addOption(new Option("-o, --output <format>", "output format").choices(RUNS_FORMATS).default("table"))
    .option("--out <file>", "write to a file instead of stdout")
    .addHelpText(
      "after",
      `
Statuses: running (in progress, or its process died: resume it), completed, interrupted (resume it).
Examples:
  $ mfactl runs
  $ mfactl runs --unfinished --output json
  $ mfactl runs show 20261201T211348Z-3f9a2c1b --output csv --out changes.csv
Docs: docs/commands/runs.md and docs/journal.md`,
    );
  cmd.addCommand(runsShowCommand(run));
  return cmd.action((flags: { limit?: string; unfinished?: boolean; output: RunsFormat; out?: string }) =>
    run(async (ctx: CommandContext) => {
      const limit = flags.limit === undefined ? 50 : Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new UsageError(`Invalid --limit ${JSON.stringify(flags.limit)}: expected a whole number from 1 to 100000.`);
      const journal = await ctx.existingJournal();
      if (!journal) {
        if (flags.output === "json") ctx.out.write("[]\n");
        else if (flags.output === "csv") ctx.out.write(`${RUN_CSV_COLUMNS.join(",")}\n`);
        else ctx.out.write(`No runs: there is no journal at ${ctx.journalPath()} yet.\n`);
        return EXIT.ok;
      }
      const runs = (await journal.listRuns({ limit: flags.unfinished ? 100_000 : limit })).filter((r) => !flags.unfinished || r.status !== "completed").slice(0, limit);
      const sink = await openSink(flags.out, ctx.out);
      try {
        if (flags.output === "json") await sink.write(`${JSON.stringify(runs, null, 2)}\n`);
        else if (flags.output === "csv") {
          const csv = createCsvWriter(sink, RUN_CSV_COLUMNS);
          for (const r of runs) await csv.write(flattenRun(r));
          await csv.end();
        } else await sink.write(runs.length ? renderTable(runs, RUN_COLUMNS) : `No runs in ${journal.location}.\n`);
      } finally {
        await sink.close();
      }
      return EXIT.ok;
    }),
  );
}

function runsShowCommand(run: CommandRunner): Command {
  return new Command("show")
    .summary("list one run's changes")
    .description("List every change of a run: tenant, user, the state before, requested and read back, the result and the Graph request id.")
    .argument("<run>", "run id (or a unique prefix, or `last`)")
    .option("--status <status>", `only changes in this status: ${JOURNAL_CHANGE_STATUSES.join(", ")} (repeatable)`, collect)
    // -o/--output and --out belong to `runs` (commander gives a parent's options to the parent), so they are read from there.
    .addHelpText("after", "\nOptions of runs that apply here too: -o, --output <table|json|csv>, --out <file>.\nExample: mfactl runs show last --status failed --status conflict -o csv --out problems.csv")
    .action((ref: string, _local: unknown, command: Command) =>
      run(async (ctx: CommandContext) => {
        const flags = command.optsWithGlobals<{ status?: string[]; output: RunsFormat; out?: string }>();
        const statuses = flags.status?.map((s) => {
          const found = JOURNAL_CHANGE_STATUSES.find((k) => k.toLowerCase() === s.trim().toLowerCase());
          if (!found) throw new UsageError(`Invalid --status ${JSON.stringify(s)}: expected one of ${JOURNAL_CHANGE_STATUSES.join(", ")}.`);
          return found;
        });
        const journal = await ctx.existingJournal();
        if (!journal) throw new RunNotFoundError(`No run ${ref}: there is no journal at ${ctx.journalPath()} (see --db).`, { runId: ref });
        const target = await resolveRun(journal, ref);
        const changes = journal.changes(target.runId, statuses ? { status: statuses as JournalChangeStatus[] } : {});
        const sink = await openSink(flags.out, ctx.out);
        try {
          if (flags.output === "json") {
            // Streamed: a run of 100,000 changes is never held in memory.
            await sink.write(`{\n  "run": ${JSON.stringify(target, null, 2).replace(/\n/g, "\n  ")},\n  "changes": [`);
            let first = true;
            for await (const c of changes) {
              await sink.write(`${first ? "\n" : ",\n"}    ${JSON.stringify(c)}`);
              first = false;
            }
            await sink.write(`${first ? "" : "\n  "}]\n}\n`);
          } else if (flags.output === "csv") {
            const csv = createCsvWriter(sink, JOURNAL_CSV_COLUMNS);
            for await (const c of changes) await csv.write(flattenJournalChange(c));
            await csv.end();
          } else {
            const rows: JournalChange[] = [];
            for await (const c of changes) rows.push(c);
            await sink.write(`${describeRun(target)}\n\n${renderTable(rows, CHANGE_COLUMNS)}`);
          }
        } finally {
          await sink.close();
        }
        return EXIT.ok;
      }),
    );
}

const RUN_COLUMNS = [
  { header: "RUN", value: (r: RunRecord) => r.runId },
  { header: "KIND", value: (r: RunRecord) => r.kind },
  { header: "STATUS", value: (r: RunRecord) => r.status },
  { header: "STARTED", value: (r: RunRecord) => r.startedAt },
  { header: "ACTOR", value: (r: RunRecord) => r.actor },
  { header: "HOST", value: (r: RunRecord) => r.host },
  { header: "USERS", value: (r: RunRecord) => String(r.total) },
  { header: "RESULT", value: (r: RunRecord) => countsText(r) },
  { header: "WHAT", value: (r: RunRecord) => r.description },
];

const CHANGE_COLUMNS = [
  { header: "TENANT", value: (c: JournalChange) => c.tenant },
  { header: "USER", value: (c: JournalChange) => c.userPrincipalName },
  { header: "BEFORE", value: (c: JournalChange) => c.previousState },
  { header: "REQUESTED", value: (c: JournalChange) => c.requestedState },
  { header: "READ BACK", value: (c: JournalChange) => c.perUserMfaState },
  { header: "STATUS", value: (c: JournalChange) => c.status },
  { header: "REQUEST ID", value: (c: JournalChange) => c.requestId },
  { header: "ERROR", value: (c: JournalChange) => (c.error ? `${c.error.code}: ${c.error.message}` : undefined) },
];

function countsText(r: RunRecord): string {
  return JOURNAL_CHANGE_STATUSES.filter((s) => r.counts[s] > 0)
    .map((s) => `${r.counts[s]} ${s}`)
    .join(", ");
}

function describeRun(r: RunRecord): string {
  return [
    `Run ${r.runId} (${r.kind}): ${r.description}`,
    `  ${r.status}; started ${r.startedAt}${r.finishedAt ? `, finished ${r.finishedAt}` : ""} by ${r.actor} on ${r.host}`,
    `  ${r.total} users: ${countsText(r) || "none"}${r.undoOf ? `; undoes run ${r.undoOf}` : ""}${r.planId && !r.planId.startsWith("undo:") ? `; plan ${r.planId}` : ""}`,
  ].join("\n");
}

function flattenRun(r: RunRecord): Record<string, unknown> {
  return { ...r, ...r.counts, owner: undefined, options: undefined, counts: undefined };
}

function flattenJournalChange(c: JournalChange): Record<string, unknown> {
  const { error, ...rest } = c;
  return { ...rest, "error.code": error?.code, "error.message": error?.message };
}
