import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { DIRECTORY_SYNCHRONIZATION_ACCOUNTS, GLOBAL_ADMINISTRATOR, type ConditionalAccessPolicy, type Tenant } from "./model.js";
import {
  ADMIN_POLICY_ROLES, EXCHANGE_ONLINE_APP_ID, MFA_STRENGTH, postureKind, registrationDetails, seedPosture, SHAREPOINT_ONLINE_APP_ID, validatePolicy,
} from "./posture.js";
import { seedTenants } from "./seed.js";
import { admin, graph, ManualClock, tokenFor } from "./test-helpers.js";

const NAMES = ["Require MFA for admins", "Require MFA for all users", "MFA for Finance apps", "MFA or compliant device", "Report-only: block legacy", "Disabled policy"];

describe("seeded posture", () => {
  const tenants = seedTenants({ tenants: 6, users: 25, seed: "mfactl" });
  const [contoso, fabrikam, northwind] = tenants as [Tenant, Tenant, Tenant];
  const byUpn = (t: Tenant, local: string) => t.users.find((u) => u.userPrincipalName.startsWith(`${local}@`))!;
  const groupId = (t: Tenant, name: string) => t.groups.find((g) => g.displayName === name)!.id;

  it("gives contoso premium and six policies, fabrikam security defaults, northwind nothing; tenants 3+ cycle", () => {
    expect(tenants.map((t) => [t.premium, t.securityDefaultsEnabled, t.conditionalAccessPolicies.length])).toEqual([
      [true, false, 6], [true, true, 0], [false, false, 0], [true, false, 6], [true, true, 0], [false, false, 0],
    ]);
    expect([0, 1, 2, 3, 7].map(postureKind)).toEqual(["conditionalAccess", "securityDefaults", "unlicensed", "conditionalAccess", "securityDefaults"]);
    expect(contoso.conditionalAccessPolicies.map((p) => p.displayName)).toEqual(NAMES);
    expect(fabrikam.conditionalAccessPolicies).toEqual([]);
    expect(northwind.premium).toBe(false);
  });

  it("seeds the policies' conditions and controls as documented", () => {
    const [admins, all, finance, device, reportOnly, disabled] = contoso.conditionalAccessPolicies as [ConditionalAccessPolicy, ConditionalAccessPolicy, ConditionalAccessPolicy, ConditionalAccessPolicy, ConditionalAccessPolicy, ConditionalAccessPolicy];
    expect(admins.state).toBe("enabled");
    expect(admins.conditions.users).toEqual({
      includeUsers: [], excludeUsers: [], includeGroups: [], excludeGroups: [groupId(contoso, "Emergency Access")], includeRoles: [...ADMIN_POLICY_ROLES], excludeRoles: [],
      includeGuestsOrExternalUsers: null, excludeGuestsOrExternalUsers: null,
    });
    expect(admins.conditions.users.includeRoles).toContain(GLOBAL_ADMINISTRATOR);
    expect(admins.conditions.users.includeRoles).not.toContain(DIRECTORY_SYNCHRONIZATION_ACCOUNTS);
    expect(admins.conditions.applications).toEqual({ includeApplications: ["All"], excludeApplications: [], includeUserActions: [] });
    expect(admins.grantControls).toEqual({ operator: "OR", builtInControls: ["mfa"], customAuthenticationFactors: [], termsOfUse: [], authenticationStrength: null });
    expect(admins).toMatchObject({ conditions: { clientAppTypes: ["all"], platforms: null, locations: null }, sessionControls: null });
    expect(admins.createdDateTime).toMatch(/^2023-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    expect(all.conditions.users).toMatchObject({
      includeUsers: ["All"], excludeUsers: [byUpn(contoso, "breakglass").id], excludeGroups: [groupId(contoso, "MFA Exclusions")], excludeRoles: [DIRECTORY_SYNCHRONIZATION_ACCOUNTS],
    });
    expect(all.grantControls).toMatchObject({ builtInControls: [], authenticationStrength: MFA_STRENGTH });
    expect(finance.conditions.users.includeGroups).toEqual([groupId(contoso, "Finance")]);
    expect(finance.conditions.applications.includeApplications).toEqual([EXCHANGE_ONLINE_APP_ID, SHAREPOINT_ONLINE_APP_ID]);
    expect(device.conditions.users.includeGroups).toEqual([groupId(contoso, "All Staff")]);
    expect(device.grantControls).toMatchObject({ operator: "OR", builtInControls: ["mfa", "compliantDevice"] });
    expect(reportOnly).toMatchObject({ state: "enabledForReportingButNotEnforced", conditions: { users: { includeUsers: ["All"] } }, grantControls: { builtInControls: ["mfa"] } });
    expect(disabled).toMatchObject({ state: "disabled", grantControls: { builtInControls: ["mfa"] } });
  });

  it("keeps small tenants simple: no policy names a group that does not exist", () => {
    const [small] = seedTenants({ tenants: 1, users: 5, seed: "mfactl" }) as [Tenant];
    expect(small.groups).toEqual([]);
    expect(small.conditionalAccessPolicies.map((p) => p.displayName)).toEqual(["Require MFA for admins", "Require MFA for all users", "Report-only: block legacy", "Disabled policy"]);
    for (const p of small.conditionalAccessPolicies) expect([...p.conditions.users.includeGroups, ...p.conditions.users.excludeGroups, ...p.conditions.users.excludeUsers]).toEqual([]);
  });

  it("is deterministic and leaves the seeded users, groups and roles as they were", () => {
    const again = seedTenants({ tenants: 3, users: 25, seed: "mfactl" });
    expect(again.map((t) => t.conditionalAccessPolicies)).toEqual(tenants.slice(0, 3).map((t) => t.conditionalAccessPolicies));
    expect(again[0]!.users.map((u) => u.lastSignInDateTime)).toEqual(contoso.users.map((u) => u.lastSignInDateTime));
    // The ids seed.test.ts pins for generated users.
    expect(contoso.users.slice(9, 12).map((u) => u.id)).toEqual(["af2d1edf-aa2f-4d1c-b3f3-338bb03f616c", "1029d416-29d8-4a3b-a40f-14507425b34b", "ad1cc39f-aad0-4405-98d9-0e52eed10d6a"]);
    expect(fabrikam.users[9]!.id).toBe("d64632cc-6fe9-4e77-9f17-dd3002730160");
    // Re-running the posture with another seed changes nothing but the posture and sign-ins.
    const snapshot = (t: Tenant) => JSON.stringify({ users: t.users.map((u) => ({ ...u, lastSignInDateTime: undefined })), groups: t.groups, roles: t.roleAssignments });
    const before = snapshot(again[0]!);
    seedPosture("another", 0, again[0]!);
    expect(snapshot(again[0]!)).toBe(before);
    expect(again[0]!.conditionalAccessPolicies[0]!.id).not.toBe(contoso.conditionalAccessPolicies[0]!.id);
    // Sign-ins of earlier users stay put as the tenant grows.
    const big = seedTenants({ tenants: 1, users: 60, seed: "mfactl" })[0]!;
    expect(big.users.slice(0, 25).map((u) => u.lastSignInDateTime)).toEqual(contoso.users.map((u) => u.lastSignInDateTime));
  });

  it("seeds sign-ins: the named guest and break-glass never signed in, the former employee long ago, ~10% never", () => {
    expect(byUpn(contoso, "john.doe_fabrikam.com#EXT#").lastSignInDateTime).toBeNull();
    expect(byUpn(contoso, "breakglass").lastSignInDateTime).toBeNull();
    expect(Date.parse(byUpn(contoso, "former.employee").lastSignInDateTime!)).toBeLessThan(Date.UTC(2024, 5, 1));
    expect(byUpn(contoso, "admin").lastSignInDateTime).toMatch(/^202[45]-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const many = seedTenants({ tenants: 1, users: 10_000, seed: "signins" })[0]!.users;
    expect(many.filter((u) => u.lastSignInDateTime === null).length / many.length).toBeCloseTo(0.1, 1);
  });

  it("derives registration details from methods and roles", () => {
    const admins = new Set(contoso.roleAssignments.map((a) => a.principalId));
    const row = (local: string) => registrationDetails(byUpn(contoso, local), admins);
    expect(row("admin")).toMatchObject({
      userType: "member", isAdmin: true, isMfaRegistered: true, isMfaCapable: true, isPasswordlessCapable: false, methodsRegistered: ["microsoftAuthenticatorPush", "mobilePhone"],
      defaultMfaMethod: "microsoftAuthenticatorPush", userPreferredMethodForSecondaryAuthentication: "push", systemPreferredAuthenticationMethods: ["Push"], isSsprRegistered: true,
    });
    expect(row("alex.wilber")).toMatchObject({ isAdmin: false, isMfaRegistered: false, isMfaCapable: false, methodsRegistered: [], defaultMfaMethod: "none", isSsprCapable: false });
    // A FIDO2 key alone: registered for MFA and passwordless, but Graph's defaultMfaMethod has no FIDO2 value.
    expect(row("breakglass")).toMatchObject({ isAdmin: true, isMfaRegistered: true, isPasswordlessCapable: true, defaultMfaMethod: "none", systemPreferredAuthenticationMethods: ["Fido2"] });
    expect(row("o'brien")).toMatchObject({ defaultMfaMethod: "mobilePhone", userPreferredMethodForSecondaryAuthentication: "sms" });
    expect(row("john.doe_fabrikam.com#EXT#")).toMatchObject({ userType: "guest", isSsprEnabled: false, isMfaRegistered: false });
    expect(Object.keys(row("admin"))).toEqual([
      "id", "userPrincipalName", "userDisplayName", "userType", "isAdmin", "isSsprRegistered", "isSsprEnabled", "isSsprCapable", "isMfaRegistered", "isMfaCapable",
      "isPasswordlessCapable", "methodsRegistered", "isSystemPreferredAuthenticationMethodEnabled", "systemPreferredAuthenticationMethods",
      "userPreferredMethodForSecondaryAuthentication", "defaultMfaMethod", "lastUpdatedDateTime",
    ]);
  });

  it("validates admin policies: Graph's shape, defaults for missing lists, clear errors", () => {
    const p = validatePolicy(
      { displayName: "X", state: "enabled", conditions: { users: { includeUsers: ["All"] }, applications: { includeApplications: ["Office365"] } }, grantControls: { operator: "AND", builtInControls: ["mfa"] } },
      "11111111-1111-4111-8111-111111111111", "2025-06-01T00:00:00Z",
    );
    expect(p).toMatchObject({ id: "11111111-1111-4111-8111-111111111111", createdDateTime: "2025-06-01T00:00:00Z", modifiedDateTime: null, sessionControls: null });
    expect(p.conditions.users.excludeGroups).toEqual([]);
    expect(p.conditions.clientAppTypes).toEqual(["all"]);
    const base = { displayName: "X", state: "enabled", conditions: { users: {}, applications: { includeApplications: ["All"] } }, grantControls: null };
    const bad = (patch: object) => () => validatePolicy({ ...base, ...patch }, "11111111-1111-4111-8111-111111111111", "2025-06-01T00:00:00Z");
    expect(bad({ state: "on" })).toThrow(/state must be one of/);
    expect(bad({ displayName: "" })).toThrow(/displayName/);
    expect(bad({ conditions: { users: { includeUsers: ["everyone"] }, applications: { includeApplications: ["All"] } } })).toThrow(/includeUsers: 'everyone'/);
    expect(bad({ grantControls: { builtInControls: ["sms"] } })).toThrow(/builtInControls/);
    expect(bad({ grantControls: { builtInControls: [] } })).toThrow(/needs builtInControls or an authenticationStrength/);
    expect(bad({ colour: "red" })).toThrow(/unknown policy property 'colour'/);
    expect(bad({ conditions: { users: {}, applications: {} } })).toThrow(/includeApplications is required/);
  });
});

describe("posture endpoints over HTTPS", () => {
  let emu: RunningEmulator;
  let token: string;
  let readOnly: string;
  let northwind: string;
  let fabrikam: string;
  let bare: string;
  const clock = new ManualClock();
  const BARE_APP = { clientId: "0d7a5b9e-1f1c-4a43-9a53-6b0c1b9f0a11", clientSecret: "bare-secret" };
  const domain = () => emu.tenants[0]!.domain;

  beforeAll(async () => {
    emu = await startEmulator({ clock, tenants: 3, users: 25 });
    token = await tokenFor(emu, emu.tenants[0]!.id);
    readOnly = await tokenFor(emu, emu.tenants[0]!.id, emu.readOnlyApp);
    fabrikam = await tokenFor(emu, emu.tenants[1]!.id);
    northwind = await tokenFor(emu, emu.tenants[2]!.id);
    emu.admin.registerApp({ clientId: BARE_APP.clientId, clientSecret: BARE_APP.clientSecret, tenants: { "*": ["User.Read.All"] } });
    bare = await tokenFor(emu, emu.tenants[0]!.id, BARE_APP);
  });
  afterAll(async () => {
    await emu.close();
  });
  // Past both special limits before each test.
  beforeEach(() => clock.advance(20_000));

  const errorOf = (r: { json: <T>() => T }) => r.json<{ error: { code: string; message: string } }>().error;

  it("serves security defaults with Graph's fixed id, per tenant, to Policy.Read.All", async () => {
    const reply = await graph(emu, readOnly, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy");
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({
      "@odata.context": `${emu.graphUrl}/v1.0/$metadata#policies/identitySecurityDefaultsEnforcementPolicy/$entity`,
      id: "00000000-0000-0000-0000-000000000005",
      displayName: "Security Defaults",
      description: expect.stringMatching(/^Security defaults is a set of basic identity security mechanisms/),
      isEnabled: false,
    });
    expect(reply.headers["x-ms-resource-unit"]).toBe("1");
    expect((await graph(emu, fabrikam, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")).json()["isEnabled"]).toBe(true);
    // Security defaults need no premium licence.
    expect((await graph(emu, northwind, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy?$select=isEnabled")).json()).toEqual({
      "@odata.context": `${emu.graphUrl}/v1.0/$metadata#policies/identitySecurityDefaultsEnforcementPolicy(isEnabled)/$entity`,
      isEnabled: false,
    });
    const denied = await graph(emu, bare, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy");
    expect([denied.status, errorOf(denied).code]).toEqual([403, "Authorization_RequestDenied"]);
    expect((await graph(emu, token, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy", { method: "PATCH", body: { isEnabled: true } })).status).toBe(405);
  });

  it("lists Conditional Access policies in Graph's shape; one by id; 404 for another", async () => {
    const reply = await graph(emu, token, "/v1.0/identity/conditionalAccess/policies");
    expect(reply.status).toBe(200);
    const body = reply.json<{ "@odata.context": string; value: ConditionalAccessPolicy[] }>();
    expect(body["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#identity/conditionalAccess/policies`);
    expect(body.value.map((p) => p.displayName)).toEqual(NAMES);
    expect(body.value).toEqual(emu.admin.listConditionalAccessPolicies(domain()));
    expect(Object.keys(body.value[0]!)).toEqual(["id", "displayName", "state", "createdDateTime", "modifiedDateTime", "conditions", "grantControls", "sessionControls"]);
    expect(reply.headers["x-ms-resource-unit"]).toBe("2");
    clock.advance(1000);
    const one = await graph(emu, readOnly, `/beta/identity/conditionalAccess/policies/${body.value[1]!.id}`);
    expect(one.json()).toEqual({ "@odata.context": `${emu.graphUrl}/beta/$metadata#identity/conditionalAccess/policies/$entity`, ...body.value[1] });
    clock.advance(1000);
    const missing = await graph(emu, token, "/v1.0/identity/conditionalAccess/policies/11111111-1111-4111-8111-111111111111");
    expect([missing.status, errorOf(missing).code]).toEqual([404, "Request_ResourceNotFound"]);
    expect((await graph(emu, fabrikam, "/v1.0/identity/conditionalAccess/policies")).json()["value"]).toEqual([]);
  });

  it("refuses Conditional Access without premium or Policy.Read.All", async () => {
    const free = await graph(emu, northwind, "/v1.0/identity/conditionalAccess/policies");
    expect(free.status).toBe(403);
    expect(errorOf(free)).toMatchObject({ code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant", message: "Neither tenant is B2C or tenant doesn't have premium license" });
    const denied = await graph(emu, bare, "/v1.0/identity/conditionalAccess/policies");
    expect([denied.status, errorOf(denied).code]).toEqual([403, "Authorization_RequestDenied"]);
  });

  it("throttles Conditional Access to 1 request per second per tenant with a 429 without Retry-After", async () => {
    expect((await graph(emu, token, "/v1.0/identity/conditionalAccess/policies")).status).toBe(200);
    // Another app in the same tenant shares the limit.
    const denied = await graph(emu, readOnly, "/v1.0/identity/conditionalAccess/policies");
    expect(denied.status).toBe(429);
    expect(errorOf(denied).code).toBe("TooManyRequests");
    expect(denied.headers["retry-after"]).toBeUndefined();
    expect(denied.headers["x-ms-throttle-scope"]).toBe(`Tenant/ConditionalAccess/${emu.readOnlyApp.clientId}/${emu.tenants[0]!.id}`);
    // Other tenants and other endpoints are not held back.
    expect((await graph(emu, fabrikam, "/v1.0/identity/conditionalAccess/policies")).status).toBe(200);
    expect((await graph(emu, token, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")).status).toBe(200);
    clock.advance(1000);
    expect((await graph(emu, token, "/v1.0/identity/conditionalAccess/policies")).status).toBe(200);
  });

  interface RegistrationRow { id: string; userPrincipalName: string; userType: string; isAdmin: boolean; isMfaRegistered: boolean; defaultMfaMethod: string; methodsRegistered: string[] }
  const REPORT = "/beta/reports/authenticationMethods/userRegistrationDetails";

  it("lists registration details for enabled users only, derived from methods and roles", async () => {
    const reply = await graph(emu, token, REPORT);
    expect(reply.status).toBe(200);
    const body = reply.json<{ "@odata.context": string; value: RegistrationRow[] }>();
    expect(body["@odata.context"]).toBe(`${emu.graphUrl}/beta/$metadata#reports/authenticationMethods/userRegistrationDetails`);
    const t = emu.admin.listUsers(domain());
    const enabled = t.filter((u) => emu.admin.getUser(domain(), u.id).accountEnabled);
    expect(body.value.map((r) => r.id)).toEqual(enabled.map((u) => u.id));
    const upns = body.value.map((r) => r.userPrincipalName.split("@")[0]);
    expect(upns).not.toContain("former.employee");
    const row = (local: string) => body.value.find((r) => r.userPrincipalName.startsWith(`${local}@`))!;
    expect(row("admin")).toMatchObject({ isAdmin: true, isMfaRegistered: true, defaultMfaMethod: "microsoftAuthenticatorPush" });
    expect(row("adele.vance")).toMatchObject({ isAdmin: false, isMfaRegistered: true, methodsRegistered: ["microsoftAuthenticatorPush"] });
    expect(row("alex.wilber")).toMatchObject({ isMfaRegistered: false, defaultMfaMethod: "none", methodsRegistered: [] });
    expect(row("john.doe_fabrikam.com#EXT#").userType).toBe("guest");
    expect(body.value.find((r) => r.userPrincipalName.startsWith("Sync_"))!.isAdmin).toBe(true);
    // Changes show at once: a registered method, a new role.
    emu.admin.patchUser(domain(), `alex.wilber@${domain()}`, { methods: ["softwareOneTimePasscode"] });
    emu.admin.assignRole(domain(), { role: "Security Administrator", user: `alex.wilber@${domain()}` });
    const again = (await graph(emu, token, `${REPORT}/${row("alex.wilber").id}`)).json<RegistrationRow>();
    expect(again).toMatchObject({ isAdmin: true, isMfaRegistered: true, defaultMfaMethod: "softwareOneTimePassword", methodsRegistered: ["softwareOneTimePasscode"] });
    emu.admin.reset();
  });

  it("pages with $top and filters on userType and booleans; other filters 400", async () => {
    const seen: string[] = [];
    let url: string | undefined = `${REPORT}?$top=10`;
    while (url) {
      const page: { value: RegistrationRow[]; "@odata.nextLink"?: string } = (await graph(emu, token, url)).json();
      expect(page.value.length).toBeLessThanOrEqual(10);
      seen.push(...page.value.map((r) => r.id));
      url = page["@odata.nextLink"]?.slice(emu.graphUrl.length);
    }
    expect(seen.length).toBe(new Set(seen).size);
    clock.advance(10_000);
    const all = (await graph(emu, token, REPORT)).json<{ value: RegistrationRow[] }>().value;
    expect(seen).toEqual(all.map((r) => r.id));
    const members = (await graph(emu, token, `${REPORT}?$filter=${encodeURIComponent("userType eq 'member'")}`)).json<{ value: RegistrationRow[] }>().value;
    expect(members.every((r) => r.userType === "member")).toBe(true);
    expect(members.length).toBe(all.filter((r) => r.userType === "member").length);
    const admins = (await graph(emu, token, `${REPORT}?$filter=${encodeURIComponent("userType eq 'member' and isAdmin eq true")}&$select=id,isAdmin`)).json<{ value: Record<string, unknown>[] }>().value;
    expect(admins.map((r) => r["id"])).toEqual(all.filter((r) => r.isAdmin).map((r) => r.id));
    expect(Object.keys(admins[0]!)).toEqual(["id", "isAdmin"]);
    const bad = await graph(emu, token, `${REPORT}?$filter=${encodeURIComponent("startswith(userPrincipalName,'a')")}`);
    expect([bad.status, errorOf(bad).code]).toEqual([400, "Request_UnsupportedQuery"]);
  });

  it("throttles the report to 5 requests per 10 s per app + tenant, with Retry-After", async () => {
    for (let i = 0; i < 5; i++) expect((await graph(emu, token, `${REPORT}?$top=1`)).status).toBe(200);
    const denied = await graph(emu, token, `${REPORT}?$top=1`);
    expect(denied.status).toBe(429);
    expect(denied.headers["retry-after"]).toBe("2");
    expect(denied.headers["x-ms-throttle-scope"]).toBe(`Tenant_Application/Reports/${emu.clientId}/${emu.tenants[0]!.id}`);
    // The read-only app has its own limit.
    expect((await graph(emu, readOnly, `${REPORT}?$top=1`)).status).toBe(200);
    clock.advance(2000);
    expect((await graph(emu, token, `${REPORT}?$top=1`)).status).toBe(200);
  });

  it("refuses the report without premium or AuditLog.Read.All", async () => {
    const free = await graph(emu, northwind, REPORT);
    expect(free.status).toBe(403);
    expect(errorOf(free)).toMatchObject({ code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant", message: "Neither tenant is B2C or tenant doesn't have premium license" });
    const denied = await graph(emu, bare, REPORT);
    expect([denied.status, errorOf(denied).code]).toEqual([403, "Authorization_RequestDenied"]);
  });

  it("selects signInActivity on users: Graph's six properties, nulls when never signed in, page size at most 500", async () => {
    const reply = await graph(emu, token, "/v1.0/users?$select=id,userPrincipalName,signInActivity&$top=500");
    expect(reply.status).toBe(200);
    const users = reply.json<{ value: { userPrincipalName: string; signInActivity: Record<string, string | null> }[] }>().value;
    const of = (local: string) => users.find((u) => u.userPrincipalName.startsWith(`${local}@`))!.signInActivity;
    expect(Object.keys(of("admin"))).toEqual([
      "lastSignInDateTime", "lastSignInRequestId", "lastNonInteractiveSignInDateTime", "lastNonInteractiveSignInRequestId", "lastSuccessfulSignInDateTime", "lastSuccessfulSignInRequestId",
    ]);
    expect(of("admin").lastSignInDateTime).toBe(emu.admin.getUser(domain(), `admin@${domain()}`).lastSignInDateTime);
    expect(of("admin").lastSignInRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Object.values(of("breakglass"))).toEqual([null, null, null, null, null, null]);
    const one = await graph(emu, token, `/v1.0/users/admin@${domain()}?$select=signInActivity`);
    expect(one.json()["signInActivity"]).toEqual(of("admin"));
    // Not selected, not there.
    expect((await graph(emu, token, "/v1.0/users?$top=1")).json<{ value: object[] }>().value[0]).not.toHaveProperty("signInActivity");
    const tooBig = await graph(emu, token, "/v1.0/users?$select=id,signInActivity&$top=999");
    expect(tooBig.status).toBe(400);
    expect(errorOf(tooBig).message).toMatch(/Must be between 1 and 500 inclusive when signInActivity is selected/);
    expect((await graph(emu, token, "/v1.0/users?$select=id&$top=999")).status).toBe(200);
    // An admin change of the last sign-in shows.
    emu.admin.patchUser(domain(), `breakglass@${domain()}`, { lastSignInDateTime: "2025-05-30T12:00:00Z" });
    expect((await graph(emu, token, `/v1.0/users/breakglass@${domain()}?$select=signInActivity`)).json<{ signInActivity: { lastSignInDateTime: string } }>().signInActivity.lastSignInDateTime).toBe("2025-05-30T12:00:00Z");
    emu.admin.reset();
  });

  it("refuses signInActivity without AuditLog.Read.All or premium", async () => {
    const denied = await graph(emu, bare, "/v1.0/users?$select=id,signInActivity");
    expect([denied.status, errorOf(denied).code]).toEqual([403, "Authorization_RequestDenied"]);
    expect((await graph(emu, bare, "/v1.0/users?$select=id")).status).toBe(200);
    const free = await graph(emu, northwind, "/v1.0/users?$select=id,signInActivity");
    expect(free.status).toBe(403);
    expect(errorOf(free)).toMatchObject({ code: "Authentication_RequestFromNonPremiumTenantOrB2CTenant", message: "Tenant is not a B2C tenant and doesn't have premium license" });
    const single = await graph(emu, northwind, `/v1.0/users/admin@${emu.tenants[2]!.domain}?$select=signInActivity`);
    expect(errorOf(single).code).toBe("Authentication_RequestFromNonPremiumTenantOrB2CTenant");
  });

  it("serves every posture source inside $batch, each throttled on its own", async () => {
    const reply = await graph(emu, token, "/beta/$batch", {
      method: "POST",
      body: {
        requests: [
          { id: "sd", method: "GET", url: "/policies/identitySecurityDefaultsEnforcementPolicy" },
          { id: "ca", method: "GET", url: "/identity/conditionalAccess/policies" },
          { id: "ca2", method: "GET", url: "/identity/conditionalAccess/policies", dependsOn: ["ca"] },
          { id: "reg", method: "GET", url: "/reports/authenticationMethods/userRegistrationDetails?$top=5" },
          { id: "sign", method: "GET", url: "/users?$select=id,signInActivity&$top=5" },
        ],
      },
    });
    expect(reply.status).toBe(200);
    const byId = new Map(reply.json<{ responses: { id: string; status: number; headers: Record<string, string>; body: Record<string, unknown> }[] }>().responses.map((r) => [r.id, r]));
    expect(byId.get("sd")!.status).toBe(200);
    expect(byId.get("ca")!.status).toBe(200);
    expect((byId.get("ca")!.body["value"] as unknown[]).length).toBe(6);
    expect(byId.get("ca2")!.status).toBe(429);
    expect(byId.get("ca2")!.headers["Retry-After"]).toBeUndefined();
    expect(byId.get("reg")!.status).toBe(200);
    expect((byId.get("reg")!.body["value"] as unknown[]).length).toBe(5);
    expect(byId.get("sign")!.status).toBe(200);
  });
});

describe("posture admin interface", () => {
  let emu: RunningEmulator;
  const clock = new ManualClock();
  beforeAll(async () => {
    emu = await startEmulator({ clock, tenants: 3, users: 12 });
  });
  afterAll(async () => {
    await emu.close();
  });
  beforeEach(() => clock.advance(20_000));
  const domain = () => emu.tenants[0]!.domain;
  const policyBody = {
    displayName: "Block legacy for guests",
    state: "enabled",
    conditions: { users: { includeUsers: ["GuestsOrExternalUsers"] }, applications: { includeApplications: ["All"] }, clientAppTypes: ["exchangeActiveSync", "other"] },
    grantControls: { operator: "OR", builtInControls: ["block"] },
  };

  it("reads and changes licence and security defaults; Graph follows", async () => {
    expect((await admin(emu, "GET", `/tenants/${emu.tenants[2]!.domain}/posture`)).json()).toEqual({ premium: false, securityDefaultsEnabled: false });
    const patched = await admin(emu, "PATCH", `/tenants/${domain()}/posture`, { premium: false, securityDefaultsEnabled: true });
    expect(patched.json()).toEqual({ premium: false, securityDefaultsEnabled: true });
    const token = await tokenFor(emu, emu.tenants[0]!.id);
    expect((await graph(emu, token, "/v1.0/identity/conditionalAccess/policies")).status).toBe(403);
    expect((await graph(emu, token, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")).json()["isEnabled"]).toBe(true);
    expect((await admin(emu, "PATCH", `/tenants/${domain()}/posture`, { premium: "yes" })).status).toBe(400);
    expect((await admin(emu, "PATCH", `/tenants/${domain()}/posture`, { licence: true })).status).toBe(400);
    expect((await admin(emu, "GET", "/tenants/nowhere/posture")).status).toBe(404);
    await admin(emu, "POST", "/reset");
    expect(emu.admin.posture(domain())).toEqual({ premium: true, securityDefaultsEnabled: false });
  });

  it("lists, adds (validated) and deletes Conditional Access policies; reset restores the seed", async () => {
    const seeded = (await admin(emu, "GET", `/tenants/${domain()}/conditional-access`)).json<ConditionalAccessPolicy[]>();
    expect(seeded.map((p) => p.displayName)).toEqual(NAMES);
    const created = await admin(emu, "POST", `/tenants/${domain()}/conditional-access`, policyBody);
    expect(created.status).toBe(201);
    const policy = created.json<ConditionalAccessPolicy>();
    expect(policy).toMatchObject({ displayName: "Block legacy for guests", state: "enabled", modifiedDateTime: null, sessionControls: null });
    expect(policy.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(policy.createdDateTime).toBe(new Date(clock.now()).toISOString().replace(/\.\d+Z$/, "Z"));
    expect(policy.conditions.users.includeUsers).toEqual(["GuestsOrExternalUsers"]);
    expect(policy.conditions.clientAppTypes).toEqual(["exchangeActiveSync", "other"]);
    const token = await tokenFor(emu, emu.tenants[0]!.id);
    expect((await graph(emu, token, `/v1.0/identity/conditionalAccess/policies/${policy.id}`)).json()["displayName"]).toBe("Block legacy for guests");
    const invalid = await admin(emu, "POST", `/tenants/${domain()}/conditional-access`, { ...policyBody, state: "on" });
    expect([invalid.status, invalid.json<{ error: { code: string } }>().error.code]).toEqual([400, "BadRequest"]);
    const dup = await admin(emu, "POST", `/tenants/${domain()}/conditional-access`, { ...policyBody, id: policy.id });
    expect(dup.status).toBe(400);
    expect((await admin(emu, "DELETE", `/tenants/${domain()}/conditional-access/${seeded[5]!.id}`)).status).toBe(204);
    expect((await admin(emu, "DELETE", `/tenants/${domain()}/conditional-access/${seeded[5]!.id}`)).status).toBe(404);
    expect(emu.admin.listConditionalAccessPolicies(domain()).map((p) => p.displayName)).toEqual([...NAMES.slice(0, 5), "Block legacy for guests"]);
    emu.admin.reset();
    expect(emu.admin.listConditionalAccessPolicies(domain())).toEqual(seeded);
  });

  it("sets a user's last sign-in and account state; rejects bad values", async () => {
    const upn = encodeURIComponent(`alex.wilber@${domain()}`);
    const view = (await admin(emu, "PATCH", `/tenants/${domain()}/users/${upn}`, { lastSignInDateTime: null, accountEnabled: false })).json<{ lastSignInDateTime: string | null; accountEnabled: boolean }>();
    expect(view).toMatchObject({ lastSignInDateTime: null, accountEnabled: false });
    expect((await admin(emu, "PATCH", `/tenants/${domain()}/users/${upn}`, { lastSignInDateTime: "yesterday" })).status).toBe(400);
    const token = await tokenFor(emu, emu.tenants[0]!.id);
    const rows = (await graph(emu, token, "/beta/reports/authenticationMethods/userRegistrationDetails")).json<{ value: { userPrincipalName: string }[] }>().value;
    expect(rows.some((r) => r.userPrincipalName === `alex.wilber@${domain()}`)).toBe(false);
    emu.admin.reset();
  });
});
