import { z } from "zod";
import { TenantRefSchema } from "../domain/references.js";
import type { ErrorInfo } from "../domain/vocabulary.js";
import type { BatchEngine } from "../engine/types.js";
import { parseCaPolicies } from "../posture/ca-policy.js";
import { evaluateTenantPosture, type PostureTenantFacts, type PostureUser, type TenantPosture } from "../posture/evaluate-posture.js";
import { mergeBounded } from "../util/concurrent.js";
import { errorInfo } from "./errors-to-info.js";
import { parseInput } from "./parse-input.js";
import { readTenantSources, type Known, type TenantSources } from "./posture-sources.js";
import type { ProgressEvent } from "./report.js";
import { listTenantUsers, READ_STRATEGIES } from "./tenant-users.js";
import { UserFiltersSchema } from "./user-filters.js";

export const PostureInputSchema = z.object({
  tenants: z.array(TenantRefSchema).min(1, "Give at least one tenant (--tenant, --tenants-file or --all-tenants)."),
  filters: UserFiltersSchema.default({}),
  readStrategy: z.enum(READ_STRATEGIES).default("auto"),
});
export type PostureInput = z.input<typeof PostureInputSchema>;

/** What could not be known in a tenant, and why (a licence, a permission): never replaced by a guess. */
export interface UnknownSource {
  source: "securityDefaults" | "conditionalAccess" | "registration" | "signIns" | "roles" | "groups";
  code: string;
  reason: string;
}

/** The counts behind a tenant's summary. */
export interface PostureCounts {
  users: number;
  enabledAccounts: number;
  admins: number;
  byProtection: Record<string, number>;
  byPerUserMfaState: Record<string, number>;
  byFinding: Record<string, number>;
}

export type TenantPostureResult =
  | ({ status: "completed"; unknown: UnknownSource[]; counts: PostureCounts } & TenantPosture)
  | { tenant: string; status: "failed"; error: ErrorInfo };

export interface PostureOptions {
  tenantConcurrency?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: ProgressEvent) => void) | undefined;
}

function unknowns(sources: TenantSources): UnknownSource[] {
  const out: UnknownSource[] = [];
  const add = (source: UnknownSource["source"], k: Known<unknown>) => {
    if (!k.known) out.push({ source, code: k.code, reason: k.reason });
  };
  add("securityDefaults", sources.securityDefaults);
  add("conditionalAccess", sources.policies);
  add("registration", sources.registration);
  add("signIns", sources.signIns);
  add("roles", sources.roles);
  add("groups", sources.groups);
  return out;
}

/**
 * `posture`: per tenant, every selected user's protection (per-user state, Conditional Access,
 * security defaults), the tenant's policies and the findings. A tenant whose token or network
 * fails ends `failed`; a source it may not read (licence, permission) is listed as unknown.
 */
export async function* postureReport(engine: BatchEngine, input: PostureInput, options: PostureOptions = {}): AsyncGenerator<TenantPostureResult> {
  const { tenants, filters, readStrategy } = parseInput(PostureInputSchema, input);
  const emit = options.onProgress ?? (() => undefined);
  const perTenant = (tenant: string) =>
    async function* (): AsyncGenerator<TenantPostureResult> {
      emit({ type: "tenantStarted", tenant });
      try {
        const sources = await readTenantSources(engine, tenant, options.signal);
        const facts = tenantFacts(tenant, sources);
        const users: PostureUser[] = [];
        let done = 0;
        for await (const row of listTenantUsers(engine, tenant, { filters, strategy: readStrategy, signal: options.signal, onListed: (count) => emit({ type: "listed", tenant, count }) })) {
          emit({ type: "progress", tenant, done: ++done });
          const id = row.id.toLowerCase();
          const registration = sources.registration.known ? sources.registration.value.get(id) : undefined;
          users.push({
            id: row.id,
            userPrincipalName: row.userPrincipalName,
            displayName: row.displayName,
            userType: row.userType,
            accountEnabled: row.accountEnabled,
            isLicensed: row.isLicensed,
            perUserMfaState: row.perUserMfaState,
            roleTemplateIds: sources.roles.known ? (sources.roles.value.roleIdsOf.get(id) ?? []) : [],
            groupIds: sources.groups.known ? [...sources.groups.value].filter(([, members]) => members.has(id)).map(([group]) => group) : [],
            ...(registration
              ? {
                  registration: {
                    isMfaRegistered: registration.isMfaRegistered === true,
                    isMfaCapable: registration.isMfaCapable === true,
                    methodsRegistered: registration.methodsRegistered ?? [],
                    defaultMfaMethod: registration.defaultMfaMethod ?? null,
                  },
                }
              : {}),
            ...(sources.signIns.known ? { lastSignInDateTime: sources.signIns.value.get(id) ?? null } : {}),
          });
        }
        emit({ type: "tenantDone", tenant, status: "completed" });
        const posture = evaluateTenantPosture(facts, users);
        yield { status: "completed", unknown: unknowns(sources), counts: countsOf(posture), ...posture };
      } catch (error) {
        if (options.signal?.aborted) throw error;
        emit({ type: "tenantDone", tenant, status: "failed" });
        yield { tenant, status: "failed", error: errorInfo(error) };
      }
    };
  yield* mergeBounded([...new Set(tenants)].map(perTenant), options.tenantConcurrency ?? 8);
}

export function countsOf(posture: TenantPosture): PostureCounts {
  const tally = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ((acc[v] = (acc[v] ?? 0) + 1), acc), {});
  return {
    users: posture.users.length,
    enabledAccounts: posture.users.filter((u) => u.accountEnabled).length,
    admins: posture.users.filter((u) => u.isAdmin).length,
    byProtection: tally(posture.users.map((u) => u.effectiveProtection)),
    byPerUserMfaState: tally(posture.users.map((u) => u.perUserMfaState)),
    byFinding: Object.fromEntries(posture.findings.map((f) => [f.code, f.users.length])),
  };
}

/** Policies that name groups or roles are only as known as the memberships they name. */
export function tenantFacts(tenant: string, sources: TenantSources): PostureTenantFacts {
  const sd = sources.securityDefaults;
  let policies: PostureTenantFacts["policies"];
  let policiesReason: string | undefined;
  if (!sources.policies.known) policiesReason = sources.policies.reason;
  else {
    const parsed = parseCaPolicies(sources.policies.value);
    const namesRoles = parsed.some((p) => p.conditions.users.includeRoles.length + p.conditions.users.excludeRoles.length > 0);
    const namesGroups = parsed.some((p) => p.conditions.users.includeGroups.length + p.conditions.users.excludeGroups.length > 0);
    if (namesRoles && !sources.roles.known) policiesReason = `Conditional Access names directory roles, but ${sources.roles.reason}`;
    else if (namesGroups && !sources.groups.known) policiesReason = `Conditional Access names groups, but ${sources.groups.reason}`;
    else policies = parsed;
  }
  return {
    tenant,
    securityDefaultsEnabled: sd.known ? sd.value : undefined,
    ...(sd.known ? {} : { securityDefaultsReason: sd.reason }),
    policies,
    ...(policiesReason !== undefined ? { policiesReason } : {}),
  };
}
