import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { GraphError, UsageError } from "../domain/errors.js";
import { isGuid, parseTenantRef, tenantRefToString } from "../domain/references.js";
import type { GraphClient } from "../transport/types.js";
import { gdapAccess, gdapRoleName, type GdapAccess } from "./roles.js";

/** One GDAP relationship as kept in the cache (active ones give the roles). */
export interface CachedRelationship {
  id: string;
  displayName: string | undefined;
  status: string;
  endDateTime: string | undefined;
  /** Role definition ids of `accessDetails.unifiedRoles`. */
  roleIds: string[];
}

/** A customer tenant of the partner, from `delegatedAdminCustomers` and its relationships. */
export interface SyncedCustomer {
  tenantId: string;
  displayName: string;
  /** The customer's default domain, when Graph told it (findTenantInformationByTenantId). */
  domain?: string | undefined;
  /** Role names of the active relationships, de-duplicated. */
  roles: string[];
  /** Role definition ids of the active relationships, de-duplicated. */
  roleIds: string[];
  /** What the active relationships allow mfactl to do. */
  access: GdapAccess;
  relationships: CachedRelationship[];
}

/** `customers.json` in the state directory. Not secret: tenant ids, names, roles. */
export interface CustomersCache {
  version: 1;
  partnerTenantId: string;
  syncedAt: string;
  customers: SyncedCustomer[];
}

export const CUSTOMERS_FILE = "customers.json";

interface RelationshipWire {
  id?: unknown;
  displayName?: unknown;
  status?: unknown;
  endDateTime?: unknown;
  customer?: { tenantId?: unknown; displayName?: unknown } | null;
  accessDetails?: { unifiedRoles?: { roleDefinitionId?: unknown }[] | null } | null;
}

interface CustomerWire {
  id?: unknown;
  tenantId?: unknown;
  displayName?: unknown;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** Every item of a Graph collection, following `@odata.nextLink`. */
export async function* graphCollection<T>(client: GraphClient, tenant: string, path: string, signal?: AbortSignal): AsyncGenerator<T> {
  let next: string | undefined = path;
  while (next !== undefined) {
    const res = await client.request<{ value?: T[]; "@odata.nextLink"?: unknown }>({ tenant, method: "GET", path: next, signal });
    const page = res.body?.value;
    if (!Array.isArray(page)) throw new GraphError(`Graph answered ${path} of ${tenant} without a "value" array.`, { status: res.status, code: "UnexpectedResponse", tenant, requestId: res.requestId });
    yield* page;
    next = str(res.body?.["@odata.nextLink"]);
  }
}

export interface SyncOptions {
  signal?: AbortSignal | undefined;
  now?: () => Date;
  /** Ask Graph for each customer's default domain (needs CrossTenantInformation.ReadBasic.All; skipped where refused). */
  resolveDomains?: boolean;
}

/**
 * Reads the partner's customers (`delegatedAdminCustomers`) and GDAP relationships (`delegatedAdminRelationships`)
 * in the partner tenant. Only active relationships give roles; a customer whose relationships all ended is kept
 * with access "none".
 */
export async function syncCustomers(client: GraphClient, partnerTenantId: string, options: SyncOptions = {}): Promise<CustomersCache> {
  const { signal } = options;
  const byId = new Map<string, SyncedCustomer>();
  const customer = (tenantId: string, displayName: string | undefined): SyncedCustomer => {
    const key = tenantId.toLowerCase();
    let c = byId.get(key);
    if (!c) {
      c = { tenantId: key, displayName: displayName ?? key, roles: [], roleIds: [], access: "no relationship", relationships: [] };
      byId.set(key, c);
    } else if (displayName && c.displayName === key) c.displayName = displayName;
    return c;
  };
  for await (const c of graphCollection<CustomerWire>(client, partnerTenantId, "/v1.0/tenantRelationships/delegatedAdminCustomers", signal)) {
    const tenantId = str(c.tenantId) ?? str(c.id);
    if (tenantId && isGuid(tenantId)) customer(tenantId, str(c.displayName));
  }
  for await (const r of graphCollection<RelationshipWire>(client, partnerTenantId, "/v1.0/tenantRelationships/delegatedAdminRelationships", signal)) {
    const tenantId = str(r.customer?.tenantId);
    const id = str(r.id);
    if (!tenantId || !isGuid(tenantId) || !id) continue;
    const roleIds = (r.accessDetails?.unifiedRoles ?? []).flatMap((u) => (str(u.roleDefinitionId) ? [str(u.roleDefinitionId)!.toLowerCase()] : []));
    customer(tenantId, str(r.customer?.displayName)).relationships.push({ id, displayName: str(r.displayName), status: str(r.status) ?? "unknown", endDateTime: str(r.endDateTime), roleIds });
  }
  const now = (options.now ?? (() => new Date()))();
  for (const c of byId.values()) {
    const active = c.relationships.filter((r) => isActive(r, now));
    c.roleIds = [...new Set(active.flatMap((r) => r.roleIds))];
    c.roles = c.roleIds.map(gdapRoleName);
    c.access = c.relationships.length === 0 ? "no relationship" : gdapAccess(c.roleIds);
  }
  if (options.resolveDomains !== false) {
    for (const c of byId.values()) c.domain = await defaultDomain(client, partnerTenantId, c.tenantId, signal);
  }
  const customers = [...byId.values()].sort((a, b) => a.displayName.localeCompare(b.displayName) || a.tenantId.localeCompare(b.tenantId));
  return { version: 1, partnerTenantId, syncedAt: now.toISOString(), customers };
}

/** An active relationship that has not reached its end date. */
export function isActive(r: CachedRelationship, now: Date): boolean {
  if (r.status !== "active") return false;
  return r.endDateTime === undefined || !(Date.parse(r.endDateTime) <= now.getTime());
}

async function defaultDomain(client: GraphClient, partnerTenantId: string, tenantId: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  try {
    const res = await client.request<{ defaultDomainName?: unknown }>({
      tenant: partnerTenantId,
      method: "GET",
      path: `/v1.0/tenantRelationships/findTenantInformationByTenantId(tenantId='${tenantId}')`,
      signal,
    });
    return str(res.body?.defaultDomainName)?.toLowerCase();
  } catch (error) {
    // The domain only helps match profile entries: a refusal (no permission, not served) leaves it unknown.
    if (error instanceof GraphError) return undefined;
    throw error;
  }
}

/** Where the cache lives: `customers.json` in the state directory. */
export function customersCachePath(stateDir: string): string {
  return join(stateDir, CUSTOMERS_FILE);
}

/** The cache, or undefined when no sync was run. A damaged file is bad usage: it names the path and the fix. */
export function readCustomersCache(path: string): CustomersCache | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(`Cannot read the synced customers ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
  const fix = "run `mfactl tenants sync` again";
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError(`The synced customers ${path} are not valid JSON: ${fix}.`);
  }
  const cache = raw as Partial<CustomersCache>;
  if (cache.version !== 1 || typeof cache.partnerTenantId !== "string" || typeof cache.syncedAt !== "string" || !Array.isArray(cache.customers)) {
    throw new UsageError(`The synced customers ${path} are not in the expected shape: ${fix}.`);
  }
  for (const c of cache.customers) {
    if (typeof c?.tenantId !== "string" || !isGuid(c.tenantId) || !Array.isArray(c.roleIds) || !Array.isArray(c.relationships)) {
      throw new UsageError(`The synced customers ${path} hold an entry without a tenant id or roles: ${fix}.`);
    }
  }
  return cache as CustomersCache;
}

/** Writes the cache atomically (temp file, then rename), creating the directory (0700). */
export function writeCustomersCache(path: string, cache: CustomersCache): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(cache, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
}

/** One tenant mfactl knows of: from the profile, the synced customers, or both. */
export interface CatalogueTenant {
  /** What commands are given: the profile's entry as written, else the customer's tenant id. */
  tenant: string;
  tenantId: string | undefined;
  domain: string | undefined;
  displayName: string | undefined;
  source: "profile" | "synced" | "profile+synced";
  /** The synced customer, when there is one. */
  customer: SyncedCustomer | undefined;
}

/**
 * The profile's tenants and the synced customers, de-duplicated by tenant id. A profile entry given as a domain
 * is matched to a customer whose domain the cache knows, else kept as it is. Profile entries come first, in order.
 */
export function tenantCatalogue(profileTenants: readonly string[], cache: CustomersCache | undefined): CatalogueTenant[] {
  const customers = cache?.customers ?? [];
  const byId = new Map(customers.map((c) => [c.tenantId.toLowerCase(), c]));
  const byDomain = new Map(customers.flatMap((c) => (c.domain ? [[c.domain.toLowerCase(), c] as const] : [])));
  const out: CatalogueTenant[] = [];
  const seen = new Set<string>();
  for (const entry of profileTenants) {
    const ref = parseTenantRef(entry);
    const key = tenantRefToString(ref);
    const c = ref.kind === "id" ? byId.get(key) : byDomain.get(key);
    const identity = c ? c.tenantId : key;
    if (seen.has(identity) || seen.has(key)) continue;
    seen.add(identity);
    seen.add(key);
    out.push({
      tenant: entry.trim(),
      tenantId: ref.kind === "id" ? key : c?.tenantId,
      domain: ref.kind === "domain" ? key : c?.domain,
      displayName: c?.displayName,
      source: c ? "profile+synced" : "profile",
      customer: c,
    });
  }
  for (const c of customers) {
    if (seen.has(c.tenantId) || (c.domain !== undefined && seen.has(c.domain))) continue;
    seen.add(c.tenantId);
    out.push({ tenant: c.tenantId, tenantId: c.tenantId, domain: c.domain, displayName: c.displayName, source: "synced", customer: c });
  }
  return out;
}

/** Whether a catalogue tenant is named by an include/exclude entry (tenant id or domain, any case). */
export function tenantMatches(t: Pick<CatalogueTenant, "tenant" | "tenantId" | "domain">, entry: string): boolean {
  const e = entry.trim().toLowerCase();
  return [t.tenant, t.tenantId, t.domain].some((v) => v !== undefined && v.toLowerCase() === e);
}

/** Narrows a catalogue: only the included tenants (when any is listed), never the excluded ones. */
export function filterCatalogue<T extends Pick<CatalogueTenant, "tenant" | "tenantId" | "domain">>(tenants: readonly T[], include: readonly string[], exclude: readonly string[]): T[] {
  return tenants.filter((t) => (include.length === 0 || include.some((e) => tenantMatches(t, e))) && !exclude.some((e) => tenantMatches(t, e)));
}
