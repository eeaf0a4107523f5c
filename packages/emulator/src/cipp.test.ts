import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CIPP_API_ROLE } from "./cipp-apps.js";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { admin, form, send, tokenFor, type Reply } from "./test-helpers.js";

let emu: RunningEmulator;

beforeAll(async () => {
  emu = await startEmulator({ tenants: 3, users: 12, seed: "cipp-emulator" });
});
afterAll(async () => {
  await emu.close();
});
afterEach(() => {
  emu.admin.reset();
  emu.admin.configure({ cipp: { misreportFailures: false, ignoreUserId: false }, throttleLimits: { appTenantWrites: 3000 } });
});

const home = () => emu.tenants[0]!;
const customer = () => emu.tenants[1]!;

async function cippToken(app: { clientId: string; clientSecret: string } = emu.cipp.caller, scope = `${emu.cipp.identifierUri}/.default`, tenant = emu.cipp.tenantId): Promise<string> {
  const reply = await send(`${emu.authorityHost}/${tenant}/oauth2/v2.0/token`, {
    ...form({ grant_type: "client_credentials", client_id: app.clientId, client_secret: app.clientSecret, scope }),
    ca: emu.caPem,
  });
  if (reply.status !== 200) throw new Error(`token request failed: ${reply.status} ${reply.text}`);
  return reply.json<{ access_token: string }>().access_token;
}

function exec(token: string | undefined, body: unknown, path = "/api/ExecPerUserMFA"): Promise<Reply> {
  return send(`${emu.cipp.url}${path}`, {
    method: "POST",
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    body: typeof body === "string" ? body : (body as object),
    ca: emu.caPem,
  });
}

function list(token: string | undefined, endpoint: string, query: Record<string, string>): Promise<Reply> {
  return send(`${emu.cipp.url}/api/${endpoint}?${new URLSearchParams(query).toString()}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    ca: emu.caPem,
  });
}

const user = (tenant: string, ref: string) => emu.admin.getUser(tenant, ref);

describe("the CIPP instance and its credentials", () => {
  it("is served under /cipp on the HTTPS port, with CIPP-API in the first tenant and a caller that is its own resource", () => {
    expect(emu.cipp.url).toBe(`${emu.authorityHost}/cipp`);
    expect(emu.cipp.identifierUri).toBe(`api://${emu.cipp.clientId}`);
    expect(emu.cipp.tenantId).toBe(home().id);
    expect(emu.cipp.role).toBe(CIPP_API_ROLE);
    expect(emu.cipp.caller.clientId).toBe(emu.cipp.clientId);
    expect(emu.cipp.caller.clientSecret).toMatch(/^.{3}8Q~.{34}$/);
    expect(emu.admin.credentials().cipp).toEqual(emu.cipp);
  });

  it("follows the seed and survives /reset (CIPP-API is registered again)", async () => {
    const before = emu.cipp;
    const reply = await admin(emu, "POST", "/reset");
    expect(reply.json<{ cipp: unknown }>().cipp).toEqual(before);
    const token = await cippToken();
    expect((await list(token, "ListPerUserMFA", { tenantFilter: customer().domain, userId: `adele.vance@${customer().domain}` })).status).toBe(200);
  });
});

describe("ExecPerUserMFA", () => {
  it("sets the state through the emulator's Graph (a PATCH counted there) and answers CIPP's success line", async () => {
    const t = customer().domain;
    const upn = `alex.wilber@${t}`;
    const before = user(t, upn);
    const reply = await exec(await cippToken(), { tenantFilter: t, userPrincipalName: upn, State: "Enforced" });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ Results: [`Successfully set Per user MFA State for ${upn}`] });
    expect(user(t, upn)).toMatchObject({ perUserMfaState: "enforced", patchCount: before.patchCount + 1 });
    expect(emu.admin.stats().patches).toBe(1);
  });

  it("reads keys case-insensitively and State as a string or {label, value}", async () => {
    const t = customer().id;
    const upn = `alex.wilber@${customer().domain}`;
    const token = await cippToken();
    expect((await exec(token, { TENANTFILTER: t, UserPrincipalName: upn, state: { label: "Enabled", value: "enabled" } })).status).toBe(200);
    expect(user(t, upn).perUserMfaState).toBe("enabled");
    expect((await exec(token, { tenantfilter: t, USERPRINCIPALNAME: upn, STATE: "DISABLED" })).status).toBe(200);
    expect(user(t, upn).perUserMfaState).toBe("disabled");
  });

  it("accepts userId alone (an object id), and uses userId for a guest's UPN", async () => {
    const t = customer().domain;
    const token = await cippToken();
    const alex = user(t, `alex.wilber@${t}`);
    const byId = await exec(token, { tenantFilter: t, userId: alex.id, State: "enforced" });
    expect(byId.json()).toEqual({ Results: [`Successfully set Per user MFA State for ${alex.id}`] });
    expect(user(t, alex.id).perUserMfaState).toBe("enforced");

    const guest = user(t, `john.doe_fabrikam.com#EXT#@${t}`);
    const both = await exec(token, { tenantFilter: t, userPrincipalName: guest.userPrincipalName, userId: guest.id, State: "enforced" });
    expect(both.json()).toEqual({ Results: [`Successfully set Per user MFA State for ${guest.id}`] });
    expect(user(t, guest.id).perUserMfaState).toBe("enforced");
    // The careful variant: a guest's UPN alone is percent-encoded into the Graph URL and works.
    expect((await exec(token, { tenantFilter: t, userPrincipalName: guest.userPrincipalName, State: "disabled" })).status).toBe(200);
    expect(user(t, guest.id).perUserMfaState).toBe("disabled");
  });

  it("answers 500 with CIPP's failure line when Graph refuses, and changes nothing", async () => {
    const t = customer().domain;
    const upn = `alex.wilber@${t}`;
    emu.admin.addFaults([{ method: "PATCH", pathIncludes: "/authentication/requirements", status: 503, count: 1 }]);
    const reply = await exec(await cippToken(), { tenantFilter: t, userPrincipalName: upn, State: "enforced" });
    expect(reply.status).toBe(500);
    expect(reply.json()).toEqual({ Results: [`Failed to set MFA State to enforced for ${upn}. Error: The service is temporarily unavailable. Please retry later.`] });
    expect(user(t, upn).perUserMfaState).toBe("disabled");

    const missing = await exec(await cippToken(), { tenantFilter: t, userPrincipalName: `nobody@${t}`, State: "enforced" });
    expect(missing.status).toBe(500);
    expect(missing.json<{ Results: string[] }>().Results[0]).toMatch(/^Failed to set MFA State to enforced for nobody@\S+\. Error: Resource 'nobody@\S+' does not exist/);
  });

  it("misreportFailures: a failed Graph change is reported as success, as the real CIPP does", async () => {
    const t = customer().domain;
    const upn = `alex.wilber@${t}`;
    emu.admin.configure({ cipp: { misreportFailures: true } });
    emu.admin.addFaults([{ method: "PATCH", pathIncludes: "/authentication/requirements", status: 503, count: 1 }]);
    const reply = await exec(await cippToken(), { tenantFilter: t, userPrincipalName: upn, State: "enforced" });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ Results: [`Successfully set Per user MFA State for ${upn}`] });
    expect(user(t, upn)).toMatchObject({ perUserMfaState: "disabled", patchCount: 0 });
  });

  it("ignoreUserId: a body with only userId 'succeeds' without a change; with the UPN too it works", async () => {
    const t = customer().domain;
    const alex = user(t, `alex.wilber@${t}`);
    emu.admin.configure({ cipp: { ignoreUserId: true } });
    const token = await cippToken();
    const only = await exec(token, { tenantFilter: t, userId: alex.id, State: "enforced" });
    expect(only.status).toBe(200);
    expect(only.json<{ Results: string[] }>().Results[0]).toMatch(/^Successfully set Per user MFA State for/);
    expect(user(t, alex.id)).toMatchObject({ perUserMfaState: "disabled", patchCount: 0 });

    expect((await exec(token, { tenantFilter: t, userId: alex.id, userPrincipalName: alex.userPrincipalName, State: "enforced" })).status).toBe(200);
    expect(user(t, alex.id).perUserMfaState).toBe("enforced");
  });

  it("CIPP's Graph calls share the emulator's throttling: over the write budget the change fails with Graph's 429 message", async () => {
    const t = customer().domain;
    emu.admin.configure({ throttleLimits: { appTenantWrites: 1 } });
    const token = await cippToken();
    expect((await exec(token, { tenantFilter: t, userPrincipalName: `alex.wilber@${t}`, State: "enforced" })).status).toBe(200);
    const second = await exec(token, { tenantFilter: t, userPrincipalName: `megan.bowen@${t}`, State: "enforced" });
    expect(second.status).toBe(500);
    expect(second.json<{ Results: string[] }>().Results[0]).toMatch(/Error: Your request is throttled temporarily\. Please try after \d+ seconds\./);
    expect(emu.admin.stats().throttledTotal).toBe(1);
  });

  it("the host in front of CIPP fails on scripted rules naming /cipp/api/<Endpoint> (429 with Retry-After), then serves", async () => {
    const t = customer().domain;
    emu.admin.addFaults([{ pathIncludes: "/cipp/api/ExecPerUserMFA", status: 429, retryAfterSeconds: 2, count: 1 }]);
    const token = await cippToken();
    const body = { tenantFilter: t, userPrincipalName: `alex.wilber@${t}`, State: "enforced" };
    const throttled = await exec(token, body);
    expect(throttled.status).toBe(429);
    expect(throttled.headers["retry-after"]).toBe("2");
    expect(user(t, `alex.wilber@${t}`).perUserMfaState).toBe("disabled");
    expect((await exec(token, body)).status).toBe(200);
  });

  it("fails an unknown tenant (500, no token for it) and refuses malformed requests with 400", async () => {
    const token = await cippToken();
    const unknown = await exec(token, { tenantFilter: "nowhere.onmicrosoft.com", userPrincipalName: "a@nowhere.onmicrosoft.com", State: "enforced" });
    expect(unknown.status).toBe(500);
    expect(unknown.json<{ Results: string[] }>().Results[0]).toContain("AADSTS90002");
    const t = customer().domain;
    for (const bad of [{ tenantFilter: t, userPrincipalName: `alex.wilber@${t}` }, { tenantFilter: t, userPrincipalName: `alex.wilber@${t}`, State: "on" }, { userPrincipalName: `alex.wilber@${t}`, State: "enforced" }, { tenantFilter: t, State: "enforced" }]) {
      const reply = await exec(token, bad);
      expect(reply.status, JSON.stringify(bad)).toBe(400);
      expect(reply.json<{ Results: string[] }>().Results).toHaveLength(1);
    }
    expect((await exec(token, "{not json")).status).toBe(400);
    expect(emu.admin.stats().patches).toBe(0);
  });

  it("endpoint names are case-sensitive and each has its method", async () => {
    const token = await cippToken();
    const t = customer().domain;
    expect((await exec(token, { tenantFilter: t, userPrincipalName: `alex.wilber@${t}`, State: "enforced" }, "/api/execperusermfa")).status).toBe(404);
    expect((await send(`${emu.cipp.url}/api/ExecPerUserMFA`, { headers: { authorization: `Bearer ${token}` }, ca: emu.caPem })).status).toBe(404);
    expect((await send(`${emu.cipp.url}/api/Nothing`, { headers: { authorization: `Bearer ${token}` }, ca: emu.caPem })).status).toBe(404);
  });
});

describe("ListPerUserMFA", () => {
  it("one user: CIPP's row with the user as the caller named it; keys case-insensitive", async () => {
    const t = customer().domain;
    const megan = user(t, `megan.bowen@${t}`);
    const token = await cippToken();
    const byId = await list(token, "ListPerUserMFA", { TenantFilter: t, USERID: megan.id });
    expect(byId.status).toBe(200);
    expect(byId.json()).toEqual([{ PerUserMFAState: "enabled", UserPrincipalName: megan.id }]);
    const guest = await list(token, "ListPerUserMFA", { tenantFilter: t, userId: `john.doe_fabrikam.com#EXT#@${t}` });
    expect(guest.json()).toEqual([{ PerUserMFAState: "disabled", UserPrincipalName: `john.doe_fabrikam.com#EXT#@${t}` }]);
    const missing = await list(token, "ListPerUserMFA", { tenantFilter: t, userId: `nobody@${t}` });
    expect(missing.status).toBe(500);
    expect(missing.json<string[]>()[0]).toMatch(/^Failed to get MFA State for nobody@\S+ : Resource/);
  });

  it("allUsers=true: every user as Graph lists them (id, userPrincipalName, perUserMfaState), state as set through CIPP", async () => {
    const t = customer().domain;
    const token = await cippToken();
    await exec(token, { tenantFilter: t, userPrincipalName: `alex.wilber@${t}`, State: "enforced" });
    const reply = await list(token, "ListPerUserMFA", { tenantFilter: t, allUsers: "True" });
    expect(reply.status).toBe(200);
    const rows = reply.json<{ id: string; userPrincipalName: string; perUserMfaState: string }[]>();
    expect(rows).toHaveLength(customer().userCount);
    const expected = emu.admin.listUsers(t).map((u) => ({ id: u.id, userPrincipalName: u.userPrincipalName, perUserMfaState: u.perUserMfaState }));
    expect(rows.map((r) => ({ id: r.id, userPrincipalName: r.userPrincipalName, perUserMfaState: r.perUserMfaState }))).toEqual(expected);
    expect(rows.find((r) => r.userPrincipalName === `alex.wilber@${t}`)?.perUserMfaState).toBe("enforced");
  });
});

describe("ListMFAUsers", () => {
  interface Row {
    UPN: string; ID: string; DisplayName: string; AccountEnabled: boolean; UserType: string; isLicensed: boolean; PerUser: string | null;
    MFARegistration: boolean | null; MFACapable: boolean | null; MFAMethods: string[]; CoveredByCA: string;
    CAPolicies: { DisplayName: string; UserIncluded: boolean; AllApps: boolean; PolicyState: string }[]; CoveredBySD: boolean; IsAdmin: boolean; Tenant: string;
  }

  it("one tenant: CIPP's columns from the directory, Conditional Access, security defaults and the registration report", async () => {
    const token = await cippToken();
    const ca = home().domain;
    const rows = (await list(token, "ListMFAUsers", { tenantFilter: ca })).json<Row[]>();
    expect(rows).toHaveLength(home().userCount);
    const alex = rows.find((r) => r.UPN === `alex.wilber@${ca}`)!;
    expect(alex).toMatchObject({ ID: user(ca, alex.UPN).id, DisplayName: "Alex Wilber", AccountEnabled: true, UserType: "Member", isLicensed: true, PerUser: "disabled", MFARegistration: false, MFACapable: false, MFAMethods: [], CoveredByCA: "Enforced - All Apps", CoveredBySD: false, IsAdmin: false, Tenant: ca });
    expect(alex.CAPolicies.map((p) => p.DisplayName)).toContain("Require MFA for all users");
    expect(alex.CAPolicies.every((p) => p.UserIncluded && p.PolicyState !== "disabled")).toBe(true);
    const admin = rows.find((r) => r.UPN === `admin@${ca}`)!;
    expect(admin).toMatchObject({ IsAdmin: true, MFARegistration: true, PerUser: "enforced" });
    const breakglass = rows.find((r) => r.UPN === `breakglass@${ca}`)!;
    expect(breakglass.CAPolicies.map((p) => p.DisplayName)).not.toContain("Require MFA for all users");

    const sd = (await list(token, "ListMFAUsers", { tenantFilter: customer().domain })).json<Row[]>();
    expect(sd.every((r) => r.CoveredBySD && r.CoveredByCA === "Not Enforced")).toBe(true);
    const unlicensed = (await list(token, "ListMFAUsers", { tenantFilter: emu.tenants[2]!.id })).json<Row[]>();
    expect(unlicensed.every((r) => r.CoveredByCA === "Not Licensed for Conditional Access" && r.MFARegistration === null && r.CAPolicies.length === 0)).toBe(true);
  });

  it("AllTenants: every tenant's rows, each naming its tenant", async () => {
    const rows = (await list(await cippToken(), "ListMFAUsers", { tenantFilter: "AllTenants" })).json<Row[]>();
    expect(rows).toHaveLength(emu.tenants.reduce((n, t) => n + t.userCount, 0));
    expect(new Set(rows.map((r) => r.Tenant))).toEqual(new Set(emu.tenants.map((t) => t.domain)));
  });
});

describe("the bearer check (App Service authentication in front of CIPP)", () => {
  const probe = (token: string | undefined) => list(token, "ListPerUserMFA", { tenantFilter: customer().domain, userId: `adele.vance@${customer().domain}` });
  const expect401 = (reply: Reply, reason: RegExp) => {
    expect(reply.status).toBe(401);
    expect(reply.text).toBe("You do not have permission to view this directory or page.");
    expect(String(reply.headers["www-authenticate"])).toMatch(/^Bearer realm="https:\/\/127\.0\.0\.1:\d+", authorization_uri="[^"]+", resource_id="[0-9a-f-]{36}", error="invalid_token"/);
    expect(String(reply.headers["www-authenticate"])).toMatch(reason);
  };

  it("accepts the CIPP-API client's own token", async () => {
    expect((await probe(await cippToken())).status).toBe(200);
  });

  it("refuses no token, a Graph token and a token for mfactl's API", async () => {
    expect401(await probe(undefined), /No Authorization header/);
    expect401(await probe(await tokenFor(emu, home().id)), /not for CIPP-API/);
    expect401(await probe(await cippToken(emu.apiCallers.readWrite, `${emu.apiApp.identifierUri}/.default`)), /not for CIPP-API/);
    expect401(await probe("not-a-jwt"), /malformed/);
  });

  it("refuses an expired token, one from another tenant, a bad signature, and a caller without the role", async () => {
    const minted = (extra: Partial<Parameters<RunningEmulator["mintToken"]>[0]>) =>
      emu.mintToken({ tenant: emu.cipp.tenantId, clientId: emu.cipp.clientId, audience: emu.cipp.identifierUri, lifetimeSeconds: 3600, roles: [CIPP_API_ROLE], ...extra });
    expect((await probe((await minted({})).accessToken)).status).toBe(200);
    expect401(await probe((await minted({ lifetimeSeconds: -120 })).accessToken), /expired/);
    expect401(await probe((await minted({ tenant: customer().id })).accessToken), /issued by tenant/);
    expect401(await probe((await minted({ roles: [] })).accessToken), /does not hold the CIPPAPI\.Access role/);
    const good = (await minted({})).accessToken;
    expect401(await probe(`${good.slice(0, -4)}AAAA`), /signature/);

    // A registered app assigned to CIPP-API without the role gets a token, and CIPP refuses it; with the role it may call.
    const other = { clientId: "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5", clientSecret: "other-app-secret-value" };
    emu.admin.registerApp({ clientId: other.clientId, clientSecret: other.clientSecret, apiGrants: { [emu.cipp.identifierUri]: { [emu.cipp.tenantId]: [] } } });
    expect401(await probe(await cippToken(other)), /does not hold/);
    emu.admin.grantApiRoles(other.clientId, emu.cipp.identifierUri, emu.cipp.tenantId, [CIPP_API_ROLE]);
    expect((await probe(await cippToken(other))).status).toBe(200);
  });

  it("PATCH /config takes the weaknesses and refuses unknown ones", async () => {
    const ok = await admin(emu, "PATCH", "/config", { cipp: { misreportFailures: true } });
    expect(ok.json<{ cipp: unknown }>().cipp).toEqual({ misreportFailures: true, ignoreUserId: false });
    const bad = await admin(emu, "PATCH", "/config", { cipp: { trustEveryone: true } });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("unknown CIPP weakness");
  });
});
