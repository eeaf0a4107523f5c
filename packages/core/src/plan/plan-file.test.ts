import { describe, expect, it } from "vitest";
import { UsageError } from "../domain/errors.js";
import { parsePlan, serializePlan, type PlanBody } from "./plan-file.js";

const body = (): PlanBody => ({
  kind: "mfactl.plan",
  version: 1,
  planId: "0b5c8a3e-5d1f-4c1e-9a2b-3c4d5e6f7a8b",
  createdAt: "2026-12-01T10:00:00.000Z",
  createdBy: { actor: "app:x", host: "h" },
  source: { command: "plan", description: "set enforced", tenants: ["contoso.com"] },
  includeProtected: false,
  summary: { selected: 3, changes: 2, unchanged: 1, leftOut: 0, warnings: 1, failed: 0, byTenant: { "contoso.com": { selected: 3, changes: 2, unchanged: 1, leftOut: 0, failed: 0 } } },
  items: [
    { tenant: "contoso.com", id: "11111111-1111-4111-8111-111111111111", userPrincipalName: "a@contoso.com", perUserMfaState: "disabled", requestedState: "enforced", protected: false, warnings: [{ code: "NoRegisteredMethod", message: "m" }] },
    { tenant: "contoso.com", id: "22222222-2222-4222-8222-222222222222", userPrincipalName: "b@contoso.com", perUserMfaState: "enabled", requestedState: "enforced", protected: false, warnings: [] },
  ],
  leftOut: [],
  failures: [],
});

function refused(text: string): string {
  try {
    parsePlan(text, "plan.json");
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error("the plan was accepted");
}

describe("plan files", () => {
  it("round-trip, whatever the formatting or key order", () => {
    const text = serializePlan(body());
    const plan = parsePlan(text, "plan.json");
    expect(plan.items).toEqual(body().items);
    expect(plan.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(text) as object).reverse()));
    expect(parsePlan(reordered, "plan.json").digest).toBe(plan.digest);
  });

  it("a changed value, a missing digest, a newer version, a foreign or cut file are each refused by name", () => {
    const text = serializePlan(body());
    const edited = JSON.parse(text) as PlanBody & { digest?: string };
    edited.items[1]!.requestedState = "disabled";
    expect(refused(JSON.stringify(edited))).toMatch(/changed after mfactl wrote it/);
    const { digest: _d, ...noDigest } = JSON.parse(text) as PlanBody & { digest: string };
    expect(refused(JSON.stringify(noDigest))).toMatch(/has no digest/);
    expect(refused(JSON.stringify({ ...(JSON.parse(text) as object), version: 2 }))).toMatch(/version 2 plan; this mfactl reads version 1/);
    expect(refused(JSON.stringify({ hello: 1 }))).toMatch(/not an mfactl plan file/);
    expect(refused(text.slice(0, 200))).toMatch(/not valid JSON/);
    const bad = JSON.parse(text) as { items: { requestedState: string }[] };
    bad.items[0]!.requestedState = "unknownFutureValue";
    expect(refused(JSON.stringify(bad))).toMatch(/items\.0\.requestedState/);
    const extra = JSON.parse(text) as { items: Record<string, unknown>[] };
    extra.items[0]!["force"] = true;
    expect(refused(JSON.stringify(extra))).toMatch(/items\.0/);
  });

  it("the same user twice is refused even with a matching digest", () => {
    const b = body();
    b.items.push({ ...b.items[0]!, userPrincipalName: "A@contoso.com" });
    expect(refused(serializePlan(b))).toMatch(/items\.2 repeats user/);
  });
});
