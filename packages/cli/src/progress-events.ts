import type { ProgressEvent } from "@mfactl/core";
import type { CommandContext } from "./context.js";
import { createProgress } from "./render/progress.js";

/**
 * Progress on a TTY, fed by core's events: silent when stderr is not a terminal, with
 * --output json, or --quiet. Core never writes to the terminal itself.
 */
export function progressFor(ctx: CommandContext, options: { quiet: boolean; tenantCount?: number }): { onEvent: (e: ProgressEvent) => void; stop(): void } {
  const stream = ctx.io.stderr as NodeJS.WriteStream;
  const enabled = !options.quiet && stream.isTTY === true;
  const bars = createProgress(stream, { enabled, ...(options.tenantCount ? { tenantCount: options.tenantCount } : {}) });
  const seen = new Map<string, number>();
  return {
    onEvent(e) {
      switch (e.type) {
        case "tenantStarted":
          bars.tenantStarted(e.tenant);
          return;
        case "listed":
          seen.set(e.tenant, (seen.get(e.tenant) ?? 0) + e.count);
          bars.tenantStarted(e.tenant, seen.get(e.tenant));
          return;
        case "progress":
          bars.advance(e.tenant, 1);
          return;
        case "tenantDone":
          bars.tenantDone(e.tenant, e.status);
          return;
      }
    },
    stop: () => bars.stop(),
  };
}
