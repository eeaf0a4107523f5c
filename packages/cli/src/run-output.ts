import { enginePort, executeRun, JournalUnavailableError, RunBusyError, type RetryPolicy, type RunContext, type RunRecord, type UserMfaChange } from "@mfactl/core";
import { countBy } from "./confirm.js";
import type { CommandContext } from "./context.js";
import { EXIT, type ExitCode } from "./exit-codes.js";
import { progressFor } from "./progress-events.js";
import { writeChanges, writeFailed, type ChangeFormat } from "./render/changes.js";

export interface RunOutputFlags {
  output: ChangeFormat;
  out?: string;
  failedOut?: string;
  quiet?: boolean;
}

/** The journal context of a command: its journal, the engine's port, this process as owner. */
export async function runContext(ctx: CommandContext, retry: Partial<RetryPolicy>): Promise<RunContext> {
  const journal = await ctx.journal();
  return { journal, port: enginePort(ctx.engine(retry)), actor: ctx.actor(), signal: ctx.io.signal };
}

/**
 * Carry out a recorded run and report it: results on stdout (or --out), a summary naming the
 * run on stderr, the failed and conflicting users to --failed-out. A journal failure midway
 * stops the run (nothing unrecorded is sent) and says how to finish it.
 */
export async function carryOutRun(
  ctx: CommandContext,
  runCtx: RunContext,
  run: RunRecord,
  options: { reread: boolean; flags: RunOutputFlags; perTenant?: Map<string, number> | undefined; prior?: readonly UserMfaChange[]; note?: string | undefined },
): Promise<ExitCode> {
  const results: UserMfaChange[] = [...(options.prior ?? [])];
  const quiet = options.flags.quiet === true || options.flags.output === "json";
  const perTenant = options.perTenant;
  const progress = progressFor(ctx, { quiet, tenantCount: perTenant?.size ?? 1 });
  if (perTenant) for (const [tenant, n] of perTenant) progress.onEvent({ type: "listed", tenant, count: n });
  if (!quiet) ctx.err.write(`run ${run.runId} started (journal ${runCtx.journal.location})\n`);
  let journalError: unknown;
  try {
    for await (const change of executeRun(runCtx, run, { reread: options.reread })) {
      progress.onEvent({ type: "progress", tenant: change.tenant, done: 0 });
      results.push(change);
    }
  } catch (error) {
    // Midway, some changes are made: a journal failure or a takeover is exit 1, not "nothing done".
    if (!(error instanceof JournalUnavailableError) && !(error instanceof RunBusyError)) throw error;
    journalError = error;
  } finally {
    progress.stop();
  }
  await writeChanges(ctx, options.flags.output, options.flags.out, results);
  if (options.flags.failedOut) await writeFailed(ctx, options.flags.failedOut, results);
  const after = await runCtx.journal.getRun(run.runId).catch(() => undefined);
  ctx.err.write(`${runSummary(run.runId, results, after, options.note)}\n`);
  if (journalError) {
    ctx.err.write(`error: ${(journalError as Error).message}\n`);
    return EXIT.failed;
  }
  if (ctx.io.signal?.aborted) return EXIT.interrupted;
  return results.some((r) => r.status === "failed" || r.status === "conflict") ? EXIT.failed : EXIT.ok;
}

export function runSummary(runId: string, results: readonly UserMfaChange[], after: RunRecord | undefined, note?: string): string {
  const by = countBy(results, (r) => r.status);
  const parts = ["changed", "unchanged", "failed", "conflict"].map((s) => `${by.get(s) ?? 0} ${s}`);
  const left = after ? after.counts.pending + after.counts.inFlight : 0;
  const tail =
    left > 0
      ? `; ${left} not done: finish with \`mfactl resume ${runId}\``
      : (by.get("changed") ?? 0) > 0
        ? `; undo with \`mfactl undo ${runId}\``
        : "";
  return `run ${runId}: ${parts.join(", ")}${note ? `, ${note}` : ""}${tail}.`;
}
