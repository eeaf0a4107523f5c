/**
 * People signed in to the dashboard, over HTTP: delegated tokens from the emulator's real sign-in
 * (authorize page, credentials, code redeemed with PKCE), their roles from app roles or from the
 * settings' people (winning, with a tenant allow-list), what each role may do, who is refused and
 * in which words (no role, another client, no access_as_user), their actor in the journal and the
 * audit log; GET /v1/me for every kind of caller; GET /v1/dashboard/config and the dashboard's CSP
 * with and without entra.dashboard. On SQLite and PostgreSQL.
 */
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeBackendsForTests } from "../../store/src/postgres.test-helper.js";
import { DASHBOARD_CSP, entraSignIn } from "./routes/dashboard.js";
import { startHarness, type ErrorReply, type Harness } from "./server-harness.test-helper.js";

interface Me {
  actor: string;
  kind: string;
  name: string;
  role?: string;
  scopes: string[];
  tenants?: string[];
}
interface Change {
  status: string;
  runId?: string;
  perUserMfaState?: string;
}
interface AuditEntry {
  actor: string;
  action: string;
  outcome: string;
  tenant?: string;
  runId?: string;
  detail?: string;
  requestId: string;
}

describe("entraSignIn", () => {
  const base = { tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", apps: [], dashboard: { clientId: "spa" } };
  it("asks for the first api:// audience's access_as_user, a client id audience as api://<id>, or the settings' scope", () => {
    expect(entraSignIn({ ...base, audience: ["5d4e6b1f-7a31-4c59-9e0a-2b8f0c6d1e23", "api://mfactl.example"] }, "https://login.microsoftonline.com/")?.scopes).toStrictEqual(["openid", "profile", "api://mfactl.example/access_as_user"]);
    expect(entraSignIn({ ...base, audience: "5d4e6b1f-7a31-4c59-9e0a-2b8f0c6d1e23" }, "https://login.microsoftonline.com")?.scopes[2]).toBe("api://5d4e6b1f-7a31-4c59-9e0a-2b8f0c6d1e23/access_as_user");
    const custom = entraSignIn({ ...base, audience: "api://x", dashboard: { clientId: "spa", scope: "api://other/user_impersonation" } }, "https://login.microsoftonline.us");
    expect(custom).toMatchObject({ authority: `https://login.microsoftonline.us/${base.tenantId}`, scopes: ["openid", "profile", "api://other/user_impersonation"] });
    expect(entraSignIn({ tenantId: "t", audience: "api://x", apps: [] }, "https://login.microsoftonline.com")).toBeUndefined();
    expect(entraSignIn(undefined, "https://login.microsoftonline.com")).toBeUndefined();
  });
});

for (const b of storeBackendsForTests()) {
  describe.skipIf(b.skip !== undefined)(`API for people signed in to the dashboard (${b.name})`, () => {
    let h: Harness;
    let t0: string;
    let t1: string;
    let t1Id: string;
    let apiKey: string;
    const tokens = new Map<string, string>();

    beforeAll(async () => {
      h = await startHarness({
        openStore: b.open,
        users: 20,
        tenants: 2,
        entra: (emu) => ({
          // Case differs from the token's UPN on purpose: matched case-insensitively.
          people: [{ userPrincipalName: `O'BRIEN@${emu.tenants[0]!.domain.toUpperCase()}`, role: "operator", tenants: [emu.tenants[1]!.id] }],
          roles: { operator: ["MfaState.ReadWrite", "Helpdesk.Tier2"] },
        }),
      });
      t0 = h.emu.tenants[0]!.domain;
      t1 = h.emu.tenants[1]!.domain;
      t1Id = h.emu.tenants[1]!.id;
      apiKey = await h.key(["admin"], { name: "people-admin" });
      // The settings' role wins over this app role.
      h.emu.admin.assignUserRoles(h.emu.apiApp.clientId, t0, `o'brien@${t0}`, ["Admin"]);
    });
    afterAll(async () => h?.close());

    const upn = (local: string) => `${local}@${t0}`;
    const mfaPath = (tenant: string, user: string) => `/v1/tenants/${tenant}/users/${encodeURIComponent(user)}/mfa`;
    /** One real sign-in per person, reused. */
    async function tokenOf(local: string): Promise<string> {
      let token = tokens.get(local);
      if (!token) {
        token = await h.personToken(local);
        tokens.set(local, token);
      }
      return token;
    }
    function expectError(res: { status: number; body: unknown; text: string; headers: Headers }, status: number, code: string): ErrorReply {
      expect({ status: res.status, code: (res.body as ErrorReply).error?.code }, res.text).toStrictEqual({ status, code });
      expect((res.body as ErrorReply).requestId).toBe(res.headers.get("x-request-id"));
      return res.body as ErrorReply;
    }
    async function me(auth: string): Promise<Me> {
      const res = await h.call("/v1/me", { auth });
      expect(res.status, res.text).toBe(200);
      return res.body as Me;
    }
    /** A delegated token with chosen claims, signed by the emulator's key (as Entra would sign it). */
    async function minted(options: { clientId?: string; scp?: string | null; roles?: string[]; local?: string }): Promise<string> {
      const local = options.local ?? "adele.vance";
      const user = h.emu.admin.getUser(t0, upn(local));
      const { accessToken } = await h.emu.mintToken({
        tenant: h.emu.apiApp.tenantId,
        clientId: options.clientId ?? h.emu.dashboardApp.clientId,
        audience: h.emu.apiApp.identifierUri,
        lifetimeSeconds: 600,
        ...(options.roles ? { roles: options.roles } : {}),
        extraClaims: { scp: options.scp === undefined ? "access_as_user" : options.scp, upn: user.userPrincipalName, name: user.displayName, oid: user.id },
      });
      return accessToken;
    }

    describe("sign-in and roles", () => {
      it("takes a real delegated token of Adele (app role Admin) as the person, with the admin role", async () => {
        const token = await tokenOf("adele.vance");
        const claims = decodeJwt(token);
        // What the emulator's sign-in issued: a delegated token of the dashboard client for the API.
        expect(claims).toMatchObject({ appid: h.emu.dashboardApp.clientId, scp: "access_as_user", roles: ["Admin"], upn: upn("adele.vance"), aud: h.emu.apiApp.identifierUri });
        expect(await me(token)).toStrictEqual({ actor: `user:${upn("adele.vance")}`, kind: "user", name: `Adele Vance (${upn("adele.vance")})`, role: "admin", scopes: ["admin"] });
        const tenants = await h.call("/v1/tenants", { auth: token });
        expect(tenants.status).toBe(200);
        expect((tenants.body as { tenants: { tenant: string }[] }).tenants.map((t) => t.tenant)).toStrictEqual([t0, t1]);
      });

      it("lets Alex (MfaState.ReadWrite) change a user as an operator, and names him in the journal and the audit log", async () => {
        const token = await tokenOf("alex.wilber");
        expect(await me(token)).toMatchObject({ actor: `user:${upn("alex.wilber")}`, kind: "user", role: "operator", scopes: ["write"] });
        expect((await me(token)).tenants).toBeUndefined();
        const target = `adele.vance@${t1}`;
        expect(h.emu.admin.getUser(t1, target).perUserMfaState).toBe("disabled");
        const res = await h.call(mfaPath(t1, target), { method: "PUT", auth: token, body: { perUserMfaState: "enforced" } });
        expect(res.status, res.text).toBe(200);
        const change = res.body as Change;
        expect(change).toMatchObject({ status: "changed", perUserMfaState: "enforced" });
        expect(h.emu.admin.getUser(t1, target).perUserMfaState).toBe("enforced");

        const run = await h.call(`/v1/runs/${change.runId}`, { auth: apiKey });
        expect(run.body).toMatchObject({ runId: change.runId, actor: `user:${upn("alex.wilber")}`, status: "completed" });
        const changes = await h.call(`/v1/runs/${change.runId}/changes`, { auth: apiKey });
        expect((changes.body as { changes: { userPrincipalName: string; status: string }[] }).changes).toMatchObject([{ userPrincipalName: target, status: "changed" }]);
        const audit = await h.call(`/v1/audit?actor=${encodeURIComponent(`user:${upn("alex.wilber")}`)}`, { auth: apiKey });
        const entries = (audit.body as { entries: AuditEntry[] }).entries;
        expect(entries.find((e) => e.runId === change.runId)).toMatchObject({ actor: `user:${upn("alex.wilber")}`, tenant: t1, outcome: "ok", requestId: res.headers.get("x-request-id") });
      });

      it("lets Megan (MfaState.Read) read as a reader, and refuses her change in words, changing nothing", async () => {
        const token = await tokenOf("megan.bowen");
        expect(await me(token)).toMatchObject({ actor: `user:${upn("megan.bowen")}`, role: "reader", scopes: ["read"] });
        expect((await h.call(mfaPath(t0, upn("alex.wilber")), { auth: token })).status).toBe(200);
        const before = h.emu.admin.getUser(t0, upn("alex.wilber")).patchCount;
        const refused = expectError(await h.call(mfaPath(t0, upn("alex.wilber")), { method: "PUT", auth: token, body: { perUserMfaState: "enforced" } }), 403, "InsufficientScope");
        expect(refused.error.message).toBe(
          `Megan Bowen (${upn("megan.bowen")}) is a reader; this needs the operator role (scope write) or higher: an administrator assigns it (an app role on the mfactl API in Entra ID, or entra.people in the server settings).`,
        );
        expect(h.emu.admin.getUser(t0, upn("alex.wilber")).patchCount).toBe(before);
        // The refusal is in the audit log, under her name.
        const audit = await h.call(`/v1/audit?actor=${encodeURIComponent(`user:${upn("megan.bowen")}`)}`, { auth: apiKey });
        expect((audit.body as { entries: AuditEntry[] }).entries[0]).toMatchObject({ outcome: "denied", detail: refused.error.message });
      });

      it("knows a person without a role but allows them nothing, saying who assigns one", async () => {
        const token = await tokenOf("admin");
        expect(decodeJwt(token).roles).toBeUndefined();
        expect(await me(token)).toStrictEqual({ actor: `user:${upn("admin")}`, kind: "user", name: `Tenant Admin (${upn("admin")})`, scopes: [] });
        const refused = expectError(await h.call("/v1/tenants", { auth: token }), 403, "InsufficientScope");
        expect(refused.error.message).toBe(
          `Tenant Admin (${upn("admin")}) has no mfactl role: an administrator assigns one (an app role on the mfactl API in Entra ID, or entra.people in the server settings).`,
        );
      });

      it("gives the settings' role over the app role, limited to the settings' tenants", async () => {
        const token = await tokenOf("o'brien");
        expect(decodeJwt(token).roles).toStrictEqual(["Admin"]);
        expect(await me(token)).toMatchObject({ actor: `user:o'brien@${t0}`, role: "operator", scopes: ["write"], tenants: [t1Id] });
        const listed = await h.call("/v1/tenants", { auth: token });
        expect((listed.body as { tenants: { tenant: string }[] }).tenants.map((t) => t.tenant)).toStrictEqual([t1]);
        const refused = expectError(await h.call(mfaPath(t0, upn("megan.bowen")), { method: "PUT", auth: token, body: { perUserMfaState: "enforced" } }), 403, "TenantNotAllowed");
        expect(refused.error.message).toBe(`Pat O'Brien (o'brien@${t0}) may not act on tenant ${t0}.`);
        const allowed = await h.call(mfaPath(t1, `megan.bowen@${t1}`), { method: "PUT", auth: token, body: { perUserMfaState: "enforced" } });
        expect(allowed.status, allowed.text).toBe(200);
        // An operator, not the Admin of the token: includeProtected needs admin.
        expectError(await h.call(mfaPath(t1, `breakglass@${t1}`), { method: "PUT", auth: token, body: { perUserMfaState: "enforced", includeProtected: true } }), 403, "InsufficientScope");
      });

      it("maps app roles through entra.roles, the highest winning", async () => {
        expect(await me(await minted({ roles: ["Helpdesk.Tier2"] }))).toMatchObject({ role: "operator", scopes: ["write"] });
        expect(await me(await minted({ roles: ["MfaState.Read", "Admin", "MfaState.ReadWrite"] }))).toMatchObject({ role: "admin", scopes: ["admin"] });
        expect(await me(await minted({ roles: ["MfaState.Read", "Something.Else"] }))).toMatchObject({ role: "reader", scopes: ["read"] });
        const none = await me(await minted({ roles: ["Something.Else"] }));
        expect(none.role).toBeUndefined();
        expect(none.scopes).toStrictEqual([]);
      });
    });

    describe("tokens refused", () => {
      it("refuses a delegated token of another client with 403 ClientNotAllowed, naming the client", async () => {
        const other = h.emu.apiCallers.readWrite.clientId;
        const refused = expectError(await h.call("/v1/tenants", { auth: await minted({ clientId: other, roles: ["Admin"] }) }), 403, "ClientNotAllowed");
        expect(refused.error.message).toBe(
          `The access token acts for a person through the client ${other}, which is not this server's dashboard (${h.emu.dashboardApp.clientId}): only the dashboard's client may act for people.`,
        );
        // Also on /v1/me: the person is not taken for anyone.
        expectError(await h.call("/v1/me", { auth: await minted({ clientId: other }) }), 403, "ClientNotAllowed");
        // The same client's own app token is still accepted (client credentials carry no scp).
        expect((await h.call("/v1/tenants", { auth: await h.token("readWrite") })).status).toBe(200);
      });

      it("refuses a delegated token without access_as_user with 401 InvalidToken", async () => {
        for (const scp of ["User.Read", ""]) {
          const refused = expectError(await h.call("/v1/me", { auth: await minted({ scp, roles: ["Admin"] }) }), 401, "InvalidToken");
          expect(refused.error.message).toContain("does not carry the access_as_user scope");
        }
        // Without scp at all it is an app token of the dashboard's client, an app the settings do not list: nothing allowed.
        const appToken = await minted({ scp: null, roles: ["Admin"] });
        expect(await me(appToken)).toStrictEqual({ actor: `app:${h.emu.dashboardApp.clientId}`, kind: "entra", name: `app ${h.emu.dashboardApp.clientId}`, scopes: [], tenants: [] });
        expectError(await h.call("/v1/tenants", { auth: appToken }), 403, "InsufficientScope");
      });
    });

    describe("GET /v1/me", () => {
      it("describes API keys and apps, their role following their scopes", async () => {
        const reader = await h.key(["read"], { name: "me-reader", tenants: [t1] });
        expect(await me(reader)).toStrictEqual({ actor: "apikey:me-reader", kind: "apikey", name: "API key me-reader", role: "reader", scopes: ["read"], tenants: [t1] });
        expect(await me(await h.key(["read", "write"], { name: "me-writer" }))).toStrictEqual({ actor: "apikey:me-writer", kind: "apikey", name: "API key me-writer", role: "operator", scopes: ["read", "write"] });
        expect((await me(apiKey)).role).toBe("admin");
        expect(await me(await h.token("readOnly"))).toStrictEqual({
          actor: `app:${h.emu.apiCallers.readOnly.clientId}`,
          kind: "entra",
          name: `app Read-only automation (${h.emu.apiCallers.readOnly.clientId})`,
          role: "reader",
          scopes: ["read"],
          tenants: [t0],
        });
        expectError(await h.call("/v1/me"), 401, "Unauthenticated");
        expectError(await h.call("/v1/me", { auth: "mfak_nope_nope" }), 401, "InvalidApiKey");
      });
    });

    it("describes /v1/me, /v1/dashboard/config (public) and the posture job in the OpenAPI document", async () => {
      const doc = (await h.call("/openapi.json")).body as { paths: Record<string, Record<string, { responses?: Record<string, unknown>; security?: unknown[] }>> };
      expect(Object.keys(doc.paths["/v1/me"]?.["get"]?.responses ?? {})).toEqual(expect.arrayContaining(["200", "401"]));
      expect(doc.paths["/v1/dashboard/config"]?.["get"]).toMatchObject({ security: [] });
      expect(Object.keys(doc.paths["/v1/dashboard/config"]?.["get"]?.responses ?? {})).toContain("200");
      expect(Object.keys(doc.paths["/v1/jobs/posture"]?.["post"]?.responses ?? {})).toEqual(expect.arrayContaining(["202", "403", "404"]));
    });

    describe("dashboard config and CSP", () => {
      it("tells the dashboard how to sign people in, without a credential and without secrets", async () => {
        const res = await h.call("/v1/dashboard/config");
        expect(res.status, res.text).toBe(200);
        const authority = `${h.emu.authorityHost}/${h.emu.apiApp.tenantId}`;
        expect(res.body).toStrictEqual({
          signIn: {
            apiKey: true,
            entra: {
              clientId: h.emu.dashboardApp.clientId,
              tenantId: h.emu.apiApp.tenantId,
              authority,
              authorizeUrl: `${authority}/oauth2/v2.0/authorize`,
              tokenUrl: `${authority}/oauth2/v2.0/token`,
              logoutUrl: `${authority}/oauth2/v2.0/logout`,
              scopes: ["openid", "profile", `${h.emu.apiApp.identifierUri}/access_as_user`],
            },
          },
        });
        for (const secret of [h.emu.clientSecret, h.emu.apiCallers.readWrite.clientSecret, h.emu.apiCallers.readOnly.clientSecret]) expect(res.text).not.toContain(secret);
        // Rate-limited per address, even with a credential.
        expect(res.headers.get("x-ratelimit-limit")).toBe("600");
        const withKey = await h.call("/v1/dashboard/config", { auth: apiKey });
        expect(Number(withKey.headers.get("x-ratelimit-remaining"))).toBe(Number(res.headers.get("x-ratelimit-remaining")) - 1);
      });

      it("lets the dashboard's page fetch the authority, and nothing else more", async () => {
        const page = await h.call("/");
        const csp = page.headers.get("content-security-policy") ?? "";
        const origin = new URL(h.emu.authorityHost).origin;
        expect(csp).toBe(DASHBOARD_CSP.replace("connect-src 'self'", `connect-src 'self' ${origin}`));
        expect(csp.split("; ")).toStrictEqual([
          "default-src 'none'",
          "script-src 'self'",
          "style-src 'self'",
          "img-src 'self' data:",
          `connect-src 'self' ${origin}`,
          "base-uri 'none'",
          "form-action 'none'",
          "frame-ancestors 'none'",
        ]);
      });
    });

    describe("without entra.dashboard", () => {
      let plain: Harness;
      beforeAll(async () => {
        plain = await startHarness({ openStore: b.open, users: 8, tenants: 1, dashboard: false });
      });
      afterAll(async () => plain?.close());

      it("offers API keys only, keeps the strict CSP, and takes no token acting for a person", async () => {
        const config = await plain.call("/v1/dashboard/config");
        expect(config.body).toStrictEqual({ signIn: { apiKey: true } });
        expect((await plain.call("/")).headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
        expect(DASHBOARD_CSP).toContain("connect-src 'self';");
        const user = plain.emu.admin.getUser(plain.emu.tenants[0]!.id, `adele.vance@${plain.emu.tenants[0]!.domain}`);
        const { accessToken } = await plain.emu.mintToken({
          tenant: plain.emu.apiApp.tenantId,
          clientId: plain.emu.dashboardApp.clientId,
          audience: plain.emu.apiApp.identifierUri,
          lifetimeSeconds: 600,
          roles: ["Admin"],
          extraClaims: { scp: "access_as_user", upn: user.userPrincipalName, name: user.displayName },
        });
        const refused = expectError(await plain.call("/v1/me", { auth: accessToken }), 403, "ClientNotAllowed");
        expect(refused.error.message).toContain("entra.dashboard is not set");
      });
    });
  });
}
