import { Command, Option } from "commander";
import { CIPP_MFA_USER_COLUMNS, postureReport, PROTECTIONS, toCippMfaUserRow, type TenantPostureResult, type UserPosture } from "@mfactl/core";
import { createCsvWriter, renderPostureHtml } from "@mfactl/render";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { renderTable } from "../output.js";
import { progressFor } from "../progress-events.js";
import { addFilterOptions, addTenantOptions, pickFilters, pickTenants, type FilterFlags, type TenantFlags } from "../selection-options.js";
import { openSink } from "../sink.js";
import type { CommandRunner } from "./types.js";

const POSTURE_FORMATS = ["table", "json", "csv", "html"] as const;
type PostureFormat = (typeof POSTURE_FORMATS)[number];

/** CSV columns (docs/commands/posture.md maps each to CIPP's ListMFAUsers name). */
export const POSTURE_CSV_COLUMNS = [
  "tenant",
  "id",
  "userPrincipalName",
  "displayName",
  "userType",
  "accountEnabled",
  "isLicensed",
  "perUserMfaState",
  "isMfaRegistered",
  "isMfaCapable",
  "methodsRegistered",
  "defaultMfaMethod",
  "isAdmin",
  "lastSignInDateTime",
  "coveredBySecurityDefaults",
  "caCoverage",
  "caPolicies",
  "effectiveProtection",
  "unknown",
] as const;

interface PostureFlags extends TenantFlags, FilterFlags {
  output: PostureFormat;
  out?: string;
  cipp?: boolean;
  quiet?: boolean;
}

export function postureCommand(run: CommandRunner): Command {
  const cmd = new Command("posture")
    .summary("who is protected by MFA, and how: per-user state, Conditional Access, security defaults, findings")
    .description(
      "Report each user's MFA protection: per-user state, registration and methods, admin roles, last sign-in, coverage by " +
        "Conditional Access (policies requiring MFA whose conditions include the user, all apps or some) and by security " +
        "defaults, and the effective protection; per tenant the policies and the findings. What a tenant's licence or the " +
        "app's permissions do not allow to read is said, never guessed.",
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(POSTURE_FORMATS).default("table"))
    .option("--out <file>", "write to a file instead of stdout")
    .option("--cipp", "json and csv with the column names of CIPP's ListMFAUsers")
    .option("-q, --quiet", "no progress display");
  addTenantOptions(cmd);
  addFilterOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Effective protection, first that holds: ${PROTECTIONS.join(", ")}.
Examples:
  $ mfactl posture --tenant contoso.onmicrosoft.com
  $ mfactl posture --all-tenants --output csv --out posture.csv
  $ mfactl posture --tenant contoso.onmicrosoft.com --output json --cipp
  $ mfactl posture --all-tenants --output html --out posture.html
Exit codes: 0 every tenant reported (some sources may be unknown, as the report says), 1 a tenant failed, 2 bad usage.
Permissions: User.Read.All, Policy.Read.All, AuditLog.Read.All (registration, sign-ins; needs Entra ID P1/P2),
RoleManagement.Read.Directory, GroupMember.Read.All. Docs: docs/commands/posture.md and docs/posture.md`,
  );
  return cmd.action((flags: PostureFlags) =>
    run(async (ctx: CommandContext, retry) => {
      const tenants = await pickTenants(flags, () => ctx.resolveSettings(), { required: true });
      const engine = ctx.engine(retry);
      const progress = progressFor(ctx, { quiet: flags.quiet === true || flags.output === "json", tenantCount: new Set(tenants).size });
      const results: TenantPostureResult[] = [];
      try {
        for await (const r of postureReport(engine, { tenants, filters: pickFilters(flags), readStrategy: flags.readStrategy }, { signal: ctx.io.signal, onProgress: progress.onEvent })) results.push(r);
      } finally {
        progress.stop();
      }
      const sink = await openSink(flags.out, ctx.out);
      try {
        if (flags.output === "json") await sink.write(`${JSON.stringify(flags.cipp ? results.flatMap((r) => (r.status === "completed" ? r.users.map(toCippMfaUserRow) : [])) : { tenants: results }, null, 2)}\n`);
        else if (flags.output === "csv") {
          const csv = createCsvWriter(sink, flags.cipp ? CIPP_MFA_USER_COLUMNS : POSTURE_CSV_COLUMNS);
          for (const r of results) if (r.status === "completed") for (const u of r.users) await csv.write(flags.cipp ? cippCsvRow(u) : csvRow(u));
          await csv.end();
        } else if (flags.output === "html") {
          for await (const chunk of renderPostureHtml({ generatedAt: new Date(), results })) await sink.write(chunk);
        } else await sink.write(renderPosture(results));
      } finally {
        await sink.close();
      }
      const failed = results.filter((r) => r.status === "failed");
      for (const r of results) {
        if (r.status === "failed") ctx.err.write(`error: tenant ${r.tenant} failed: ${r.error.message}\n`);
        else for (const u of r.unknown) ctx.err.write(`note: tenant ${r.tenant}: ${u.reason}\n`);
      }
      return failed.length ? EXIT.failed : EXIT.ok;
    }),
  );
}

function csvRow(u: UserPosture): Record<string, unknown> {
  return {
    tenant: u.tenant,
    id: u.id,
    userPrincipalName: u.userPrincipalName,
    displayName: u.displayName,
    userType: u.userType,
    accountEnabled: u.accountEnabled,
    isLicensed: u.isLicensed,
    perUserMfaState: u.perUserMfaState,
    isMfaRegistered: u.registration?.isMfaRegistered,
    isMfaCapable: u.registration?.isMfaCapable,
    methodsRegistered: u.registration?.methodsRegistered.join(" "),
    defaultMfaMethod: u.registration?.defaultMfaMethod ?? undefined,
    isAdmin: u.isAdmin,
    lastSignInDateTime: u.lastSignInDateTime ?? undefined,
    coveredBySecurityDefaults: u.coveredBySecurityDefaults,
    caCoverage: u.caCoverage,
    caPolicies: u.caPolicies.map((p) => p.displayName).join("; "),
    effectiveProtection: u.effectiveProtection,
    unknown: u.unknownSources.map((s) => s.source).join(" "),
  };
}

function cippCsvRow(u: UserPosture): Record<string, unknown> {
  const row = toCippMfaUserRow(u) as unknown as Record<string, unknown>;
  return { ...row, MFAMethods: (row["MFAMethods"] as string[] | undefined)?.join(" "), CAPolicies: JSON.stringify(row["CAPolicies"] ?? []) };
}

const USER_COLUMNS = [
  { header: "TENANT", value: (u: UserPosture) => u.tenant },
  { header: "USER", value: (u: UserPosture) => u.userPrincipalName },
  { header: "PER-USER", value: (u: UserPosture) => u.perUserMfaState },
  { header: "REGISTERED", value: (u: UserPosture) => (u.registration ? (u.registration.isMfaRegistered ? "yes" : "no") : "unknown") },
  { header: "ADMIN", value: (u: UserPosture) => (u.isAdmin ? "yes" : "no") },
  { header: "CA", value: (u: UserPosture) => u.caCoverage },
  { header: "SEC. DEFAULTS", value: (u: UserPosture) => (u.coveredBySecurityDefaults === undefined ? "unknown" : u.coveredBySecurityDefaults ? "yes" : "no") },
  { header: "PROTECTION", value: (u: UserPosture) => u.effectiveProtection },
];

export function renderPosture(results: readonly TenantPostureResult[]): string {
  const users = results.flatMap((r) => (r.status === "completed" ? r.users : []));
  let text = users.length ? renderTable(users, USER_COLUMNS) : "No users.\n";
  for (const r of results) {
    text += `\n${r.tenant}: `;
    if (r.status === "failed") {
      text += `failed: ${r.error.message}\n`;
      continue;
    }
    const ca = r.conditionalAccess;
    text += `security defaults ${r.securityDefaults.enabled === undefined ? "unknown" : r.securityDefaults.enabled ? "on" : "off"}; `;
    text += ca.readable
      ? `${ca.mfaPolicies.length} Conditional Access polic${ca.mfaPolicies.length === 1 ? "y" : "ies"} requiring MFA${ca.mfaPolicies.length ? ` (${ca.mfaPolicies.map((p) => p.displayName).join(", ")})` : ""}` +
        `${ca.reportOnlyMfaPolicies.length ? `; report-only, not counted: ${ca.reportOnlyMfaPolicies.map((p) => p.displayName).join(", ")}` : ""}` +
        `${ca.mfaNotGuaranteed.length ? `; MFA not guaranteed: ${ca.mfaNotGuaranteed.map((p) => p.displayName).join(", ")}` : ""}\n`
      : `Conditional Access unknown: ${ca.reason ?? "not readable"}\n`;
    const counts = PROTECTIONS.map((p) => [p, r.users.filter((u) => u.effectiveProtection === p).length] as const).filter(([, n]) => n > 0);
    text += `  protection: ${counts.map(([p, n]) => `${n} ${p}`).join(", ") || "no users"}\n`;
    for (const u of r.unknown) text += `  unknown: ${u.reason}\n`;
    for (const f of r.findings) {
      const shown = f.users.slice(0, 5).map((x) => x.userPrincipalName).join(", ");
      text += `  finding ${f.code} (${f.users.length}): ${f.message} ${shown}${f.users.length > 5 ? ", ..." : ""}\n`;
    }
  }
  return text;
}
