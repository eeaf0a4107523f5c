import { GraphError } from "../domain/errors.js";
import type { MfaState, MfaStateRead } from "../domain/mfa-state.js";
import { isGuid } from "../domain/references.js";
import type { TenantOutcome } from "../domain/vocabulary.js";
import type { BatchEngine } from "../engine/types.js";
import { evaluateUser, groupRefs, isDrift, policyForTenant, type UnmanagedReason } from "../policy/evaluate.js";
import type { Policy } from "../policy/policy-file.js";
import { mergeBounded } from "../util/concurrent.js";
import { directoryRoleHolders, groupMemberIds, resolveGroup, SYNC_ACCOUNT_UPN } from "./directory.js";
import { errorInfo } from "./errors-to-info.js";
import type { ProgressEvent } from "./report.js";
import { listTenantUsers, type ReadStrategy } from "./tenant-users.js";

/** One user measured against the policy. */
export interface DriftRow {
  tenant: string;
  id: string;
  userPrincipalName: string;
  displayName: string;
  userType: string;
  perUserMfaState: MfaStateRead;
  /** The state the policy asks for (absent when the user is not managed). */
  requestedState?: MfaState;
  rule?: string;
  policy?: string;
  managed: boolean;
  /** Why the policy leaves the user alone. */
  reason?: UnmanagedReason;
  detail?: string;
  drift: boolean;
}

export const DRIFT_COLUMNS = ["tenant", "id", "userPrincipalName", "displayName", "userType", "perUserMfaState", "requestedState", "drift", "managed", "rule", "policy", "reason", "detail"] as const;

/** `covered`: some policy of the file applies to the tenant. */
export type DriftTenantOutcome = TenantOutcome & { policies: string[]; warnings: string[]; covered: boolean };
export type DriftItem = { kind: "user"; row: DriftRow } | { kind: "tenant"; outcome: DriftTenantOutcome };

export interface DriftOptions {
  readStrategy?: ReadStrategy | undefined;
  /**
   * The tenants were named one by one (not --all-tenants): one that no policy covers is then a
   * mistake (a policy naming it by id, given by domain), reported as a failed tenant, not as "no drift".
   */
  namedTenants?: boolean | undefined;
  tenantConcurrency?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: ProgressEvent) => void) | undefined;
}

/**
 * `drift`: every user of every tenant the policy covers, with what the policy wants and whether
 * the current state differs. Groups named by the policy are resolved in each tenant first; a group
 * that cannot be resolved fails the tenant (an exclusion must never be silently dropped).
 */
export async function* driftUsers(engine: BatchEngine, policy: Policy, tenants: readonly string[], options: DriftOptions = {}): AsyncGenerator<DriftItem> {
  const emit = options.onProgress ?? (() => undefined);
  const perTenant = (tenant: string) =>
    async function* (): AsyncGenerator<DriftItem> {
      const tp = policyForTenant(policy, isGuid(tenant) ? { ref: tenant, id: tenant } : { ref: tenant, domain: tenant });
      if (!tp) {
        yield {
          kind: "tenant",
          outcome: options.namedTenants
            ? {
                tenant,
                status: "failed",
                users: 0,
                policies: [],
                warnings: [],
                covered: false,
                error: { code: "NoPolicyForTenant", message: "no policy in the file applies to this tenant (a policy that names the tenant by its id needs the id here, and by domain the domain)" },
              }
            : { tenant, status: "completed", users: 0, policies: [], warnings: ["no policy in the file applies to this tenant"], covered: false },
        };
        return;
      }
      emit({ type: "tenantStarted", tenant });
      const warnings: string[] = [];
      let users = 0;
      try {
        const members = new Map<string, Set<string>>();
        for (const ref of groupRefs(tp)) {
          const group = await resolveGroup(engine, tenant, ref, options.signal);
          members.set(ref, await groupMemberIds(engine, tenant, group.id, options.signal));
        }
        let syncIds: Set<string> | undefined;
        if (tp.excludeDirectorySyncAccounts) {
          try {
            syncIds = (await directoryRoleHolders(engine, tenant, options.signal)).directorySync;
          } catch (error) {
            if (!(error instanceof GraphError) || (error.status !== 403 && error.status !== 401)) throw error;
            warnings.push("directory roles could not be read (RoleManagement.Read.Directory): directory synchronisation accounts recognised by their Sync_ name");
          }
        }
        for await (const row of listTenantUsers(engine, tenant, { filters: {}, strategy: options.readStrategy ?? "auto", signal: options.signal, onListed: (count) => emit({ type: "listed", tenant, count }) })) {
          users++;
          emit({ type: "progress", tenant, done: users });
          const id = row.id.toLowerCase();
          const decision = evaluateUser(tp, row, {
            memberOf: (ref) => members.get(ref)?.has(id) ?? false,
            isDirectorySyncAccount: syncIds ? syncIds.has(id) : SYNC_ACCOUNT_UPN.test(row.userPrincipalName),
          });
          const base = { tenant, id: row.id, userPrincipalName: row.userPrincipalName, displayName: row.displayName, userType: row.userType, perUserMfaState: row.perUserMfaState };
          yield {
            kind: "user",
            row: decision.managed
              ? { ...base, requestedState: decision.requestedState, rule: decision.rule, policy: decision.policy, managed: true, drift: isDrift(decision, row.perUserMfaState) }
              : { ...base, managed: false, reason: decision.reason, ...(decision.detail ? { detail: decision.detail } : {}), drift: false },
          };
        }
      } catch (error) {
        if (options.signal?.aborted) throw error;
        emit({ type: "tenantDone", tenant, status: "failed" });
        yield { kind: "tenant", outcome: { tenant, status: "failed", users, error: errorInfo(error), policies: [...tp.policies], warnings, covered: true } };
        return;
      }
      emit({ type: "tenantDone", tenant, status: "completed" });
      yield { kind: "tenant", outcome: { tenant, status: "completed", users, policies: [...tp.policies], warnings, covered: true } };
    };
  yield* mergeBounded([...new Set(tenants)].map(perTenant), options.tenantConcurrency ?? 16);
}
