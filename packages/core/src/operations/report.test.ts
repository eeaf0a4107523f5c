import { describe, expect, it } from "vitest";
import { AuthError, UsageError } from "../domain/errors.js";
import type { ReportRow, TenantOutcome } from "../domain/vocabulary.js";
import { FakeEngine, fakeUser } from "./fake-engine.test-helper.js";
import { reportUsers, type ReportItem } from "./report.js";

function world() {
  const contoso = [
    fakeUser("contoso.com", "a", { perUserMfaState: "enforced", hasMethods: true }),
    fakeUser("contoso.com", "b", { perUserMfaState: "enabled" }),
    fakeUser("contoso.com", "c", { userType: "Guest", licensed: false }),
    fakeUser("contoso.com", "d", { accountEnabled: false }),
    fakeUser("contoso.com", "e", { licensed: false, perUserMfaState: "unknownFutureValue" }),
    fakeUser("contoso.com", "f"),
    fakeUser("contoso.com", "g", { perUserMfaState: "enforced" }),
  ];
  const fabrikam = [fakeUser("fabrikam.com", "x"), fakeUser("fabrikam.com", "y", { perUserMfaState: "enforced" })];
  return new FakeEngine(new Map([["contoso.com", contoso], ["fabrikam.com", fabrikam], ["denied.com", []]]));
}

async function collect(items: AsyncIterable<ReportItem>) {
  const rows: ReportRow[] = [];
  const tenants: TenantOutcome[] = [];
  for await (const item of items) {
    if (item.kind === "user") rows.push(item.row);
    else tenants.push(item.outcome);
  }
  return { rows, tenants };
}

describe("reportUsers", () => {
  it("lists every user of every tenant once, with the report's columns, from the listing (fast path)", async () => {
    const engine = world();
    const { rows, tenants } = await collect(reportUsers(engine, { tenants: ["contoso.com", "fabrikam.com"] }));
    expect(rows).toHaveLength(9);
    expect(new Set(rows.map((r) => r.id)).size).toBe(9);
    expect(rows.find((r) => r.userPrincipalName === "c@contoso.com")).toEqual({
      tenant: "contoso.com",
      id: expect.any(String),
      userPrincipalName: "c@contoso.com",
      displayName: "c",
      userType: "Guest",
      accountEnabled: true,
      isLicensed: false,
      perUserMfaState: "disabled",
    });
    expect(rows.find((r) => r.userPrincipalName === "e@contoso.com")?.perUserMfaState).toBe("unknown");
    expect(tenants.sort((a, b) => a.tenant.localeCompare(b.tenant))).toEqual([
      { tenant: "contoso.com", status: "completed", users: 7 },
      { tenant: "fabrikam.com", status: "completed", users: 2 },
    ]);
    // Paging: 7 users at 3 a page is three listing calls; no per-user reads were needed.
    expect(engine.log.filter((r) => r.url === "/users" && r.tenant === "contoso.com").length).toBe(3);
    expect(engine.log.some((r) => r.url.endsWith("/authentication/requirements"))).toBe(false);
  });

  it("falls back to per-user reads when the listing lacks perUserMfaState (auto)", async () => {
    const engine = world();
    engine.omitStateInList = true;
    const { rows } = await collect(reportUsers(engine, { tenants: ["contoso.com"] }));
    expect(rows).toHaveLength(7);
    expect(rows.filter((r) => r.perUserMfaState === "enforced")).toHaveLength(2);
    expect(engine.log.filter((r) => r.url.endsWith("/authentication/requirements"))).toHaveLength(7);
  });

  it("per-user strategy reads each user's requirements; list strategy refuses a listing without the state", async () => {
    const engine = world();
    const perUser = await collect(reportUsers(engine, { tenants: ["fabrikam.com"], readStrategy: "per-user" }));
    expect(perUser.rows.map((r) => r.perUserMfaState).sort()).toEqual(["disabled", "enforced"]);
    expect(engine.log.filter((r) => r.version === "beta" && r.method === "GET")).toHaveLength(2);

    const omitting = world();
    omitting.omitStateInList = true;
    const list = await collect(reportUsers(omitting, { tenants: ["fabrikam.com"], readStrategy: "list" }));
    expect(list.tenants[0]).toMatchObject({ status: "failed", error: { code: "PropertyNotReturned" } });
  });

  it("applies filters: server-side ones as Graph $filter (licence as an advanced query), states client-side", async () => {
    const engine = world();
    const { rows } = await collect(
      reportUsers(engine, { tenants: ["contoso.com"], filters: { licensed: true, members: true, enabledAccounts: true, states: ["disabled", "enforced"] } }),
    );
    expect(rows.map((r) => r.userPrincipalName).sort()).toEqual(["a@contoso.com", "f@contoso.com", "g@contoso.com"]);
    const first = engine.log[0] as { query?: Record<string, string>; headers?: Record<string, string> };
    expect(first.query).toMatchObject({ $filter: "userType eq 'Member' and accountEnabled eq true and assignedLicenses/$count ne 0", $count: "true" });
    expect(first.headers).toEqual({ ConsistencyLevel: "eventual" });
  });

  it("a tenant that denies access fails with its reason; the others complete", async () => {
    const engine = world();
    engine.failingTenants.set("denied.com", new AuthError("App not found in tenant denied.com (AADSTS700016).", { tenant: "denied.com", code: "unauthorized_client", aadstsCodes: [700016] }));
    const { rows, tenants } = await collect(reportUsers(engine, { tenants: ["contoso.com", "denied.com", "fabrikam.com"] }));
    expect(rows).toHaveLength(9);
    expect(tenants.find((t) => t.tenant === "denied.com")).toEqual({
      tenant: "denied.com",
      status: "failed",
      users: 0,
      error: { code: "AADSTS700016", message: "App not found in tenant denied.com (AADSTS700016)." },
    });
    expect(tenants.filter((t) => t.status === "completed")).toHaveLength(2);
  });

  it("bad input is refused before anything is sent", async () => {
    const engine = world();
    await expect(collect(reportUsers(engine, { tenants: [] }))).rejects.toThrow(UsageError);
    await expect(collect(reportUsers(engine, { tenants: ["not a tenant"] }))).rejects.toThrow(/Invalid tenant/);
    expect(engine.log).toHaveLength(0);
  });
});
