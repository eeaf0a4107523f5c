import { Command, Option } from "commander";
import { cippGetUserMfa, getUserMfa, parseInput, UserMfaGetInputSchema, type UserMfaState } from "@mfactl/core";
import { addBackendOptions, backendFlags, type BackendFlags } from "../backend-options.js";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { OUTPUT_FORMATS, renderJson, renderTable, type OutputFormat } from "../output.js";
import { addTargetOptions, pickTarget, type TargetFlags } from "../user-options.js";
import type { CommandRunner } from "./types.js";

export const GET_COLUMNS = [
  { header: "TENANT", value: (r: UserMfaState) => r.tenant },
  { header: "USER", value: (r: UserMfaState) => r.userPrincipalName },
  { header: "ID", value: (r: UserMfaState) => r.id },
  { header: "STATE", value: (r: UserMfaState) => r.perUserMfaState },
];

export function getCommand(run: CommandRunner): Command {
  const cmd = new Command("get")
    .summary("read one user's per-user MFA state")
    .description("Read one user's per-user MFA state (disabled, enabled, enforced; unknown for a value Graph adds later).")
    .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("table"));
  addBackendOptions(addTargetOptions(cmd)).addHelpText(
    "after",
    `
Examples:
  $ mfactl get --tenant contoso.onmicrosoft.com --user adele.vance@contoso.onmicrosoft.com
  $ mfactl get --customer-tenant-id 72f988bf-86f1-41af-91ab-2d7cd011db47 --user-id 8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6 --output json
  $ MFACTL_CIPP_CLIENT_SECRET=... mfactl get --backend cipp --cipp-url https://cipp.contoso.com --cipp-tenant-id contoso-msp.onmicrosoft.com \\
      --cipp-client-id 3d0f6c2a-... -t fabrikam.onmicrosoft.com -u adele.vance@fabrikam.onmicrosoft.com

Permissions: User.Read.All and Policy.Read.All (application); through CIPP, CIPP's own. Docs: docs/commands/get.md, docs/backends.md`,
  );
  return cmd.action((flags: TargetFlags & BackendFlags & { output: OutputFormat }) =>
    run(async (ctx: CommandContext, retry) => {
      ctx.useBackendFlags(backendFlags(flags));
      const target = pickTarget(flags, () => ctx.tenantSettings().defaultTenant);
      const input = parseInput(UserMfaGetInputSchema, target);
      const signal = ctx.io.signal ? { signal: ctx.io.signal } : {};
      const result = ctx.backend() === "cipp" ? await cippGetUserMfa(ctx.cipp(retry), input, signal) : await getUserMfa(ctx.graph(retry), input, signal);
      ctx.out.write(flags.output === "json" ? renderJson(result) : renderTable([result], GET_COLUMNS));
      return EXIT.ok;
    }),
  );
}
