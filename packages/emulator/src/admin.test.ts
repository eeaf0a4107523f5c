import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminUserView, TenantSummary } from "./admin.js";
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
