import { UsageError } from "../domain/errors.js";

/**
 * Guard rails every changing command honours: protected accounts (break-glass, directory
 * synchronisation) that are changed only when named and allowed with --include-protected, and a
 * cap on one run's size that stops the run before it starts.
 */
export type MaxChanges = { kind: "count"; count: number; text: string } | { kind: "percent"; percent: number; text: string };

/** `500` or `10%`. */
export function parseMaxChanges(raw: string | number, source = "--max-changes"): MaxChanges {
  const text = String(raw).trim();
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(text);
  if (percent) {
    const p = Number(percent[1]);
    if (p > 0 && p <= 100) return { kind: "percent", percent: p, text };
  } else if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (Number.isSafeInteger(n) && n >= 0) return { kind: "count", count: n, text };
  }
  throw new UsageError(`Invalid ${source} ${JSON.stringify(text)}: expected a number of users (500) or a percentage of the users selected (10%).`);
}

export function changeLimit(cap: MaxChanges, selected: number): number {
  return cap.kind === "count" ? cap.count : Math.floor((selected * cap.percent) / 100);
}

/** Throws (nothing done) when `changes` exceeds the cap. */
export function checkMaxChanges(changes: number, selected: number, cap: MaxChanges | undefined, source: string): void {
  if (!cap) return;
  const limit = changeLimit(cap, selected);
  if (changes <= limit) return;
  const base = cap.kind === "percent" ? ` (${cap.text} of the ${selected} users selected)` : "";
  throw new UsageError(
    `This run would change ${changes} users, over the cap of ${limit}${base} set by ${source}. Nothing was changed. ` +
      `Narrow the selection, or raise the cap with --max-changes <n|p%> if this is intended.`,
  );
}

/** Protected accounts by UPN or object id, case-insensitive; per tenant or for every tenant. */
export class ProtectedAccounts {
  private readonly everywhere = new Set<string>();
  private readonly byTenant = new Map<string, Set<string>>();
  private readonly reasons = new Map<string, string>();
  private readonly patterns: { tenant: string | undefined; pattern: RegExp; reason: string }[] = [];

  constructor(accounts: readonly string[] = []) {
    for (const a of accounts) this.add(a, "listed in the profile's protectedAccounts");
  }

  add(account: string, reason: string, tenant?: string): void {
    const key = account.trim().toLowerCase();
    if (!key) return;
    if (tenant === undefined) this.everywhere.add(key);
    else {
      const set = this.byTenant.get(tenant.toLowerCase()) ?? new Set<string>();
      set.add(key);
      this.byTenant.set(tenant.toLowerCase(), set);
    }
    this.reasons.set(`${tenant?.toLowerCase() ?? "*"}/${key}`, reason);
  }

  /** Users whose UPN matches (per tenant, or everywhere when `tenant` is undefined). */
  addPattern(pattern: RegExp, reason: string, tenant?: string): void {
    this.patterns.push({ tenant: tenant?.toLowerCase(), pattern, reason });
  }

  /** Why the user is protected, or undefined. */
  reason(tenant: string, user: { id: string; userPrincipalName: string }): string | undefined {
    const t = tenant.toLowerCase();
    for (const key of [user.id.toLowerCase(), user.userPrincipalName.toLowerCase()]) {
      if (!key) continue;
      if (this.byTenant.get(t)?.has(key)) return this.reasons.get(`${t}/${key}`);
      if (this.everywhere.has(key)) return this.reasons.get(`*/${key}`);
    }
    return this.patterns.find((p) => (p.tenant === undefined || p.tenant === t) && p.pattern.test(user.userPrincipalName))?.reason;
  }
}

/** A run that names protected accounts without --include-protected changes nothing. */
export function refuseProtected(found: { tenant: string; userPrincipalName: string; reason: string }[]): void {
  if (found.length === 0) return;
  const shown = found.slice(0, 5).map((f) => `${f.userPrincipalName} (${f.tenant}: ${f.reason})`);
  throw new UsageError(
    `${found.length} protected account${found.length === 1 ? "" : "s"} in this run: ${shown.join(", ")}${found.length > 5 ? ", ..." : ""}. ` +
      `Nothing was changed. Leave ${found.length === 1 ? "it" : "them"} out, or name ${found.length === 1 ? "it" : "them"} and add --include-protected.`,
  );
}
