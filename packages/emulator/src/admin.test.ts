import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AdminGroupView, AdminRoleAssignmentView, AdminUserView, TenantSummary } from "./admin.js";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import type { EmulatorStats } from "./state.js";
import { admin, graph, send, tokenFor } from "./test-helpers.js";

let emu: RunningEmulator;
let token: string;

beforeAll(async () => {
  emu = await startEmulator({ tenants: 2, users: 12 });
  token = await tokenFor(emu, emu.tenants[0]!.id);
});
afterAll(async () => {
  await emu.close();
});

const domain = () => emu.tenants[0]!.domain;
const patchState = (upn: string, state: string) =>
  graph(emu, token, `/beta/users/${encodeURIComponent(upn)}/authentication/requirements`, { method: "PATCH", body: { perUserMfaState: state } });

describe("admin HTTP interface", () => {
  it("lists tenants and reads a user by UPN (percent-encoded) or id", async () => {
    const tenants = (await admin(emu, "GET", "/tenants")).json<TenantSummary[]>();
    expect(tenants).toEqual(emu.tenants);
    expect(tenants.map((t) => t.domain)).toEqual(["contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"]);
    const guestUpn = `john.doe_fabrikam.com#EXT#@${domain()}`;
    const guest = (await admin(emu, "GET", `/tenants/${domain()}/users/${encodeURIComponent(guestUpn)}`)).json<AdminUserView>();
    expect(guest).toMatchObject({ userPrincipalName: guestUpn, userType: "Guest", isLicensed: false, methods: [], perUserMfaState: "disabled", patchCount: 0 });
    const byId = await admin(emu, "GET", `/tenants/${emu.tenants[0]!.id}/users/${guest.id}`);
    expect(byId.json<AdminUserView>().userPrincipalName).toBe(guestUpn);
    expect((await admin(emu, "GET", `/tenants/${domain()}/users/nobody`)).status).toBe(404);
    expect((await admin(emu, "GET", `/tenants/nowhere/users/nobody`)).status).toBe(404);
  });

  it("lists a tenant's users with state and PATCH count, and sets many users' state at once", async () => {
    const all = (await admin(emu, "GET", `/tenants/${domain()}/users`)).json<{ id: string; userPrincipalName: string; perUserMfaState: string; patchCount: number }[]>();
    expect(all).toHaveLength(12);
    expect(Object.keys(all[0]!)).toEqual(["id", "userPrincipalName", "perUserMfaState", "patchCount"]);
    const two = [all[0]!.id, all[1]!.userPrincipalName];
    expect((await admin(emu, "PATCH", `/tenants/${domain()}/users`, { perUserMfaState: "enforced", users: two })).json<{ updated: number }>().updated).toBe(2);
    expect(emu.admin.getUser(domain(), all[1]!.id).perUserMfaState).toBe("enforced");
    expect((await admin(emu, "PATCH", `/tenants/${domain()}/users`, { perUserMfaState: "disabled" })).json<{ updated: number }>().updated).toBe(12);
    expect(emu.admin.listUsers(domain()).every((u) => u.perUserMfaState === "disabled" && u.patchCount === 0)).toBe(true);
    expect((await admin(emu, "PATCH", `/tenants/${domain()}/users`, { perUserMfaState: "sometimes" })).status).toBe(400);
    expect((await admin(emu, "GET", `/tenants/nowhere/users`)).status).toBe(404);
    await admin(emu, "POST", "/reset");
  });

  it("stats count Graph PATCHes per user; admin PATCHes are not counted", async () => {
    await admin(emu, "POST", "/stats/reset");
    const megan = emu.admin.getUser(domain(), `megan.bowen@${domain()}`);
    expect((await patchState(megan.userPrincipalName, "enforced")).status).toBe(204);
    expect((await patchState(megan.userPrincipalName, "disabled")).status).toBe(204);
    expect((await patchState(`admin@${domain()}`, "enforced")).status).toBe(204);
    const changed = await admin(emu, "PATCH", `/tenants/${domain()}/users/${encodeURIComponent(megan.userPrincipalName)}`, { perUserMfaState: "enabled" });
    expect(changed.json<AdminUserView>()).toMatchObject({ perUserMfaState: "enabled", patchCount: 2 });
    const stats = (await admin(emu, "GET", "/stats")).json<EmulatorStats>();
    expect(stats.patches).toBe(3);
    expect(stats.patchesByUser[`${emu.tenants[0]!.id}/${megan.id}`]).toBe(2);
    expect(stats.requests).toBe(3);
    expect(Object.keys(stats.patchesByUser)).toHaveLength(2);
  });

  it("an admin method registration moves an enabled user to enforced", async () => {
    const upn = encodeURIComponent(`alex.wilber@${domain()}`);
    await admin(emu, "PATCH", `/tenants/${domain()}/users/${upn}`, { perUserMfaState: "enabled" });
    const after = await admin(emu, "PATCH", `/tenants/${domain()}/users/${upn}`, { methods: ["microsoftAuthenticatorPush"] });
    expect(after.json<AdminUserView>()).toMatchObject({ perUserMfaState: "enforced", methods: ["microsoftAuthenticatorPush"] });
    expect((await admin(emu, "PATCH", `/tenants/${domain()}/users/${upn}`, { perUserMfaState: "sometimes" })).status).toBe(400);
  });

  it("POST /reset restores users, counters and faults", async () => {
    await admin(emu, "POST", "/faults", { rules: [{ status: 503, count: 5 }] });
    expect((await admin(emu, "POST", "/reset")).status).toBe(200);
    expect(emu.admin.getUser(domain(), `megan.bowen@${domain()}`)).toMatchObject({ perUserMfaState: "enabled", patchCount: 0 });
    expect(emu.admin.getUser(domain(), `alex.wilber@${domain()}`)).toMatchObject({ perUserMfaState: "disabled", methods: [] });
    expect(emu.admin.stats()).toMatchObject({ requests: 0, patches: 0, faultsInjected: 0, tokensIssued: 0 });
    expect((await admin(emu, "GET", "/faults")).json<{ rules: unknown[] }>().rules).toEqual([]);
  });

  it("POST /seed re-seeds (kept for /reset) and the main app follows the seed", async () => {
    const before = emu.clientId;
    const reply = await admin(emu, "POST", "/seed", { tenants: 3, users: 8, seed: "other" });
    expect(reply.status).toBe(200);
    expect(reply.json<{ tenants: TenantSummary[] }>().tenants.map((t) => t.userCount)).toEqual([8, 8, 8]);
    expect(emu.clientId).not.toBe(before);
    expect(reply.json()).toMatchObject({ clientId: emu.clientId, clientSecret: emu.clientSecret, readOnlyApp: emu.readOnlyApp });
    await admin(emu, "POST", "/reset");
    expect(emu.tenants).toHaveLength(3);
    await admin(emu, "POST", "/seed", { tenants: 2, users: 12, seed: "mfactl" });
    expect(emu.clientId).toBe(before);
    expect((await admin(emu, "POST", "/seed", { tenants: 0 })).status).toBe(400);
  });

  it("PATCH /config validates and applies settings", async () => {
    const ok = await admin(emu, "PATCH", "/config", { latencyMs: 0, throttle: "off", throttleLimits: { appTenantRuSmall: 7 } });
    expect(ok.json()).toMatchObject({ throttle: "off", throttleLimits: { appTenantRuSmall: 7, appTenantRuMedium: 5000 } });
    expect((await admin(emu, "PATCH", "/config", { faultRate: 2 })).status).toBe(400);
    expect((await admin(emu, "PATCH", "/config", { throttleLimits: { nope: 1 } })).status).toBe(400);
    await admin(emu, "PATCH", "/config", { throttle: "realistic", throttleLimits: { appTenantRuSmall: 3500 } });
  });

  it("registers apps and grants or removes consent per tenant", async () => {
    const clientId = "d1d1d1d1-0000-4000-8000-00000000000d";
    const [t1, t2] = emu.tenants as [TenantSummary, TenantSummary];
    expect((await admin(emu, "POST", "/apps", { clientId, clientSecret: "s3cret", tenants: { [t1.domain]: ["User.Read.All"] } })).status).toBe(201);
    const t = await tokenFor(emu, t1.id, { clientId, clientSecret: "s3cret" });
    expect((await graph(emu, t, "/v1.0/users?$top=1")).status).toBe(200);
    // Not consented in t2 yet.
    await expect(tokenFor(emu, t2.id, { clientId, clientSecret: "s3cret" })).rejects.toThrow(/700016/);
    expect((await admin(emu, "PUT", `/apps/${clientId}/tenants/${t2.id}`, { roles: ["Policy.Read.All"] })).status).toBe(200);
    await tokenFor(emu, t2.id, { clientId, clientSecret: "s3cret" });
    expect((await admin(emu, "DELETE", `/apps/${clientId}/tenants/${t1.id}`)).status).toBe(204);
    await expect(tokenFor(emu, t1.id, { clientId, clientSecret: "s3cret" })).rejects.toThrow(/700016/);
    expect((await admin(emu, "POST", "/apps", { clientId: "not-a-guid", clientSecret: "x", tenants: {} })).status).toBe(400);
    expect((await admin(emu, "DELETE", `/apps/${clientId}/tenants/nowhere`)).status).toBe(404);
  });

  it("answers unknown routes with 404 and wrong methods with 405", async () => {
    expect((await admin(emu, "GET", "/nothing")).status).toBe(404);
    expect((await admin(emu, "DELETE", "/tenants")).status).toBe(405);
    expect((await send(`${emu.adminUrl}/faults`, { method: "POST", body: "{not json" })).status).toBe(400);
  });
});

describe("admin groups and roles", () => {
  afterEach(async () => {
    await admin(emu, "POST", "/reset");
  });
  const GA = "62e90394-69f5-4237-9190-012177145e10";
  const upn = (local: string) => `${local}@${domain()}`;
  const listGroups = async () => (await admin(emu, "GET", `/tenants/${domain()}/groups`)).json<AdminGroupView[]>();

  it("lists groups with direct members, role assignments with names and UPNs; the user view has groups and roles", async () => {
    const groups = await listGroups();
    expect(groups.map((g) => g.displayName)).toContain("Emergency Access");
    expect(Object.keys(groups[0]!)).toEqual(["id", "displayName", "description", "memberIds", "memberGroupIds"]);
    const breakglass = (await admin(emu, "GET", `/tenants/${domain()}/users/${upn("breakglass")}`)).json<AdminUserView>();
    expect(breakglass.groups).toEqual([groups.find((g) => g.displayName === "Emergency Access")!.id]);
    expect(breakglass.roles).toEqual(["Global Administrator"]);
    expect(emu.admin.getUser(domain(), upn("alex.wilber"))).toMatchObject({ roles: [], groups: [groups[0]!.id] });
    const roles = (await admin(emu, "GET", `/tenants/${emu.tenants[1]!.id}/roles`)).json<AdminRoleAssignmentView[]>();
    expect(roles.slice(0, 3).map((r) => [r.roleDisplayName, r.userPrincipalName!.split("@")[0]!.slice(0, 11)])).toEqual([
      ["Global Administrator", "admin"], ["Global Administrator", "breakglass"], ["Directory Synchronization Accounts", "Sync_SRV01_"],
    ]);
    expect(roles[0]).toMatchObject({ roleDefinitionId: GA, directoryScopeId: "/", principalId: emu.admin.getUser(emu.tenants[1]!.domain, "admin@fabrikam.onmicrosoft.com").id });
    expect((await admin(emu, "GET", "/tenants/nowhere/groups")).status).toBe(404);
    expect((await admin(emu, "GET", "/tenants/nowhere/roles")).status).toBe(404);
  });

  it("creates a group with members and nested groups, adds and removes members by id, UPN or name; Graph sees it", async () => {
    const created = await admin(emu, "POST", `/tenants/${domain()}/groups`, {
      displayName: "Pilot Users", description: "MFA pilot", members: [upn("megan.bowen"), emu.admin.getUser(domain(), upn("alex.wilber")).id], memberGroups: ["Emergency Access"],
    });
    expect(created.status).toBe(201);
    const pilot = created.json<AdminGroupView>();
    const emergency = (await listGroups()).find((g) => g.displayName === "Emergency Access")!;
    expect(pilot).toMatchObject({ displayName: "Pilot Users", description: "MFA pilot", memberGroupIds: [emergency.id] });
    expect(pilot.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(pilot.memberIds).toEqual([upn("megan.bowen"), upn("alex.wilber")].map((u) => emu.admin.getUser(domain(), u).id));

    const added = await admin(emu, "POST", `/tenants/${domain()}/groups/${encodeURIComponent("pilot users")}/members`, { users: [upn("admin"), upn("megan.bowen")], groups: ["Finance"] });
    expect(added.status).toBe(200);
    expect(added.json<AdminGroupView>().memberIds).toHaveLength(3);
    expect(added.json<AdminGroupView>().memberGroupIds).toHaveLength(2);

    const removed = await admin(emu, "DELETE", `/tenants/${domain()}/groups/${pilot.id}/members/${encodeURIComponent(upn("megan.bowen"))}`);
    expect(removed.json<AdminGroupView>().memberIds).not.toContain(emu.admin.getUser(domain(), upn("megan.bowen")).id);
    const ungrouped = await admin(emu, "DELETE", `/tenants/${domain()}/groups/${pilot.id}/members/Finance`);
    expect(ungrouped.json<AdminGroupView>().memberGroupIds).toEqual([emergency.id]);

    const members = await graph(emu, token, `/v1.0/groups/${pilot.id}/transitiveMembers?$select=id,displayName`);
    expect(members.json<{ value: { displayName: string }[] }>().value.map((m) => m.displayName)).toEqual(["Alex Wilber", "Tenant Admin", "Emergency Access", "Break Glass (emergency access)"]);
    expect(emu.admin.getUser(domain(), upn("admin")).groups).toContain(pilot.id);
  });

  it("validates group requests: 400 for bad bodies and duplicates, 404 for unknown tenants, groups, users and members", async () => {
    const post = (body: object, path = `/tenants/${domain()}/groups`) => admin(emu, "POST", path, body);
    expect((await post({ displayName: "" })).status).toBe(400);
    expect((await post({ displayName: "finance" })).status).toBe(400);
    expect((await post({ displayName: "X", members: "admin" })).status).toBe(400);
    expect((await post({ displayName: "X", members: [`ghost@${domain()}`] })).status).toBe(404);
    expect((await post({ displayName: "X", memberGroups: ["No Such Group"] })).status).toBe(404);
    expect((await post({ displayName: "X" }, "/tenants/nowhere/groups")).status).toBe(404);
    expect((await post({}, `/tenants/${domain()}/groups/Finance/members`)).status).toBe(400);
    expect((await post({ groups: ["Finance"] }, `/tenants/${domain()}/groups/Finance/members`)).status).toBe(400);
    expect((await post({ users: [upn("admin")] }, `/tenants/${domain()}/groups/Nope/members`)).status).toBe(404);
    expect((await admin(emu, "DELETE", `/tenants/${domain()}/groups/Finance/members/${upn("megan.bowen")}`)).status).toBe(404);
    expect((await admin(emu, "GET", `/tenants/${domain()}/groups/Finance/members`)).status).toBe(405);
    // Nothing half-applied.
    expect((await listGroups()).map((g) => g.displayName)).not.toContain("X");
  });

  it("assigns and removes roles by name or id; Graph and the user view follow", async () => {
    const megan = emu.admin.getUser(domain(), upn("megan.bowen"));
    const assigned = await admin(emu, "POST", `/tenants/${domain()}/roles`, { role: "privileged authentication administrator", user: upn("megan.bowen") });
    expect(assigned.status).toBe(201);
    const view = assigned.json<AdminRoleAssignmentView>();
    expect(view).toMatchObject({ roleDefinitionId: "7be44c8a-adaf-4e2a-84d6-ab2649e08a13", roleDisplayName: "Privileged Authentication Administrator", principalId: megan.id, userPrincipalName: upn("megan.bowen") });
    expect((await admin(emu, "POST", `/tenants/${domain()}/roles`, { role: GA, user: megan.id })).status).toBe(201);
    expect(emu.admin.getUser(domain(), megan.id).roles).toEqual(["Privileged Authentication Administrator", "Global Administrator"]);
    const graphView = await graph(emu, token, `/v1.0/roleManagement/directory/roleAssignments?$filter=${encodeURIComponent(`principalId eq '${megan.id}'`)}`);
    expect(graphView.json<{ value: { id: string }[] }>().value.map((a) => a.id)).toEqual([view.id, expect.any(String)]);

    expect((await admin(emu, "POST", `/tenants/${domain()}/roles`, { role: GA, user: megan.id })).status).toBe(400);
    expect((await admin(emu, "POST", `/tenants/${domain()}/roles`, { role: "Coffee Administrator", user: megan.id })).status).toBe(404);
    expect((await admin(emu, "POST", `/tenants/${domain()}/roles`, { role: GA, user: `ghost@${domain()}` })).status).toBe(404);
    expect((await admin(emu, "POST", `/tenants/${domain()}/roles`, { role: GA })).status).toBe(400);

    expect((await admin(emu, "DELETE", `/tenants/${domain()}/roles/${view.id}`)).status).toBe(204);
    expect((await admin(emu, "DELETE", `/tenants/${domain()}/roles/${view.id}`)).status).toBe(404);
    expect(emu.admin.getUser(domain(), megan.id).roles).toEqual(["Global Administrator"]);
  });

  it("POST /reset and POST /seed restore the seeded groups and roles", async () => {
    const before = { groups: await listGroups(), roles: emu.admin.listRoleAssignments(domain()) };
    await admin(emu, "POST", `/tenants/${domain()}/groups`, { displayName: "Temporary" });
    await admin(emu, "POST", `/tenants/${domain()}/groups/All%20Staff/members`, { users: [upn("breakglass")] });
    await admin(emu, "DELETE", `/tenants/${domain()}/roles/${before.roles[0]!.id}`);
    await admin(emu, "POST", "/reset");
    expect(await listGroups()).toEqual(before.groups);
    expect(emu.admin.listRoleAssignments(domain())).toEqual(before.roles);
    await admin(emu, "POST", "/seed", { users: 12 });
    expect(await listGroups()).toEqual(before.groups);
  });
});
