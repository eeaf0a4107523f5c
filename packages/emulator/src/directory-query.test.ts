import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AdminGroupView } from "./admin.js";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { graph, tokenFor, type Reply } from "./test-helpers.js";

let emu: RunningEmulator;
let token: string;

beforeAll(async () => {
  emu = await startEmulator({ tenants: 1, users: 250 });
  token = await tokenFor(emu, emu.tenants[0]!.id);
});
afterEach(() => {
  emu.admin.reset();
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

const GA = "62e90394-69f5-4237-9190-012177145e10";
const domain = () => emu.tenants[0]!.domain;
const groups = () => emu.admin.listGroups(domain());
const groupNamed = (name: string): AdminGroupView => groups().find((g) => g.displayName === name)!;
const userId = (local: string) => emu.admin.getUser(domain(), `${local}@${domain()}`).id;
const eventual = { consistencylevel: "eventual" };

function expectError(reply: Reply, status: number, code: string, message?: string) {
  expect(reply.status, reply.text).toBe(status);
  const error = reply.json<{ error: { code: string; message: string } }>().error;
  expect(error.code).toBe(code);
  if (message !== undefined) expect(error.message).toBe(message);
}

/** Follows the absolute @odata.nextLink until it is absent; every page must be a 200. */
async function all(path: string, headers: Record<string, string> = {}, t = token): Promise<{ items: Record<string, unknown>[]; pages: Page[] }> {
  const pages: Page[] = [];
  let reply = await graph(emu, t, path, { headers });
  for (;;) {
    expect(reply.status, reply.text).toBe(200);
    const page = reply.json<Page>();
    pages.push(page);
    const next = page["@odata.nextLink"];
    if (!next) break;
    expect(next.startsWith(`${emu.graphUrl}/`)).toBe(true);
    reply = await graph(emu, t, next.slice(emu.graphUrl.length), { headers });
  }
  return { items: pages.flatMap((p) => p.value), pages };
}

describe("GET /groups", () => {
  it("lists the seeded security groups with Graph's default properties, on v1.0 and beta", async () => {
    for (const version of ["v1.0", "beta"]) {
      const reply = await graph(emu, token, `/${version}/groups`);
      expect(reply.status).toBe(200);
      const page = reply.json<Page>();
      expect(page["@odata.context"]).toBe(`${emu.graphUrl}/${version}/$metadata#groups`);
      expect(page.value.map((g) => g["displayName"])).toEqual(groups().map((g) => g.displayName));
      expect(page.value[0]).toEqual({
        id: groupNamed("All Staff").id, description: "Every enabled, licensed member account.", displayName: "All Staff", groupTypes: [],
        isAssignableToRole: null, mail: null, mailEnabled: false, mailNickname: "AllStaff", securityEnabled: true, visibility: null,
      });
    }
  });

  it("honours $select and pages with $top through absolute next links", async () => {
    const { items, pages } = await all("/v1.0/groups?$select=id,displayName&$top=3");
    expect(pages.map((p) => p.value.length)).toEqual([3, 3, 2]);
    expect(items.map((g) => g["id"])).toEqual(groups().map((g) => g.id));
    expect(Object.keys(items[0]!)).toEqual(["id", "displayName"]);
    expect(pages[0]!["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#groups(id,displayName)`);
    expect(pages[0]!["@odata.nextLink"]).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/graph\/v1\.0\/groups\?\$select=id,displayName&\$top=3&\$skiptoken=[A-Za-z0-9_-]+$/);
  });

  it("filters on displayName eq (case-insensitive, '' escapes a quote) and startswith, joined by and", async () => {
    const names = async (filter: string) =>
      (await all(`/v1.0/groups?$select=displayName&$filter=${encodeURIComponent(filter)}`)).items.map((g) => g["displayName"]);
    expect(await names("displayName eq 'Finance'")).toEqual(["Finance"]);
    expect(await names("displayName eq 'mfa exclusions'")).toEqual(["MFA Exclusions"]);
    expect(await names("startswith(displayName,'contr')")).toEqual(["Contractors"]);
    expect(await names("startswith(displayName, 'E')")).toEqual(["Emergency Access", "External Contractors"]);
    expect(await names("startswith(displayName,'E') and displayName eq 'Emergency Access'")).toEqual(["Emergency Access"]);
    expect(await names("displayName eq 'Nobody'")).toEqual([]);
    emu.admin.createGroup(domain(), { displayName: "Pat's R and D" });
    expect(await names("displayName eq 'Pat''s R and D'")).toEqual(["Pat's R and D"]);
    expect(await names("startswith(displayName,'Pat''s')")).toEqual(["Pat's R and D"]);
    // Unencoded in the URL, as many clients send it.
    expect((await graph(emu, token, "/v1.0/groups?$filter=displayName eq 'Finance'")).json<Page>().value).toHaveLength(1);
  });

  it("answers other filters with 400: unsupported clause on a known property, unknown property, malformed", async () => {
    const get = (filter: string) => graph(emu, token, `/v1.0/groups?$filter=${encodeURIComponent(filter)}`);
    expectError(await get("displayName ne 'Finance'"), 400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property 'displayName' of resource 'Group'.");
    expectError(await get("endswith(displayName,'s')"), 400, "Request_UnsupportedQuery");
    expectError(await get("shoeSize eq 3"), 400, "Request_BadRequest", "Could not find a property named 'shoeSize' on type 'microsoft.graph.group'.");
    expectError(await get("displayName eq 'Finance' or displayName eq 'Contractors'"), 400, "BadRequest");
    expectError(await get("displayName eq 'unterminated"), 400, "Request_UnsupportedQuery");
    expectError(await graph(emu, token, "/v1.0/groups?$select=id,favouriteColour"), 400, "Request_BadRequest", "Could not find a property named 'favouriteColour' on type 'microsoft.graph.group'.");
    expectError(await graph(emu, token, "/v1.0/groups?$orderby=displayName"), 400, "Request_UnsupportedQuery");
    expectError(await graph(emu, token, "/v1.0/groups?$top=1000"), 400, "Request_BadRequest");
  });

  it("$count=true needs ConsistencyLevel: eventual and counts the filtered groups", async () => {
    expectError(await graph(emu, token, "/v1.0/groups?$count=true"), 400, "Request_BadRequest", "$count is not currently supported.");
    const reply = await graph(emu, token, `/v1.0/groups?$count=true&$top=1&$filter=${encodeURIComponent("startswith(displayName,'E')")}`, { headers: eventual });
    expect(reply.json<Page>()["@odata.count"]).toBe(2);
    expect(reply.json<Page>().value).toHaveLength(1);
  });
});

describe("GET /groups/{id}", () => {
  it("returns one group, in the groups('...') form too, with $select", async () => {
    const finance = groupNamed("Finance");
    const reply = await graph(emu, token, `/v1.0/groups/${finance.id}`);
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ "@odata.context": `${emu.graphUrl}/v1.0/$metadata#groups/$entity`, id: finance.id, displayName: "Finance", securityEnabled: true });
    const selected = await graph(emu, token, `/beta/groups('${finance.id.toUpperCase()}')?$select=displayName`);
    expect(selected.json()).toEqual({ "@odata.context": `${emu.graphUrl}/beta/$metadata#groups(displayName)/$entity`, displayName: "Finance" });
  });

  it("answers an unknown id with 404 Request_ResourceNotFound and a non-GUID with 400", async () => {
    const ghost = "00000000-0000-4000-8000-000000000000";
    expectError(await graph(emu, token, `/v1.0/groups/${ghost}`), 404, "Request_ResourceNotFound", `Resource '${ghost}' does not exist or one of its queried reference-property objects are not present.`);
    expectError(await graph(emu, token, `/v1.0/groups/${ghost}/members`), 404, "Request_ResourceNotFound");
    expectError(await graph(emu, token, "/v1.0/groups/Finance"), 400, "Request_BadRequest", "Invalid object identifier 'Finance'.");
    expectError(await graph(emu, token, `/v1.0/groups/${groupNamed("Finance").id}/owners`), 400, "BadRequest", "Resource not found for the segment 'owners'.");
    expectError(await graph(emu, token, `/v1.0/groups/${groupNamed("Finance").id}`, { method: "PATCH", body: {} }), 405, "Request_BadRequest");
  });
});

describe("GET /groups/{id}/members and /transitiveMembers", () => {
  it("pages through every direct member of All Staff once, as users with @odata.type", async () => {
    const allStaff = groupNamed("All Staff");
    expect(allStaff.memberIds.length).toBeGreaterThan(100);
    const { items, pages } = await all(`/v1.0/groups/${allStaff.id}/members?$select=id,userPrincipalName,displayName,userType,accountEnabled&$top=50`);
    expect(items.map((m) => m["id"])).toEqual(allStaff.memberIds);
    expect(pages.length).toBe(Math.ceil(allStaff.memberIds.length / 50));
    expect(pages[0]!["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#directoryObjects(id,userPrincipalName,displayName,userType,accountEnabled)`);
    expect(Object.keys(items[0]!)).toEqual(["@odata.type", "id", "userPrincipalName", "displayName", "userType", "accountEnabled"]);
    expect(items.every((m) => m["@odata.type"] === "#microsoft.graph.user" && m["userType"] === "Member" && m["accountEnabled"] === true)).toBe(true);
  });

  it("lists users and nested groups, each with its type and only the properties it has", async () => {
    const exclusions = groupNamed("MFA Exclusions");
    const service = groupNamed("Service Accounts");
    const reply = await graph(emu, token, `/v1.0/groups/${exclusions.id}/members?$select=id,displayName,userPrincipalName`);
    const value = reply.json<Page>().value;
    expect(value).toEqual([
      { "@odata.type": "#microsoft.graph.user", id: exclusions.memberIds[0], displayName: expect.any(String), userPrincipalName: expect.stringContaining("@") },
      { "@odata.type": "#microsoft.graph.group", id: service.id, displayName: "Service Accounts" },
    ]);
    // Without $select: each type's default properties.
    const full = (await graph(emu, token, `/beta/groups/${exclusions.id}/members`)).json<Page>().value;
    expect(full[0]).toHaveProperty("businessPhones");
    expect(full[1]).toMatchObject({ "@odata.type": "#microsoft.graph.group", securityEnabled: true, mailNickname: "ServiceAccounts" });
    expect(full[1]).not.toHaveProperty("userPrincipalName");
  });

  it("casts to microsoft.graph.user or microsoft.graph.group; other directory types are empty", async () => {
    const exclusions = groupNamed("MFA Exclusions");
    const users = await graph(emu, token, `/v1.0/groups/${exclusions.id}/members/microsoft.graph.user?$select=id,userPrincipalName`);
    expect(users.json<Page>()["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#users(id,userPrincipalName)`);
    expect(users.json<Page>().value.map((m) => [m["@odata.type"], m["id"]])).toEqual([["#microsoft.graph.user", exclusions.memberIds[0]]]);
    const nested = await graph(emu, token, `/v1.0/groups/${exclusions.id}/members/microsoft.graph.group`);
    expect(nested.json<Page>()["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#groups`);
    expect(nested.json<Page>().value.map((m) => m["displayName"])).toEqual(["Service Accounts"]);
    expect((await graph(emu, token, `/v1.0/groups/${exclusions.id}/members/microsoft.graph.device`)).json<Page>().value).toEqual([]);
    expectError(await graph(emu, token, `/v1.0/groups/${exclusions.id}/members/microsoft.graph.toaster`), 400, "BadRequest", "Resource not found for the segment 'microsoft.graph.toaster'.");
    // A group property is unknown on the user type.
    expectError(await graph(emu, token, `/v1.0/groups/${exclusions.id}/members/microsoft.graph.user?$select=securityEnabled`), 400, "Request_BadRequest", "Could not find a property named 'securityEnabled' on type 'microsoft.graph.user'.");
    expectError(await graph(emu, token, `/v1.0/groups/${exclusions.id}/members?$filter=${encodeURIComponent("userType eq 'Member'")}`), 400, "Request_UnsupportedQuery");
  });

  it("transitive members reach through nested groups: MFA Exclusions includes the Service Accounts' users", async () => {
    const exclusions = groupNamed("MFA Exclusions");
    const service = groupNamed("Service Accounts");
    const direct = await all(`/v1.0/groups/${exclusions.id}/members?$select=id`);
    expect(direct.items.map((m) => m["id"])).toEqual([...exclusions.memberIds, service.id]);
    const transitive = await all(`/v1.0/groups/${exclusions.id}/transitiveMembers?$select=id`);
    expect(transitive.items.map((m) => m["id"])).toEqual([...exclusions.memberIds, service.id, ...service.memberIds]);
    const usersOnly = await all(`/v1.0/groups/${exclusions.id}/transitiveMembers/microsoft.graph.user?$select=id`);
    expect(usersOnly.items.map((m) => m["id"]).sort()).toEqual([...exclusions.memberIds, ...service.memberIds].sort());
  });

  it("transitive members go two levels down (Contractors > External Contractors > Partner Support), each member once", async () => {
    const [contractors, external, partner] = ["Contractors", "External Contractors", "Partner Support"].map(groupNamed) as [AdminGroupView, AdminGroupView, AdminGroupView];
    const guest = userId("john.doe_fabrikam.com#EXT#");
    expect(external.memberIds).toContain(guest);
    expect(partner.memberIds).toContain(guest);
    expect((await graph(emu, token, `/v1.0/groups/${contractors.id}/members/microsoft.graph.user`)).json<Page>().value).toEqual([]);
    const { items, pages } = await all(`/v1.0/groups/${contractors.id}/transitiveMembers?$select=id,displayName&$top=7`);
    expect(pages.length).toBeGreaterThan(2);
    const ids = items.map((m) => m["id"]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id === guest)).toHaveLength(1);
    expect(items.filter((m) => m["@odata.type"] === "#microsoft.graph.group").map((m) => m["displayName"])).toEqual(["External Contractors", "Partner Support"]);
    const expectedUsers = new Set([...external.memberIds, ...partner.memberIds]);
    expect(items.filter((m) => m["@odata.type"] === "#microsoft.graph.user").map((m) => m["id"]).sort()).toEqual([...expectedUsers].sort());
    const counted = await graph(emu, token, `/v1.0/groups/${contractors.id}/transitiveMembers/microsoft.graph.user?$count=true&$top=1`, { headers: eventual });
    expect(counted.json<Page>()["@odata.count"]).toBe(expectedUsers.size);
  });

  it("a membership cycle (which Entra forbids) does not hang: each member listed once", async () => {
    const contractors = groupNamed("Contractors");
    const partner = groupNamed("Partner Support");
    emu.admin.addGroupMembers(domain(), partner.id, { groups: [contractors.id] });
    const { items } = await all(`/v1.0/groups/${contractors.id}/transitiveMembers?$select=id`);
    const ids = items.map((m) => m["id"]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).not.toContain(contractors.id);
    const fromPartner = await all(`/v1.0/groups/${partner.id}/transitiveMembers/microsoft.graph.group?$select=displayName`);
    expect(fromPartner.items.map((g) => g["displayName"])).toEqual(["Contractors", "External Contractors"]);
    const memberOf = await all(`/v1.0/users/${userId("john.doe_fabrikam.com#EXT#")}/transitiveMemberOf?$select=displayName`);
    expect(memberOf.items.map((g) => g["displayName"]).sort()).toEqual(["Contractors", "External Contractors", "Partner Support"]);
  });
});

describe("GET /users/{id | upn}/memberOf and /transitiveMemberOf", () => {
  it("lists a user's direct groups, by UPN (guests percent-encoded) or id", async () => {
    const byUpn = await graph(emu, token, `/v1.0/users/breakglass@${domain()}/memberOf`);
    expect(byUpn.json<Page>()["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#directoryObjects`);
    expect(byUpn.json<Page>().value).toEqual([expect.objectContaining({ "@odata.type": "#microsoft.graph.group", displayName: "Emergency Access" })]);
    const guest = encodeURIComponent(`john.doe_fabrikam.com#EXT#@${domain()}`);
    const direct = await graph(emu, token, `/beta/users/${guest}/memberOf?$select=displayName`);
    expect(direct.json<Page>().value).toEqual([
      { "@odata.type": "#microsoft.graph.group", displayName: "External Contractors" },
      { "@odata.type": "#microsoft.graph.group", displayName: "Partner Support" },
    ]);
    const admin = await graph(emu, token, `/v1.0/users/${userId("admin")}/memberOf/microsoft.graph.group?$select=id,displayName`);
    expect(admin.json<Page>()["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#groups(id,displayName)`);
    expect(admin.json<Page>().value.map((g) => g["displayName"])).toEqual(["All Staff"]);
  });

  it("transitiveMemberOf adds the groups above, two levels up, each once", async () => {
    const guest = userId("john.doe_fabrikam.com#EXT#");
    const reply = await graph(emu, token, `/v1.0/users/${guest}/transitiveMemberOf?$select=displayName`);
    expect(reply.json<Page>().value.map((g) => g["displayName"])).toEqual(["External Contractors", "Partner Support", "Contractors"]);
    const service = groupNamed("Service Accounts");
    const paged = await all(`/v1.0/users/${service.memberIds[0]!}/transitiveMemberOf/microsoft.graph.group?$select=displayName&$top=1`);
    expect(paged.pages.length).toBe(paged.items.length);
    expect(paged.items.map((g) => g["displayName"])).toEqual(expect.arrayContaining(["Service Accounts", "MFA Exclusions"]));
  });

  it("has no directoryRole or administrativeUnit objects (casts give empty lists); other casts are 400", async () => {
    const admin = `admin@${domain()}`;
    expect((await graph(emu, token, `/v1.0/users/${admin}/memberOf/microsoft.graph.directoryRole`)).json<Page>().value).toEqual([]);
    expect((await graph(emu, token, `/v1.0/users/${admin}/transitiveMemberOf/microsoft.graph.administrativeUnit`)).json<Page>().value).toEqual([]);
    expectError(await graph(emu, token, `/v1.0/users/${admin}/memberOf/microsoft.graph.user`), 400, "BadRequest", "Resource not found for the segment 'microsoft.graph.user'.");
    expectError(await graph(emu, token, `/v1.0/users/ghost@${domain()}/memberOf`), 404, "Request_ResourceNotFound");
  });
});

describe("GET /roleManagement/directory/roleDefinitions", () => {
  it("lists the built-in roles with their template ids, filters by displayName, reads one", async () => {
    const reply = await graph(emu, token, "/v1.0/roleManagement/directory/roleDefinitions");
    const page = reply.json<Page>();
    expect(page["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#roleManagement/directory/roleDefinitions`);
    expect(page.value.map((r) => [r["displayName"], r["id"]])).toEqual([
      ["Global Administrator", GA],
      ["Privileged Authentication Administrator", "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"],
      ["Authentication Policy Administrator", "0526716b-113d-4c15-b2c8-68e3c22b9f80"],
      ["User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"],
      ["Security Administrator", "194ae4cb-b126-40b2-bd5b-6091b380977d"],
      ["Directory Synchronization Accounts", "d29b2b05-8046-44ba-8758-1e26182fcf32"],
      ["Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"],
    ]);
    expect(page.value.every((r) => r["templateId"] === r["id"] && r["isBuiltIn"] === true)).toBe(true);
    const filtered = await graph(emu, token, `/beta/roleManagement/directory/roleDefinitions?$filter=${encodeURIComponent("displayName eq 'Global Administrator'")}&$select=id,displayName`);
    expect(filtered.json<Page>().value).toEqual([{ id: GA, displayName: "Global Administrator" }]);
    const one = await graph(emu, token, `/v1.0/roleManagement/directory/roleDefinitions/${GA}`);
    expect(one.json()).toMatchObject({ "@odata.context": `${emu.graphUrl}/v1.0/$metadata#roleManagement/directory/roleDefinitions/$entity`, displayName: "Global Administrator" });
    expectError(await graph(emu, token, "/v1.0/roleManagement/directory/roleDefinitions/00000000-0000-4000-8000-000000000000"), 404, "Request_ResourceNotFound");
    expectError(await graph(emu, token, "/v1.0/roleManagement/entitlementManagement/roleDefinitions"), 400, "BadRequest", "Resource not found for the segment 'entitlementManagement'.");
  });
});

describe("GET /roleManagement/directory/roleAssignments", () => {
  const path = "/v1.0/roleManagement/directory/roleAssignments";
  const filter = (f: string) => `$filter=${encodeURIComponent(f)}`;

  it("filters on roleDefinitionId and principalId, joined by and", async () => {
    const admin = userId("admin");
    const breakglass = userId("breakglass");
    const globalAdmins = await graph(emu, token, `${path}?${filter(`roleDefinitionId eq '${GA}'`)}`);
    const page = globalAdmins.json<Page>();
    expect(page["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#roleManagement/directory/roleAssignments`);
    expect(page.value.map((a) => a["principalId"])).toEqual([admin, breakglass]);
    expect(Object.keys(page.value[0]!)).toEqual(["id", "principalId", "resourceScope", "directoryScopeId", "roleDefinitionId"]);
    expect(page.value[0]).toMatchObject({ directoryScopeId: "/", resourceScope: "/", roleDefinitionId: GA, id: expect.stringMatching(/^lAPpYvVpN0KRkAEhdxReE[A-Za-z0-9_-]{22}-1$/) });
    const mine = await graph(emu, token, `${path}?${filter(`principalId eq '${breakglass}'`)}`);
    expect(mine.json<Page>().value.map((a) => a["roleDefinitionId"])).toEqual([GA]);
    const both = await graph(emu, token, `${path}?${filter(`roleDefinitionId eq '${GA}' and principalId eq '${admin.toUpperCase()}'`)}`);
    expect(both.json<Page>().value.map((a) => a["principalId"])).toEqual([admin]);
    expectError(await graph(emu, token, `${path}?${filter("appScopeId eq '/'")}`), 400, "Request_BadRequest");
    expectError(await graph(emu, token, `${path}?${filter(`principalId ne '${admin}'`)}`), 400, "Request_UnsupportedQuery");
  });

  it("$expand=principal gives each principal as a user object", async () => {
    const reply = await graph(emu, token, `${path}?$expand=principal&${filter(`roleDefinitionId eq '${GA}'`)}`);
    expect(reply.headers["x-ms-resource-unit"]).toBe("3");
    const page = reply.json<Page>();
    expect(page["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#roleManagement/directory/roleAssignments(principal())`);
    expect(page.value[1]!["principal"]).toEqual({
      "@odata.type": "#microsoft.graph.user", id: userId("breakglass"), accountEnabled: true, displayName: "Break Glass (emergency access)",
      mail: null, userPrincipalName: `breakglass@${domain()}`, userType: "Member",
    });
    const withDefinition = await graph(emu, token, `${path}?$expand=roleDefinition&$select=principalId&$top=1`);
    expect(withDefinition.json<Page>().value[0]).toMatchObject({ principalId: userId("admin"), roleDefinition: { displayName: "Global Administrator" } });
    expectError(await graph(emu, token, `${path}?$expand=manager`), 400, "Request_BadRequest", "Could not find a property named 'manager' on type 'microsoft.graph.unifiedRoleAssignment'.");
  });

  it("pages through every assignment; one assignment by id", async () => {
    const expected = emu.admin.listRoleAssignments(domain());
    expect(expected.length).toBeGreaterThan(3);
    const { items, pages } = await all(`${path}?$top=2`);
    expect(items.map((a) => a["id"])).toEqual(expected.map((a) => a.id));
    expect(pages.length).toBe(Math.ceil(expected.length / 2));
    const id = expected[2]!.id;
    const one = await graph(emu, token, `${path}/${id}?$expand=principal`);
    expect(one.json()).toMatchObject({ id, roleDefinitionId: "d29b2b05-8046-44ba-8758-1e26182fcf32", principal: { userPrincipalName: expect.stringMatching(/^Sync_SRV01_/) } });
    expectError(await graph(emu, token, `${path}/nope-1`), 404, "Request_ResourceNotFound");
  });
});

describe("permissions and cost of the directory reads", () => {
  const register = async (clientId: string, roles: string[]) => {
    emu.admin.registerApp({ clientId, clientSecret: "s", tenants: { "*": roles } });
    return tokenFor(emu, emu.tenants[0]!.id, { clientId, clientSecret: "s" });
  };

  it("answers 403 Authorization_RequestDenied without a group or role permission; memberOf takes user permissions too", async () => {
    const usersOnly = await register("e1e1e1e1-0000-4000-8000-000000000001", ["User.Read.All", "Policy.Read.All"]);
    const groupId = groupNamed("Finance").id;
    for (const p of [
      "/v1.0/groups", `/v1.0/groups/${groupId}`, `/v1.0/groups/${groupId}/members`, `/beta/groups/${groupId}/transitiveMembers/microsoft.graph.user`,
      "/v1.0/roleManagement/directory/roleDefinitions", "/v1.0/roleManagement/directory/roleAssignments", `/v1.0/roleManagement/directory/roleDefinitions/${GA}`,
    ])
      expectError(await graph(emu, usersOnly, p), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
    expect((await graph(emu, usersOnly, `/v1.0/users/admin@${domain()}/memberOf`)).status).toBe(200);
    expect((await graph(emu, usersOnly, `/v1.0/users/admin@${domain()}/transitiveMemberOf`)).status).toBe(200);

    const groupMember = await register("e1e1e1e1-0000-4000-8000-000000000002", ["GroupMember.Read.All"]);
    expect((await graph(emu, groupMember, `/v1.0/groups/${groupId}/members`)).status).toBe(200);
    expect((await graph(emu, groupMember, `/v1.0/users/admin@${domain()}/memberOf`)).status).toBe(200);
    expectError(await graph(emu, groupMember, "/v1.0/roleManagement/directory/roleAssignments"), 403, "Authorization_RequestDenied");

    const directory = await register("e1e1e1e1-0000-4000-8000-000000000003", ["Directory.Read.All"]);
    expect((await graph(emu, directory, "/v1.0/groups")).status).toBe(200);
    expect((await graph(emu, directory, "/v1.0/roleManagement/directory/roleAssignments")).status).toBe(200);
    for (const [i, role] of ["RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory"].entries()) {
      const t = await register(`e1e1e1e1-0000-4000-8000-00000000001${i}`, [role]);
      expect((await graph(emu, t, "/v1.0/roleManagement/directory/roleDefinitions")).status, role).toBe(200);
    }
    // The read-only app holds the new read roles.
    const readOnly = await tokenFor(emu, emu.tenants[0]!.id, emu.readOnlyApp);
    expect((await graph(emu, readOnly, `/v1.0/groups/${groupId}/transitiveMembers`)).status).toBe(200);
    expect((await graph(emu, readOnly, "/v1.0/roleManagement/directory/roleAssignments?$expand=principal")).status).toBe(200);
  });

  it("costs like other identity reads: lists 2 RU, entities 1, $select -1, $expand +1", async () => {
    const g = groupNamed("Finance").id;
    const unit = async (p: string) => (await graph(emu, token, p)).headers["x-ms-resource-unit"];
    expect(await unit("/v1.0/groups")).toBe("2");
    expect(await unit("/v1.0/groups?$select=id")).toBe("1");
    expect(await unit(`/v1.0/groups/${g}`)).toBe("1");
    expect(await unit(`/v1.0/groups/${g}/members`)).toBe("2");
    expect(await unit(`/v1.0/groups/${g}/transitiveMembers/microsoft.graph.user`)).toBe("2");
    expect(await unit(`/v1.0/users/admin@${domain()}/memberOf`)).toBe("2");
    expect(await unit("/v1.0/roleManagement/directory/roleAssignments")).toBe("2");
    expect(await unit("/v1.0/roleManagement/directory/roleAssignments?$expand=principal")).toBe("3");
    expect(await unit(`/v1.0/roleManagement/directory/roleDefinitions/${GA}`)).toBe("1");
  });
});
