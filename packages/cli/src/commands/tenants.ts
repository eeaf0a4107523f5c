import { Command, Option } from "commander";
import {
  customersCachePath,
  gdapAccess,
  isActive,
  parseTenantRef,
  syncCustomers,
  tenantRefToString,
  UsageError,
  writeCustomersCache,
  type AccessMode,
  type CatalogueTenant,
  type CustomersCache,
  type GdapAccess,
} from "@mfactl/core";
import { createCsvWriter } from "@mfactl/render";
import type { CommandContext } from "../context.js";
import { EXIT, type ExitCode } from "../exit-codes.js";
import { renderJson, renderTable, type Column } from "../output.js";
import { allTenants, defaultStateDir, readSyncedCustomers, tenantSourcesFor } from "../selection-options.js";
import { accessModeFor, accessSettings } from "../settings.js";
import { openSink } from "../sink.js";
import type { CommandRunner } from "./types.js";

const FORMATS = ["table", "json", "csv"] as const;
type Format = (typeof FORMATS)[number];

/** The profile's partner settings (`partner.tenantId`, `access`, `tenantAccess`); needs no credential. */
export interface PartnerProfile {
  partnerTenantId: string | undefined;
  /** `consentRedirectUri`, when the profile has one. */
  consentRedirectUri: string | undefined;
  /** The tenant's access mode: its override (as written, or by its id/domain alias), else the profile's default. */
  modeFor(tenant: string, alias?: string): AccessMode;
}

export function partnerProfile(ctx: CommandContext): PartnerProfile {
  const extras = ctx.profileExtras();
  const access = accessSettings(extras);
  return {
    partnerTenantId: access.partnerTenantId,
    consentRedirectUri: extras.consentRedirectUri,
    modeFor(tenant, alias) {
      if (alias !== undefined && access.tenants[tenant.toLowerCase()] === undefined && access.tenants[alias.toLowerCase()] !== undefined) return accessModeFor(access, alias);
      return accessModeFor(access, tenant);
    },
  };
}

interface SyncFlags {
  output: Format;
  partnerTenant?: string;
}

interface ListFlags {
  output: Format;
  out?: string;
  includeTenant?: string[];
  excludeTenant?: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function tenantsCommand(run: CommandRunner): Command {
  const list = new Command("list")
    .summary("list the profile's tenants and the synced customers (the default: `mfactl tenants`)")
    .description(
      "List the tenants `--all-tenants` means: the profile's tenants and the customers `mfactl tenants sync` read from the " +
        "partner's GDAP relationships, de-duplicated by tenant id, with the access each relationship allows (read+write, read, " +
        "none, no relationship) and the access mode (app, gdap) the profile picks. Reads no network.",
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(FORMATS).default("table"))
    .option("--out <file>", "write to a file instead of stdout")
    .option("--include-tenant <tenant>", "only this tenant, id or domain (repeatable)", collect)
    .option("--exclude-tenant <tenant>", "leave this tenant out, id or domain (repeatable)", collect)
    .addHelpText(
      "after",
      `
Columns: tenant, tenantId, domain, displayName, source (profile, synced, profile+synced), accessMode, access, roles,
relationshipEnds (the earliest end of the active relationships), syncedAt.
Examples:
  $ mfactl tenants sync
  $ mfactl tenants
  $ mfactl tenants --output csv --out tenants.csv
Exit codes: 0 listed, 2 bad usage. Docs: docs/commands/tenants.md`,
    )
    .action((flags: ListFlags) => run((ctx) => listTenants(ctx, flags)));
  // The listing is a default subcommand so that `tenants sync -o json` gives -o to sync, not to the listing.
  return new Command("tenants")
    .summary("the profile's tenants and the synced GDAP customers, with the access each allows; `tenants sync` reads them")
    .addCommand(list, { isDefault: true })
    .addCommand(syncCommand(run));
}

function syncCommand(run: CommandRunner): Command {
  return new Command("sync")
    .summary("read the partner's GDAP customers and their relationships' roles into the state directory")
    .description(
      "In the partner tenant (the profile's partner.tenantId, or --partner-tenant), read " +
        "GET /v1.0/tenantRelationships/delegatedAdminCustomers and delegatedAdminRelationships (every page), and write the " +
        "customers, their active relationships' roles and end dates to customers.json in the state directory. " +
        "Needs DelegatedAdminRelationship.Read.All (application, or delegated with an admin role in the partner tenant).",
    )
    .addOption(new Option("-o, --output <format>", "output format of the summary").choices(FORMATS).default("table"))
    .option("--partner-tenant <tenant>", "the partner tenant (id or domain); default: the profile's partner.tenantId")
    .addHelpText("after", "\nExit codes: 0 synced, 1 the partner tenant could not be read (the cache is left as it was), 2 bad usage.\nDocs: docs/commands/tenants.md")
    .action((flags: SyncFlags) =>
      run(async (ctx, retry) => {
        const partner = flags.partnerTenant ?? partnerProfile(ctx).partnerTenantId;
        if (!partner) throw new UsageError("Which partner tenant? Set partner.tenantId in the profile (see docs/configuration.md) or give --partner-tenant <tenant id>.");
        const partnerTenant = tenantRefToString(parseTenantRef(partner));
        const cache = await syncCustomers(ctx.graph(retry), partnerTenant, { signal: ctx.io.signal });
        const path = customersCachePath(defaultStateDir(ctx.io.env));
        writeCustomersCache(path, cache);
        const sink = await openSink(undefined, ctx.out);
        try {
          await writeRows(flags.output, sink, cache.customers.map((c) => customerRow(c, cache)), flags.output === "json" ? { path, ...summary(cache) } : undefined);
        } finally {
          await sink.close();
        }
        if (flags.output !== "json") {
          const s = summary(cache);
          ctx.err.write(`${s.customers} customers synced from partner tenant ${partnerTenant} (${s.byAccess["read+write"]} read+write, ${s.byAccess.read} read, ${s.byAccess.none + s.byAccess["no relationship"]} without access) to ${path}.\n`);
        }
        return EXIT.ok;
      }),
    );
}

function summary(cache: CustomersCache): { partnerTenantId: string; syncedAt: string; customers: number; byAccess: Record<GdapAccess, number> } {
  const byAccess: Record<GdapAccess, number> = { "read+write": 0, read: 0, none: 0, "no relationship": 0 };
  for (const c of cache.customers) byAccess[c.access]++;
  return { partnerTenantId: cache.partnerTenantId, syncedAt: cache.syncedAt, customers: cache.customers.length, byAccess };
}

/** One row of `tenants` / `tenants sync`. */
export interface TenantRow {
  tenant: string;
  tenantId: string | undefined;
  domain: string | undefined;
  displayName: string | undefined;
  source: CatalogueTenant["source"];
  accessMode: AccessMode | undefined;
  access: GdapAccess;
  roles: string[];
  relationshipEnds: string | undefined;
  relationships: { id: string; status: string; endDateTime: string | undefined }[];
  syncedAt: string | undefined;
}

function customerRow(c: CustomersCache["customers"][number], cache: CustomersCache, extra?: Partial<TenantRow>): TenantRow {
  const now = new Date();
  const ends = c.relationships.filter((r) => isActive(r, now) && r.endDateTime).map((r) => r.endDateTime!).sort();
  return {
    tenant: c.tenantId,
    tenantId: c.tenantId,
    domain: c.domain,
    displayName: c.displayName,
    source: "synced",
    accessMode: undefined,
    access: c.relationships.length === 0 ? "no relationship" : gdapAccess(c.roleIds),
    roles: c.roles,
    relationshipEnds: ends[0],
    relationships: c.relationships.map((r) => ({ id: r.id, status: r.status, endDateTime: r.endDateTime })),
    syncedAt: cache.syncedAt,
    ...extra,
  };
}

async function listTenants(ctx: CommandContext, flags: ListFlags): Promise<ExitCode> {
  const stateDir = defaultStateDir(ctx.io.env);
  const cache = readSyncedCustomers(stateDir);
  const profileTenants = ctx.profileExtras().tenants ?? [];
  const catalogue = allTenants(profileTenants, flags, tenantSourcesFor(ctx.io.env, () => ctx.profileExtras()));
  const profile = partnerProfile(ctx);
  const rows = catalogue.map((t): TenantRow => {
    const accessMode = profile.modeFor(t.tenant, t.tenantId ?? t.domain);
    const extra = { tenant: t.tenant, source: t.source, accessMode, domain: t.domain, displayName: t.displayName };
    if (t.customer && cache) return customerRow(t.customer, cache, extra);
    return { ...extra, tenantId: t.tenantId, access: "no relationship", roles: [], relationshipEnds: undefined, relationships: [], syncedAt: cache?.syncedAt };
  });
  const sink = await openSink(flags.out, ctx.out);
  try {
    await writeRows(flags.output, sink, rows, flags.output === "json" ? { stateDir, syncedAt: cache?.syncedAt ?? null, partnerTenantId: cache?.partnerTenantId ?? null } : undefined);
  } finally {
    await sink.close();
  }
  if (flags.output !== "json") {
    if (!cache) ctx.err.write("note: no customers synced yet: run mfactl tenants sync to add the partner's GDAP customers.\n");
    else if (rows.length === 0) ctx.err.write("No tenants.\n");
  }
  return EXIT.ok;
}

const COLUMNS: Column<TenantRow>[] = [
  { header: "TENANT", value: (r) => r.tenant },
  { header: "NAME", value: (r) => r.displayName },
  { header: "SOURCE", value: (r) => r.source },
  { header: "MODE", value: (r) => r.accessMode },
  { header: "ACCESS", value: (r) => r.access },
  { header: "ROLES", value: (r) => r.roles.join(", ") || undefined },
  { header: "ENDS", value: (r) => r.relationshipEnds?.slice(0, 10) },
];

const CSV_COLUMNS = ["tenant", "tenantId", "domain", "displayName", "source", "accessMode", "access", "roles", "relationshipEnds", "syncedAt"] as const;

async function writeRows(format: Format, sink: { write(s: string): Promise<void> }, rows: TenantRow[], meta: Record<string, unknown> | undefined): Promise<void> {
  if (format === "json") return sink.write(renderJson({ ...meta, tenants: rows }));
  if (format === "csv") {
    const csv = createCsvWriter(sink, CSV_COLUMNS);
    for (const r of rows) await csv.write({ ...r, roles: r.roles.join("; ") });
    await csv.end();
    return;
  }
  await sink.write(rows.length ? renderTable(rows, COLUMNS) : "");
}
