/**
 * The server under test, for real: the emulator in-process over HTTPS, core's Graph client and
 * batch engine against it, a fresh store (SQLite or PostgreSQL), and `buildServer` listening on
 * loopback. Tests talk to it over HTTP with fetch, as any client does.
 */
import { createHash, randomBytes } from "node:crypto";
import { createBatchEngine, createFetch, createGraphClient, parseMaxChanges, systemClock, type BatchEngine, type Clock, type FetchLike } from "@mfactl/core";
import { startEmulator, type EmulatorOptions, type RunningEmulator } from "@mfactl/emulator";
import type { MfactlStore } from "@mfactl/store";
import { buildServer, type MfactlServer } from "./app.js";
import { createApiKey } from "./auth/api-keys.js";
import { parseServerSettings, type EntraSettingsInput, type ServerSettingsInput } from "./settings.js";
import { ServedTenants } from "./tenants.js";

export interface Harness {
  emu: RunningEmulator;
  server: MfactlServer;
  store: MfactlStore;
  url: string;
  /** Every log line the server wrote. */
  logs: string[];
  /** A new API key with these scopes (and tenants). */
  key(scopes: string[], options?: { name?: string; tenants?: string[] }): Promise<string>;
  /** An Entra access token for the server's API from the emulator (client credentials). */
  token(caller: "readWrite" | "readOnly"): Promise<string>;
  /**
   * A person's delegated access token for the server's API, got as the dashboard gets it: the emulator's
   * authorize page, the user's credentials posted to it, the code redeemed with PKCE cross-origin
   * (Origin: the server's) at the token endpoint. `user`: a local part (`adele.vance`) or a UPN;
   * `tenant` (id or domain): where to sign in, default the dashboard app's tenant (the first).
   */
  personToken(user: string, options?: { tenant?: string; scope?: string }): Promise<string>;
  /** fetch against the server: `path` like /v1/tenants. */
  call(path: string, init?: { method?: string; body?: unknown; auth?: string; headers?: Record<string, string> }): Promise<{ status: number; body: unknown; text: string; headers: Headers }>;
  /**
   * Follows GET /v1/jobs/{id}/events (server-sent events) until `done`, or until `until` says
   * stop: every event parsed, in order. Awaiting it is how tests wait for a job.
   */
  events(jobId: string, auth: string, until?: (event: SseEvent) => boolean): Promise<{ events: SseEvent[]; status: number; headers: Headers }>;
  /** A Graph client and batch engine of their own, as another process (the CLI's `resume`) would have. */
  otherEngine(): Promise<{ engine: BatchEngine; close(): Promise<void> }>;
  /** Waits for the job's end through its events; returns the job as the `done` event carries it. */
  waitForJob(jobId: string, auth: string): Promise<JobView>;
  close(): Promise<void>;
}

/** Every error answer: `{ error: { code, message, requestId?, httpStatus? }, requestId }`. */
export interface ErrorReply {
  error: { code: string; message: string; requestId?: string; httpStatus?: number; issues?: { path: string; message: string }[] };
  requestId: string;
}

/** A clock on real time that tests can move forward (key refetch cooldowns, cache ages); sleeps are real. */
export function offsetClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    sleep: (ms, signal) => systemClock.sleep(ms, signal),
    timeout: (ms) => AbortSignal.timeout(Math.max(1, Math.ceil(ms))),
    advance(ms) {
      offset += ms;
    },
  };
}

/** One server-sent event: its `event:` name and its `data:` parsed as JSON. */
export interface SseEvent {
  event: string;
  data: unknown;
}

/** A job as the API shows it (JobSchema), loosely typed for tests. */
export interface JobView {
  jobId: string;
  type: string;
  status: string;
  actor: string;
  runId?: string;
  progress: { total?: number; done: number; counts: Record<string, number> };
  error?: { code: string; message: string; httpStatus?: number };
  summary?: unknown;
}

export interface HarnessOptions {
  openStore: () => Promise<MfactlStore>;
  users?: number;
  tenants?: number;
  settings?: Partial<ServerSettingsInput>;
  /** The profile's protected accounts; a function gets the emulator (for its domains and ids). */
  protectedList?: string[] | ((emu: RunningEmulator) => string[]);
  /** The server's clock (token expiry, key refetch cooldowns, job and journal times). */
  clock?: Clock;
  /** More emulator options (latency, faults, seed). */
  emulator?: Omit<EmulatorOptions, "users" | "tenants">;
  /**
   * Sign-in for people through the emulator's dashboard SPA (entra.dashboard, and the server's URL + "/" as
   * the app's SPA redirect URI). Default true.
   */
  dashboard?: boolean;
  /** Merged into the default entra settings (people, roles, dashboard.scope, ...); gets the emulator. */
  entra?: (emu: RunningEmulator) => Partial<EntraSettingsInput>;
  /** The profile's maxChanges (`25`, `10%`): the server's run-size cap. Default none. */
  maxChanges?: string;
  /** The scheduler's clock (schedules' periods); default the server's. */
  schedulerClock?: Clock;
  /** Webhook alerts go out through this. */
  alertFetch?: FetchLike;
  /** Jobs through pg-boss in this schema (the store must be PostgreSQL on `connectionString`): given the store opened. */
  cluster?: (store: MfactlStore) => { connectionString: string; queueSchema: string };
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const emu = await startEmulator({ ...options.emulator, users: options.users ?? 30, tenants: options.tenants ?? 3 });
  const http = createFetch({ caPem: emu.caPem });
  const graphClient = () =>
    createGraphClient({
      clientId: emu.clientId,
      credential: { kind: "secret", clientSecret: emu.clientSecret },
      authorityHost: emu.authorityHost,
      graphUrl: emu.graphUrl,
      caPem: emu.caPem,
      retry: { maxAttempts: 4, maxDelayMs: 2_000 },
    });
  const graph = graphClient();
  const engine = createBatchEngine(graph);
  const store = await options.openStore();
  const logs: string[] = [];
  const [first] = emu.tenants;
  const settings = parseServerSettings(
    {
      port: 0,
      tenants: emu.tenants.map((t) => ({ tenant: t.domain, aliases: [t.id] })),
      entra: {
        tenantId: emu.apiApp.tenantId,
        audience: emu.apiApp.identifierUri,
        apps: [
          { appId: emu.apiCallers.readWrite.clientId, name: "CIPP automation", scopes: ["write"] },
          { appId: emu.apiCallers.readOnly.clientId, name: "Read-only automation", scopes: ["read"], tenants: [first!.domain] },
        ],
        ...(options.dashboard !== false ? { dashboard: { clientId: emu.dashboardApp.clientId } } : {}),
        ...options.entra?.(emu),
      },
      logLevel: "info",
      ...options.settings,
    },
    "test",
  );
  const server = await buildServer({
    settings,
    store,
    graph,
    engine,
    tenants: new ServedTenants(settings.tenants ?? []),
    protectedList: typeof options.protectedList === "function" ? options.protectedList(emu) : (options.protectedList ?? []),
    ...(options.maxChanges !== undefined ? { maxChanges: { cap: parseMaxChanges(options.maxChanges, "the profile's maxChanges"), source: "the profile's maxChanges" } } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.schedulerClock ? { schedulerClock: options.schedulerClock } : {}),
    ...(options.alertFetch ? { alertFetch: options.alertFetch } : {}),
    ...(options.cluster ? { cluster: options.cluster(store) } : {}),
    fetch: http.fetch as FetchLike,
    authorityHost: emu.authorityHost,
    logStream: { write: (line: string) => void logs.push(line) },
  });
  const url = await server.app.listen({ host: "127.0.0.1", port: 0 });
  // The port is known only now: the dashboard's page is where Entra sends people back with their code.
  const redirectUri = `${url}/`;
  if (settings.entra?.dashboard?.clientId === emu.dashboardApp.clientId) emu.admin.setRedirectUris(emu.dashboardApp.clientId, { spa: [redirectUri] });
  let n = 0;
  const harness: Harness = {
    emu,
    server,
    store,
    url,
    logs,
    async key(scopes, o = {}) {
      const created = await createApiKey(store.access, { name: o.name ?? `test-${++n}`, scopes, tenants: o.tenants, createdBy: "test", at: new Date().toISOString() });
      return created.key;
    },
    async token(caller) {
      const app = emu.apiCallers[caller];
      const res = await http.fetch(`${emu.authorityHost}/${emu.apiApp.tenantId}/oauth2/v2.0/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", client_id: app.clientId, client_secret: app.clientSecret, scope: `${emu.apiApp.identifierUri}/.default` }).toString(),
      });
      const body = (await res.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`no token: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async personToken(user, o = {}) {
      const tenant = emu.tenants.find((t) => [t.id.toLowerCase(), t.domain.toLowerCase()].includes((o.tenant ?? emu.dashboardApp.tenantId).toLowerCase()));
      if (!tenant) throw new Error(`no tenant ${o.tenant ?? ""} in the emulator`);
      const upn = user.includes("@") ? user : `${user}@${tenant.domain}`;
      const verifier = randomBytes(48).toString("base64url");
      const authorize = `${emu.authorityHost}/${tenant.id}/oauth2/v2.0/authorize?${new URLSearchParams({
        client_id: emu.dashboardApp.clientId,
        response_type: "code",
        redirect_uri: redirectUri,
        scope: o.scope ?? `openid profile ${emu.apiApp.identifierUri}/access_as_user`,
        state: randomBytes(8).toString("hex"),
        code_challenge: createHash("sha256").update(verifier).digest("base64url"),
        code_challenge_method: "S256",
      }).toString()}`;
      // The sign-in page, then its form posted back as a browser would.
      const page = await http.fetch(authorize, { method: "GET" });
      const html = await page.text();
      const action = /<form method="post" action="([^"]+)">/.exec(html)?.[1];
      if (page.status !== 200 || action === undefined) throw new Error(`sign-in page for ${upn}: HTTP ${page.status} ${html.slice(0, 300)}`);
      const posted = await http.fetch(new URL(action.replace(/&amp;/g, "&"), emu.authorityHost).toString(), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ login: upn, passwd: emu.admin.userPassword(tenant.id, upn) }).toString(),
        redirect: "manual",
      });
      const location = posted.headers.get("location");
      const code = location?.startsWith(redirectUri) ? new URL(location).searchParams.get("code") : null;
      if (posted.status !== 302 || !code) throw new Error(`sign-in of ${upn}: HTTP ${posted.status}, location ${location ?? "none"} ${(await posted.text()).slice(0, 300)}`);
      // A SPA redeems its code cross-origin, from the page's origin, with the PKCE verifier and no secret.
      const res = await http.fetch(`${emu.authorityHost}/${tenant.id}/oauth2/v2.0/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(url).origin },
        body: new URLSearchParams({ grant_type: "authorization_code", client_id: emu.dashboardApp.clientId, redirect_uri: redirectUri, code, code_verifier: verifier }).toString(),
      });
      const body = (await res.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`no token for ${upn}: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async call(path, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      if (init.auth) headers["authorization"] = `Bearer ${init.auth}`;
      if (init.body !== undefined) headers["content-type"] ??= "application/json";
      const res = await fetch(`${url}${path}`, { method: init.method ?? "GET", headers, ...(init.body !== undefined ? { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) } : {}) });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON (CSV, HTML, SSE): the text is the body.
      }
      return { status: res.status, body, text, headers: res.headers };
    },
    async events(jobId, auth, until) {
      const res = await fetch(`${url}/v1/jobs/${encodeURIComponent(jobId)}/events`, { headers: { authorization: `Bearer ${auth}`, accept: "text/event-stream" } });
      const events: SseEvent[] = [];
      if (!res.body || !(res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
        await res.text();
        return { events, status: res.status, headers: res.headers };
      }
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const lines = block.split("\n").filter((l) => !l.startsWith(":"));
            if (lines.length === 0) continue;
            const name = lines.find((l) => l.startsWith("event: "))?.slice("event: ".length) ?? "message";
            const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice("data: ".length)).join("\n");
            const event = { event: name, data: JSON.parse(data) as unknown };
            events.push(event);
            if (until?.(event)) return { events, status: res.status, headers: res.headers };
          }
        }
      } finally {
        await reader.cancel().catch(() => undefined);
      }
      return { events, status: res.status, headers: res.headers };
    },
    async waitForJob(jobId, auth) {
      const { events, status } = await harness.events(jobId, auth, (e) => e.event === "done");
      const done = events.at(-1);
      if (status !== 200 || done?.event !== "done") throw new Error(`job ${jobId}: events answered ${status} and ended without done (${JSON.stringify(events.slice(-3))})`);
      return done.data as JobView;
    },
    async otherEngine() {
      const otherGraph = graphClient();
      const other = createBatchEngine(otherGraph);
      return {
        engine: other,
        async close() {
          await other.close();
          await otherGraph.close();
        },
      };
    },
    async close() {
      await server.shutdown(0);
      await engine.close();
      await graph.close();
      await store.close();
      await http.close();
      await emu.close();
    },
  };
  return harness;
}
