/**
 * usersPage against the emulator over HTTPS: sorted pages ($orderby) follow each other across cursors,
 * sort with search is an advanced query on every page (the emulator answers 400 otherwise), and
 * without a sort nothing about the Graph requests changes. The emulator is imported from its source
 * by a computed path (see graph-client.emulator.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulatorGraphClient, startTestEmulator, type TestEmulator } from "../emulator.test-helper.js";
import type { ReportRow } from "../domain/vocabulary.js";
import { createBatchEngine } from "../engine/batch-engine.js";
import type { BatchEngine, DirectEngineRequest } from "../engine/types.js";
import type { GraphClient } from "../transport/types.js";
import { usersPage, type UsersPageInput } from "./users-page.js";

describe("usersPage against the emulator (sort, search, state, cursors)", () => {
  let emulator: TestEmulator;
  let client: GraphClient;
  let engine: BatchEngine;
  /** Every direct request usersPage made, in order. */
  const sent: DirectEngineRequest[] = [];
  let recording: BatchEngine;
  let tenant: string;

  beforeAll(async () => {
    emulator = await startTestEmulator({ tenants: 1, users: 60, seed: "core-users-page" });
    tenant = emulator.tenants[0]!.domain;
    client = emulatorGraphClient(emulator);
    engine = createBatchEngine(client);
    recording = {
      submit: (req) => engine.submit(req),
      direct: (req) => {
        sent.push(req);
        return engine.direct(req);
      },
      stats: () => engine.stats(),
      close: () => engine.close(),
    };
  });

  afterAll(async () => {
    await engine?.close();
    await client?.close();
    await emulator?.close();
  });

  const directory = () => emulator.admin.listUsers(tenant).map((u) => emulator.admin.getUser(tenant, u.id));
  type Entry = ReturnType<typeof directory>[number];
  /** Graph's order: case-insensitive names; the emulator breaks ties by id. */
  const sorted = (users: Entry[], by: "displayName" | "userPrincipalName", descending: boolean) =>
    [...users].sort((a, b) => {
      const x = a[by].toLowerCase();
      const y = b[by].toLowerCase();
      if (x !== y) return (x < y ? -1 : 1) * (descending ? -1 : 1);
      return a.id < b.id ? -1 : 1;
    });

  async function allPages(input: Omit<UsersPageInput, "tenant" | "cursor">): Promise<{ rows: ReportRow[]; pages: number; offsets: number[] }> {
    const rows: ReportRow[] = [];
    const offsets: number[] = [];
    let cursor: string | undefined;
    for (let pages = 1; pages <= 100; pages++) {
      const page = await usersPage(recording, { tenant, ...input, ...(cursor ? { cursor } : {}) });
      rows.push(...page.users);
      if (page.nextCursor === undefined) return { rows, pages, offsets };
      cursor = page.nextCursor;
      // The cursor is [Graph path, query, users of that Graph page already handed out].
      offsets.push((JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [string, unknown, number])[2]);
    }
    throw new Error("more than 100 pages");
  }

  it("sorts by displayName and userPrincipalName, ascending by default or descending, across cursors", async () => {
    for (const [by, direction] of [
      ["displayName", undefined],
      ["displayName", "desc"],
      ["userPrincipalName", "asc"],
      ["userPrincipalName", "desc"],
    ] as const) {
      sent.length = 0;
      const { rows, pages } = await allPages({ limit: 7, sort: { by, ...(direction ? { direction } : {}) } });
      expect(pages, by).toBe(9);
      expect(
        rows.map((r) => r.id),
        `${by} ${direction ?? ""}`,
      ).toStrictEqual(sorted(directory(), by, direction === "desc").map((u) => u.id));
      expect(sent[0]!.query).toMatchObject({ $orderby: `${by} ${direction ?? "asc"}`, $top: "7" });
      // No search: a plain sort, not an advanced query.
      for (const req of sent) {
        expect(req.headers).toBeUndefined();
        expect(req.query?.["$count"]).toBeUndefined();
      }
    }
  });

  it("sort with search and a state filter is an advanced query on every page, first and continued", async () => {
    const users = directory();
    const starts = (u: Entry) => u.displayName.toLowerCase().startsWith("a") || u.userPrincipalName.toLowerCase().startsWith("a");
    const expected = sorted(users.filter(starts), "userPrincipalName", true);
    const disabled = expected.filter((u) => u.perUserMfaState === "disabled");
    expect(disabled.length).toBeGreaterThan(2);
    expect(disabled.length).toBeLessThan(expected.length);

    sent.length = 0;
    const searched = await allPages({ limit: 2, search: "A", sort: { by: "userPrincipalName", direction: "desc" } });
    expect(searched.rows.map((r) => r.id)).toStrictEqual(expected.map((u) => u.id));

    // Short Graph pages with a sparse state: cursors land inside a Graph page as well as on its next link.
    const filtered = await allPages({ limit: 2, search: "A", sort: { by: "userPrincipalName", direction: "desc" }, states: ["disabled"] });
    expect(filtered.rows.map((r) => r.id)).toStrictEqual(disabled.map((u) => u.id));
    expect(filtered.offsets.some((n) => n > 0)).toBe(true);
    expect(filtered.offsets.some((n) => n === 0)).toBe(true);

    expect(searched.pages).toBe(Math.ceil(expected.length / 2));
    expect(sent.filter((r) => r.query?.["$skiptoken"] !== undefined).length).toBeGreaterThan(searched.pages);
    for (const req of sent) {
      expect(req.headers).toStrictEqual({ ConsistencyLevel: "eventual" });
      expect(req.query).toMatchObject({ $count: "true", $orderby: "userPrincipalName desc", $filter: "startswith(displayName,'A') or startswith(userPrincipalName,'A')" });
    }
  });

  it("without a sort sends what it always sent: no $orderby, no $count, no ConsistencyLevel", async () => {
    sent.length = 0;
    const { rows } = await allPages({ limit: 25, search: "a" });
    expect(rows.length).toBeGreaterThan(0);
    expect(sent[0]!.query).toStrictEqual({
      $select: "id,userPrincipalName,displayName,userType,accountEnabled,assignedLicenses,perUserMfaState",
      $top: "25",
      $filter: "startswith(displayName,'a') or startswith(userPrincipalName,'a')",
    });
    for (const req of sent) expect(req.headers).toBeUndefined();
  });

  it("rejects a sort on anything else", async () => {
    await expect(usersPage(recording, { tenant, sort: { by: "mail" as "displayName" } })).rejects.toThrow();
    await expect(usersPage(recording, { tenant, sort: { by: "displayName", direction: "sideways" as "asc" } })).rejects.toThrow();
  });
});
