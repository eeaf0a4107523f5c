import https from "node:https";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { FaultInjector } from "./faults.js";
import { runtimeConfigFrom } from "./options.js";
import { graph, send, tokenFor } from "./test-helpers.js";

let emu: RunningEmulator;
let token: string;

beforeAll(async () => {
  emu = await startEmulator({ tenants: 2, users: 10 });
  token = await tokenFor(emu, emu.tenants[0]!.id);
});
beforeEach(() => {
  emu.admin.clearFaults();
  emu.admin.resetStats();
});
afterAll(async () => {
  await emu.close();
});

const domain = () => emu.tenants[0]!.domain;
const reqPath = (local: string) => `/beta/users/${local}@${domain()}/authentication/requirements`;

describe("scripted faults", () => {
  it("applies to the next `count` matching requests, in order, then stops", async () => {
    emu.admin.addFaults([
      { pathIncludes: "/authentication/requirements", status: 429, retryAfterSeconds: 3, count: 2 },
      { method: "GET", pathIncludes: "/authentication/requirements", status: 503, count: 1 },
    ]);
    const first = await graph(emu, token, reqPath("admin"));
    expect(first.status).toBe(429);
    expect(first.headers["retry-after"]).toBe("3");
    expect(first.json<{ error: { code: string } }>().error.code).toBe("TooManyRequests");
    // Non-matching requests pass untouched and do not use up the rule.
    expect((await graph(emu, token, "/v1.0/users?$top=1")).status).toBe(200);
    expect((await graph(emu, token, reqPath("admin"))).status).toBe(429);
    const third = await graph(emu, token, reqPath("admin"));
    expect(third.status).toBe(503);
    expect(third.json<{ error: { innerError: { "request-id": string } } }>().error.innerError["request-id"]).toBe(third.headers["request-id"]);
    expect((await graph(emu, token, reqPath("admin"))).status).toBe(200);
    expect(emu.admin.stats().faultsInjected).toBe(3);
    expect(emu.admin.pendingFaults()).toEqual([]);
  });

  it("resets the connection without a response", async () => {
    emu.admin.addFaults([{ pathIncludes: "adele.vance", action: "reset", count: 1 }]);
    await expect(graph(emu, token, reqPath("adele.vance"))).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect((await graph(emu, token, reqPath("adele.vance"))).status).toBe(200);
  });

  it("a reset PATCH is not applied", async () => {
    emu.admin.addFaults([{ method: "PATCH", action: "reset", count: 1 }]);
    await expect(graph(emu, token, reqPath("alex.wilber"), { method: "PATCH", body: { perUserMfaState: "enforced" } })).rejects.toThrow();
    expect(emu.admin.getUser(domain(), `alex.wilber@${domain()}`).perUserMfaState).toBe("disabled");
  });

  it("slows a response by delayMs and then serves it", async () => {
    emu.admin.addFaults([{ action: "slow", delayMs: 300, count: 1 }]);
    const started = Date.now();
    expect((await graph(emu, token, reqPath("admin"))).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("matches a tenant by id or domain, and decoded paths (%23EXT%23)", async () => {
    const other = emu.tenants[1]!;
    emu.admin.addFaults([{ tenant: other.domain, status: 504, count: 1 }, { pathIncludes: "#EXT#", status: 500, count: 1 }]);
    expect((await graph(emu, token, reqPath("admin"))).status).toBe(200);
    const guest = encodeURIComponent(`john.doe_fabrikam.com#EXT#@${domain()}`);
    expect((await graph(emu, token, `/beta/users/${guest}/authentication/requirements`)).status).toBe(500);
    const otherToken = await tokenFor(emu, other.id);
    const timeout = await graph(emu, otherToken, `/beta/users/admin@${other.domain}/authentication/requirements`);
    expect(timeout.status).toBe(504);
    expect(timeout.json<{ error: { code: string } }>().error.code).toBe("GatewayTimeout");
  });

  it("is available over the admin HTTP interface", async () => {
    const add = await fetch(`${emu.adminUrl}/faults`, { method: "POST", body: JSON.stringify({ rules: [{ status: 503, count: 2 }] }) });
    expect(add.status).toBe(200);
    expect(((await add.json()) as { rules: unknown[] }).rules).toHaveLength(1);
    expect((await graph(emu, token, reqPath("admin"))).status).toBe(503);
    expect((await fetch(`${emu.adminUrl}/faults`, { method: "DELETE" })).status).toBe(200);
    expect((await graph(emu, token, reqPath("admin"))).status).toBe(200);
    const bad = await fetch(`${emu.adminUrl}/faults`, { method: "POST", body: JSON.stringify({ rules: [{ status: 503 }] }) });
    expect(bad.status).toBe(400);
  });
});

describe("random faults", () => {
  it("fault roughly faultRate of requests, deterministically for a seed", () => {
    const draw = (seed: string) => {
      const f = new FaultInjector(runtimeConfigFrom({ faultRate: 0.2 }), seed);
      return Array.from({ length: 2000 }, () => f.decide("GET", "/v1.0/users", undefined)?.kind ?? "none");
    };
    const a = draw("s1");
    expect(draw("s1")).toEqual(a);
    expect(draw("s2")).not.toEqual(a);
    const faulted = a.filter((k) => k !== "none").length;
    expect(faulted).toBeGreaterThan(300);
    expect(faulted).toBeLessThan(500);
    expect(new Set(a)).toEqual(new Set(["none", "status", "reset", "slow"]));
  });

  it("only draws the enabled kinds; 429s carry Retry-After 1", async () => {
    emu.admin.configure({ faultRate: 1, faultKinds: ["429"] });
    try {
      const reply = await graph(emu, token, reqPath("admin"));
      expect(reply.status).toBe(429);
      expect(reply.headers["retry-after"]).toBe("1");
    } finally {
      emu.admin.configure({ faultRate: 0 });
    }
  });
});

describe("latency and connections", () => {
  it("adds latencyMs to every response", async () => {
    emu.admin.configure({ latencyMs: 150 });
    try {
      const started = Date.now();
      expect((await graph(emu, token, reqPath("admin"))).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    } finally {
      emu.admin.configure({ latencyMs: 0 });
    }
  });

  it("keeps connections alive; a reset drops only its own connection", async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: emu.caPem });
    const sockets: unknown[] = [];
    agent.on("free", (socket) => sockets.push(socket));
    try {
      const path = `${emu.graphUrl}${reqPath("admin")}`;
      const headers = { authorization: `Bearer ${token}` };
      expect((await send(path, { headers, agent })).status).toBe(200);
      expect((await send(path, { headers, agent })).status).toBe(200);
      expect(new Set(sockets).size).toBe(1);
      emu.admin.addFaults([{ action: "reset", count: 1 }]);
      await expect(send(path, { headers, agent })).rejects.toThrow();
      expect((await send(path, { headers, agent })).status).toBe(200);
      expect(new Set(sockets).size).toBe(2);
    } finally {
      agent.destroy();
    }
  });
});
