import { afterEach, describe, expect, it } from "vitest";
import { ApiKeyNameTakenError } from "../domain/errors.js";
import type { AccessStore, ApiKeyRecord, AuditEntry, NewApiKey, NewAuditEntry } from "./types.js";

/** What the suite opens for each test: the store, and how to release it (a database's close). */
export interface AccessContractSubject {
  access: AccessStore;
  close?(): Promise<void>;
}

/** ISO time `n` seconds after a fixed start, so ordering by time is under the test's control. */
function at(n: number): string {
  return new Date(Date.UTC(2026, 2, 1) + n * 1000).toISOString();
}

/** A new key named `name`, created at `at(n)`; its id and hash follow from the name and `n`. */
export function newApiKey(name: string, n = 0, overrides: Partial<NewApiKey> = {}): NewApiKey {
  const id = `${name.replace(/[^a-z0-9]/gi, "").slice(0, 12)}${n}`;
  return {
    keyId: `k_${id}`,
    name,
    hash: `${"0".repeat(48)}${Buffer.from(id).toString("hex")}`.slice(-64),
    scopes: ["read"],
    createdAt: at(n),
    createdBy: "cli:admin@admin-pc",
    ...overrides,
  };
}

/** The record createApiKey must return for `key`. */
function recordOf(key: NewApiKey): ApiKeyRecord {
  return {
    keyId: key.keyId,
    name: key.name,
    scopes: key.scopes,
    ...(key.tenants !== undefined ? { tenants: key.tenants } : {}),
    createdAt: key.createdAt,
    createdBy: key.createdBy,
  };
}

function entry(n: number, overrides: Partial<NewAuditEntry> = {}): NewAuditEntry {
  return { at: at(n), actor: "apikey:ops", action: "mfa.set", outcome: "ok", ...overrides };
}

/**
 * The rules every `AccessStore` follows, as a vitest suite. `open` returns a new, empty store for
 * each test; the suite closes it. Run it against each implementation (memory, SQLite, PostgreSQL).
 */
export function describeAccessContract(name: string, open: () => Promise<AccessContractSubject>): void {
  describe(`AccessStore contract: ${name}`, () => {
    const opened: AccessContractSubject[] = [];
    afterEach(async () => {
      for (const subject of opened.splice(0)) await subject.close?.();
    });
    const fresh = async (): Promise<AccessStore> => {
      const subject = await open();
      opened.push(subject);
      return subject.access;
    };

    describe("createApiKey", () => {
      it("stores the key and returns its record, without the hash, revokedAt or lastUsedAt", async () => {
        const store = await fresh();
        const key = newApiKey("ops", 1, { scopes: ["read", "write"], tenants: ["contoso.com", "9a7c4f0e-1b2d-4e3f-8a9b-0c1d2e3f4a5b"] });
        const record = await store.createApiKey(key);
        expect(record).toStrictEqual(recordOf(key));
        expect(await store.findApiKeyByHash(key.hash)).toStrictEqual(recordOf(key));
        expect(await store.listApiKeys()).toStrictEqual([recordOf(key)]);
      });

      it("keeps tenants absent (every tenant) apart from an empty list (no tenant)", async () => {
        const store = await fresh();
        const every = newApiKey("every", 1);
        const none = newApiKey("none", 2, { tenants: [] });
        const created = [await store.createApiKey(every), await store.createApiKey(none)];
        expect(Object.keys(created[0] ?? {})).not.toContain("tenants");
        expect(created[1]?.tenants).toStrictEqual([]);
        const every2 = await store.findApiKeyByHash(every.hash);
        const none2 = await store.findApiKeyByHash(none.hash);
        expect(Object.keys(every2 ?? {})).not.toContain("tenants");
        expect(none2?.tenants).toStrictEqual([]);
        expect(await store.listApiKeys()).toStrictEqual([recordOf(none), recordOf(every)]);
      });

      it("keeps text as given: quotes, unicode, percent signs", async () => {
        const store = await fresh();
        const key = newApiKey("zoë's \"key\" 100%_x", 1, { createdBy: "cli:o'brien@pc", tenants: ["o'brien.com"] });
        expect(await store.createApiKey(key)).toStrictEqual(recordOf(key));
        expect(await store.findApiKeyByHash(key.hash)).toStrictEqual(recordOf(key));
        expect((await store.revokeApiKey(key.name, at(2)))?.keyId).toBe(key.keyId);
      });

      it("refuses a name a live key has (ApiKeyNameTakenError naming it) and stores nothing", async () => {
        const store = await fresh();
        await store.createApiKey(newApiKey("ops", 1));
        const second = newApiKey("ops", 2, { scopes: ["admin"] });
        const error = await store.createApiKey(second).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ApiKeyNameTakenError);
        expect(error).toMatchObject({ keyName: "ops" });
        expect(await store.findApiKeyByHash(second.hash)).toBeUndefined();
        expect((await store.listApiKeys()).map((k) => k.keyId)).toStrictEqual([newApiKey("ops", 1).keyId]);
      });

      it("names are case-sensitive and unique among live keys only: a revoked key's name may be given again", async () => {
        const store = await fresh();
        const first = newApiKey("ops", 1);
        await store.createApiKey(first);
        await store.createApiKey(newApiKey("OPS", 2));
        await store.revokeApiKey(first.keyId, at(3));
        const again = newApiKey("ops", 4);
        expect(await store.createApiKey(again)).toStrictEqual(recordOf(again));
        await expect(store.createApiKey(newApiKey("ops", 5))).rejects.toBeInstanceOf(ApiKeyNameTakenError);
        await store.revokeApiKey("ops", at(6));
        const third = newApiKey("ops", 7);
        await store.createApiKey(third);
        const listed = await store.listApiKeys();
        expect(listed.map((k) => [k.keyId, k.revokedAt])).toStrictEqual([
          [third.keyId, undefined],
          [again.keyId, at(6)],
          [newApiKey("OPS", 2).keyId, undefined],
          [first.keyId, at(3)],
        ]);
      });

      it("lets exactly one of two creators racing for a name win", async () => {
        const store = await fresh();
        const results = await Promise.allSettled([store.createApiKey(newApiKey("race", 1)), store.createApiKey(newApiKey("race", 2))]);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const lost = results.find((r) => r.status === "rejected");
        expect(lost?.status === "rejected" && lost.reason).toBeInstanceOf(ApiKeyNameTakenError);
        expect(await store.listApiKeys()).toHaveLength(1);
      });

      it("refuses a second key with the same key id or the same hash, and keeps the first", async () => {
        const store = await fresh();
        const first = newApiKey("ops", 1);
        await store.createApiKey(first);
        await expect(store.createApiKey(newApiKey("other", 2, { keyId: first.keyId }))).rejects.toThrow();
        await expect(store.createApiKey(newApiKey("other", 3, { hash: first.hash }))).rejects.toThrow();
        expect(await store.listApiKeys()).toStrictEqual([recordOf(first)]);
      });

      it("refuses a key without scopes, with an unknown scope, or without a name or hash", async () => {
        const store = await fresh();
        await expect(store.createApiKey(newApiKey("a", 1, { scopes: [] }))).rejects.toThrow();
        await expect(store.createApiKey(newApiKey("b", 2, { scopes: ["root" as never] }))).rejects.toThrow();
        await expect(store.createApiKey(newApiKey("c", 3, { name: "" }))).rejects.toThrow();
        await expect(store.createApiKey(newApiKey("d", 4, { hash: "" }))).rejects.toThrow();
        expect(await store.listApiKeys()).toStrictEqual([]);
      });

      it("returns snapshots: changing a returned record changes nothing stored", async () => {
        const store = await fresh();
        const key = newApiKey("ops", 1, { tenants: ["contoso.com"] });
        const record = await store.createApiKey(key);
        record.scopes.push("admin");
        record.tenants?.push("fabrikam.com");
        const found = await store.findApiKeyByHash(key.hash);
        found?.scopes.push("admin");
        const [listed] = await store.listApiKeys();
        expect(listed).toStrictEqual(recordOf(key));
      });
    });

    describe("findApiKeyByHash", () => {
      it("is undefined for an unknown hash", async () => {
        const store = await fresh();
        expect(await store.findApiKeyByHash("f".repeat(64))).toBeUndefined();
        await store.createApiKey(newApiKey("ops", 1));
        expect(await store.findApiKeyByHash("f".repeat(64))).toBeUndefined();
      });

      it("finds a revoked key too, with its revokedAt (the caller refuses it)", async () => {
        const store = await fresh();
        const key = newApiKey("ops", 1);
        await store.createApiKey(key);
        await store.revokeApiKey(key.keyId, at(9));
        expect(await store.findApiKeyByHash(key.hash)).toStrictEqual({ ...recordOf(key), revokedAt: at(9) });
      });
    });

    describe("listApiKeys", () => {
      it("is empty for a new store", async () => {
        expect(await (await fresh()).listApiKeys()).toStrictEqual([]);
      });

      it("lists every key, revoked ones included, newest first", async () => {
        const store = await fresh();
        const keys = [newApiKey("b", 2), newApiKey("a", 1), newApiKey("d", 4), newApiKey("c", 3)];
        for (const key of keys) await store.createApiKey(key);
        await store.revokeApiKey("c", at(10));
        expect((await store.listApiKeys()).map((k) => [k.name, k.revokedAt])).toStrictEqual([
          ["d", undefined],
          ["c", at(10)],
          ["b", undefined],
          ["a", undefined],
        ]);
      });
    });

    describe("revokeApiKey", () => {
      it("revokes by key id and returns the record", async () => {
        const store = await fresh();
        const key = newApiKey("ops", 1);
        await store.createApiKey(key);
        expect(await store.revokeApiKey(key.keyId, at(5))).toStrictEqual({ ...recordOf(key), revokedAt: at(5) });
        expect((await store.findApiKeyByHash(key.hash))?.revokedAt).toBe(at(5));
      });

      it("revokes the live key with this name, not a revoked one of the same name", async () => {
        const store = await fresh();
        const old = newApiKey("ops", 1);
        const live = newApiKey("ops", 2);
        await store.createApiKey(old);
        await store.revokeApiKey(old.keyId, at(3));
        await store.createApiKey(live);
        expect(await store.revokeApiKey("ops", at(4))).toStrictEqual({ ...recordOf(live), revokedAt: at(4) });
        expect((await store.findApiKeyByHash(old.hash))?.revokedAt).toBe(at(3));
      });

      it("prefers the key id when one key's id is another's name", async () => {
        const store = await fresh();
        const a = newApiKey("first", 1);
        const b = newApiKey(a.keyId, 2);
        await store.createApiKey(a);
        await store.createApiKey(b);
        expect((await store.revokeApiKey(a.keyId, at(3)))?.keyId).toBe(a.keyId);
        expect((await store.findApiKeyByHash(b.hash))?.revokedAt).toBeUndefined();
      });

      it("keeps the first revokedAt when revoked twice", async () => {
        const store = await fresh();
        const key = newApiKey("ops", 1);
        await store.createApiKey(key);
        await store.revokeApiKey(key.keyId, at(5));
        expect(await store.revokeApiKey(key.keyId, at(9))).toStrictEqual({ ...recordOf(key), revokedAt: at(5) });
        expect((await store.findApiKeyByHash(key.hash))?.revokedAt).toBe(at(5));
      });

      it("keeps the first revokedAt when two revoke at once", async () => {
        const store = await fresh();
        const key = newApiKey("ops", 1);
        await store.createApiKey(key);
        const [a, b] = await Promise.all([store.revokeApiKey(key.keyId, at(5)), store.revokeApiKey(key.keyId, at(6))]);
        expect(a?.revokedAt).toBe(b?.revokedAt);
        expect([at(5), at(6)]).toContain((await store.findApiKeyByHash(key.hash))?.revokedAt);
      });

      it("is undefined for an unknown key id or name, and for a name whose keys are all revoked", async () => {
        const store = await fresh();
        expect(await store.revokeApiKey("nope", at(1))).toBeUndefined();
        const key = newApiKey("ops", 1);
        await store.createApiKey(key);
        await store.revokeApiKey("ops", at(2));
        expect(await store.revokeApiKey("ops", at(3))).toBeUndefined();
        expect((await store.findApiKeyByHash(key.hash))?.revokedAt).toBe(at(2));
      });
    });

    describe("touchApiKey", () => {
      it("sets lastUsedAt, and moves it on each touch", async () => {
        const store = await fresh();
        const key = newApiKey("ops", 1);
        const other = newApiKey("other", 2);
        await store.createApiKey(key);
        await store.createApiKey(other);
        await store.touchApiKey(key.keyId, at(60));
        expect(await store.findApiKeyByHash(key.hash)).toStrictEqual({ ...recordOf(key), lastUsedAt: at(60) });
        await store.touchApiKey(key.keyId, at(120));
        expect((await store.findApiKeyByHash(key.hash))?.lastUsedAt).toBe(at(120));
        expect(Object.keys((await store.findApiKeyByHash(other.hash)) ?? {})).not.toContain("lastUsedAt");
      });

      it("does nothing for an unknown key", async () => {
        const store = await fresh();
        await expect(store.touchApiKey("nope", at(1))).resolves.toBeUndefined();
        expect(await store.listApiKeys()).toStrictEqual([]);
      });
    });

    describe("audit log", () => {
      it("appends an entry with every field and returns it with its seq", async () => {
        const store = await fresh();
        const full: NewAuditEntry = {
          at: at(1),
          actor: "apikey:ops",
          action: "job.bulkSet",
          outcome: "failed",
          tenant: "contoso.com",
          target: "plan-7",
          runId: "r-1",
          requestId: "req-1",
          detail: 'say "hi" -- ; zoë',
        };
        const appended = await store.appendAudit(full);
        expect(appended).toStrictEqual({ seq: expect.any(Number), ...full });
        expect(await store.listAudit()).toStrictEqual([appended]);
      });

      it("leaves optional fields absent when not given", async () => {
        const store = await fresh();
        const appended = await store.appendAudit({ at: at(1), actor: "cli:a@b", action: "apikey.create", outcome: "denied", tenant: undefined });
        expect(Object.keys(appended).sort()).toStrictEqual(["action", "actor", "at", "outcome", "seq"]);
        const [listed] = await store.listAudit();
        expect(listed).toStrictEqual(appended);
      });

      it("refuses an unknown outcome", async () => {
        const store = await fresh();
        await expect(store.appendAudit(entry(1, { outcome: "maybe" as never }))).rejects.toThrow();
        expect(await store.listAudit()).toStrictEqual([]);
      });

      it("gives increasing seqs, also to appends made at once", async () => {
        const store = await fresh();
        const first = await store.appendAudit(entry(1));
        const second = await store.appendAudit(entry(2));
        expect(second.seq).toBeGreaterThan(first.seq);
        const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendAudit(entry(3 + i, { target: `u${i}` }))));
        expect(new Set(burst.map((e) => e.seq)).size).toBe(20);
        expect(Math.min(...burst.map((e) => e.seq))).toBeGreaterThan(second.seq);
        const listed = await store.listAudit();
        expect(listed).toHaveLength(22);
        const seqs = listed.map((e) => e.seq);
        expect(seqs).toStrictEqual([...seqs].sort((a, b) => b - a));
      });

      it("lists newest first, at most 100 by default, and pages with beforeSeq", async () => {
        const store = await fresh();
        const appended: AuditEntry[] = [];
        for (let i = 0; i < 105; i++) appended.push(await store.appendAudit(entry(i, { target: `u${i}` })));
        const newest = [...appended].reverse();
        const firstPage = await store.listAudit();
        expect(firstPage).toStrictEqual(newest.slice(0, 100));
        // Page through 7 at a time.
        const paged: AuditEntry[] = [];
        let before: number | undefined;
        for (;;) {
          const page = await store.listAudit({ limit: 7, ...(before !== undefined ? { beforeSeq: before } : {}) });
          paged.push(...page);
          if (page.length < 7) break;
          before = page.at(-1)?.seq;
        }
        expect(paged).toStrictEqual(newest);
        expect(await store.listAudit({ limit: 0 })).toStrictEqual([]);
        expect(await store.listAudit({ beforeSeq: appended[0]?.seq ?? 0 })).toStrictEqual([]);
        expect(await store.listAudit({ limit: 1000 })).toHaveLength(105);
      });

      it("filters by actor, tenant, action and run id, alone and together, newest first", async () => {
        const store = await fresh();
        const rows: AuditEntry[] = [];
        for (let i = 0; i < 24; i++) {
          rows.push(
            await store.appendAudit(
              entry(i, {
                actor: i % 2 === 0 ? "apikey:ops" : "user:ann@contoso.com",
                tenant: i % 3 === 0 ? "contoso.com" : i % 3 === 1 ? "fabrikam.com" : undefined,
                action: i % 4 === 0 ? "job.apply" : "mfa.set",
                ...(i % 6 === 0 ? { runId: "r-6" } : {}),
              }),
            ),
          );
        }
        const newest = [...rows].reverse();
        const expectFilter = async (query: Parameters<AccessStore["listAudit"]>[0], keep: (e: AuditEntry) => boolean) =>
          expect(await store.listAudit(query)).toStrictEqual(newest.filter(keep));
        await expectFilter({ actor: "apikey:ops" }, (e) => e.actor === "apikey:ops");
        await expectFilter({ tenant: "fabrikam.com" }, (e) => e.tenant === "fabrikam.com");
        await expectFilter({ action: "job.apply" }, (e) => e.action === "job.apply");
        await expectFilter({ runId: "r-6" }, (e) => e.runId === "r-6");
        await expectFilter({ actor: "apikey:ops", tenant: "contoso.com", action: "job.apply" }, (e) => e.actor === "apikey:ops" && e.tenant === "contoso.com" && e.action === "job.apply");
        await expectFilter({ actor: "nobody" }, () => false);
        const pivot = rows[12]?.seq ?? 0;
        const page = await store.listAudit({ actor: "apikey:ops", beforeSeq: pivot, limit: 3 });
        expect(page).toStrictEqual(newest.filter((e) => e.actor === "apikey:ops" && e.seq < pivot).slice(0, 3));
      });

      it("is empty for a new store", async () => {
        expect(await (await fresh()).listAudit()).toStrictEqual([]);
      });

      it("returns snapshots", async () => {
        const store = await fresh();
        const appended = await store.appendAudit(entry(1));
        appended.detail = "changed";
        const [listed] = await store.listAudit();
        if (listed) listed.actor = "changed";
        expect(await store.listAudit()).toStrictEqual([{ seq: appended.seq, ...entry(1) }]);
      });
    });
  });
}
