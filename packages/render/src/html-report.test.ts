import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { ReportRow, TenantOutcome } from "@mfactl/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { escapeHtml, renderHtmlReport, writeHtmlReport, type HtmlReportInput } from "./html-report.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mfactl-html-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function render(input: Partial<HtmlReportInput> & Pick<HtmlReportInput, "rows">): Promise<string> {
  const chunks: string[] = [];
  for await (const chunk of renderHtmlReport({ title: "MFA report", generatedAt: new Date("2025-01-02T03:04:05.000Z"), tenants: [], ...input })) chunks.push(chunk);
  return chunks.join("");
}

function row(partial: Partial<ReportRow> & Pick<ReportRow, "userPrincipalName">): ReportRow {
  return {
    tenant: "contoso.com",
    id: "8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6",
    displayName: "User",
    userType: "Member",
    accountEnabled: true,
    isLicensed: true,
    perUserMfaState: "disabled",
    ...partial,
  };
}

const HOSTILE_NAMES = [
  "<script>alert(1)</script>",
  '=HYPERLINK("http://evil.example/x","click")',
  '"quotes" and \'single\'',
  "Tom & Jerry",
  "+1",
  "-2+3",
  "@SUM(A1)",
  "Doe, John",
  "line one\nline two",
  "Zoë 山田 🙂",
  '<img src=x onerror="alert(2)">',
  "</td></tr></table><script src=https://evil.example/x.js></script>",
  "&lt;already-escaped&gt;",
];

const ALLOWED_TAGS = ["html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "time", "main", "section", "ul", "li", "span", "div", "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "strong", "label", "input", "select", "option", "script"].map((t) => t.toLowerCase());

function unescapeHtml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" })[e]!);
}

/** The text of each cell of the table with that id, tags stripped, entities decoded. */
function tableCells(html: string, id: string): string[][] {
  const table = new RegExp(`<table id="${id}">([\\s\\S]*?)</table>`).exec(html)?.[1];
  if (table === undefined) throw new Error(`no table ${id}`);
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(table)?.[1] ?? "";
  return [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((r) => [...r[1]!.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) => unescapeHtml(c[1]!.replace(/<[^>]*>/g, ""))));
}

describe("escapeHtml", () => {
  it("escapes the five HTML specials and replaces forbidden control characters", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    expect(escapeHtml("a\u0000b\u001bc\td")).toBe("a\uFFFDb\uFFFDc\td");
    expect(escapeHtml(undefined)).toBe("");
    expect(escapeHtml(5)).toBe("5");
  });
});

describe("renderHtmlReport", () => {
  it("escapes every value: hostile names come back as text, never as markup", async () => {
    const rows = HOSTILE_NAMES.map((displayName, i) =>
      row({ displayName, userPrincipalName: `u${i}@contoso.com`, tenant: i === 0 ? '<b>"evil" tenant</b>' : "contoso.com", userType: i === 1 ? "<i>Guest</i>" : "Member", perUserMfaState: i % 2 ? "enabled" : "enforced" }),
    );
    const tenants: TenantOutcome[] = [{ tenant: "<svg onload=alert(3)>", status: "failed", users: 0, error: { code: "<code>", message: '<script>alert("denied")</script> & more' } }];
    const html = await render({ rows, tenants, title: '<script>alert("title")</script>', notes: ["--where-state <enabled>"] });

    // Exactly one script element, ours, inline; nothing loads from anywhere.
    expect(html.match(/<script/gi)).toHaveLength(1);
    expect(html).toMatch(/<script>\n\(function\(\)\{/);
    expect(html).not.toMatch(/<script[^>]*\ssrc/i);
    expect(html).not.toMatch(/<link/i);
    // Every tag in the document is one of ours, and none has an attribute that loads or runs anything.
    const tags = [...html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9]*)([^>]*)>/g)];
    for (const tag of tags) expect(ALLOWED_TAGS).toContain(tag[1]!.toLowerCase());
    for (const tag of tags) expect(tag[2]).not.toMatch(/(^|\s)(src|srcset|href|action|formaction|style|on[a-z]+)\s*=/i);
    expect(html).not.toMatch(/url\(|@import/i);
    // http(s):// occurs only in text (escaped data), never inside a tag.
    const urls = [...html.matchAll(/https?:\/\//g)];
    expect(urls.length).toBeGreaterThan(0);
    for (const match of urls) {
      const before = html.slice(0, match.index);
      expect(before.lastIndexOf(">")).toBeGreaterThan(before.lastIndexOf("<"));
    }
    expect(html).not.toContain("https://evil.example/x.js></script>");
    // The raw strings never appear; their escaped forms do.
    for (const name of HOSTILE_NAMES.filter((n) => /[<>&"']/.test(n))) {
      expect(html).not.toContain(name);
      expect(html).toContain(escapeHtml(name));
    }
    expect(html).toContain("<title>&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;</title>");
    expect(html).toContain("&lt;script&gt;alert(&quot;denied&quot;)&lt;/script&gt; &amp; more");

    // Every cell of the user table decodes to exactly the original value.
    const cells = tableCells(html, "users");
    expect(cells).toHaveLength(rows.length);
    cells.forEach((cellsOfRow, i) => {
      const r = rows[i]!;
      expect(cellsOfRow).toEqual([r.tenant, r.id, r.userPrincipalName, r.displayName, r.userType, String(r.accountEnabled), String(r.isLicensed), r.perUserMfaState]);
    });
  });

  it("is self-contained: no URL at all in a report of ordinary data, and a CSP that pins the inline style and script", async () => {
    const html = await render({ rows: [row({ userPrincipalName: "a@contoso.com" })] });
    expect(html).not.toMatch(/https?:|\/\/[a-z]/i);
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const hash = (text: string) => createHash("sha256").update(text, "utf8").digest("base64");
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)![1]!;
    expect(unescapeHtml(csp)).toBe(`default-src 'none'; style-src 'sha256-${hash(style)}'; script-src 'sha256-${hash(script)}'; img-src 'none'; base-uri 'none'; form-action 'none'`);
  });

  it("is accessible and narrow-screen friendly: lang, viewport, captions, scoped headers, scrolling containers", async () => {
    const html = await render({ rows: [row({ userPrincipalName: "a@contoso.com", perUserMfaState: "enabled" })] });
    expect(html).toMatch(/^<!DOCTYPE html>\n<html lang="en">/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    for (const id of ["overall", "tenants", "users"]) {
      const table = new RegExp(`<div class="table-wrap"[^>]*role="region"[^>]*tabindex="0">\\n<table id="${id}">\\n<caption id="${id}-caption">`);
      expect(html).toMatch(table);
    }
    expect(html).toContain('<thead><tr><th scope="col">tenant</th><th scope="col">id</th><th scope="col">userPrincipalName</th><th scope="col">displayName</th><th scope="col">userType</th><th scope="col">accountEnabled</th><th scope="col">isLicensed</th><th scope="col">perUserMfaState</th></tr></thead>');
    expect(html).toContain('<th scope="row">a@contoso.com</th>');
    expect(html).toMatch(/\.table-wrap\{overflow:auto;max-width:100%/);
  });

  it("highlights enabled and enforced rows with a class and a text badge, explained in a legend", async () => {
    const html = await render({
      rows: [
        row({ userPrincipalName: "en@contoso.com", perUserMfaState: "enabled" }),
        row({ userPrincipalName: "ef@contoso.com", perUserMfaState: "enforced" }),
        row({ userPrincipalName: "di@contoso.com", perUserMfaState: "disabled" }),
        row({ userPrincipalName: "un@contoso.com", perUserMfaState: "unknown" }),
      ],
    });
    const users = /<table id="users">[\s\S]*<\/table>/.exec(html)![0];
    expect(users).toMatch(/<tr class="state-enabled" data-state="enabled">[^\n]*en@contoso\.com[^\n]*<span class="badge badge-enabled">enabled<\/span>/);
    expect(users).toMatch(/<tr class="state-enforced" data-state="enforced">[^\n]*ef@contoso\.com[^\n]*<span class="badge badge-enforced">enforced<\/span>/);
    expect(users).toMatch(/<tr data-state="disabled">[^\n]*di@contoso\.com/);
    expect(users).toMatch(/<tr data-state="unknown">[^\n]*un@contoso\.com/);
    expect(html).toMatch(/<ul class="legend"[^>]*>.*swatch state-enforced.*badge-enforced.*swatch state-enabled.*badge-enabled/);
    expect(html).toMatch(/tr\.state-enabled\{background:[^}]+\}/);
  });

  it("opens with correct counts per state overall and per tenant, failed tenants with their reason, and the names", async () => {
    const states = { "contoso.com": ["enabled", "enabled", "enforced", "disabled", "disabled", "disabled", "unknown"], "fabrikam.com": ["enforced", "disabled"] } as const;
    const rows: ReportRow[] = [];
    for (const [tenant, list] of Object.entries(states)) {
      list.forEach((perUserMfaState, i) => rows.push(row({ tenant, perUserMfaState, userPrincipalName: `${perUserMfaState}${i}@${tenant}`, displayName: `${perUserMfaState} ${i} of ${tenant}` })));
    }
    const tenants: TenantOutcome[] = [
      { tenant: "contoso.com", status: "completed", users: 7 },
      { tenant: "denied.com", status: "failed", users: 0, error: { code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation.", httpStatus: 403 } },
      { tenant: "fabrikam.com", status: "completed", users: 2 },
    ];
    const html = await render({ rows, tenants });
    const summaryStart = html.indexOf('<h2 id="summary-h">');
    expect(summaryStart).toBeGreaterThan(0);
    expect(summaryStart).toBeLessThan(html.indexOf('<table id="users">'));

    expect(tableCells(html, "overall")).toEqual([
      ["disabled", "4", "44.4%"],
      ["enabled", "2", "22.2%"],
      ["enforced", "2", "22.2%"],
      ["unknown", "1", "11.1%"],
    ]);
    expect(html).toMatch(/<tfoot><tr><th scope="row">Total<\/th><td class="num">9<\/td>/);
    expect(tableCells(html, "tenants")).toEqual([
      ["contoso.com", "completed", "3", "2", "1", "1", "7"],
      ["denied.com", "failed", "0", "0", "0", "0", "0"],
      ["fabrikam.com", "completed", "1", "0", "1", "0", "2"],
    ]);
    expect(tableCells(html, "failed")).toEqual([["denied.com", "Authorization_RequestDenied (HTTP 403)", "Insufficient privileges to complete the operation.", "0"]]);
    expect(html).toContain("9 users in 3 tenants: <strong>2</strong> enforced, <strong>2</strong> enabled, 4 disabled, 1 unknown. <strong>1 tenant failed</strong>");

    const list = (state: string) => [...(new RegExp(`<ul class="users" id="${state}-users">([\\s\\S]*?)</ul>`).exec(html)?.[1] ?? "").matchAll(/<li>(.*?)<\/li>/g)].map((m) => unescapeHtml(m[1]!.replace(/<[^>]*>/g, "")));
    expect(list("enforced")).toEqual(["enforced 2 of contoso.com <enforced2@contoso.com> contoso.com", "enforced 0 of fabrikam.com <enforced0@fabrikam.com> fabrikam.com"]);
    expect(list("enabled")).toEqual(["enabled 0 of contoso.com <enabled0@contoso.com> contoso.com", "enabled 1 of contoso.com <enabled1@contoso.com> contoso.com"]);
    expect(html).toContain('<h2 id="enforced-h">Users with per-user MFA enforced (2)</h2>');
    expect(tableCells(html, "users")).toHaveLength(9);
  });

  it("says so when nothing failed or nobody is enabled, and caps long name lists", async () => {
    const rows = [0, 1, 2].map((i) => row({ userPrincipalName: `e${i}@contoso.com`, perUserMfaState: "enforced" }));
    const html = await render({ rows, tenants: [{ tenant: "contoso.com", status: "completed", users: 3 }], maxListedUsers: 2 });
    expect(html).toContain("<p>None: every tenant was read.</p>");
    expect(html).toMatch(/<h2 id="enabled-h">Users with per-user MFA enabled \(0\)<\/h2>\n<p>None\.<\/p>/);
    expect(html).toContain("The first 2 of 3 are listed");
    expect((/<ul class="users" id="enforced-users">([\s\S]*?)<\/ul>/.exec(html)![1]!.match(/<li>/g) ?? []).length).toBe(2);
    expect(tableCells(html, "users")).toHaveLength(3);
  });

  it("streams async rows through a spool, reads tenant outcomes pushed while streaming, and removes the spool", async () => {
    const spoolDir = await mkdtemp(join(dir, "spool-"));
    const tenants: TenantOutcome[] = [];
    async function* rows(): AsyncGenerator<ReportRow> {
      yield row({ userPrincipalName: "a@contoso.com", perUserMfaState: "enabled" });
      tenants.push({ tenant: "contoso.com", status: "completed", users: 1 });
      yield row({ tenant: "fabrikam.com", userPrincipalName: "b@fabrikam.com" });
      tenants.push({ tenant: "broken.com", status: "failed", users: 0, error: { code: "AuthError", message: "AADSTS700016: app not found" } });
    }
    const html = await render({ rows: rows(), tenants, tempDir: spoolDir });
    expect(tableCells(html, "users").map((c) => c[2])).toEqual(["a@contoso.com", "b@fabrikam.com"]);
    expect(tableCells(html, "failed")[0]).toEqual(["broken.com", "AuthError", "AADSTS700016: app not found", "0"]);
    expect(await readdir(spoolDir)).toEqual([]);

    // A consumer that stops early still leaves nothing behind.
    for await (const _chunk of renderHtmlReport({ title: "t", generatedAt: new Date(), tenants: [], rows: rows(), tempDir: spoolDir })) break;
    expect(await readdir(spoolDir)).toEqual([]);

    // A source that fails mid-way propagates the error and leaves nothing behind.
    async function* failing(): AsyncGenerator<ReportRow> {
      yield row({ userPrincipalName: "a@contoso.com" });
      throw new Error("source broke");
    }
    await expect(render({ rows: failing(), tempDir: spoolDir })).rejects.toThrow("source broke");
    expect(await readdir(spoolDir)).toEqual([]);
  });

  it("writeHtmlReport writes the same document to a sink", async () => {
    const chunks: string[] = [];
    const input = { title: "t", generatedAt: new Date("2025-01-01T00:00:00Z"), tenants: [], rows: [row({ userPrincipalName: "a@contoso.com" })] };
    await writeHtmlReport({ write: (s: string) => chunks.push(s) }, input);
    expect(chunks.join("")).toBe(await render(input));
  });

  it("renders 100,000 streamed rows with bounded memory", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const states = ["disabled", "enabled", "enforced", "unknown"] as const;
    async function* many(): AsyncGenerator<ReportRow> {
      for (let i = 0; i < 100_000; i++) {
        yield row({ tenant: `tenant${i % 50}.com`, userPrincipalName: `user${i}@tenant${i % 50}.com`, displayName: `User <${i}> ${"x".repeat(100)}`, perUserMfaState: states[i % 4]! });
      }
    }
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = 0;
    let bytes = 0;
    let chunks = 0;
    let tail = "";
    for await (const chunk of renderHtmlReport({ title: "big", generatedAt: new Date(), tenants: [], rows: many(), tempDir: dir })) {
      bytes += chunk.length;
      tail = chunk;
      if (++chunks % 200 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - baseline);
      }
    }
    expect(bytes).toBeGreaterThan(30_000_000);
    expect(tail).toMatch(/<\/html>\n$/);
    // ~30 MB of HTML went out; the summary keeps 2 x 5,000 names and the rest streams.
    expect(peak).toBeLessThan(16 * 1024 * 1024);
  });
});
