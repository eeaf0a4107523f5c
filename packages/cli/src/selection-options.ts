import { AsyncLocalStorage } from "node:async_hooks";
import { dirname } from "node:path";
import { Option, type Command } from "commander";
import {
  customersCachePath,
  filterCatalogue,
  parseStateFilter,
  readCustomersCache,
  READ_STRATEGIES,
  tenantCatalogue,
  tenantRefProblem,
  UsageError,
  type CatalogueTenant,
  type CustomersCache,
  type ReadStrategy,
  type UserFilters,
} from "@mfactl/core";
import { defaultJournalPath } from "@mfactl/store";
import { readTenantsFile } from "./render/input-files.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Tenant selection shared by report and bulk set: repeatable --tenant, a file, or the profile's list. */
export function addTenantOptions(cmd: Command): Command {
  return cmd
    .option("-t, --tenant <tenant>", "tenant id or domain (repeatable)", collect)
    .option("--tenants-file <file>", "CSV with a tenant column, or a JSON array of tenants")
    .option("--all-tenants", "the profile's tenants and the customers `mfactl tenants sync` found, de-duplicated by tenant id")
    .option("--include-tenant <tenant>", "with --all-tenants: only this tenant, id or domain (repeatable; adds to the profile's includeTenants)", collect)
    .option("--exclude-tenant <tenant>", "with --all-tenants: leave this tenant out, id or domain (repeatable; adds to the profile's excludeTenants)", collect);
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
  includeTenant?: string[];
  excludeTenant?: string[];
}

/** What `--all-tenants` reads besides the profile's tenant list: the state directory and the profile's include/exclude lists. */
export interface TenantSources {
  /** The state directory, where `customers.json` lives. */
  stateDir: string;
  /** The profile's `includeTenants` and `excludeTenants` (read only when --all-tenants is given). */
  profileLists: () => { includeTenants: string[]; excludeTenants: string[] };
}

// Set by the command runner for the duration of a command, so every command's --all-tenants sees the synced customers.
const tenantSources = new AsyncLocalStorage<TenantSources>();

export function withTenantSources<T>(sources: TenantSources, body: () => Promise<T>): Promise<T> {
  return tenantSources.run(sources, body);
}

/** The state directory: next to the default journal ($XDG_STATE_HOME/mfactl, else ~/.local/state/mfactl). */
export function defaultStateDir(env: Record<string, string | undefined>): string {
  return dirname(defaultJournalPath(env));
}

/** The synced customers, or undefined before the first `mfactl tenants sync`. */
export function readSyncedCustomers(stateDir: string): CustomersCache | undefined {
  return readCustomersCache(customersCachePath(stateDir));
}

/** A profile key that is a list of tenants (includeTenants, excludeTenants), checked. */
export function profileTenantList(profile: Record<string, unknown>, key: string): string[] {
  const value = profile[key];
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw new UsageError(`The profile's ${key} must be a list of tenant ids or domains.`);
  return checkTenants(value as string[], `the profile's ${key}`);
}

function checkTenants(values: string[], where: string): string[] {
  for (const v of values) {
    const problem = tenantRefProblem(v);
    if (problem) throw new UsageError(`${where}: ${problem}`);
  }
  return values.map((v) => v.trim());
}

/** TenantSources for a command: the state directory of `env` and the lists of the profile `extras` returns. */
export function tenantSourcesFor(env: Record<string, string | undefined>, extras: () => object): TenantSources {
  return {
    stateDir: defaultStateDir(env),
    profileLists: () => {
      const profile = extras() as Record<string, unknown>;
      return { includeTenants: profileTenantList(profile, "includeTenants"), excludeTenants: profileTenantList(profile, "excludeTenants") };
    },
  };
}

/** `--all-tenants`: the profile's tenants and the synced customers, de-duplicated by tenant id, then include/exclude. */
export function allTenants(profileTenants: readonly string[], flags: Pick<TenantFlags, "includeTenant" | "excludeTenant">, sources: TenantSources | undefined): CatalogueTenant[] {
  const cache = sources ? readSyncedCustomers(sources.stateDir) : undefined;
  const lists = sources?.profileLists() ?? { includeTenants: [], excludeTenants: [] };
  const include = [...lists.includeTenants, ...checkTenants(flags.includeTenant ?? [], "--include-tenant")];
  const exclude = [...lists.excludeTenants, ...checkTenants(flags.excludeTenant ?? [], "--exclude-tenant")];
  return filterCatalogue(tenantCatalogue(profileTenants, cache), include, exclude);
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
  const narrowing = flags.includeTenant?.length ? "--include-tenant" : flags.excludeTenant?.length ? "--exclude-tenant" : undefined;
  if (narrowing && !flags.allTenants) throw new UsageError(`${narrowing} narrows --all-tenants: add --all-tenants (with --tenant or --tenants-file, name the tenants you want).`);
  if (flags.tenant?.length) return flags.tenant;
  if (flags.tenantsFile) {
    const tenants = await readTenantsFile(flags.tenantsFile);
    if (tenants.length === 0) throw new UsageError(`${flags.tenantsFile} lists no tenants.`);
    return tenants;
  }
  if (flags.allTenants) {
    const { tenants } = settings();
    const scope = tenantSources.getStore();
    const all = allTenants(tenants, flags, scope);
    if (all.length === 0) {
      const synced = scope ? readSyncedCustomers(scope.stateDir) : undefined;
      if (tenants.length === 0 && !synced?.customers.length)
        throw new UsageError("--all-tenants: the profile lists no tenants and no customers are synced (add \"tenants\": [...] to the profile, or run mfactl tenants sync; see docs/configuration.md).");
      throw new UsageError("--all-tenants: --include-tenant/--exclude-tenant (or the profile's includeTenants/excludeTenants) leave no tenant.");
    }
    return all.map((t) => t.tenant);
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
