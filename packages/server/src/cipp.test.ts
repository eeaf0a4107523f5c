/**
 * CIPP's per-user MFA endpoints (/api/ExecPerUserMFA, /api/ListPerUserMFA, /api/ListMFAUsers),
 * over real HTTP, with the bodies and queries real clients send: the CIPP PowerShell module's
 * Set-CIPPPerUserMFA / Get-CIPPPerUserMFA, CIPP's own front end (State as {label, value}, both
 * userId and userPrincipalName), n8n nodes. Authenticated like CIPP's callers, with an Entra
 * token from the emulator (and with API keys). Run on SQLite and on PostgreSQL.
 */
import { CIPP_MFA_USER_COLUMNS } from "@mfactl/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { storeBackendsForTests } from "../../store/src/postgres.test-helper.js";
import { startHarness, type Harness } from "./server-harness.test-helper.js";

type Reply = Awaited<ReturnType<Harness["call"]>>;

const UPN_RE = /^[^@\s]+@[^@\s]+$/;

for (const backend of storeBackendsForTests()) {
  describe.skipIf(backend.skip !== undefined)(`CIPP-compatible endpoints (${backend.name})`, () => {
    let h: Harness;
    let rw: string;
    let ro: string;
    /** The first tenant (the read-only app's only tenant) and the second. */
    let t1: { id: string; domain: string };
    let t2: { id: string; domain: string };

    beforeAll(async () => {
      h = await startHarness({ openStore: backend.open, users: 30, tenants: 3 });
      [rw, ro] = await Promise.all([h.token("readWrite"), h.token("readOnly")]);
      const [a, b] = h.emu.tenants;
      t1 = { id: a!.id, domain: a!.domain };
      t2 = { id: b!.id, domain: b!.domain };
    });
    afterAll(async () => {
      await h?.close();
    });
    beforeEach(() => {
      h.emu.admin.reset();
    });

    const exec = (body: unknown, auth: string = rw, headers?: Record<string, string>): Promise<Reply> => h.call("/api/ExecPerUserMFA", { method: "POST", body, auth, ...(headers ? { headers } : {}) });
    const emuState = (tenant: string, user: string) => h.emu.admin.getUser(tenant, user).perUserMfaState;
    const patches = (tenant: string, user: string) => h.emu.admin.getUser(tenant, user).patchCount;
    const upn = (local: string, tenant = t1.domain) => `${local}@${tenant}`;
    const guest = (tenant = t1.domain) => `john.doe_fabrikam.com#EXT#@${tenant}`;

    async function listOne(tenant: string, user: string, auth: string = rw): Promise<Reply> {
      return h.call(`/api/ListPerUserMFA?tenantFilter=${encodeURIComponent(tenant)}&userId=${encodeURIComponent(user)}`, { auth });
    }

    function expectResults(r: Reply, status: number): string {
      expect(r.status, r.text).toBe(status);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expect(Object.keys(r.body as object)).toEqual(["Results"]);
      const lines = (r.body as { Results: unknown }).Results;
      expect(Array.isArray(lines)).toBe(true);
      expect(lines).toHaveLength(1);
      expect(typeof (lines as unknown[])[0]).toBe("string");
      return (lines as string[])[0]!;
    }

    describe("POST /api/ExecPerUserMFA: what real clients send", () => {
      it("Set-CIPPPerUserMFA -UserPrincipalName: only userPrincipalName, State 'Enforced' -> exactly CIPP's success body, and the state really changed", async () => {
        const user = upn("alex.wilber");
        expect(emuState(t1.domain, user)).toBe("disabled");
        // What Invoke-CIPPRestMethod sends for @{ tenantFilter; State; userPrincipalName } | ConvertTo-Json.
        const r = await exec({ tenantFilter: t1.domain, State: "Enforced", userPrincipalName: user });
        expect(r.status, r.text).toBe(200);
        expect(r.body).toEqual({ Results: [`Successfully set Per user MFA State for ${user}`] });
        expect(emuState(t1.domain, user)).toBe("enforced");
        expect(patches(t1.domain, user)).toBe(1);
        const back = await listOne(t1.domain, user);
        expect(back.status, back.text).toBe(200);
        expect(back.body).toEqual([expect.objectContaining({ PerUserMFAState: "enforced", UserPrincipalName: user })]);
      });

      it("Set-CIPPPerUserMFA -UserId <guid>: only userId (an object id), State 'Enabled'", async () => {
        const target = h.emu.admin.getUser(t1.domain, upn("alex.wilber"));
        const r = await exec({ tenantFilter: t1.domain, State: "Enabled", userId: target.id });
        expect(r.status, r.text).toBe(200);
        // The user as Graph names it: the UPN, not the id the caller sent.
        expect(r.body).toEqual({ Results: [`Successfully set Per user MFA State for ${target.userPrincipalName}`] });
        expect(emuState(t1.domain, target.id)).toBe("enabled");
      });

      it("userId holding a UPN (CIPP's own front end: data { userId: 'userPrincipalName' }), State 'Disabled'", async () => {
        const user = upn("admin");
        expect(emuState(t1.domain, user)).toBe("enforced");
        const r = await exec({ tenantFilter: t1.domain, userId: user, State: "Disabled" });
        expect(r.body).toEqual({ Results: [`Successfully set Per user MFA State for ${user}`] });
        expect(r.status).toBe(200);
        expect(emuState(t1.domain, user)).toBe("disabled");
      });

      it("CIPP's front end and n8n: State as {label, value} (value 'Enforced' or 'enforced'), both userId and userPrincipalName", async () => {
        const alex = h.emu.admin.getUser(t1.domain, upn("alex.wilber"));
        const r1 = await exec({ tenantFilter: t1.domain, userId: alex.id, userPrincipalName: alex.userPrincipalName, State: { label: "Enforced", value: "Enforced" } });
        expect(r1.status, r1.text).toBe(200);
        expect(r1.body).toEqual({ Results: [`Successfully set Per user MFA State for ${alex.userPrincipalName}`] });
        expect(emuState(t1.domain, alex.id)).toBe("enforced");

        const megan = h.emu.admin.getUser(t1.domain, upn("megan.bowen"));
        // n8n "Set Per-User MFA" (User ID, Tenant Filter, MFA State): an options value in lower case.
        const r2 = await exec({ tenantFilter: t1.id, userId: megan.id, State: { label: "Disabled", value: "disabled" } });
        expect(r2.status, r2.text).toBe(200);
        expect(r2.body).toEqual({ Results: [`Successfully set Per user MFA State for ${megan.userPrincipalName}`] });
        expect(emuState(t1.domain, megan.id)).toBe("disabled");
      });

      it("the value of {label, value} wins over the label; a label alone is read too", async () => {
        const user = upn("alex.wilber");
        const r1 = await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: { label: "Disabled", value: "enforced" } });
        expect(r1.status, r1.text).toBe(200);
        expect(emuState(t1.domain, user)).toBe("enforced");
        const r2 = await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: { label: "Disabled" } });
        expect(r2.status, r2.text).toBe(200);
        expect(emuState(t1.domain, user)).toBe("disabled");
      });

      it("State is case-insensitive: ENFORCED, enforced, eNaBlEd", async () => {
        const user = upn("alex.wilber");
        for (const [sent, expected] of [
          ["ENFORCED", "enforced"],
          ["disabled", "disabled"],
          ["eNaBlEd", "enabled"],
          [" Enforced ", "enforced"],
        ] as const) {
          const r = await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: sent });
          expect(r.status, `${sent}: ${r.text}`).toBe(200);
          expect(emuState(t1.domain, user), sent).toBe(expected);
        }
      });

      it("body keys in any casing: TenantFilter/USERID/state, tenantfilter/UserPrincipalName/STATE", async () => {
        const alex = h.emu.admin.getUser(t1.domain, upn("alex.wilber"));
        const r1 = await exec({ TenantFilter: t1.domain, USERID: alex.id, state: "enforced" });
        expect(r1.status, r1.text).toBe(200);
        expect(emuState(t1.domain, alex.id)).toBe("enforced");
        const r2 = await exec({ tenantfilter: t1.domain.toUpperCase(), UserPrincipalName: alex.userPrincipalName, STATE: { LABEL: "Disabled", VALUE: "Disabled" } });
        expect(r2.status, r2.text).toBe(200);
        expect(emuState(t1.domain, alex.id)).toBe("disabled");
      });

      it("tenantFilter as the tenant id (CustomerTenantID is often the GUID)", async () => {
        const user = upn("alex.wilber", t2.domain);
        const r = await exec({ tenantFilter: t2.id, userPrincipalName: user, State: "Enforced" });
        expect(r.status, r.text).toBe(200);
        expect(emuState(t2.domain, user)).toBe("enforced");
        // The same user name in the first tenant is untouched.
        expect(emuState(t1.domain, upn("alex.wilber"))).toBe("disabled");
      });

      it("a state already in place: success, and no PATCH sent", async () => {
        const user = upn("admin");
        const r = await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" });
        expect(r.status, r.text).toBe(200);
        expect(r.body).toEqual({ Results: [`Successfully set Per user MFA State for ${user}`] });
        expect(patches(t1.domain, user)).toBe(0);
      });
    });

    describe("guests (#EXT#): CIPP's encoding bug is fixed", () => {
      it("a guest by userPrincipalName with #EXT# is changed and read back", async () => {
        const user = guest();
        expect(emuState(t1.domain, user)).toBe("disabled");
        const r = await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" });
        expect(r.status, r.text).toBe(200);
        expect(r.body).toEqual({ Results: [`Successfully set Per user MFA State for ${user}`] });
        expect(emuState(t1.domain, user)).toBe("enforced");
        const back = await listOne(t1.domain, user);
        expect(back.status, back.text).toBe(200);
        expect(back.body).toEqual([expect.objectContaining({ PerUserMFAState: "enforced", UserPrincipalName: user })]);
      });

      it("a guest's UPN given as userId (CIPP's front end), and with its object id next to it", async () => {
        const g = h.emu.admin.getUser(t1.domain, guest());
        const r1 = await exec({ tenantFilter: t1.domain, userId: g.userPrincipalName, State: "Enabled" });
        expect(r1.status, r1.text).toBe(200);
        expect(emuState(t1.domain, g.id)).toBe("enabled");
        const r2 = await exec({ tenantFilter: t1.domain, userId: g.id, userPrincipalName: g.userPrincipalName, State: { label: "Disabled", value: "Disabled" } });
        expect(r2.status, r2.text).toBe(200);
        expect(r2.body).toEqual({ Results: [`Successfully set Per user MFA State for ${g.userPrincipalName}`] });
        expect(emuState(t1.domain, g.id)).toBe("disabled");
      });
    });

    describe("a change Graph refuses is a failure, never a success (CIPP's batch weakness is fixed)", () => {
      for (const status of [403, 500] as const) {
        it(`PATCH answered ${status}: HTTP 500 with the Graph reason and its request id; nothing changed`, async () => {
          const target = h.emu.admin.getUser(t1.domain, guest());
          h.emu.admin.addFaults([{ method: "PATCH", pathIncludes: target.id, status, count: 100 }]);
          const r = await exec({ tenantFilter: t1.domain, userPrincipalName: target.userPrincipalName, State: "Enforced" });
          const line = expectResults(r, 500);
          expect(line.startsWith(`Failed to set MFA State to enforced for ${target.userPrincipalName}. Error: `), line).toBe(true);
          expect(line).not.toMatch(/Successfully/);
          // The Graph reason (codeForStatus's message) and Graph's request id.
          expect(line).toMatch(status === 403 ? /Request Authorization failed/i : /\S{10,}/);
          const ids = line.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi) ?? [];
          const [run] = await h.store.journal.listRuns({ limit: 1 });
          const changes = [];
          for await (const c of h.store.journal.changes(run!.runId)) changes.push(c);
          // Graph's request id of the refused PATCH, as the journal recorded it, said once.
          const requestId = changes[0]!.requestId!;
          expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
          expect(line).toMatch(/request.id/i);
          expect(ids.filter((id) => id === requestId)).toHaveLength(1);
          expect(emuState(t1.domain, target.id)).toBe("disabled");
          expect(h.emu.admin.pendingFaults().length).toBe(1);
        });
      }

      it("the failure is in the journal (failed, with the error) and the audit log (outcome failed)", async () => {
        const target = h.emu.admin.getUser(t1.domain, upn("alex.wilber"));
        h.emu.admin.addFaults([{ method: "PATCH", pathIncludes: target.id, status: 403, count: 100 }]);
        const r = await exec({ tenantFilter: t1.domain, userId: target.id, State: "Enforced" });
        expectResults(r, 500);
        const [run] = await h.store.journal.listRuns({ limit: 1 });
        const changes = [];
        for await (const c of h.store.journal.changes(run!.runId)) changes.push(c);
        expect(changes).toEqual([expect.objectContaining({ id: target.id, requestedState: "enforced", previousState: "disabled", status: "failed" })]);
        expect(changes[0]!.error?.httpStatus).toBe(403);
        const [entry] = await h.store.access.listAudit({ action: "mfa.set", limit: 1 });
        expect(entry).toMatchObject({ outcome: "failed", tenant: t1.domain, target: target.userPrincipalName, runId: run!.runId, requestId: r.headers.get("x-request-id") });
      });

      it("a 429 on the PATCH is retried (CIPP's batches never retry one item) and the change lands", async () => {
        const user = upn("alex.wilber");
        const target = h.emu.admin.getUser(t1.domain, user);
        h.emu.admin.addFaults([{ method: "PATCH", pathIncludes: target.id, status: 429, retryAfterSeconds: 0, count: 1 }]);
        const r = await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" });
        expect(r.status, r.text).toBe(200);
        expect(r.body).toEqual({ Results: [`Successfully set Per user MFA State for ${user}`] });
        expect(h.emu.admin.pendingFaults()).toEqual([]);
        expect(emuState(t1.domain, user)).toBe("enforced");
      });

      it("an unknown user: a failure naming the user, nothing changed", async () => {
        const user = upn("nobody.here");
        const before = h.emu.admin.stats().patches;
        const r = await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" });
        expect([404, 500]).toContain(r.status);
        const line = expectResults(r, r.status);
        expect(line).toContain(user);
        expect(line).not.toMatch(/Successfully/);
        if (r.status === 500) expect(line.startsWith(`Failed to set MFA State to enforced for ${user}. Error: `), line).toBe(true);
        expect(h.emu.admin.stats().patches).toBe(before);
      });

      it("an unknown object id as userId: a failure naming it", async () => {
        const id = "00000000-0000-4000-8000-000000000000";
        const r = await exec({ tenantFilter: t1.domain, userId: id, State: "Enforced" });
        expect([404, 500]).toContain(r.status);
        expect(expectResults(r, r.status)).toContain(id);
      });

      it("a tenant Graph refuses entirely: each endpoint reports the failure (500/502), AllTenants still answers the others", async () => {
        h.emu.admin.addFaults([{ tenant: t2.domain, status: 403, count: 10_000 }]);
        const user = upn("alex.wilber", t2.domain);
        const set = await exec({ tenantFilter: t2.domain, userPrincipalName: user, State: "Enforced" });
        expect(expectResults(set, 500).startsWith(`Failed to set MFA State to enforced for ${user}. Error: `)).toBe(true);
        expect(expectResults(await h.call(`/api/ListPerUserMFA?tenantFilter=${t2.domain}&allUsers=true`, { auth: rw }), 502)).toMatch(/403|denied|Authorization/i);
        expect(expectResults(await h.call(`/api/ListMFAUsers?tenantFilter=${t2.domain}`, { auth: rw }), 502)).toContain(t2.domain);
        expect([403, 502]).toContain((await listOne(t2.domain, user)).status);
        const all = await h.call("/api/ListMFAUsers?tenantFilter=AllTenants", { auth: rw });
        expect(all.status, all.text).toBe(200);
        const tenantsAnswered = new Set((all.body as Record<string, unknown>[]).map((row) => row["Tenant"]));
        expect(tenantsAnswered.has(t1.domain)).toBe(true);
        expect(tenantsAnswered.has(t2.domain)).toBe(false);
        expect(all.headers.get("x-mfactl-failed-tenants")).toBe("1");
        // The tenant left out is not silent: the server's log says which and why.
        expect(h.logs.some((l) => l.includes(t2.domain) && /tenant/i.test(l) && /"level":40/.test(l))).toBe(true);
        h.emu.admin.clearFaults();
        expect(emuState(t2.domain, user)).toBe("disabled");
      });

      it("a protected account (Entra Connect's directory synchronisation account) is refused with 400 and not touched", async () => {
        const user = h.emu.admin.listUsers(t1.domain).find((u) => u.userPrincipalName.startsWith("Sync_"))!.userPrincipalName;
        const r = await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" });
        const line = expectResults(r, 400);
        expect(line).toContain(user);
        expect(patches(t1.domain, user)).toBe(0);
      });
    });

    describe("bad requests: 400 with Results, nothing changed", () => {
      const cases: [string, (user: string) => unknown][] = [
        ["no tenantFilter", (user) => ({ userPrincipalName: user, State: "Enforced" })],
        ["an empty tenantFilter", (user) => ({ tenantFilter: " ", userPrincipalName: user, State: "Enforced" })],
        ["no user", () => ({ tenantFilter: "t1", State: "Enforced" })],
        ["an empty userId and userPrincipalName", () => ({ tenantFilter: "t1", userId: "", userPrincipalName: "", State: "Enforced" })],
        ["no State", (user) => ({ tenantFilter: "t1", userPrincipalName: user })],
        ["State 'On'", (user) => ({ tenantFilter: "t1", userPrincipalName: user, State: "On" })],
        ["State 'unknownFutureValue'", (user) => ({ tenantFilter: "t1", userPrincipalName: user, State: "unknownFutureValue" })],
        ["State {label: 'x'}", (user) => ({ tenantFilter: "t1", userPrincipalName: user, State: { label: "x" } })],
        ["State {}", (user) => ({ tenantFilter: "t1", userPrincipalName: user, State: {} })],
        ["State true", (user) => ({ tenantFilter: "t1", userPrincipalName: user, State: true })],
        ["State ['Enforced']", (user) => ({ tenantFilter: "t1", userPrincipalName: user, State: ["Enforced"] })],
        ["userId an object", () => ({ tenantFilter: "t1", userId: { id: "x" }, State: "Enforced" })],
        ["tenantFilter a list", (user) => ({ tenantFilter: ["t1"], userPrincipalName: user, State: "Enforced" })],
        ["a JSON array", (user) => [{ tenantFilter: "t1", userPrincipalName: user, State: "Enforced" }]],
        ["a JSON string", () => JSON.stringify("Enforced")],
        ["not JSON", () => "{tenantFilter: nope"],
      ];
      for (const [name, body] of cases) {
        it(name, async () => {
          const user = upn("alex.wilber");
          const before = h.emu.admin.stats().patches;
          const sent = body(user);
          const json = typeof sent === "string" ? sent : JSON.stringify(sent).replaceAll('"t1"', JSON.stringify(t1.domain));
          const r = await exec(json);
          const line = expectResults(r, 400);
          expect(line.length).toBeGreaterThan(5);
          expect(h.emu.admin.stats().patches).toBe(before);
          expect(emuState(t1.domain, user)).toBe("disabled");
        });
      }

      it("the 400 says what is missing", async () => {
        expect(expectResults(await exec({ userPrincipalName: upn("alex.wilber"), State: "Enforced" }), 400)).toMatch(/tenantFilter/);
        expect(expectResults(await exec({ tenantFilter: t1.domain, State: "Enforced" }), 400)).toMatch(/userPrincipalName|userId/);
        expect(expectResults(await exec({ tenantFilter: t1.domain, userId: upn("alex.wilber"), State: "On" }), 400)).toMatch(/State/);
      });

      it("an empty body", async () => {
        const r = await h.call("/api/ExecPerUserMFA", { method: "POST", auth: rw, headers: { "content-type": "application/json" } });
        expect(r.status).toBe(400);
        expect((r.body as { Results: string[] }).Results).toHaveLength(1);
      });

      it("an unknown tenant: 404 with Results naming it", async () => {
        const r = await exec({ tenantFilter: "unknown.onmicrosoft.com", userPrincipalName: "a@unknown.onmicrosoft.com", State: "Enforced" });
        expect(expectResults(r, 404)).toContain("unknown.onmicrosoft.com");
      });

      it("tenantFilter AllTenants is not a tenant for a change: 404, nothing changed", async () => {
        const before = h.emu.admin.stats().patches;
        const r = await exec({ tenantFilter: "AllTenants", userPrincipalName: upn("alex.wilber"), State: "Enforced" });
        expectResults(r, 404);
        expect(h.emu.admin.stats().patches).toBe(before);
      });
    });

    describe("GET /api/ListPerUserMFA", () => {
      it("one user by UPN or object id: a bare array [{PerUserMFAState, UserPrincipalName}], the name as sent (as CIPP echoes it)", async () => {
        const megan = h.emu.admin.getUser(t1.domain, upn("megan.bowen"));
        const byUpn = await listOne(t1.domain, megan.userPrincipalName);
        expect(byUpn.status, byUpn.text).toBe(200);
        expect(Array.isArray(byUpn.body)).toBe(true);
        expect(byUpn.body).toHaveLength(1);
        expect(byUpn.body).toEqual([expect.objectContaining({ PerUserMFAState: "enabled", UserPrincipalName: megan.userPrincipalName })]);
        const byId = await listOne(t1.domain, megan.id);
        expect(byId.status, byId.text).toBe(200);
        expect(byId.body).toEqual([expect.objectContaining({ PerUserMFAState: "enabled", UserPrincipalName: megan.id })]);
        const byUpnKey = await h.call(`/api/ListPerUserMFA?tenantFilter=${t1.domain}&userPrincipalName=${encodeURIComponent(megan.userPrincipalName)}`, { auth: rw });
        expect(byUpnKey.body).toEqual([expect.objectContaining({ PerUserMFAState: "enabled", UserPrincipalName: megan.userPrincipalName })]);
      });

      it("query keys are case-insensitive; the tenant by id; Get-CIPPPerUserMFA's empty allUsers=False", async () => {
        const user = upn("admin");
        const r = await h.call(`/api/ListPerUserMFA?TENANTFILTER=${t1.id}&UserID=${encodeURIComponent(user)}&allUsers=False`, { auth: rw });
        expect(r.status, r.text).toBe(200);
        expect(r.body).toEqual([expect.objectContaining({ PerUserMFAState: "enforced", UserPrincipalName: user })]);
      });

      it("allUsers=true (and Get-CIPPPerUserMFA -AllUsers: allUsers=True&userId=): every user of the tenant with the emulator's state", async () => {
        h.emu.admin.patchUser(t2.domain, upn("alex.wilber", t2.domain), { perUserMfaState: "enforced" });
        const directory = h.emu.admin.listUsers(t2.domain);
        for (const query of [`tenantFilter=${t2.domain}&allUsers=true`, `tenantFilter=${t2.id}&userId=&allUsers=True`]) {
          const r = await h.call(`/api/ListPerUserMFA?${query}`, { auth: rw });
          expect(r.status, r.text).toBe(200);
          const rows = r.body as { PerUserMFAState: string; UserPrincipalName: string }[];
          expect(rows).toHaveLength(directory.length);
          const byUpn = new Map(rows.map((row) => [row.UserPrincipalName, row.PerUserMFAState]));
          expect(byUpn.size).toBe(directory.length);
          for (const u of directory) expect(byUpn.get(u.userPrincipalName), u.userPrincipalName).toBe(u.perUserMfaState);
          expect(byUpn.get(upn("alex.wilber", t2.domain))).toBe("enforced");
          expect(byUpn.get(guest(t2.domain))).toBe("disabled");
        }
      });

      it("no tenantFilter or no user: 400 with Results; unknown tenant 404; unknown user 404 naming it", async () => {
        expect(expectResults(await h.call(`/api/ListPerUserMFA?userId=${encodeURIComponent(upn("admin"))}`, { auth: rw }), 400)).toMatch(/tenantFilter/);
        expect(expectResults(await h.call(`/api/ListPerUserMFA?tenantFilter=${t1.domain}`, { auth: rw }), 400)).toMatch(/userId/);
        expectResults(await listOne("unknown.onmicrosoft.com", "a@unknown.onmicrosoft.com"), 404);
        const missing = upn("nobody.here");
        const r = await listOne(t1.domain, missing);
        expect(expectResults(r, 404)).toContain(missing);
      });
    });

    describe("GET /api/ListMFAUsers", () => {
      it("one tenant: a bare array with exactly CIPP's columns, one row per user of the emulator's directory", async () => {
        const r = await h.call(`/api/ListMFAUsers?tenantFilter=${t1.domain}`, { auth: rw });
        expect(r.status, r.text).toBe(200);
        const rows = r.body as Record<string, unknown>[];
        expect(Array.isArray(rows)).toBe(true);
        const directory = h.emu.admin.listUsers(t1.domain);
        expect(rows).toHaveLength(directory.length);
        const expectedColumns = [
          "UPN", "ID", "DisplayName", "AccountEnabled", "UserType", "isLicensed", "PerUser", "MFARegistration",
          "MFACapable", "MFAMethods", "CoveredByCA", "CAPolicies", "CoveredBySD", "IsAdmin", "Tenant",
        ];
        expect([...CIPP_MFA_USER_COLUMNS]).toEqual(expectedColumns);
        for (const row of rows) expect(Object.keys(row).sort()).toEqual([...expectedColumns].sort());
        const byId = new Map(rows.map((row) => [row["ID"], row]));
        for (const u of directory) {
          const row = byId.get(u.id);
          expect(row, u.userPrincipalName).toBeDefined();
          expect(row!["UPN"]).toBe(u.userPrincipalName);
          expect(row!["PerUser"]).toBe(u.perUserMfaState);
          expect(row!["Tenant"]).toBe(t1.domain);
        }
        const g = rows.find((row) => row["UPN"] === guest())!;
        expect(g).toMatchObject({ UserType: "Guest", isLicensed: false, AccountEnabled: true, IsAdmin: false });
        expect(Array.isArray(g["MFAMethods"])).toBe(true);
        expect(Array.isArray(g["CAPolicies"])).toBe(true);
        expect(typeof g["CoveredByCA"]).toBe("string");
        const admin = rows.find((row) => row["UPN"] === upn("admin"))!;
        expect(admin).toMatchObject({ UserType: "Member", IsAdmin: true, PerUser: "enforced", MFARegistration: true });
        expect(rows.find((row) => row["UPN"] === upn("former.employee"))).toMatchObject({ AccountEnabled: false });
        for (const row of rows) {
          expect(row["UPN"]).toMatch(UPN_RE);
          expect(row["CoveredByCA"]).toMatch(/^(Enforced - All Apps|Enforced - Specific Apps|Not Enforced|CA policies not available: .+)$/);
          expect([true, false, null]).toContain(row["CoveredBySD"]);
          for (const p of row["CAPolicies"] as Record<string, unknown>[]) expect(Object.keys(p).sort()).toEqual(["AllApps", "DisplayName", "PolicyState", "UserIncluded"]);
        }
      });

      it("a change made through ExecPerUserMFA shows in PerUser", async () => {
        const user = upn("alex.wilber");
        expect((await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" })).status).toBe(200);
        const r = await h.call(`/api/ListMFAUsers?TenantFilter=${t1.domain}`, { auth: rw });
        expect((r.body as Record<string, unknown>[]).find((row) => row["UPN"] === user)).toMatchObject({ PerUser: "enforced" });
      });

      it("tenantFilter=AllTenants: every tenant served, every user once", async () => {
        const r = await h.call("/api/ListMFAUsers?tenantfilter=AllTenants", { auth: rw });
        expect(r.status, r.text).toBe(200);
        const rows = r.body as Record<string, unknown>[];
        const tenants = h.emu.tenants;
        expect(rows).toHaveLength(tenants.reduce((n, t) => n + t.userCount, 0));
        for (const t of tenants) {
          const mine = rows.filter((row) => row["Tenant"] === t.domain);
          expect(mine.map((row) => row["ID"]).sort()).toEqual(h.emu.admin.listUsers(t.domain).map((u) => u.id).sort());
        }
      });

      it("no tenantFilter: 400; unknown tenant: 404", async () => {
        expect(expectResults(await h.call("/api/ListMFAUsers", { auth: rw }), 400)).toMatch(/tenantFilter/);
        expectResults(await h.call("/api/ListMFAUsers?tenantFilter=unknown.onmicrosoft.com", { auth: rw }), 404);
      });
    });

    describe("routing and authentication", () => {
      it("endpoint names are case-sensitive, as in CIPP: /api/execperusermfa and /api/listmfausers are 404, nothing changed", async () => {
        const user = upn("alex.wilber");
        const r = await h.call("/api/execperusermfa", { method: "POST", auth: rw, body: { tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" } });
        expect(r.status).toBe(404);
        expect(emuState(t1.domain, user)).toBe("disabled");
        expect((await h.call(`/api/listmfausers?tenantFilter=${t1.domain}`, { auth: rw })).status).toBe(404);
        expect((await h.call(`/api/LISTPERUSERMFA?tenantFilter=${t1.domain}&userId=${user}`, { auth: rw })).status).toBe(404);
      });

      it("no credential: 401 with Results; a bad token: 401", async () => {
        const user = upn("alex.wilber");
        const r = await h.call("/api/ExecPerUserMFA", { method: "POST", body: { tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" } });
        expectResults(r, 401);
        const mint = (audience: string, lifetimeSeconds: number) =>
          h.emu.mintToken({ tenant: h.emu.apiApp.tenantId, clientId: h.emu.apiCallers.readWrite.clientId, audience, lifetimeSeconds, roles: ["MfaState.ReadWrite"] });
        // Expired well beyond the allowed clock skew; for another audience (Graph's).
        const expired = await mint(h.emu.apiApp.identifierUri, -3600);
        expect(expectResults(await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" }, expired.accessToken), 401)).toMatch(/expired/i);
        const otherAudience = await mint("https://graph.microsoft.com", 3600);
        expectResults(await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" }, otherAudience.accessToken), 401);
        // A well-formed token for this API, valid, but the app is not in the server's settings: authenticated, allowed nothing.
        const stranger = await h.emu.mintToken({ tenant: h.emu.apiApp.tenantId, clientId: "11111111-2222-4333-8444-555555555555", audience: h.emu.apiApp.identifierUri, lifetimeSeconds: 3600, roles: ["MfaState.ReadWrite"] });
        expectResults(await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" }, stranger.accessToken), 403);
        expectResults(await h.call(`/api/ListMFAUsers?tenantFilter=${t1.domain}`), 401);
        expect(emuState(t1.domain, user)).toBe("disabled");
      });

      it("a read-only token: 403 on ExecPerUserMFA (nothing changed), 200 on the List endpoints of its tenant, 403 on other tenants", async () => {
        const user = upn("alex.wilber");
        const r = await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" }, ro);
        expectResults(r, 403);
        expect(emuState(t1.domain, user)).toBe("disabled");
        const one = await listOne(t1.domain, user, ro);
        expect(one.status, one.text).toBe(200);
        expect(one.body).toEqual([expect.objectContaining({ PerUserMFAState: "disabled", UserPrincipalName: user })]);
        const all = await h.call(`/api/ListPerUserMFA?tenantFilter=${t1.domain}&allUsers=true`, { auth: ro });
        expect(all.status, all.text).toBe(200);
        expect(all.body).toHaveLength(h.emu.admin.listUsers(t1.domain).length);
        const mfa = await h.call(`/api/ListMFAUsers?tenantFilter=${t1.domain}`, { auth: ro });
        expect(mfa.status, mfa.text).toBe(200);
        expect(mfa.body).toHaveLength(h.emu.admin.listUsers(t1.domain).length);
        expectResults(await listOne(t2.domain, upn("alex.wilber", t2.domain), ro), 403);
        expectResults(await h.call(`/api/ListMFAUsers?tenantFilter=${t2.domain}`, { auth: ro }), 403);
      });

      it("AllTenants for the read-only token: only its own tenant", async () => {
        const r = await h.call("/api/ListMFAUsers?tenantFilter=AllTenants", { auth: ro });
        expect(r.status, r.text).toBe(200);
        const rows = r.body as Record<string, unknown>[];
        expect(rows).toHaveLength(h.emu.admin.listUsers(t1.domain).length);
        expect(new Set(rows.map((row) => row["Tenant"]))).toEqual(new Set([t1.domain]));
      });

      it("API keys work too (Bearer and X-Api-Key): a write key changes, a read key gets 403, a key limited to one tenant gets 403 elsewhere", async () => {
        const write = await h.key(["write"], { name: "n8n-prod" });
        const user = upn("alex.wilber");
        const r1 = await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" }, write);
        expect(r1.status, r1.text).toBe(200);
        expect(emuState(t1.domain, user)).toBe("enforced");
        const r2 = await h.call("/api/ExecPerUserMFA", { method: "POST", headers: { "x-api-key": write }, body: { tenantFilter: t1.domain, userPrincipalName: user, State: "Disabled" } });
        expect(r2.status, r2.text).toBe(200);
        expect(emuState(t1.domain, user)).toBe("disabled");
        const [run] = await h.store.journal.listRuns({ limit: 1 });
        expect(run!.actor).toBe("apikey:n8n-prod");

        const read = await h.key(["read"]);
        expectResults(await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" }, read), 403);
        expect((await listOne(t1.domain, user, read)).status).toBe(200);

        const scoped = await h.key(["write"], { tenants: [t2.id] });
        expectResults(await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Enforced" }, scoped), 403);
        const r3 = await exec({ tenantFilter: t2.domain, userPrincipalName: upn("alex.wilber", t2.domain), State: "Enforced" }, scoped);
        expect(r3.status, r3.text).toBe(200);
        expect(emuState(t1.domain, user)).toBe("disabled");
        expect(emuState(t2.domain, upn("alex.wilber", t2.domain))).toBe("enforced");
      });
    });

    describe("rate limit", () => {
      it("a caller over its limit gets 429 with Results saying so and Retry-After; no change is made", async () => {
        const limited = await startHarness({ openStore: backend.open, users: 12, tenants: 1, settings: { rateLimit: { max: 2, windowSeconds: 600 } } });
        try {
          const token = await limited.token("readWrite");
          const d = limited.emu.tenants[0]!.domain;
          const user = `alex.wilber@${d}`;
          for (let i = 0; i < 2; i++) expect((await limited.call(`/api/ListPerUserMFA?tenantFilter=${d}&userId=${user}`, { auth: token })).status).toBe(200);
          const r = await limited.call("/api/ExecPerUserMFA", { method: "POST", auth: token, body: { tenantFilter: d, userPrincipalName: user, State: "Enforced" } });
          expect(r.status, r.text).toBe(429);
          expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
          const lines = (r.body as { Results: string[] }).Results;
          expect(lines).toHaveLength(1);
          expect(lines[0]).toMatch(/rate limit.*2 requests per 600 s/i);
          expect(limited.emu.admin.getUser(d, user).perUserMfaState).toBe("disabled");
        } finally {
          await limited.close();
        }
      });
    });

    describe("every change is journaled and audited with the caller as actor", () => {
      it("journal: a run by app:<client id> with the previous state; audit: mfa.set ok with the request id", async () => {
        const alex = h.emu.admin.getUser(t1.domain, upn("alex.wilber"));
        const r = await exec({ tenantFilter: t1.domain, userId: alex.id, State: { label: "Enforced", value: "enforced" } });
        expect(r.status, r.text).toBe(200);
        const [run] = await h.store.journal.listRuns({ limit: 1 });
        expect(run).toMatchObject({ kind: "set", actor: `app:${h.emu.apiCallers.readWrite.clientId}`, status: "completed", total: 1 });
        const changes = [];
        for await (const c of h.store.journal.changes(run!.runId)) changes.push(c);
        expect(changes).toEqual([
          expect.objectContaining({ tenant: t1.domain, id: alex.id, userPrincipalName: alex.userPrincipalName, previousState: "disabled", requestedState: "enforced", perUserMfaState: "enforced", status: "changed" }),
        ]);
        const [entry] = await h.store.access.listAudit({ action: "mfa.set", limit: 1 });
        expect(entry).toMatchObject({
          actor: `app:${h.emu.apiCallers.readWrite.clientId}`,
          outcome: "ok",
          tenant: t1.domain,
          target: alex.userPrincipalName,
          runId: run!.runId,
          requestId: r.headers.get("x-request-id"),
        });
        expect(entry!.detail).toMatch(/disabled -> enforced/);
        // The run can be seen through the REST API too.
        const viaApi = await h.call(`/v1/runs/${run!.runId}`, { auth: rw });
        expect(viaApi.status, viaApi.text).toBe(200);
      });

      it("a change made through the CIPP endpoint can be undone (CIPP keeps no previous state): POST /v1/jobs/undo restores it", async () => {
        const user = upn("megan.bowen");
        expect(emuState(t1.domain, user)).toBe("enabled");
        expect((await exec({ tenantFilter: t1.domain, userPrincipalName: user, State: "Disabled" })).status).toBe(200);
        expect(emuState(t1.domain, user)).toBe("disabled");
        const [run] = await h.store.journal.listRuns({ limit: 1 });
        const started = await h.call("/v1/jobs/undo", { method: "POST", auth: rw, body: { runId: run!.runId } });
        expect(started.status, started.text).toBe(202);
        const jobId = (started.body as { jobId: string }).jobId;
        // The event stream ends with the job's end.
        const events = await h.call(`/v1/jobs/${jobId}/events`, { auth: rw });
        expect(events.text).toMatch(/event: done/);
        const done = await h.call(`/v1/jobs/${jobId}`, { auth: rw });
        expect(done.body).toMatchObject({ status: "succeeded" });
        expect(emuState(t1.domain, user)).toBe("enabled");
        const back = await listOne(t1.domain, user);
        expect(back.body).toEqual([expect.objectContaining({ PerUserMFAState: "enabled" })]);
      });

      it("a refused call (read-only token) changes nothing and adds no run", async () => {
        const before = (await h.store.journal.listRuns({ limit: 1 }))[0]?.runId;
        expectResults(await exec({ tenantFilter: t1.domain, userPrincipalName: upn("alex.wilber"), State: "Enforced" }, ro), 403);
        expect((await h.store.journal.listRuns({ limit: 1 }))[0]?.runId).toBe(before);
      });

      it("no log line holds the token or an API key", async () => {
        const key = await h.key(["write"]);
        expect((await exec({ tenantFilter: t1.domain, userPrincipalName: upn("alex.wilber"), State: "Enforced" }, key)).status).toBe(200);
        expect((await exec({ tenantFilter: t1.domain, userPrincipalName: upn("alex.wilber"), State: "Disabled" })).status).toBe(200);
        const logs = h.logs.join("");
        expect(logs.length).toBeGreaterThan(0);
        expect(logs).not.toContain(key);
        expect(logs).not.toContain(rw);
        expect(logs).not.toContain(rw.split(".")[2]!);
      });
    });
  });
}
