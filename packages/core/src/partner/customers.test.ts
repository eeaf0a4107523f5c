import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GraphError, UsageError } from "../domain/errors.js";
import type { GraphClient, GraphRequest, GraphResponse } from "../transport/types.js";
import { customersCachePath, filterCatalogue, readCustomersCache, syncCustomers, tenantCatalogue, writeCustomersCache, type CustomersCache } from "./customers.js";
import { GDAP_ROLE_IDS } from "./roles.js";

const PARTNER = "11111111-1111-4111-8111-111111111111";
const A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const C = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";

/** Graph's partner endpoints over canned pages: each path answers its pages in order, by `@odata.nextLink`. */
function partnerGraph(routes: Record<string, unknown[][]>, domains: Record<string, string> = {}): GraphClient & { requests: GraphRequest[] } {
  const requests: GraphRequest[] = [];
  return {
    requests,
    request<T>(req: GraphRequest): Promise<GraphResponse<T>> {
      requests.push(req);
      const reply = (body: unknown, status = 200) => Promise.resolve({ status, headers: new Headers(), body: body as T, requestId: "r", attempts: 1 });
      const info = /findTenantInformationByTenantId\(tenantId='([^']+)'\)/.exec(req.path);
      if (info) {
        const domain = domains[info[1]!];
        if (!domain) return Promise.reject(new GraphError("Forbidden", { status: 403, code: "Authorization_RequestDenied", tenant: req.tenant }));
        return reply({ tenantId: info[1], defaultDomainName: domain });
      }
      const url = new URL(req.path, "https://graph.test");
      const page = Number(url.searchParams.get("page") ?? "0");
      const pages = routes[url.pathname];
      if (!pages) return Promise.reject(new GraphError(`no route ${req.path}`, { status: 404, code: "NotFound" }));
      const next = page + 1 < pages.length ? `https://graph.test${url.pathname}?page=${page + 1}` : undefined;
      return reply({ value: pages[page], ...(next ? { "@odata.nextLink": next } : {}) });
    },
    close: () => Promise.resolve(),
  };
}

const rel = (id: string, tenantId: string, roles: string[], extra: Record<string, unknown> = {}) => ({
  id,
  displayName: `rel ${id}`,
  status: "active",
  customer: { tenantId, displayName: `Customer ${tenantId.slice(0, 1)}` },
  accessDetails: { unifiedRoles: roles.map((roleDefinitionId) => ({ roleDefinitionId })) },
  endDateTime: "2030-01-01T00:00:00Z",
  ...extra,
});

describe("syncCustomers", () => {
  const now = () => new Date("2026-01-01T00:00:00Z");

  it("reads every page of customers and relationships; only active, unexpired relationships give roles", async () => {
    const graph = partnerGraph(
      {
        "/v1.0/tenantRelationships/delegatedAdminCustomers": [[{ id: A, tenantId: A, displayName: "Alpha" }], [{ id: B, tenantId: B, displayName: "Beta" }, { id: C, tenantId: C, displayName: "Gamma" }]],
        "/v1.0/tenantRelationships/delegatedAdminRelationships": [
          [rel("r1", A, [GDAP_ROLE_IDS.globalReader]), rel("r2", A, [GDAP_ROLE_IDS.authenticationPolicyAdministrator])],
          [
            rel("r3", B, [GDAP_ROLE_IDS.globalReader]),
            rel("r4", B, [GDAP_ROLE_IDS.authenticationPolicyAdministrator], { status: "expired" }),
            rel("r5", C, [GDAP_ROLE_IDS.authenticationPolicyAdministrator], { endDateTime: "2025-06-01T00:00:00Z" }),
          ],
        ],
      },
      { [A]: "alpha.onmicrosoft.com" },
    );
    const cache = await syncCustomers(graph, PARTNER, { now });
    expect(cache.partnerTenantId).toBe(PARTNER);
    expect(cache.syncedAt).toBe("2026-01-01T00:00:00.000Z");
    expect(cache.customers.map((c) => [c.displayName, c.access, c.roles])).toEqual([
      ["Alpha", "read+write", ["Global Reader", "Authentication Policy Administrator"]],
      ["Beta", "read", ["Global Reader"]],
      // Its only relationship ended: known, without roles.
      ["Gamma", "none", []],
    ]);
    expect(cache.customers[0]!.domain).toBe("alpha.onmicrosoft.com");
    expect(cache.customers[1]!.domain).toBeUndefined();
    expect(cache.customers[1]!.relationships.map((r) => r.status)).toEqual(["active", "expired"]);
    // Every request goes to the partner tenant; the second pages are followed.
    expect(new Set(graph.requests.map((r) => r.tenant))).toEqual(new Set([PARTNER]));
    expect(graph.requests.filter((r) => r.path.includes("page=1"))).toHaveLength(2);
  });

  it("a refused customers read fails the sync (the caller keeps its old cache)", async () => {
    const graph = partnerGraph({});
    await expect(syncCustomers(graph, PARTNER)).rejects.toBeInstanceOf(GraphError);
  });
});

describe("customers cache", () => {
  const cache: CustomersCache = {
    version: 1,
    partnerTenantId: PARTNER,
    syncedAt: "2026-01-01T00:00:00.000Z",
    customers: [
      { tenantId: A, displayName: "Alpha", domain: "alpha.onmicrosoft.com", roles: [], roleIds: [], access: "none", relationships: [] },
      { tenantId: B, displayName: "Beta", roles: [], roleIds: [], access: "none", relationships: [] },
    ],
  };

  it("round-trips through customers.json, owner-only; no file is no cache; a damaged file names the fix", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "mfactl-cache-")), "state", "mfactl");
    const path = customersCachePath(dir);
    expect(readCustomersCache(path)).toBeUndefined();
    writeCustomersCache(path, cache);
    expect(readCustomersCache(path)).toEqual(cache);
    expect(statSync(path).mode & 0o077).toBe(0);
    writeFileSync(path, "{not json");
    expect(() => readCustomersCache(path)).toThrow(UsageError);
    expect(() => readCustomersCache(path)).toThrow(/mfactl tenants sync/);
    writeFileSync(path, JSON.stringify({ ...cache, customers: [{ displayName: "x" }] }));
    expect(() => readCustomersCache(path)).toThrow(/without a tenant id/);
    expect(readFileSync(path, "utf8")).toContain("x");
  });

  it("catalogue: profile entries first as written, de-duplicated by id; a domain matches a synced id when the cache knows it", () => {
    const t = tenantCatalogue(["Alpha.onmicrosoft.com", B.toUpperCase(), "other.onmicrosoft.com", B], cache);
    expect(t.map((x) => [x.tenant, x.tenantId, x.source])).toEqual([
      ["Alpha.onmicrosoft.com", A, "profile+synced"],
      [B.toUpperCase(), B, "profile+synced"],
      ["other.onmicrosoft.com", undefined, "profile"],
    ]);
    // Without a cache the profile stands alone.
    expect(tenantCatalogue(["other.onmicrosoft.com"], undefined).map((x) => x.tenant)).toEqual(["other.onmicrosoft.com"]);
    // Synced customers the profile does not list come after it, by id.
    expect(tenantCatalogue(["other.onmicrosoft.com"], cache).map((x) => x.tenant)).toEqual(["other.onmicrosoft.com", A, B]);
  });

  it("include keeps only the named tenants (by id or domain), exclude wins", () => {
    const t = tenantCatalogue(["other.onmicrosoft.com"], cache);
    expect(filterCatalogue(t, ["ALPHA.onmicrosoft.com", B], []).map((x) => x.tenant)).toEqual([A, B]);
    expect(filterCatalogue(t, [], [B, "other.onmicrosoft.com"]).map((x) => x.tenant)).toEqual([A]);
    expect(filterCatalogue(t, [A], [A])).toEqual([]);
  });
});
