import { existsSync } from "node:fs";
import { homedir } from "node:os";
import {
  chooseKeySource,
  createAccessTokenProvider,
  createDelegatedTokenProvider,
  createMsalTokenProvider,
  defaultTokenStorePath,
  TokenStore,
  withGdapErrors,
  type AccessMode,
  createBatchEngine,
  createCippClient,
  createFetch,
  createGraphClient,
  UsageError,
  type BatchEngine,
  type BatchEngineOptions,
  type CippClient,
  type HttpTransport,
  type EngineEvent,
  type GraphClient,
  type JournalStore,
  type RetryPolicy,
  type TransportEvent,
  type FetchLike,
  type TokenProvider,
} from "@mfactl/core";
import { defaultJournalPath, isPostgresUrl, openStore, type MfactlStore } from "@mfactl/store";
import type { BackendFlags } from "./backend-options.js";
import { redactingWriter, type RedactingWriter } from "./redact.js";
import {
  accessModeFor,
  CIPP_ENV_VARS,
  loadProfile,
  resolveBackend,
  resolveCippSettings,
  resolvePublicClientSettings,
  resolveSettings,
  type PublicClientSettings,
  type Backend,
  type Env,
  type LoadedProfile,
  type ProfileExtras,
  type ResolvedCippSettings,
  type ResolvedSettings,
  type Settings,
} from "./settings.js";

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
  /** A program-wide --backend, if the program defines one; a command's own --backend wins. */
  backend?: string;
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
  private loaded: LoadedProfile | undefined;
  private openJournal: Promise<MfactlStore> | undefined;
  private backendChoice: BackendFlags = {};
  private cippSettings: ResolvedCippSettings | undefined;
  private cippClient: CippClient | undefined;
  private cippHttp: HttpTransport | undefined;
  private graphHttp: HttpTransport | undefined;
  private tokens: TokenStore | undefined;
  private accessTokens: TokenProvider | undefined;

  constructor(
    readonly io: CliIo,
    readonly globals: GlobalOptions,
  ) {
    const initialSecrets = [io.env.MFACTL_CLIENT_SECRET, io.env[CIPP_ENV_VARS.clientSecret], io.env.MFACTL_CERTIFICATE_PASSWORD, globals.clientSecret, dbPassword(globals.db), dbPassword(io.env.MFACTL_DB)].filter(
      (s): s is string => !!s,
    );
    this.out = redactingWriter(io.stdout, initialSecrets);
    this.err = redactingWriter(io.stderr, initialSecrets);
    this.verbose = globals.verbose === true;
  }

  resolveSettings(): ResolvedSettings {
    if (!this.settings) {
      const { config, profile, verbose: _v, db: _d, maxAttempts: _m, maxRetryWait: _w, timeout: _t, backend: _b, ...flags } = this.globals;
      this.settings = resolveSettings({ ...flags, config, profile }, this.io.env, {
        storedSecret: (clientId) => {
          const store = this.tokenStore();
          return store.exists() ? store.read().secrets[clientId] : undefined;
        },
      });
      this.out.addSecrets(this.settings.secrets);
      this.err.addSecrets(this.settings.secrets);
    }
    return this.settings;
  }

  /** Client id and endpoints for a sign-in (no app credential needed). */
  publicClientSettings(): PublicClientSettings {
    const { config, profile, verbose: _v, db: _d, maxAttempts: _m, maxRetryWait: _w, timeout: _t, backend: _b, ...flags } = this.globals;
    return resolvePublicClientSettings({ ...flags, config, profile }, this.io.env);
  }

  /** The profile's tenant list, guard rails and journal path; needs no credentials. */
  profileExtras(): ProfileExtras {
    this.extras ??= this.profile().extras;
    return this.extras;
  }

  private profile(): LoadedProfile {
    this.loaded ??= loadProfile({ config: this.globals.config, profile: this.globals.profile }, this.io.env);
    return this.loaded;
  }

  /** A command that can work through CIPP hands over its --backend and --cipp-* flags before anything else. */
  useBackendFlags(flags: BackendFlags): void {
    this.backendChoice = flags;
  }

  /** --backend (the command's, then the program's), MFACTL_BACKEND, the profile's backend, else graph. */
  backend(): Backend {
    const backend = resolveBackend(this.backendChoice.backend ?? this.globals.backend, this.io.env, this.profile());
    const cippFlag = this.backendChoice.cippUrl !== undefined ? "--cipp-url" : this.backendChoice.cippTenantId !== undefined ? "--cipp-tenant-id" : this.backendChoice.cippClientId !== undefined ? "--cipp-client-id" : undefined;
    if (backend === "graph" && cippFlag) throw new UsageError(`${cippFlag} is a setting of the CIPP backend: add --backend cipp (or set backend: cipp in the profile).`);
    return backend;
  }

  /** The CIPP backend's settings (URL, API client, shared authority host and CA). */
  resolveCippSettings(): ResolvedCippSettings {
    if (!this.cippSettings) {
      const { cippUrl, cippTenantId, cippClientId } = this.backendChoice;
      const { authorityHost, caFile, tenant, config, profile } = this.globals;
      this.cippSettings = resolveCippSettings(stripUndefined({ cippUrl, cippTenantId, cippClientId, authorityHost, caFile, tenant, config, profile }), this.io.env);
      this.out.addSecrets(this.cippSettings.secrets);
      this.err.addSecrets(this.cippSettings.secrets);
    }
    return this.cippSettings;
  }

  /** The default tenant and the profile's tenant list, from the settings of the backend in use. */
  tenantSettings(): { defaultTenant: string | undefined; tenants: string[] } {
    return this.backend() === "cipp" ? this.resolveCippSettings() : this.resolveSettings();
  }

  /** A client of the CIPP instance, built on demand (no request until a command uses it). */
  cipp(retry: Partial<RetryPolicy>): CippClient {
    if (!this.cippClient) {
      const s = this.resolveCippSettings();
      this.cippHttp = createFetch({ caPem: s.caPem });
      this.cippClient = createCippClient({
        url: s.url,
        tenantId: s.tenantId,
        clientId: s.clientId,
        clientSecret: s.clientSecret,
        authorityHost: s.authorityHost,
        fetch: this.cippHttp.fetch,
        retry,
        ...(this.verbose ? { onEvent: (e: TransportEvent) => this.err.write(`${describeEvent(e, "cipp")}\n`) } : {}),
      });
    }
    return this.cippClient;
  }

  /** Commands other than get, set and report reach Graph only. */
  private requireGraph(): void {
    if (this.backend() !== "cipp") return;
    const source = this.backendChoice.backend !== undefined || this.globals.backend !== undefined ? "--backend cipp" : this.io.env[CIPP_ENV_VARS.backend] ? `${CIPP_ENV_VARS.backend}=cipp` : "the profile's backend: cipp";
    throw new UsageError(`This command works with the Graph backend only (${source} was given); get, set and report work through CIPP. Use the Graph backend (${CIPP_ENV_VARS.backend}=graph, or a profile without backend: cipp).`);
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

  /**
   * Who the journal names as making the changes: the person signed in (`mfactl login`) when every tenant is reached
   * through them (GDAP or delegated access), else the app the CLI signs in as (CIPP's API client through CIPP).
   */
  actor(): string {
    if (this.backend() === "cipp") return `app:${this.resolveCippSettings().clientId}`;
    const { connection, access } = this.resolveSettings();
    const modes = new Set([access.default, ...Object.values(access.tenants)]);
    if (!modes.has("app")) {
      const person = this.signedInPerson(modes.has("gdap"));
      if (person) return `user:${person.toLowerCase()}`;
    }
    return `app:${connection.clientId}`;
  }

  /** The partner's UPN (GDAP), or the one tenant administrator signed in (delegated); undefined when unknown. */
  private signedInPerson(gdap: boolean): string | undefined {
    const store = this.tokenStore();
    if (!store.exists()) return undefined;
    const content = store.read();
    if (gdap) return content.partner?.userPrincipalName;
    const admins = new Set(Object.values(content.tenants).map((a) => a.userPrincipalName.toLowerCase()));
    return admins.size === 1 ? [...admins][0] : undefined;
  }

  /** The encrypted token store (tokens of `mfactl login`, stored app secrets), in the state directory. */
  tokenStore(): TokenStore {
    this.tokens ??= new TokenStore(defaultTokenStorePath(this.io.env), chooseKeySource(this.profileExtras().tokenKey, this.io.env, homedir()));
    return this.tokens;
  }

  /** How a tenant is reached: the profile's tenantAccess override, else its access default (app). */
  accessMode(tenant: string): AccessMode {
    return accessModeFor(this.resolveSettings().access, tenant);
  }

  graph(retry: Partial<RetryPolicy>): GraphClient {
    this.requireGraph();
    if (!this.client) {
      const { connection, access } = this.resolveSettings();
      const onEvent = this.verboseEvents();
      if (access.default === "app" && Object.values(access.tenants).every((m) => m === "app")) {
        this.client = createGraphClient({ ...connection, retry, ...(onEvent ? { onEvent } : {}) });
      } else {
        const tokenProvider = this.tokenProvider();
        const fetch = this.graphFetch();
        this.client = withGdapErrors(createGraphClient({ ...connection, retry, fetch, tokenProvider, ...(onEvent ? { onEvent } : {}) }), (tenant) => this.accessMode(tenant));
      }
    }
    return this.client;
  }

  private verboseEvents(): ((e: TransportEvent) => void) | undefined {
    return this.verbose ? (e: TransportEvent) => this.err.write(`${describeEvent(e)}\n`) : undefined;
  }

  /** One network for Graph and both token sources, so the extra CA applies to each. */
  private graphFetch(): FetchLike {
    this.graphHttp ??= createFetch({ caPem: this.resolveSettings().connection.caPem, keepAlive: true });
    return this.graphHttp.fetch;
  }

  /**
   * Tokens per tenant in its access mode: app-only (client credentials) or the signed-in person's (GDAP or
   * delegated, from the encrypted token store). What the Graph client uses when any tenant is not app-only, and what
   * `doctor` reads a delegated token's claims from.
   */
  tokenProvider(): TokenProvider {
    if (!this.accessTokens) {
      const { connection } = this.resolveSettings();
      const fetch = this.graphFetch();
      const onEvent = this.verboseEvents();
      const modeFor = (tenant: string) => this.accessMode(tenant);
      this.accessTokens = createAccessTokenProvider({
        modeFor,
        app: () => createMsalTokenProvider({ ...connection, fetch, onEvent }),
        delegated: () =>
          createDelegatedTokenProvider({
            clientId: connection.clientId,
            authorityHost: connection.authorityHost,
            graphUrl: connection.graphUrl,
            fetch,
            store: this.tokenStore(),
            modeFor: (tenant) => (modeFor(tenant) === "gdap" ? "gdap" : "delegated"),
            onEvent,
          }),
      });
    }
    return this.accessTokens;
  }

  /** The throttle-aware batch engine over the same client (bulk commands). */
  engine(retry: Partial<RetryPolicy>, options: Pick<BatchEngineOptions, "sharedBudgets"> = {}): BatchEngine {
    this.requireGraph();
    if (!this.batchEngine) {
      this.batchEngine = createBatchEngine(this.graph(retry), {
        ...options,
        ...(this.verbose ? { onEvent: (e: EngineEvent) => this.err.write(`${describeEngineEvent(e)}\n`) } : {}),
      });
    }
    return this.batchEngine;
  }

  async close(): Promise<void> {
    await this.batchEngine?.close();
    await this.client?.close();
    await this.cippHttp?.close();
    await this.graphHttp?.close();
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

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function describeEvent(e: TransportEvent, service: "graph" | "cipp" = "graph"): string {
  switch (e.type) {
    case "request":
      return `[${service}] ${e.method} ${e.url} (attempt ${e.attempt})`;
    case "response":
      return `[${service}] ${e.status} ${e.method} ${e.url} in ${Math.round(e.durationMs)} ms, request id ${e.requestId ?? "-"}`;
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
    case "shared":
      return e.error === undefined
        ? `[shared] budget ${e.budget}${e.tenant ? ` of tenant ${e.tenant}` : ""}: shared with the other instances again`
        : `[shared] budget ${e.budget}${e.tenant ? ` of tenant ${e.tenant}` : ""}: could not be shared (${e.error}); going on alone`;
  }
}
