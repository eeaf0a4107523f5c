import { GraphError } from "../domain/errors.js";
import type { BatchEngine } from "../engine/types.js";
import { collectionPages, directoryRoleHolders, groupMemberIds, type RoleHolders } from "./directory.js";
import { errorInfo } from "./errors-to-info.js";
import { ok } from "./mfa-port.js";

/**
 * What a posture report reads from a tenant besides the users, each either known or unknown
 * with the reason: a source that cannot be read (no P1/P2 licence, a missing permission) is
 * said to be unknown, never replaced by a guess.
 */
export type Known<T> = { known: true; value: T } | { known: false; code: string; reason: string };

export interface RegistrationWire {
  id: string;
  isMfaRegistered?: boolean;
  isMfaCapable?: boolean;
  methodsRegistered?: string[];
  defaultMfaMethod?: string | null;
  isAdmin?: boolean;
}

export interface TenantSources {
  securityDefaults: Known<boolean>;
  /** Conditional Access policies as Graph returns them. */
  policies: Known<unknown[]>;
  /** By lower-case user id. */
  registration: Known<Map<string, RegistrationWire>>;
  /** Last sign-in by lower-case user id (null: never signed in). */
  signIns: Known<Map<string, string | null>>;
  roles: Known<RoleHolders>;
  /** Transitive members (lower-case ids) of the groups the policies name. */
  groups: Known<Map<string, Set<string>>>;
}

const PREMIUM_CODES = new Set(["Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Authentication_RequestFromUnsupportedUserRole"]);

/** Why a source is unknown, in words an administrator can act on. */
export function unknownBecause(error: unknown, what: string, permission: string): { known: false; code: string; reason: string } {
  if (error instanceof GraphError) {
    if (PREMIUM_CODES.has(error.code)) return { known: false, code: "LicenceRequired", reason: `Reading ${what} needs Microsoft Entra ID P1 or P2, which this tenant does not have (${error.code}).` };
    if (error.status === 403) return { known: false, code: "PermissionMissing", reason: `Reading ${what} needs the application permission ${permission} (with admin consent) in this tenant.` };
  }
  const info = errorInfo(error);
  return { known: false, code: info.code, reason: `Reading ${what} failed: ${info.message}` };
}

async function attempt<T>(read: () => Promise<T>, what: string, permission: string, signal: AbortSignal | undefined): Promise<Known<T>> {
  try {
    return { known: true, value: await read() };
  } catch (error) {
    if (signal?.aborted) throw error;
    // A tenant that fails as a whole (token, network) fails the report of that tenant, not one source.
    if (!(error instanceof GraphError)) throw error;
    return unknownBecause(error, what, permission);
  }
}

/** Group ids named by policies' include/exclude lists. */
export function policyGroupIds(policies: readonly unknown[]): string[] {
  const ids = new Set<string>();
  for (const p of policies) {
    const users = (p as { conditions?: { users?: { includeGroups?: unknown; excludeGroups?: unknown } } }).conditions?.users;
    for (const list of [users?.includeGroups, users?.excludeGroups]) if (Array.isArray(list)) for (const id of list) if (typeof id === "string") ids.add(id.toLowerCase());
  }
  return [...ids];
}

export async function readTenantSources(engine: BatchEngine, tenant: string, signal?: AbortSignal): Promise<TenantSources> {
  const securityDefaults = await attempt(
    async () => {
      const res = ok(await engine.direct<{ isEnabled?: unknown }>({ tenant, version: "v1.0", method: "GET", url: "/policies/identitySecurityDefaultsEnforcementPolicy", signal }), tenant, undefined, "GET security defaults", "/policies");
      if (typeof res.body?.isEnabled !== "boolean") throw new GraphError(`Graph returned the security defaults policy of ${tenant} without isEnabled.`, { status: res.status, code: "UnexpectedResponse", tenant });
      return res.body.isEnabled;
    },
    "whether security defaults are on",
    "Policy.Read.All",
    signal,
  );
  const policies = await attempt(
    async () => {
      const all: unknown[] = [];
      for await (const page of collectionPages<unknown>(engine, tenant, "/identity/conditionalAccess/policies", {}, "/identity/conditionalAccess/policies", signal)) all.push(...page);
      return all;
    },
    "Conditional Access policies",
    "Policy.Read.All",
    signal,
  );
  const registration = await attempt(
    async () => {
      const byId = new Map<string, RegistrationWire>();
      for await (const page of collectionPages<RegistrationWire>(engine, tenant, "/reports/authenticationMethods/userRegistrationDetails", { $top: "999" }, "/reports/authenticationMethods/userRegistrationDetails", signal, undefined, "beta")) {
        for (const r of page) if (typeof r.id === "string") byId.set(r.id.toLowerCase(), r);
      }
      return byId;
    },
    "MFA registration (the authentication methods registration report)",
    "AuditLog.Read.All",
    signal,
  );
  const signIns = await attempt(
    async () => {
      const byId = new Map<string, string | null>();
      for await (const page of collectionPages<{ id?: string; signInActivity?: { lastSignInDateTime?: string | null } | null }>(engine, tenant, "/users", { $select: "id,signInActivity", $top: "500" }, "/users (signInActivity)", signal)) {
        for (const u of page) if (typeof u.id === "string") byId.set(u.id.toLowerCase(), u.signInActivity?.lastSignInDateTime ?? null);
      }
      return byId;
    },
    "last sign-ins",
    "AuditLog.Read.All",
    signal,
  );
  const roles = await attempt(() => directoryRoleHolders(engine, tenant, signal), "directory role assignments", "RoleManagement.Read.Directory", signal);
  const groups: Known<Map<string, Set<string>>> = policies.known
    ? await attempt(
        async () => {
          const members = new Map<string, Set<string>>();
          for (const id of policyGroupIds(policies.value)) members.set(id, await groupMemberIds(engine, tenant, id, signal));
          return members;
        },
        "the members of the groups Conditional Access names",
        "GroupMember.Read.All",
        signal,
      )
    : { known: true, value: new Map() };
  return { securityDefaults, policies, registration, signIns, roles, groups };
}
