import { createHash } from "node:crypto";
import { ApiKeyNameTakenError, memoryAccessStore, UsageError, type AccessStore, type NewApiKey } from "@mfactl/core";
import { describe, expect, it } from "vitest";
import { API_KEY_PREFIX, createApiKey, hashApiKey, isApiKeyShaped, parseScopes } from "./api-keys.js";

/** The store, remembering exactly what it was asked to keep. */
function recordingStore(): { store: AccessStore; stored: NewApiKey[] } {
  const inner = memoryAccessStore();
  const stored: NewApiKey[] = [];
  return {
    stored,
    store: {
      ...inner,
      createApiKey: async (key) => {
        stored.push(structuredClone(key));
        return inner.createApiKey(key);
      },
    },
  };
}

const input = (over: Partial<Parameters<typeof createApiKey>[1]> = {}) => ({ name: "automation", scopes: ["read"], createdBy: "cli:alice@laptop", at: "2026-03-01T10:00:00.000Z", ...over });

describe("createApiKey", () => {
  it("makes mfak_<12 lower-case letters or digits>_<43 base64url characters>, recognisable by its prefix", async () => {
    const { store } = recordingStore();
    const { key, record } = await createApiKey(store, input());
    expect(key.startsWith(API_KEY_PREFIX)).toBe(true);
    expect(key).toMatch(/^mfak_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(key.split("_")[1]).toBe(record.keyId);
    expect(isApiKeyShaped(key)).toBe(true);
    // 43 base64url characters are 32 bytes: 256 random bits.
    expect(Buffer.from(key.slice(-43), "base64url")).toHaveLength(32);
  });

  it("stores the SHA-256 of the key and never the key or its secret", async () => {
    const { store, stored } = recordingStore();
    const { key, record } = await createApiKey(store, input({ scopes: ["write"], tenants: ["Contoso.onmicrosoft.com"] }));
    expect(stored).toHaveLength(1);
    const kept = stored[0]!;
    expect(kept.hash).toBe(createHash("sha256").update(key).digest("hex"));
    expect(kept.hash).toBe(hashApiKey(key));
    const everything = JSON.stringify({ kept, record });
    expect(everything).not.toContain(key);
    expect(everything).not.toContain(key.slice(-43));
    expect(await store.findApiKeyByHash(hashApiKey(key))).toStrictEqual(record);
    expect(record).toMatchObject({ name: "automation", scopes: ["write"], tenants: ["contoso.onmicrosoft.com"], createdBy: "cli:alice@laptop", createdAt: "2026-03-01T10:00:00.000Z" });
  });

  it("makes a different key and key id every time", async () => {
    const { store } = recordingStore();
    const made = await Promise.all(Array.from({ length: 20 }, (_, i) => createApiKey(store, input({ name: `k${i}` }))));
    expect(new Set(made.map((m) => m.key)).size).toBe(20);
    expect(new Set(made.map((m) => m.record.keyId)).size).toBe(20);
    expect(new Set(made.map((m) => hashApiKey(m.key))).size).toBe(20);
  });

  it("accepts names of letters, digits, '.', '_', '@', '-' up to 64 characters, starting with a letter or digit", async () => {
    const { store } = recordingStore();
    for (const name of ["a", "n8n", "cipp.prod", "ops_team-1", "alice@contoso", "9lives", "x".repeat(64)]) {
      expect((await createApiKey(store, input({ name }))).record.name).toBe(name);
    }
  });

  it("refuses bad names, naming the name, and stores nothing", async () => {
    const { store, stored } = recordingStore();
    for (const name of ["", " ", ".hidden", "-dash", "_under", "has space", "x".repeat(65), "semi;colon", "slash/y", "ünïcode", "tab\t"]) {
      const error = await createApiKey(store, input({ name })).catch((e: unknown) => e);
      expect(error, JSON.stringify(name)).toBeInstanceOf(UsageError);
      expect((error as Error).message).toContain(JSON.stringify(name));
    }
    expect(stored).toStrictEqual([]);
  });

  it("refuses an empty tenant list (leave it out to allow every tenant) and bad scopes, storing nothing", async () => {
    const { store, stored } = recordingStore();
    await expect(createApiKey(store, input({ tenants: [] }))).rejects.toBeInstanceOf(UsageError);
    await expect(createApiKey(store, input({ tenants: [" ", ""] }))).rejects.toBeInstanceOf(UsageError);
    await expect(createApiKey(store, input({ scopes: ["root"] }))).rejects.toThrow(/root/);
    await expect(createApiKey(store, input({ scopes: [] }))).rejects.toBeInstanceOf(UsageError);
    expect(stored).toStrictEqual([]);
  });

  it("passes on the store's refusal of a name a live key has", async () => {
    const { store } = recordingStore();
    await createApiKey(store, input());
    await expect(createApiKey(store, input())).rejects.toBeInstanceOf(ApiKeyNameTakenError);
  });
});

describe("isApiKeyShaped", () => {
  it("tells keys from other bearer values", async () => {
    const { key } = await createApiKey(memoryAccessStore(), input());
    expect(isApiKeyShaped(key)).toBe(true);
    for (const value of ["", "mfak_", key.toUpperCase(), `${key}x`, key.slice(0, -1), ` ${key}`, key.replace("mfak_", "mfaq_"), "eyJhbGciOi.eyJzdWIiOi.c2ln", `mfak_ABCDEFGHIJKL_${key.slice(-43)}`]) {
      expect(isApiKeyShaped(value), value).toBe(false);
    }
  });
});

describe("hashApiKey", () => {
  it("is SHA-256 hex: 64 characters, the same for the same key, different for another", () => {
    expect(hashApiKey("mfak_a")).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey("mfak_a")).toBe(hashApiKey("mfak_a"));
    expect(hashApiKey("mfak_a")).not.toBe(hashApiKey("mfak_b"));
    expect(hashApiKey("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});

describe("parseScopes", () => {
  it("reads scopes case-insensitively, comma-separated or repeated, once each", () => {
    expect(parseScopes(["read"])).toStrictEqual(["read"]);
    expect(parseScopes(["Read, WRITE"])).toStrictEqual(["read", "write"]);
    expect(parseScopes(["admin", "admin,read", " admin "])).toStrictEqual(["admin", "read"]);
    expect(parseScopes(["write,", ",read"])).toStrictEqual(["write", "read"]);
  });

  it("refuses unknown scopes, naming them and the valid ones, and no scope at all", () => {
    expect(() => parseScopes(["read", "superuser"])).toThrow(/"superuser".*read, write, admin/);
    expect(() => parseScopes(["read write"])).toThrow(UsageError);
    expect(() => parseScopes([])).toThrow(/at least one scope/);
    expect(() => parseScopes([" , "])).toThrow(/at least one scope/);
  });
});
