import { hostname } from "node:os";
import { Command } from "commander";
import { createMigrationPlan, UsageError, type PlanBody } from "@mfactl/core";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { pickGuards } from "../guard-options.js";
import { progressFor } from "../progress-events.js";
import { addTenantOptions, pickTenants, type TenantFlags } from "../selection-options.js";
import { writePlanFile } from "./plan.js";
import type { CommandRunner } from "./types.js";

export function migrateCommand(run: CommandRunner): Command {
  return new Command("migrate")
    .summary("move from per-user MFA to Conditional Access or security defaults (migrate plan)")
    .description("Move tenants from per-user MFA to Conditional Access or security defaults, as Microsoft advises.")
    .addCommand(migratePlanCommand(run));
}

interface MigrateFlags extends TenantFlags {
  out?: string;
  includeProtected?: boolean;
  quiet?: boolean;
}

function migratePlanCommand(run: CommandRunner): Command {
  const cmd = new Command("plan")
    .summary("plan per-user MFA disabled for users Conditional Access (all apps) or security defaults already cover")
    .description(
      "Read each tenant's MFA posture (as `mfactl posture` does) and write a plan that sets per-user MFA to disabled for the " +
        "users it has made redundant: covered by a Conditional Access policy requiring MFA for all apps, or by security " +
        "defaults. Users whose only known protection is per-user MFA, or whose protection cannot be known, are listed as " +
        "left out (wouldLoseMfa), never included. Carry the plan out with `mfactl apply`.",
    )
    .option("--out <file>", "where to write the plan (JSON; - for stdout; required)")
    .option("--include-protected", "include protected accounts (the profile's protectedAccounts, directory synchronisation accounts) the plan would otherwise leave out")
    .option("-q, --quiet", "no progress display");
  addTenantOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  $ mfactl migrate plan --tenant contoso.onmicrosoft.com --out migrate.json
  $ mfactl plan show migrate.json
  $ mfactl apply migrate.json
Exit codes: 0 plan written, 1 a tenant failed (the plan has the others), 2 bad usage.
Permissions: as mfactl posture (User.Read.All, Policy.Read.All, AuditLog.Read.All, RoleManagement.Read.Directory,
GroupMember.Read.All). Docs: docs/commands/migrate.md`,
  );
  return cmd.action((flags: MigrateFlags) =>
    run(async (ctx: CommandContext, retry) => {
      if (flags.out === undefined) throw new UsageError("Where to? Give --out migrate.json (or --out - for stdout).");
      const out = flags.out;
      const tenants = await pickTenants(flags, () => ctx.resolveSettings(), { required: true });
      const guards = pickGuards({ includeProtected: flags.includeProtected === true }, ctx);
      const engine = ctx.engine(retry);
      const progress = progressFor(ctx, { quiet: flags.quiet === true || out === "-", tenantCount: new Set(tenants).size });
      let plan: PlanBody;
      try {
        plan = await createMigrationPlan(engine, tenants, {
          actor: ctx.actor(),
          host: hostname(),
          description: `migrate from per-user MFA to Conditional Access / security defaults (${new Set(tenants).size} tenant${new Set(tenants).size === 1 ? "" : "s"})`,
          protectedList: guards.protectedList,
          includeProtected: guards.includeProtected,
          signal: ctx.io.signal,
          onProgress: progress.onEvent,
        });
      } finally {
        progress.stop();
      }
      await writePlanFile(ctx, out, plan);
      const kept = plan.leftOut.filter((l) => l.reason === "wouldLoseMfa").length;
      ctx.err.write(
        `plan ${out === "-" ? "(stdout)" : out}: ${plan.items.length} to set disabled (covered by Conditional Access for all apps or security defaults); ` +
          `${kept} left out because per-user MFA is their only known protection; ${plan.leftOut.length - kept} protected accounts left out. Nothing was changed.\n`,
      );
      for (const f of plan.failures) ctx.err.write(`error: tenant ${f.tenant}: ${f.error.message}\n`);
      if (plan.items.length > 0 && out !== "-") ctx.err.write(`Review: mfactl plan show ${out}   Apply: mfactl apply ${out}\n`);
      return plan.failures.length ? EXIT.failed : EXIT.ok;
    }),
  );
}
