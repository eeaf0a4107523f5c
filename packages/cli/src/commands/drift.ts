import { readFile } from "node:fs/promises";
import { Command, Option } from "commander";
import { driftUsers, DRIFT_COLUMNS, parsePolicy, policyTenantRefs, UsageError, type BatchEngine, type DriftRow, type DriftTenantOutcome, type Policy } from "@mfactl/core";
import { createCsvWriter } from "@mfactl/render";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { renderTable } from "../output.js";
import { progressFor } from "../progress-events.js";
import { addTenantOptions, pickTenants, type TenantFlags } from "../selection-options.js";
import { openSink } from "../sink.js";
import { describeTenantFailures } from "../tenant-summary.js";
import type { CommandRunner } from "./types.js";
import { READ_STRATEGIES, type ReadStrategy } from "@mfactl/core";

const DRIFT_FORMATS = ["table", "json", "csv"] as const;
type DriftFormat = (typeof DRIFT_FORMATS)[number];

export interface PolicyFlags extends TenantFlags {
  policy: string;
  readStrategy: ReadStrategy;
  quiet?: boolean;
}

export function addPolicyOptions(cmd: Command): Command {
  cmd.requiredOption("-p, --policy <file>", "desired-state policy file, YAML or JSON (docs/policy.md)");
  addTenantOptions(cmd);
  return cmd
    .addOption(new Option("--read-strategy <strategy>", "how states are read: the user listing (fast), per user, or auto").choices(READ_STRATEGIES).default("auto"))
    .option("-q, --quiet", "no progress display");
}

export async function readPolicy(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(`Cannot read the policy file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
  return parsePolicy(text, path);
}

/** The tenants to check: the flags', else the ones the policy names (a "*" policy needs tenants given). */
export async function policyTenants(ctx: CommandContext, flags: PolicyFlags, policy: Policy): Promise<{ tenants: string[]; named: boolean }> {
  const given = await pickTenants(flags, () => ctx.resolveSettings(), { required: false });
  // Tenants named one by one must be covered by the policy; --all-tenants may reach some it does not cover.
  if (given.length) return { tenants: given, named: !flags.allTenants };
  const named = policyTenantRefs(policy);
  if (named.length) return { tenants: named, named: true };
  const fallback = ctx.resolveSettings().defaultTenant;
  if (fallback) return { tenants: [fallback], named: true };
  throw new UsageError(`The policy ${flags.policy} applies to "*": say which tenants with --tenant, --tenants-file or --all-tenants.`);
}

export interface DriftResult {
  rows: DriftRow[];
  outcomes: DriftTenantOutcome[];
  evaluated: number;
  managed: number;
}

/** Measure tenants against the policy; keeps drift rows (every row with `all`). */
export async function measureDrift(ctx: CommandContext, engine: BatchEngine, policy: Policy, scope: { tenants: string[]; named: boolean }, flags: PolicyFlags, all: boolean): Promise<DriftResult> {
  const { tenants } = scope;
  const progress = progressFor(ctx, { quiet: flags.quiet === true, tenantCount: tenants.length });
  const result: DriftResult = { rows: [], outcomes: [], evaluated: 0, managed: 0 };
  try {
    for await (const item of driftUsers(engine, policy, tenants, { readStrategy: flags.readStrategy, namedTenants: scope.named, signal: ctx.io.signal, onProgress: progress.onEvent })) {
      if (item.kind === "tenant") {
        result.outcomes.push(item.outcome);
        continue;
      }
      result.evaluated++;
      if (item.row.managed) result.managed++;
      if (all || item.row.drift) result.rows.push(item.row);
    }
  } finally {
    progress.stop();
  }
  return result;
}

export function reportTenantNotes(ctx: CommandContext, outcomes: DriftResult["outcomes"]): void {
  for (const o of outcomes) for (const w of o.warnings) ctx.err.write(`warning: tenant ${o.tenant}: ${w}\n`);
  for (const line of describeTenantFailures(outcomes.filter((o) => o.status === "failed"))) ctx.err.write(`${line}\n`);
}

const TABLE_COLUMNS = [
  { header: "TENANT", value: (r: DriftRow) => r.tenant },
  { header: "USER", value: (r: DriftRow) => r.userPrincipalName },
  { header: "STATE", value: (r: DriftRow) => r.perUserMfaState },
  { header: "POLICY WANTS", value: (r: DriftRow) => r.requestedState },
  { header: "DRIFT", value: (r: DriftRow) => (r.drift ? "yes" : "no") },
  { header: "RULE", value: (r: DriftRow) => (r.managed ? `${r.policy ?? ""}: ${r.rule ?? ""}` : `not managed (${r.reason ?? ""})`) },
];

export function driftCommand(run: CommandRunner): Command {
  const cmd = new Command("drift")
    .summary("report users whose per-user MFA state differs from a desired-state policy (exit 3 when any)")
    .description(
      "Compare every user of the tenants with a policy file (YAML or JSON): which state each rule asks for, and who differs. " +
        "A user asked to be enabled who reads enforced is not drift (a registered method moves enabled users on).",
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(DRIFT_FORMATS).default("table"))
    .option("--out <file>", "write to a file instead of stdout")
    .option("--all", "list every user with the policy's decision, not only those in drift");
  addPolicyOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Examples:
  $ mfactl drift --policy policy.yaml
  $ mfactl drift --policy policy.yaml --all-tenants --output csv --out drift.csv
  $ mfactl enforce --policy policy.yaml        # plan and apply the drift
Columns (json, csv): ${DRIFT_COLUMNS.join(", ")}.
Exit codes: 0 no drift, 3 drift found, 1 a tenant failed (others reported), 2 bad usage or policy file.
Permissions: User.Read.All, Policy.Read.All, GroupMember.Read.All (groups in the policy), RoleManagement.Read.Directory.
Docs: docs/commands/drift.md and docs/policy.md`,
  );
  return cmd.action((flags: PolicyFlags & { output: DriftFormat; out?: string; all?: boolean }) =>
    run(async (ctx: CommandContext, retry) => {
      const policy = await readPolicy(flags.policy);
      const scope = await policyTenants(ctx, flags, policy);
      const engine = ctx.engine(retry);
      const { rows, outcomes, evaluated, managed } = await measureDrift(ctx, engine, policy, scope, { ...flags, quiet: flags.quiet === true || flags.output === "json" }, flags.all === true);
      const sink = await openSink(flags.out, ctx.out);
      try {
        if (flags.output === "json") await sink.write(`${JSON.stringify({ users: rows, tenants: outcomes }, null, 2)}\n`);
        else if (flags.output === "csv") {
          const csv = createCsvWriter(sink, DRIFT_COLUMNS);
          for (const r of rows) await csv.write({ ...r });
          await csv.end();
        } else await sink.write(rows.length ? renderTable(rows, TABLE_COLUMNS) : outcomes.some((o) => o.status === "failed") ? "No drift in the tenants that could be read.\n" : "No drift.\n");
      } finally {
        await sink.close();
      }
      const drifted = rows.filter((r) => r.drift).length;
      const failed = outcomes.filter((o) => o.status === "failed");
      if (flags.output !== "json") ctx.err.write(`${drifted} user${drifted === 1 ? "" : "s"} in drift; ${managed} managed by the policy of ${evaluated} users in ${outcomes.length - failed.length} of ${outcomes.length} tenants.\n`);
      reportTenantNotes(ctx, outcomes);
      if (failed.length) return EXIT.failed;
      return drifted ? EXIT.drift : EXIT.ok;
    }),
  );
}
