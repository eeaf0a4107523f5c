/**
 * `posture --output html`: one self-contained HTML file.
 *
 * Layout: summary cards (all tenants, then one per tenant: users, protection counts, findings
 * counts, what is unknown and why, failures), two charts as inline SVG (per-user MFA state and
 * effective protection, per tenant), the findings with their users, then the user table with the
 * columns of the CSV, sortable (header buttons), filterable (text, protection, tenant, finding).
 *
 * Large reports: the table is not markup. Its rows are embedded once as JSON in a
 * `<script type="application/json">` (every `<`, `>`, `&`, U+2028 and U+2029 written as a `\u`
 * escape, so no `</script>` or `<!--` can occur in it) and the page script renders only the rows in
 * view (a virtualised window with spacer rows), so sorting, filtering and scrolling stay fast with
 * tens of thousands of users. Cells are set with `textContent`, never as markup.
 *
 * Self-contained and safe, as `report --output html` (html-report.ts): inline CSS and one inline
 * script, no external asset of any kind, and a Content-Security-Policy that allows only that style
 * and that script by hash. Every value from the data shown as markup goes through
 * {@link escapeHtml}; no value is placed in the script, a URL or a style.
 *
 * Output comes in chunks of about 64 KB (the user data streams row by row): write each to the sink
 * as it comes, as the `posture` command does.
 */
import { createHash } from "node:crypto";
import { FINDING_CODES, PROTECTIONS, type FindingCode, type Protection, type TenantPostureResult, type UserPosture } from "@mfactl/core";
import { escapeHtml, Chunker } from "./html-report.js";

export interface PostureHtmlInput {
  title?: string | undefined;
  generatedAt: Date;
  results: readonly TenantPostureResult[];
  /** Lines describing the selection (filters), shown under the title. */
  notes?: readonly string[] | undefined;
  /** Users listed by name under each finding (the table has them all). Default 100. */
  maxListedPerFinding?: number | undefined;
}

/** Per-user states, in the order counted and charted. */
export const POSTURE_STATES = ["disabled", "enabled", "enforced", "unknown"] as const;

/** The table's columns, in the order of the CSV (docs/commands/posture.md). */
export const POSTURE_HTML_COLUMNS = [
  "tenant",
  "user",
  "display name",
  "type",
  "enabled",
  "licensed",
  "per-user state",
  "registered",
  "admin",
  "CA coverage",
  "CA policies",
  "security defaults",
  "protection",
  "last sign-in",
] as const;

/**
 * One table row as embedded: the cells of {@link POSTURE_HTML_COLUMNS} in order, except that the
 * tenant (cell 0) is an index into the data's `tenants` and the protection (cell 12) an index into
 * {@link PROTECTIONS}; then a bit mask of the user's findings (bit i: FINDING_CODES[i]).
 */
export type PostureHtmlRow = [number, string, string, string, string, string, string, string, string, string, string, string, number, string, number];

const yesNo = (v: boolean | undefined) => (v === undefined ? "unknown" : v ? "yes" : "no");

export function postureHtmlRow(u: UserPosture, tenantIndex: number, findingMask: number): PostureHtmlRow {
  return [
    tenantIndex,
    u.userPrincipalName,
    u.displayName ?? "",
    u.userType,
    yesNo(u.accountEnabled),
    yesNo(u.isLicensed),
    u.perUserMfaState,
    yesNo(u.registration?.isMfaRegistered),
    yesNo(u.isAdmin),
    u.caCoverage,
    u.caPolicies.map((p) => p.displayName).join("; "),
    yesNo(u.coveredBySecurityDefaults),
    Math.max(0, PROTECTIONS.indexOf(u.effectiveProtection)),
    u.lastSignInDateTime === undefined ? "unknown" : u.lastSignInDateTime === null ? "never" : u.lastSignInDateTime,
    findingMask,
  ];
}

/** JSON safe inside a `<script>` element: no `<`, `>` or `&` at all, nor the JS line separators. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

type Counts<K extends string> = Record<K, number>;
const zero = <K extends string>(keys: readonly K[]): Counts<K> => Object.fromEntries(keys.map((k) => [k, 0])) as Counts<K>;

interface TenantStats {
  users: number;
  enabledAccounts: number;
  admins: number;
  states: Counts<(typeof POSTURE_STATES)[number]>;
  protections: Counts<Protection>;
  findings: Counts<FindingCode>;
}

function statsOf(users: readonly UserPosture[], findings: { code: FindingCode; users: unknown[] }[]): TenantStats {
  const s: TenantStats = { users: users.length, enabledAccounts: users.filter((u) => u.accountEnabled).length, admins: users.filter((u) => u.isAdmin).length, states: zero(POSTURE_STATES), protections: zero(PROTECTIONS), findings: zero(FINDING_CODES) };
  for (const u of users) {
    const state = (POSTURE_STATES as readonly string[]).includes(u.perUserMfaState) ? u.perUserMfaState : "unknown";
    s.states[state]++;
    s.protections[(PROTECTIONS as readonly string[]).includes(u.effectiveProtection) ? u.effectiveProtection : "unknown"]++;
  }
  for (const f of findings) if (f.code in s.findings) s.findings[f.code] += f.users.length;
  return s;
}

function addStats(into: TenantStats, s: TenantStats): void {
  into.users += s.users;
  into.enabledAccounts += s.enabledAccounts;
  into.admins += s.admins;
  for (const k of POSTURE_STATES) into.states[k] += s.states[k];
  for (const k of PROTECTIONS) into.protections[k] += s.protections[k];
  for (const k of FINDING_CODES) into.findings[k] += s.findings[k];
}

/** The report as chunks of HTML text (see the module comment). */
export async function* renderPostureHtml(input: PostureHtmlInput): AsyncGenerator<string> {
  const results = input.results;
  const completed = results.filter((r): r is Extract<TenantPostureResult, { status: "completed" }> => r.status === "completed");
  const tenantNames = [...new Set(results.map((r) => r.tenant))];
  const tenantIndex = new Map(tenantNames.map((t, i) => [t, i]));
  const perTenant = new Map<string, TenantStats>();
  const overall = statsOf([], []);
  for (const r of completed) {
    const s = statsOf(r.users, r.findings);
    perTenant.set(r.tenant, s);
    addStats(overall, s);
  }

  const out = new Chunker();
  out.push(renderHead(input));
  out.push(renderSummary(results, perTenant, overall));
  out.push(renderCharts(tenantNames, perTenant, overall));
  out.push(renderFindings(completed, tenantIndex, input.maxListedPerFinding ?? 100));
  out.push(renderTableStart(tenantNames, overall.users));
  yield* out.drain();

  out.push(`<script type="application/json" id="posture-data">{"tenants":${jsonForScript(tenantNames)},"protections":${jsonForScript(PROTECTIONS)},"findings":${jsonForScript(FINDING_CODES)},"rows":[`);
  let first = true;
  for (const r of completed) {
    const masks = new Map<string, number>();
    for (const f of r.findings) {
      const bit = 1 << FINDING_CODES.indexOf(f.code);
      for (const u of f.users) masks.set(u.id, (masks.get(u.id) ?? 0) | bit);
    }
    const t = tenantIndex.get(r.tenant)!;
    for (const u of r.users) {
      out.push(`${first ? "" : ","}\n${jsonForScript(postureHtmlRow(u, t, masks.get(u.id) ?? 0))}`);
      first = false;
      yield* out.drain();
    }
  }
  out.push(`\n]}</script>\n`);
  out.push(`</main>\n<script>${SCRIPT}</script>\n</body>\n</html>\n`);
  yield* out.drain(true);
}


// ---------------------------------------------------------------------------------------------
// Markup. Static text below is ours; everything from data goes through escapeHtml.

/** Class of each protection's colour (p0..p6) and state's (s0..s3). */
const protectionClass = (p: Protection) => `p${PROTECTIONS.indexOf(p)}`;
const stateClass = (s: (typeof POSTURE_STATES)[number]) => `s${POSTURE_STATES.indexOf(s)}`;

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fff;--muted:#555;--line:#c8c8c8;--head:#f3f3f3;--card:#fafafa;
--fail-bg:#fde2e1;--fail-fg:#8a1c1c;--focus:#b7791f;
--p0:#1f7a46;--p1:#52a86b;--p2:#2b6cb0;--p3:#8db4e2;--p4:#7a5ab8;--p5:#c53030;--p6:#8a8a8a;
--s0:#a0aec0;--s1:#d69e2e;--s2:#2f855a;--s3:#6b6b6b}
@media (prefers-color-scheme:dark){:root{--fg:#e8e8e8;--bg:#161616;--muted:#b0b0b0;--line:#444;--head:#242424;--card:#1e1e1e;
--fail-bg:#4a1717;--fail-fg:#ffb3ad;--focus:#d69e2e;
--p0:#48bb78;--p1:#9ae6b4;--p2:#63b3ed;--p3:#bee3f8;--p4:#b794f4;--p5:#fc8181;--p6:#a0a0a0;
--s0:#718096;--s1:#ecc94b;--s2:#68d391;--s3:#a0a0a0}}
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0;padding:1rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main,header{max-width:90rem;margin:0 auto}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .5rem}h3{font-size:1.05rem;margin:1rem 0 .4rem}
p{margin:.25rem 0 .75rem}.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(19rem,1fr));gap:.75rem}
.card{border:1px solid var(--line);border-radius:.4rem;padding:.6rem .8rem;background:var(--card);overflow-wrap:anywhere}
.card h3{margin:0 0 .3rem}.card.failed{background:var(--fail-bg)}.card.failed .status{color:var(--fail-fg);font-weight:600}
.card dl{display:grid;grid-template-columns:1fr auto;gap:0 .75rem;margin:.3rem 0}
.card dt{font-weight:400}.card dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
.card dd.zero,.card dt.zero{color:var(--muted)}
.big{font-size:1.6rem;font-weight:600}
.card ul{margin:.2rem 0;padding-left:1.1rem}
figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.4rem}
.chart{display:grid;grid-template-columns:minmax(8rem,16rem) 1fr;gap:.3rem .75rem;align-items:center}
.chart .label{overflow-wrap:anywhere;font-size:.9em}
.chart svg{display:block;width:100%;height:1.4rem}
.legend{display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;padding:0;margin:.5rem 0;list-style:none;font-size:.9em}
.legend li{display:flex;gap:.35rem;align-items:center}.legend svg{width:1rem;height:1rem}
.p0{fill:var(--p0)}.p1{fill:var(--p1)}.p2{fill:var(--p2)}.p3{fill:var(--p3)}.p4{fill:var(--p4)}.p5{fill:var(--p5)}.p6{fill:var(--p6)}
.s0{fill:var(--s0)}.s1{fill:var(--s1)}.s2{fill:var(--s2)}.s3{fill:var(--s3)}
rect.empty{fill:none;stroke:var(--line)}
details{border-bottom:1px solid var(--line);padding:.3rem 0}summary{cursor:pointer}
ul.users{columns:22rem;padding-left:1.2rem;margin:.4rem 0}ul.users li{overflow-wrap:anywhere;break-inside:avoid}
button{font:inherit}
.controls{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin:.5rem 0}
.controls label{display:flex;flex-direction:column;font-size:.9em}
.controls input,.controls select{font:inherit;padding:.25rem .4rem;min-width:12rem;max-width:24rem}
#users-wrap{height:70vh;overflow:auto;border:1px solid var(--line);margin:.5rem 0 1rem}
#users-wrap:focus{outline:2px solid var(--focus);outline-offset:2px}
#users{border-collapse:collapse;width:max-content;min-width:100%;font-variant-numeric:tabular-nums}
#users th,#users td{padding:0 .5rem;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;height:1.9rem;
max-width:22rem;overflow:hidden;text-overflow:ellipsis}
#users thead th{background:var(--head);position:sticky;top:0;z-index:1}
#users caption{text-align:left;padding:.3rem .5rem;caption-side:top}
#users tr.spacer td{padding:0;border:0;height:0}
#users tr.prot-5{box-shadow:inset 4px 0 var(--p5)}#users tr.prot-6{box-shadow:inset 4px 0 var(--p6)}
th button{font-weight:600;background:none;border:0;padding:0;color:inherit;cursor:pointer;white-space:nowrap}
th button:focus-visible{outline:2px solid var(--focus)}
th[aria-sort=ascending] button::after{content:" \\25B2";content:" \\25B2"/""}th[aria-sort=descending] button::after{content:" \\25BC";content:" \\25BC"/""}
@media print{.controls{display:none}#users-wrap{height:auto;overflow:visible}}
`;

// The user table: reads the JSON data element, renders the visible window. Data never enters this
// script's text, and reaches the page only through textContent.
const SCRIPT = `
(function(){
"use strict";
var dataEl=document.getElementById("posture-data"),table=document.getElementById("users");
if(!dataEl||!table)return;
var data=JSON.parse(dataEl.textContent),rows=data.rows,N=rows.length,COLS=14;
var wrap=document.getElementById("users-wrap"),body=table.tBodies[0],text=document.getElementById("users-filter"),
prot=document.getElementById("users-protection"),tenant=document.getElementById("users-tenant"),
finding=document.getElementById("users-finding"),status=document.getElementById("users-status");
document.getElementById("users-controls").hidden=false;
document.getElementById("users-noscript").hidden=true;
function cell(r,c){return c===0?data.tenants[r[0]]:c===12?data.protections[r[12]]:r[c];}
var hay=new Array(N);
for(var i=0;i<N;i++){var r=rows[i],h=[];for(var c=0;c<COLS;c++)h.push(cell(r,c));hay[i]=h.join("\\u0001").toLowerCase();}
var order=new Array(N);for(i=0;i<N;i++)order[i]=i;
var shown=order,rowH=0,first=-1,last=-1,pending=0;
var collator=new Intl.Collator(undefined,{numeric:true,sensitivity:"base"});
var heads=table.tHead.rows[0].cells;
Array.prototype.forEach.call(heads,function(th,col){
  var button=th.querySelector("button");
  th.setAttribute("aria-sort","none");
  button.addEventListener("click",function(){
    var dir=th.getAttribute("aria-sort")==="ascending"?"descending":"ascending";
    Array.prototype.forEach.call(heads,function(h){h.setAttribute("aria-sort","none");});
    th.setAttribute("aria-sort",dir);
    var keys=new Array(N);for(var i=0;i<N;i++)keys[i]=String(cell(rows[i],col));
    var sign=dir==="ascending"?1:-1;
    order=new Array(N);for(i=0;i<N;i++)order[i]=i;
    order.sort(function(a,b){return sign*collator.compare(keys[a],keys[b])||a-b;});
    apply();
  });
});
function apply(){
  var q=text.value.trim().toLowerCase(),p=prot.value,t=tenant.value,f=finding.value;
  var pi=p===""?-1:+p,ti=t===""?-1:+t,fm=f===""?0:(1<<+f);
  if(q===""&&pi<0&&ti<0&&!fm)shown=order;
  else{shown=[];for(var k=0;k<N;k++){var i=order[k],r=rows[i];
    if(pi>=0&&r[12]!==pi)continue;if(ti>=0&&r[0]!==ti)continue;if(fm&&!(r[14]&fm))continue;
    if(q!==""&&hay[i].indexOf(q)<0)continue;shown.push(i);}}
  status.textContent="Showing "+shown.length.toLocaleString("en")+" of "+N.toLocaleString("en")+" users.";
  table.setAttribute("aria-rowcount",String(shown.length+1));
  first=-1;last=-1;paint();
}
function spacer(){var tr=document.createElement("tr");tr.className="spacer";tr.setAttribute("aria-hidden","true");
  var td=document.createElement("td");td.colSpan=COLS;tr.appendChild(td);return tr;}
var top=spacer(),bottom=spacer();
function rowEl(i,pos){
  var r=rows[i],tr=document.createElement("tr");tr.className="prot-"+r[12];tr.setAttribute("aria-rowindex",String(pos+2));
  for(var c=0;c<COLS;c++){var td=document.createElement(c===1?"th":"td");if(c===1)td.scope="row";
    var v=cell(r,c);td.textContent=v;if(v.length>24)td.title=v;tr.appendChild(td);}
  return tr;
}
function paint(){
  pending=0;
  if(!rowH){body.textContent="";if(shown.length){var probe=rowEl(shown[0],0);body.appendChild(probe);rowH=probe.getBoundingClientRect().height||30;}else rowH=30;}
  var view=wrap.clientHeight||600,scroll=Math.max(0,wrap.scrollTop-table.tHead.offsetHeight-(table.caption?table.caption.offsetHeight:0));
  var a=Math.max(0,Math.floor(scroll/rowH)-10),b=Math.min(shown.length,Math.ceil((scroll+view)/rowH)+10);
  if(a===first&&b===last)return;first=a;last=b;
  var frag=document.createDocumentFragment();
  top.firstChild.style.height=(a*rowH)+"px";frag.appendChild(top);
  for(var k=a;k<b;k++)frag.appendChild(rowEl(shown[k],k));
  bottom.firstChild.style.height=((shown.length-b)*rowH)+"px";frag.appendChild(bottom);
  body.textContent="";body.appendChild(frag);
}
wrap.addEventListener("scroll",function(){if(!pending)pending=requestAnimationFrame(paint);});
window.addEventListener("resize",function(){first=-1;if(!pending)pending=requestAnimationFrame(paint);});
text.addEventListener("input",apply);prot.addEventListener("change",apply);tenant.addEventListener("change",apply);finding.addEventListener("change",apply);
Array.prototype.forEach.call(document.querySelectorAll("button[data-finding]"),function(b){
  b.addEventListener("click",function(){finding.value=b.getAttribute("data-finding");tenant.value=b.getAttribute("data-tenant");
    text.value="";prot.value="";wrap.scrollTop=0;apply();document.getElementById("users-h").scrollIntoView();});
});
apply();
})();
`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
export const POSTURE_CSP = `default-src 'none'; style-src ${sha256(STYLE)}; script-src ${sha256(SCRIPT)}; img-src 'none'; base-uri 'none'; form-action 'none'`;

function renderHead(input: PostureHtmlInput): string {
  const title = escapeHtml(input.title ?? "MFA posture report");
  const when = Number.isNaN(input.generatedAt.getTime()) ? "" : input.generatedAt.toISOString();
  const notes = (input.notes ?? []).map((n) => `<p class="muted">${escapeHtml(n)}</p>`).join("");
  return (
    `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(POSTURE_CSP)}">\n` +
    `<meta name="referrer" content="no-referrer">\n<meta name="generator" content="mfactl">\n` +
    `<title>${title}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n` +
    `<header>\n<h1>${title}</h1>\n<p class="muted">Generated <time datetime="${escapeHtml(when)}">${escapeHtml(when.replace("T", " ").replace(/\.\d+Z$/, " UTC"))}</time> by mfactl.</p>${notes}\n</header>\n<main>\n`
  );
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function countList<K extends string>(keys: readonly K[], counts: Counts<K>, label: (k: K) => string = (k) => k): string {
  return `<dl>${keys.map((k) => `<dt${counts[k] ? "" : ` class="zero"`}>${escapeHtml(label(k))}</dt><dd${counts[k] ? "" : ` class="zero"`}>${counts[k]}</dd>`).join("")}</dl>`;
}

function policyNames(list: readonly { displayName: string }[], max = 10): string {
  const shown = list.slice(0, max).map((p) => escapeHtml(p.displayName)).join(", ");
  return list.length > max ? `${shown}, and ${list.length - max} more` : shown;
}

function renderSummary(results: readonly TenantPostureResult[], perTenant: Map<string, TenantStats>, overall: TenantStats): string {
  const failed = results.filter((r) => r.status === "failed");
  const completed = results.length - failed.length;
  const parts: string[] = [`<section aria-labelledby="summary-h">\n<h2 id="summary-h">Summary</h2>\n<div class="cards">\n`];
  const unknownTenants = results.filter((r) => r.status === "completed" && r.unknown.length > 0).length;
  parts.push(
    `<article class="card" id="card-overall" aria-labelledby="card-overall-h"><h3 id="card-overall-h">All tenants</h3>` +
      `<p><span class="big">${overall.users}</span> users in ${plural(results.length, "tenant")}` +
      `${failed.length ? `; <strong>${failed.length} failed</strong>` : ""}.</p><p>${overall.enabledAccounts} enabled accounts, ${plural(overall.admins, "administrator")}.</p>` +
      `<h4>Effective protection</h4>${countList(PROTECTIONS, overall.protections)}` +
      `<h4>Findings (users concerned)</h4>${countList(FINDING_CODES, overall.findings)}` +
      `<p>${unknownTenants ? `Something could not be read in ${plural(unknownTenants, "tenant")} of ${completed}: see the tenant cards.` : completed ? "Every source was read in every tenant reported." : "No tenant was reported."}</p>` +
      `</article>\n`,
  );
  for (const r of results) {
    const name = escapeHtml(r.tenant);
    if (r.status === "failed") {
      parts.push(
        `<article class="card failed tenant-card" aria-label="Tenant ${name}"><h3>${name}</h3><p class="status">Failed</p>` +
          `<p>${escapeHtml(r.error.code)}${r.error.httpStatus ? ` (HTTP ${escapeHtml(r.error.httpStatus)})` : ""}: ${escapeHtml(r.error.message)}</p></article>\n`,
      );
      continue;
    }
    const s = perTenant.get(r.tenant)!;
    const sd = r.securityDefaults.enabled === undefined ? `unknown (${escapeHtml(r.securityDefaults.reason ?? "could not be read")})` : r.securityDefaults.enabled ? "on" : "off";
    const ca = r.conditionalAccess;
    const caText = ca.readable
      ? `${plural(ca.mfaPolicies.length, "policy", "policies")} requiring MFA${ca.mfaPolicies.length ? ` (${policyNames(ca.mfaPolicies)})` : ""}` +
        `${ca.reportOnlyMfaPolicies.length ? `; report-only, not counted: ${policyNames(ca.reportOnlyMfaPolicies)}` : ""}` +
        `${ca.mfaNotGuaranteed.length ? `; MFA not guaranteed: ${policyNames(ca.mfaNotGuaranteed)}` : ""}`
      : `unknown (${escapeHtml(ca.reason ?? "not readable")})`;
    const unknown = r.unknown.length
      ? `<h4>Unknown</h4><ul>${r.unknown.map((u) => `<li><strong>${escapeHtml(u.source)}</strong> (${escapeHtml(u.code)}): ${escapeHtml(u.reason)}</li>`).join("")}</ul>`
      : `<p class="muted">Every source was read.</p>`;
    parts.push(
      `<article class="card tenant-card" aria-label="Tenant ${name}"><h3>${name}</h3>` +
        `<p><span class="big">${s.users}</span> users: ${s.enabledAccounts} enabled accounts, ${plural(s.admins, "administrator")}. Security defaults: ${sd}. Conditional Access: ${caText}.</p>` +
        `<h4>Effective protection</h4>${countList(PROTECTIONS, s.protections)}` +
        `<h4>Findings (users concerned)</h4>${countList(FINDING_CODES, s.findings)}${unknown}</article>\n`,
    );
  }
  parts.push(`</div>\n</section>\n`);
  return parts.join("");
}

/** A stacked bar: one rect per non-zero segment, widths in percent of the bar. */
function bar<K extends string>(label: string, keys: readonly K[], counts: Counts<K>, cls: (k: K) => string): string {
  const total = keys.reduce((n, k) => n + counts[k], 0);
  const described = keys.filter((k) => counts[k] > 0).map((k) => `${counts[k]} ${k}`).join(", ") || "no users";
  let x = 0;
  let rects = "";
  for (const k of keys) {
    if (!counts[k] || !total) continue;
    const w = (counts[k] / total) * 100;
    rects += `<rect class="${cls(k)}" x="${x.toFixed(3)}%" y="0" width="${w.toFixed(3)}%" height="100%"><title>${escapeHtml(`${k}: ${counts[k]}`)}</title></rect>`;
    x += w;
  }
  if (!rects) rects = `<rect class="empty" x="0" y="0" width="100%" height="100%"></rect>`;
  return `<div class="label">${escapeHtml(label)}</div><svg role="img" aria-label="${escapeHtml(`${label}: ${described}`)}">${rects}</svg>\n`;
}

function chartLegend<K extends string>(keys: readonly K[], cls: (k: K) => string): string {
  return `<ul class="legend">${keys.map((k) => `<li><svg aria-hidden="true"><rect class="${cls(k)}" width="100%" height="100%"></rect></svg>${escapeHtml(k)}</li>`).join("")}</ul>\n`;
}

function renderCharts(tenantNames: readonly string[], perTenant: Map<string, TenantStats>, overall: TenantStats): string {
  const rows = (pick: (s: TenantStats) => string) => [pick(overall), ...tenantNames.filter((t) => perTenant.has(t)).map((t) => pick(perTenant.get(t)!))].join("");
  const names = ["All tenants", ...tenantNames.filter((t) => perTenant.has(t))];
  let i = 0;
  const states = rows((s) => bar(names[i++]!, POSTURE_STATES, s.states, stateClass));
  i = 0;
  const protections = rows((s) => bar(names[i++]!, PROTECTIONS, s.protections, protectionClass));
  return (
    `<section aria-labelledby="charts-h">\n<h2 id="charts-h">Charts</h2>\n` +
    `<figure id="chart-states"><figcaption>Per-user MFA state, per tenant</figcaption>${chartLegend(POSTURE_STATES, stateClass)}<div class="chart">\n${states}</div></figure>\n` +
    `<figure id="chart-protection"><figcaption>Effective protection, per tenant</figcaption>${chartLegend(PROTECTIONS, protectionClass)}<div class="chart">\n${protections}</div></figure>\n` +
    `</section>\n`
  );
}

function renderFindings(completed: readonly Extract<TenantPostureResult, { status: "completed" }>[], tenantIndex: ReadonlyMap<string, number>, maxListed: number): string {
  const parts: string[] = [`<section aria-labelledby="findings-h">\n<h2 id="findings-h">Findings</h2>\n`];
  const any = completed.some((r) => r.findings.length > 0);
  if (!any) parts.push(`<p>None.</p>\n`);
  for (const r of completed) {
    if (!r.findings.length) continue;
    const names = new Map(r.users.map((u) => [u.id, u.displayName]));
    parts.push(`<h3>${escapeHtml(r.tenant)}</h3>\n`);
    for (const f of r.findings) {
      const listed = f.users.slice(0, maxListed).map((u) => {
        const dn = names.get(u.id);
        return `<li>${dn ? `${escapeHtml(dn)} ` : ""}&lt;${escapeHtml(u.userPrincipalName)}&gt;</li>`;
      });
      parts.push(
        `<details class="finding" data-code="${escapeHtml(f.code)}"><summary><strong>${escapeHtml(f.code)}</strong> (${plural(f.users.length, "user")}): ${escapeHtml(f.message)}</summary>\n` +
          `<ul class="users">${listed.join("")}</ul>` +
          `${f.users.length > maxListed ? `<p class="muted">The first ${maxListed} of ${f.users.length} are listed.</p>` : ""}` +
          `<p><button type="button" data-finding="${FINDING_CODES.indexOf(f.code)}" data-tenant="${tenantIndex.get(r.tenant) ?? ""}">Show all ${f.users.length} in the table</button></p></details>\n`,
      );
    }
  }
  parts.push(`</section>\n`);
  return parts.join("");
}

function renderTableStart(tenantNames: readonly string[], total: number): string {
  const option = (value: string | number, label: string) => `<option value="${escapeHtml(value)}">${escapeHtml(label)}</option>`;
  return (
    `<section aria-labelledby="users-h">\n<h2 id="users-h">Users (${total})</h2>\n` +
    `<p id="users-noscript">The user table needs the page's script; the same rows are in <code>mfactl posture --output csv</code>.</p>\n` +
    `<div class="controls" id="users-controls" hidden>` +
    `<label for="users-filter">Filter<input id="users-filter" type="search" autocomplete="off" placeholder="name, UPN, tenant, policy..."></label>` +
    `<label for="users-protection">Protection<select id="users-protection">${option("", "all")}${PROTECTIONS.map((p, i) => option(i, p)).join("")}</select></label>` +
    `<label for="users-tenant">Tenant<select id="users-tenant">${option("", "all")}${tenantNames.map((t, i) => option(i, t)).join("")}</select></label>` +
    `<label for="users-finding">Finding<select id="users-finding">${option("", "any or none")}${FINDING_CODES.map((f, i) => option(i, f)).join("")}</select></label>` +
    `<span id="users-status" role="status" aria-live="polite"></span></div>\n` +
    `<div id="users-wrap" role="region" aria-labelledby="users-caption" tabindex="0">\n<table id="users" aria-rowcount="${total + 1}">\n` +
    `<caption id="users-caption" class="muted">Every user reported; only the rows in view are drawn. Rows with no protection or an unknown one have a bar at the left.</caption>\n` +
    `<thead><tr aria-rowindex="1">${POSTURE_HTML_COLUMNS.map((c) => `<th scope="col"><button type="button">${escapeHtml(c)}</button></th>`).join("")}</tr></thead>\n<tbody></tbody>\n</table>\n</div>\n</section>\n`
  );
}

