import { Command, Option } from "commander";
import { cippSetUserMfa, MFA_STATES, parseInput, setUserMfa, UserMfaSetInputSchema, type UserMfaChange } from "@mfactl/core";
import { addBackendOptions, backendFlags, type BackendFlags } from "../backend-options.js";
import type { CommandContext } from "../context.js";
import { withContext } from "../errors.js";
import { EXIT } from "../exit-codes.js";
import { OUTPUT_FORMATS, renderJson, renderTable, type OutputFormat } from "../output.js";
import { pickGuards } from "../guard-options.js";
import { CHANGE_COLUMNS } from "../render/changes.js";
import { addTargetOptions, pickTarget, type TargetFlags } from "../user-options.js";
import type { CommandRunner } from "./types.js";


export function setCommand(run: CommandRunner): Command {
  const cmd = new Command("set")
    .summary("set one user's per-user MFA state, verified by reading it back")
    .description(
      "Set one user's per-user MFA state. Reads the current state, sends a change only when it differs, " +
        "and reads it back: the status is changed, unchanged or failed (wouldChange with --dry-run).",
    )
    .requiredOption("-s, --state <state>", `${MFA_STATES.join(" | ")} (case-insensitive: Enabled works)`)
    .option("-n, --dry-run", "read and show what would change; send nothing")
    .option("--include-protected", "allow changing a protected account (the profile's protectedAccounts, directory synchronisation accounts)")
    .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("table"));
  addBackendOptions(addTargetOptions(cmd)).addHelpText(
    "after",
    `
Examples (the four examples of Set-CIPPPerUserMFA):
  $ mfactl set --customer-tenant-id contoso.onmicrosoft.com --user-principal-name adele.vance@contoso.onmicrosoft.com --state Enabled
  $ mfactl set --customer-tenant-id contoso.onmicrosoft.com --user-principal-name adele.vance@contoso.onmicrosoft.com --state Enforced
  $ mfactl set --customer-tenant-id contoso.onmicrosoft.com --user-id 8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6 --state Enabled
  $ mfactl set --customer-tenant-id contoso.onmicrosoft.com --user-principal-name adele.vance@contoso.onmicrosoft.com --state Disabled
  $ mfactl set -t contoso.onmicrosoft.com -u 'john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com' -s enforced --dry-run

Through CIPP (--backend cipp, docs/backends.md) the change is sent with ExecPerUserMFA and read back
with ListPerUserMFA: a "Successfully set" that does not read back is failed (CippReportedSuccess).
A user asked to be enabled who has registered a method reads back enforced: that is success.
The change is journaled (--db): \`mfactl runs\` lists it, \`mfactl undo <run>\` reverts it.
Exit codes: 0 changed or unchanged, 1 failed, 2 bad input or a protected account (nothing sent), 130 interrupted.
Permissions: User.Read.All and Policy.ReadWrite.AuthenticationMethod (application). Docs: docs/commands/set.md`,
  );
  return cmd.action((flags: TargetFlags & BackendFlags & { state: string; dryRun?: boolean; includeProtected?: boolean; output: OutputFormat }) =>
    run(async (ctx: CommandContext, retry) => {
      ctx.useBackendFlags(backendFlags(flags));
      const target = pickTarget(flags, () => ctx.tenantSettings().defaultTenant);
      const input = parseInput(UserMfaSetInputSchema, { ...target, state: flags.state, dryRun: flags.dryRun === true, includeProtected: flags.includeProtected === true });
      const guards = pickGuards({}, ctx);
      // The journal opens first: a locked or corrupt database stops the command before any request.
      const journal = input.dryRun ? undefined : { journal: await ctx.journal(), actor: ctx.actor() };
      const options = { signal: ctx.io.signal, protectedAccounts: guards.protectedAccounts, journal };
      const result = ctx.backend() === "cipp" ? await cippSetUserMfa(ctx.cipp(retry), input, options) : await setUserMfa(ctx.graph(retry), input, options);
      ctx.out.write(flags.output === "json" ? renderJson(result) : renderTable([result], CHANGE_COLUMNS));
      if (flags.output !== "json") {
        const note = summarize(result);
        if (note) ctx.err.write(`${note}\n`);
        if (result.runId && result.status === "changed")
          ctx.err.write(`run ${result.runId}; undo with \`mfactl undo ${result.runId}\`${ctx.backend() === "cipp" ? " (undo works with the Graph backend)" : ""}.\n`);
      }
      return result.status === "failed" ? EXIT.failed : EXIT.ok;
    }),
  );
}

function summarize(r: UserMfaChange): string | undefined {
  switch (r.status) {
    case "failed":
    {
      const message = r.error?.message ?? "failed";
      const who = message.includes(r.userPrincipalName) ? "" : `${r.userPrincipalName}: `;
      return `error: ${who}${withContext(message, r.error?.code, r.requestId)}`;
    }
    case "wouldChange":
      return `dry run: ${r.userPrincipalName} would change from ${r.previousState ?? "?"} to ${r.requestedState}; nothing was sent.`;
    case "unchanged":
      return r.previousState !== r.requestedState
        ? `${r.userPrincipalName} is already ${r.perUserMfaState ?? "?"}, which satisfies ${r.requestedState}; nothing was sent.`
        : undefined;
    case "conflict":
      return `conflict: ${r.userPrincipalName}: ${r.error?.message ?? "the state changed"}`;
    case "changed":
      return r.perUserMfaState !== r.requestedState
        ? `${r.userPrincipalName} reads back ${r.perUserMfaState ?? "?"}: the user has a registered method, which satisfies ${r.requestedState}.`
        : undefined;
  }
}
