import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { graph, ManualClock, tokenFor } from "./test-helpers.js";

let emu: RunningEmulator;
let token: string;
const clock = new ManualClock();

beforeAll(async () => {
  emu = await startEmulator({ clock, tenants: 1, users: 30 });
  token = await tokenFor(emu, emu.tenants[0]!.id);
});
beforeEach(() => {
  emu.admin.reset();
});
afterAll(async () => {
  await emu.close();
});

interface BatchItem {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: Record<string, unknown>;
}

const domain = () => emu.tenants[0]!.domain;
const batch = (requests: unknown[], version = "beta") => graph(emu, token, `/${version}/$batch`, { method: "POST", body: { requests } });
const json = { "Content-Type": "application/json" };
const getReq = (id: string, upn: string) => ({ id, method: "GET", url: `/users/${encodeURIComponent(upn)}/authentication/requirements` });

describe("$batch", () => {
  it("runs each sub-request through the same handlers and reports per-item statuses", async () => {
    const reply = await batch([
      getReq("1", `admin@${domain()}`),
      { id: "2", method: "PATCH", url: `users/${encodeURIComponent(`alex.wilber@${domain()}`)}/authentication/requirements`, headers: json, body: { perUserMfaState: "enforced" } },
      getReq("3", `ghost@${domain()}`),
      { id: "4", method: "PATCH", url: `/users/megan.bowen@${domain()}/authentication/requirements`, headers: json, body: { perUserMfaState: "bogus" } },
      { id: "5", method: "GET", url: "/users?$select=id&$top=2" },
    ]);
    expect(reply.status).toBe(200);
    const items = new Map(reply.json<{ responses: BatchItem[] }>().responses.map((r) => [r.id, r]));
    expect(items.get("1")).toMatchObject({ status: 200, body: { perUserMfaState: "enforced" } });
    expect(items.get("2")!.status).toBe(204);
    expect(items.get("2")!.body).toBeUndefined();
    expect(items.get("3")).toMatchObject({ status: 404, body: { error: { code: "Request_ResourceNotFound" } } });
    expect(items.get("4")).toMatchObject({ status: 400, body: { error: { code: "BadRequest" } } });
    expect((items.get("5")!.body!["value"] as unknown[]).length).toBe(2);
    expect(items.get("1")!.headers["Content-Type"]).toMatch(/^application\/json/);
    expect(emu.admin.getUser(domain(), `alex.wilber@${domain()}`).perUserMfaState).toBe("enforced");
    const stats = emu.admin.stats();
    expect(stats.batches).toBe(1);
    expect(stats.requests).toBe(5);
    expect(stats.patches).toBe(1);
  });

  it("answers in shuffled order (match by id)", async () => {
    const requests = Array.from({ length: 20 }, (_, i) => ({ id: String(i + 1), method: "GET", url: `/users/admin@${domain()}/authentication/requirements` }));
    const orders = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const ids = (await batch(requests)).json<{ responses: BatchItem[] }>().responses.map((r) => r.id);
      expect([...ids].sort()).toEqual(requests.map((r) => r.id).sort());
      orders.add(ids.join(","));
    }
    expect(orders.has(requests.map((r) => r.id).join(","))).toBe(false);
    expect(orders.size).toBeGreaterThan(1);
  });

  it("fails the whole batch (400) for more than 20 requests, duplicate ids, or a body without Content-Type", async () => {
    const many = Array.from({ length: 21 }, (_, i) => getReq(String(i), `admin@${domain()}`));
    const tooMany = await batch(many);
    expect(tooMany.status).toBe(400);
    expect(tooMany.json<{ error: { code: string } }>().error.code).toBe("BadRequest");

    expect((await batch([getReq("1", `admin@${domain()}`), getReq("1", `adele.vance@${domain()}`)])).status).toBe(400);

    const noType = await batch([{ id: "7", method: "PATCH", url: `/users/admin@${domain()}/authentication/requirements`, body: { perUserMfaState: "enforced" } }]);
    expect(noType.status).toBe(400);
    expect(noType.json<{ error: { message: string } }>().error.message).toBe("Write request id : 7 does not contain Content-Type header or body.");
    expect(emu.admin.stats().requests).toBe(0);
  });

  it("urls are relative to the batch's version: requirements do not exist under v1.0", async () => {
    const reply = await batch([getReq("1", `admin@${domain()}`)], "v1.0");
    const [item] = reply.json<{ responses: BatchItem[] }>().responses;
    expect(item).toMatchObject({ status: 400, body: { error: { message: "Resource not found for the segment 'requirements'." } } });
  });

  it("honours dependsOn: a failed dependency gives 424", async () => {
    const reply = await batch([
      { ...getReq("b", `admin@${domain()}`), dependsOn: ["a"] },
      getReq("a", `ghost@${domain()}`),
      { ...getReq("c", `admin@${domain()}`) },
    ]);
    const items = new Map(reply.json<{ responses: BatchItem[] }>().responses.map((r) => [r.id, r]));
    expect(items.get("a")!.status).toBe(404);
    expect(items.get("b")!.status).toBe(424);
    expect(items.get("c")!.status).toBe(200);
  });

  it("throttles sub-requests individually: each 429 carries its own Retry-After", async () => {
    emu.admin.configure({ throttleLimits: { appTenantRuSmall: 3 } });
    try {
      const reply = await batch(Array.from({ length: 5 }, (_, i) => getReq(String(i + 1), `admin@${domain()}`)));
      const items = reply.json<{ responses: BatchItem[] }>().responses;
      expect(items.filter((r) => r.status === 200)).toHaveLength(3);
      const throttled = items.filter((r) => r.status === 429);
      expect(throttled).toHaveLength(2);
      for (const t of throttled) {
        expect(Number(t.headers["Retry-After"])).toBeGreaterThanOrEqual(1);
        expect(t.headers["x-ms-throttle-scope"]).toBe(`Tenant_Application/ReadWrite/${emu.clientId}/${emu.tenants[0]!.id}`);
        expect(t.body).toMatchObject({ error: { code: "TooManyRequests" } });
      }
      // The envelope costs nothing: x-ms-resource-unit sums the charged sub-requests.
      expect(reply.headers["x-ms-resource-unit"]).toBe("3");
    } finally {
      emu.admin.configure({ throttleLimits: { appTenantRuSmall: 3500 } });
    }
  });

  it("faults sub-requests individually: a scripted reset becomes a 503 item", async () => {
    emu.admin.addFaults([{ pathIncludes: "adele.vance", action: "reset", count: 1 }, { pathIncludes: "alex.wilber", status: 429, retryAfterSeconds: 7, count: 1 }]);
    const reply = await batch([getReq("1", `admin@${domain()}`), getReq("2", `adele.vance@${domain()}`), getReq("3", `alex.wilber@${domain()}`)]);
    expect(reply.status).toBe(200);
    const items = new Map(reply.json<{ responses: BatchItem[] }>().responses.map((r) => [r.id, r]));
    expect(items.get("1")!.status).toBe(200);
    expect(items.get("2")!.status).toBe(503);
    expect(items.get("3")).toMatchObject({ status: 429, headers: { "Retry-After": "7" } });
    expect(emu.admin.stats().faultsInjected).toBe(2);
  });

  it("serves groups, members, memberOf, role assignments and methods inside a batch, each costed and paged on its own", async () => {
    const exclusions = emu.admin.listGroups(domain()).find((g) => g.displayName === "MFA Exclusions")!;
    const admin = emu.admin.getUser(domain(), `admin@${domain()}`);
    const reply = await batch(
      [
        { id: "groups", method: "GET", url: "/groups?$select=id,displayName&$top=5" },
        { id: "members", method: "GET", url: `/groups/${exclusions.id}/transitiveMembers/microsoft.graph.user?$select=id` },
        { id: "memberOf", method: "GET", url: `/users/${encodeURIComponent(`john.doe_fabrikam.com#EXT#@${domain()}`)}/transitiveMemberOf?$select=displayName` },
        { id: "roles", method: "GET", url: `/roleManagement/directory/roleAssignments?$filter=principalId eq '${admin.id}'&$expand=principal` },
        { id: "methods", method: "GET", url: `/users/${admin.id}/authentication/methods` },
        { id: "missing", method: "GET", url: "/groups/00000000-0000-4000-8000-000000000000/members" },
      ],
      "v1.0",
    );
    expect(reply.status).toBe(200);
    const items = new Map(reply.json<{ responses: BatchItem[] }>().responses.map((r) => [r.id, r]));
    const groups = items.get("groups")!;
    expect(groups.status).toBe(200);
    expect((groups.body!["value"] as unknown[]).length).toBe(5);
    // A next link inside a batch is absolute, like any other.
    expect(groups.body!["@odata.nextLink"]).toMatch(new RegExp(`^${emu.graphUrl.replace(/\./g, "\\.")}/v1\\.0/groups\\?`));
    expect((items.get("members")!.body!["value"] as { id: string }[]).map((m) => m.id).sort()).toEqual(
      [...exclusions.memberIds, ...emu.admin.listGroups(domain()).find((g) => g.displayName === "Service Accounts")!.memberIds].sort(),
    );
    expect((items.get("memberOf")!.body!["value"] as { displayName: string }[]).map((g) => g.displayName)).toEqual(["External Contractors", "Partner Support", "Contractors"]);
    expect(items.get("roles")!.body!["value"]).toEqual([expect.objectContaining({ roleDefinitionId: "62e90394-69f5-4237-9190-012177145e10", principal: expect.objectContaining({ id: admin.id }) })]);
    expect((items.get("methods")!.body!["value"] as unknown[]).length).toBe(3);
    expect(items.get("missing")).toMatchObject({ status: 404, body: { error: { code: "Request_ResourceNotFound" } } });
    // groups 2-1-1 ($select, $top < 20), members 2-1, memberOf 2-1, roles 2+1, methods 2; a 404 is still charged 2.
    expect(Object.fromEntries([...items].map(([id, r]) => [id, r.headers["x-ms-resource-unit"]]))).toEqual({ groups: "1", members: "1", memberOf: "1", roles: "3", methods: "2", missing: "2" });
    expect(reply.headers["x-ms-resource-unit"]).toBe("10");
  });
});
