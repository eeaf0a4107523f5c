import type { z } from "zod";
import type { ServedTenantSchema } from "./settings.js";

export interface ServedTenant {
  /** What Graph is called with, and the `tenant` field of every answer. */
  tenant: string;
  displayName?: string | undefined;
  /** Every name it answers to, lower case (the tenant itself included). */
  names: Set<string>;
}

/** The tenants this server serves, found by any of their names, case-insensitively. */
export class ServedTenants {
  private readonly byName = new Map<string, ServedTenant>();
  readonly list: readonly ServedTenant[];

  constructor(entries: readonly z.infer<typeof ServedTenantSchema>[]) {
    const list: ServedTenant[] = [];
    for (const entry of entries) {
      const e = typeof entry === "string" ? { tenant: entry, aliases: [] as string[], displayName: undefined } : entry;
      const names = new Set([e.tenant, ...e.aliases].map((n) => n.toLowerCase()));
      const served: ServedTenant = { tenant: e.tenant, displayName: e.displayName, names };
      for (const name of names) if (!this.byName.has(name)) this.byName.set(name, served);
      list.push(served);
    }
    this.list = list;
  }

  find(ref: string): ServedTenant | undefined {
    return this.byName.get(ref.trim().toLowerCase());
  }

  /** An allow-list (ids or domains) includes this tenant under any of its names; undefined allows all. */
  static allows(allowList: readonly string[] | undefined, tenant: ServedTenant): boolean {
    return allowList === undefined || allowList.some((n) => tenant.names.has(n.toLowerCase()));
  }
}
