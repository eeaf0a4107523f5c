/**
 * The engine over real HTTPS against the emulator, with realistic throttling (scaled down) and faults
 * injected inside batches (429, 503, 504 and connection resets, at random, plus a scripted run of 503s
 * for one user): every sub-request ends 2xx or is reported with its final error, no user is reported
 * changed unless Graph confirmed it, and a tenant that withdrew consent fails alone.
 * The emulator is imported from its source by a computed path (see emulator.test-helper.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulatorGraphClient, startTestEmulator, type TestEmulator } from "../emulator.test-helper.js";
import { AuthError } from "../domain/errors.js";
import { mapConcurrent } from "../util/concurrent.js";
import { createBatchEngine } from "./batch-engine.js";
import type { EngineResponse } from "./types.js";

describe("batch engine against the emulator (HTTPS, throttling and faults inside batches)", () => {
  let emulator: TestEmulator;

  beforeAll(async () => {
    emulator = await startTestEmulator({
      tenants: 4,
      users: 120,
      seed: "engine-e2e",
      throttle: "realistic",
      // 120 users is the 50..500 tier: 200 RU per 2 s; 60 writes per 3 s per tenant.
      throttleLimits: { appTenantRuMedium: 200, appTenantRuWindowSeconds: 2, appTenantWrites: 60, appTenantWritesWindowSeconds: 3 },
      faultRate: 0.04,
      faultKinds: ["429", "503", "504", "reset"],
    });
  });

  afterAll(async () => {
    await emulator?.close();
  });

  it("sets every user of the healthy tenants through throttling and faults; reports the rest with their final error", async () => {
    const client = emulatorGraphClient(emulator, { retry: { baseDelayMs: 200 } });
    const engine = createBatchEngine(client, { retry: { baseDelayMs: 200, maxDelayMs: 1000 } });
    const [denied, ...healthy] = emulator.tenants;
    emulator.admin.revokeConsent(emulator.clientId, denied!.id);
    try {
      // Users listed through direct (paced) requests, 50 a page.
      const usersOf = async (tenant: string) => {
        const users: { id: string; userPrincipalName: string }[] = [];
        let url = "/users";
        let query: Record<string, string> | undefined = { $select: "id,userPrincipalName", $top: "50" };
        for (;;) {
          const page: EngineResponse<{ value: { id: string; userPrincipalName: string }[]; "@odata.nextLink"?: string }> = await engine.direct({
            tenant,
            version: "v1.0",
            method: "GET",
            url,
            ...(query ? { query } : {}),
          });
          expect(page.status).toBe(200);
          users.push(...page.body.value);
          const next = page.body["@odata.nextLink"];
          if (!next) return users;
          const parsed = new URL(next);
          url = parsed.pathname.replace(/^.*\/v1\.0/, "");
          query = Object.fromEntries(parsed.searchParams);
        }
      };
      const lists = await Promise.all(healthy.map((t) => usersOf(t.id)));
      const targets = healthy.flatMap((t, i) => lists[i]!.map((u) => ({ tenant: t.id, user: u })));
      expect(targets).toHaveLength(healthy.length * 120);

      // One user's PATCH fails with 503 more often than the engine retries: it must end failed.
      const unlucky = targets[7]!;
      emulator.admin.addFaults([{ method: "PATCH", pathIncludes: unlucky.user.id, status: 503, count: 50 }]);

      const path = (id: string) => `/users/${id}/authentication/requirements`;
      const outcomes = [];
      for await (const outcome of mapConcurrent(targets, 400, async ({ tenant, user }) => {
        const patch = await engine.submit({ tenant, version: "beta", method: "PATCH", url: path(user.id), body: { perUserMfaState: "enforced" }, user: user.userPrincipalName });
        const back = await engine.submit<{ perUserMfaState?: string }>({ tenant, version: "beta", method: "GET", url: path(user.id) });
        return { tenant, user, patch, back };
      }))
        outcomes.push(outcome);

      expect(outcomes).toHaveLength(targets.length);
      for (const { tenant, user, patch, back } of outcomes) {
        const truth = emulator.admin.getUser(tenant, user.id);
        if (patch.status === 204) {
          // Reported changed only when Graph confirmed it, and the directory agrees.
          expect(truth.perUserMfaState).toBe("enforced");
          expect(back.status).toBe(200);
          expect(back.body.perUserMfaState).toBe("enforced");
        } else {
          // A failure is reported with Graph's own final status and error; nothing was changed.
          expect([429, 503, 504]).toContain(patch.status);
          expect(patch.body).toMatchObject({ error: { code: expect.any(String) } });
          expect(truth.patchCount).toBe(0);
        }
      }
      const failed = outcomes.filter((o) => o.patch.status !== 204);
      expect(failed.map((o) => o.user.id)).toEqual([unlucky.user.id]);
      expect(failed[0]!.patch).toMatchObject({ status: 503, attempts: 8 });

      // The tenant without consent fails alone, quickly, with the AADSTS error.
      const deniedResults = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => engine.submit({ tenant: denied!.id, version: "beta", method: "GET", url: path(`00000000-0000-0000-0000-${String(i).padStart(12, "0")}`) })),
      );
      expect(deniedResults.every((r) => r.status === "rejected" && r.reason instanceof AuthError && /700016/.test(r.reason.message))).toBe(true);

      const stats = emulator.admin.stats();
      expect(stats.faultsInjected).toBeGreaterThan(0);
      expect(engine.stats().retries).toBeGreaterThan(0);
    } finally {
      await engine.close();
      await client.close();
    }
  }, 120_000);
});
