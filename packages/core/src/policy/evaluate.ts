import { isGuid } from "../domain/references.js";
import { satisfies, type MfaState, type MfaStateRead } from "../domain/mfa-state.js";
import { ALL_TENANTS, type Policy, type PolicyConditions } from "./policy-file.js";

/**
 * Pure evaluation of a parsed policy (docs/policy.md, "How a policy is applied"). No I/O: the
 * caller reads users and resolves groups through Graph and hands the facts in.
 */

/** A tenant as the caller knows it. Every name given is tried against the policies' `tenants`. */
export interface PolicyTenant {
  /** The tenant as given on the command line or in the tenants file. */
  ref: string;
  /** The tenant id (GUID), for example from the token's `tid`. */
  id?: string | undefined;
  domain?: string | undefined;
  /** More domains of the tenant (verified domains), when known. */
  domains?: readonly string[] | undefined;
}

/** A list entry and the policy it comes from, so a decision can say which policy excluded a user. */
export interface PolicyEntry {
  ref: string;
  policy: string;
}

export interface TenantRule {
  /** The name of the policy the rule belongs to. */
  policy: string;
  name: string;
  when: PolicyConditions;
  state: MfaState;
}

/** Everything of a policy file that applies to one tenant, combined. */
export interface TenantPolicy {
  tenant: string;
  /** Names of the applying policies, in precedence order: those naming the tenant, then the "*" ones. */
  policies: readonly string[];
  /** In that order; the first rule that matches a user decides. */
  rules: readonly TenantRule[];
  excludeUsers: readonly PolicyEntry[];
  excludeGroups: readonly PolicyEntry[];
  /** True unless every applying policy sets `exclude.directorySyncAccounts: false`. */
  excludeDirectorySyncAccounts: boolean;
  breakGlass: readonly PolicyEntry[];
}

export interface PolicyUser {
  id: string;
  userPrincipalName: string;
  /** As Graph returns it: `Member` or `Guest`. */
  userType: string;
  accountEnabled: boolean;
  isLicensed: boolean;
}

export interface PolicyFacts {
  /** Transitive membership; called only with strings returned by `groupRefs`. */
  memberOf(groupRef: string): boolean;
  /** Holds the Directory Synchronization Accounts role. */
  isDirectorySyncAccount: boolean;
}

export type UnmanagedReason = "breakGlass" | "excludedUser" | "excludedGroup" | "directorySync" | "noRule";

export type PolicyDecision =
  | { managed: false; reason: UnmanagedReason; detail?: string }
  /** `rule` is the rule's name, `policy` the name of the policy it belongs to. */
  | { managed: true; requestedState: MfaState; rule: string; policy: string };

const canonical = (value: string): string => value.trim().toLowerCase();

/**
 * The combined policy for a tenant, or undefined when no policy applies to it. Policies naming
 * the tenant come first (in file order), then the "*" ones; their rules are concatenated in that
 * order and their exclusions and break-glass lists united.
 */
export function policyForTenant(policy: Policy, tenant: PolicyTenant): TenantPolicy | undefined {
  const names = new Set([tenant.ref, tenant.id, tenant.domain, ...(tenant.domains ?? [])].filter((n): n is string => !!n).map(canonical));
  const explicit = policy.policies.filter((s) => s.tenants.some((t) => t !== ALL_TENANTS && names.has(t)));
  const everyTenant = policy.policies.filter((s) => s.tenants.includes(ALL_TENANTS));
  const applying = [...explicit, ...everyTenant];
  if (applying.length === 0) return undefined;
  return {
    tenant: tenant.ref,
    policies: applying.map((s) => s.name),
    rules: applying.flatMap((s) => s.rules.map((r) => ({ policy: s.name, name: r.name, when: r.when, state: r.state }))),
    excludeUsers: applying.flatMap((s) => s.exclude.users.map((ref) => ({ ref, policy: s.name }))),
    excludeGroups: applying.flatMap((s) => s.exclude.groups.map((ref) => ({ ref, policy: s.name }))),
    // Exclusions only add up: one applying policy asking to leave sync accounts alone is enough.
    excludeDirectorySyncAccounts: applying.some((s) => s.exclude.directorySyncAccounts),
    breakGlass: applying.flatMap((s) => s.breakGlass.map((ref) => ({ ref, policy: s.name }))),
  };
}

/** The tenant ids and domains the file names explicitly, so a caller can warn about ones that matched no tenant. */
export function policyTenantRefs(policy: Policy): string[] {
  return unique(policy.policies.flatMap((s) => s.tenants.filter((t) => t !== ALL_TENANTS)));
}

/** Every group (display name or id) the tenant's policy mentions: rules' `memberOf` and `exclude.groups`. */
export function groupRefs(tenantPolicy: TenantPolicy): string[] {
  return unique([...tenantPolicy.rules.flatMap((r) => r.when.memberOf ?? []), ...tenantPolicy.excludeGroups.map((e) => e.ref)]);
}

/** The break-glass accounts (UPNs or object ids): never managed, and to be treated as protected accounts. */
export function breakGlassAccounts(tenantPolicy: TenantPolicy): string[] {
  return unique(tenantPolicy.breakGlass.map((e) => e.ref));
}

/**
 * What the policy wants for one user. Exclusions are checked before any rule, in this order:
 * break-glass, excluded users, excluded groups, directory synchronization accounts.
 */
export function evaluateUser(tenantPolicy: TenantPolicy, user: PolicyUser, facts: PolicyFacts): PolicyDecision {
  const breakGlass = tenantPolicy.breakGlass.find((e) => isUser(e.ref, user));
  if (breakGlass) return { managed: false, reason: "breakGlass", detail: describe("breakGlass", breakGlass) };
  const excludedUser = tenantPolicy.excludeUsers.find((e) => isUser(e.ref, user));
  if (excludedUser) return { managed: false, reason: "excludedUser", detail: describe("exclude.users", excludedUser) };
  const excludedGroup = tenantPolicy.excludeGroups.find((e) => facts.memberOf(e.ref));
  if (excludedGroup) return { managed: false, reason: "excludedGroup", detail: describe("exclude.groups", excludedGroup) };
  if (tenantPolicy.excludeDirectorySyncAccounts && facts.isDirectorySyncAccount) {
    return { managed: false, reason: "directorySync", detail: "holds the Directory Synchronization Accounts role" };
  }
  const rule = tenantPolicy.rules.find((r) => matches(r.when, user, facts));
  if (!rule) return { managed: false, reason: "noRule" };
  return { managed: true, requestedState: rule.state, rule: rule.name, policy: rule.policy };
}

/**
 * Whether a managed user's current state differs from the policy's. A user asked to be `enabled`
 * who reads `enforced` has registered a method: Entra moved them on, that is no drift. `unknown` is drift.
 */
export function isDrift(decision: PolicyDecision, perUserMfaState: MfaStateRead): boolean {
  return decision.managed && !satisfies(perUserMfaState, decision.requestedState);
}

function describe(list: string, entry: PolicyEntry): string {
  return `${list} ${JSON.stringify(entry.ref)} in policy ${JSON.stringify(entry.policy)}`;
}

/** Object ids compare with the user's id, anything else with the UPN; both case-insensitively, as Entra does. */
function isUser(ref: string, user: PolicyUser): boolean {
  return isGuid(ref) ? canonical(ref) === canonical(user.id) : canonical(ref) === canonical(user.userPrincipalName);
}

function matches(when: PolicyConditions, user: PolicyUser, facts: PolicyFacts): boolean {
  // Cheap checks first: memberOf may consult large membership sets.
  if (when.userType !== undefined && canonical(user.userType) !== when.userType) return false;
  if (when.licensed !== undefined && user.isLicensed !== when.licensed) return false;
  if (when.accountEnabled !== undefined && user.accountEnabled !== when.accountEnabled) return false;
  if (when.upn !== undefined && !when.upn.some((p) => globMatch(p, user.userPrincipalName))) return false;
  if (when.memberOf !== undefined && !when.memberOf.some((g) => facts.memberOf(g))) return false;
  return true;
}

/**
 * Case-insensitive match where `*` stands for any run of characters and everything else is literal.
 * Greedy leftmost search of each literal piece is exact for such patterns and linear in practice.
 */
export function globMatch(pattern: string, value: string): boolean {
  const pieces = canonical(pattern).split("*");
  const text = canonical(value);
  const first = pieces[0] ?? "";
  if (pieces.length === 1) return text === first;
  const last = pieces[pieces.length - 1] ?? "";
  if (text.length < first.length + last.length || !text.startsWith(first) || !text.endsWith(last)) return false;
  const end = text.length - last.length;
  let position = first.length;
  for (const piece of pieces.slice(1, -1)) {
    const found = text.indexOf(piece, position);
    if (found < 0 || found + piece.length > end) return false;
    position = found + piece.length;
  }
  return true;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
