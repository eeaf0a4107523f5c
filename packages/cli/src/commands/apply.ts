import { Command, Option } from "commander";
import { checkPlanGuards, PlanAlreadyRunError, startPlanRun, UsageError } from "@mfactl/core";
import { changeQuestion, confirm, countBy } from "../confirm.js";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { addGuardOptions, pickGuards, type GuardFlags } from "../guard-options.js";
import { CHANGE_FORMATS } from "../render/changes.js";
import { carryOutRun, runContext, type RunOutputFlags } from "../run-output.js";
import { readPlanFile } from "./plan.js";
import type { CommandRunner } from "./types.js";

interface ApplyFlags extends GuardFlags, RunOutputFlags {
  force?: boolean;
  yes?: boolean;
}

export function applyCommand(run: CommandRunner): Command {
  const cmd = new Command("apply")
    .summary("carry out a plan file, journaled, re-reading each user first")
    .description(
      "Carry out a plan written by `mfactl plan` (or `enforce --plan-out`). Each user's state is read again first: a user whose " +
        "state is no longer the one in the plan is skipped as a conflict (--force changes it anyway). Every change is " +
        "recorded in the journal before it is sent and settled after it; a plan is carried out once.",
    )
    .argument("<plan>", "the plan file")
    .option("--force", "change users whose state differs from the plan's")
    .option("-y, --yes", "do not ask for confirmation (needed when not on a terminal)")
    .addOption(new Option("-o, --output <format>", "output format").choices(CHANGE_FORMATS).default("table"))
    .option("--out <file>", "write the results to a file instead of stdout")
    .option("--failed-out <file>", "write the failed and conflicting users as CSV, readable by bulk set --input")
    .option("-q, --quiet", "no progress display");
  addGuardOptions(cmd, "run");
  cmd.addHelpText(
    "after",
    `
Examples:
  $ mfactl apply plan.json
  $ mfactl apply plan.json --yes --output json
If the process is stopped (killed, a crash), \`mfactl resume <run>\` finishes the run; \`mfactl undo <run>\` reverts it.
Exit codes: 0 all done, 1 a user failed or conflicted, 2 bad plan file, guard rail or journal problem (nothing changed),
130 declined or interrupted. Docs: docs/commands/apply.md`,
  );
  return cmd.action((file: string, flags: ApplyFlags) =>
    run(async (ctx: CommandContext, retry) => {
      const plan = await readPlanFile(file);
      const guards = pickGuards(flags, ctx);
      if (plan.items.length === 0) {
        ctx.err.write(`${file}: the plan changes nobody; nothing to do.\n`);
        return EXIT.ok;
      }
      const runCtx = await runContext(ctx, retry);
      const applyGuards = { force: flags.force, includeProtected: guards.includeProtected, maxChanges: guards.maxChanges, protectedAccounts: guards.protectedAccounts };
      checkPlanGuards(plan, applyGuards);
      const perTenant = countBy(plan.items, (i) => i.tenant);
      const states = [...new Set(plan.items.map((i) => i.requestedState))].join("/");
      if (!(await confirm(ctx, changeQuestion("Change", perTenant, states), flags.yes, "`mfactl plan show` to review"))) {
        ctx.err.write("Nothing was changed.\n");
        return EXIT.interrupted;
      }
      let record;
      try {
        record = await startPlanRun(runCtx, plan, applyGuards);
      } catch (error) {
        if (error instanceof PlanAlreadyRunError) {
          throw new UsageError(`${file} was already carried out by run ${error.runId}: a plan is applied once. See \`mfactl runs show ${error.runId}\`; \`mfactl resume ${error.runId}\` finishes it if it was interrupted. Nothing was changed.`);
        }
        throw error;
      }
      return carryOutRun(ctx, runCtx, record, { reread: true, flags, perTenant });
    }),
  );
}
