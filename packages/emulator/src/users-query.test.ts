import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { graph, tokenFor } from "./test-helpers.js";
import { requestCost, queryOptions } from "./users-query.js";

let emu: RunningEmulator;
let token: string;

beforeAll(async () => {
  emu = await startEmulator({ tenants: 1, users: 250 });
  token = await tokenFor(emu, emu.tenants[0]!.id);
});
afterAll(async () => {
  await emu.close();
});

interface Page {
  "@odata.context": string;
  "@odata.nextLink"?: string;
  "@odata.count"?: number;
  value: Record<string, unknown>[];
}

const eventual = { consistencylevel: "eventual" };

/** Follows @odata.nextLink (absolute) until it is absent. */
async function all(path: string, headers: Record<string, string> = {}): Promise<{ users: Record<string, unknown>[]; pages: Page[] }> {
  const pages: Page[] = [];
  let reply = await graph(emu, token, path, { headers });
  for (;;) {
    expect(reply.status, reply.text).toBe(200);
    const page = reply.json<Page>();
    pages.push(page);
    const next = page["@odata.nextLink"];
    if (!next) break;
    expect(next.startsWith(`${emu.graphUrl}/v1.0/users?`)).toBe(true);
    reply = await graph(emu, token, next.slice(emu.graphUrl.length), { headers });
  }
  return { users: pages.flatMap((p) => p.value), pages };
}

describe("GET /users paging", () => {
  it("pages with $top and an opaque $skiptoken through every user exactly once", async () => {
    const { users, pages } = await all("/v1.0/users?$select=id,userPrincipalName&$top=40");
    expect(users).toHaveLength(250);
    expect(new Set(users.map((u) => u["id"])).size).toBe(250);
    expect(pages.map((p) => p.value.length)).toEqual([40, 40, 40, 40, 40, 40, 10]);
    expect(pages[0]!["@odata.nextLink"]).toMatch(/\$skiptoken=[A-Za-z0-9_-]+$/);
    expect(pages[0]!["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#users(id,userPrincipalName)`);
  });

  it("defaults to 100 per page and Graph's default properties", async () => {
    const { pages } = await all("/v1.0/users");
    expect(pages.map((p) => p.value.length)).toEqual([100, 100, 50]);
    expect(pages[0]!.value[0]).not.toHaveProperty("perUserMfaState");
    expect(pages[0]!.value[0]).not.toHaveProperty("userType");
    expect(pages[0]!.value[0]).toHaveProperty("businessPhones");
  });

  it("rejects $top outside 1..999 and a forged $skiptoken", async () => {
    for (const top of ["0", "1000"]) {
      const reply = await graph(emu, token, `/v1.0/users?$top=${top}`);
      expect(reply.status).toBe(400);
      expect(reply.json<{ error: { message: string } }>().error.message).toContain("Must be between 1 and 999");
    }
    expect((await graph(emu, token, "/v1.0/users?$skiptoken=Zm9vYmFy")).status).toBe(400);
  });
});

describe("GET /users $select", () => {
  it("returns exactly the selected properties, perUserMfaState included only when selected", async () => {
    const reply = await graph(emu, token, "/v1.0/users?$select=id,userPrincipalName,displayName,userType,accountEnabled,assignedLicenses,mail,perUserMfaState&$top=999");
    const users = reply.json<Page>().value;
    expect(Object.keys(users[0]!)).toEqual(["id", "userPrincipalName", "displayName", "userType", "accountEnabled", "assignedLicenses", "mail", "perUserMfaState"]);
    const admin = users.find((u) => String(u["userPrincipalName"]).startsWith("admin@"))!;
    expect(admin["perUserMfaState"]).toBe("enforced");
    expect((admin["assignedLicenses"] as unknown[]).length).toBeGreaterThan(0);
    const guest = users.find((u) => String(u["userPrincipalName"]).includes("#EXT#"))!;
    expect(guest["assignedLicenses"]).toEqual([]);
  });

  it("rejects an unknown property with Request_BadRequest", async () => {
    const reply = await graph(emu, token, "/v1.0/users?$select=id,favouriteColour");
    expect(reply.status).toBe(400);
    expect(reply.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: "Request_BadRequest",
      message: "Could not find a property named 'favouriteColour' on type 'microsoft.graph.user'.",
    });
  });

  it("never returns perUserMfaState in lists with omitPerUserMfaStateInList (per-user requirements reads still work)", async () => {
    emu.admin.configure({ omitPerUserMfaStateInList: true });
    try {
      const list = await graph(emu, token, "/v1.0/users?$select=id,perUserMfaState&$top=5");
      expect(list.status).toBe(200);
      for (const u of list.json<Page>().value) expect(u).not.toHaveProperty("perUserMfaState");
      const beta = await graph(emu, token, `/beta/users/admin@${emu.tenants[0]!.domain}/authentication/requirements`);
      expect(beta.json()["perUserMfaState"]).toBe("enforced");
    } finally {
      emu.admin.configure({ omitPerUserMfaStateInList: false });
    }
  });
});

describe("GET /users $filter and $count", () => {
  it("filters on userType and accountEnabled, joined by and", async () => {
    const members = (await all("/v1.0/users?$select=id,userType,accountEnabled&$filter=userType eq 'Member'&$top=999")).users;
    expect(members.length).toBeGreaterThan(0);
    expect(members.every((u) => u["userType"] === "Member")).toBe(true);
    const guests = (await all("/v1.0/users?$select=id,userType&$filter=userType%20eq%20'Guest'")).users;
    expect(members.length + guests.length).toBe(250);
    const disabledMembers = (await all("/v1.0/users?$select=id,userType,accountEnabled&$filter=userType eq 'Member' and accountEnabled eq false")).users;
    expect(disabledMembers.length).toBeGreaterThan(0);
    expect(disabledMembers.every((u) => u["userType"] === "Member" && u["accountEnabled"] === false)).toBe(true);
  });

  it("assignedLicenses/$count ne 0 needs ConsistencyLevel: eventual AND $count=true (advanced query)", async () => {
    const filter = "$filter=assignedLicenses/$count ne 0 and userType eq 'Member'";
    for (const [path, headers] of [
      [`/v1.0/users?${filter}`, {}],
      [`/v1.0/users?${filter}&$count=true`, {}],
      [`/v1.0/users?${filter}`, eventual],
    ] as const) {
      const reply = await graph(emu, token, path, { headers });
      expect(reply.status).toBe(400);
      expect(reply.json<{ error: { code: string } }>().error.code).toMatch(/^Request_(UnsupportedQuery|BadRequest)$/);
    }
    const { users, pages } = await all(`/v1.0/users?$select=id,assignedLicenses,userType&${filter}&$count=true&$top=50`, eventual);
    expect(users.length).toBeGreaterThan(0);
    expect(users.every((u) => (u["assignedLicenses"] as unknown[]).length > 0 && u["userType"] === "Member")).toBe(true);
    expect(pages[0]!["@odata.count"]).toBe(users.length);
  });

  it("answers any other filter with 400", async () => {
    for (const f of ["startswith(id,'A')", "accountEnabled ne true", "displayName eq 'Adele Vance'", "startswith(shoeSize,'3')", "shoeSize eq 3", "endswith(mail,'x')"]) {
      const reply = await graph(emu, token, `/v1.0/users?$filter=${encodeURIComponent(f)}`);
      expect(reply.status, f).toBe(400);
      expect(reply.json<{ error: { code: string } }>().error.code).toMatch(/^(Request_UnsupportedQuery|Request_BadRequest|BadRequest)$/);
    }
  });

  it("startswith on names and UPNs, case-insensitive, with or, and, parentheses and quoted quotes", async () => {
    const { users: everyone } = await all("/v1.0/users?$select=id,displayName,userPrincipalName,userType&$top=999");
    const starts = (v: unknown, p: string) => typeof v === "string" && v.toLowerCase().startsWith(p);
    const filter = "startswith(displayName,'a') or startswith(userPrincipalName,'b')";
    const { users } = await all(`/v1.0/users?$select=id,displayName,userPrincipalName&$top=7&$filter=${encodeURIComponent(filter)}`);
    const expected = everyone.filter((u) => starts(u["displayName"], "a") || starts(u["userPrincipalName"], "b")).map((u) => u["id"]);
    expect(expected.length).toBeGreaterThan(1);
    expect(users.map((u) => u["id"])).toEqual(expected);
    const both = `(${filter}) and userType eq 'Guest'`;
    const { users: guests } = await all(`/v1.0/users?$select=id,userType&$top=999&$filter=${encodeURIComponent(both)}`);
    expect(guests.map((u) => u["id"])).toEqual(everyone.filter((u) => expected.includes(u["id"]) && u["userType"] === "Guest").map((u) => u["id"]));
    const quoted = await all(`/v1.0/users?$select=id&$filter=${encodeURIComponent("startswith(displayName,'O''Brien and co')")}`);
    expect(quoted.users).toEqual([]);
  });

  it("$count=true without ConsistencyLevel is rejected; with it adds @odata.count", async () => {
    expect((await graph(emu, token, "/v1.0/users?$count=true")).status).toBe(400);
    const reply = await graph(emu, token, "/v1.0/users?$count=true&$top=1", { headers: eventual });
    expect(reply.json<Page>()["@odata.count"]).toBe(250);
  });
});

describe("GET /users $orderby", () => {
  type U = Record<string, unknown>;
  /** The order Graph documents for names: case-insensitive; the emulator breaks ties by id. */
  const sorted = (users: U[], by: string, descending: boolean) =>
    [...users].sort((a, b) => {
      const x = String(a[by]).toLowerCase();
      const y = String(b[by]).toLowerCase();
      if (x !== y) return (x < y ? -1 : 1) * (descending ? -1 : 1);
      return String(a["id"]) < String(b["id"]) ? -1 : 1;
    });
  const everyone = async () => (await all("/v1.0/users?$select=id,displayName,userPrincipalName,userType&$top=999")).users;

  it("sorts by displayName or userPrincipalName, asc or desc in any case, across $skiptoken pages, without advanced headers", async () => {
    const users = await everyone();
    for (const [orderby, by, descending] of [
      ["displayName", "displayName", false],
      ["displayname ASC", "displayName", false],
      ["displayName desc", "displayName", true],
      ["userPrincipalName", "userPrincipalName", false],
      ["USERPRINCIPALNAME Desc", "userPrincipalName", true],
    ] as const) {
      const { users: got, pages } = await all(`/v1.0/users?$select=id,displayName,userPrincipalName&$top=17&$orderby=${encodeURIComponent(orderby)}`);
      expect(pages.length, orderby).toBe(15);
      expect(pages[0]!["@odata.nextLink"], orderby).toContain("$orderby=");
      expect(got.map((u) => u["id"]), orderby).toEqual(sorted(users, by, descending).map((u) => u["id"]));
    }
    // Not the seeded order: sorting did something.
    expect(sorted(users, "displayName", false).map((u) => u["id"])).not.toEqual(users.map((u) => u["id"]));
  });

  it("compares names case-insensitively, breaks ties by id, and follows a rename", async () => {
    const seeded = await everyone();
    const [a, b, c] = seeded.slice(20, 23).map((u) => ({ id: String(u["id"]), displayName: String(u["displayName"]) }));
    const tenant = emu.tenants[0]!.id;
    try {
      // Read once so a cached order exists, then rename: the next read must see the new names.
      expect((await graph(emu, token, "/v1.0/users?$select=id&$orderby=displayName&$top=999")).status).toBe(200);
      emu.admin.patchUser(tenant, a!.id, { displayName: "aaaa Tie" });
      emu.admin.patchUser(tenant, b!.id, { displayName: "AAAA TIE" });
      emu.admin.patchUser(tenant, c!.id, { displayName: "Aaaa tie" });
      const ties = [a!.id, b!.id, c!.id].sort();
      for (const dir of ["asc", "desc"]) {
        const { users } = await all(`/v1.0/users?$select=id,displayName&$top=2&$orderby=displayName ${dir}`);
        const ids = users.map((u) => u["id"]);
        // Side by side, in id order both ways, whatever their case.
        const at = ids.indexOf(ties[0]);
        expect(ids.slice(at, at + 3), dir).toEqual(ties);
        expect(ids, dir).toEqual(sorted(users, "displayName", dir === "desc").map((u) => u["id"]));
      }
    } finally {
      for (const u of [a!, b!, c!]) emu.admin.patchUser(tenant, u.id, { displayName: u.displayName });
    }
  });

  it("with $filter it is an advanced query: 400 Sorting not supported without ConsistencyLevel: eventual and $count=true", async () => {
    const filter = `$filter=${encodeURIComponent("startswith(displayName,'a') or userType eq 'Guest'")}`;
    for (const [path, headers] of [
      [`/v1.0/users?${filter}&$orderby=displayName`, {}],
      [`/v1.0/users?${filter}&$orderby=displayName`, eventual],
    ] as const) {
      const reply = await graph(emu, token, path, { headers });
      expect(reply.status).toBe(400);
      expect(reply.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: "Request_UnsupportedQuery", message: "Sorting not supported for current query." });
    }
    expect((await graph(emu, token, `/v1.0/users?${filter}&$orderby=displayName&$count=true`)).status).toBe(400);

    const users = await everyone();
    const expected = sorted(
      users.filter((u) => String(u["displayName"]).toLowerCase().startsWith("a") || u["userType"] === "Guest"),
      "userPrincipalName",
      true,
    );
    expect(expected.length).toBeGreaterThan(5);
    const { users: got, pages } = await all(`/v1.0/users?$select=id,displayName,userPrincipalName,userType&${filter}&$orderby=userPrincipalName desc&$count=true&$top=4`, eventual);
    expect(got.map((u) => u["id"])).toEqual(expected.map((u) => u["id"]));
    expect(pages.length).toBe(Math.ceil(expected.length / 4));
    expect(pages.every((p) => p["@odata.count"] === expected.length)).toBe(true);
  });

  it("rejects other properties, several properties and a bad direction", async () => {
    for (const [orderby, status, code, message] of [
      ["accountEnabled", 400, "Request_UnsupportedQuery", "Unsupported sort property 'accountEnabled' for 'User'."],
      ["mail desc", 400, "Request_UnsupportedQuery", "Unsupported sort property 'mail' for 'User'."],
      ["shoeSize", 400, "Request_BadRequest", "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'."],
      ["displayName,userPrincipalName", 400, "Request_UnsupportedQuery", "Sorting on more than one property is not supported."],
      ["displayName sideways", 400, "BadRequest", "Invalid $orderby clause 'displayName sideways'."],
    ] as const) {
      const reply = await graph(emu, token, `/v1.0/users?$orderby=${encodeURIComponent(orderby)}`);
      expect(reply.status, orderby).toBe(status);
      expect(reply.json<{ error: { code: string; message: string } }>().error, orderby).toMatchObject({ code, message });
    }
  });
});

describe("request cost (resource units)", () => {
  it("follows the identity cost table", () => {
    const cost = (method: string, list: boolean, q: string) => requestCost(method, list, queryOptions(q));
    expect(cost("GET", true, "")).toEqual({ ru: 2, writes: 0 });
    expect(cost("GET", true, "$select=id")).toEqual({ ru: 1, writes: 0 });
    expect(cost("GET", true, "$select=id&$top=5")).toEqual({ ru: 1, writes: 0 });
    expect(cost("GET", true, "$expand=manager")).toEqual({ ru: 3, writes: 0 });
    expect(cost("GET", false, "")).toEqual({ ru: 1, writes: 0 });
    expect(cost("PATCH", false, "")).toEqual({ ru: 1, writes: 1 });
  });
});
