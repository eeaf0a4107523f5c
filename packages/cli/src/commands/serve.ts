import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { Command } from "commander";
import { createFetch, SmtpSettingsSchema, UsageError, type SmtpSettings } from "@mfactl/core";
import { buildServer, defaultQueueSchema, parseServerSettings, readServerSettings, ServedTenants, type ServerSettings, type ServerSettingsInput } from "@mfactl/server";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { pickGuards } from "../guard-options.js";
import { resolveSmtp, SMTP_PASSWORD_ENV } from "../settings.js";
import type { CommandRunner } from "./types.js";

interface ServeFlags {
  settings?: string;
  host?: string;
  port?: string;
  tlsCert?: string;
  tlsKey?: string;
  rateLimit?: string;
  logLevel?: string;
}

export function serveCommand(run: CommandRunner): Command {
  return new Command("serve")
    .summary("serve the REST API and the CIPP-compatible endpoints over the same journal")
    .description(
      "Serve mfactl over HTTP(S): the REST API (/v1/..., OpenAPI at /openapi.json, docs at /docs), CIPP's per-user MFA " +
        "endpoints (/api/ExecPerUserMFA, /api/ListPerUserMFA, /api/ListMFAUsers), health (/health) and readiness (/ready). " +
        "Callers authenticate with an API key (`mfactl apikey create`) or an Entra access token (settings: entra). Every change " +
        "is journaled with the key's name or the app id as the actor. Fires the database's schedules (`mfactl schedule`). " +
        "With a postgres:// database it is one of a cluster: jobs queued with pg-boss and taken over when an instance dies, " +
        "each schedule's period fired once, tenant throttling budgets shared (docs/cluster.md). Ctrl+C or SIGTERM: running " +
        "jobs get the grace period, then stop between users, resumable with `mfactl resume` (in a cluster another instance " +
        "goes on with them).",
    )
    .option("--settings <file>", "server settings, YAML or JSON (tenants, entra, rateLimit, tls, scheduler, cluster, smtp, ...): docs/commands/serve.md")
    .option("--host <address>", "address to listen on (default 127.0.0.1)")
    .option("--port <n>", "port (default 8443; 0 picks a free one)")
    .option("--tls-cert <file>", "PEM certificate (with --tls-key): serve HTTPS")
    .option("--tls-key <file>", "PEM private key of --tls-cert")
    .option("--rate-limit <n>", "requests per caller per rate-limit window (rateLimit.windowSeconds, default 60 s; default 600)")
    .option("--log-level <level>", "fatal, error, warn, info (default), debug, trace or silent")
    .addHelpText(
      "after",
      `
Examples:
  $ mfactl apikey create --name ops --scope write
  $ mfactl serve --port 8443 --tls-cert cert.pem --tls-key key.pem
  $ mfactl serve --settings server.yaml --db postgres://mfactl@db.internal/mfactl
  $ curl -H "Authorization: Bearer $KEY" https://localhost:8443/v1/tenants
The database is --db (a file or a postgres:// URL), as for every command. Logs: JSON lines (pino) on stdout, never credentials.
Exit codes: 0 stopped and every job finished, 1 stopped with jobs left to resume, 2 bad settings. Docs: docs/commands/serve.md, docs/api.md`,
    )
    .action((flags: ServeFlags) =>
      run(async (ctx: CommandContext, retry) => {
        ctx.stopsOnSignal = true;
        const fromFile: ServerSettingsInput = flags.settings ? await readServerSettings(flags.settings) : {};
        // A flag replaces its half of the file's tls; both halves are needed (said before the schema says "tls.key: too small").
        // Paths in the settings file are relative to the file, as in the profile.
        const fromSettings = (file: string | undefined) => (file && flags.settings && !isAbsolute(file) ? resolve(dirname(flags.settings), file) : file);
        const tlsCert = flags.tlsCert ?? fromSettings(fromFile.tls?.cert);
        const tlsKey = flags.tlsKey ?? fromSettings(fromFile.tls?.key);
        if ((flags.tlsCert !== undefined || flags.tlsKey !== undefined) && (!tlsCert || !tlsKey)) throw new UsageError("Give both --tls-cert and --tls-key (or tls.cert and tls.key in --settings).");
        const settings = parseServerSettings(
          {
            ...fromFile,
            ...(flags.host !== undefined ? { host: flags.host } : {}),
            ...(flags.port !== undefined ? { port: wholeNumber(flags.port, "--port") } : {}),
            ...(flags.rateLimit !== undefined ? { rateLimit: { ...(fromFile.rateLimit ?? {}), max: wholeNumber(flags.rateLimit, "--rate-limit") } } : {}),
            ...(flags.logLevel !== undefined ? { logLevel: flags.logLevel } : {}),
            ...(tlsCert !== undefined && tlsKey !== undefined ? { tls: { cert: tlsCert, key: tlsKey } } : {}),
          },
          // The file was checked on reading: what fails here came from a flag.
          "the command-line flags (--host, --port, --rate-limit, --log-level, --tls-cert, --tls-key)",
        );
        const resolved = ctx.resolveSettings();
        const tenantList = settings.tenants ?? [...new Set([...resolved.tenants, ...(resolved.defaultTenant ? [resolved.defaultTenant] : [])])];
        if (tenantList.length === 0) throw new UsageError("No tenants to serve: list them under `tenants` in --settings or in the profile (docs/commands/serve.md).");
        const tls = settings.tls ? { cert: readPem(settings.tls.cert, "--tls-cert"), key: readPem(settings.tls.key, "--tls-key") } : undefined;
        if (tls) ctx.err.addSecrets([tls.key]);
        const guards = pickGuards({}, ctx);
        const store = await ctx.store();
        const http = createFetch({ caPem: resolved.connection.caPem });
        // Several instances on one PostgreSQL database: jobs through its queue, tenant budgets shared.
        const clustered = store.kind === "postgres" && settings.cluster.enabled !== false;
        const connectionString = ctx.journalPath();
        const cluster = clustered ? { connectionString, queueSchema: settings.cluster.queueSchema ?? (await defaultQueueSchema(connectionString)) } : undefined;
        const smtpPassword = ctx.io.env[SMTP_PASSWORD_ENV];
        if (smtpPassword) ctx.err.addSecrets([smtpPassword]);
        const profileSmtp = settings.smtp ? undefined : resolveSmtp(ctx.profileExtras(), ctx.io.env, resolved.connection.caPem);
        const server = await buildServer({
          settings,
          store,
          graph: ctx.graph(retry),
          // Budgets are per app registration: instances of other apps on the same database do not pace these.
          engine: ctx.engine(retry, clustered && settings.cluster.sharedBudgets && store.budgets ? { sharedBudgets: { store: store.budgets, app: resolved.connection.clientId } } : {}),
          cluster,
          // The settings' smtp, else the profile's (as `mfactl schedule run` uses).
          ...(settings.smtp ? { smtp: smtpSettings(settings.smtp, smtpPassword) } : profileSmtp ? { smtp: profileSmtp } : {}),
          tenants: new ServedTenants(tenantList),
          protectedList: guards.protectedList,
          maxChanges: guards.maxChanges,
          fetch: http.fetch,
          authorityHost: resolved.connection.authorityHost,
          tls,
          logStream: { write: (line: string) => ctx.out.write(line) },
        });
        try {
          const address = await server.app.listen({ host: settings.host, port: settings.port });
          ctx.err.write(`mfactl serve: listening on ${address} (database ${store.location}; ${tenantList.length} tenant${tenantList.length === 1 ? "" : "s"}${cluster ? `; one of a cluster, jobs queued in schema ${cluster.queueSchema}` : ""}). API docs: ${address}/docs\n`);
          await new Promise<void>((resolve) => {
            if (ctx.io.signal?.aborted) resolve();
            ctx.io.signal?.addEventListener("abort", () => resolve(), { once: true });
          });
          ctx.err.write(`mfactl serve: stopping; running jobs get ${settings.shutdownGraceSeconds} s.\n`);
          const outcome = await server.shutdown();
          if (outcome.resumable > 0) {
            ctx.err.write(`mfactl serve: ${outcome.resumable} run${outcome.resumable === 1 ? "" : "s"} stopped between users: \`mfactl runs --unfinished\` lists them, \`mfactl resume <run>\` finishes them.\n`);
            return EXIT.failed;
          }
          if (outcome.handedOver) ctx.err.write(`mfactl serve: ${outcome.handedOver} job${outcome.handedOver === 1 ? "" : "s"} stopped between users; another instance of the cluster goes on with ${outcome.handedOver === 1 ? "it" : "them"} now.\n`);
          else if (outcome.aborted > 0) ctx.err.write(`mfactl serve: ${outcome.aborted} job${outcome.aborted === 1 ? "" : "s"} stopped before changing anything.\n`);
          ctx.err.write("mfactl serve: stopped.\n");
          return EXIT.ok;
        } finally {
          await server.shutdown(0).catch(() => undefined);
          await http.close();
        }
      }),
    );
}

/** The settings' smtp with the password from the environment, checked (user and password go together). */
function smtpSettings(smtp: NonNullable<ServerSettings["smtp"]>, password: string | undefined): SmtpSettings {
  const parsed = SmtpSettingsSchema.safeParse({ ...smtp, ...(password ? { password } : {}) });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `smtp.${i.path.join(".")}: ${i.path[0] === "password" ? "set MFACTL_SMTP_PASSWORD (the password is never kept in the settings file)" : i.message}`).join("; ");
    throw new UsageError(`The server settings' smtp: ${problems}.`);
  }
  return parsed.data;
}

function wholeNumber(text: string, flag: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag} must be a whole number, not ${JSON.stringify(text)}.`);
  return Number(text.trim());
}

function readPem(file: string, flag: string): string {
  if (!file) throw new UsageError("Give both --tls-cert and --tls-key (or tls.cert and tls.key).");
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`Cannot read ${flag} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
}
