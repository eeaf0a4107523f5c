import { z } from "zod";
import { TenantRefSchema } from "../domain/references.js";
import type { ReportRow, TenantOutcome } from "../domain/vocabulary.js";
import type { BatchEngine } from "../engine/types.js";
import { mergeBounded } from "../util/concurrent.js";
import { errorInfo } from "./errors-to-info.js";
import { parseInput } from "./parse-input.js";
import { READ_STRATEGIES, listTenantUsers } from "./tenant-users.js";
import { UserFiltersSchema } from "./user-filters.js";

export const ReportInputSchema = z.object({
  tenants: z.array(TenantRefSchema).min(1, "Give at least one tenant (--tenant, --tenants-file or --all-tenants)."),
  filters: UserFiltersSchema.default({}),
  readStrategy: z.enum(READ_STRATEGIES).default("auto").describe("auto | list | per-user"),
});
export type ReportInput = z.input<typeof ReportInputSchema>;

export type ReportItem = { kind: "user"; row: ReportRow } | { kind: "tenant"; outcome: TenantOutcome };

export type ProgressEvent =
  | { type: "tenantStarted"; tenant: string }
  | { type: "listed"; tenant: string; count: number }
  | { type: "progress"; tenant: string; done: number }
  | { type: "tenantDone"; tenant: string; status: TenantOutcome["status"] };

export interface ReportOptions {
  /** Tenants read at once (the engine paces each). Default 16. */
  tenantConcurrency?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((event: ProgressEvent) => void) | undefined;
}

/**
 * `report`: every selected user of every tenant, streamed, followed for each tenant by its
 * outcome. A tenant that fails (no consent, no permission) ends `failed` with the reason;
 * the others complete.
 */
export async function* reportUsers(engine: BatchEngine, input: ReportInput, options: ReportOptions = {}): AsyncGenerator<ReportItem> {
  const { tenants, filters, readStrategy } = parseInput(ReportInputSchema, input);
  const unique = [...new Set(tenants)];
  const emit = options.onProgress ?? (() => undefined);

  const perTenant = (tenant: string) =>
    async function* (): AsyncGenerator<ReportItem> {
      emit({ type: "tenantStarted", tenant });
      let users = 0;
      try {
        for await (const row of listTenantUsers(engine, tenant, {
          filters,
          strategy: readStrategy,
          signal: options.signal,
          onListed: (count) => emit({ type: "listed", tenant, count }),
        })) {
          users++;
          emit({ type: "progress", tenant, done: users });
          yield { kind: "user", row };
        }
      } catch (error) {
        if (options.signal?.aborted) throw error;
        emit({ type: "tenantDone", tenant, status: "failed" });
        yield { kind: "tenant", outcome: { tenant, status: "failed", users, error: errorInfo(error) } };
        return;
      }
      emit({ type: "tenantDone", tenant, status: "completed" });
      yield { kind: "tenant", outcome: { tenant, status: "completed", users } };
    };

  yield* mergeBounded(unique.map(perTenant), options.tenantConcurrency ?? 16);
}
