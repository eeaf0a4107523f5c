import { hostname } from "node:os";
import { Command, Option } from "commander";
import { checkPlanGuards, createEnforcePlan, startPlanRun } from "@mfactl/core";
import { changeQuestion, confirm, countBy } from "../confirm.js";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { addGuardOptions, pickGuards, type GuardFlags } from "../guard-options.js";
import { CHANGE_FORMATS } from "../render/changes.js";
import { carryOutRun, runContext, type RunOutputFlags } from "../run-output.js";
import { renderJson } from "../output.js";
import { progressFor } from "../progress-events.js";
import { addPolicyOptions, policyTenants, readPolicy, reportTenantNotes, type PolicyFlags } from "./drift.js";
import { renderPlan, writePlanFile } from "./plan.js";
import type { CommandRunner } from "./types.js";

interface EnforceFlags extends PolicyFlags, GuardFlags, RunOutputFlags {
  dryRun?: boolean;
  planOut?: string;
  force?: boolean;
  yes?: boolean;
  checkMethods: boolean;
}

export function enforceCommand(run: CommandRunner): Command {
  const cmd = new Command("enforce")
    .summary("plan and apply what a desired-state policy asks for (the drift), journaled")
    .description(
      "Measure the tenants against the policy (as drift does), make a plan of the users in drift and apply it through the " +
        "journal, as `mfactl plan` + `mfactl apply` would: each user re-read first, conflicts left alone, protected accounts " +
        "left out, the run-size cap honoured. Break-glass accounts and exclusions are never changed.",
    )
    .option("-n, --dry-run", "show the plan; change nothing")
    .option("--plan-out <file>", "write the plan to a file (apply it later with mfactl apply) instead of applying it")
    .option("--force", "change users whose state changes between the measurement and the change")
    .option("-y, --yes", "do not ask for confirmation (needed when not on a terminal)")
    .option("--no-check-methods", "do not look up registered methods for users to be enforced (no NoRegisteredMethod warnings)")
    .addOption(new Option("-o, --output <format>", "output format of the results").choices(CHANGE_FORMATS).default("table"))
    .option("--out <file>", "write the results to a file instead of stdout")
    .option("--failed-out <file>", "write the failed and conflicting users as CSV");
  addPolicyOptions(cmd);
  addGuardOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  $ mfactl enforce --policy policy.yaml --dry-run
  $ mfactl enforce --policy policy.yaml --all-tenants --yes --max-changes 10%
  $ mfactl enforce --policy policy.yaml --plan-out plan.json && mfactl apply plan.json
Exit codes: 0 no drift left, 1 a user or tenant failed or conflicted, 2 bad usage, policy file or guard rail (nothing
changed), 130 declined or interrupted. Docs: docs/commands/enforce.md and docs/policy.md`,
  );
  return cmd.action((flags: EnforceFlags) =>
    run(async (ctx: CommandContext, retry) => {
      const policy = await readPolicy(flags.policy);
      const scope = await policyTenants(ctx, flags, policy);
      const tenants = scope.tenants;
      const guards = pickGuards(flags, ctx);
      const engine = ctx.engine(retry);
      const runCtx = flags.dryRun || flags.planOut ? undefined : await runContext(ctx, retry);
      const progress = progressFor(ctx, { quiet: flags.quiet === true || flags.output === "json", tenantCount: tenants.length });
      let enforcePlan;
      try {
        enforcePlan = await createEnforcePlan(engine, policy, tenants, {
          actor: ctx.actor(),
          host: hostname(),
          description: `enforce ${flags.policy}`,
          protectedList: guards.protectedList,
          includeProtected: guards.includeProtected,
          checkMethods: flags.checkMethods,
          readStrategy: flags.readStrategy,
          namedTenants: scope.named,
          signal: ctx.io.signal,
          onProgress: progress.onEvent,
        });
      } finally {
        progress.stop();
      }
      const { plan, outcomes, protectedAccounts } = enforcePlan;
      reportTenantNotes(ctx, outcomes);
      const leftOut = plan.leftOut;
      const failures = plan.failures;
      const failedTenants = failures.length > 0;

      if (flags.planOut) {
        await writePlanFile(ctx, flags.planOut, plan);
        ctx.err.write(`plan ${flags.planOut}: ${plan.items.length} to change, ${leftOut.length} left out. Apply it with: mfactl apply ${flags.planOut}\n`);
        return failedTenants ? EXIT.failed : EXIT.ok;
      }
      if (flags.dryRun || plan.items.length === 0) {
        if (plan.items.length === 0) ctx.err.write("No drift to enforce; nothing was changed.\n");
        else ctx.out.write(flags.output === "json" ? renderJson(plan) : renderPlan({ ...plan, digest: "" }));
        if (flags.dryRun && plan.items.length) ctx.err.write("dry run: nothing was changed.\n");
        return failedTenants ? EXIT.failed : EXIT.ok;
      }
      const perTenant = countBy(plan.items, (i) => i.tenant);
      const applyGuards = { force: flags.force, includeProtected: guards.includeProtected, maxChanges: guards.maxChanges, protectedAccounts };
      checkPlanGuards({ ...plan, digest: "" }, applyGuards);
      if (!(await confirm(ctx, changeQuestion("Enforce the policy: change", perTenant, undefined), flags.yes))) {
        ctx.err.write("Nothing was changed.\n");
        return EXIT.interrupted;
      }
      const record = await startPlanRun(runCtx!, { ...plan, digest: "" }, applyGuards, "enforce");
      const code = await carryOutRun(ctx, runCtx!, record, { reread: true, flags, perTenant });
      return failedTenants && code === EXIT.ok ? EXIT.failed : code;
    }),
  );
}
