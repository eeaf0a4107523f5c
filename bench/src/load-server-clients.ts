/**
 * The callers of `npm run load`, in a worker thread of the load test's process (so their own work
 * does not share the server's event loop): one loop per client, each on its own kept-alive undici
 * connection to the server on loopback, each changing only its own users. Every request and what
 * came back is recorded; the main thread checks them against the emulator and the journal.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Client } from "undici";

export type Kind = "list" | "get" | "put" | "cipp";
export const KINDS: readonly Kind[] = ["list", "get", "put", "cipp"];
export type State = "disabled" | "enabled" | "enforced";
export const STATES: readonly State[] = ["disabled", "enabled", "enforced"];

export interface LoadUser {
  /** Index in the load test's user table. */
  idx: number;
  /** The tenant's domain (what the server serves it as) and its id (an alias). */
  tenant: string;
  tenantId: string;
  id: string;
  upn: string;
}

export interface LoadClientSpec {
  /** For messages: the API key's name or the Entra app's. */
  name: string;
  /** `Bearer <API key or Entra token>`, or an X-Api-Key value (some callers send that header). */
  authorization: string;
  header: "authorization" | "x-api-key";
  users: LoadUser[];
}

export interface WorkerInput {
  url: string;
  durationMs: number;
  seed: number;
  tenants: { domain: string; id: string }[];
  clients: LoadClientSpec[];
  requestTimeoutMs: number;
  /** Users per page of GET /v1/tenants/{t}/users. */
  pageSize: number;
}

/** What the server said, as far as the checks need it. */
export interface Outcome {
  /** changed | unchanged | wouldChange | failed | conflict (PUT). */
  status?: string;
  id?: string;
  previousState?: string;
  perUserMfaState?: string;
  runId?: string;
  requestId?: string;
  errorCode?: string;
  /** CIPP's Results line, or an error message. */
  message?: string;
}

export interface LoadRecord {
  client: number;
  kind: Kind;
  /** ms since the clients started. */
  start: number;
  ms: number;
  /** HTTP status; 0 when no answer came (connection error, timeout). */
  http: number;
  user?: number;
  requested?: State;
  dryRun?: boolean;
  outcome?: Outcome;
  /** Users of this client seen in a listed page: [user idx, perUserMfaState]. */
  seen?: [number, string][];
  rows?: number;
  /** No answer: why. */
  error?: string;
}

export type WorkerMessage = { type: "progress"; done: number; byStatus: Record<string, number> } | { type: "done"; records: LoadRecord[]; seconds: number };

/** mulberry32: a small seeded PRNG, so a run's request mix repeats. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = encodeURIComponent;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function outcomeOf(body: unknown): Outcome {
  if (!body || typeof body !== "object") return typeof body === "string" && body !== "" ? { message: body.slice(0, 300) } : {};
  const b = body as Record<string, unknown>;
  const out: Outcome = {};
  const set = (k: keyof Outcome, v: unknown) => {
    const s = str(v);
    if (s !== undefined) out[k] = s;
  };
  set("status", b["status"]);
  set("id", b["id"]);
  set("previousState", b["previousState"]);
  set("perUserMfaState", b["perUserMfaState"]);
  set("runId", b["runId"]);
  set("requestId", b["requestId"]);
  const error = b["error"];
  if (error && typeof error === "object") {
    set("errorCode", (error as Record<string, unknown>)["code"]);
    set("message", (error as Record<string, unknown>)["message"]);
  }
  const results = b["Results"];
  if (Array.isArray(results)) set("message", results.join(" | "));
  return out;
}

async function runClient(input: WorkerInput, index: number, t0: number, endAt: number, records: LoadRecord[], tick: (r: LoadRecord) => void): Promise<void> {
  const spec = input.clients[index]!;
  const random = prng(input.seed * 1000 + index + 1);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const own = new Map(spec.users.map((u) => [u.id.toLowerCase(), u.idx]));
  const cursors = new Map<string, string | undefined>();
  const origin = new URL(input.url).origin;
  const client = new Client(origin, {
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: input.requestTimeoutMs,
    bodyTimeout: input.requestTimeoutMs,
  });
  const headers = (json: boolean): Record<string, string> => ({
    [spec.header]: spec.authorization,
    accept: "application/json",
    ...(json ? { "content-type": "application/json" } : {}),
  });
  const call = async (method: "GET" | "PUT" | "POST", path: string, body?: unknown): Promise<{ http: number; body: unknown; ms: number; start: number; error?: string }> => {
    const started = performance.now();
    try {
      const res = await client.request({ method, path, headers: headers(body !== undefined), ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await res.body.text();
      const ms = performance.now() - started;
      // A polite caller: after a 429 it waits as long as Retry-After says (at most until the run ends).
      if (res.statusCode === 429) await sleep(Math.min(Number(res.headers["retry-after"] ?? 1) * 1000 || 1000, Math.max(0, endAt - performance.now())));
      return { http: res.statusCode, body: parse(text), ms, start: started - t0 };
    } catch (error) {
      const ms = performance.now() - started;
      // Not a busy loop when the server is gone.
      await sleep(100);
      return { http: 0, body: undefined, ms, start: started - t0, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    }
  };
  const keep = (r: LoadRecord) => {
    records.push(r);
    tick(r);
  };

  try {
    while (performance.now() < endAt) {
      const roll = random();
      if (roll < 0.3 || spec.users.length === 0) {
        // A page of a tenant's users, following the cursor to the end and starting again.
        const tenant = pick(input.tenants);
        const cursor = cursors.get(tenant.domain);
        const path = `/v1/tenants/${enc(tenant.domain)}/users?limit=${input.pageSize}${cursor ? `&cursor=${enc(cursor)}` : ""}`;
        const r = await call("GET", path);
        const rec: LoadRecord = { client: index, kind: "list", start: r.start, ms: r.ms, http: r.http, ...(r.error ? { error: r.error } : {}) };
        if (r.http === 200 && r.body && typeof r.body === "object") {
          const page = r.body as { users?: { id?: string; perUserMfaState?: string }[]; nextCursor?: string };
          const users = page.users ?? [];
          rec.rows = users.length;
          const seen: [number, string][] = [];
          for (const u of users) {
            const idx = typeof u.id === "string" ? own.get(u.id.toLowerCase()) : undefined;
            if (idx !== undefined) seen.push([idx, String(u.perUserMfaState)]);
          }
          if (seen.length > 0) rec.seen = seen;
          cursors.set(tenant.domain, page.nextCursor);
        } else if (r.http !== 429) {
          rec.outcome = outcomeOf(r.body);
          cursors.delete(tenant.domain);
        }
        keep(rec);
        continue;
      }
      const user = pick(spec.users);
      // Tenants by domain or by id, users by id or by UPN (guests' #EXT# percent-encoded).
      const tenantRef = random() < 0.8 ? user.tenant : user.tenantId;
      const userRef = random() < 0.5 ? user.id : user.upn;
      if (roll < 0.6) {
        const r = await call("GET", `/v1/tenants/${enc(tenantRef)}/users/${enc(userRef)}/mfa`);
        keep({ client: index, kind: "get", start: r.start, ms: r.ms, http: r.http, user: user.idx, outcome: outcomeOf(r.body), ...(r.error ? { error: r.error } : {}) });
      } else if (roll < 0.9) {
        const requested = pick(STATES);
        const dryRun = random() < 0.05;
        const r = await call("PUT", `/v1/tenants/${enc(tenantRef)}/users/${enc(userRef)}/mfa`, {
          perUserMfaState: random() < 0.2 ? capital(requested) : requested,
          ...(dryRun ? { dryRun: true } : {}),
        });
        keep({ client: index, kind: "put", start: r.start, ms: r.ms, http: r.http, user: user.idx, requested, dryRun, outcome: outcomeOf(r.body), ...(r.error ? { error: r.error } : {}) });
      } else {
        const requested = pick(STATES);
        // CIPP's dialect: case-insensitive keys, State as a string or {label, value}, the user by UPN or id.
        const body =
          random() < 0.5
            ? { tenantFilter: tenantRef, userPrincipalName: user.upn, State: capital(requested) }
            : { TenantFilter: tenantRef, userId: user.id, state: { label: capital(requested), value: requested } };
        const r = await call("POST", "/api/ExecPerUserMFA", body);
        keep({ client: index, kind: "cipp", start: r.start, ms: r.ms, http: r.http, user: user.idx, requested, outcome: outcomeOf(r.body), ...(r.error ? { error: r.error } : {}) });
      }
    }
  } finally {
    await client.close().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const input = workerData as WorkerInput;
  const records: LoadRecord[] = [];
  const byStatus: Record<string, number> = {};
  const tick = (r: LoadRecord) => {
    const key = String(r.http);
    byStatus[key] = (byStatus[key] ?? 0) + 1;
  };
  const t0 = performance.now();
  const endAt = t0 + input.durationMs;
  const progress = setInterval(() => parentPort?.postMessage({ type: "progress", done: records.length, byStatus: { ...byStatus } } satisfies WorkerMessage), 5_000);
  try {
    await Promise.all(input.clients.map((_, i) => runClient(input, i, t0, endAt, records, tick)));
  } finally {
    clearInterval(progress);
  }
  parentPort?.postMessage({ type: "done", records, seconds: (performance.now() - t0) / 1000 } satisfies WorkerMessage);
}

if (parentPort) void main();
