import { Option, type Command } from "commander";
import { parseStateFilter, READ_STRATEGIES, UsageError, type ReadStrategy, type UserFilters } from "@mfactl/core";
import { readTenantsFile } from "./render/input-files.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Tenant selection shared by report and bulk set: repeatable --tenant, a file, or the profile's list. */
export function addTenantOptions(cmd: Command): Command {
  return cmd
    .option("-t, --tenant <tenant>", "tenant id or domain (repeatable)", collect)
    .option("--tenants-file <file>", "CSV with a tenant column, or a JSON array of tenants")
    .option("--all-tenants", "every tenant listed in the profile (tenants: [...])");
}

/** The report's filters, also used by bulk set to select users. */
export function addFilterOptions(cmd: Command): Command {
  return cmd
    .option("--where-state <state>", "only users in this state: disabled, enabled, enforced, unknown (repeatable)", collect)
    .option("--licensed", "only users with a licence")
    .option("--members", "only members (with --guests: both)")
    .option("--guests", "only guests (with --members: both)")
    .option("--enabled-accounts", "only accounts that can sign in")
    .addOption(new Option("--read-strategy <strategy>", "how states are read: the user listing (fast), per user, or auto").choices(READ_STRATEGIES).default("auto"));
}

export interface TenantFlags {
  tenant?: string[];
  tenantsFile?: string;
  allTenants?: boolean;
}

export interface FilterFlags {
  whereState?: string[];
  licensed?: boolean;
  members?: boolean;
  guests?: boolean;
  enabledAccounts?: boolean;
  readStrategy: ReadStrategy;
}

export async function pickTenants(flags: TenantFlags, settings: () => { tenants: string[]; defaultTenant: string | undefined }, options: { required: boolean }): Promise<string[]> {
  const sources = [flags.tenant?.length ? "--tenant" : undefined, flags.tenantsFile ? "--tenants-file" : undefined, flags.allTenants ? "--all-tenants" : undefined].filter(Boolean);
  if (sources.length > 1) throw new UsageError(`Give one of ${sources.join(", ")}, not several.`);
  if (flags.tenant?.length) return flags.tenant;
  if (flags.tenantsFile) {
    const tenants = await readTenantsFile(flags.tenantsFile);
    if (tenants.length === 0) throw new UsageError(`${flags.tenantsFile} lists no tenants.`);
    return tenants;
  }
  if (flags.allTenants) {
    const { tenants } = settings();
    if (tenants.length === 0) throw new UsageError("--all-tenants: the profile lists no tenants (add \"tenants\": [...] to it; see docs/configuration.md).");
    return tenants;
  }
  const fallback = options.required ? settings().defaultTenant : undefined;
  if (fallback) return [fallback];
  if (options.required) throw new UsageError("Which tenants? Give --tenant <t> (repeatable), --tenants-file <file> or --all-tenants.");
  return [];
}

export function pickFilters(flags: FilterFlags): UserFilters {
  return {
    ...(flags.whereState?.length ? { states: parseStateFilter(flags.whereState) } : {}),
    ...(flags.licensed ? { licensed: true } : {}),
    ...(flags.members ? { members: true } : {}),
    ...(flags.guests ? { guests: true } : {}),
    ...(flags.enabledAccounts ? { enabledAccounts: true } : {}),
  };
}
