import { describe, expect, it } from "vitest";
import { AuthError, GraphError, NetworkError } from "../domain/errors.js";
import type { GraphClient, GraphRequest, GraphResponse } from "../transport/types.js";
import { createBatchEngine, MAX_BATCH_SIZE } from "./batch-engine.js";
import { SimClock } from "./sim-clock.test-helper.js";
import type { BatchEngineOptions, EngineEvent, EngineResponse } from "./types.js";

interface SubRequest {
  id: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
}

interface SubAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

interface SentBatch {
  at: number;
  tenant: string;
  path: string;
  requests: SubRequest[];
}

/** What the scripted Graph does with one sub-request: an answer, or `undefined` to leave it out. */
type SubScript = (sub: SubRequest, tenant: string, attempt: number) => SubAnswer | undefined;

/**
 * A GraphClient that answers `$batch` calls from a script, sub-request by sub-request, in reverse
 * order (Graph answers in any order), and records what was sent and when.
 */
class ScriptedGraph implements GraphClient {
  readonly batches: SentBatch[] = [];
  readonly directs: { at: number; req: GraphRequest }[] = [];
  /** Attempts per sub-request url. */
  readonly attempts = new Map<string, number>();
  /** Throw this for a tenant's requests (a failed token, a network failure). */
  readonly failing = new Map<string, unknown>();
  /** Throw these for the next `$batch` calls, in order (envelope failures after the transport's retries). */
  envelopeFailures: unknown[] = [];
  direct: (req: GraphRequest) => GraphResponse<unknown> | Error = () => ({ status: 200, headers: new Headers(), body: { value: [] }, requestId: "d", attempts: 1 });

  constructor(
    private readonly clock: SimClock,
    private readonly script: SubScript = () => ({ status: 200, body: {} }),
    private readonly latencyMs = 50,
  ) {}

  async request<T>(req: GraphRequest): Promise<GraphResponse<T>> {
    const at = this.clock.now();
    await this.clock.sleep(this.latencyMs);
    const failure = this.failing.get(req.tenant);
    if (failure) throw failure;
    if (!req.path.endsWith("/$batch")) {
      this.directs.push({ at, req });
      const answer = this.direct(req);
      if (answer instanceof Error) throw answer;
      return answer as GraphResponse<T>;
    }
    const requests = (req.body as { requests: SubRequest[] }).requests;
    this.batches.push({ at, tenant: req.tenant, path: req.path, requests });
    const envelopeFailure = this.envelopeFailures.shift();
    if (envelopeFailure) throw envelopeFailure;
    const responses: (SubAnswer & { id: string })[] = [];
    for (const sub of requests) {
      const attempt = (this.attempts.get(sub.url) ?? 0) + 1;
      this.attempts.set(sub.url, attempt);
      const answer = this.script(sub, req.tenant, attempt);
      if (answer) responses.push({ id: sub.id, headers: {}, ...answer });
    }
    responses.reverse();
    return { status: 200, headers: new Headers({ "request-id": `env-${this.batches.length}` }), body: { responses } as T, requestId: `env-${this.batches.length}`, attempts: 1 };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const requirements = (user: string) => `/users/${user}/authentication/requirements`;

function setup(script?: SubScript, options: Partial<BatchEngineOptions> = {}) {
  const clock = new SimClock();
  const graph = new ScriptedGraph(clock, script);
  const events: EngineEvent[] = [];
  const engine = createBatchEngine(graph, { clock, random: () => 0.5, onEvent: (e) => events.push(e), ...options });
  const start = clock.now();
  return { clock, graph, engine, events, start };
}

const echo: SubScript = (sub) => ({ status: 200, headers: { "x-ms-resource-unit": "1" }, body: { url: sub.url } });

describe("batch engine: packing", () => {
  it("packs up to 20 sub-requests per $batch, never mixes versions, uses unique ids and matches shuffled answers by id", async () => {
    const { clock, graph, engine } = setup(echo);
    const beta = Array.from({ length: 45 }, (_, i) => engine.submit<{ url: string }>({ tenant: "t", version: "beta", method: "GET", url: requirements(`b${i}`) }));
    const v1 = Array.from({ length: 7 }, (_, i) => engine.submit<{ url: string }>({ tenant: "t", version: "v1.0", method: "GET", url: `/users/v${i}?$select=id` }));
    const results = await clock.run(Promise.all([...beta, ...v1]));

    results.slice(0, 45).forEach((r, i) => expect(r.body.url).toBe(requirements(`b${i}`)));
    results.slice(45).forEach((r, i) => expect(r.body.url).toBe(`/users/v${i}?$select=id`));
    expect(results.every((r) => r.status === 200 && r.attempts === 1)).toBe(true);
    for (const batch of graph.batches) {
      expect(batch.requests.length).toBeLessThanOrEqual(MAX_BATCH_SIZE);
      expect(new Set(batch.requests.map((r) => r.id)).size).toBe(batch.requests.length);
      // The batch's version is in its path; sub-request urls are relative to it.
      expect(batch.path).toMatch(/^\/(v1\.0|beta)\/\$batch$/);
      const wanted = batch.path.startsWith("/beta") ? /\/authentication\/requirements$/ : /\?\$select=id$/;
      for (const r of batch.requests) expect(r.url).toMatch(wanted);
    }
    expect(graph.batches.map((b) => b.requests.length).reduce((a, b) => a + b, 0)).toBe(52);
    expect(graph.batches.length).toBeLessThanOrEqual(4);
  });

  it("sends a body with Content-Type and the method as given", async () => {
    const { clock, graph, engine } = setup((sub) => (sub.method === "PATCH" ? { status: 204 } : { status: 200, body: {} }));
    const res = await clock.run(engine.submit({ tenant: "t", version: "beta", method: "PATCH", url: requirements("u1"), body: { perUserMfaState: "enforced" } }));
    expect(res.status).toBe(204);
    expect(graph.batches[0]!.requests[0]).toMatchObject({ method: "PATCH", headers: { "Content-Type": "application/json" }, body: { perUserMfaState: "enforced" } });
  });

  it("refuses absolute urls, version prefixes and unencoded characters before sending anything", async () => {
    const { graph, engine } = setup();
    await expect(engine.submit({ tenant: "t", version: "beta", method: "GET", url: "https://graph.microsoft.com/beta/users" })).rejects.toThrow(/absolute/);
    await expect(engine.submit({ tenant: "t", version: "beta", method: "GET", url: "/beta/users/x" })).rejects.toThrow(/version/);
    await expect(engine.submit({ tenant: "t", version: "beta", method: "GET", url: "/users/a#EXT#@x/authentication/requirements" })).rejects.toThrow(/unencoded/);
    expect(graph.batches).toHaveLength(0);
  });
});

describe("batch engine: every sub-response is checked", () => {
  it("retries a 429 sub-request after its own Retry-After while the others resolve at once", async () => {
    const { clock, graph, engine, events, start } = setup((sub, _t, attempt) =>
      sub.url === requirements("slow") && attempt === 1 ? { status: 429, headers: { "Retry-After": "7" }, body: { error: { code: "TooManyRequests" } } } : { status: 200, body: { ok: sub.url } },
    );
    const doneAt: Record<string, number> = {};
    const track = (user: string) => engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements(user) }).then((r) => ((doneAt[user] = clock.now() - start), r));
    const [slow, ...others] = await clock.run(Promise.all(["slow", "a", "b", "c"].map(track)));

    expect(slow).toMatchObject({ status: 200, attempts: 2 });
    expect(others.every((r) => r.status === 200 && r.attempts === 1)).toBe(true);
    expect(doneAt["a"]).toBeLessThan(1000);
    const second = graph.batches.find((b, i) => i > 0 && b.requests.some((r) => r.url === requirements("slow")))!;
    expect(second.at - start).toBeGreaterThanOrEqual(7000 + 50);
    expect(events).toContainEqual(expect.objectContaining({ type: "throttled", tenant: "t", retryAfterMs: 7000 }));
    expect(engine.stats()).toMatchObject({ throttled: 1, retries: 1, subRequests: 5 });
  });

  it("backs off exponentially on 503 without Retry-After and returns the last 503 when the attempts run out", async () => {
    const { clock, graph, engine } = setup((sub) => (sub.url.includes("down") ? { status: 503, body: { error: { code: "serviceNotAvailable" } } } : { status: 200, body: {} }), {
      retry: { maxAttempts: 4, baseDelayMs: 1000 },
    });
    const res = await clock.run(engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements("down") }));
    expect(res).toMatchObject({ status: 503, attempts: 4, body: { error: { code: "serviceNotAvailable" } } });
    const times = graph.batches.map((b) => b.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // Full jitter with random 0.5: half of 1, 2, 4 s, after the 50 ms round trip.
    expect(gaps).toEqual([550, 1050, 2050]);
  });

  it("retries a sub-request missing from the answer and never drops it", async () => {
    const { clock, engine } = setup((sub, _t, attempt) => (sub.url.includes("lost") && attempt < 3 ? undefined : { status: 200, body: { found: true } }));
    const res = await clock.run(engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements("lost") }));
    expect(res).toMatchObject({ status: 200, attempts: 3, body: { found: true } });
  });

  it("reports a sub-request Graph never answered as status 0 with the reason, never as a success", async () => {
    const { clock, engine } = setup((sub) => (sub.url.includes("lost") ? undefined : { status: 200 }), { retry: { maxAttempts: 3 } });
    const res = await clock.run(engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements("lost") }));
    expect(res).toMatchObject({ status: 0, attempts: 3, body: { error: { code: "MissingBatchResponse" } } });
  });

  it("returns 4xx and 500 answers as they are, at once; nothing is a success unless that sub-request got a 2xx", async () => {
    const statuses: Record<string, number> = { a: 404, b: 403, c: 400, d: 500, e: 204, f: 200 };
    const { clock, graph, engine } = setup((sub) => {
      const user = /users\/(\w)/.exec(sub.url)![1]!;
      return { status: statuses[user]!, body: statuses[user]! >= 400 ? { error: { code: `E${statuses[user]}`, innerError: { "request-id": `rid-${user}` } } } : undefined };
    });
    const results = await clock.run(Promise.all(Object.keys(statuses).map((u) => engine.submit({ tenant: "t", version: "beta", method: "PATCH", url: requirements(u), body: { perUserMfaState: "enforced" } }))));
    expect(results.map((r) => r.status)).toEqual([404, 403, 400, 500, 204, 200]);
    expect(results[0]).toMatchObject({ requestId: "rid-a", attempts: 1, body: { error: { code: "E404" } } });
    expect(graph.batches).toHaveLength(1);
    expect(engine.stats()).toMatchObject({ failed: 4, completed: 6 });
  });

  it("returns the last 429 when it keeps coming back, after maxAttempts", async () => {
    const { clock, engine } = setup(() => ({ status: 429, headers: { "Retry-After": "1" }, body: { error: { code: "TooManyRequests" } } }), { retry: { maxAttempts: 3 } });
    const res = await clock.run(engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements("x") }));
    expect(res).toMatchObject({ status: 429, attempts: 3, headers: { "retry-after": "1" } });
  });

  it("gives up when the next attempt would pass the deadline", async () => {
    const { clock, engine, start } = setup(() => ({ status: 429, headers: { "Retry-After": "100" } }), { retry: { deadlineMs: 150_000 } });
    const res = await clock.run(engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements("x") }));
    expect(res).toMatchObject({ status: 429, attempts: 2 });
    expect(clock.now() - start).toBeLessThan(150_000);
  });

  it("sends the batch again when the $batch call itself ends in 429 or 503 after the transport's retries", async () => {
    const { clock, graph, engine } = setup(echo);
    graph.envelopeFailures = [
      new GraphError("throttled", { status: 429, code: "TooManyRequests", attempts: 6 }),
      new GraphError("unavailable", { status: 503, code: "serviceNotAvailable", attempts: 6 }),
    ];
    const results = await clock.run(Promise.all(["a", "b"].map((u) => engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements(u) }))));
    expect(results.map((r) => [r.status, r.attempts])).toEqual([
      [200, 3],
      [200, 3],
    ]);
  });

  it("answers each sub-request with the envelope's error when the whole batch is refused (400)", async () => {
    const { clock, graph, engine } = setup(echo);
    graph.envelopeFailures = [new GraphError("bad batch", { status: 400, code: "BadRequest", requestId: "env-rid" })];
    const res = await clock.run(engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements("a") }));
    expect(res).toMatchObject({ status: 400, requestId: "env-rid", body: { error: { code: "BadRequest" } } });
  });
});

describe("batch engine: tenants", () => {
  it("keeps tenants independent: a long Retry-After in one tenant does not hold another", async () => {
    const { clock, engine, start } = setup((_sub, tenant, attempt) =>
      tenant === "busy" && attempt === 1
        ? { status: 429, headers: { "Retry-After": "30", "x-ms-throttle-scope": "Tenant_Application/ReadWrite/app/busy", "x-ms-throttle-information": "ResourceUnitLimitExceeded" } }
        : { status: 200, body: { tenant } },
    );
    const doneAt: Record<string, number> = {};
    const busy = Array.from({ length: 5 }, (_, i) => engine.submit({ tenant: "busy", version: "beta", method: "GET", url: requirements(`b${i}`) }));
    await clock.run(new Promise((resolve) => setImmediate(resolve)));
    const free = Array.from({ length: 40 }, (_, i) => engine.submit({ tenant: "free", version: "beta", method: "GET", url: requirements(`f${i}`) }).then((r) => ((doneAt[`f${i}`] = clock.now() - start), r)));
    const results = await clock.run(Promise.all([...busy, ...free]));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(Math.max(...Object.values(doneAt))).toBeLessThan(2_000);
    expect(clock.now() - start).toBeGreaterThanOrEqual(30_000);
  });

  it("fails the queue of a tenant whose token cannot be had, quickly, while the other tenants go on", async () => {
    const { clock, graph, engine } = setup(echo);
    const denied = new AuthError("AADSTS700016: app not found in tenant", { tenant: "denied", code: "unauthorized_client", aadstsCodes: [700016] });
    graph.failing.set("denied", denied);
    const bad = Array.from({ length: 100 }, (_, i) => engine.submit({ tenant: "denied", version: "beta", method: "GET", url: requirements(`d${i}`) }).then(() => "resolved", (e: unknown) => e));
    const good = Array.from({ length: 60 }, (_, i) => engine.submit({ tenant: "ok", version: "beta", method: "GET", url: requirements(`o${i}`) }));
    const [badResults, goodResults] = await clock.run(Promise.all([Promise.all(bad), Promise.all(good)]));
    expect(badResults.every((e) => e === denied)).toBe(true);
    expect(goodResults.every((r) => r.status === 200)).toBe(true);
    // The first batches' failure failed the whole queue: far fewer calls than 100 / 20.
    const deniedCalls = graph.batches.filter((b) => b.tenant === "denied").length;
    expect(deniedCalls).toBeLessThanOrEqual(3);
    // Later submissions for that tenant fail at once, without a call.
    await expect(engine.submit({ tenant: "denied", version: "beta", method: "GET", url: requirements("late") })).rejects.toBe(denied);
    expect(engine.stats().tenants["denied"]?.failed).toMatch(/AADSTS700016/);
  });

  it("fails a tenant's queue on a NetworkError after the transport's retries", async () => {
    const { clock, graph, engine } = setup(echo);
    const down = new NetworkError("connect ECONNREFUSED", { code: "ECONNREFUSED", tenant: "down", attempts: 6 });
    graph.failing.set("down", down);
    const bad = Array.from({ length: 50 }, (_, i) => engine.submit({ tenant: "down", version: "beta", method: "GET", url: requirements(`d${i}`) }).catch((e: unknown) => e));
    const good = engine.submit({ tenant: "up", version: "beta", method: "GET", url: requirements("u") });
    const [badResults, goodResult] = await clock.run(Promise.all([Promise.all(bad), good]));
    expect(badResults.every((e) => e === down)).toBe(true);
    expect(goodResult.status).toBe(200);
  });
});

describe("batch engine: direct requests", () => {
  it("sends direct requests on their own with query and headers, paced and counted like the rest", async () => {
    const { clock, graph, engine } = setup(echo);
    graph.direct = () => ({ status: 200, headers: new Headers({ "x-ms-resource-unit": "1", "request-id": "rid-list" }), body: { value: [1, 2] }, requestId: "rid-list", attempts: 1 });
    const res = await clock.run(
      engine.direct<{ value: number[] }>({ tenant: "t", version: "v1.0", method: "GET", url: "/users", query: { $select: "id", $top: "999" }, headers: { ConsistencyLevel: "eventual" } }),
    );
    expect(res).toMatchObject({ status: 200, requestId: "rid-list", body: { value: [1, 2] }, headers: { "x-ms-resource-unit": "1" } });
    expect(graph.directs[0]!.req).toMatchObject({ tenant: "t", method: "GET", path: "/v1.0/users", query: { $select: "id", $top: "999" }, headers: { ConsistencyLevel: "eventual" } });
    expect(engine.stats()).toMatchObject({ directRequests: 1, subRequests: 1 });
  });

  it("returns a direct request's Graph error as an answer (status and error body), not an exception", async () => {
    const { clock, graph, engine } = setup();
    graph.direct = () => new GraphError("bad filter", { status: 400, code: "Request_UnsupportedQuery", requestId: "rid-400", attempts: 1 });
    const res = await clock.run(engine.direct({ tenant: "t", version: "v1.0", method: "GET", url: "/users", query: { $filter: "x" } }));
    expect(res).toMatchObject({ status: 400, requestId: "rid-400", body: { error: { code: "Request_UnsupportedQuery" } } });
  });
});

describe("batch engine: lifecycle", () => {
  it("rejects a submission aborted while queued, without sending it", async () => {
    const { clock, graph, engine } = setup(echo);
    const controller = new AbortController();
    const aborted = engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements("gone"), signal: controller.signal });
    controller.abort(new Error("stop"));
    await expect(clock.run(aborted)).rejects.toThrow("stop");
    await clock.run(engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements("kept") }));
    expect(graph.batches.flatMap((b) => b.requests.map((r) => r.url))).toEqual([requirements("kept")]);
  });

  it("close() waits for the work in progress; afterwards nothing is queued", async () => {
    const { clock, engine } = setup(echo);
    const all = Promise.all(Array.from({ length: 30 }, (_, i) => engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements(`u${i}`) })));
    await clock.run(Promise.all([all, engine.close()]));
    expect(engine.stats()).toMatchObject({ queued: 0, inFlight: 0, completed: 30 });
    await expect(engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements("late") })).rejects.toThrow(/closed/);
  });

  it("holds only what is queued: results are not kept once delivered", async () => {
    const { clock, engine } = setup(echo);
    let delivered = 0;
    const results: Promise<EngineResponse>[] = [];
    for (let i = 0; i < 200; i++) results.push(engine.submit({ tenant: "t", version: "beta", method: "GET", url: requirements(`u${i}`) }).then((r) => (delivered++, r)));
    expect(engine.stats().queued).toBe(200);
    await clock.run(Promise.all(results));
    expect(delivered).toBe(200);
    expect(engine.stats()).toMatchObject({ queued: 0, inFlight: 0 });
  });
});
