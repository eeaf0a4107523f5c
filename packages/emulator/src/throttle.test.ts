import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { runtimeConfigFrom, type ThrottleLimits } from "./options.js";
import { graph, ManualClock, tokenFor } from "./test-helpers.js";
import { appTenantRuBudget, Throttler } from "./throttle.js";

const APP = "app-1";
const T1 = "tenant-1";
const T2 = "tenant-2";

function throttler(limits: Partial<ThrottleLimits> = {}) {
  const clock = new ManualClock(0);
  return { clock, t: new Throttler(clock, runtimeConfigFrom({ throttleLimits: limits })) };
}

describe("Throttler (token buckets, injected clock)", () => {
  it("sizes the app + tenant budget by tenant users (<50, 50..500, >500)", () => {
    const l = runtimeConfigFrom({}).throttleLimits;
    expect([appTenantRuBudget(l, 49), appTenantRuBudget(l, 50), appTenantRuBudget(l, 500), appTenantRuBudget(l, 501)]).toEqual([3500, 5000, 5000, 8000]);
  });

  it("allows the budget, then 429s with scope, reason and Retry-After; a rejected request costs nothing", () => {
    const { t } = throttler({ appTenantRuSmall: 10 });
    for (let i = 0; i < 5; i++) expect(t.take(APP, T1, 10, { ru: 2, writes: 0 }).ok).toBe(true);
    const denied = t.take(APP, T1, 10, { ru: 2, writes: 0 });
    expect(denied).toEqual({
      ok: false,
      scope: `Tenant_Application/ReadWrite/${APP}/${T1}`,
      information: "ResourceUnitLimitExceeded",
      // 2 RU at 1 RU per second (10 per 10 s).
      retryAfterSeconds: 2,
      limitPercentage: 1.2,
    });
    // Other tenants have their own app + tenant bucket.
    expect(t.take(APP, T2, 10, { ru: 2, writes: 0 }).ok).toBe(true);
  });

  it("refills continuously: Retry-After is when enough has come back", () => {
    const { t, clock } = throttler({ appTenantRuSmall: 10 });
    for (let i = 0; i < 10; i++) t.take(APP, T1, 10, { ru: 1, writes: 0 });
    expect(t.take(APP, T1, 10, { ru: 1, writes: 0 }).ok).toBe(false);
    clock.advance(999);
    expect(t.take(APP, T1, 10, { ru: 1, writes: 0 }).ok).toBe(false);
    clock.advance(1);
    expect(t.take(APP, T1, 10, { ru: 1, writes: 0 }).ok).toBe(true);
    clock.advance(10_000);
    for (let i = 0; i < 10; i++) expect(t.take(APP, T1, 10, { ru: 1, writes: 0 }).ok).toBe(true);
  });

  it("reports x-ms-throttle-limit-percentage once over 80% of a budget", () => {
    const { t } = throttler({ appTenantRuSmall: 10 });
    const used = Array.from({ length: 10 }, () => t.take(APP, T1, 10, { ru: 1, writes: 0 }));
    expect(used.slice(0, 8).every((d) => d.ok && d.limitPercentage === undefined)).toBe(true);
    expect(used[8]).toEqual({ ok: true, limitPercentage: 0.9 });
    expect(used[9]).toEqual({ ok: true, limitPercentage: 1 });
  });

  it("applies the write quota per app + tenant with WriteLimitExceeded", () => {
    const { t, clock } = throttler({ appTenantWrites: 3, appTenantWritesWindowSeconds: 150 });
    for (let i = 0; i < 3; i++) expect(t.take(APP, T1, 10, { ru: 1, writes: 1 }).ok).toBe(true);
    const denied = t.take(APP, T1, 10, { ru: 1, writes: 1 });
    expect(denied).toMatchObject({ ok: false, scope: `Tenant_Application/Write/${APP}/${T1}`, information: "WriteLimitExceeded", retryAfterSeconds: 50 });
    // Reads still pass.
    expect(t.take(APP, T1, 10, { ru: 1, writes: 0 }).ok).toBe(true);
    clock.advance(50_000);
    expect(t.take(APP, T1, 10, { ru: 1, writes: 1 }).ok).toBe(true);
  });

  it("applies the per-app limits across tenants and the per-tenant write limit across apps", () => {
    const app = throttler({ appRu: 4 }).t;
    expect(app.take(APP, T1, 10, { ru: 2, writes: 0 }).ok).toBe(true);
    expect(app.take(APP, T2, 10, { ru: 2, writes: 0 }).ok).toBe(true);
    expect(app.take(APP, "tenant-3", 10, { ru: 1, writes: 0 })).toMatchObject({ ok: false, scope: `Application/ReadWrite/${APP}/tenant-3` });

    const tenant = throttler({ tenantWrites: 2 }).t;
    expect(tenant.take("app-a", T1, 10, { ru: 1, writes: 1 }).ok).toBe(true);
    expect(tenant.take("app-b", T1, 10, { ru: 1, writes: 1 }).ok).toBe(true);
    expect(tenant.take("app-c", T1, 10, { ru: 1, writes: 1 })).toMatchObject({ ok: false, scope: `Tenant/Write/app-c/${T1}`, information: "WriteLimitExceeded" });
  });

  it("limits reports to 5 requests per 10 s per app + tenant, with Retry-After, before the identity budgets", () => {
    const { t, clock } = throttler();
    for (let i = 0; i < 5; i++) expect(t.take(APP, T1, 10, { ru: 2, writes: 0 }, "reports")).toEqual({ ok: true });
    const denied = t.take(APP, T1, 10, { ru: 2, writes: 0 }, "reports");
    expect(denied).toMatchObject({ ok: false, scope: `Tenant_Application/Reports/${APP}/${T1}`, information: "RequestLimitExceeded", retryAfterSeconds: 2 });
    expect(denied).not.toHaveProperty("noRetryAfter");
    // Other apps and tenants have their own; ordinary requests are not limited by it.
    expect(t.take("app-2", T1, 10, { ru: 1, writes: 0 }, "reports").ok).toBe(true);
    expect(t.take(APP, T2, 10, { ru: 1, writes: 0 }, "reports").ok).toBe(true);
    expect(t.take(APP, T1, 10, { ru: 1, writes: 0 }).ok).toBe(true);
    clock.advance(2000);
    expect(t.take(APP, T1, 10, { ru: 2, writes: 0 }, "reports").ok).toBe(true);
  });

  it("limits Conditional Access to 1 request per second per tenant across apps, without Retry-After", () => {
    const { t, clock } = throttler();
    expect(t.take(APP, T1, 10, { ru: 2, writes: 0 }, "conditionalAccess")).toEqual({ ok: true });
    const denied = t.take("app-2", T1, 10, { ru: 2, writes: 0 }, "conditionalAccess");
    expect(denied).toMatchObject({ ok: false, scope: `Tenant/ConditionalAccess/app-2/${T1}`, information: "RequestLimitExceeded", noRetryAfter: true });
    expect(t.take(APP, T2, 10, { ru: 2, writes: 0 }, "conditionalAccess").ok).toBe(true);
    clock.advance(999);
    expect(t.take(APP, T1, 10, { ru: 2, writes: 0 }, "conditionalAccess").ok).toBe(false);
    clock.advance(1);
    expect(t.take(APP, T1, 10, { ru: 2, writes: 0 }, "conditionalAccess").ok).toBe(true);
  });

  it("does nothing with throttle: off", () => {
    const clock = new ManualClock(0);
    const t = new Throttler(clock, runtimeConfigFrom({ throttle: "off", throttleLimits: { appTenantRuSmall: 1 } }));
    for (let i = 0; i < 100; i++) expect(t.take(APP, T1, 10, { ru: 2, writes: 1 })).toEqual({ ok: true });
  });
});

describe("throttling over HTTPS", () => {
  let emu: RunningEmulator;
  let token: string;
  const clock = new ManualClock();

  beforeAll(async () => {
    emu = await startEmulator({ clock, tenants: 1, users: 10, throttleLimits: { appTenantRuSmall: 20, appTenantWrites: 2 } });
    token = await tokenFor(emu, emu.tenants[0]!.id);
  });
  afterAll(async () => {
    await emu.close();
  });

  it("answers 429 TooManyRequests with Graph's headers after the budget, then recovers after Retry-After", async () => {
    const tenantId = emu.tenants[0]!.id;
    const path = `/beta/users/admin@${emu.tenants[0]!.domain}/authentication/requirements`;
    const replies = [];
    for (let i = 0; i < 21; i++) replies.push(await graph(emu, token, path));
    expect(replies.slice(0, 20).every((r) => r.status === 200)).toBe(true);
    expect(replies[16]!.headers["x-ms-throttle-limit-percentage"]).toBe("0.85");
    const denied = replies[20]!;
    expect(denied.status).toBe(429);
    expect(denied.headers["retry-after"]).toBe("1");
    expect(denied.headers["x-ms-throttle-scope"]).toBe(`Tenant_Application/ReadWrite/${emu.clientId}/${tenantId}`);
    expect(denied.headers["x-ms-throttle-information"]).toBe("ResourceUnitLimitExceeded");
    expect(denied.headers["x-ms-resource-unit"]).toBe("1");
    expect(denied.json<{ error: { code: string } }>().error.code).toBe("TooManyRequests");
    clock.advance(1000);
    expect((await graph(emu, token, path)).status).toBe(200);
    const stats = emu.admin.stats();
    expect(stats.throttledTotal).toBe(1);
    expect(stats.throttled[`Tenant_Application/ReadWrite/${emu.clientId}/${tenantId}`]).toBe(1);
  });

  it("applies the write quota to PATCHes (WriteLimitExceeded)", async () => {
    clock.advance(60_000);
    const patch = () =>
      graph(emu, token, `/beta/users/alex.wilber@${emu.tenants[0]!.domain}/authentication/requirements`, { method: "PATCH", body: { perUserMfaState: "enforced" } });
    expect((await patch()).status).toBe(204);
    expect((await patch()).status).toBe(204);
    const denied = await patch();
    expect(denied.status).toBe(429);
    expect(denied.headers["x-ms-throttle-information"]).toBe("WriteLimitExceeded");
    // 1 write at 2 per 150 s: 75 s.
    expect(denied.headers["retry-after"]).toBe("75");
    expect(emu.admin.getUser(emu.tenants[0]!.id, `alex.wilber@${emu.tenants[0]!.domain}`).patchCount).toBe(2);
  });
});
