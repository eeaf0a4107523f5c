/**
 * `mfactl apikey create | list | revoke` as real processes on a real database file: the key is
 * printed once and stored only hashed; names are unique among live keys; bad input exits 2.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mfactl } from "./harness.js";

const KEY_RE = /^mfak_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** apikey needs no Graph credentials: an environment with nothing in it. */
const ENV: Record<string, string> = {};

function freshDb(): string {
  return join(mkdtempSync(join(tmpdir(), "mfactl-apikey-")), "journal.db");
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** Every byte the SQLite database holds (the file and its write-ahead log). */
function databaseBytes(db: string): string {
  return ["", "-wal"].map((s) => (existsSync(`${db}${s}`) ? readFileSync(`${db}${s}`).toString("latin1") : "")).join("");
}

describe("mfactl apikey create", () => {
  it("prints the key once, alone on stdout; stderr says which key it is and that it is shown once", async () => {
    const db = freshDb();
    const r = await mfactl(["apikey", "create", "--name", "ops", "--scope", "write", "--db", db], ENV);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^mfak_[a-z0-9]{12}_[A-Za-z0-9_-]{43}\n$/);
    const key = r.stdout.trim();
    const keyId = KEY_RE.exec(key)![1]!;
    expect(r.stderr).toContain(`API key ops (${keyId}) created with write`);
    expect(r.stderr).toMatch(/shown this once/);
    expect(r.stderr).not.toContain(key);
    // Stored hashed: neither the key nor its secret part is anywhere in the database.
    const bytes = databaseBytes(db);
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes).not.toContain(key);
    expect(bytes).not.toContain(KEY_RE.exec(key)![2]!);
  });

  it("-o json: the key with its record, and no hash", async () => {
    const db = freshDb();
    const r = await mfactl(["apikey", "create", "--name", "n8n-prod", "--scope", "read,write", "--tenant", "Contoso.onmicrosoft.com,fabrikam.onmicrosoft.com", "-o", "json", "--db", db], ENV);
    expect(r.code, r.stderr).toBe(0);
    const created = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(created["key"]).toMatch(KEY_RE);
    expect(created).toMatchObject({ name: "n8n-prod", scopes: ["read", "write"], tenants: ["contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"], createdBy: expect.stringMatching(/^cli:/) });
    expect(created["keyId"]).toBe(KEY_RE.exec(created["key"] as string)![1]);
    expect(r.stdout).not.toContain(sha256(created["key"] as string));
    expect(Object.keys(created).some((k) => /hash/i.test(k))).toBe(false);
  });

  it("each key is different, even for the same name after a revoke", async () => {
    const db = freshDb();
    const a = await mfactl(["apikey", "create", "--name", "ops", "--scope", "read", "--db", db], ENV);
    expect(a.code, a.stderr).toBe(0);
    expect((await mfactl(["apikey", "revoke", "ops", "--db", db], ENV)).code).toBe(0);
    const b = await mfactl(["apikey", "create", "--name", "ops", "--scope", "read", "--db", db], ENV);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout.trim()).toMatch(KEY_RE);
    expect(b.stdout).not.toBe(a.stdout);
  });

  it("a name taken by a live key: exit 2, the message says so, and the first key is unchanged", async () => {
    const db = freshDb();
    const first = await mfactl(["apikey", "create", "--name", "ops", "--scope", "write", "--db", db], ENV);
    expect(first.code, first.stderr).toBe(0);
    const again = await mfactl(["apikey", "create", "--name", "ops", "--scope", "admin", "--db", db], ENV);
    expect(again.code, again.stderr).toBe(2);
    expect(again.stderr).toMatch(/^error: An API key named ops already exists/m);
    expect(again.stderr).not.toMatch(/Unexpected/);
    expect(again.stdout).toBe("");
    const list = await mfactl(["apikey", "list", "-o", "json", "--db", db], ENV);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ name: "ops", scopes: ["write"] })]);
  });

  it("bad scope, bad name, empty tenant list, missing options: exit 2, nothing created", async () => {
    const db = freshDb();
    const bad: [string[], RegExp][] = [
      [["--name", "ops", "--scope", "superuser"], /Invalid scope "superuser"/],
      [["--name", "ops", "--scope", "read,root"], /Invalid scope "root"/],
      [["--name", "ops", "--scope", ","], /at least one scope/],
      [["--name", ".hidden", "--scope", "read"], /Invalid key name ".hidden"/],
      [["--name", "has space", "--scope", "read"], /Invalid key name/],
      [["--name", "ops", "--scope", "read", "--tenant", ","], /--tenant/],
      [["--scope", "read"], /--name/],
      [["--name", "ops"], /--scope/],
    ];
    for (const [args, message] of bad) {
      const r = await mfactl(["apikey", "create", ...args, "--db", db], ENV);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(message);
      expect(r.stdout, args.join(" ")).not.toMatch(/mfak_/);
    }
    const list = await mfactl(["apikey", "list", "-o", "json", "--db", db], ENV);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});

describe("mfactl apikey list and revoke", () => {
  it("list shows names, ids, scopes and tenants, never a key or its hash (table and json)", async () => {
    const db = freshDb();
    const keys: string[] = [];
    for (const [name, scope, tenant] of [["ops", "write", undefined], ["reader", "read", "contoso.onmicrosoft.com"]] as const) {
      const r = await mfactl(["apikey", "create", "--name", name, "--scope", scope, ...(tenant ? ["--tenant", tenant] : []), "--db", db], ENV);
      expect(r.code, r.stderr).toBe(0);
      keys.push(r.stdout.trim());
    }
    const table = await mfactl(["apikey", "list", "--db", db], ENV);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^NAME\s+KEY ID\s+SCOPES\s+TENANTS\s+CREATED\s+LAST USED\s+REVOKED\s*$/);
    expect(table.stdout).toMatch(/^reader\s+[a-z0-9]{12}\s+read\s+contoso\.onmicrosoft\.com\s/m);
    expect(table.stdout).toMatch(/^ops\s+[a-z0-9]{12}\s+write\s+\(all served\)\s/m);
    const json = await mfactl(["apikey", "list", "-o", "json", "--db", db], ENV);
    expect(json.code, json.stderr).toBe(0);
    const rows = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(rows.map((r) => r["name"])).toEqual(["reader", "ops"]);
    for (const row of rows) expect(Object.keys(row).some((k) => /hash|secret|^key$/i.test(k)), JSON.stringify(row)).toBe(false);
    for (const key of keys) {
      const [, keyId, secret] = KEY_RE.exec(key)!;
      for (const out of [table.stdout, json.stdout, table.stderr, json.stderr]) {
        expect(out).not.toContain(secret!);
        expect(out).not.toContain(sha256(key));
      }
      expect(table.stdout).toContain(keyId!);
    }
  });

  it("revoke by name or by key id: marked revoked in the list; again or unknown -> exit 2", async () => {
    const db = freshDb();
    const a = (await mfactl(["apikey", "create", "--name", "ops", "--scope", "write", "--db", db], ENV)).stdout.trim();
    const b = (await mfactl(["apikey", "create", "--name", "other", "--scope", "read", "--db", db], ENV)).stdout.trim();
    const r1 = await mfactl(["apikey", "revoke", "ops", "--db", db], ENV);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stderr).toMatch(/API key ops \([a-z0-9]{12}\) revoked at \d{4}-\d\d-\d\dT/);
    const otherId = KEY_RE.exec(b)![1]!;
    const r2 = await mfactl(["apikey", "revoke", otherId, "--db", db], ENV);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toContain(`API key other (${otherId}) revoked`);
    const rows = JSON.parse((await mfactl(["apikey", "list", "-o", "json", "--db", db], ENV)).stdout) as { name: string; revokedAt?: string }[];
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.revokedAt, row.name).toMatch(/^\d{4}-\d\d-\d\dT/);
    const again = await mfactl(["apikey", "revoke", "ops", "--db", db], ENV);
    expect(again.code, again.stderr).toBe(2);
    expect(again.stderr).toMatch(/no live API key named ops/);
    const unknown = await mfactl(["apikey", "revoke", "nobody", "--db", db], ENV);
    expect(unknown.code).toBe(2);
    expect(a).toMatch(KEY_RE);
  });
});
