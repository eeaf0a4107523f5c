/**
 * Tenants and users over HTTP: paging every user once, state filters, search, sorting, cursors, one user's
 * state read and set (by UPN, object id, a guest's #EXT# UPN), bad bodies, unknown users, dry
 * runs, changes Graph refuses (journal and audit log show the failure), protected accounts.
 * Checked against the emulator's own directory. On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeBackendsForTests } from "../../store/src/postgres.test-helper.js";
import { startHarness, type ErrorReply, type Harness } from "./server-harness.test-helper.js";

interface Row {
  tenant: string;
  id: string;
  userPrincipalName: string;
  displayName: string;
  userType: string;
  accountEnabled: boolean;
  isLicensed: boolean;
  perUserMfaState: string;
}
interface Page {
  users: Row[];
  nextCursor?: string;
}
interface Change {
  tenant: string;
  id: string;
  userPrincipalName: string;
  previousState?: string;
  requestedState: string;
  perUserMfaState?: string;
  status: string;
  requestId?: string;
  error?: { code: string; message: string; httpStatus?: number };
  runId?: string;
}
interface JournalChange {
  seq: number;
  id: string;
  status: string;
  requestId?: string;
  error?: { code: string };
}
interface AuditEntry {
  seq: number;
  actor: string;
  action: string;
  outcome: string;
  tenant?: string;
  target?: string;
  runId?: string;
  requestId?: string;
}

for (const b of storeBackendsForTests()) {
  describe.skipIf(b.skip !== undefined)(`API tenants and users (${b.name})`, () => {
    let h: Harness;
    let admin: string;
    let write: string;
    let t0: string;
    let t1: string;

    beforeAll(async () => {
      // breakglass@ of every tenant is on the profile's protected list; Sync_ accounts are protected by their role.
      h = await startHarness({ openStore: b.open, users: 30, protectedList: (emu) => emu.tenants.map((t) => `breakglass@${t.domain}`) });
      admin = await h.key(["admin"], { name: "ops-admin" });
      write = await h.key(["write"], { name: "ops-write" });
      t0 = h.emu.tenants[0]!.domain;
      t1 = h.emu.tenants[1]!.domain;
    });
    afterAll(async () => h?.close());

    const directory = (tenant: string) => h.emu.admin.listUsers(tenant).map((u) => ({ ...u, view: h.emu.admin.getUser(tenant, u.id) }));
    const find = (tenant: string, local: string) => {
      // "Sync_SRV01_" names the sync account by its prefix; anything else is the part before @.
      const prefix = local.endsWith("_") ? local.toLowerCase() : `${local.toLowerCase()}@`;
      const u = h.emu.admin.listUsers(tenant).find((x) => x.userPrincipalName.toLowerCase().startsWith(prefix));
      if (!u) throw new Error(`no ${local} in ${tenant}`);
      return h.emu.admin.getUser(tenant, u.id);
    };
    const mfa = (tenant: string, user: string) => `/v1/tenants/${encodeURIComponent(tenant)}/users/${encodeURIComponent(user)}/mfa`;
    const snapshot = (tenant: string) => h.emu.admin.listUsers(tenant).map((u) => `${u.id}:${u.perUserMfaState}:${u.patchCount}`);

    async function allPages(path: string, limit: number): Promise<{ rows: Row[]; pages: number[] }> {
      const rows: Row[] = [];
      const pages: number[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 100; i++) {
        const sep = path.includes("?") ? "&" : "?";
        const res = await h.call(`${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { auth: admin });
        expect(res.status).toBe(200);
        const page = res.body as Page;
        expect(page.users.length).toBeLessThanOrEqual(limit);
        rows.push(...page.users);
        pages.push(page.users.length);
        if (page.nextCursor === undefined) return { rows, pages };
        cursor = page.nextCursor;
      }
      throw new Error("more than 100 pages");
    }

    function expectError(res: { status: number; body: unknown; headers: Headers }, status: number, code: string): ErrorReply {
      expect({ status: res.status, code: (res.body as ErrorReply).error?.code }).toStrictEqual({ status, code });
      expect((res.body as ErrorReply).requestId).toBe(res.headers.get("x-request-id"));
      return res.body as ErrorReply;
    }

    describe("reading", () => {
      it("lists the tenants served with every name they answer to", async () => {
        const res = await h.call("/v1/tenants", { auth: admin });
        expect(res.status).toBe(200);
        expect((res.body as { tenants: { tenant: string; names: string[] }[] }).tenants.map((t) => ({ tenant: t.tenant, names: [...t.names].sort() }))).toStrictEqual(
          h.emu.tenants.map((t) => ({ tenant: t.domain, names: [t.domain.toLowerCase(), t.id.toLowerCase()].sort() })),
        );
      });

      it("pages through every user exactly once, as the emulator's directory holds them", async () => {
        const { rows, pages } = await allPages(`/v1/tenants/${t0}/users`, 7);
        const expected = directory(t0);
        expect(pages.length).toBeGreaterThan(1);
        expect(pages.slice(0, -1).every((n) => n === 7)).toBe(true);
        expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
        const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
        expect([...rows].sort(byId)).toStrictEqual(
          expected
            .map((u) => ({
              tenant: t0,
              id: u.id,
              userPrincipalName: u.userPrincipalName,
              displayName: u.view.displayName,
              userType: u.view.userType,
              accountEnabled: u.view.accountEnabled,
              isLicensed: u.view.isLicensed,
              perUserMfaState: u.perUserMfaState,
            }))
            .sort(byId),
        );
      });

      it("answers under any of the tenant's names (its id, another case), naming it as served", async () => {
        const id = h.emu.tenants[0]!.id.toUpperCase();
        const { rows } = await allPages(`/v1/tenants/${id}/users`, 999);
        expect(rows.length).toBe(h.emu.admin.listUsers(t0).length);
        expect(new Set(rows.map((r) => r.tenant))).toStrictEqual(new Set([t0]));
      });

      it("filters by state, one state or several (repeated ?state=), across pages", async () => {
        const expectIds = (states: string[]) =>
          h.emu.admin
            .listUsers(t0)
            .filter((u) => states.includes(u.perUserMfaState))
            .map((u) => u.id)
            .sort();
        const two = await allPages(`/v1/tenants/${t0}/users?state=enabled&state=enforced`, 3);
        expect(two.rows.map((r) => r.id).sort()).toStrictEqual(expectIds(["enabled", "enforced"]));
        expect(two.rows.every((r) => r.perUserMfaState === "enabled" || r.perUserMfaState === "enforced")).toBe(true);
        const one = await allPages(`/v1/tenants/${t0}/users?state=disabled`, 5);
        expect(one.rows.map((r) => r.id).sort()).toStrictEqual(expectIds(["disabled"]));
        expect(expectIds(["disabled"]).length + expectIds(["enabled", "enforced"]).length).toBe(h.emu.admin.listUsers(t0).length);
        expectError(await h.call(`/v1/tenants/${t0}/users?state=sometimes`, { auth: admin }), 400, "BadRequest");
      });

      it("searches display names and UPNs by prefix, case-insensitively", async () => {
        const users = directory(t0);
        const matching = (q: string) =>
          users
            .filter((u) => u.view.displayName.toLowerCase().startsWith(q.toLowerCase()) || u.userPrincipalName.toLowerCase().startsWith(q.toLowerCase()))
            .map((u) => u.id)
            .sort();
        // "break glass" is in the display name only (the UPN is breakglass@); "sync_srv01" in the UPN only.
        for (const q of ["BREAK GLASS", "sync_SRV01", "Adele", "a"]) {
          const { rows } = await allPages(`/v1/tenants/${t0}/users?search=${encodeURIComponent(q)}`, 4);
          const expected = matching(q);
          expect(expected.length, q).toBeGreaterThan(0);
          expect(rows.map((r) => r.id).sort(), q).toStrictEqual(expected);
        }
        const none = await h.call(`/v1/tenants/${t0}/users?search=${encodeURIComponent("zz-nobody-starts-so")}`, { auth: admin });
        expect(none.body).toStrictEqual({ users: [] });
        // A quote in the text is data, not OData syntax.
        const quote = await h.call(`/v1/tenants/${t0}/users?search=${encodeURIComponent("o'brien")}`, { auth: admin });
        expect((quote.body as Page).users.map((u) => u.userPrincipalName)).toStrictEqual([`o'brien@${t0}`]);
      });

      /** Graph's order: names case-insensitively; the emulator breaks ties by id. */
      const sortedIds = (users: ReturnType<typeof directory>, sort: string) => {
        const descending = sort.startsWith("-");
        const key = (u: ReturnType<typeof directory>[number]) => (sort.endsWith("displayName") ? u.view.displayName : u.userPrincipalName).toLowerCase();
        return [...users]
          .sort((a, b) => (key(a) !== key(b) ? (key(a) < key(b) ? -1 : 1) * (descending ? -1 : 1) : a.id < b.id ? -1 : 1))
          .map((u) => u.id);
      };

      it("sorts by display name or UPN, either way, page after page across cursors", async () => {
        const users = directory(t0);
        for (const sort of ["displayName", "-displayName", "userPrincipalName", "-userPrincipalName"]) {
          const { rows, pages } = await allPages(`/v1/tenants/${t0}/users?sort=${encodeURIComponent(sort)}`, 4);
          expect(pages.length, sort).toBe(Math.ceil(users.length / 4));
          expect(
            rows.map((r) => r.id),
            sort,
          ).toStrictEqual(sortedIds(users, sort));
        }
        // The listing's own order is not sorted: the sort did something.
        expect(sortedIds(users, "displayName")).not.toStrictEqual(users.map((u) => u.id));
        const reversed = sortedIds(users, "-userPrincipalName");
        expect(reversed).toStrictEqual([...sortedIds(users, "userPrincipalName")].reverse());
      });

      it("sorts search results and state-filtered users, across cursors", async () => {
        const users = directory(t0);
        const starts = (u: (typeof users)[number], q: string) => u.view.displayName.toLowerCase().startsWith(q) || u.userPrincipalName.toLowerCase().startsWith(q);
        const searched = users.filter((u) => starts(u, "a"));
        expect(searched.length).toBeGreaterThan(3);
        const bySearch = await allPages(`/v1/tenants/${t0}/users?search=A&sort=-displayName`, 2);
        expect(bySearch.rows.map((r) => r.id)).toStrictEqual(sortedIds(searched, "-displayName"));

        const disabled = users.filter((u) => u.perUserMfaState === "disabled");
        expect(disabled.length).toBeLessThan(users.length);
        const byState = await allPages(`/v1/tenants/${t0}/users?state=disabled&sort=userPrincipalName`, 3);
        expect(byState.rows.map((r) => r.id)).toStrictEqual(sortedIds(disabled, "userPrincipalName"));

        const both = await allPages(`/v1/tenants/${t0}/users?state=disabled&search=a&sort=displayName`, 2);
        expect(both.rows.map((r) => r.id)).toStrictEqual(sortedIds(searched.filter((u) => u.perUserMfaState === "disabled"), "displayName"));
      });

      it("refuses a sort it does not know (400), naming the ones it does", async () => {
        for (const sort of ["mail", "displayname", "+displayName", "displayName desc"]) {
          const reply = expectError(await h.call(`/v1/tenants/${t0}/users?sort=${encodeURIComponent(sort)}`, { auth: admin }), 400, "BadRequest");
          for (const allowed of ["displayName", "-displayName", "userPrincipalName", "-userPrincipalName"]) expect(reply.error.message, sort).toContain(allowed);
          expect(reply.error.message, sort).toContain("sort");
        }
        // The OpenAPI document offers the same values.
        const doc = (await h.call("/openapi.json")).body as { paths: Record<string, { get?: { parameters?: { name: string; in: string; schema?: { enum?: string[] } }[] } }> };
        const param = doc.paths["/v1/tenants/{tenant}/users"]?.get?.parameters?.find((p) => p.name === "sort" && p.in === "query");
        expect(param?.schema?.enum).toStrictEqual(["displayName", "-displayName", "userPrincipalName", "-userPrincipalName"]);
      });

      it("refuses a cursor it did not hand out (400) and unknown query keys", async () => {
        expectError(await h.call(`/v1/tenants/${t0}/users?cursor=not-a-cursor`, { auth: admin }), 400, "BadRequest");
        const elsewhere = Buffer.from(JSON.stringify(["/groups", { $top: "5" }, 0])).toString("base64url");
        expectError(await h.call(`/v1/tenants/${t0}/users?cursor=${elsewhere}`, { auth: admin }), 400, "BadRequest");
        const farOffset = Buffer.from(JSON.stringify(["/users", { $top: "5" }, 100000])).toString("base64url");
        expectError(await h.call(`/v1/tenants/${t0}/users?cursor=${farOffset}`, { auth: admin }), 400, "BadRequest");
        expectError(await h.call(`/v1/tenants/${t0}/users?limit=0`, { auth: admin }), 400, "BadRequest");
        expectError(await h.call(`/v1/tenants/${t0}/users?limit=1000`, { auth: admin }), 400, "BadRequest");
        expectError(await h.call(`/v1/tenants/${t0}/users?colour=blue`, { auth: admin }), 400, "BadRequest");
      });

      it("answers a tenant it does not serve with 404 TenantNotFound", async () => {
        for (const [method, path, body] of [
          ["GET", `/v1/tenants/unknown.onmicrosoft.com/users`, undefined],
          ["GET", mfa("unknown.onmicrosoft.com", "someone@unknown.onmicrosoft.com"), undefined],
          ["PUT", mfa("unknown.onmicrosoft.com", "someone@unknown.onmicrosoft.com"), { perUserMfaState: "enforced" }],
        ] as const) {
          const reply = expectError(await h.call(path, { method, auth: admin, body }), 404, "TenantNotFound");
          expect(reply.error.message).toContain("unknown.onmicrosoft.com");
        }
      });

      it("reads one user's state by UPN, by object id and by a guest's percent-encoded #EXT# UPN", async () => {
        const megan = find(t0, "megan.bowen");
        const guest = find(t0, "john.doe_fabrikam.com#EXT#");
        for (const [ref, u] of [
          [megan.userPrincipalName, megan],
          [megan.userPrincipalName.toUpperCase(), megan],
          [megan.id, megan],
          [guest.userPrincipalName, guest],
          [guest.id, guest],
        ] as const) {
          const res = await h.call(mfa(t0, ref), { auth: admin });
          expect(res.status, ref).toBe(200);
          expect(res.body).toStrictEqual({ tenant: t0, id: u.id, userPrincipalName: u.userPrincipalName, perUserMfaState: u.perUserMfaState });
        }
        expect(mfa(t0, guest.userPrincipalName)).toContain("%23EXT%23");
        const missing = await h.call(mfa(t0, `nobody@${t0}`), { auth: admin });
        expect(missing.status).toBe(404);
        expect((missing.body as ErrorReply).error.code).toBe("Request_ResourceNotFound");
      });
    });

    describe("changing", () => {
      it("sets a state by UPN, object id and guest UPN: changed, read back, journaled, audited", async () => {
        const cases = [
          { user: find(t1, "alex.wilber"), ref: (u: { userPrincipalName: string }) => u.userPrincipalName, state: "enforced", sent: "Enforced" },
          { user: find(t1, "megan.bowen"), ref: (u: { id: string }) => u.id, state: "disabled", sent: "disabled" },
          { user: find(t1, "john.doe_fabrikam.com#EXT#"), ref: (u: { userPrincipalName: string }) => u.userPrincipalName, state: "enabled", sent: "ENABLED" },
        ];
        for (const c of cases) {
          const before = c.user;
          expect(before.perUserMfaState).not.toBe(c.state);
          const res = await h.call(mfa(t1, c.ref(before)), { method: "PUT", auth: write, body: { perUserMfaState: c.sent } });
          expect(res.status, before.userPrincipalName).toBe(200);
          const change = res.body as Change;
          expect(change).toMatchObject({ tenant: t1, id: before.id, userPrincipalName: before.userPrincipalName, previousState: before.perUserMfaState, requestedState: c.state, perUserMfaState: c.state, status: "changed" });
          expect(change.requestId).toMatch(/^[0-9a-f-]{36}$/);
          const after = h.emu.admin.getUser(t1, before.id);
          expect({ state: after.perUserMfaState, patches: after.patchCount }).toStrictEqual({ state: c.state, patches: before.patchCount + 1 });
          // Read back through the API too.
          expect(((await h.call(mfa(t1, before.id), { auth: write })).body as Change).perUserMfaState).toBe(c.state);

          const run = await h.call(`/v1/runs/${change.runId}`, { auth: write });
          expect(run.body).toMatchObject({ runId: change.runId, kind: "set", actor: "apikey:ops-write", status: "completed", total: 1, counts: { changed: 1, pending: 0, inFlight: 0 } });
          const changes = (await h.call(`/v1/runs/${change.runId}/changes`, { auth: write })).body as { changes: JournalChange[] };
          expect(changes.changes.map((j) => ({ id: j.id, status: j.status, requestId: j.requestId }))).toStrictEqual([{ id: before.id, status: "changed", requestId: change.requestId }]);
          const audit = (await h.call(`/v1/audit?runId=${change.runId}`, { auth: write })).body as { entries: AuditEntry[] };
          expect(audit.entries.map((e) => ({ actor: e.actor, action: e.action, outcome: e.outcome, tenant: e.tenant, target: e.target }))).toStrictEqual([
            { actor: "apikey:ops-write", action: "mfa.set", outcome: "ok", tenant: t1, target: before.userPrincipalName },
          ]);
          expect(audit.entries[0]!.requestId).toBe(res.headers.get("x-request-id"));
        }
      });

      it("answers a state already in place with unchanged, sending nothing", async () => {
        const adminUser = find(t1, "admin");
        expect(adminUser.perUserMfaState).toBe("enforced");
        for (const state of ["enforced", "enabled"]) {
          const res = await h.call(mfa(t1, adminUser.userPrincipalName), { method: "PUT", auth: write, body: { perUserMfaState: state } });
          expect({ status: res.status, change: (res.body as Change).status, now: (res.body as Change).perUserMfaState }).toStrictEqual({ status: 200, change: "unchanged", now: "enforced" });
        }
        expect(h.emu.admin.getUser(t1, adminUser.id).patchCount).toBe(adminUser.patchCount);
      });

      it("refuses a bad body with 400 and changes nothing", async () => {
        const target = find(t1, "adele.vance");
        const before = snapshot(t1);
        const bodies: unknown[] = [
          {},
          { perUserMfaState: "sometimes" },
          { perUserMfaState: "unknownFutureValue" },
          { perUserMfaState: "enforced", colour: "blue" },
          { perUserMfaState: "enforced", dryRun: "yes" },
          { perUserMfaState: 3 },
          [],
        ];
        for (const body of bodies) {
          const reply = expectError(await h.call(mfa(t1, target.userPrincipalName), { method: "PUT", auth: write, body }), 400, "BadRequest");
          expect(reply.error.message, JSON.stringify(body)).toMatch(/Invalid request|body/);
        }
        const notJson = await h.call(mfa(t1, target.userPrincipalName), { method: "PUT", auth: write, body: "{ not json", headers: { "content-type": "application/json" } });
        expect(notJson.status).toBe(400);
        expect((notJson.body as ErrorReply).requestId).toBe(notJson.headers.get("x-request-id"));
        const text = await h.call(mfa(t1, target.userPrincipalName), { method: "PUT", auth: write, body: "<perUserMfaState>enforced</perUserMfaState>", headers: { "content-type": "application/xml" } });
        expect(text.status).toBe(415);
        expect((text.body as ErrorReply).error.code).toBe("UnsupportedMediaType");
        expect(snapshot(t1)).toStrictEqual(before);
        expect(((await h.call(mfa(t1, target.id), { auth: write })).body as Change).perUserMfaState).toBe(target.perUserMfaState);
      });

      it("answers an unknown user with 404 and status failed", async () => {
        const before = snapshot(t1);
        const res = await h.call(mfa(t1, `nobody@${t1}`), { method: "PUT", auth: write, body: { perUserMfaState: "enforced" } });
        expect(res.status).toBe(404);
        expect(res.body).toMatchObject({ tenant: t1, userPrincipalName: `nobody@${t1}`, requestedState: "enforced", status: "failed", error: { code: "Request_ResourceNotFound", httpStatus: 404 } });
        expect((res.body as Change).requestId).toMatch(/^[0-9a-f-]{36}$/);
        expect(snapshot(t1)).toStrictEqual(before);
      });

      it("previews with dryRun: wouldChange, nothing sent, nothing journaled", async () => {
        const target = find(t1, "adele.vance");
        const before = snapshot(t1);
        const runsBefore = ((await h.call("/v1/runs?limit=1000", { auth: write })).body as { runs: unknown[] }).runs.length;
        const res = await h.call(mfa(t1, target.userPrincipalName), { method: "PUT", auth: write, body: { perUserMfaState: "enforced", dryRun: true } });
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ id: target.id, previousState: target.perUserMfaState, perUserMfaState: target.perUserMfaState, requestedState: "enforced", status: "wouldChange" });
        expect((res.body as Change).runId).toBeUndefined();
        expect(snapshot(t1)).toStrictEqual(before);
        expect(((await h.call("/v1/runs?limit=1000", { auth: write })).body as { runs: unknown[] }).runs.length).toBe(runsBefore);
      });

      it("answers a change Graph still throttles after every retry with 429 and Retry-After, status failed, nothing changed", async () => {
        const target = find(t1, "alex.wilber");
        // More 429s than the client's attempts: the write never lands.
        h.emu.admin.addFaults([{ method: "PATCH", pathIncludes: target.id, status: 429, retryAfterSeconds: 0, count: 100 }]);
        try {
          const res = await h.call(mfa(t1, target.userPrincipalName), { method: "PUT", auth: write, body: { perUserMfaState: target.perUserMfaState === "enforced" ? "disabled" : "enforced" } });
          expect({ status: res.status, retryAfter: res.headers.get("retry-after") }).toStrictEqual({ status: 429, retryAfter: "30" });
          expect(res.body).toMatchObject({ id: target.id, status: "failed", error: { httpStatus: 429 } });
          const after = h.emu.admin.getUser(t1, target.id);
          expect({ state: after.perUserMfaState, patches: after.patchCount }).toStrictEqual({ state: target.perUserMfaState, patches: target.patchCount });
        } finally {
          h.emu.admin.clearFaults();
        }
      });

      for (const status of [403, 500]) {
        it(`answers a change Graph refuses (${status}) with 502, status failed, the error and Graph's request id; the journal and audit log say failed`, async () => {
          const target = find(t1, status === 403 ? "adele.vance" : "former.employee");
          h.emu.admin.addFaults([{ method: "PATCH", pathIncludes: target.id, status, count: 100 }]);
          try {
            const res = await h.call(mfa(t1, target.userPrincipalName), { method: "PUT", auth: write, body: { perUserMfaState: "enforced" } });
            expect(res.status).toBe(502);
            const change = res.body as Change;
            expect(change).toMatchObject({ id: target.id, status: "failed", previousState: target.perUserMfaState, requestedState: "enforced", error: { httpStatus: status } });
            expect(change.error?.code).toMatch(/\w+/);
            expect(change.error?.message).toContain(String(status));
            expect(change.requestId).toMatch(/^[0-9a-f-]{36}$/);
            expect(change.requestId).not.toBe(res.headers.get("x-request-id"));
            expect(change.runId).toBeDefined();

            const run = (await h.call(`/v1/runs/${change.runId}`, { auth: write })).body as { status: string; counts: Record<string, number> };
            expect({ status: run.status, failed: run.counts["failed"], changed: run.counts["changed"] }).toStrictEqual({ status: "completed", failed: 1, changed: 0 });
            const journal = (await h.call(`/v1/runs/${change.runId}/changes`, { auth: write })).body as { changes: JournalChange[] };
            expect(journal.changes.map((c) => ({ id: c.id, status: c.status, code: c.error?.code, requestId: c.requestId }))).toStrictEqual([{ id: target.id, status: "failed", code: change.error?.code, requestId: change.requestId }]);
            const audit = (await h.call(`/v1/audit?runId=${change.runId}`, { auth: write })).body as { entries: AuditEntry[] };
            expect(audit.entries.map((e) => [e.action, e.outcome, e.target])).toStrictEqual([["mfa.set", "failed", target.userPrincipalName]]);

            const after = h.emu.admin.getUser(t1, target.id);
            expect({ state: after.perUserMfaState, patches: after.patchCount }).toStrictEqual({ state: target.perUserMfaState, patches: target.patchCount });
          } finally {
            h.emu.admin.clearFaults();
          }
        });
      }

      it("refuses a protected account with 400 (Sync_ by its role, breakglass@ by the profile's list) unless includeProtected with the admin scope", async () => {
        const sync = find(t1, "Sync_SRV01_");
        const glass = find(t1, "breakglass");
        for (const target of [sync, glass]) {
          const before = snapshot(t1);
          const refused = expectError(await h.call(mfa(t1, target.userPrincipalName), { method: "PUT", auth: write, body: { perUserMfaState: "enforced" } }), 400, "BadRequest");
          expect(refused.error.message).toContain("protected");
          expect(refused.error.message).toContain(target.userPrincipalName);
          // A preview refuses what the change would.
          expectError(await h.call(mfa(t1, target.userPrincipalName), { method: "PUT", auth: write, body: { perUserMfaState: "enforced", dryRun: true } }), 400, "BadRequest");
          expectError(await h.call(mfa(t1, target.id), { method: "PUT", auth: write, body: { perUserMfaState: "enforced", includeProtected: true } }), 403, "InsufficientScope");
          expect(snapshot(t1)).toStrictEqual(before);

          const allowed = await h.call(mfa(t1, target.userPrincipalName), { method: "PUT", auth: admin, body: { perUserMfaState: "enforced", includeProtected: true } });
          expect({ status: allowed.status, change: (allowed.body as Change).status }).toStrictEqual({ status: 200, change: "changed" });
          expect(h.emu.admin.getUser(t1, target.id).perUserMfaState).toBe("enforced");
        }
      });
    });
  });
}
