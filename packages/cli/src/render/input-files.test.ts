import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "@mfactl/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeCsv } from "@mfactl/render";
import { detectFormat, readTenantsFile, readUserInput, splitJsonArray, type UserInputRecord } from "./input-files.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mfactl-input-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
async function file(name: string, content: string): Promise<string> {
  const path = join(dir, `${counter++}-${name}`);
  await writeFile(path, content, "utf8");
  return path;
}

async function readAll(path: string): Promise<UserInputRecord[]> {
  const out: UserInputRecord[] = [];
  for await (const record of readUserInput(path)) out.push(record);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<UsageError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error("expected a UsageError");
}

const ID1 = "8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6";
const ID2 = "11111111-2222-4333-8444-555555555555";

describe("readUserInput: CSV", () => {
  it("reads upn / userId / tenant columns case-insensitively, with BOM, CRLF and blank lines", async () => {
    const path = await file("users.csv", `\uFEFFUPN,UserId,Tenant,note\r\nadele@contoso.com,,contoso.com,x\r\n\r\n,${ID1},fabrikam.com,\r\n  alex@contoso.com  ,${ID2},,\r\n`);
    expect(await readAll(path)).toEqual([
      { userPrincipalName: "adele@contoso.com", tenant: "contoso.com", line: 2 },
      { id: ID1, tenant: "fabrikam.com", line: 4 },
      { userPrincipalName: "alex@contoso.com", id: ID2, line: 5 },
    ]);
  });

  it("accepts 'User Principal Name' headers and ; delimiters (Excel in many locales)", async () => {
    const path = await file("users.csv", `User Principal Name;Display Name\nadele@contoso.com;Vance, Adele\n`);
    expect(await readAll(path)).toEqual([{ userPrincipalName: "adele@contoso.com", line: 2 }]);
  });

  it("counts lines across quoted multi-line fields (LF and CRLF) when naming a bad row", async () => {
    for (const nl of ["\n", "\r\n"]) {
      const path = await file("users.csv", ["userPrincipalName,comment", `adele@contoso.com,"one${nl}two${nl}three"`, "", "not-a-user,x"].join(nl) + nl);
      const error = await failure(readAll(path));
      expect(error.message).toContain(`${path}, line 6:`);
      expect(error.message).toContain('"not-a-user"');
    }
  });

  it("names file and line 1 when no user column exists", async () => {
    const path = await file("users.csv", "name,mail\nAdele,adele@contoso.com\n");
    const error = await failure(readAll(path));
    expect(error.message).toBe(`${path}, line 1: no user column: expected userPrincipalName (or upn) or id (or userId); found "name", "mail".`);
  });

  it("rejects an empty file and a header-only file is no users", async () => {
    expect((await failure(readAll(await file("empty.csv", "")))).message).toMatch(/line 1: no user column.*no columns/);
    expect(await readAll(await file("header.csv", "upn\r\n"))).toEqual([]);
  });

  it("rejects two columns for the same field", async () => {
    const path = await file("users.csv", "upn,userPrincipalName\na@contoso.com,a@contoso.com\n");
    expect((await failure(readAll(path))).message).toMatch(/line 1: "upn" and "userPrincipalName" both give the userPrincipalName/);
  });

  it("names the line of a row without a user, a bad id, a bad tenant, too many fields, an unclosed quote", async () => {
    const cases: [string, RegExp][] = [
      ["upn,tenant\na@contoso.com,contoso.com\n,contoso.com\n", /line 3: no user/],
      ["id\nnot-a-guid\n", /line 2: invalid id "not-a-guid"/],
      ["upn,tenant\na@contoso.com,not a tenant\n", /line 2: Invalid tenant "not a tenant"/],
      ["upn\na@contoso.com\nb@contoso.com,extra\n", /line 3: 2 fields but the header has 1/],
      ['upn,comment\na@contoso.com,ok\nb@contoso.com,"never closed\n', /line 3: not valid CSV/],
    ];
    for (const [content, pattern] of cases) {
      const path = await file("bad.csv", content);
      const error = await failure(readAll(path));
      expect(error.message).toContain(path);
      expect(error.message).toMatch(pattern);
    }
  });

  it("yields the rows before a bad row (errors come when the row is reached)", async () => {
    const path = await file("users.csv", "upn\na@contoso.com\nbad\n");
    const seen: string[] = [];
    await failure(
      (async () => {
        for await (const r of readUserInput(path)) seen.push(r.userPrincipalName ?? "");
      })(),
    );
    expect(seen).toEqual(["a@contoso.com"]);
  });

  it("reads back a --failed-out CSV written by createCsvWriter as it is", async () => {
    const columns = ["tenant", "id", "userPrincipalName", "previousState", "requestedState", "status", "requestId", "error.code", "error.message"];
    const failures = [
      { tenant: "contoso.com", id: ID1, userPrincipalName: "-alice@contoso.com", previousState: "disabled", requestedState: "enforced", status: "failed", requestId: "r1", error: { code: "TooManyRequests", message: 'Throttled, "retry"\nlater; =1+1' } },
      { tenant: "fabrikam.com", id: "", userPrincipalName: "=bob+tag@fabrikam.com", requestedState: "enforced", status: "failed", error: { code: "Request_ResourceNotFound", message: "@user not found" } },
      { tenant: ID2, id: ID2, userPrincipalName: "'quote@contoso.com", requestedState: "enabled", status: "failed", error: { code: "x", message: "+y" } },
    ];
    const chunks: string[] = [];
    await writeCsv({ write: (s: string) => chunks.push(s) }, columns, failures);
    const path = await file("failed.csv", chunks.join(""));
    expect(chunks.join("")).toContain("'-alice@contoso.com");
    expect(await readAll(path)).toEqual([
      { tenant: "contoso.com", id: ID1, userPrincipalName: "-alice@contoso.com", line: 2 },
      { tenant: "fabrikam.com", userPrincipalName: "=bob+tag@fabrikam.com", line: 4 },
      { tenant: ID2, id: ID2, userPrincipalName: "'quote@contoso.com", line: 5 },
    ]);
  });

  it("reports a file that cannot be read", async () => {
    const error = await failure(readAll(join(dir, "missing.csv")));
    expect(error.message).toMatch(/Cannot read .*missing\.csv: ENOENT/);
  });
});

describe("readUserInput: JSON", () => {
  it("reads an array of objects with the same keys, naming the line each starts on", async () => {
    const path = await file("users.json", `[\n  { "userPrincipalName": "a@contoso.com", "tenant": "contoso.com" },\n  {\n    "UserId": "${ID1}"\n  },\n  {"upn": "b@contoso.com", "id": null, "extra": [1, "]", {"x": "},"}]}\n]\n`);
    expect(await readAll(path)).toEqual([
      { userPrincipalName: "a@contoso.com", tenant: "contoso.com", line: 2 },
      { id: ID1, line: 3 },
      { userPrincipalName: "b@contoso.com", line: 6 },
    ]);
  });

  it("names the line of a bad element", async () => {
    const notObject = await file("users.json", `[\n {"upn": "a@contoso.com"},\n "b@contoso.com"\n]`);
    expect((await failure(readAll(notObject))).message).toBe(`${notObject}, line 3: expected an object, not string "b@contoso.com".`);
    const badJson = await file("users.json", `[\n {"upn": "a@contoso.com"},\n\n {"upn": }\n]`);
    expect((await failure(readAll(badJson))).message).toMatch(new RegExp(`^${escapeRe(badJson)}, line 4: not valid JSON`));
    const numberId = await file("users.json", `[{"id": 5}]`);
    expect((await failure(readAll(numberId))).message).toMatch(/line 1: id must be a string, not number 5/);
    const trailing = await file("users.json", `[{"upn": "a@contoso.com"}]\n]`);
    expect((await failure(readAll(trailing))).message).toMatch(/line 2: not a valid JSON array: unexpected text/);
    const unclosed = await file("users.json", `[{"upn": "a@contoso.com"},\n`);
    expect((await failure(readAll(unclosed))).message).toMatch(/not a valid JSON array: it ends before its closing \]/);
  });

  it("reads JSON Lines, skipping blank lines", async () => {
    const path = await file("users.jsonl", `{"upn":"a@contoso.com"}\n\n{"id":"${ID1}","tenant":"contoso.com"}\n`);
    expect(await readAll(path)).toEqual([
      { userPrincipalName: "a@contoso.com", line: 1 },
      { id: ID1, tenant: "contoso.com", line: 3 },
    ]);
    const bad = await file("users.ndjson", `{"upn":"a@contoso.com"}\n{"upn":\n`);
    expect((await failure(readAll(bad))).message).toMatch(/line 2: not valid JSON/);
  });

  it("does not strip a formula prefix from JSON (only our CSV adds one)", async () => {
    const path = await file("users.json", `[{"upn": "'-x@contoso.com"}]`);
    expect(await readAll(path)).toEqual([{ userPrincipalName: "'-x@contoso.com", line: 1 }]);
  });
});

describe("detectFormat", () => {
  it("goes by extension, else by the first character", async () => {
    expect(await detectFormat(await file("a.csv", "[weird"))).toBe("csv");
    expect(await detectFormat(await file("a.jsonl", "[]"))).toBe("jsonl");
    expect(await detectFormat(await file("a.json", "\uFEFF  [ ]"))).toBe("json");
    expect(await detectFormat(await file("a.json", '{"upn":"a@b.co"}'))).toBe("jsonl");
    expect(await detectFormat(await file("noext", "\n[{}]"))).toBe("json");
    expect(await detectFormat(await file("noext", "upn\n"))).toBe("csv");
    await expect(detectFormat(await file("a.json", "upn\n"))).rejects.toThrow(/expected a JSON array/);
  });
});

describe("splitJsonArray", () => {
  it("splits top-level elements, ignoring brackets and commas inside strings", () => {
    expect(splitJsonArray(`[ "a,]", {"b": "\\"}"} ,\n 3 ]`, "f")).toEqual([
      { text: '"a,]"', line: 1 },
      { text: '{"b": "\\"}"}', line: 1 },
      { text: "3", line: 2 },
    ]);
    expect(splitJsonArray("[]", "f")).toEqual([]);
    expect(() => splitJsonArray("[1,]", "f")).toThrow(/trailing comma/);
    expect(() => splitJsonArray("{}", "f")).toThrow(/expected \[/);
  });
});

describe("readTenantsFile", () => {
  it("reads a tenant column, then tenantId / domain / defaultDomainName, deduplicated in order", async () => {
    expect(await readTenantsFile(await file("t.csv", "Tenant,name\ncontoso.com,C\nfabrikam.com,F\nCONTOSO.com,dup\n"))).toEqual(["contoso.com", "fabrikam.com"]);
    expect(await readTenantsFile(await file("t.csv", `displayName,defaultDomainName,customerId\n"Contoso, Ltd",contoso.onmicrosoft.com,${ID1}\n`))).toEqual(["contoso.onmicrosoft.com"]);
    expect(await readTenantsFile(await file("t.csv", `domain,tenantId\nx.com,${ID1}\n`))).toEqual([ID1]);
  });

  it("reads a plain list without a header", async () => {
    expect(await readTenantsFile(await file("t.txt", `contoso.com\r\n${ID1}\r\n`))).toEqual(["contoso.com", ID1]);
  });

  it("reads JSON arrays of strings or objects and JSON Lines", async () => {
    expect(await readTenantsFile(await file("t.json", `["contoso.com", "fabrikam.com"]`))).toEqual(["contoso.com", "fabrikam.com"]);
    expect(await readTenantsFile(await file("t.json", `[{"defaultDomainName": "contoso.com"}, {"tenantId": "${ID1}"}]`))).toEqual(["contoso.com", ID1]);
    expect(await readTenantsFile(await file("t.jsonl", `"contoso.com"\n{"tenant": "fabrikam.com"}\n`))).toEqual(["contoso.com", "fabrikam.com"]);
  });

  it("names the file and line of a bad tenant, a missing column, an empty file", async () => {
    const bad = await file("t.csv", "tenant\ncontoso.com\nnot a domain\n");
    expect((await failure(readTenantsFile(bad))).message).toMatch(new RegExp(`^${escapeRe(bad)}, line 3: Invalid tenant "not a domain"`));
    const noColumn = await file("t.csv", "name,region\nContoso,EU\n");
    expect((await failure(readTenantsFile(noColumn))).message).toBe(`${noColumn}, line 1: no tenant column: expected one of tenant, tenantId, domain, defaultDomainName; found "name", "region".`);
    const empty = await file("t.json", "[]");
    expect((await failure(readTenantsFile(empty))).message).toBe(`${empty}: no tenants in the file.`);
    const badJson = await file("t.json", `["contoso.com",\n {"name": "x"}]`);
    expect((await failure(readTenantsFile(badJson))).message).toMatch(/line 2: no tenant: expected a string or an object/);
    const number = await file("t.json", `["contoso.com",\n 5]`);
    expect((await failure(readTenantsFile(number))).message).toMatch(/line 2: expected an object or a string, not number 5/);
  });
});

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
