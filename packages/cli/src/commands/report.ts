import { Command, Option } from "commander";
import {
  cippListUsers,
  errorInfo,
  mergeBounded,
  parseTenantRef,
  reportUsers,
  REPORT_COLUMNS,
  tenantRefToString,
  type CippClient,
  type ProgressEvent,
  type ReportItem,
  type ReportRow,
  type TenantOutcome,
  type UserFilters,
} from "@mfactl/core";
import { createCsvWriter, renderHtmlReport } from "@mfactl/render";
import { addBackendOptions, backendFlags, type BackendFlags } from "../backend-options.js";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { renderTable } from "../output.js";
import { progressFor } from "../progress-events.js";
import { addFilterOptions, addTenantOptions, pickFilters, pickTenants, type FilterFlags, type TenantFlags } from "../selection-options.js";
import { openSink, type Sink } from "../sink.js";
import { describeTenantFailures } from "../tenant-summary.js";
import type { CommandRunner } from "./types.js";

export const REPORT_FORMATS = ["table", "json", "csv", "html"] as const;
type ReportFormat = (typeof REPORT_FORMATS)[number];

interface ReportFlags extends TenantFlags, FilterFlags, BackendFlags {
  output: ReportFormat;
  out?: string;
  quiet?: boolean;
}

const TABLE_COLUMNS = REPORT_COLUMNS.map((key) => ({ header: key, value: (r: ReportRow) => String(r[key]) }));

export function reportCommand(run: CommandRunner): Command {
  const cmd = new Command("report")
    .summary("per-user MFA state of every user in one or many tenants (table, JSON, CSV, HTML)")
    .description(
      "Report every user's per-user MFA state across tenants, streamed. A tenant that fails (no consent, no permission) " +
        "is reported as failed with the reason; the others complete.",
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(REPORT_FORMATS).default("table"))
    .option("--out <file>", "write the report to a file instead of stdout")
    .option("-q, --quiet", "no progress display");
  addTenantOptions(cmd);
  addFilterOptions(cmd);
  addBackendOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Columns: ${REPORT_COLUMNS.join(", ")}.
Examples:
  $ mfactl report --tenant contoso.onmicrosoft.com
  $ mfactl report --all-tenants --where-state enabled --where-state enforced --output html --out mfa.html
  $ mfactl report --tenants-file customers.csv --licensed --members --output csv --out users.csv
Exit codes: 0 every tenant reported, 1 a tenant failed (the others are in the report), 2 bad usage.
Through CIPP (--backend cipp): ListPerUserMFA and ListMFAUsers per tenant; --read-strategy does not apply.
Permissions: User.Read.All and Policy.Read.All; through CIPP, CIPP's own. Docs: docs/commands/report.md, docs/backends.md`,
  );
  return cmd.action((flags: ReportFlags) =>
    run(async (ctx: CommandContext, retry) => {
      ctx.useBackendFlags(backendFlags(flags));
      const tenants = await pickTenants(flags, () => ctx.tenantSettings(), { required: true });
      const filters = pickFilters(flags);
      const source = ctx.backend() === "cipp" ? { cipp: ctx.cipp(retry) } : { engine: ctx.engine(retry) };
      const progress = progressFor(ctx, { quiet: flags.quiet === true || flags.output === "json", tenantCount: new Set(tenants).size });
      const sink = await openSink(flags.out, ctx.out);
      const outcomes: TenantOutcome[] = [];
      let users = 0;
      try {
        const items =
          "cipp" in source
            ? cippReport(source.cipp, tenants, filters, ctx.io.signal, progress.onEvent)
            : reportUsers(source.engine, { tenants, filters, readStrategy: flags.readStrategy }, { signal: ctx.io.signal, onProgress: progress.onEvent });
        async function* rows(): AsyncGenerator<ReportRow> {
          for await (const item of items) {
            if (item.kind === "user") {
              users++;
              yield item.row;
            } else outcomes.push(item.outcome);
          }
        }
        await writeReport(flags.output, rows(), outcomes, sink);
      } finally {
        progress.stop();
        await sink.close();
      }
      const failedTenants = outcomes.filter((o) => o.status === "failed");
      if (flags.output !== "json") {
        ctx.err.write(`${users} users in ${outcomes.length - failedTenants.length} of ${outcomes.length} tenants${flags.out ? `, written to ${flags.out}` : ""}.\n`);
      }
      for (const line of describeTenantFailures(failedTenants)) ctx.err.write(`${line}\n`);
      return failedTenants.length ? EXIT.failed : EXIT.ok;
    }),
  );
}

/** `reportUsers`' items through CIPP: each tenant's users, then how it ended (a failing tenant does not stop the others). */
function cippReport(client: CippClient, tenants: string[], filters: UserFilters, signal: AbortSignal | undefined, emit: (e: ProgressEvent) => void): AsyncGenerator<ReportItem> {
  const perTenant = (tenant: string) =>
    async function* (): AsyncGenerator<ReportItem> {
      emit({ type: "tenantStarted", tenant });
      let users = 0;
      try {
        for await (const row of cippListUsers(client, tenant, { ...filters, signal })) {
          users++;
          emit({ type: "progress", tenant, done: users });
          yield { kind: "user", row };
        }
      } catch (error) {
        if (signal?.aborted) throw error;
        emit({ type: "tenantDone", tenant, status: "failed" });
        yield { kind: "tenant", outcome: { tenant, status: "failed", users, error: errorInfo(error) } };
        return;
      }
      emit({ type: "tenantDone", tenant, status: "completed" });
      yield { kind: "tenant", outcome: { tenant, status: "completed", users } };
    };
  // Every tenant is checked first: a bad one is bad usage (nothing read), as with Graph.
  const unique = [...new Set(tenants.map((t) => tenantRefToString(parseTenantRef(t))))];
  // A few tenants at once: CIPP's host serves every call itself.
  return mergeBounded(unique.map(perTenant), 4);
}

async function writeReport(format: ReportFormat, rows: AsyncIterable<ReportRow>, outcomes: TenantOutcome[], sink: Sink): Promise<void> {
  switch (format) {
    case "csv": {
      const csv = createCsvWriter(sink, REPORT_COLUMNS);
      for await (const row of rows) await csv.write(row);
      await csv.end();
      return;
    }
    case "json": {
      // One JSON document, streamed: users first, then how each tenant ended.
      await sink.write('{\n  "users": [');
      let first = true;
      for await (const row of rows) {
        await sink.write(`${first ? "\n" : ",\n"}    ${JSON.stringify(row)}`);
        first = false;
      }
      await sink.write(`${first ? "" : "\n  "}],\n  "tenants": ${JSON.stringify(outcomes, null, 2).replace(/\n/g, "\n  ")}\n}\n`);
      return;
    }
    case "html": {
      for await (const chunk of renderHtmlReport({ title: "Per-user MFA report", generatedAt: new Date(), rows, tenants: outcomes })) await sink.write(chunk);
      return;
    }
    case "table": {
      const all: ReportRow[] = [];
      for await (const row of rows) all.push(row);
      await sink.write(renderTable(all, TABLE_COLUMNS));
      return;
    }
  }
}
