/**
 * Who may call the API, over HTTP: API keys (Bearer and X-Api-Key, unknown, malformed, revoked),
 * scopes, tenant allow-lists, and Entra access tokens from the emulator's token endpoint (expiry,
 * audience, issuer, signature, unknown apps, signing-key rotation). On SQLite and PostgreSQL.
 */
import { generateKeyPairSync } from "node:crypto";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeBackendsForTests } from "../../store/src/postgres.test-helper.js";
import { offsetClock, startHarness, type ErrorReply, type Harness } from "./server-harness.test-helper.js";

interface TenantsReply {
  tenants: { tenant: string; names: string[] }[];
}
interface ChangeReply {
  status: string;
  runId?: string;
  perUserMfaState?: string;
}

for (const b of storeBackendsForTests()) {
  describe.skipIf(b.skip !== undefined)(`API authentication and authorisation (${b.name})`, () => {
    let h: Harness;
    const clock = offsetClock();
    let first: string;
    let second: string;
    let firstId: string;

    beforeAll(async () => {
      h = await startHarness({ openStore: b.open, clock });
      first = h.emu.tenants[0]!.domain;
      firstId = h.emu.tenants[0]!.id;
      second = h.emu.tenants[1]!.domain;
    });
    afterAll(async () => h?.close());

    const user = (tenant: string, local: string) => {
      const found = h.emu.admin.listUsers(tenant).find((u) => u.userPrincipalName.toLowerCase().startsWith(`${local.toLowerCase()}@`));
      if (!found) throw new Error(`no user ${local} in ${tenant}`);
      return found;
    };
    const mfaPath = (tenant: string, upn: string) => `/v1/tenants/${tenant}/users/${encodeURIComponent(upn)}/mfa`;

    function expectError(res: { status: number; body: unknown; headers: Headers }, status: number, code: string): ErrorReply {
      expect({ status: res.status, code: (res.body as ErrorReply).error?.code }).toStrictEqual({ status, code });
      const body = res.body as ErrorReply;
      expect(body.requestId).toBe(res.headers.get("x-request-id"));
      return body;
    }

    describe("API keys", () => {
      it("answers every API route without a credential with 401 Unauthenticated", async () => {
        const routes: [string, string, unknown?][] = [
          ["GET", "/v1/tenants"],
          ["GET", `/v1/tenants/${first}/users`],
          ["GET", mfaPath(first, `alex.wilber@${first}`)],
          ["PUT", mfaPath(first, `alex.wilber@${first}`), { perUserMfaState: "enforced" }],
          ["GET", "/v1/runs"],
          ["GET", "/v1/runs/last"],
          ["GET", "/v1/audit"],
          ["GET", "/v1/jobs"],
          ["GET", "/v1/jobs/job-x"],
          ["POST", "/v1/jobs/plan", { tenants: [first], state: "enforced", allUsers: true }],
          ["POST", "/v1/jobs/report", { tenants: [first] }],
        ];
        for (const [method, path, body] of routes) {
          const res = await h.call(path, { method, body });
          const reply = expectError(res, 401, "Unauthenticated");
          expect(reply.error.message).toMatch(/API key|access token/);
        }
        expect(h.emu.admin.getUser(first, `alex.wilber@${first}`).patchCount).toBe(0);
      });

      it("accepts a key as Authorization: Bearer and as X-Api-Key", async () => {
        const key = await h.key(["read"]);
        const bearer = await h.call("/v1/tenants", { auth: key });
        const header = await h.call("/v1/tenants", { headers: { "x-api-key": key } });
        expect([bearer.status, header.status]).toStrictEqual([200, 200]);
        expect((bearer.body as TenantsReply).tenants.map((t) => t.tenant)).toStrictEqual(h.emu.tenants.map((t) => t.domain));
        expect(header.body).toStrictEqual(bearer.body);
      });

      it("refuses unknown and malformed keys with 401 InvalidApiKey and other bearer values with 401 InvalidAuthorization", async () => {
        const real = await h.key(["admin"]);
        // Same shape as a real key, one character of the secret changed: not known.
        const last = real.at(-1) === "A" ? "B" : "A";
        const unknown = `${real.slice(0, -1)}${last}`;
        expectError(await h.call("/v1/tenants", { auth: unknown }), 401, "InvalidApiKey");
        expectError(await h.call("/v1/tenants", { headers: { "x-api-key": unknown } }), 401, "InvalidApiKey");
        expectError(await h.call("/v1/tenants", { auth: "mfak_short" }), 401, "InvalidApiKey");
        expectError(await h.call("/v1/tenants", { headers: { "x-api-key": "not-a-key" } }), 401, "InvalidApiKey");
        expectError(await h.call("/v1/tenants", { auth: "plainly-not-a-credential" }), 401, "InvalidAuthorization");
        expectError(await h.call("/v1/tenants", { headers: { authorization: `Basic ${Buffer.from("a:b").toString("base64")}` } }), 401, "InvalidAuthorization");
        expectError(await h.call("/v1/tenants", { headers: { authorization: "Bearer" } }), 401, "InvalidAuthorization");
      });

      it("refuses a key from the request after it is revoked", async () => {
        const key = await h.key(["write"], { name: "to-revoke" });
        expect((await h.call("/v1/tenants", { auth: key })).status).toBe(200);
        const revoked = await h.store.access.revokeApiKey("to-revoke", new Date().toISOString());
        expect(revoked?.revokedAt).toBeDefined();
        const reply = expectError(await h.call("/v1/tenants", { auth: key }), 401, "RevokedApiKey");
        expect(reply.error.message).toContain("to-revoke");
        expectError(await h.call("/v1/tenants", { headers: { "x-api-key": key } }), 401, "RevokedApiKey");
        // A new key of the same name is a new credential; the old one stays revoked.
        const again = await h.key(["read"], { name: "to-revoke" });
        expect((await h.call("/v1/tenants", { auth: again })).status).toBe(200);
        expectError(await h.call("/v1/tenants", { auth: key }), 401, "RevokedApiKey");
      });
    });

    describe("scopes", () => {
      it("lets a read key read but not change: PUT and write jobs are 403 InsufficientScope and nothing is sent", async () => {
        const read = await h.key(["read"]);
        const target = user(first, "alex.wilber");
        const before = h.emu.admin.getUser(first, target.id);
        expect((await h.call(`/v1/tenants/${first}/users?limit=5`, { auth: read })).status).toBe(200);
        expect((await h.call(mfaPath(first, target.userPrincipalName), { auth: read })).status).toBe(200);
        expectError(await h.call(mfaPath(first, target.userPrincipalName), { method: "PUT", auth: read, body: { perUserMfaState: "enforced" } }), 403, "InsufficientScope");
        expectError(await h.call("/v1/jobs/bulk-set", { method: "POST", auth: read, body: { tenants: [first], state: "enforced", allUsers: true } }), 403, "InsufficientScope");
        expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: read, body: { planJobId: "job-anything" } }), 403, "InsufficientScope");
        expectError(await h.call("/v1/jobs/undo", { method: "POST", auth: read, body: { runId: "last" } }), 403, "InsufficientScope");
        // A dry run changes nothing: read is enough.
        const dry = await h.call(mfaPath(first, target.userPrincipalName), { method: "PUT", auth: read, body: { perUserMfaState: "enforced", dryRun: true } });
        expect({ status: dry.status, change: (dry.body as ChangeReply).status }).toStrictEqual({ status: 200, change: "wouldChange" });
        const dryBulk = await h.call("/v1/jobs/bulk-set", { method: "POST", auth: read, body: { tenants: [first], state: "enforced", users: [target.userPrincipalName], dryRun: true } });
        expect(dryBulk.status).toBe(202);
        expect((await h.waitForJob((dryBulk.body as { jobId: string }).jobId, read)).status).toBe("succeeded");
        const after = h.emu.admin.getUser(first, target.id);
        expect({ state: after.perUserMfaState, patches: after.patchCount }).toStrictEqual({ state: before.perUserMfaState, patches: before.patchCount });
      });

      it("checks the credential before the body: an anonymous bad body is 401, not a validation message", async () => {
        const res = await h.call(mfaPath(first, `alex.wilber@${first}`), { method: "PUT", body: { perUserMfaState: "sometimes", extra: 1 } });
        expectError(res, 401, "Unauthenticated");
        expect(res.text).not.toContain("sometimes");
      });

      it("writes a denied change attempt to the audit log with the caller and the reason", async () => {
        const read = await h.key(["read"], { name: "denied-reader" });
        const admin = await h.key(["admin"]);
        expectError(await h.call(mfaPath(first, `alex.wilber@${first}`), { method: "PUT", auth: read, body: { perUserMfaState: "enforced" } }), 403, "InsufficientScope");
        const entries = ((await h.call("/v1/audit?actor=apikey:denied-reader", { auth: admin })).body as { entries: { action: string; outcome: string; detail?: string }[] }).entries;
        expect(entries.map((e) => [e.action, e.outcome])).toStrictEqual([["PUT /v1/tenants/:tenant/users/:user/mfa", "denied"]]);
        expect(entries[0]!.detail).toMatch(/needs write/);
      });

      it("names an unknown run without the database's location", async () => {
        const body = expectError(await h.call("/v1/runs/20990101T000000Z-00000000", { auth: await h.key(["read"]) }), 404, "RunNotFound");
        expect(body.error.message).toContain("20990101T000000Z-00000000");
        expect(body.error.message).not.toMatch(/journal\.db|\/tmp\/|postgres|mfactl_t_/);
      });

      it("lets a write key change, and asks the admin scope for includeProtected", async () => {
        const write = await h.key(["write"]);
        const admin = await h.key(["admin"]);
        const target = user(first, "alex.wilber");
        const put = await h.call(mfaPath(first, target.userPrincipalName), { method: "PUT", auth: write, body: { perUserMfaState: "enforced" } });
        expect({ status: put.status, change: (put.body as ChangeReply).status }).toStrictEqual({ status: 200, change: "changed" });
        expect(h.emu.admin.getUser(first, target.id).perUserMfaState).toBe("enforced");

        const patches = h.emu.admin.getUser(first, target.id).patchCount;
        const protectedPut = await h.call(mfaPath(first, target.userPrincipalName), { method: "PUT", auth: write, body: { perUserMfaState: "disabled", includeProtected: true } });
        expect(expectError(protectedPut, 403, "InsufficientScope").error.message).toContain("includeProtected");
        expectError(await h.call("/v1/jobs/plan", { method: "POST", auth: write, body: { tenants: [first], state: "disabled", allUsers: true, includeProtected: true } }), 403, "InsufficientScope");
        expectError(await h.call("/v1/jobs/bulk-set", { method: "POST", auth: write, body: { tenants: [first], state: "disabled", allUsers: true, includeProtected: true } }), 403, "InsufficientScope");
        expect(h.emu.admin.getUser(first, target.id).patchCount).toBe(patches);

        const byAdmin = await h.call(mfaPath(first, target.userPrincipalName), { method: "PUT", auth: admin, body: { perUserMfaState: "disabled", includeProtected: true } });
        expect({ status: byAdmin.status, change: (byAdmin.body as ChangeReply).status }).toStrictEqual({ status: 200, change: "changed" });
        expect(h.emu.admin.getUser(first, target.id).perUserMfaState).toBe("disabled");
      });
    });

    describe("tenant allow-lists", () => {
      it("limits a key to its tenants: others are 403 TenantNotAllowed and GET /v1/tenants lists only its own", async () => {
        const limited = await h.key(["write"], { tenants: [first] });
        const tenants = await h.call("/v1/tenants", { auth: limited });
        expect((tenants.body as TenantsReply).tenants.map((t) => t.tenant)).toStrictEqual([first]);
        expect((await h.call(`/v1/tenants/${first}/users?limit=2`, { auth: limited })).status).toBe(200);
        // Any name of the tenant it may use works, in any case.
        expect((await h.call(`/v1/tenants/${firstId.toUpperCase()}/users?limit=2`, { auth: limited })).status).toBe(200);

        const other = user(second, "alex.wilber");
        expectError(await h.call(`/v1/tenants/${second}/users?limit=2`, { auth: limited }), 403, "TenantNotAllowed");
        expectError(await h.call(mfaPath(second, other.userPrincipalName), { auth: limited }), 403, "TenantNotAllowed");
        expectError(await h.call(mfaPath(second, other.userPrincipalName), { method: "PUT", auth: limited, body: { perUserMfaState: "enforced" } }), 403, "TenantNotAllowed");
        expectError(await h.call("/v1/jobs/bulk-set", { method: "POST", auth: limited, body: { tenants: [first, second], state: "enforced", allUsers: true } }), 403, "TenantNotAllowed");
        expectError(await h.call("/v1/jobs/report", { method: "POST", auth: limited, body: { tenants: [second] } }), 403, "TenantNotAllowed");
        expect(h.emu.admin.getUser(second, other.id).patchCount).toBe(0);
      });

      it("holds a key limited by tenant id to the tenant under its domain too", async () => {
        const byId = await h.key(["read"], { tenants: [firstId] });
        expect(((await h.call("/v1/tenants", { auth: byId })).body as TenantsReply).tenants.map((t) => t.tenant)).toStrictEqual([first]);
        expect((await h.call(`/v1/tenants/${first}/users?limit=1`, { auth: byId })).status).toBe(200);
        expectError(await h.call(`/v1/tenants/${second}/users?limit=1`, { auth: byId }), 403, "TenantNotAllowed");
      });

      it("shows a key limited to a tenant only that tenant's journal changes and audit entries", async () => {
        const admin = await h.key(["admin"]);
        const limited = await h.key(["read"], { tenants: [first], name: "only-first" });
        const put = async (tenant: string) => {
          const target = user(tenant, "former.employee");
          const res = await h.call(mfaPath(tenant, target.userPrincipalName), { method: "PUT", auth: admin, body: { perUserMfaState: "enabled" } });
          expect(res.status).toBe(200);
          return (res.body as ChangeReply).runId!;
        };
        const inFirst = await put(first);
        const inSecond = await put(second);
        const changes = async (runId: string, auth: string) => ((await h.call(`/v1/runs/${runId}/changes`, { auth })).body as { changes: { tenant: string }[] }).changes.map((c) => c.tenant);
        expect(await changes(inFirst, limited)).toStrictEqual([first]);
        expect(await changes(inSecond, limited)).toStrictEqual([]);
        expect(await changes(inSecond, admin)).toStrictEqual([second]);

        type Entries = { entries: { tenant?: string; runId?: string; actor: string }[] };
        const seen = ((await h.call("/v1/audit?limit=1000", { auth: limited })).body as Entries).entries;
        expect(seen.map((e) => e.runId)).toContain(inFirst);
        expect(seen.every((e) => e.tenant === first || e.actor === "apikey:only-first")).toBe(true);
        expect(((await h.call("/v1/audit?limit=1000", { auth: admin })).body as Entries).entries.map((e) => e.runId)).toContain(inSecond);
        expectError(await h.call(`/v1/audit?tenant=${second}`, { auth: limited }), 403, "TenantNotAllowed");
        // A tenant named by another of its names (its id) finds the entries recorded under its domain.
        for (const auth of [limited, admin]) {
          const byId = ((await h.call(`/v1/audit?tenant=${firstId}&limit=1000`, { auth })).body as Entries).entries;
          expect(byId.map((e) => e.runId)).toContain(inFirst);
          expect(byId.every((e) => e.tenant === first)).toBe(true);
        }
      });

      it("refuses a plan that reaches a tenant the key may not touch, before anything runs", async () => {
        const admin = await h.key(["admin"]);
        const limited = await h.key(["write"], { tenants: [first] });
        const target = user(second, "megan.bowen");
        const plan = await h.call("/v1/jobs/plan", { method: "POST", auth: admin, body: { tenants: [second], state: "disabled", users: [target.userPrincipalName] } });
        const planJob = await h.waitForJob((plan.body as { jobId: string }).jobId, admin);
        const planFile = (await h.call(`/v1/jobs/${planJob.jobId}/result`, { auth: admin })).body;
        expectError(await h.call("/v1/jobs/apply", { method: "POST", auth: limited, body: { plan: planFile } }), 403, "TenantNotAllowed");
        expect(h.emu.admin.getUser(second, target.id).patchCount).toBe(0);
      });
    });

    describe("Entra access tokens", () => {
      it("accepts a token from the token endpoint and records the caller as app:<client id> in the journal and the audit log", async () => {
        const token = await h.token("readWrite");
        const clientId = h.emu.apiCallers.readWrite.clientId;
        const tenants = await h.call("/v1/tenants", { auth: token });
        expect(tenants.status).toBe(200);
        expect((tenants.body as TenantsReply).tenants).toHaveLength(h.emu.tenants.length);

        const target = user(second, "alex.wilber");
        const put = await h.call(mfaPath(second, target.userPrincipalName), { method: "PUT", auth: token, body: { perUserMfaState: "enforced" } });
        expect(put.status).toBe(200);
        const runId = (put.body as ChangeReply).runId!;
        const run = await h.call(`/v1/runs/${runId}`, { auth: token });
        expect((run.body as { actor: string }).actor).toBe(`app:${clientId}`);
        const audit = await h.call(`/v1/audit?runId=${runId}`, { auth: token });
        const entries = (audit.body as { entries: { actor: string; action: string; outcome: string; target: string }[] }).entries;
        expect(entries.map((e) => ({ actor: e.actor, action: e.action, outcome: e.outcome, target: e.target }))).toStrictEqual([
          { actor: `app:${clientId}`, action: "mfa.set", outcome: "ok", target: target.userPrincipalName },
        ]);
      });

      it("limits the read-only app to its tenant and to reading", async () => {
        const token = await h.token("readOnly");
        const tenants = await h.call("/v1/tenants", { auth: token });
        expect((tenants.body as TenantsReply).tenants.map((t) => t.tenant)).toStrictEqual([first]);
        expect((await h.call(`/v1/tenants/${first}/users?limit=2`, { auth: token })).status).toBe(200);
        expectError(await h.call(`/v1/tenants/${second}/users?limit=2`, { auth: token }), 403, "TenantNotAllowed");
        const target = user(first, "megan.bowen");
        const before = h.emu.admin.getUser(first, target.id).patchCount;
        expectError(await h.call(mfaPath(first, target.userPrincipalName), { method: "PUT", auth: token, body: { perUserMfaState: "disabled" } }), 403, "InsufficientScope");
        expect(h.emu.admin.getUser(first, target.id).patchCount).toBe(before);
      });

      it("accepts a v2.0 token (azp, v2 issuer) for the API", async () => {
        const { accessToken } = await h.emu.mintToken({ tenant: h.emu.apiApp.tenantId, clientId: h.emu.apiCallers.readWrite.clientId, audience: h.emu.apiApp.clientId, lifetimeSeconds: 600, version: 2 });
        const res = await h.call("/v1/tenants", { auth: accessToken });
        // The settings accept api://<id> only: a v2 token for the bare client id is another audience.
        expectError(res, 401, "InvalidToken");
        const forUri = await h.emu.mintToken({ tenant: h.emu.apiApp.tenantId, clientId: h.emu.apiCallers.readWrite.clientId, audience: h.emu.apiApp.identifierUri, lifetimeSeconds: 600, version: 2 });
        expect((await h.call("/v1/tenants", { auth: forUri.accessToken })).status).toBe(200);
      });

      it("refuses an expired token with 401 TokenExpired", async () => {
        const { accessToken } = await h.emu.mintToken({ tenant: h.emu.apiApp.tenantId, clientId: h.emu.apiCallers.readWrite.clientId, audience: h.emu.apiApp.identifierUri, lifetimeSeconds: -600 });
        const reply = expectError(await h.call("/v1/tenants", { auth: accessToken }), 401, "TokenExpired");
        expect(reply.error.message).toMatch(/expired/);
      });

      it("refuses a token not valid yet, for another audience, from another tenant, or without a tenant", async () => {
        const base = { tenant: h.emu.apiApp.tenantId, clientId: h.emu.apiCallers.readWrite.clientId, audience: h.emu.apiApp.identifierUri, lifetimeSeconds: 3600 };
        const notYet = await h.emu.mintToken({ ...base, notBeforeOffsetSeconds: 1800 });
        expect((await h.call("/v1/tenants", { auth: notYet.accessToken })).status).toBe(401);

        const audience = await h.emu.mintToken({ ...base, audience: "api://00000000-0000-0000-0000-00000000beef" });
        expect(expectError(await h.call("/v1/tenants", { auth: audience.accessToken }), 401, "InvalidToken").error.message).toMatch(/audience/);
        const graphAudience = await h.emu.mintToken({ ...base, audience: "https://graph.microsoft.com" });
        expectError(await h.call("/v1/tenants", { auth: graphAudience.accessToken }), 401, "InvalidToken");

        // Signed by the same keys, but issued by (and for) another seeded tenant.
        const otherTenant = await h.emu.mintToken({ ...base, tenant: h.emu.tenants[1]!.id });
        expect(expectError(await h.call("/v1/tenants", { auth: otherTenant.accessToken }), 401, "InvalidToken").error.message).toMatch(/issuer|tenant/);
        // The right issuer with another tenant's tid.
        const forgedTid = await h.emu.mintToken({ ...base, extraClaims: { tid: h.emu.tenants[1]!.id } });
        expectError(await h.call("/v1/tenants", { auth: forgedTid.accessToken }), 401, "InvalidToken");
        const noTid = await h.emu.mintToken({ ...base, extraClaims: { tid: null } });
        expectError(await h.call("/v1/tenants", { auth: noTid.accessToken }), 401, "InvalidToken");
        const noApp = await h.emu.mintToken({ ...base, extraClaims: { appid: null } });
        expectError(await h.call("/v1/tenants", { auth: noApp.accessToken }), 401, "InvalidToken");
      });

      it("refuses a token signed with a key the issuer never published, under its kid or a new one", async () => {
        const genuine = await h.emu.mintToken({ tenant: h.emu.apiApp.tenantId, clientId: h.emu.apiCallers.readWrite.clientId, audience: h.emu.apiApp.identifierUri, lifetimeSeconds: 3600 });
        expect((await h.call("/v1/tenants", { auth: genuine.accessToken })).status).toBe(200);
        // Sync: Node 20's async key generation can deadlock with a JWK export during GC.
        const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
        for (const kid of [genuine.kid, "forged-key-id"]) {
          const forged = await new SignJWT(genuine.claims).setProtectedHeader({ alg: "RS256", typ: "JWT", kid }).sign(privateKey);
          expect(expectError(await h.call("/v1/tenants", { auth: forged }), 401, "InvalidToken").error.message).toMatch(/signature/);
        }
        // The genuine signature on altered claims.
        const [head, , sig] = genuine.accessToken.split(".");
        const altered = Buffer.from(JSON.stringify({ ...genuine.claims, appid: h.emu.apiCallers.readOnly.clientId })).toString("base64url");
        expectError(await h.call("/v1/tenants", { auth: `${head}.${altered}.${sig}` }), 401, "InvalidToken");
        expectError(await h.call("/v1/tenants", { auth: "aaa.bbb.ccc" }), 401, "InvalidToken");
      });

      it("answers a valid token from an app the settings do not name with 403 (authenticated, allowed nothing)", async () => {
        const stranger = "7d3f5c1a-0b2e-4c6d-9e8f-1a2b3c4d5e6f";
        const { accessToken } = await h.emu.mintToken({ tenant: h.emu.apiApp.tenantId, clientId: stranger, audience: h.emu.apiApp.identifierUri, lifetimeSeconds: 600, roles: ["MfaState.ReadWrite"] });
        expectError(await h.call("/v1/tenants", { auth: accessToken }), 403, "InsufficientScope");
        const target = user(first, "megan.bowen");
        const res = await h.call(mfaPath(first, target.userPrincipalName), { method: "PUT", auth: accessToken, body: { perUserMfaState: "disabled" } });
        expect(res.status).toBe(403);
        expect(h.emu.admin.getUser(first, target.id).perUserMfaState).toBe("enabled");
      });

      it("follows a signing-key rotation: a token of the new key is accepted, one of the retired key refused", async () => {
        const before = await h.token("readWrite");
        expect((await h.call("/v1/tenants", { auth: before })).status).toBe(200);
        const rotation = h.emu.rotateSigningKey({ retireOld: true });
        expect(rotation.retired).toContain(rotation.previous);
        // Past the verifier's refetch cooldown: an unknown kid makes it read the keys again.
        clock.advance(31_000);
        const after = await h.token("readWrite");
        expect(after).not.toBe(before);
        expect((await h.call("/v1/tenants", { auth: after })).status).toBe(200);
        const stale = expectError(await h.call("/v1/tenants", { auth: before }), 401, "InvalidToken");
        expect(stale.error.message).toMatch(/signature/);
        // And it stays refused (no refetch brings the retired key back).
        clock.advance(31_000);
        expectError(await h.call("/v1/tenants", { auth: before }), 401, "InvalidToken");
        expect((await h.call("/v1/tenants", { auth: after })).status).toBe(200);
      });
    });
  });
}
