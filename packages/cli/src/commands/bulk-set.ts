import { Command, Option } from "commander";
import {
  checkMaxChanges,
  createRun,
  MFA_STATES,
  planBulkSet,
  refuseProtected,
  tenantProtection,
  UsageError,
  validateBulkSet,
  type BulkUserRef,
  type ChangeTarget,
  type TenantOutcome,
  type UserMfaChange,
  type ValidatedBulk,
} from "@mfactl/core";
import { changeQuestion, confirm, countBy } from "../confirm.js";
import type { CommandContext } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { addGuardOptions, pickGuards, type GuardFlags } from "../guard-options.js";
import { progressFor } from "../progress-events.js";
import { CHANGE_FORMATS, writeChanges, writeFailed, type ChangeFormat } from "../render/changes.js";
import { readUserInput } from "../render/input-files.js";
import { carryOutRun, runContext } from "../run-output.js";
import { addFilterOptions, addTenantOptions, pickFilters, pickTenants, type FilterFlags, type TenantFlags } from "../selection-options.js";
import { describeTenantFailures } from "../tenant-summary.js";
import type { CommandRunner } from "./types.js";

export { CHANGE_CSV_COLUMNS } from "../render/changes.js";

interface BulkSetFlags extends TenantFlags, FilterFlags, GuardFlags {
  state: string;
  input?: string;
  users?: string;
  allUsers?: boolean;
  group?: string;
  exclude?: string;
  dryRun?: boolean;
  yes?: boolean;
  output: ChangeFormat;
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
    .option("-n, --dry-run", "read and report what would change; send nothing")
    .option("-y, --yes", "do not ask for confirmation (needed when not on a terminal)")
    .addOption(new Option("-o, --output <format>", "output format").choices(CHANGE_FORMATS).default("table"))
    .option("--out <file>", "write the results to a file instead of stdout")
    .option("--failed-out <file>", "write the failed and conflicting users as CSV, readable back with --input")
    .option("-q, --quiet", "no progress display");
  addSelectionOptions(cmd);
  addGuardOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  $ mfactl bulk set --tenant contoso.onmicrosoft.com --state enforced --input users.csv
  $ mfactl bulk set --all-tenants --state disabled --where-state enabled --guests --dry-run
  $ mfactl bulk set --tenants-file customers.csv --state enforced --licensed --members --yes --failed-out failed.csv
  $ mfactl bulk set --state enforced --input failed.csv --yes          # retry exactly the failed users
Every change is journaled (--db): see it with \`mfactl runs\`, revert it with \`mfactl undo <run>\`.
Protected accounts (the profile's protectedAccounts, directory synchronisation accounts) are left out of a
filter selection and refused when named, unless --include-protected; --max-changes caps the run.
Exit codes: 0 all done, 1 a user or tenant failed (the rest completed), 2 bad usage (nothing changed), 130 declined or interrupted.
Permissions: User.Read.All and Policy.ReadWrite.AuthenticationMethod. Docs: docs/commands/bulk-set.md`,
  );
  return cmd.action((flags: BulkSetFlags) =>
    run(async (ctx: CommandContext, retry) => {
      const validated = await selectionFromFlags(ctx, flags, flags.state, flags.dryRun === true);
      const guards = pickGuards(flags, ctx);

      const engine = ctx.engine(retry);
      // Open the journal before reading anything: a locked or corrupt database stops here.
      const runCtx = flags.dryRun ? undefined : await runContext(ctx, retry);
      const { protectedAccounts } = await tenantProtection(engine, validated.tenants, guards.protectedList, ctx.io.signal);
      const results: UserMfaChange[] = [];
      const targets: ChangeTarget[] = [];
      const outcomes: TenantOutcome[] = [];
      const refused: { tenant: string; userPrincipalName: string; reason: string }[] = [];
      let excluded = 0;
      let leftOut = 0;
      let selected = 0;
      const quiet = flags.quiet === true || flags.output === "json";

      const reading = progressFor(ctx, { quiet, tenantCount: validated.tenants.length });
      try {
        for await (const item of planBulkSet(engine, validated, { signal: ctx.io.signal, onProgress: reading.onEvent, protectedAccounts, includeProtected: guards.includeProtected })) {
          if (item.kind !== "tenant") selected++;
          if (item.kind === "change") targets.push(item.target);
          else if (item.kind === "result") results.push(item.change);
          else if (item.kind === "excluded") excluded++;
          else if (item.kind === "protected") {
            if (validated.usersByTenant) refused.push({ tenant: item.target.tenant, userPrincipalName: item.target.user.userPrincipalName, reason: item.reason });
            else leftOut++;
          } else outcomes.push(item.outcome);
        }
      } finally {
        reading.stop();
      }
      refuseProtected(refused);
      const wouldChange = flags.dryRun ? results.filter((r) => r.status === "wouldChange").length : targets.length;
      try {
        checkMaxChanges(wouldChange, selected, guards.maxChanges?.cap, guards.maxChanges?.source ?? "");
      } catch (error) {
        if (!flags.dryRun) throw error;
        ctx.err.write(`warning: without --dry-run this run would be refused: ${(error as Error).message}\n`);
      }

      const perTenant = countBy(targets, (t) => t.tenant);
      if (targets.length > 0 && !(await confirm(ctx, changeQuestion("Change", perTenant, flags.state.toLowerCase()), flags.yes || flags.dryRun))) {
        ctx.err.write("Nothing was changed.\n");
        return EXIT.interrupted;
      }
      const notes = [excluded ? `${excluded} excluded` : "", leftOut ? `${leftOut} protected left out` : ""].filter(Boolean).join(", ");
      const failedTenants = outcomes.filter((o) => o.status === "failed");
      let code: ExitCode;
      if (runCtx && targets.length > 0) {
        const runRecord = await createRun(
          runCtx,
          { kind: "bulk-set", description: `bulk set ${validated.state} (${validated.tenants.length} tenant${validated.tenants.length === 1 ? "" : "s"})`, includeProtected: guards.includeProtected },
          targets.map((t) => ({ tenant: t.tenant, id: t.user.id, userPrincipalName: t.user.userPrincipalName, requestedState: t.requestedState, expectedState: t.previousState })),
        );
        // After a prompt, time has passed: read each user again before changing it.
        code = await carryOutRun(ctx, runCtx, runRecord, { reread: !flags.yes, flags, perTenant, prior: results, note: notes || undefined });
      } else {
        await writeChanges(ctx, flags.output, flags.out, results);
        if (flags.failedOut) await writeFailed(ctx, flags.failedOut, results);
        if (flags.output !== "json") ctx.err.write(`${summary(results, notes, flags)}\n`);
        code = results.some((r) => r.status === "failed") ? EXIT.failed : EXIT.ok;
      }
      if (flags.output !== "json") ctx.err.write(`${outcomes.length - failedTenants.length} of ${outcomes.length} tenants completed.\n`);
      for (const line of describeTenantFailures(failedTenants)) ctx.err.write(`${line}\n`);
      return failedTenants.length && code === EXIT.ok ? EXIT.failed : code;
    }),
  );
}

export interface SelectionFlags extends TenantFlags, FilterFlags {
  input?: string;
  users?: string;
  allUsers?: boolean;
  group?: string;
  exclude?: string;
}

/** The selection options bulk set and plan share: users named or selected, tenants, filters. */
export function addSelectionOptions(cmd: Command): Command {
  cmd
    .option("-i, --input <file>", "CSV or JSON of users: a userPrincipalName, id or userId column, and a tenant column with several tenants")
    .option("--users <list>", "comma-separated UPNs or object ids (one tenant)")
    .option("--all-users", "every user of the tenants (no filter)")
    .option("-g, --group <id|name>", "members of this group, nested groups included (resolved in each tenant; combines with filters)")
    .option("--exclude <file>", "CSV or JSON of users to leave out (same columns as --input)");
  addTenantOptions(cmd);
  return addFilterOptions(cmd);
}

/** The selection bulk set and plan share, checked whole before anything is read. */
export async function selectionFromFlags(ctx: CommandContext, flags: SelectionFlags, state: string, dryRun: boolean): Promise<ValidatedBulk> {
  if (flags.input && flags.users) throw new UsageError("Give --input or --users, not both.");
  const users = flags.input ? await collectUsers(flags.input) : flags.users ? splitUsers(flags.users) : undefined;
  const exclude = flags.exclude ? (await collectUsers(flags.exclude)).map((u) => u.user) : [];
  const tenants = await pickTenants(flags, () => ctx.resolveSettings(), { required: users === undefined || users.every((u) => !u.tenant) });
  return validateBulkSet({
    tenants,
    state,
    ...(users ? { users } : {}),
    ...(flags.group ? { group: flags.group } : {}),
    filters: pickFilters(flags),
    allUsers: flags.allUsers === true,
    exclude,
    dryRun,
    readStrategy: flags.readStrategy,
  });
}

export async function collectUsers(path: string): Promise<BulkUserRef[]> {
  const users: BulkUserRef[] = [];
  for await (const row of readUserInput(path)) {
    users.push({ user: row.id || row.userPrincipalName || "", ...(row.tenant ? { tenant: row.tenant } : {}), line: row.line });
  }
  return users;
}

export function splitUsers(list: string): BulkUserRef[] {
  return list
    .split(",")
    .map((u) => u.trim())
    .filter((u) => u !== "")
    .map((user, i) => ({ user, line: i + 1 }));
}

function summary(results: UserMfaChange[], notes: string, flags: BulkSetFlags): string {
  const by = countBy(results, (r) => r.status);
  const parts = (flags.dryRun ? ["wouldChange", "unchanged", "failed"] : ["changed", "unchanged", "failed"]).map((s) => `${by.get(s) ?? 0} ${s}`);
  if (notes) parts.push(notes);
  const failedNote = flags.failedOut && by.get("failed") ? `; failed users written to ${flags.failedOut}` : "";
  return `${flags.dryRun ? "dry run: " : ""}${parts.join(", ")}${failedNote}.`;
}
