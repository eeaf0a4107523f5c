/** Partner mode in Graph over HTTPS: GDAP customers and relationships, app registrations' secret expiry, licences, planted problems. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_READER } from "./partner.js";
import { form, graph, ManualClock, send, tokenFor } from "./test-helpers.js";

let emu: RunningEmulator;
const clock = new ManualClock(Date.UTC(2026, 2, 1));
beforeAll(async () => {
  emu = await startEmulator({ tenants: 1, users: 10, clock, partner: { customers: 4, usersPerCustomer: 10, planted: true } });
});
afterAll(async () => {
  await emu.close();
});

interface Page<T = Record<string, unknown>> {
  value: T[];
  "@odata.nextLink"?: string;
}

async function delegatedPartnerToken(): Promise<string> {
  const post = (path: string, values: Record<string, string>) => send(`${emu.authorityHost}${path}`, { ...form(values), ca: emu.caPem });
  const dc = (await post("/organizations/oauth2/v2.0/devicecode", { client_id: emu.clientId, scope: `${emu.graphUrl}/.default offline_access` })).json<{ device_code: string; user_code: string }>();
  emu.admin.approveDeviceCode(dc.user_code, emu.partner!.admin.userPrincipalName);
  const r = await post(`/${emu.partner!.tenantId}/oauth2/v2.0/token`, { grant_type: "device_code", client_id: emu.clientId, device_code: dc.device_code });
  expect(r.status, r.text).toBe(200);
  return r.json<{ access_token: string }>().access_token;
}

describe("GET /tenantRelationships/delegatedAdminCustomers", () => {
  it("lists the customers with a relationship (app-only and delegated), paged, without the one that has none", async () => {
    const p = emu.partner!;
    const expected = [...p.customers.map((c) => c.tenantId), p.planted!.missingRole.tenantId, p.planted!.noConsent.tenantId, p.planted!.missingPermission.tenantId, p.planted!.noLicence.tenantId];
    for (const token of [await tokenFor(emu, p.tenantId), await delegatedPartnerToken()]) {
      const seen: string[] = [];
      let next: string | undefined = "/v1.0/tenantRelationships/delegatedAdminCustomers?$top=3";
      while (next !== undefined) {
        const r = await graph(emu, token, next);
        expect(r.status, r.text).toBe(200);
        const page: Page = r.json<Page>();
        for (const c of page.value) {
          expect(c["id"]).toBe(c["tenantId"]);
          seen.push(String(c["tenantId"]));
        }
        next = page["@odata.nextLink"]?.slice(emu.graphUrl.length);
      }
      expect(seen.sort()).toEqual([...expected].sort());
      expect(seen).not.toContain(p.planted!.noRelationship.tenantId);
    }
  });

  it("needs DelegatedAdminRelationship.Read.All (a customer's app token has it not)", async () => {
    const token = await tokenFor(emu, emu.partner!.customers[0]!.tenantId);
    expect((await graph(emu, token, "/v1.0/tenantRelationships/delegatedAdminCustomers")).status).toBe(403);
  });
});

describe("GET /tenantRelationships/delegatedAdminRelationships", () => {
  it("filters by customer/tenantId and shows status and roles; reads one and its access assignments", async () => {
    const token = await tokenFor(emu, emu.partner!.tenantId);
    const c = emu.partner!.planted!.missingRole;
    const r = await graph(emu, token, `/v1.0/tenantRelationships/delegatedAdminRelationships?$filter=${encodeURIComponent(`customer/tenantId eq '${c.tenantId}'`)}`);
    expect(r.status, r.text).toBe(200);
    const rels = r.json<Page>().value;
    expect(rels).toHaveLength(1);
    expect(rels[0]).toMatchObject({ status: "active", customer: { tenantId: c.tenantId, displayName: c.displayName }, accessDetails: { unifiedRoles: [{ roleDefinitionId: GLOBAL_READER }] }, duration: "P730D" });
    const id = String(rels[0]!["id"]);
    const one = await graph(emu, token, `/v1.0/tenantRelationships/delegatedAdminRelationships/${id}`);
    expect(one.json()["id"]).toBe(id);
    const assignments = await graph(emu, token, `/v1.0/tenantRelationships/delegatedAdminRelationships/${id}/accessAssignments`);
    expect(assignments.json<Page>().value[0]).toMatchObject({ accessContainer: { accessContainerType: "securityGroup" } });
    expect((await graph(emu, token, "/v1.0/tenantRelationships/delegatedAdminRelationships/nope")).status).toBe(404);

    const healthy = emu.partner!.customers[0]!;
    const h = await graph(emu, token, `/v1.0/tenantRelationships/delegatedAdminRelationships?$filter=${encodeURIComponent(`customer/tenantId eq '${healthy.tenantId}'`)}`);
    const roles = (h.json<Page<{ accessDetails: { unifiedRoles: { roleDefinitionId: string }[] } }>>().value[0]?.accessDetails.unifiedRoles ?? []).map((x) => x.roleDefinitionId);
    expect(roles).toEqual(expect.arrayContaining([AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_READER]));
  });
});

describe("GET /applications and /subscribedSkus", () => {
  it("shows the app's secret expiry; an expired secret and a changed expiry are visible", async () => {
    const token = await tokenFor(emu, emu.partner!.tenantId);
    const list = async (appId: string) => {
      const r = await graph(emu, token, `/v1.0/applications?$filter=${encodeURIComponent(`appId eq '${appId}'`)}`);
      expect(r.status, r.text).toBe(200);
      return r.json<Page<{ appId: string; passwordCredentials: { keyId: string; endDateTime: string }[]; keyCredentials: unknown[] }>>().value;
    };
    const [main] = await list(emu.clientId);
    expect(main?.appId).toBe(emu.clientId);
    expect(Date.parse(main!.passwordCredentials[0]!.endDateTime)).toBeGreaterThan(clock.now());
    expect(main!.keyCredentials).toHaveLength(1);
    const [expired] = await list(emu.partner!.planted!.expiredSecretApp.clientId);
    expect(Date.parse(expired!.passwordCredentials[0]!.endDateTime)).toBeLessThan(clock.now());

    emu.admin.setSecretExpiry(emu.clientId, "2026-03-10T00:00:00Z");
    expect((await list(emu.clientId))[0]?.passwordCredentials[0]?.endDateTime).toBe("2026-03-10T00:00:00Z");
    emu.admin.expireSecret(emu.clientId);
    const r = await send(`${emu.authorityHost}/${emu.partner!.tenantId}/oauth2/v2.0/token`, {
      ...form({ grant_type: "client_credentials", client_id: emu.clientId, client_secret: emu.clientSecret, scope: `${emu.graphUrl}/.default` }),
      ca: emu.caPem,
    });
    expect(r.json<{ error_codes: number[] }>().error_codes).toEqual([7000222]);
    emu.admin.setSecretExpiry(emu.clientId, "2028-01-01T00:00:00Z");
    // A customer tenant holds no application object of the partner's app.
    const customer = await tokenFor(emu, emu.partner!.customers[0]!.tenantId);
    expect((await graph(emu, customer, `/v1.0/applications?$filter=${encodeURIComponent(`appId eq '${emu.clientId}'`)}`)).status).toBe(403);
  });

  it("licensed customers have AAD_PREMIUM; the planted noLicence customer has not", async () => {
    const plans = async (tenantId: string) => {
      const r = await graph(emu, await tokenFor(emu, tenantId), "/v1.0/subscribedSkus");
      expect(r.status, r.text).toBe(200);
      return r.json<Page<{ skuPartNumber: string; servicePlans: { servicePlanName: string }[] }>>().value.flatMap((s) => s.servicePlans.map((p) => p.servicePlanName));
    };
    expect(await plans(emu.partner!.customers[0]!.tenantId)).toContain("AAD_PREMIUM");
    expect(await plans(emu.partner!.planted!.noLicence.tenantId)).not.toContain("AAD_PREMIUM");
  });

  it("the missingPermission customer's consent lacks Policy.Read.All: posture sources answer 403, users still 200", async () => {
    const token = await tokenFor(emu, emu.partner!.planted!.missingPermission.tenantId);
    expect((await graph(emu, token, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")).status).toBe(403);
    expect((await graph(emu, token, "/v1.0/users?$top=1")).status).toBe(200);
    const healthy = await tokenFor(emu, emu.partner!.customers[0]!.tenantId);
    expect((await graph(emu, healthy, "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy")).status).toBe(200);
  });
});
