import { describe, expect, it } from "vitest";
import { AccessError } from "../auth/errors.js";
import { AuthError, GraphError, UsageError } from "../domain/errors.js";
import type { GraphClient, GraphRequest, GraphResponse } from "../transport/types.js";
import { adminConsentUrl } from "./consent-url.js";
import type { SyncedCustomer } from "./customers.js";
import { checkAppCredential, checkGdapRoles, checkLicences, decodeTokenClaims, doctorTenant, explainTokenFailure, missingPermissions } from "./doctor.js";
import { GDAP_ROLE_IDS } from "./roles.js";

const TENANT = "contoso.onmicrosoft.com";
const jwt = (claims: Record<string, unknown>) => `eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
const ALL_ROLES = ["User.Read.All", "Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod", "AuditLog.Read.All", "RoleManagement.Read.Directory", "Directory.Read.All", "UserAuthenticationMethod.Read.All"];

function graphOf(routes: Record<string, (req: GraphRequest) => unknown>): GraphClient & { requests: GraphRequest[] } {
  const requests: GraphRequest[] = [];
  return {
    requests,
    request<T>(req: GraphRequest): Promise<GraphResponse<T>> {
      requests.push(req);
      const path = req.path.split("?")[0]!;
      const route = routes[path];
      if (!route) return Promise.reject(new GraphError(`no route ${path}`, { status: 404, code: "NotFound" }));
      try {
        return Promise.resolve({ status: 200, headers: new Headers(), body: route(req) as T, requestId: "r", attempts: 1 });
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
    close: () => Promise.resolve(),
  };
}

const licensed = { "/v1.0/subscribedSkus": () => ({ value: [{ skuPartNumber: "SPE_E3", capabilityStatus: "Enabled", servicePlans: [{ servicePlanName: "AAD_PREMIUM", provisioningStatus: "Success" }] }] }) };
const customer = (roleIds: string[]): SyncedCustomer => ({ tenantId: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", displayName: "Contoso", roles: [], roleIds, access: "read", relationships: [{ id: "r", displayName: undefined, status: "active", endDateTime: undefined, roleIds }] });
const input = { tenant: TENANT, clientId: "app-1", consentUrl: "https://login.test/contoso.onmicrosoft.com/adminconsent?client_id=app-1", synced: true };

describe("doctor", () => {
  it("a healthy app-only tenant passes every check", async () => {
    const r = await doctorTenant({ ...input, accessMode: "app", getToken: () => Promise.resolve(jwt({ roles: ALL_ROLES })), graph: graphOf(licensed), customer: undefined });
    expect(r.status).toBe("ok");
    expect(r.checks.map((c) => [c.check, c.status])).toEqual([
      ["token", "ok"],
      ["permissions", "ok"],
      ["gdapRoles", "skipped"],
      ["licences", "ok"],
    ]);
  });

  it("no consent: token fails with the consent URL; the checks that need a token are skipped", async () => {
    const error = new AuthError("App app-1 was not found in tenant contoso (AADSTS700016)", { tenant: TENANT, code: "unauthorized_client", aadstsCodes: [700016] });
    const r = await doctorTenant({ ...input, accessMode: "app", getToken: () => Promise.reject(error), graph: graphOf(licensed), customer: undefined });
    expect(r.status).toBe("fail");
    const token = r.checks.find((c) => c.check === "token")!;
    expect(token).toMatchObject({ status: "fail", code: "AADSTS700016" });
    expect(token.fix).toContain(input.consentUrl);
    expect(r.checks.filter((c) => c.status === "skipped").map((c) => c.check)).toEqual(["permissions", "gdapRoles", "licences"]);
  });

  it("token failures name their cause: expired secret, sign in again, no relationship", () => {
    const ctx = { tenant: TENANT, clientId: "app-1", accessMode: "gdap" as const, consentUrl: input.consentUrl };
    expect(explainTokenFailure(new AuthError("expired", { tenant: TENANT, code: "invalid_client", aadstsCodes: [7000222] }), ctx)).toMatchObject({ status: "fail", message: expect.stringMatching(/client secret .* has expired/) });
    expect(explainTokenFailure(new AuthError("revoked", { tenant: TENANT, code: "invalid_grant", aadstsCodes: [50173] }), ctx).fix).toBe("Sign in again: mfactl login --partner.");
    expect(explainTokenFailure(new AccessError("none", { tenant: TENANT, code: "invalid_grant", authCause: "noRelationship" }), ctx).message).toMatch(/No active GDAP relationship/);
    expect(explainTokenFailure(new AuthError("delegated consent", { tenant: TENANT, code: "invalid_grant", aadstsCodes: [65001] }), ctx).fix).toContain(input.consentUrl);
  });

  it("missing permissions name the commands that lose what; read/write gaps fail, posture gaps warn", async () => {
    expect(missingPermissions(["Directory.Read.All", "Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod", "AuditLog.Read.All", "UserAuthenticationMethod.ReadWrite.All"])).toEqual([]);
    expect(missingPermissions(["Directory.Read.All", "Policy.ReadWrite.AuthenticationMethod", "AuditLog.Read.All", "UserAuthenticationMethod.ReadWrite.All"]).map((m) => m.loses)).toEqual(["posture and migrate cannot read Conditional Access and security defaults"]);
    const noPolicyRead = await doctorTenant({ ...input, accessMode: "app", getToken: () => Promise.resolve(jwt({ roles: ALL_ROLES.filter((p) => p !== "AuditLog.Read.All") })), graph: graphOf(licensed), customer: undefined });
    const perm = noPolicyRead.checks.find((c) => c.check === "permissions")!;
    expect(perm.status).toBe("warn");
    expect(perm.message).toContain("AuditLog.Read.All (posture cannot read MFA registration");
    const noWrite = await doctorTenant({ ...input, accessMode: "app", getToken: () => Promise.resolve(jwt({ roles: ["User.Read.All", "Policy.Read.All"] })), graph: graphOf(licensed), customer: undefined });
    expect(noWrite.status).toBe("fail");
    expect(noWrite.checks.find((c) => c.check === "permissions")!.message).toContain("Policy.ReadWrite.AuthenticationMethod (set, bulk set");
    // Delegated tokens: the scp claim.
    const gdap = await doctorTenant({ ...input, accessMode: "gdap", getToken: () => Promise.resolve(jwt({ scp: ALL_ROLES.join(" ") })), graph: graphOf(licensed), customer: customer([GDAP_ROLE_IDS.authenticationPolicyAdministrator]) });
    expect(gdap.checks.map((c) => c.status)).toEqual(["ok", "ok", "ok", "ok"]);
    expect(decodeTokenClaims("not-a-jwt")).toBeUndefined();
  });

  it("GDAP roles: Global Reader only fails for writes; no relationship fails; app mode only informs", () => {
    expect(checkGdapRoles(TENANT, "gdap", customer([GDAP_ROLE_IDS.globalReader]), true)).toMatchObject({ status: "fail", code: "missingRole", message: expect.stringContaining("lacks Authentication Policy Administrator") });
    expect(checkGdapRoles(TENANT, "gdap", undefined, true)).toMatchObject({ status: "fail", code: "noRelationship" });
    expect(checkGdapRoles(TENANT, "gdap", undefined, false).fix).toBe("Run mfactl tenants sync.");
    expect(checkGdapRoles(TENANT, "app", customer([GDAP_ROLE_IDS.globalReader]), true).status).toBe("ok");
  });

  it("licences: P1 through a bundle is ok, none warns, unreadable warns", async () => {
    expect((await checkLicences(graphOf(licensed), TENANT)).status).toBe("ok");
    const basic = await checkLicences(graphOf({ "/v1.0/subscribedSkus": () => ({ value: [{ skuPartNumber: "O365_BUSINESS_ESSENTIALS", capabilityStatus: "Enabled", servicePlans: [{ servicePlanName: "EXCHANGE_S_STANDARD" }] }] }) }), TENANT);
    expect(basic).toMatchObject({ status: "warn", code: "LicenceRequired" });
    expect(basic.message).toContain("O365_BUSINESS_ESSENTIALS");
    const suspended = await checkLicences(graphOf({ "/v1.0/subscribedSkus": () => ({ value: [{ skuPartNumber: "AAD_PREMIUM", capabilityStatus: "Suspended", servicePlans: [{ servicePlanName: "AAD_PREMIUM" }] }] }) }), TENANT);
    expect(suspended.status).toBe("warn");
    const refused = await checkLicences(graphOf({ "/v1.0/subscribedSkus": () => { throw new GraphError("no", { status: 403, code: "Authorization_RequestDenied" }); } }), TENANT);
    expect(refused).toMatchObject({ status: "warn", code: "Authorization_RequestDenied" });
  });

  it("app credential: expired fails, under 30 days warns, later is ok; the secret in use is found by its hint", async () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const app = (passwordCredentials: unknown[]) => graphOf({ "/v1.0/applications": () => ({ value: [{ appId: "app-1", passwordCredentials, keyCredentials: [] }] }) });
    const secret = { kind: "secret" as const, secretHint: "abc" };
    expect(await checkAppCredential(app([{ displayName: "old", endDateTime: "2025-12-01T00:00:00Z", hint: "abc" }, { displayName: "other", endDateTime: "2027-01-01T00:00:00Z", hint: "xyz" }]), TENANT, "app-1", secret, now)).toMatchObject({ status: "fail", code: "CredentialExpired" });
    expect(await checkAppCredential(app([{ displayName: "soon", endDateTime: "2026-01-11T00:00:00Z", hint: "abc" }]), TENANT, "app-1", secret, now)).toMatchObject({ status: "warn", message: expect.stringContaining("expires in 10 days") });
    expect((await checkAppCredential(app([{ endDateTime: "2026-06-01T00:00:00Z", hint: "abc" }]), TENANT, "app-1", secret, now))!.status).toBe("ok");
    const g = graphOf({ "/v1.0/applications": () => ({ value: [] }) });
    expect(await checkAppCredential(g, TENANT, "app-1", secret, now)).toBeUndefined();
    expect(decodeURIComponent(g.requests[0]!.path)).toContain("$filter=appId eq 'app-1'");
  });
});

describe("adminConsentUrl", () => {
  it("is Entra's admin consent endpoint for the tenant, with the app and the redirect URI", () => {
    const url = new URL(adminConsentUrl({ authorityHost: "https://login.microsoftonline.com/", tenant: "Contoso.onmicrosoft.com", clientId: "11111111-2222-3333-4444-555555555555" }));
    expect(url.origin + url.pathname).toBe("https://login.microsoftonline.com/contoso.onmicrosoft.com/adminconsent");
    expect(url.searchParams.get("client_id")).toBe("11111111-2222-3333-4444-555555555555");
    expect(url.searchParams.get("redirect_uri")).toBe("https://login.microsoftonline.com/common/oauth2/nativeclient");
    expect(() => adminConsentUrl({ authorityHost: "https://x", tenant: "contoso", clientId: "a" })).toThrow(UsageError);
    expect(() => adminConsentUrl({ authorityHost: "https://x", tenant: "contoso.com", clientId: "a", redirectUri: "http://evil.example" })).toThrow(UsageError);
  });
});
