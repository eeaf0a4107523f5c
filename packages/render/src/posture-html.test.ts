import { createHash } from "node:crypto";
import { countsOf, evaluateTenantPosture, FINDING_CODES, parseCaPolicies, PROTECTIONS, type CaPolicy, type PostureUser, type TenantPostureResult } from "@mfactl/core";
import { describe, expect, it } from "vitest";
import { escapeHtml } from "./html-report.js";
import { jsonForScript, POSTURE_CSP, POSTURE_HTML_COLUMNS, renderPostureHtml, type PostureHtmlInput, type PostureHtmlRow } from "./posture-html.js";

const HOSTILE_NAMES = [
  "<script>alert(1)</script>",
  '=HYPERLINK("http://evil.example/x","click")',
  '"quotes" and \'single\'',
  "Tom & Jerry",
  "</script><script>alert(2)</script>",
  "<!-- comment --><script>",
  '<img src=x onerror="alert(3)">',
  "</td></tr></table><script src=https://evil.example/x.js></script>",
  "line one\nline two\u2028sep\u2029",
  "Zoë 山田 🙂",
  "&lt;already-escaped&gt;",
  "@SUM(A1)",
];

const ALLOWED_TAGS = ["html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "h4", "p", "time", "main", "section", "article", "div", "span", "strong", "dl", "dt", "dd", "ul", "li", "figure", "figcaption", "svg", "rect", "details", "summary", "button", "label", "input", "select", "option", "table", "caption", "thead", "tbody", "tr", "th", "code", "script"];

function user(i: number, over: Partial<PostureUser> = {}): PostureUser {
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    userPrincipalName: `u${i}@contoso.com`,
    displayName: `User ${i}`,
    userType: "Member",
    accountEnabled: true,
    isLicensed: true,
    perUserMfaState: "disabled",
    roleTemplateIds: [],
    groupIds: [],
    registration: { isMfaRegistered: true, isMfaCapable: true, methodsRegistered: ["microsoftAuthenticatorPush"] },
    lastSignInDateTime: "2025-01-01T00:00:00Z",
    ...over,
  };
}

const GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10";

function caPolicy(displayName: string): CaPolicy {
  return parseCaPolicies([
    { id: "p1", displayName, state: "enabled", conditions: { users: { includeUsers: ["All"] }, applications: { includeApplications: ["All"] } }, grantControls: { operator: "OR", builtInControls: ["mfa"] } },
  ])[0]!;
}

function completed(tenant: string, users: PostureUser[], facts: Partial<Parameters<typeof evaluateTenantPosture>[0]> = {}): TenantPostureResult {
  const posture = evaluateTenantPosture({ tenant, securityDefaultsEnabled: false, policies: [], ...facts }, users);
  return { status: "completed", unknown: [], counts: countsOf(posture), ...posture };
}

async function render(input: Partial<PostureHtmlInput> & Pick<PostureHtmlInput, "results">): Promise<{ html: string; chunks: string[] }> {
  const chunks: string[] = [];
  for await (const chunk of renderPostureHtml({ generatedAt: new Date("2025-01-02T03:04:05.000Z"), ...input })) chunks.push(chunk);
  return { html: chunks.join(""), chunks };
}

const dataOf = (html: string) => JSON.parse(/<script type="application\/json" id="posture-data">([\s\S]*?)<\/script>/.exec(html)![1]!) as { tenants: string[]; protections: string[]; findings: string[]; rows: PostureHtmlRow[] };

describe("jsonForScript", () => {
  it("leaves no <, >, & or line separator and parses back to the same value", () => {
    for (const s of HOSTILE_NAMES) {
      const json = jsonForScript({ s });
      expect(json).not.toMatch(/[<>&\u2028\u2029]/);
      expect(JSON.parse(json)).toEqual({ s });
    }
  });
});

describe("renderPostureHtml", () => {
  it("escapes every hostile value: markup only ever our own, the data JSON cannot close its script", async () => {
    const users = HOSTILE_NAMES.map((displayName, i) => user(i, { displayName, userType: i === 1 ? "<i>Guest</i>" : "Member", perUserMfaState: i % 3 === 0 ? "enforced" : "disabled", roleTemplateIds: i === 2 ? [GLOBAL_ADMIN] : [] }));
    const results: TenantPostureResult[] = [
      completed('<b>"evil" tenant</b>', users, { policies: [caPolicy("<script>alert('policy')</script>")] }),
      completed("plain.com", [user(100, { displayName: "=HYPERLINK(\"x\")" })], { securityDefaultsEnabled: undefined, securityDefaultsReason: "<svg onload=alert(4)>" }),
      { tenant: "<svg onload=alert(5)>", status: "failed", error: { code: "<code>", message: '<script>alert("denied")</script> & more' } },
    ];
    (results[1] as Extract<TenantPostureResult, { status: "completed" }>).unknown.push({ source: "registration", code: "LicenceRequired", reason: "needs <P1> & \"P2\"" });
    const { html } = await render({ results, title: '<script>alert("title")</script>', notes: ["--where-state <enabled>"] });

    // Two script elements: the JSON data (not executed) and ours; nothing loads from anywhere.
    expect(html.match(/<script/gi)).toHaveLength(2);
    expect(html.match(/<\/script>/gi)).toHaveLength(2);
    expect(html).toMatch(/<script type="application\/json" id="posture-data">\{/);
    expect(html).toMatch(/<script>\n\(function\(\)\{/);
    expect(html).not.toMatch(/<script[^>]*\ssrc/i);
    expect(html).not.toMatch(/<link|<iframe|<object|<embed|<img/i);
    // The data holds no < at all; our script's text (pinned by the CSP hash) is left out of the tag scan.
    const json = /<script type="application\/json" id="posture-data">([\s\S]*?)<\/script>/.exec(html)![1]!;
    expect(json).not.toMatch(/[<>&]/);
    const markup = html.replace(/<script>\n\(function\(\)\{[\s\S]*?<\/script>/, "<script></script>");
    const tags = [...markup.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9]*)([^>]*)>/g)];
    for (const tag of tags) expect(ALLOWED_TAGS).toContain(tag[1]!.toLowerCase());
    // Attribute values are quoted with " escaped inside, so only the names outside quotes count.
    for (const tag of tags) expect(tag[2]!.replace(/"[^"]*"/g, '""')).not.toMatch(/(^|\s)(src|srcset|href|xlink:href|action|formaction|style|on[a-z]+)\s*=/i);
    expect(html).not.toMatch(/url\(|@import/i);
    // Raw hostile strings never appear outside the data; escaped forms do in the markup.
    for (const name of HOSTILE_NAMES.filter((n) => /[<>&"']/.test(n))) expect(html).not.toContain(name);
    expect(html).toContain(escapeHtml('<b>"evil" tenant</b>'));
    expect(html).toContain("&lt;script&gt;alert(&quot;denied&quot;)&lt;/script&gt; &amp; more");
    expect(html).toContain("<title>&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;</title>");
    expect(html).toContain(escapeHtml("needs <P1> & \"P2\""));
    expect(html).toContain(escapeHtml("<svg onload=alert(4)>"));
    expect(html).toContain(escapeHtml("<script>alert('policy')</script>"));

    // The data parses back to exactly the original values.
    const data = dataOf(html);
    expect(data.tenants).toEqual(['<b>"evil" tenant</b>', "plain.com", "<svg onload=alert(5)>"]);
    expect(data.protections).toEqual([...PROTECTIONS]);
    expect(data.findings).toEqual([...FINDING_CODES]);
    expect(data.rows).toHaveLength(HOSTILE_NAMES.length + 1);
    data.rows.slice(0, HOSTILE_NAMES.length).forEach((r, i) => {
      expect(r[0]).toBe(0);
      expect(r[1]).toBe(`u${i}@contoso.com`);
      expect(r[2]).toBe(HOSTILE_NAMES[i]);
      expect(r[3]).toBe(i === 1 ? "<i>Guest</i>" : "Member");
      expect(r[10]).toBe("<script>alert('policy')</script>");
      expect(data.protections[r[12]]).toBe(i % 3 === 0 ? "per-user enforced" : "conditional access (all apps)");
    });
    expect(data.rows[HOSTILE_NAMES.length]![2]).toBe('=HYPERLINK("x")');
    expect(data.rows[HOSTILE_NAMES.length]![11]).toBe("unknown");
  });

  it("pins the inline style and script with a strict CSP and has no URL at all for ordinary data", async () => {
    const { html } = await render({ results: [completed("contoso.com", [user(1)])] });
    expect(html).not.toMatch(/https?:|\/\/[a-z]/i);
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const hash = (text: string) => createHash("sha256").update(text, "utf8").digest("base64");
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)![1]!;
    expect(csp.replace(/&#39;/g, "'")).toBe(`default-src 'none'; style-src 'sha256-${hash(style)}'; script-src 'sha256-${hash(script)}'; img-src 'none'; base-uri 'none'; form-action 'none'`);
    expect(csp.replace(/&#39;/g, "'")).toBe(POSTURE_CSP);
    expect(script).not.toContain("innerHTML");
    expect(script).not.toContain("eval(");
  });

  it("has summary cards with protection, findings and unknown counts, failures, two charts, findings and the table head", async () => {
    const results: TenantPostureResult[] = [
      completed("contoso.com", [user(1, { perUserMfaState: "enforced", registration: { isMfaRegistered: false, isMfaCapable: false, methodsRegistered: [] } }), user(2, { roleTemplateIds: [GLOBAL_ADMIN] }), user(3)]),
      completed("fabrikam.com", [user(4), user(5, { perUserMfaState: "enabled" })], { securityDefaultsEnabled: true }),
      { tenant: "denied.com", status: "failed", error: { code: "Authorization_RequestDenied", message: "Insufficient privileges.", httpStatus: 403 } },
    ];
    (results[0] as Extract<TenantPostureResult, { status: "completed" }>).unknown.push({ source: "signIns", code: "LicenceRequired", reason: "Sign-in activity needs Entra ID P1 or P2." });
    const { html } = await render({ results });
    const overall = /<article class="card" id="card-overall"[\s\S]*?<\/article>/.exec(html)![0];
    expect(overall).toContain('<span class="big">5</span> users in 3 tenants; <strong>1 failed</strong>');
    expect(overall).toContain("<dt>per-user enforced</dt><dd>1</dd>");
    expect(overall).toContain("<dt>per-user enabled</dt><dd>1</dd>");
    expect(overall).toContain("<dt>security defaults</dt><dd>1</dd>");
    expect(overall).toContain("<dt>none</dt><dd>2</dd>");
    expect(overall).toContain("<dt>adminWithoutMfa</dt><dd>1</dd>");
    expect(overall).toContain("<dt>userWithoutMfa</dt><dd>2</dd>");
    expect(overall).toContain("<dt>enforcedWithoutMethod</dt><dd>1</dd>");
    expect(overall).toContain("Something could not be read in 1 tenant of 2");
    expect(html).toMatch(/<article class="card failed tenant-card" aria-label="Tenant denied\.com"><h3>denied\.com<\/h3><p class="status">Failed<\/p><p>Authorization_RequestDenied \(HTTP 403\): Insufficient privileges\.<\/p>/);
    expect(html).toMatch(/aria-label="Tenant contoso\.com">[\s\S]*?<h4>Unknown<\/h4><ul><li><strong>signIns<\/strong> \(LicenceRequired\): Sign-in activity needs Entra ID P1 or P2\.<\/li>/);
    expect(html).toMatch(/aria-label="Tenant fabrikam\.com">[\s\S]*?Security defaults: on\./);

    // Charts: one bar per tenant reported plus all tenants, described in text for screen readers.
    const states = /<figure id="chart-states">[\s\S]*?<\/figure>/.exec(html)![0];
    expect(states.match(/<svg role="img"/g)).toHaveLength(3);
    expect(states).toContain('aria-label="All tenants: 3 disabled, 1 enabled, 1 enforced"');
    const protection = /<figure id="chart-protection">[\s\S]*?<\/figure>/.exec(html)![0];
    expect(protection).toContain('aria-label="fabrikam.com: 1 per-user enabled, 1 security defaults"');
    expect(protection).toMatch(/<rect class="p1" x="0\.000%" y="0" width="50\.000%" height="100%"><title>per-user enabled: 1<\/title><\/rect><rect class="p4" x="50\.000%"/);

    // Findings list their users by name and link to the table filter.
    expect(html).toMatch(/<details class="finding" data-code="adminWithoutMfa"><summary><strong>adminWithoutMfa<\/strong> \(1 user\):[^<]*<\/summary>\n<ul class="users"><li>User 2 &lt;u2@contoso\.com&gt;<\/li><\/ul><p><button type="button" data-finding="1" data-tenant="0">/);

    // The table head: the CSV's columns as sort buttons; rows come from the data.
    expect(html).toContain(`<thead><tr aria-rowindex="1">${POSTURE_HTML_COLUMNS.map((c) => `<th scope="col"><button type="button">${c}</button></th>`).join("")}</tr></thead>\n<tbody></tbody>`);
    expect(html).toContain('<table id="users" aria-rowcount="6">');
    const rows = dataOf(html).rows;
    expect(rows.map((r) => [r[1], r[4], r[6], r[7], r[8], r[9], r[11], r[13]])).toEqual([
      ["u1@contoso.com", "yes", "enforced", "no", "no", "none", "no", "2025-01-01T00:00:00Z"],
      ["u2@contoso.com", "yes", "disabled", "yes", "yes", "none", "no", "2025-01-01T00:00:00Z"],
      ["u3@contoso.com", "yes", "disabled", "yes", "no", "none", "no", "2025-01-01T00:00:00Z"],
      ["u4@fabrikam.com".replace("fabrikam", "contoso"), "yes", "disabled", "yes", "no", "none", "yes", "2025-01-01T00:00:00Z"],
      ["u5@contoso.com", "yes", "enabled", "yes", "no", "none", "yes", "2025-01-01T00:00:00Z"],
    ]);
    // Finding bits: u1 enforcedWithoutMethod, u2 adminWithoutMfa + userWithoutMfa, u5 perUserRedundant.
    const bit = (code: (typeof FINDING_CODES)[number]) => 1 << FINDING_CODES.indexOf(code);
    expect(rows.map((r) => r[14])).toEqual([bit("enforcedWithoutMethod"), bit("adminWithoutMfa") | bit("userWithoutMfa"), bit("userWithoutMfa"), 0, bit("perUserRedundant")]);
  });

  it("says never and unknown for sign-ins, and streams a large report in ~64 KB chunks", async () => {
    const users = Array.from({ length: 5000 }, (_, i) => user(i, { lastSignInDateTime: i === 0 ? null : i === 1 ? undefined : "2025-01-01T00:00:00Z" }));
    const { html, chunks } = await render({ results: [completed("contoso.com", users)] });
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks.slice(0, -1)) expect(c.length).toBeLessThan(80 * 1024);
    const rows = dataOf(html).rows;
    expect(rows).toHaveLength(5000);
    expect(rows[0]![13]).toBe("never");
    expect(rows[1]![13]).toBe("unknown");
    // The finding lists its first 100 users by name; the table has them all.
    expect(html).toContain("The first 100 of 5000 are listed.");
  });

  it("renders an empty report", async () => {
    const { html } = await render({ results: [] });
    expect(html).toContain('<span class="big">0</span> users in 0 tenants.');
    expect(html).toContain("<p>None.</p>");
    expect(dataOf(html).rows).toEqual([]);
    expect(html).toMatch(/<\/html>\n$/);
  });
});
