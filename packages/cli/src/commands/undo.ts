import { Command, Option } from "commander";
import { prepareUndo, RunNotFoundError, startUndoRun } from "@mfactl/core";
import { changeQuestion, confirm } from "../confirm.js";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { addGuardOptions, pickGuards, type GuardFlags } from "../guard-options.js";
import { CHANGE_FORMATS } from "../render/changes.js";
import { carryOutRun, runContext, type RunOutputFlags } from "../run-output.js";
import type { CommandRunner } from "./types.js";

interface UndoFlags extends GuardFlags, RunOutputFlags {
  force?: boolean;
  yes?: boolean;
}

export function undoCommand(run: CommandRunner): Command {
  const cmd = new Command("undo")
    .summary("put every user a run changed back to their previous state")
    .description(
      "Undo a run: every user it changed goes back to the state read before the change, only where the state is still " +
        "the one the run read back (a user changed since by someone else is reported as a conflict and left alone). " +
        "The undo is itself a journaled run, so it can be undone too. A run is undone once.",
    )
    .argument("<run>", "run id (or a unique prefix, or `last`): see `mfactl runs`")
    .option("--force", "restore users even where the state changed since the run")
    .option("-y, --yes", "do not ask for confirmation (needed when not on a terminal)")
    .addOption(new Option("-o, --output <format>", "output format").choices(CHANGE_FORMATS).default("table"))
    .option("--out <file>", "write the results to a file instead of stdout")
    .option("--failed-out <file>", "write the failed and conflicting users as CSV")
    .option("-q, --quiet", "no progress display");
  addGuardOptions(cmd, "run");
  cmd.addHelpText(
    "after",
    `
Examples:
  $ mfactl runs
  $ mfactl undo 20261201T211348Z-3f9a2c1b
  $ mfactl undo last --yes
Exit codes: 0 every user restored (or nothing to undo), 1 a user failed or conflicted, 2 bad usage or unknown run
(nothing changed), 130 declined or interrupted. Docs: docs/commands/undo.md`,
  );
  return cmd.action((ref: string, flags: UndoFlags) =>
    run(async (ctx: CommandContext, retry) => {
      const journal = await ctx.existingJournal();
      if (!journal) throw new RunNotFoundError(`No run ${ref}: there is no journal at ${ctx.journalPath()} (see --db).`, { runId: ref });
      const guards = pickGuards(flags, ctx);
      const prepared = await prepareUndo(journal, ctx.engine(retry), ref, guards, ctx.io.signal);
      const { target, changes, skipped, perTenant } = prepared;
      for (const s of skipped) ctx.err.write(`skipped: ${s.userPrincipalName} (${s.tenant}): ${s.reason}\n`);
      if (changes.length === 0) {
        ctx.err.write(`Run ${target.runId} changed nobody that can be restored; nothing to undo.\n`);
        return skipped.length ? EXIT.failed : EXIT.ok;
      }
      const runCtx = await runContext(ctx, retry);
      if (!(await confirm(ctx, changeQuestion(`Undo run ${target.runId}: restore`, perTenant, undefined), flags.yes, "`mfactl runs show` to review"))) {
        ctx.err.write("Nothing was changed.\n");
        return EXIT.interrupted;
      }
      const record = await startUndoRun(runCtx, prepared, { force: flags.force, includeProtected: guards.includeProtected });
      const code = await carryOutRun(ctx, runCtx, record, { reread: true, flags, perTenant });
      // Users that could not be restored count as failed.
      return skipped.length && code === EXIT.ok ? EXIT.failed : code;
    }),
  );
}
