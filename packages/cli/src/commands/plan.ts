import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { Command, Option } from "commander";
import { changeLimit, createPlan, MFA_STATES, parsePlan, serializePlan, UsageError, type PlanBody, type PlanFile, type PlanItem } from "@mfactl/core";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { addGuardOptions, pickGuards, type GuardFlags } from "../guard-options.js";
import { OUTPUT_FORMATS, renderJson, renderTable, type OutputFormat } from "../output.js";
import { progressFor } from "../progress-events.js";
import type { FilterFlags, TenantFlags } from "../selection-options.js";
import { openSink } from "../sink.js";
import { addSelectionOptions, selectionFromFlags } from "./bulk-set.js";
import type { CommandRunner } from "./types.js";

interface PlanFlags extends TenantFlags, FilterFlags, GuardFlags {
  state?: string;
  input?: string;
  users?: string;
  allUsers?: boolean;
  group?: string;
  exclude?: string;
  out?: string;
  checkMethods: boolean;
  quiet?: boolean;
}

export function planCommand(run: CommandRunner): Command {
  const cmd = new Command("plan")
    .summary("write down what a bulk change would do, with warnings, to review and apply later")
    .description(
      "Read every selected user (the same selection as bulk set, plus --group) and write a plan file: per user the " +
        "tenant, id, UPN, current state, requested state and warnings. Nothing is changed. Review it with " +
        "`mfactl plan show`, carry it out with `mfactl apply`.",
    )
    // Not requiredOption: commander would then demand them of `plan show` too.
    .option("-s, --state <state>", `${MFA_STATES.join(" | ")} (case-insensitive; required)`)
    .option("--out <file>", "where to write the plan (JSON; - for stdout; required)")
    .option("--no-check-methods", "do not look up registered methods (no NoRegisteredMethod warnings; saves one request per user planned enforced)")
    .option("-q, --quiet", "no progress display");
  addSelectionOptions(cmd);
  addGuardOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  $ mfactl plan --tenant contoso.onmicrosoft.com --state enforced --licensed --members --out plan.json
  $ mfactl plan --all-tenants --state enforced --group "All Staff" --out plan.json
  $ mfactl plan show plan.json
  $ mfactl apply plan.json
Warnings: NoRegisteredMethod (enforced, no MFA method: legacy apps break), AdminLosesMfa, ProtectedAccount.
Exit codes: 0 plan written, 1 a user or tenant could not be read (the plan has the rest), 2 bad usage.
Permissions: User.Read.All, Policy.Read.All; GroupMember.Read.All (--group), RoleManagement.Read.Directory
(admins, directory synchronisation accounts), UserAuthenticationMethod.Read.All (warnings). Docs: docs/commands/plan.md`,
  );
  cmd.addCommand(planShowCommand(run));
  return cmd.action((flags: PlanFlags) =>
    run(async (ctx: CommandContext, retry) => {
      if (flags.state === undefined) throw new UsageError("Which state? Give --state disabled|enabled|enforced.");
      if (flags.out === undefined) throw new UsageError("Where to? Give --out plan.json (or --out - for stdout).");
      const out = flags.out;
      const validated = await selectionFromFlags(ctx, flags, flags.state, false);
      const guards = pickGuards(flags, ctx);
      const engine = ctx.engine(retry);
      const progress = progressFor(ctx, { quiet: flags.quiet === true || out === "-", tenantCount: validated.tenants.length });
      let plan: PlanBody;
      try {
        plan = await createPlan(engine, validated, {
          actor: ctx.actor(),
          host: hostname(),
          command: "plan",
          description: describeSelection(flags, validated.state, validated.tenants.length),
          protectedList: guards.protectedList,
          includeProtected: guards.includeProtected,
          checkMethods: flags.checkMethods,
          signal: ctx.io.signal,
          onProgress: progress.onEvent,
        });
      } finally {
        progress.stop();
      }
      await writePlanFile(ctx, out, plan);
      const s = plan.summary;
      ctx.err.write(
        `plan ${out === "-" ? "(stdout)" : out}: ${s.changes} to change (${s.warnings} warning${s.warnings === 1 ? "" : "s"}), ${s.unchanged} already ${validated.state}, ` +
          `${s.leftOut} left out, ${s.failed} failed, of ${s.selected} users read. Nothing was changed.\n`,
      );
      if (guards.maxChanges && s.changes > changeLimit(guards.maxChanges.cap, s.selected)) {
        ctx.err.write(`warning: ${s.changes} changes exceed ${guards.maxChanges.source} (${guards.maxChanges.cap.text}): apply will refuse this plan unless given a higher --max-changes.\n`);
      }
      for (const f of plan.failures) ctx.err.write(`error: ${f.userPrincipalName ? `${f.userPrincipalName} (${f.tenant})` : `tenant ${f.tenant}`}: ${f.error.message}\n`);
      if (s.changes > 0 && out !== "-") ctx.err.write(`Review: mfactl plan show ${out}   Apply: mfactl apply ${out}\n`);
      return plan.failures.length ? EXIT.failed : EXIT.ok;
    }),
  );
}

function planShowCommand(run: CommandRunner): Command {
  return new Command("show")
    .summary("show a plan file as a table")
    .description("Show a plan file: what would change per user, the warnings, who was left out and what could not be read. Checks the file as apply does.")
    .argument("<file>", "the plan file")
    .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("table"))
    .action((file: string, flags: { output: OutputFormat }) =>
      run(async (ctx) => {
        const plan = await readPlanFile(file);
        if (flags.output === "json") {
          ctx.out.write(renderJson(plan));
          return EXIT.ok;
        }
        ctx.out.write(renderPlan(plan));
        return EXIT.ok;
      }),
    );
}

/** The plan file (`-`: stdout), digest included. */
export async function writePlanFile(ctx: CommandContext, out: string, plan: PlanBody): Promise<void> {
  const sink = await openSink(out === "-" ? undefined : out, ctx.out);
  try {
    await sink.write(serializePlan(plan));
  } finally {
    await sink.close();
  }
}

export async function readPlanFile(file: string): Promise<PlanFile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`Cannot read the plan file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}. Nothing was changed.`);
  }
  return parsePlan(text, file);
}

const ITEM_COLUMNS = [
  { header: "TENANT", value: (i: PlanItem) => i.tenant },
  { header: "USER", value: (i: PlanItem) => i.userPrincipalName },
  { header: "CURRENT", value: (i: PlanItem) => i.perUserMfaState },
  { header: "TARGET", value: (i: PlanItem) => i.requestedState },
  { header: "WARNINGS", value: (i: PlanItem) => (i.warnings.length ? i.warnings.map((w) => w.code).join(", ") : undefined) },
];

export function renderPlan(plan: PlanFile): string {
  const s = plan.summary;
  const lines = [
    `Plan ${plan.planId}, made ${plan.createdAt} by ${plan.createdBy.actor} on ${plan.createdBy.host}`,
    `  ${plan.source.description}`,
    `  ${s.changes} to change, ${s.unchanged} unchanged, ${s.leftOut} left out, ${s.failed} failed, of ${s.selected} users read; ${s.warnings} warning${s.warnings === 1 ? "" : "s"}`,
    "",
  ];
  let text = `${lines.join("\n")}\n`;
  text += plan.items.length ? renderTable(plan.items, ITEM_COLUMNS) : "Nothing to change.\n";
  const warned = plan.items.flatMap((i) => i.warnings.map((w) => ({ i, w })));
  const codes = [...new Map(warned.map(({ w }) => [w.code, w.message])).entries()];
  if (codes.length) {
    text += "\nWarnings:\n";
    for (const [code, message] of codes) text += `  ${code} (${warned.filter((x) => x.w.code === code).length}): ${message}\n`;
  }
  if (plan.leftOut.length) {
    text += "\nLeft out:\n";
    text += renderTable(plan.leftOut, [
      { header: "TENANT", value: (l) => l.tenant },
      { header: "USER", value: (l) => l.userPrincipalName },
      { header: "STATE", value: (l) => l.perUserMfaState },
      { header: "REASON", value: (l) => `${l.reason}${l.detail ? `: ${l.detail}` : ""}` },
    ]);
  }
  if (plan.failures.length) {
    text += "\nCould not be read:\n";
    for (const f of plan.failures) text += `  ${f.tenant}${f.userPrincipalName ? ` ${f.userPrincipalName}` : ""}: ${f.error.message}\n`;
  }
  return text;
}

function describeSelection(flags: PlanFlags, state: string, tenants: number): string {
  const parts = [`set ${state}`];
  if (flags.input) parts.push(`users from ${flags.input}`);
  if (flags.users) parts.push(`users ${flags.users}`);
  if (flags.group) parts.push(`members of ${flags.group}`);
  if (flags.allUsers) parts.push("all users");
  for (const [flag, on] of [["licensed", flags.licensed], ["members", flags.members], ["guests", flags.guests], ["enabled accounts", flags.enabledAccounts]] as const) if (on) parts.push(flag);
  if (flags.whereState?.length) parts.push(`now ${flags.whereState.join("/")}`);
  return `${parts.join(", ")} (${tenants} tenant${tenants === 1 ? "" : "s"})`;
}
