import { Command, Option } from "commander";
import { claimForResume, resolveRun, RunNotFoundError } from "@mfactl/core";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { CHANGE_FORMATS } from "../render/changes.js";
import { carryOutRun, runContext, type RunOutputFlags } from "../run-output.js";
import type { CommandRunner } from "./types.js";

export function resumeCommand(run: CommandRunner): Command {
  return new Command("resume")
    .summary("finish a run that was interrupted or whose process died")
    .description(
      "Finish a run after a crash, a kill or an interruption: changes already confirmed are not sent again, changes that " +
        "were in flight are re-read and settled (sent again only if Graph still shows the state from before), and the rest " +
        "are carried out, each re-read first. Refused while the run's process is still alive.",
    )
    .argument("<run>", "run id (or a unique prefix, or `last`): see `mfactl runs`")
    .addOption(new Option("-o, --output <format>", "output format").choices(CHANGE_FORMATS).default("table"))
    .option("--out <file>", "write the results to a file instead of stdout")
    .option("--failed-out <file>", "write the failed and conflicting users as CSV")
    .option("-q, --quiet", "no progress display")
    .addHelpText(
      "after",
      `
Examples:
  $ mfactl runs --unfinished
  $ mfactl resume 20261201T211348Z-3f9a2c1b
Exit codes: 0 the run is complete (or was already), 1 a user failed or conflicted, 2 unknown run or still running
(nothing changed), 130 interrupted. Docs: docs/commands/resume.md`,
    )
    .action((ref: string, flags: RunOutputFlags) =>
      run(async (ctx: CommandContext, retry) => {
        const journal = await ctx.existingJournal();
        if (!journal) throw new RunNotFoundError(`No run ${ref}: there is no journal at ${ctx.journalPath()} (see --db).`, { runId: ref });
        const target = await resolveRun(journal, ref);
        if (target.status === "completed") {
          ctx.err.write(`Run ${target.runId} is complete: nothing to resume.\n`);
          return EXIT.ok;
        }
        const runCtx = await runContext(ctx, retry);
        const claimed = await claimForResume(runCtx, target);
        ctx.err.write(`resuming run ${claimed.runId}: ${claimed.counts.inFlight} in flight, ${claimed.counts.pending} not started, ${claimed.total - claimed.counts.inFlight - claimed.counts.pending} settled before.\n`);
        return carryOutRun(ctx, runCtx, claimed, { reread: true, flags });
      }),
    );
}
