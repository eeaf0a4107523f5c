import { describe, expect, it } from "vitest";
import { GraphError, NetworkError, UsageError } from "../domain/errors.js";
import { userPathSegment } from "../domain/references.js";
import { InstantClock, ManualClock } from "./clock.js";
import { buildGraphUrl, createGraphClient, encodeQuery, graphPaginate, permissionFor } from "./graph-client.js";
import type { FetchLike, GraphClientOptions, TokenProvider, TransportEvent } from "./types.js";

const SECRET = "client-secret-value-that-must-not-leak";
const TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzZWNyZXQtdG9rZW4ifQ.c2lnbmF0dXJl";
const TENANT = "contoso.onmicrosoft.com";
const GUEST = "john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Call {
  url: string;
  method: string | undefined;
  headers: Headers;
  body: string | undefined;
}

type Reply = Response | Error | ((call: Call) => Response);

/** A FetchLike playing `replies` in order (the last one repeats). */
function fakeFetch(replies: Reply[]) {
  const calls: Call[] = [];
  const fetch: FetchLike = (url, init) => {
    const call: Call = { url, method: init.method, headers: new Headers(init.headers), body: typeof init.body === "string" ? init.body : undefined };
    calls.push(call);
    const reply = replies[Math.min(calls.length - 1, replies.length - 1)]!;
    if (reply instanceof Error) return Promise.reject(reply);
    return Promise.resolve(typeof reply === "function" ? reply(call) : reply.clone());
  };
  return { fetch, calls };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

function graphError(status: number, code: string, message: string, requestId = "inner-req-id", headers: Record<string, string> = {}): Response {
  return json(status, { error: { code, message, innerError: { date: "2026-01-01T00:00:00", "request-id": requestId, "client-request-id": "x" } } }, headers);
}

/** Tokens `${TOKEN}-0`, `-1`, ...: each forced refresh moves to the next. */
class FakeTokens implements TokenProvider {
  readonly calls: { tenant: string; forceRefresh: boolean }[] = [];
  private generation = 0;
  getToken(tenant: string, options?: { forceRefresh?: boolean | undefined }): Promise<string> {
    const forceRefresh = options?.forceRefresh === true;
    this.calls.push({ tenant, forceRefresh });
    if (forceRefresh) this.generation++;
    return Promise.resolve(`${TOKEN}-${this.generation}`);
  }
}

function setup(replies: Reply[], extra: Partial<GraphClientOptions> = {}) {
  const { fetch, calls } = fakeFetch(replies);
  const tokens = new FakeTokens();
  const events: TransportEvent[] = [];
  const clock = new InstantClock();
  const client = createGraphClient({
    clientId: "11111111-2222-4333-8444-555555555555",
    credential: { kind: "secret", clientSecret: SECRET },
    authorityHost: "https://login.test",
    graphUrl: "https://graph.test/",
    fetch,
    tokenProvider: tokens,
    clock,
    random: () => 0.5,
    onEvent: (e) => events.push(e),
    ...extra,
  });
  return { client, calls, tokens, events, clock };
}

describe("URL building", () => {
  it("sends a guest UPN percent-encoded and keeps $ in OData query keys", async () => {
    const { client, calls } = setup([json(200, { perUserMfaState: "enforced" })]);
    const path = `/beta/${userPathSegment({ kind: "upn", userPrincipalName: GUEST })}/authentication/requirements`;
    await client.request({ tenant: TENANT, method: "GET", path, query: { $select: "id,perUserMfaState", $filter: "userType eq 'Guest'" } });
    expect(calls[0]!.url).toBe(
      "https://graph.test/beta/users/john.doe_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com/authentication/requirements" +
        "?$select=id%2CperUserMfaState&$filter=userType%20eq%20%27Guest%27",
    );
  });

  it("encodes values that would break the query, and a literal + stays a plus", () => {
    expect(encodeQuery({ $filter: "mail eq 'a+b@x.com' & 1=1", $top: "999" })).toBe("$filter=mail%20eq%20%27a%2Bb%40x.com%27%20%26%201%3D1&$top=999");
    expect(encodeQuery({ "a$b": "$" })).toBe("a%24b=%24");
  });

  it("appends to a query already in the path", () => {
    expect(buildGraphUrl("https://graph.test", { path: "/v1.0/users?$top=5", query: { $select: "id" } })).toBe("https://graph.test/v1.0/users?$top=5&$select=id");
  });

  it("refuses an unencoded #EXT# path instead of cutting it at the #", async () => {
    const { client, calls, tokens } = setup([json(200, {})]);
    const error = await client.request({ tenant: TENANT, method: "GET", path: `/beta/users/${GUEST}/authentication/requirements` }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain("unencoded");
    expect(calls).toHaveLength(0);
    expect(tokens.calls).toHaveLength(0);
  });

  it("refuses to send a request (and its token) to another origin", async () => {
    const { client, calls } = setup([json(200, {})]);
    for (const path of ["https://evil.example/v1.0/users", "https://graph.test.evil.example/v1.0/users", "v1.0/users"]) {
      await expect(client.request({ tenant: TENANT, method: "GET", path })).rejects.toBeInstanceOf(UsageError);
    }
    expect(calls).toHaveLength(0);
  });

  it("accepts an absolute URL under the Graph root", async () => {
    const { client, calls } = setup([json(200, { value: [] })]);
    await client.request({ tenant: TENANT, method: "GET", path: "https://graph.test/v1.0/users?$skiptoken=abc" });
    expect(calls[0]!.url).toBe("https://graph.test/v1.0/users?$skiptoken=abc");
  });
});

describe("requests and responses", () => {
  it("sets Authorization, Accept, a fresh client-request-id per attempt, and Content-Type only with a body", async () => {
    const { client, calls } = setup([json(503, {}), json(200, { ok: true })]);
    const res = await client.request({ tenant: TENANT, method: "GET", path: "/v1.0/users", headers: { ConsistencyLevel: "eventual", Authorization: "Bearer spoofed" } });
    expect(res).toMatchObject({ status: 200, body: { ok: true }, attempts: 2 });
    expect(calls).toHaveLength(2);
    for (const call of calls) {
      expect(call.headers.get("authorization")).toBe(`Bearer ${TOKEN}-0`);
      expect(call.headers.get("accept")).toBe("application/json");
      expect(call.headers.get("consistencylevel")).toBe("eventual");
      expect(call.headers.get("content-type")).toBeNull();
      expect(call.headers.get("client-request-id")).toMatch(GUID);
    }
    expect(calls[0]!.headers.get("client-request-id")).not.toBe(calls[1]!.headers.get("client-request-id"));
  });

  it("PATCHes a JSON body and reads 204 as an undefined body", async () => {
    const { client, calls } = setup([new Response(null, { status: 204, headers: { "request-id": "rid-204" } })]);
    const res = await client.request({ tenant: TENANT, method: "PATCH", path: "/beta/users/abc/authentication/requirements", body: { perUserMfaState: "disabled" } });
    expect(res).toEqual({ status: 204, headers: expect.any(Headers) as Headers, body: undefined, requestId: "rid-204", attempts: 1 });
    expect(calls[0]!.method).toBe("PATCH");
    expect(calls[0]!.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(calls[0]!.body!)).toEqual({ perUserMfaState: "disabled" });
  });

  it("tolerates an empty 200 body", async () => {
    const { client } = setup([new Response("", { status: 200 })]);
    await expect(client.request({ tenant: TENANT, method: "GET", path: "/v1.0/x" })).resolves.toMatchObject({ status: 200, body: undefined });
  });

  it("throws GraphError with status, code, request id, tenant, user and attempts from a Graph error body", async () => {
    const { client } = setup([graphError(404, "Request_ResourceNotFound", "Resource 'nobody@contoso.com' does not exist or one of its queried reference-property objects are not present.", "req-404")]);
    const error = await client
      .request({ tenant: TENANT, method: "GET", path: "/beta/users/nobody%40contoso.com/authentication/requirements", user: "nobody@contoso.com" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphError);
    expect(error).toMatchObject({ status: 404, code: "Request_ResourceNotFound", requestId: "req-404", tenant: TENANT, user: "nobody@contoso.com", attempts: 1 });
    const message = (error as Error).message;
    expect(message).toContain("404 Request_ResourceNotFound");
    expect(message).toContain("does not exist");
    expect(message).toContain("req-404");
    expect(message).not.toContain("..");
  });

  it("prefers the request-id header over the body's", async () => {
    const { client } = setup([graphError(403, "accessDenied", "Request Authorization failed", "inner", { "request-id": "header-id" })]);
    const error = (await client.request({ tenant: TENANT, method: "GET", path: "/v1.0/users" }).catch((e: unknown) => e)) as GraphError;
    expect(error.requestId).toBe("header-id");
    expect(error.message).toContain("reading users needs User.Read.All");
  });

  it("names the permission the failing call needs", () => {
    expect(permissionFor("/beta/users/x/authentication/requirements", "GET")).toMatch(/Policy\.Read\.All/);
    expect(permissionFor("/beta/users/x/authentication/requirements", "PATCH")).toMatch(/Policy\.ReadWrite\.AuthenticationMethod/);
    expect(permissionFor("/v1.0/users/x/authentication/methods", "GET")).toMatch(/UserAuthenticationMethod\.Read\.All/);
    expect(permissionFor("/v1.0/groups/g/transitiveMembers/microsoft.graph.user", "GET")).toMatch(/GroupMember\.Read\.All/);
    expect(permissionFor("/v1.0/roleManagement/directory/roleAssignments", "GET")).toMatch(/RoleManagement\.Read\.Directory/);
  });

  it("gives up on persistent 429 with a GraphError that counts the attempts", async () => {
    const { client, clock } = setup([graphError(429, "TooManyRequests", "Too many requests", "r", { "retry-after": "2" })], { retry: { maxAttempts: 3 } });
    const error = await client.request({ tenant: TENANT, method: "GET", path: "/v1.0/users" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 429, code: "TooManyRequests", attempts: 3 });
    expect(clock.sleeps.filter((ms) => ms === 2000).length).toBeGreaterThanOrEqual(2);
  });

  it("does not retry a 400 and reports a non-JSON error body", async () => {
    const { client, calls } = setup([new Response("<html>bad gateway</html>", { status: 400 })]);
    const error = await client.request({ tenant: TENANT, method: "GET", path: "/v1.0/users" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, code: "NonJsonErrorResponse", attempts: 1 });
    expect(calls).toHaveLength(1);
  });

  it("throws NetworkError when the network keeps failing", async () => {
    const reset = new TypeError("fetch failed", { cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }) });
    const { client, calls } = setup([reset], { retry: { maxAttempts: 2 } });
    const error = await client.request({ tenant: TENANT, method: "GET", path: "/v1.0/users" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect(error).toMatchObject({ code: "ECONNRESET", tenant: TENANT, attempts: 2 });
    expect(calls).toHaveLength(2);
  });
});

describe("token rejection", () => {
  const rejected = () => graphError(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");

  it("renews the token once after 401 InvalidAuthenticationToken and goes again", async () => {
    const { client, calls, tokens } = setup([rejected(), json(200, { perUserMfaState: "enabled" })]);
    const res = await client.request({ tenant: TENANT, method: "GET", path: "/beta/users/a/authentication/requirements" });
    expect(res).toMatchObject({ status: 200, attempts: 2 });
    expect(calls.map((c) => c.headers.get("authorization"))).toEqual([`Bearer ${TOKEN}-0`, `Bearer ${TOKEN}-1`]);
    expect(tokens.calls.filter((c) => c.forceRefresh)).toEqual([{ tenant: TENANT, forceRefresh: true }]);
  });

  it("does not loop: a second 401 is a GraphError", async () => {
    const { client, calls, tokens } = setup([rejected()]);
    const error = await client.request({ tenant: TENANT, method: "GET", path: "/v1.0/users" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 401, code: "InvalidAuthenticationToken", attempts: 2 });
    expect(calls).toHaveLength(2);
    expect(tokens.calls.filter((c) => c.forceRefresh)).toHaveLength(1);
  });

  it("does not renew the token for a 401 with another code", async () => {
    const { client, calls, tokens } = setup([graphError(401, "Authorization_IdentityNotFound", "The identity of the calling application could not be established.")]);
    await expect(client.request({ tenant: TENANT, method: "GET", path: "/v1.0/users" })).rejects.toMatchObject({ status: 401 });
    expect(calls).toHaveLength(1);
    expect(tokens.calls.filter((c) => c.forceRefresh)).toHaveLength(0);
  });
});

describe("events and secrecy", () => {
  it("emits request, response, retry and throttled events", async () => {
    const { client, events } = setup([graphError(429, "TooManyRequests", "slow down", "r1", { "retry-after": "1", "request-id": "r1" }), json(200, {}, { "request-id": "r2" })]);
    await client.request({ tenant: TENANT, method: "GET", path: "/v1.0/users" });
    const url = "https://graph.test/v1.0/users";
    expect(events).toEqual([
      { type: "request", tenant: TENANT, method: "GET", url, attempt: 1 },
      { type: "response", tenant: TENANT, method: "GET", url, status: 429, requestId: "r1", durationMs: 0, attempt: 1 },
      { type: "throttled", tenant: TENANT, untilMs: expect.any(Number) as number },
      { type: "retry", tenant: TENANT, method: "GET", url, status: 429, reason: "HTTP 429, Retry-After", delayMs: 1000, attempt: 1 },
      { type: "request", tenant: TENANT, method: "GET", url, attempt: 2 },
      { type: "response", tenant: TENANT, method: "GET", url, status: 200, requestId: "r2", durationMs: 0, attempt: 2 },
    ]);
  });

  it("never puts the token or the secret in events or errors", async () => {
    const { client, events } = setup([
      graphError(401, "InvalidAuthenticationToken", "Access token validation failure."),
      graphError(403, "accessDenied", "Request Authorization failed"),
    ]);
    const error = (await client.request({ tenant: TENANT, method: "GET", path: "/v1.0/users", user: "adele@contoso.com" }).catch((e: unknown) => e)) as GraphError;
    expect(error).toBeInstanceOf(GraphError);
    const serialised = [JSON.stringify(events), JSON.stringify(error), error.message, String(error.stack), JSON.stringify(error.cause ?? null)].join("\n");
    expect(serialised).not.toContain(TOKEN);
    expect(serialised).not.toContain(SECRET);
    expect(serialised).not.toContain("Bearer");
  });
});

describe("graphPaginate", () => {
  const page = (ids: string[], next?: string) => json(200, { value: ids.map((id) => ({ id })), ...(next ? { "@odata.nextLink": next } : {}) });

  it("follows absolute @odata.nextLink until absent", async () => {
    const { client, calls } = setup([
      page(["1", "2"], "https://graph.test/v1.0/users?$top=2&$skiptoken=p2"),
      page(["3", "4"], "https://graph.test/v1.0/users?$top=2&$skiptoken=p3"),
      page(["5"]),
    ]);
    const ids: string[] = [];
    for await (const u of graphPaginate<{ id: string }>(client, { tenant: TENANT, method: "GET", path: "/v1.0/users", query: { $top: "2" } })) ids.push(u.id);
    expect(ids).toEqual(["1", "2", "3", "4", "5"]);
    expect(calls.map((c) => c.url)).toEqual([
      "https://graph.test/v1.0/users?$top=2",
      "https://graph.test/v1.0/users?$top=2&$skiptoken=p2",
      "https://graph.test/v1.0/users?$top=2&$skiptoken=p3",
    ]);
  });

  it("stops requesting pages when the loop breaks", async () => {
    const { client, calls } = setup([page(["1", "2"], "https://graph.test/v1.0/users?$skiptoken=p2"), page(["3"])]);
    for await (const u of graphPaginate<{ id: string }>(client, { tenant: TENANT, method: "GET", path: "/v1.0/users" })) {
      if (u.id === "1") break;
    }
    expect(calls).toHaveLength(1);
  });

  it("refuses a nextLink on another origin", async () => {
    const { client, calls } = setup([page(["1"], "https://evil.example/v1.0/users?$skiptoken=p2"), page(["2"])]);
    const seen: string[] = [];
    const run = async () => {
      for await (const u of graphPaginate<{ id: string }>(client, { tenant: TENANT, method: "GET", path: "/v1.0/users" })) seen.push(u.id);
    };
    await expect(run()).rejects.toMatchObject({ kind: "graph", code: "UnexpectedNextLink" });
    expect(seen).toEqual(["1"]);
    expect(calls).toHaveLength(1);
  });

  it("rejects an answer that is not a collection", async () => {
    const { client } = setup([json(200, { id: "x" })]);
    const run = async () => {
      for await (const _ of graphPaginate(client, { tenant: TENANT, method: "GET", path: "/v1.0/users/x" })) void _;
    };
    await expect(run()).rejects.toMatchObject({ code: "UnexpectedResponse" });
  });
});

describe("per-tenant gate inside the client", () => {
  it("holds a tenant's new requests after a 429 with Retry-After, without touching other tenants", async () => {
    const clock = new ManualClock();
    let throttledOnce = false;
    const { fetch, calls } = fakeFetch([
      (call) => {
        if (call.url.endsWith("/a1") && !throttledOnce) {
          throttledOnce = true;
          return graphError(429, "TooManyRequests", "slow down", "r", { "retry-after": "30" });
        }
        return json(200, {});
      },
    ]);
    const { client, events } = setup([], { fetch, clock });
    const flush = async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    };
    const a1 = client.request({ tenant: "a.example.com", method: "GET", path: "/v1.0/a1" });
    await flush();
    const a2 = client.request({ tenant: "a.example.com", method: "GET", path: "/v1.0/a2" });
    const b1 = client.request({ tenant: "b.example.com", method: "GET", path: "/v1.0/b1" });
    await flush();
    expect(calls.map((c) => c.url.slice("https://graph.test/v1.0/".length))).toEqual(["a1", "b1"]);
    expect(events.filter((e) => e.type === "throttled")).toEqual([{ type: "throttled", tenant: "a.example.com", untilMs: clock.now() + 30_000 }]);
    clock.advance(29_999);
    await flush();
    expect(calls).toHaveLength(2);
    clock.advance(1);
    await Promise.all([a1, a2, b1]);
    expect(calls.map((c) => c.url.slice("https://graph.test/v1.0/".length)).sort()).toEqual(["a1", "a1", "a2", "b1"]);
  });
});
