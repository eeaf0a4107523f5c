import { existsSync } from "node:fs";
import {
  createBatchEngine,
  createGraphClient,
  type BatchEngine,
  type EngineEvent,
  type GraphClient,
  type JournalStore,
  type RetryPolicy,
  type TransportEvent,
} from "@mfactl/core";
import { defaultJournalPath, isPostgresUrl, openStore, type MfactlStore } from "@mfactl/store";
import { redactingWriter, type RedactingWriter } from "./redact.js";
import { loadProfile, resolveSettings, type Env, type ProfileExtras, type ResolvedSettings, type Settings } from "./settings.js";

/** What a command gets from the process: streams, environment, cancellation. */
export interface CliIo {
  stdout: { write(chunk: string): unknown; isTTY?: boolean };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  env: Env;
  /** Aborted on SIGINT. */
  signal?: AbortSignal | undefined;
}

export interface GlobalOptions extends Settings {
  config?: string;
  profile?: string;
  verbose?: boolean;
  db?: string;
  maxAttempts?: string;
  maxRetryWait?: string;
  timeout?: string;
}

/** Per-invocation context: redacting writers, settings, and a Graph client built on demand. */
export class CommandContext {
  readonly out: RedactingWriter;
  readonly err: RedactingWriter;
  readonly verbose: boolean;
  /** The command ends on Ctrl+C/SIGTERM by design (`serve`) and sets its own exit code then, instead of 130. */
  stopsOnSignal = false;
  private settings: ResolvedSettings | undefined;
  private client: GraphClient | undefined;
  private batchEngine: BatchEngine | undefined;
  private extras: ProfileExtras | undefined;
  private openJournal: Promise<MfactlStore> | undefined;

  constructor(
    readonly io: CliIo,
    readonly globals: GlobalOptions,
  ) {
    const initialSecrets = [io.env.MFACTL_CLIENT_SECRET, io.env.MFACTL_CERTIFICATE_PASSWORD, globals.clientSecret, dbPassword(globals.db), dbPassword(io.env.MFACTL_DB)].filter(
      (s): s is string => !!s,
    );
    this.out = redactingWriter(io.stdout, initialSecrets);
    this.err = redactingWriter(io.stderr, initialSecrets);
    this.verbose = globals.verbose === true;
  }

  resolveSettings(): ResolvedSettings {
    if (!this.settings) {
      const { config, profile, verbose: _v, db: _d, maxAttempts: _m, maxRetryWait: _w, timeout: _t, ...flags } = this.globals;
      this.settings = resolveSettings({ ...flags, config, profile }, this.io.env);
      this.out.addSecrets(this.settings.secrets);
      this.err.addSecrets(this.settings.secrets);
    }
    return this.settings;
  }

  /** The profile's tenant list, guard rails and journal path; needs no credentials. */
  profileExtras(): ProfileExtras {
    this.extras ??= loadProfile({ config: this.globals.config, profile: this.globals.profile }, this.io.env).extras;
    return this.extras;
  }

  /** --db, then MFACTL_DB, then the profile's db, then the user's state directory. */
  journalPath(): string {
    return this.globals.db ?? this.io.env.MFACTL_DB ?? this.profileExtras().db ?? defaultJournalPath(this.io.env);
  }

  /** The database (journal, API keys, audit log), opened once per command: SQLite file or postgres:// URL. */
  store(): Promise<MfactlStore> {
    if (!this.openJournal) this.openJournal = openStore(this.journalPath());
    return this.openJournal;
  }

  /** The journal, opened once per command (a corrupt or locked database fails here, before any change). */
  async journal(): Promise<JournalStore> {
    return (await this.store()).journal;
  }

  /** The journal if it exists: commands that only read it never create one (a PostgreSQL database always exists). */
  async existingJournal(): Promise<JournalStore | undefined> {
    const path = this.journalPath();
    if (!this.openJournal && !isPostgresUrl(path) && !existsSync(path)) return undefined;
    return this.journal();
  }

  /** Who the journal names as making the changes: the app the CLI signs in as. */
  actor(): string {
    return `app:${this.resolveSettings().connection.clientId}`;
  }

  graph(retry: Partial<RetryPolicy>): GraphClient {
    if (!this.client) {
      const { connection } = this.resolveSettings();
      this.client = createGraphClient({
        ...connection,
        retry,
        ...(this.verbose ? { onEvent: (e: TransportEvent) => this.err.write(`${describeEvent(e)}\n`) } : {}),
      });
    }
    return this.client;
  }

  /** The throttle-aware batch engine over the same client (bulk commands). */
  engine(retry: Partial<RetryPolicy>): BatchEngine {
    if (!this.batchEngine) {
      this.batchEngine = createBatchEngine(this.graph(retry), {
        ...(this.verbose ? { onEvent: (e: EngineEvent) => this.err.write(`${describeEngineEvent(e)}\n`) } : {}),
      });
    }
    return this.batchEngine;
  }

  async close(): Promise<void> {
    await this.batchEngine?.close();
    await this.client?.close();
    const journal = this.openJournal;
    this.openJournal = undefined;
    if (journal) await journal.then((j) => j.close()).catch(() => undefined);
  }
}

/** The password in a postgres:// URL, to keep it out of anything printed. */
function dbPassword(spec: string | undefined): string | undefined {
  if (!spec || !isPostgresUrl(spec)) return undefined;
  try {
    const password = decodeURIComponent(new URL(spec).password);
    return password.length >= 4 ? password : undefined;
  } catch {
    return undefined;
  }
}

function describeEvent(e: TransportEvent): string {
  switch (e.type) {
    case "request":
      return `[graph] ${e.method} ${e.url} (attempt ${e.attempt})`;
    case "response":
      return `[graph] ${e.status} ${e.method} ${e.url} in ${Math.round(e.durationMs)} ms, request id ${e.requestId ?? "-"}`;
    case "retry":
      return `[retry] ${e.method} ${e.url}: ${e.reason}; attempt ${e.attempt + 1} in ${Math.round(e.delayMs)} ms`;
    case "token":
      return `[auth] token for tenant ${e.tenant} (${e.reason})`;
    case "throttled":
      return `[throttle] tenant ${e.tenant} paused until ${new Date(e.untilMs).toISOString()}`;
  }
}

function describeEngineEvent(e: EngineEvent): string {
  switch (e.type) {
    case "batch":
      return `[batch] tenant ${e.tenant}: ${e.size} requests in ${Math.round(e.durationMs)} ms${e.throttled ? `, ${e.throttled} throttled` : ""}`;
    case "throttled":
      return `[throttle] tenant ${e.tenant}: retry after ${Math.round(e.retryAfterMs)} ms${e.scope ? ` (${e.scope})` : ""}`;
    case "rate":
      return `[pace] tenant ${e.tenant}: ${e.ruPerSecond.toFixed(0)} RU/s, ${e.writesPerSecond.toFixed(1)} writes/s`;
  }
}
