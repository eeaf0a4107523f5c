import { createInterface } from "node:readline/promises";
import { UsageError } from "@mfactl/core";
import type { CommandContext } from "./context.js";

/**
 * Ask before changing anything: --yes answers for scripts; off a terminal without --yes the
 * command stops (nothing changed) rather than guess.
 */
export async function confirm(ctx: CommandContext, question: string, yes: boolean | undefined, preview = "--dry-run to preview"): Promise<boolean> {
  if (yes) return true;
  const stdin = process.stdin;
  if (!stdin.isTTY || !(ctx.io.stderr as NodeJS.WriteStream).isTTY) {
    throw new UsageError(`${question} Not on a terminal: add --yes to confirm (or ${preview}). Nothing was changed.`);
  }
  const rl = createInterface({ input: stdin, output: ctx.io.stderr as NodeJS.WriteStream });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export function countBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

/** "Change 7 users in 2 tenants (a: 5, b: 2) to enforced?" */
export function changeQuestion(verb: string, perTenant: Map<string, number>, to: string | undefined): string {
  const total = [...perTenant.values()].reduce((a, b) => a + b, 0);
  const counts = [...perTenant].map(([tenant, n]) => `${tenant}: ${n}`);
  return `${verb} ${total} user${total === 1 ? "" : "s"} in ${counts.length} tenant${counts.length === 1 ? "" : "s"} (${counts.slice(0, 10).join(", ")}${counts.length > 10 ? ", ..." : ""})${to ? ` to ${to}` : ""}?`;
}
