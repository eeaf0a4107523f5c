import { z } from "zod";
import { AuthError, NetworkError, UsageError } from "../domain/errors.js";
import { MfaStateInputSchema, type MfaState } from "../domain/mfa-state.js";
import { parseUserRef, tenantRefProblem, TenantRefSchema, userRefProblem, tenantRefToString, parseTenantRef, userRefToString } from "../domain/references.js";
import type { TenantOutcome, UserMfaChange } from "../domain/vocabulary.js";
import type { BatchEngine } from "../engine/types.js";
import { mapConcurrent, mergeBounded } from "../util/concurrent.js";
import { applyChange, decide, failed, type ApplyOptions, type ChangeTarget } from "./apply-change.js";
import { errorInfo } from "./errors-to-info.js";
import { groupMemberIds, groupMemberUsers, resolveGroup } from "./directory.js";
import type { ProtectedAccounts } from "./guard-rails.js";
import { enginePort } from "./mfa-port.js";
import { parseInput } from "./parse-input.js";
import type { ProgressEvent } from "./report.js";
import { READ_STRATEGIES, listTenantUsers } from "./tenant-users.js";
import { hasFilters, UserFiltersSchema } from "./user-filters.js";

/** A user named in the input: `tenant` may be left out when there is one tenant. `line` is for error messages. */
export interface BulkUserRef {
  user: string;
  tenant?: string | undefined;
  line?: number | undefined;
}

export const BulkSetInputSchema = z.object({
  tenants: z.array(TenantRefSchema).default([]),
  state: MfaStateInputSchema,
  /** Users named explicitly (from --input or --users). Mutually exclusive with filters and allUsers. */
  users: z.array(z.custom<BulkUserRef>()).optional(),
  filters: UserFiltersSchema.default({}),
  /** Every user of the tenants (no filter): asked for explicitly, never implied. */
  allUsers: z.boolean().default(false),
  /** Members of this group (object id or display name, resolved in each tenant), nested membership included. */
  group: z.string().trim().min(1).optional(),
  /** UPNs or object ids left alone. */
  exclude: z.array(z.string()).default([]),
  dryRun: z.boolean().default(false),
  readStrategy: z.enum(READ_STRATEGIES).default("auto"),
});
export type BulkSetInput = z.input<typeof BulkSetInputSchema>;

export type BulkPlanItem =
  | { kind: "change"; target: ChangeTarget }
  | { kind: "result"; change: UserMfaChange }
  | { kind: "excluded"; tenant: string; id: string; userPrincipalName: string }
  /** A protected account the selection reached; the caller leaves it out or refuses the run. */
  | { kind: "protected"; target: ChangeTarget; reason: string }
  | { kind: "tenant"; outcome: TenantOutcome };

export interface BulkOptions extends ApplyOptions {
  tenantConcurrency?: number | undefined;
  /** Users in flight per tenant (the engine paces them). Default 1000. */
  window?: number | undefined;
  onProgress?: ((event: ProgressEvent) => void) | undefined;
  /** Accounts reported as `protected` instead of planned (unless allowed). */
  protectedAccounts?: ProtectedAccounts | undefined;
  /** Plan protected accounts like any other (--include-protected). */
  includeProtected?: boolean | undefined;
}

export interface ValidatedBulk {
  tenants: string[];
  state: MfaState;
  /** Per tenant, the users named (canonical refs), or undefined for a filter selection. */
  usersByTenant: Map<string, string[]> | undefined;
  input: z.output<typeof BulkSetInputSchema>;
  exclude: Set<string>;
}

/** Check the whole selection before anything is sent: bad input changes nothing. */
export function validateBulkSet(raw: BulkSetInput): ValidatedBulk {
  const input = parseInput(BulkSetInputSchema, raw);
  const tenants = [...new Set(input.tenants)];
  const selections = [input.users !== undefined, hasFilters(input.filters), input.allUsers, input.group !== undefined].filter(Boolean).length;
  if (input.users !== undefined && (hasFilters(input.filters) || input.allUsers || input.group !== undefined)) {
    throw new UsageError("Give users (--input or --users) or a selection (filters, --group, --all-users), not both.");
  }
  if (input.group !== undefined && input.allUsers) throw new UsageError("Give --group or --all-users, not both.");
  if (selections === 0) throw new UsageError("Which users? Give --input <file>, --users a,b,c, --group <id|name>, a filter (--where-state, --licensed, --members, --guests, --enabled-accounts) or --all-users.");
  const exclude = new Set(input.exclude.map((e) => e.trim().toLowerCase()));

  let usersByTenant: Map<string, string[]> | undefined;
  if (input.users !== undefined) {
    usersByTenant = new Map();
    const problems: string[] = [];
    const allowed = new Set(tenants);
    for (const [index, ref] of input.users.entries()) {
      const where = `line ${ref.line ?? index + 1}`;
      const userProblem = userRefProblem(ref.user ?? "");
      if (userProblem) {
        problems.push(`${where}: ${userProblem}`);
        continue;
      }
      let tenant: string | undefined;
      if (ref.tenant !== undefined && ref.tenant.trim() !== "") {
        const tenantProblem = tenantRefProblem(ref.tenant);
        if (tenantProblem) {
          problems.push(`${where}: ${tenantProblem}`);
          continue;
        }
        tenant = tenantRefToString(parseTenantRef(ref.tenant));
        if (allowed.size > 0 && !allowed.has(tenant)) {
          problems.push(`${where}: tenant ${tenant} is not among the tenants given (${[...allowed].join(", ")}).`);
          continue;
        }
      } else if (tenants.length === 1) {
        tenant = tenants[0]!;
      } else {
        problems.push(`${where}: no tenant for ${ref.user}; with ${tenants.length === 0 ? "no --tenant" : "several tenants"}, each row needs a tenant column.`);
        continue;
      }
      const canonical = userRefToString(parseUserRef(ref.user));
      const list = usersByTenant.get(tenant) ?? [];
      list.push(canonical);
      usersByTenant.set(tenant, list);
    }
    if (problems.length) {
      const shown = problems.slice(0, 10).join("\n  ");
      throw new UsageError(`${problems.length} invalid input row${problems.length > 1 ? "s" : ""}; nothing was changed:\n  ${shown}${problems.length > 10 ? `\n  ... and ${problems.length - 10} more` : ""}`);
    }
    if (usersByTenant.size === 0) throw new UsageError("The input names no users.");
    for (const [tenant, list] of usersByTenant) usersByTenant.set(tenant, [...new Map(list.map((u) => [u.toLowerCase(), u] as const)).values()]);
  } else if (tenants.length === 0) {
    throw new UsageError("Give at least one tenant (--tenant, --tenants-file or --all-tenants).");
  }
  const finalTenants = usersByTenant ? [...usersByTenant.keys()] : tenants;
  return { tenants: finalTenants, state: input.state, usersByTenant, input, exclude };
}

/**
 * Phase one of `bulk set`: read every selected user's state. Users already in the requested
 * state come out as `unchanged` results (or `wouldChange` in a dry run); the rest as change
 * targets for `applyBulkSet`. Nothing is written here.
 */
export async function* planBulkSet(engine: BatchEngine, validated: ValidatedBulk, options: BulkOptions = {}): AsyncGenerator<BulkPlanItem> {
  const { state, usersByTenant, input, exclude } = validated;
  const port = enginePort(engine);
  const emit = options.onProgress ?? (() => undefined);
  const isExcluded = (id: string, upn: string) => exclude.has(id.toLowerCase()) || exclude.has(upn.toLowerCase());

  const perTenant = (tenant: string) =>
    async function* (): AsyncGenerator<BulkPlanItem> {
      emit({ type: "tenantStarted", tenant });
      let users = 0;
      let tenantError: unknown;
      const classify = (target: ChangeTarget): BulkPlanItem => {
        const unchanged = decide(target, false);
        if (unchanged) return { kind: "result", change: unchanged };
        // Protected before the dry run's wouldChange: a preview shows what the real run would refuse.
        const reason = options.includeProtected ? undefined : options.protectedAccounts?.reason(tenant, target.user);
        if (reason) return { kind: "protected", target, reason };
        const preview = decide(target, input.dryRun);
        return preview ? { kind: "result", change: preview } : { kind: "change", target };
      };
      const readNamed = (named: Iterable<string> | AsyncIterable<string>) =>
        mapConcurrent(named, options.window ?? 1000, async (user): Promise<BulkPlanItem> => {
          try {
            const resolved = await port.resolveUser(tenant, user, options.signal);
            if (isExcluded(resolved.id, resolved.userPrincipalName)) return { kind: "excluded", tenant, id: resolved.id, userPrincipalName: resolved.userPrincipalName };
            const { state: previousState } = await port.readState(tenant, resolved, options.signal);
            return classify({ tenant, user: resolved, previousState, requestedState: state });
          } catch (error) {
            if (error instanceof AuthError || error instanceof NetworkError) tenantError ??= error;
            return { kind: "result", change: failed({ tenant, requestedState: state, id: "", userPrincipalName: user }, error) };
          }
        });
      try {
        if (usersByTenant) {
          const named = usersByTenant.get(tenant) ?? [];
          emit({ type: "listed", tenant, count: named.length });
          for await (const item of readNamed(named)) {
            users++;
            emit({ type: "progress", tenant, done: users });
            yield item;
          }
        } else if (input.group !== undefined && !hasFilters(input.filters)) {
          // Members only: read each member's state rather than list the whole tenant.
          const group = await resolveGroup(engine, tenant, input.group, options.signal);
          const members = async function* () {
            for await (const page of groupMemberUsers(engine, tenant, group.id, options.signal)) {
              emit({ type: "listed", tenant, count: page.length });
              for (const m of page) yield m.id;
            }
          };
          for await (const item of readNamed(members())) {
            users++;
            emit({ type: "progress", tenant, done: users });
            yield item;
          }
        } else {
          const inGroup = input.group !== undefined ? await groupMemberIds(engine, tenant, (await resolveGroup(engine, tenant, input.group, options.signal)).id, options.signal) : undefined;
          for await (const row of listTenantUsers(engine, tenant, { filters: input.filters, strategy: input.readStrategy, signal: options.signal, onListed: (count) => emit({ type: "listed", tenant, count }) })) {
            if (inGroup && !inGroup.has(row.id.toLowerCase())) continue;
            users++;
            emit({ type: "progress", tenant, done: users });
            if (isExcluded(row.id, row.userPrincipalName)) {
              yield { kind: "excluded", tenant, id: row.id, userPrincipalName: row.userPrincipalName };
              continue;
            }
            yield classify({ tenant, user: { id: row.id, userPrincipalName: row.userPrincipalName }, previousState: row.perUserMfaState, requestedState: state });
          }
        }
      } catch (error) {
        if (options.signal?.aborted) throw error;
        tenantError = error;
      }
      const status = tenantError === undefined ? "completed" : "failed";
      emit({ type: "tenantDone", tenant, status });
      yield { kind: "tenant", outcome: { tenant, status, users, ...(tenantError === undefined ? {} : { error: errorInfo(tenantError) }) } };
    };

  yield* mergeBounded(validated.tenants.map(perTenant), options.tenantConcurrency ?? 16);
}

/** Phase two: send each change through the engine and confirm it by reading it back. */
export async function* applyBulkSet(engine: BatchEngine, targets: AsyncIterable<ChangeTarget> | Iterable<ChangeTarget>, options: BulkOptions = {}): AsyncGenerator<UserMfaChange> {
  const port = enginePort(engine);
  const apply: ApplyOptions = { clock: options.clock, signal: options.signal, readBackDelaysMs: options.readBackDelaysMs };
  yield* mapConcurrent(targets, options.window ?? 1000, (target) => applyChange(port, target, apply));
}

/** Both phases without a pause between them, for library callers that need no confirmation. */
export async function* bulkSetMfa(engine: BatchEngine, input: BulkSetInput, options: BulkOptions = {}): AsyncGenerator<BulkPlanItem | { kind: "applied"; change: UserMfaChange }> {
  const validated = validateBulkSet(input);
  const targets: ChangeTarget[] = [];
  for await (const item of planBulkSet(engine, validated, options)) {
    if (item.kind === "change") targets.push(item.target);
    else yield item;
  }
  for await (const change of applyBulkSet(engine, targets, options)) yield { kind: "applied", change };
}
