import { describe, expect, it } from "vitest";
import { budgetSeconds, ceiling, requestCostOf, requestDemand } from "./ceiling.js";
import { DEFAULT_THROTTLE_LIMITS, type RuntimeConfig, type ThrottleLimits } from "./options.js";
import { Throttler } from "./throttle.js";

const limits = (over: Partial<ThrottleLimits>): ThrottleLimits => ({ ...DEFAULT_THROTTLE_LIMITS, ...over });

/**
 * A perfect client against the throttle model itself: every 10 ms it takes as many requests as the
 * buckets allow, until the demand is met. Its time is what the ceiling must predict.
 */
function greedy(l: ThrottleLimits, tenants: { id: string; users: number; reads: number; writes: number }[]): number {
  let now = 0;
  const config = { throttle: "realistic", throttleLimits: l } as RuntimeConfig;
  const throttler = new Throttler({ now: () => now }, config);
  const left = tenants.map((t) => ({ ...t }));
  for (;;) {
    let progress = true;
    while (progress) {
      progress = false;
      for (const t of left) {
        if (t.writes > 0 && throttler.take("app", t.id, t.users, { ru: 1, writes: 1 }).ok) {
          t.writes--;
          progress = true;
        } else if (t.reads > 0 && throttler.take("app", t.id, t.users, { ru: 1, writes: 0 }).ok) {
          t.reads--;
          progress = true;
        }
      }
    }
    if (left.every((t) => t.reads === 0 && t.writes === 0)) return now / 1000;
    now += 10;
  }
}

describe("ceiling of the throttle model", () => {
  it("is (demand - capacity) / refill rate for one budget, 0 when the demand fits", () => {
    expect(budgetSeconds(10_000, 1_500, 10)).toBeCloseTo(56.67, 2);
    expect(budgetSeconds(1_000, 1_500, 10)).toBe(0);
  });

  it("prices requests with the emulator's cost table", () => {
    expect(requestCostOf("GET", "/users?$select=id,userPrincipalName&$top=999")).toEqual({ ru: 1, writes: 0 });
    expect(requestCostOf("GET", "/users?$top=999")).toEqual({ ru: 2, writes: 0 });
    expect(requestCostOf("GET", "/users/x/authentication/requirements")).toEqual({ ru: 1, writes: 0 });
    expect(requestCostOf("PATCH", "/users/x/authentication/requirements")).toEqual({ ru: 1, writes: 1 });
    expect(requestCostOf("GET", "/users/adele%40contoso.com?$select=id,userPrincipalName")).toEqual({ ru: 1, writes: 0 });
    // Every collection costs like the user list; one object like a user.
    expect(requestCostOf("GET", "/groups/g/transitiveMembers/microsoft.graph.user?$select=id&$top=999")).toEqual({ ru: 1, writes: 0 });
    expect(requestCostOf("GET", "/users/x/memberOf")).toEqual({ ru: 2, writes: 0 });
    expect(requestCostOf("GET", "/users/x/authentication/methods")).toEqual({ ru: 2, writes: 0 });
    expect(requestCostOf("GET", "/roleManagement/directory/roleAssignments?$expand=principal")).toEqual({ ru: 3, writes: 0 });
    expect(requestCostOf("GET", "/groups/g")).toEqual({ ru: 1, writes: 0 });
    // Per-user report of 10,000 users: 11 pages of the listing and one read per user.
    expect(
      requestDemand([
        { method: "GET", pathAndQuery: "/users?$select=id&$top=999", count: 11 },
        { method: "GET", pathAndQuery: "/users/x/authentication/requirements", count: 10_000 },
      ]),
    ).toEqual({ ru: 10_011, writes: 0 });
  });

  it("takes the tenant's tier and the longest budget: reads of a 10,000-user tenant", () => {
    const l = limits({ appTenantRuLarge: 1_500 });
    const c = ceiling(l, [{ tenant: "big", users: 10_000, ru: 10_011, writes: 0 }]);
    expect(c.seconds).toBeCloseTo((10_011 - 1_500) / 150, 6);
    expect(c.binding?.budget).toBe("app+tenant resource units (big)");
    // A tenant under 50 users draws on the small tier.
    expect(ceiling(limits({ appTenantRuSmall: 100 }), [{ tenant: "s", users: 40, ru: 300, writes: 0 }]).seconds).toBeCloseTo(200 / 10, 6);
  });

  it("finds the write quota binding for bulk writes, and the app-wide quota across many tenants", () => {
    const one = ceiling(limits({ appTenantWrites: 300, appTenantWritesWindowSeconds: 15 }), [{ tenant: "t", users: 3_000, ru: 12_000, writes: 3_000 }]);
    expect(one.binding?.budget).toBe("app+tenant writes (t)");
    expect(one.seconds).toBeCloseTo(135, 6);
    const many = Array.from({ length: 200 }, (_, i) => ({ tenant: `t${i}`, users: 50, ru: 200, writes: 50 }));
    const app = ceiling(limits({ appWrites: 1_500, appWritesWindowSeconds: 10 }), many);
    expect(app.binding?.budget).toBe("app writes, all tenants");
    expect(app.seconds).toBeCloseTo((10_000 - 1_500) / 150, 6);
    expect(ceiling(DEFAULT_THROTTLE_LIMITS, many).binding).toBeUndefined();
  });

  it("matches a perfect client running against the throttle model", () => {
    const l = limits({ appTenantRuLarge: 300, appTenantRuWindowSeconds: 2, appTenantWrites: 100, appTenantWritesWindowSeconds: 5, appWrites: 150, appWritesWindowSeconds: 2 });
    const reads = greedy(l, [{ id: "a", users: 1_000, reads: 1_200, writes: 0 }]);
    expect(reads).toBeCloseTo(ceiling(l, [{ tenant: "a", users: 1_000, ru: 1_200, writes: 0 }]).seconds, 1);
    const writes = greedy(l, [{ id: "b", users: 1_000, reads: 0, writes: 300 }]);
    expect(writes).toBeCloseTo(ceiling(l, [{ tenant: "b", users: 1_000, ru: 300, writes: 300 }]).seconds, 1);
    const tenants = Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, users: 60, reads: 0, writes: 60 }));
    const app = greedy(l, tenants);
    expect(app).toBeCloseTo(ceiling(l, tenants.map((t) => ({ tenant: t.id, users: t.users, ru: 60, writes: 60 }))).seconds, 1);
  });
});
