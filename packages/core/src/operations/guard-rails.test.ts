import { describe, expect, it } from "vitest";
import { UsageError } from "../domain/errors.js";
import { changeLimit, checkMaxChanges, parseMaxChanges, ProtectedAccounts, refuseProtected } from "./guard-rails.js";

describe("guard rails", () => {
  it("--max-changes takes a count or a percentage of the users selected", () => {
    expect(parseMaxChanges("500")).toMatchObject({ kind: "count", count: 500 });
    expect(parseMaxChanges(" 12.5% ")).toMatchObject({ kind: "percent", percent: 12.5 });
    for (const bad of ["", "-1", "0%", "101%", "ten", "5 users", "1e3"]) expect(() => parseMaxChanges(bad)).toThrow(UsageError);
    expect(changeLimit(parseMaxChanges("10%"), 95)).toBe(9);
    expect(() => checkMaxChanges(10, 95, parseMaxChanges("10%"), "--max-changes")).toThrow(/would change 10 users, over the cap of 9 \(10% of the 95 users selected\)/);
    expect(() => checkMaxChanges(9, 95, parseMaxChanges("10%"), "--max-changes")).not.toThrow();
    expect(() => checkMaxChanges(1, 1, parseMaxChanges("0"), "the profile's maxChanges")).toThrow(/set by the profile's maxChanges/);
    expect(() => checkMaxChanges(10_000, 10_000, undefined, "")).not.toThrow();
  });

  it("protected accounts match by UPN or id, everywhere or per tenant, or by a name pattern", () => {
    const p = new ProtectedAccounts(["BreakGlass@Contoso.com"]);
    p.add("33333333-3333-4333-8333-333333333333", "directory synchronisation account", "contoso.com");
    p.addPattern(/^sync_/i, "by name", "fabrikam.com");
    expect(p.reason("any.tenant", { id: "x", userPrincipalName: "breakglass@contoso.com" })).toMatch(/profile/);
    expect(p.reason("CONTOSO.com", { id: "33333333-3333-4333-8333-333333333333", userPrincipalName: "s@contoso.com" })).toBe("directory synchronisation account");
    expect(p.reason("fabrikam.com", { id: "33333333-3333-4333-8333-333333333333", userPrincipalName: "s@fabrikam.com" })).toBeUndefined();
    expect(p.reason("fabrikam.com", { id: "y", userPrincipalName: "Sync_SRV_1@fabrikam.com" })).toBe("by name");
    expect(p.reason("contoso.com", { id: "y", userPrincipalName: "Sync_SRV_1@contoso.com" })).toBeUndefined();
    expect(() => refuseProtected([])).not.toThrow();
    expect(() => refuseProtected([{ tenant: "t", userPrincipalName: "b@t", reason: "r" }])).toThrow(/1 protected account in this run: b@t \(t: r\).*--include-protected/);
  });
});
