/** Partner mode over HTTPS: seeding, device code, refresh tokens (rotation, revocation), GDAP redemption per customer. */
import https from "node:https";
import { PublicClientApplication, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from "@azure/msal-node";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_READER } from "./partner.js";
import { admin, form, graph, ManualClock, send, tokenFor, type Reply } from "./test-helpers.js";

const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10";

let emu: RunningEmulator;
const clock = new ManualClock(Date.UTC(2026, 2, 1));
beforeAll(async () => {
  emu = await startEmulator({ tenants: 1, users: 10, clock, partner: { customers: 3, usersPerCustomer: 12, planted: true } });
});
afterAll(async () => {
  await emu.close();
});

const post = (path: string, values: Record<string, string>) => send(`${emu.authorityHost}${path}`, { ...form(values), ca: emu.caPem });
const aadCode = (r: Reply) => r.json<{ error_codes: number[] }>().error_codes[0];
const scope = () => `${emu.graphUrl}/.default openid profile offline_access`;

async function deviceCode(tenant = "organizations", clientId = emu.clientId): Promise<{ device_code: string; user_code: string }> {
  const r = await post(`/${tenant}/oauth2/v2.0/devicecode`, { client_id: clientId, scope: scope() });
  expect(r.status, r.text).toBe(200);
  return r.json();
}

/** Signs the partner admin in through the device code flow -> the token response. */
async function partnerSignIn(): Promise<Record<string, string>> {
  const dc = await deviceCode();
  emu.admin.approveDeviceCode(dc.user_code, emu.partner!.admin.userPrincipalName);
  const r = await post("/organizations/oauth2/v2.0/token", { grant_type: DEVICE_CODE_GRANT, client_id: emu.clientId, device_code: dc.device_code });
  expect(r.status, r.text).toBe(200);
  return r.json();
}

const refresh = (tenant: string, refreshToken: string, clientId = emu.clientId) =>
  post(`/${tenant}/oauth2/v2.0/token`, { grant_type: "refresh_token", client_id: clientId, refresh_token: refreshToken, scope: scope() });

describe("partner seeding", () => {
  it("is off by default", async () => {
    const plain = await startEmulator({ tenants: 1, users: 5 });
    try {
      expect(plain.partner).toBeUndefined();
      expect(plain.tenants).toHaveLength(1);
    } finally {
      await plain.close();
    }
  });

  it("adds a partner tenant, its admin, N customers and one tenant per planted problem", () => {
    const p = emu.partner!;
    expect(p.domain).toBe("partner.onmicrosoft.com");
    expect(p.admin.userPrincipalName).toBe("admin@partner.onmicrosoft.com");
    expect(p.customers.map((c) => c.domain)).toEqual(["customer1.onmicrosoft.com", "customer2.onmicrosoft.com", "customer3.onmicrosoft.com"]);
    const planted = p.planted!;
    const ids = new Set([p.tenantId, ...p.customers.map((c) => c.tenantId), ...["missingRole", "noConsent", "missingPermission", "noRelationship", "noLicence"].map((k) => (planted as unknown as Record<string, { tenantId: string }>)[k]!.tenantId)]);
    expect(ids.size).toBe(9);
    // 1 ordinary + partner + 3 customers + 5 planted, each with its users.
    expect(emu.tenants).toHaveLength(10);
    expect(emu.tenants.find((t) => t.id === p.customers[0]!.tenantId)?.userCount).toBe(12);
    expect(emu.userPassword(p.domain, p.admin.userPrincipalName)).toMatch(/-7a$/);
    expect(planted.expiredSecretApp.clientId).not.toBe(emu.clientId);
  });

  it("seeds active relationships with Authentication Policy Administrator and Global Reader (Global Reader only for missingRole)", () => {
    const rels = emu.admin.listRelationships();
    const p = emu.partner!;
    for (const c of p.customers) {
      const r = rels.find((x) => x.customerTenantId === c.tenantId)!;
      expect(r.status).toBe("active");
      expect(r.roleDefinitionIds).toEqual(expect.arrayContaining([AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_READER]));
    }
    expect(rels.find((x) => x.customerTenantId === p.planted!.missingRole.tenantId)?.roleDefinitionIds).toEqual([GLOBAL_READER]);
    expect(rels.some((x) => x.customerTenantId === p.planted!.noRelationship.tenantId)).toBe(false);
  });
});

describe("device code grant", () => {
  it("answers authorization_pending until approved, then gives access, id and refresh tokens with client_info", async () => {
    const dc = await deviceCode();
    const poll = () => post("/organizations/oauth2/v2.0/token", { grant_type: DEVICE_CODE_GRANT, client_id: emu.clientId, device_code: dc.device_code });
    const pending = await poll();
    expect(pending.status).toBe(400);
    expect(pending.json()["error"]).toBe("authorization_pending");
    expect(aadCode(pending)).toBe(70016);

    const upn = emu.partner!.admin.userPrincipalName;
    emu.admin.approveDeviceCode(dc.user_code, upn);
    const done = await poll();
    expect(done.status, done.text).toBe(200);
    const body = done.json<Record<string, string>>();
    expect(body["refresh_token"]).toBeTruthy();
    const at = decodeJwt(body["access_token"]!);
    expect(at["tid"]).toBe(emu.partner!.tenantId);
    expect(at["upn"]).toBe(upn);
    expect(String(at["scp"]).split(" ")).toEqual(expect.arrayContaining(["User.Read.All", "Policy.ReadWrite.AuthenticationMethod", "DelegatedAdminRelationship.Read.All"]));
    expect(at["wids"]).toEqual([GLOBAL_ADMINISTRATOR]);
    expect(decodeJwt(body["id_token"]!)["tid"]).toBe(emu.partner!.tenantId);
    const info = JSON.parse(Buffer.from(body["client_info"]!, "base64url").toString("utf8")) as Record<string, string>;
    expect(info).toEqual({ uid: at["oid"], utid: emu.partner!.tenantId });
    // A code is redeemed once.
    expect(aadCode(await poll())).toBe(70000);
  });

  it("answers authorization_declined and expired_token", async () => {
    const declined = await deviceCode();
    emu.admin.declineDeviceCode(declined.user_code);
    const d = await post("/organizations/oauth2/v2.0/token", { grant_type: DEVICE_CODE_GRANT, client_id: emu.clientId, device_code: declined.device_code });
    expect(d.json()["error"]).toBe("authorization_declined");

    const late = await deviceCode();
    clock.advance(901_000);
    const e = await post("/organizations/oauth2/v2.0/token", { grant_type: DEVICE_CODE_GRANT, client_id: emu.clientId, device_code: late.device_code });
    expect(e.json()["error"]).toBe("expired_token");
    expect(aadCode(e)).toBe(70020);
    expect(() => emu.admin.approveDeviceCode(late.user_code, emu.partner!.admin.userPrincipalName)).toThrow(/expired/);
  });

  it("approves through the admin HTTP route and through the verification page (code, username, password)", async () => {
    const a = await deviceCode();
    const approved = await admin(emu, "POST", `/device-codes/${a.user_code}/approve`, { userPrincipalName: emu.partner!.admin.userPrincipalName });
    expect(approved.status, approved.text).toBe(200);

    const b = await deviceCode();
    const page = await send(`${emu.authorityHost}/devicelogin`, { ca: emu.caPem });
    expect(page.status).toBe(200);
    expect(page.text).toContain('<label for="code">Code</label>');
    const upn = emu.partner!.admin.userPrincipalName;
    const wrong = await send(`${emu.authorityHost}/devicelogin`, { ...form({ code: b.user_code, login: upn, passwd: "nope" }), ca: emu.caPem });
    expect(wrong.text).toContain("AADSTS50126");
    const right = await send(`${emu.authorityHost}/devicelogin`, { ...form({ code: b.user_code, login: upn, passwd: emu.userPassword(emu.partner!.domain, upn) }), ca: emu.caPem });
    expect(right.text).toContain("You have signed in to mfactl");
    const r = await post("/organizations/oauth2/v2.0/token", { grant_type: DEVICE_CODE_GRANT, client_id: emu.clientId, device_code: b.device_code });
    expect(r.status, r.text).toBe(200);
  });

  it("needs a public client: an app without 'allow public client flows' must authenticate", async () => {
    const dc = await deviceCode("organizations", emu.readOnlyApp.clientId);
    emu.admin.approveDeviceCode(dc.user_code, emu.partner!.admin.userPrincipalName);
    const r = await post("/organizations/oauth2/v2.0/token", { grant_type: DEVICE_CODE_GRANT, client_id: emu.readOnlyApp.clientId, device_code: dc.device_code });
    expect(aadCode(r)).toBe(7000218);
  });
});

describe("refresh tokens and GDAP", () => {
  it("redeemed at a customer tenant gives a token for that customer, and rotates", async () => {
    const first = await partnerSignIn();
    const customer = emu.partner!.customers[0]!;
    const r = await refresh(customer.tenantId, first["refresh_token"]!);
    expect(r.status, r.text).toBe(200);
    const body = r.json<Record<string, string>>();
    const at = decodeJwt(body["access_token"]!);
    expect(at["tid"]).toBe(customer.tenantId);
    expect(at["idp"]).toBe(`https://sts.windows.net/${emu.partner!.tenantId}/`);
    expect(at["wids"]).toEqual(expect.arrayContaining([AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_READER]));
    expect(body["refresh_token"]).not.toBe(first["refresh_token"]);
    // The redeemed token is spent.
    const again = await refresh(customer.tenantId, first["refresh_token"]!);
    expect(again.json()["error"]).toBe("invalid_grant");
    expect(aadCode(again)).toBe(70008);
    // The new one works, at another customer too (by domain).
    const next = await refresh(emu.partner!.customers[1]!.domain, body["refresh_token"]!);
    expect(next.status, next.text).toBe(200);
    expect(decodeJwt(next.json<Record<string, string>>()["access_token"]!)["tid"]).toBe(emu.partner!.customers[1]!.tenantId);
  });

  it("names the planted problems: no relationship (AADSTS50020), no consent (AADSTS65001 / 700016), expired secret (AADSTS7000222)", async () => {
    const planted = emu.partner!.planted!;
    const rt = (await partnerSignIn())["refresh_token"]!;
    const none = await refresh(planted.noRelationship.tenantId, rt);
    expect(none.json()["error"]).toBe("invalid_grant");
    expect(aadCode(none)).toBe(50020);

    // A failed redemption does not spend the token: it still works at a customer, then at the next.
    const consent = await refresh(planted.noConsent.tenantId, rt);
    expect(aadCode(consent)).toBe(65001);
    expect(consent.json()["suberror"]).toBe("consent_required");
    const ok = await refresh(emu.partner!.customers[0]!.tenantId, rt);
    expect(ok.status).toBe(200);
    expect(aadCode(await refresh(emu.partner!.customers[1]!.tenantId, rt))).toBe(70008);
    const app = await post(`/${planted.noConsent.tenantId}/oauth2/v2.0/token`, { grant_type: "client_credentials", client_id: emu.clientId, client_secret: emu.clientSecret, scope: `${emu.graphUrl}/.default` });
    expect(aadCode(app)).toBe(700016);

    const expired = planted.expiredSecretApp;
    const e = await post(`/${emu.partner!.customers[0]!.tenantId}/oauth2/v2.0/token`, { grant_type: "client_credentials", client_id: expired.clientId, client_secret: expired.clientSecret, scope: `${emu.graphUrl}/.default` });
    expect(aadCode(e)).toBe(7000222);
    // The healthy customers give app-only tokens to the main app.
    await expect(tokenFor(emu, emu.partner!.customers[0]!.tenantId)).resolves.toBeTruthy();
  });

  it("revoked refresh tokens answer AADSTS50173 (sign in again); a new sign-in works", async () => {
    const rt = (await partnerSignIn())["refresh_token"]!;
    const revoked = await admin(emu, "POST", `/users/${encodeURIComponent(emu.partner!.admin.userPrincipalName)}/revoke-refresh-tokens`);
    expect(revoked.status).toBe(200);
    expect(revoked.json<{ revoked: number }>().revoked).toBeGreaterThan(0);
    const r = await refresh(emu.partner!.customers[0]!.tenantId, rt);
    expect(r.json()["error"]).toBe("invalid_grant");
    expect(aadCode(r)).toBe(50173);
    const fresh = (await partnerSignIn())["refresh_token"]!;
    expect((await refresh(emu.partner!.customers[0]!.tenantId, fresh)).status).toBe(200);
  });

  it("a terminated relationship stops GDAP redemption", async () => {
    const c = emu.partner!.customers[2]!;
    emu.admin.patchRelationship(c.tenantId, { status: "terminated" });
    try {
      const rt = (await partnerSignIn())["refresh_token"]!;
      expect(aadCode(await refresh(c.tenantId, rt))).toBe(50020);
    } finally {
      emu.admin.patchRelationship(c.tenantId, { status: "active" });
    }
  });

  it("refresh tokens expire after 90 days without use", async () => {
    const rt = (await partnerSignIn())["refresh_token"]!;
    clock.advance(91 * 86_400_000);
    expect(aadCode(await refresh(emu.partner!.tenantId, rt))).toBe(70008);
  });
});

describe("delegated rights in Graph follow the relationship's roles", () => {
  async function customerToken(tenantId: string): Promise<string> {
    const rt = (await partnerSignIn())["refresh_token"]!;
    const r = await refresh(tenantId, rt);
    expect(r.status, r.text).toBe(200);
    return r.json<{ access_token: string }>().access_token;
  }

  it("Authentication Policy Administrator reads and writes per-user MFA in the customer tenant", async () => {
    const customer = emu.partner!.customers[0]!;
    const token = await customerToken(customer.tenantId);
    const users = await graph(emu, token, "/v1.0/users?$top=3");
    expect(users.status, users.text).toBe(200);
    const upn = `adele.vance@${customer.domain}`;
    const patch = await graph(emu, token, `/beta/users/${upn}/authentication/requirements`, { method: "PATCH", body: { perUserMfaState: "enforced" } });
    expect(patch.status, patch.text).toBe(204);
    expect(emu.admin.getUser(customer.tenantId, upn).perUserMfaState).toBe("enforced");
  });

  it("Global Reader only: reads work, the write is 403 Authorization_RequestDenied (alone and in $batch)", async () => {
    const t = emu.partner!.planted!.missingRole;
    const token = await customerToken(t.tenantId);
    const upn = `adele.vance@${t.domain}`;
    expect((await graph(emu, token, `/beta/users/${upn}/authentication/requirements`)).status).toBe(200);
    const patch = await graph(emu, token, `/beta/users/${upn}/authentication/requirements`, { method: "PATCH", body: { perUserMfaState: "enforced" } });
    expect(patch.status).toBe(403);
    expect(patch.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation." });
    const batch = await graph(emu, token, "/beta/$batch", {
      method: "POST",
      body: { requests: [{ id: "1", method: "PATCH", url: `/users/${upn}/authentication/requirements`, headers: { "content-type": "application/json" }, body: { perUserMfaState: "enforced" } }] },
    });
    expect(batch.json<{ responses: { status: number }[] }>().responses[0]?.status).toBe(403);
    expect(emu.admin.getUser(t.tenantId, upn).perUserMfaState).toBe("disabled");
  });

  it("a role removed from the relationship applies to tokens already issued", async () => {
    const c = emu.partner!.customers[1]!;
    const token = await customerToken(c.tenantId);
    emu.admin.patchRelationship(c.tenantId, { roles: ["Global Reader"] });
    try {
      const r = await graph(emu, token, `/beta/users/adele.vance@${c.domain}/authentication/requirements`, { method: "PATCH", body: { perUserMfaState: "enabled" } });
      expect(r.status).toBe(403);
    } finally {
      emu.admin.patchRelationship(c.tenantId, { roles: [AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_READER] });
    }
  });

  it("a tenant's own user without an admin role cannot read users", async () => {
    const c = emu.partner!.customers[0]!;
    const dc = await deviceCode(c.tenantId);
    emu.admin.approveDeviceCode(dc.user_code, `megan.bowen@${c.domain}`);
    const r = await post(`/${c.tenantId}/oauth2/v2.0/token`, { grant_type: DEVICE_CODE_GRANT, client_id: emu.clientId, device_code: dc.device_code });
    expect(r.status, r.text).toBe(200);
    const token = r.json<{ access_token: string }>().access_token;
    expect(decodeJwt(token)["wids"]).toBeUndefined();
    expect((await graph(emu, token, "/v1.0/users")).status).toBe(403);
  });
});

/** MSAL's INetworkModule on node:https, trusting only the emulator's CA. */
function networkClient(ca: string): INetworkModule {
  const call = <T>(method: string, url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> =>
    new Promise((resolve, reject) => {
      const req = https.request(url, { method, headers: options?.headers ?? {}, ca }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString("utf8")));
        res.on("end", () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
          resolve({ status: res.statusCode ?? 0, headers, body: JSON.parse(text) as T });
        });
      });
      req.on("error", reject);
      if (options?.body) req.write(options.body);
      req.end();
    });
  return { sendGetRequestAsync: (url, o) => call("GET", url, o), sendPostRequestAsync: (url, o) => call("POST", url, o) };
}

describe("@azure/msal-node PublicClientApplication", () => {
  it("signs in with the device code flow, then redeems the refresh token per customer tenant", async () => {
    const host = new URL(emu.authorityHost).host;
    const pca = new PublicClientApplication({
      auth: { clientId: emu.clientId, authority: `${emu.authorityHost}/organizations`, knownAuthorities: [host] },
      system: { networkClient: networkClient(emu.caPem) },
    });
    const upn = emu.partner!.admin.userPrincipalName;
    const result = await pca.acquireTokenByDeviceCode({
      scopes: [`${emu.graphUrl}/.default`],
      // Approved before the first poll, so MSAL never waits out the interval.
      deviceCodeCallback: (r) => {
        expect(r.message).toContain(r.userCode);
        emu.admin.approveDeviceCode(r.userCode, upn);
      },
    });
    expect(result?.account?.username).toBe(upn);
    expect(result?.account?.homeAccountId).toBe(`${String(decodeJwt(result!.accessToken)["oid"])}.${emu.partner!.tenantId}`);
    expect(result?.tenantId).toBe(emu.partner!.tenantId);

    // The cache holds the refresh token; silent acquisition against a customer authority redeems it there.
    const customer = emu.partner!.customers[0]!;
    const silent = await pca.acquireTokenSilent({ account: result!.account!, scopes: [`${emu.graphUrl}/.default`], authority: `${emu.authorityHost}/${customer.tenantId}`, forceRefresh: true });
    expect(decodeJwt(silent.accessToken)["tid"]).toBe(customer.tenantId);
    expect((await graph(emu, silent.accessToken, "/v1.0/users?$top=1")).status).toBe(200);

    // The rotated token lands in MSAL's cache: a second customer works from it, and the first token is spent.
    const cache = JSON.parse(pca.getTokenCache().serialize()) as { RefreshToken: Record<string, { secret: string }> };
    const rts = Object.values(cache.RefreshToken).map((r) => r.secret);
    expect(rts).toHaveLength(1);
    const second = await pca.acquireTokenByRefreshToken({ refreshToken: rts[0]!, scopes: [`${emu.graphUrl}/.default`], authority: `${emu.authorityHost}/${emu.partner!.customers[1]!.tenantId}` });
    expect(decodeJwt(second!.accessToken)["tid"]).toBe(emu.partner!.customers[1]!.tenantId);
    await expect(pca.acquireTokenByRefreshToken({ refreshToken: rts[0]!, scopes: [`${emu.graphUrl}/.default`], authority: `${emu.authorityHost}/${customer.tenantId}` })).rejects.toThrow(/AADSTS70008|invalid_grant/);
  });
});
