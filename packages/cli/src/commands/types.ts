import type { RetryPolicy } from "@mfactl/core";
import type { CommandContext } from "../context.js";
import type { ExitCode } from "../exit-codes.js";

/** Runs a command body with its context and maps what it throws to an exit code. */
export type CommandRunner = (body: (ctx: CommandContext, retry: Partial<RetryPolicy>) => Promise<ExitCode>) => Promise<void>;
