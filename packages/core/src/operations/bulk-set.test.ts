import { describe, expect, it } from "vitest";
import { AuthError, UsageError } from "../domain/errors.js";
import type { UserMfaChange } from "../domain/vocabulary.js";
import { InstantClock } from "../transport/clock.js";
import { bulkSetMfa, validateBulkSet, type BulkSetInput } from "./bulk-set.js";
import { FakeEngine, fakeUser } from "./fake-engine.test-helper.js";

function world() {
  const contoso = [
    fakeUser("contoso.com", "a", { perUserMfaState: "enforced", hasMethods: true }),
    fakeUser("contoso.com", "b", { hasMethods: true }),
    fakeUser("contoso.com", "c", { userType: "Guest", licensed: false }),
    fakeUser("contoso.com", "d"),
  ];
  const fabrikam = [fakeUser("fabrikam.com", "x"), fakeUser("fabrikam.com", "y", { perUserMfaState: "enabled" })];
  return new FakeEngine(new Map([["contoso.com", contoso], ["fabrikam.com", fabrikam], ["denied.com", [fakeUser("denied.com", "z")]]]));
}

async function run(engine: FakeEngine, input: BulkSetInput) {
  const results: UserMfaChange[] = [];
  const tenants: unknown[] = [];
  const excluded: string[] = [];
  for await (const item of bulkSetMfa(engine, input, { clock: new InstantClock() })) {
    if (item.kind === "applied" || item.kind === "result") results.push(item.change);
    else if (item.kind === "tenant") tenants.push(item.outcome);
    else if (item.kind === "excluded") excluded.push(item.userPrincipalName);
  }
  return { results, tenants, excluded, byUpn: (upn: string) => results.find((r) => r.userPrincipalName === upn) };
}

describe("bulkSetMfa", () => {
  it("named users: changes only those that need it and confirms each by reading back", async () => {
    const engine = world();
    const r = await run(engine, { tenants: ["contoso.com"], state: "enabled", users: [{ user: "a@contoso.com" }, { user: "b@contoso.com" }, { user: "d@contoso.com" }] });
    expect(r.byUpn("a@contoso.com")).toMatchObject({ status: "unchanged", previousState: "enforced" });
    expect(r.byUpn("b@contoso.com")).toMatchObject({ status: "changed", previousState: "disabled", perUserMfaState: "enforced" });
    expect(r.byUpn("d@contoso.com")).toMatchObject({ status: "changed", perUserMfaState: "enabled" });
    expect(engine.patches()).toHaveLength(2);
    expect(r.tenants).toEqual([{ tenant: "contoso.com", status: "completed", users: 3 }]);
  });

  it("rows carry their tenant when there are several; unknown users fail with Graph's 404", async () => {
    const engine = world();
    const r = await run(engine, {
      tenants: ["contoso.com", "fabrikam.com"],
      state: "enforced",
      users: [
        { user: "x@fabrikam.com", tenant: "fabrikam.com" },
        { user: "d@contoso.com", tenant: "Contoso.com" },
        { user: "ghost@contoso.com", tenant: "contoso.com" },
      ],
    });
    expect(r.byUpn("x@fabrikam.com")).toMatchObject({ tenant: "fabrikam.com", status: "changed" });
    expect(r.byUpn("d@contoso.com")).toMatchObject({ tenant: "contoso.com", status: "changed" });
    expect(r.byUpn("ghost@contoso.com")).toMatchObject({ status: "failed", id: "", error: { code: "Request_ResourceNotFound", httpStatus: 404 } });
  });

  it("filters select users from the listing; exclusions are left alone", async () => {
    const engine = world();
    const r = await run(engine, { tenants: ["contoso.com", "fabrikam.com"], state: "enforced", filters: { members: true, states: ["disabled", "enabled"] }, exclude: ["X@fabrikam.com"] });
    expect(r.results.map((x) => x.userPrincipalName).sort()).toEqual(["b@contoso.com", "d@contoso.com", "y@fabrikam.com"]);
    expect(r.results.every((x) => x.status === "changed")).toBe(true);
    expect(r.excluded).toEqual(["x@fabrikam.com"]);
  });

  it("dry run reads and reports, never PATCHes", async () => {
    const engine = world();
    const r = await run(engine, { tenants: ["contoso.com"], state: "enforced", allUsers: true, dryRun: true });
    expect(r.results.map((x) => x.status).sort()).toEqual(["unchanged", "wouldChange", "wouldChange", "wouldChange"]);
    expect(engine.patches()).toHaveLength(0);
  });

  it("a refused PATCH is failed with its reason; the others complete", async () => {
    const engine = world();
    const b = engine.tenants.get("contoso.com")![1]!;
    engine.deniedPatches.add(b.id);
    const r = await run(engine, { tenants: ["contoso.com"], state: "enforced", users: [{ user: "b@contoso.com" }, { user: "d@contoso.com" }] });
    expect(r.byUpn("b@contoso.com")).toMatchObject({ status: "failed", previousState: "disabled", error: { code: "accessDenied", httpStatus: 403 } });
    expect(r.byUpn("d@contoso.com")?.status).toBe("changed");
  });

  it("a tenant that cannot get a token fails, each named user reported failed; other tenants complete", async () => {
    const engine = world();
    engine.failingTenants.set("denied.com", new AuthError("no consent", { tenant: "denied.com", code: "unauthorized_client", aadstsCodes: [700016] }));
    const r = await run(engine, {
      tenants: ["contoso.com", "denied.com"],
      state: "enforced",
      users: [{ user: "z@denied.com", tenant: "denied.com" }, { user: "d@contoso.com", tenant: "contoso.com" }],
    });
    expect(r.byUpn("z@denied.com")).toMatchObject({ status: "failed", error: { code: "AADSTS700016" } });
    expect(r.byUpn("d@contoso.com")?.status).toBe("changed");
    expect(r.tenants).toContainEqual({ tenant: "denied.com", status: "failed", users: 1, error: { code: "AADSTS700016", message: "no consent" } });
  });
});

describe("validateBulkSet: bad input changes nothing", () => {
  it.each([
    [{ tenants: ["contoso.com"], state: "on", users: [{ user: "a@contoso.com" }] }, "Invalid state"],
    [{ tenants: ["contoso.com"], state: "enforced" }, "Which users?"],
    [{ tenants: ["contoso.com"], state: "enforced", users: [{ user: "a@contoso.com" }], filters: { guests: true } }, "not both"],
    [{ tenants: ["contoso.com", "fabrikam.com"], state: "enforced", users: [{ user: "a@contoso.com", line: 2 }] }, "line 2: no tenant for a@contoso.com"],
    [{ tenants: ["contoso.com"], state: "enforced", users: [{ user: "a@contoso.com" }, { user: "bad user", line: 7 }] }, "line 7: Invalid user"],
    [{ tenants: ["contoso.com"], state: "enforced", users: [{ user: "a@x.com", tenant: "other.com", line: 3 }] }, "line 3: tenant other.com is not among"],
    [{ tenants: [], state: "enforced", allUsers: true }, "at least one tenant"],
  ] as const)("%#", (input, message) => {
    expect(() => validateBulkSet(input as unknown as BulkSetInput)).toThrow(UsageError);
    expect(() => validateBulkSet(input as unknown as BulkSetInput)).toThrow(message);
  });

  it("dedupes users case-insensitively and takes tenants from the rows", () => {
    const v = validateBulkSet({ state: "enabled", users: [{ user: "A@contoso.com", tenant: "contoso.com" }, { user: "a@contoso.com", tenant: "contoso.com" }] });
    expect(v.tenants).toEqual(["contoso.com"]);
    expect(v.usersByTenant?.get("contoso.com")).toEqual(["a@contoso.com"]);
  });
});
