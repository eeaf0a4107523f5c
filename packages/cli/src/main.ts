import { Command, CommanderError, Option } from "commander";
import { UsageError, type RetryPolicy } from "@mfactl/core";
import { apikeyCommand } from "./commands/apikey.js";
import { applyCommand } from "./commands/apply.js";
import { bulkCommand } from "./commands/bulk-set.js";
import { emulatorCommand } from "./commands/emulator.js";
import { driftCommand } from "./commands/drift.js";
import { enforceCommand } from "./commands/enforce.js";
import { getCommand } from "./commands/get.js";
import { loginCommand } from "./commands/login.js";
import { logoutCommand } from "./commands/logout.js";
import { migrateCommand } from "./commands/migrate.js";
import { planCommand } from "./commands/plan.js";
import { postureCommand } from "./commands/posture.js";
import { resumeCommand } from "./commands/resume.js";
import { runsCommand } from "./commands/runs.js";
import { scheduleCommand } from "./commands/schedule.js";
import { undoCommand } from "./commands/undo.js";
import { reportCommand } from "./commands/report.js";
import { serveCommand } from "./commands/serve.js";
import { setCommand } from "./commands/set.js";
import { tenantsCommand } from "./commands/tenants.js";
import { consentUrlCommand } from "./commands/consent-url.js";
import { doctorCommand } from "./commands/doctor.js";
import type { CommandRunner } from "./commands/types.js";
import { CommandContext, type CliIo, type GlobalOptions } from "./context.js";
import { describeError } from "./errors.js";
import { EXIT } from "./exit-codes.js";
import { ENV_VARS } from "./settings.js";
import { tenantSourcesFor, withTenantSources } from "./selection-options.js";
import { VERSION } from "./version.js";

export type { CliIo } from "./context.js";

/** Run mfactl with `argv` (without node and script); resolves to the exit code. Never calls process.exit. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = buildProgram(io, (code) => (exitCode = code));
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; any other parse problem is bad usage.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    throw error;
  }
  return exitCode;
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command("mfactl")
    .description("See and change per-user MFA state in Microsoft Entra ID, verified, one user or many tenants.")
    .version(VERSION, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride()
    .option("--config <file>", "config file with named profiles (env MFACTL_CONFIG; default ~/.config/mfactl/config.json)")
    .option("--profile <name>", "profile in the config file (env MFACTL_PROFILE)")
    .option("--client-id <id>", `app (client) id (env ${ENV_VARS.clientId})`)
    .addOption(new Option("--client-secret <secret>", `client secret; prefer the environment variable ${ENV_VARS.clientSecret}`))
    .option("--certificate-path <file>", `PEM file with the app's certificate and private key (env ${ENV_VARS.certificatePath})`)
    .option("--authority-host <url>", `Entra authority host (env ${ENV_VARS.authorityHost}; default https://login.microsoftonline.com)`)
    .option("--graph-url <url>", `Microsoft Graph URL (env ${ENV_VARS.graphUrl}; default https://graph.microsoft.com)`)
    .option("--ca-file <file>", `extra CA certificate(s) to trust, PEM (env ${ENV_VARS.caFile}), e.g. the emulator's`)
    .option("--backend <graph|cipp>", "where per-user MFA is read and set: Microsoft Graph (default) or a CIPP instance (get, set and report only; env MFACTL_BACKEND; docs/backends.md)")
    .option("--db <path>", "journal database: an SQLite file or a postgres:// URL (env MFACTL_DB; default ~/.local/state/mfactl/journal.db)")
    .option("--max-attempts <n>", "attempts per request on 429/503/504 and network errors (default 6)")
    .option("--max-retry-wait <seconds>", "longest wait before a retry, Retry-After included (default 180)")
    .option("--timeout <seconds>", "deadline for one request with all its retries (default 600)")
    .option("-v, --verbose", "print each Graph request, retry and error detail to stderr (never secrets)")
    .addHelpText(
      "after",
      `
Exit codes: 0 done (or nothing to do), 1 a user or tenant failed or conflicted, 2 bad usage or input (nothing done),
3 drift found (drift only), 130 interrupted or declined.
Docs: README.md and docs/commands/.`,
    );

  const runner: CommandRunner = async (body) => {
    const globals = program.opts<GlobalOptions>();
    const ctx = new CommandContext(io, globals);
    try {
      // --all-tenants in any command sees the synced customers and the profile's include/exclude lists.
      setExit(await withTenantSources(tenantSourcesFor(io.env, () => ctx.profileExtras()), () => body(ctx, parseRetry(globals))));
    } catch (error) {
      if (io.signal?.aborted) {
        ctx.err.write("interrupted\n");
        setExit(EXIT.interrupted);
        return;
      }
      const { message, detail, exitCode } = describeError(error);
      ctx.err.write(`error: ${message}\n`);
      if (ctx.verbose) for (const line of detail) ctx.err.write(`  ${line}\n`);
      setExit(exitCode);
    } finally {
      await ctx.close();
    }
    if (io.signal?.aborted && !ctx.stopsOnSignal) setExit(EXIT.interrupted);
  };

  program.addCommand(getCommand(runner));
  program.addCommand(setCommand(runner));
  program.addCommand(reportCommand(runner));
  program.addCommand(postureCommand(runner));
  program.addCommand(bulkCommand(runner));
  program.addCommand(planCommand(runner));
  program.addCommand(applyCommand(runner));
  program.addCommand(runsCommand(runner));
  program.addCommand(undoCommand(runner));
  program.addCommand(resumeCommand(runner));
  program.addCommand(driftCommand(runner));
  program.addCommand(enforceCommand(runner));
  program.addCommand(scheduleCommand(runner));
  program.addCommand(migrateCommand(runner));
  program.addCommand(serveCommand(runner));
  program.addCommand(apikeyCommand(runner));
  program.addCommand(loginCommand(runner));
  program.addCommand(logoutCommand(runner));
  program.addCommand(tenantsCommand(runner));
  program.addCommand(consentUrlCommand(runner));
  program.addCommand(doctorCommand(runner));
  program.addCommand(emulatorCommand(io, setExit));
  for (const cmd of [...program.commands, ...program.commands.flatMap((c) => c.commands)]) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
    cmd.showHelpAfterError("(run with --help for usage)");
  }
  return program;
}

function parseRetry(globals: GlobalOptions): Partial<RetryPolicy> {
  const retry: Partial<RetryPolicy> = {};
  if (globals.maxAttempts !== undefined) retry.maxAttempts = positiveNumber("--max-attempts", globals.maxAttempts, { integer: true, max: 50 });
  if (globals.maxRetryWait !== undefined) retry.maxDelayMs = positiveNumber("--max-retry-wait", globals.maxRetryWait, { max: 3600 }) * 1000;
  if (globals.timeout !== undefined) retry.deadlineMs = positiveNumber("--timeout", globals.timeout, { max: 86_400 }) * 1000;
  return retry;
}

function positiveNumber(flag: string, raw: string, opts: { integer?: boolean; max: number }): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > opts.max || (opts.integer && !Number.isInteger(n))) {
    throw new UsageError(`Invalid ${flag} ${JSON.stringify(raw)}: expected a ${opts.integer ? "whole " : ""}number from ${opts.integer ? 1 : "0 (exclusive)"} to ${opts.max}.`);
  }
  return n;
}
