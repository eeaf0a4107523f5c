import type { TenantOutcome } from "@mfactl/core";

/** One line per failed tenant, naming the reason. */
export function describeTenantFailures(failed: readonly TenantOutcome[]): string[] {
  return failed.map((o) => `error: tenant ${o.tenant} failed: ${o.error?.message ?? "unknown reason"}${o.error?.code && !o.error.message.includes(o.error.code) ? ` [${o.error.code}]` : ""}`);
}
