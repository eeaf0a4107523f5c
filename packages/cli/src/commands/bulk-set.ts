import { createInterface } from "node:readline/promises";
import { Command, Option } from "commander";
import {
  applyBulkSet,
  MFA_STATES,
  planBulkSet,
  UsageError,
  validateBulkSet,
  type BulkUserRef,
  type ChangeTarget,
  type TenantOutcome,
  type UserMfaChange,
} from "@mfactl/core";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { renderTable } from "../output.js";
import { progressFor } from "../progress-events.js";
import { createCsvWriter, readUserInput } from "../render/csv.js";
import { addFilterOptions, addTenantOptions, pickFilters, pickTenants, type FilterFlags, type TenantFlags } from "../selection-options.js";
import { openSink } from "../sink.js";
import { describeTenantFailures } from "../tenant-summary.js";
import { SET_COLUMNS } from "./set.js";
import type { CommandRunner } from "./types.js";

const BULK_FORMATS = ["table", "json", "csv"] as const;
type BulkFormat = (typeof BULK_FORMATS)[number];

/** Columns of the CSV output and of --failed-out; `--input` reads this file back as it is. */
export const CHANGE_CSV_COLUMNS = ["tenant", "id", "userPrincipalName", "previousState", "requestedState", "perUserMfaState", "status", "requestId", "error.code", "error.message"] as const;

interface BulkSetFlags extends TenantFlags, FilterFlags {
  state: string;
  input?: string;
  users?: string;
  allUsers?: boolean;
  exclude?: string;
  dryRun?: boolean;
  yes?: boolean;
  output: BulkFormat;
  out?: string;
  failedOut?: string;
  quiet?: boolean;
}

export function bulkCommand(run: CommandRunner): Command {
  return new Command("bulk").summary("change many users at once (bulk set)").description("Change many users' per-user MFA state at once.").addCommand(bulkSetCommand(run));
}

function bulkSetCommand(run: CommandRunner): Command {
  const cmd = new Command("set")
    .summary("set the per-user MFA state of many users in one or many tenants")
    .description(
      "Set many users' per-user MFA state: reads every selected user first, changes only those that need it (batched, " +
        "paced to Microsoft's throttling limits), and confirms each change by reading it back.",
    )
    .requiredOption("-s, --state <state>", `${MFA_STATES.join(" | ")} (case-insensitive)`)
    .option("-i, --input <file>", "CSV or JSON of users: a userPrincipalName, id or userId column, and a tenant column with several tenants")
    .option("--users <list>", "comma-separated UPNs or object ids (one tenant)")
    .option("--all-users", "every user of the tenants (no filter)")
    .option("--exclude <file>", "CSV or JSON of users to leave alone (same columns as --input)")
    .option("-n, --dry-run", "read and report what would change; send nothing")
    .option("-y, --yes", "do not ask for confirmation (needed when not on a terminal)")
    .addOption(new Option("-o, --output <format>", "output format").choices(BULK_FORMATS).default("table"))
    .option("--out <file>", "write the results to a file instead of stdout")
    .option("--failed-out <file>", "write the failed users as CSV, readable back with --input")
    .option("-q, --quiet", "no progress display");
  addTenantOptions(cmd);
  addFilterOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  $ mfactl bulk set --tenant contoso.onmicrosoft.com --state enforced --input users.csv
  $ mfactl bulk set --all-tenants --state disabled --where-state enabled --guests --dry-run
  $ mfactl bulk set --tenants-file customers.csv --state enforced --licensed --members --yes --failed-out failed.csv
  $ mfactl bulk set --state enforced --input failed.csv --yes          # retry exactly the failed users
Exit codes: 0 all done, 1 a user or tenant failed (the rest completed), 2 bad usage (nothing changed), 130 declined or interrupted.
Permissions: User.Read.All and Policy.ReadWrite.AuthenticationMethod. Docs: docs/commands/bulk-set.md`,
  );
  return cmd.action((flags: BulkSetFlags) =>
    run(async (ctx: CommandContext, retry) => {
      const selections = [flags.input ? "--input" : undefined, flags.users ? "--users" : undefined].filter(Boolean);
      if (selections.length > 1) throw new UsageError("Give --input or --users, not both.");
      const users = flags.input ? await collectUsers(flags.input) : flags.users ? splitUsers(flags.users) : undefined;
      const exclude = flags.exclude ? (await collectUsers(flags.exclude)).map((u) => u.user) : [];
      const tenants = await pickTenants(flags, () => ctx.resolveSettings(), { required: users === undefined || users.every((u) => !u.tenant) });
      const validated = validateBulkSet({
        tenants,
        state: flags.state,
        ...(users ? { users } : {}),
        filters: pickFilters(flags),
        allUsers: flags.allUsers === true,
        exclude,
        dryRun: flags.dryRun === true,
        readStrategy: flags.readStrategy,
      });

      const engine = ctx.engine(retry);
      const results: UserMfaChange[] = [];
      const targets: ChangeTarget[] = [];
      const outcomes: TenantOutcome[] = [];
      let excluded = 0;
      const quiet = flags.quiet === true || flags.output === "json";

      const reading = progressFor(ctx, { quiet, tenantCount: validated.tenants.length });
      try {
        for await (const item of planBulkSet(engine, validated, { signal: ctx.io.signal, onProgress: reading.onEvent })) {
          if (item.kind === "change") targets.push(item.target);
          else if (item.kind === "result") results.push(item.change);
          else if (item.kind === "excluded") excluded++;
          else outcomes.push(item.outcome);
        }
      } finally {
        reading.stop();
      }

      if (targets.length > 0 && !(await confirm(ctx, flags, targets))) {
        ctx.err.write("Nothing was changed.\n");
        return EXIT.interrupted;
      }
      if (targets.length > 0) {
        const writing = progressFor(ctx, { quiet, tenantCount: new Set(targets.map((t) => t.tenant)).size });
        const perTenant = countBy(targets, (t) => t.tenant);
        for (const [tenant, n] of perTenant) writing.onEvent({ type: "listed", tenant, count: n });
        try {
          for await (const change of applyBulkSet(engine, targets, { signal: ctx.io.signal })) {
            writing.onEvent({ type: "progress", tenant: change.tenant, done: 0 });
            results.push(change);
          }
        } finally {
          writing.stop();
        }
      }

      await writeResults(ctx, flags, results);
      const failed = results.filter((r) => r.status === "failed");
      if (flags.failedOut) {
        const sink = await openSink(flags.failedOut, ctx.out);
        const csv = createCsvWriter(sink, CHANGE_CSV_COLUMNS);
        for (const r of failed) await csv.write(flatten(r));
        await csv.end();
        await sink.close();
      }
      const failedTenants = outcomes.filter((o) => o.status === "failed");
      if (flags.output !== "json") ctx.err.write(`${summary(results, excluded, outcomes, flags)}\n`);
      for (const line of describeTenantFailures(failedTenants)) ctx.err.write(`${line}\n`);
      return failed.length || failedTenants.length ? EXIT.failed : EXIT.ok;
    }),
  );
}

async function collectUsers(path: string): Promise<BulkUserRef[]> {
  const users: BulkUserRef[] = [];
  for await (const row of readUserInput(path)) {
    users.push({ user: row.id || row.userPrincipalName || "", ...(row.tenant ? { tenant: row.tenant } : {}), line: row.line });
  }
  return users;
}

function splitUsers(list: string): BulkUserRef[] {
  return list
    .split(",")
    .map((u) => u.trim())
    .filter((u) => u !== "")
    .map((user, i) => ({ user, line: i + 1 }));
}

async function confirm(ctx: CommandContext, flags: BulkSetFlags, targets: ChangeTarget[]): Promise<boolean> {
  if (flags.yes || flags.dryRun) return true;
  const counts = [...countBy(targets, (t) => t.tenant)].map(([tenant, n]) => `${tenant}: ${n}`);
  const question = `Change ${targets.length} user${targets.length === 1 ? "" : "s"} in ${counts.length} tenant${counts.length === 1 ? "" : "s"} (${counts.slice(0, 10).join(", ")}${counts.length > 10 ? ", ..." : ""}) to ${flags.state.toLowerCase()}?`;
  const stdin = process.stdin;
  if (!stdin.isTTY || !(ctx.io.stderr as NodeJS.WriteStream).isTTY) {
    throw new UsageError(`${question} Not on a terminal: add --yes to confirm (or --dry-run to preview). Nothing was changed.`);
  }
  const rl = createInterface({ input: stdin, output: ctx.io.stderr as NodeJS.WriteStream });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

function flatten(r: UserMfaChange): Record<string, unknown> {
  const { error, warnings: _w, ...rest } = r;
  return { ...rest, "error.code": error?.code, "error.message": error?.message };
}

async function writeResults(ctx: CommandContext, flags: BulkSetFlags, results: UserMfaChange[]): Promise<void> {
  const sink = await openSink(flags.out, ctx.out);
  try {
    if (flags.output === "json") await sink.write(`${JSON.stringify(results, null, 2)}\n`);
    else if (flags.output === "csv") {
      const csv = createCsvWriter(sink, CHANGE_CSV_COLUMNS);
      for (const r of results) await csv.write(flatten(r));
      await csv.end();
    } else await sink.write(renderTable(results, SET_COLUMNS));
  } finally {
    await sink.close();
  }
}

function summary(results: UserMfaChange[], excluded: number, outcomes: TenantOutcome[], flags: BulkSetFlags): string {
  const by = countBy(results, (r) => r.status);
  const parts = (flags.dryRun ? ["wouldChange", "unchanged", "failed"] : ["changed", "unchanged", "failed"]).map((s) => `${by.get(s) ?? 0} ${s}`);
  if (excluded) parts.push(`${excluded} excluded`);
  const failedTenants = outcomes.filter((o) => o.status === "failed").length;
  const tenants = `${outcomes.length - failedTenants} of ${outcomes.length} tenants completed`;
  const failedNote = flags.failedOut && by.get("failed") ? `; failed users written to ${flags.failedOut}` : "";
  return `${flags.dryRun ? "dry run: " : ""}${parts.join(", ")}; ${tenants}${failedNote}.`;
}
