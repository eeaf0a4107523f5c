/**
 * `report --output html`: one self-contained HTML file.
 *
 * Layout: a summary first (users per state overall and per tenant, the users with per-user MFA
 * enforced and enabled by name, the tenants that failed and why), then every user in one table
 * with enabled and enforced rows highlighted (a class, a shade and a text badge, explained in a
 * legend, so colour is never the only cue).
 *
 * Self-contained and safe: inline CSS and one small inline script (sorting and filtering the user
 * table; the page works without it), no external asset of any kind, and a Content-Security-Policy
 * that allows only that style and that script by hash: should a value ever slip through unescaped,
 * the browser still runs nothing and fetches nothing. Every value from the data goes through
 * {@link escapeHtml}; no value is ever placed in the script, a URL or a style.
 *
 * Memory: the summary comes before the table but rows stream, so rows are read twice. The first
 * pass counts them and spools them to a temporary JSON Lines file (mode 0600, deleted at the end,
 * also when the consumer stops early); the second streams the spool into the table. The summary
 * lists of enabled and enforced users keep at most `maxListedUsers` names each (the table has them
 * all). An array given as `rows` is read twice directly, without a spool. Output comes in chunks of
 * about 64 KB: pipe it with `pipeline(Readable.from(renderHtmlReport(...)), out)` or
 * {@link writeHtmlReport}.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { once } from "node:events";
import { REPORT_COLUMNS, type ReportRow, type TenantOutcome } from "@mfactl/core";
import type { TextSink } from "./csv.js";

export interface HtmlReportInput {
  title: string;
  generatedAt: Date;
  rows: AsyncIterable<ReportRow> | Iterable<ReportRow>;
  /**
   * How each tenant ended. Read after the last row, so a caller may push outcomes into this array
   * while the rows stream (as `reportUsers` yields them between users).
   */
  tenants: TenantOutcome[];
  /** Lines describing the selection (filters), shown under the title. */
  notes?: readonly string[] | undefined;
  /** Names listed per state in the summary (enforced, enabled). Default 5,000. */
  maxListedUsers?: number | undefined;
  /** Where the spool file goes. Default: the OS temp directory. */
  tempDir?: string | undefined;
}

/** The states counted, in the order shown. */
export const REPORT_STATES = ["disabled", "enabled", "enforced", "unknown"] as const;
export type ReportState = (typeof REPORT_STATES)[number];

export type StateCounts = Record<ReportState | "total", number>;

export interface ReportSummary {
  overall: StateCounts;
  /** Per tenant, in order of first appearance. */
  perTenant: Map<string, StateCounts>;
  /** Up to `maxListedUsers` users each, in report order. */
  listed: Record<"enforced" | "enabled", Pick<ReportRow, "tenant" | "userPrincipalName" | "displayName">[]>;
}

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text safe in element content and in quoted attributes; characters HTML forbids become U+FFFD. */
export function escapeHtml(value: unknown): string {
  const text = value === undefined || value === null ? "" : String(value);
  return (
    text
      .replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000B\u000E-\u001F\u007F\uFFFE\uFFFF]/g, "\uFFFD")
  );
}

/** The state a row counts under: anything unexpected counts as unknown. */
export function stateOf(row: Pick<ReportRow, "perUserMfaState">): ReportState {
  const state = row.perUserMfaState as string;
  return (REPORT_STATES as readonly string[]).includes(state) ? (state as ReportState) : "unknown";
}

function emptyCounts(): StateCounts {
  return { disabled: 0, enabled: 0, enforced: 0, unknown: 0, total: 0 };
}

/** Count rows per state overall and per tenant, and collect the enabled and enforced users (capped). */
export function createSummary(): { add(row: ReportRow, maxListed: number): void; result: ReportSummary } {
  const result: ReportSummary = { overall: emptyCounts(), perTenant: new Map(), listed: { enforced: [], enabled: [] } };
  return {
    result,
    add(row, maxListed) {
      const state = stateOf(row);
      let tenant = result.perTenant.get(row.tenant);
      if (!tenant) result.perTenant.set(row.tenant, (tenant = emptyCounts()));
      tenant[state]++;
      tenant.total++;
      result.overall[state]++;
      result.overall.total++;
      if ((state === "enabled" || state === "enforced") && result.listed[state].length < maxListed) {
        result.listed[state].push({ tenant: row.tenant, userPrincipalName: row.userPrincipalName, displayName: row.displayName });
      }
    },
  };
}

/** The report as chunks of HTML text (see the module comment). */
export async function* renderHtmlReport(input: HtmlReportInput): AsyncGenerator<string> {
  const maxListed = input.maxListedUsers ?? 5000;
  const summary = createSummary();
  let spool: Spool | undefined;
  try {
    let replay: () => AsyncIterable<ReportRow> | Iterable<ReportRow>;
    if (Array.isArray(input.rows)) {
      const rows = input.rows as readonly ReportRow[];
      for (const row of rows) summary.add(row, maxListed);
      replay = () => rows;
    } else {
      spool = await Spool.create(input.tempDir);
      for await (const row of input.rows) {
        summary.add(row, maxListed);
        await spool.write(row);
      }
      await spool.finish();
      replay = () => spool!.read();
    }

    const out = new Chunker();
    out.push(renderHead(input));
    out.push(renderSummary(input, summary.result, maxListed));
    out.push(renderTableStart(summary.result.overall.total));
    yield* out.drain();
    for await (const row of replay()) {
      out.push(renderRow(row));
      yield* out.drain();
    }
    out.push(renderTableEnd());
    yield* out.drain(true);
  } finally {
    await spool?.dispose();
  }
}

/** Render the report into `out` (a Writable, or a sink whose `write` may return a promise), with backpressure. `out` is not closed. */
export async function writeHtmlReport(out: TextSink, input: HtmlReportInput): Promise<void> {
  if (out instanceof Writable) {
    await pipeline(Readable.from(renderHtmlReport(input)), out, { end: false });
    return;
  }
  for await (const chunk of renderHtmlReport(input)) await out.write(chunk);
}

// ---------------------------------------------------------------------------------------------
// Spool: rows to a temp file and back.

class Spool {
  private readonly out;
  private constructor(
    private readonly dir: string,
    private readonly path: string,
  ) {
    this.out = createWriteStream(path, { mode: 0o600 });
  }

  static async create(tempDir: string | undefined): Promise<Spool> {
    const dir = await mkdtemp(join(tempDir ?? tmpdir(), "mfactl-report-"));
    return new Spool(dir, join(dir, "rows.jsonl"));
  }

  async write(row: ReportRow): Promise<void> {
    if (!this.out.write(JSON.stringify(row) + "\n")) await once(this.out, "drain");
  }

  async finish(): Promise<void> {
    this.out.end();
    await once(this.out, "finish");
  }

  async *read(): AsyncGenerator<ReportRow> {
    const input = createReadStream(this.path, { encoding: "utf8" });
    const lines = createInterface({ input, crlfDelay: Infinity });
    try {
      for await (const line of lines) if (line) yield JSON.parse(line) as ReportRow;
    } finally {
      lines.close();
      input.destroy();
    }
  }

  async dispose(): Promise<void> {
    this.out.destroy();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Collects small strings and hands them out in ~64 KB chunks. */
export class Chunker {
  private parts: string[] = [];
  private size = 0;
  push(text: string): void {
    this.parts.push(text);
    this.size += text.length;
  }
  *drain(force = false): Generator<string> {
    if (this.size === 0 || (!force && this.size < 64 * 1024)) return;
    const chunk = this.parts.join("");
    this.parts = [];
    this.size = 0;
    yield chunk;
  }
}

// ---------------------------------------------------------------------------------------------
// Markup. Static text below is ours; everything from data goes through escapeHtml.

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fff;--muted:#555;--line:#c8c8c8;--head:#f3f3f3;
--en-bg:#fff1c2;--en-fg:#6b4500;--en-edge:#b7791f;--ef-bg:#dcf3e4;--ef-fg:#0b5a2a;--ef-edge:#2f855a;
--fail-bg:#fde2e1;--fail-fg:#8a1c1c;--unk-fg:#4a4a4a}
@media (prefers-color-scheme:dark){:root{--fg:#e8e8e8;--bg:#161616;--muted:#b0b0b0;--line:#444;--head:#242424;
--en-bg:#3d3000;--en-fg:#ffd971;--en-edge:#d69e2e;--ef-bg:#0f3320;--ef-fg:#8ee6ad;--ef-edge:#48bb78;
--fail-bg:#4a1717;--fail-fg:#ffb3ad;--unk-fg:#c8c8c8}}
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0;padding:1rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main,header{max-width:80rem;margin:0 auto}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .5rem}h3{font-size:1.05rem;margin:1.25rem 0 .5rem}
p{margin:.25rem 0 .75rem}.muted{color:var(--muted)}
.table-wrap{overflow:auto;max-width:100%;border:1px solid var(--line);margin:.5rem 0 1rem}
.table-wrap:focus{outline:2px solid var(--en-edge);outline-offset:2px}
#users-wrap{max-height:80vh}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
#overall{width:auto;min-width:min(100%,24rem)}#overall-wrap{display:inline-block;min-width:min(100%,24rem)}
caption{text-align:left;font-weight:600;padding:.5rem .6rem;caption-side:top}
th,td{padding:.35rem .6rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{background:var(--head);position:sticky;top:0;z-index:1;white-space:nowrap}
td.num,th.num{text-align:right}
#users td,#users th{white-space:nowrap}
#users td.name{white-space:normal;min-width:10rem;max-width:22rem;overflow-wrap:anywhere}
#failed td{min-width:10rem}
tr.state-enabled{background:var(--en-bg);box-shadow:inset 4px 0 var(--en-edge)}
tr.state-enforced{background:var(--ef-bg);box-shadow:inset 4px 0 var(--ef-edge)}
tr.tenant-failed{background:var(--fail-bg)}
.badge{display:inline-block;padding:0 .45em;border-radius:.3em;border:1px solid currentColor;font-size:.85em;font-weight:600;white-space:nowrap}
.badge-enabled{color:var(--en-fg)}.badge-enforced{color:var(--ef-fg)}
.badge-disabled{border-style:dashed;font-weight:400}.badge-unknown{color:var(--unk-fg);border-style:dotted}
.badge-failed{color:var(--fail-fg)}.badge-completed{font-weight:400}
.legend{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;padding:0;margin:.5rem 0;list-style:none}
.legend li{display:flex;gap:.4rem;align-items:center}
.swatch{display:inline-block;width:1.2rem;height:1.2rem;border:1px solid var(--line)}
.swatch.state-enabled{background:var(--en-bg);box-shadow:inset 4px 0 var(--en-edge)}
.swatch.state-enforced{background:var(--ef-bg);box-shadow:inset 4px 0 var(--ef-edge)}
ul.users{columns:20rem;padding-left:1.2rem}ul.users li{overflow-wrap:anywhere;break-inside:avoid}
.controls{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:end;margin:.5rem 0}
.controls label{display:flex;flex-direction:column;font-size:.9em}
.controls input,.controls select{font:inherit;padding:.25rem .4rem;min-width:12rem}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;color:inherit;cursor:pointer}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
@media print{.controls{display:none}#users-wrap{max-height:none;overflow:visible}thead th{position:static}}
`;

// Sorting and filtering of #users; data never enters this script (it reads the DOM).
const SCRIPT = `
(function(){
var table=document.getElementById("users");if(!table)return;
var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
var controls=document.getElementById("users-controls"),text=document.getElementById("users-filter"),
state=document.getElementById("users-state"),status=document.getElementById("users-status");
controls.hidden=false;
var collator=new Intl.Collator(undefined,{numeric:true,sensitivity:"base"});
var heads=table.tHead.rows[0].cells;
Array.prototype.forEach.call(heads,function(th,col){
  var button=document.createElement("button");button.type="button";button.textContent=th.textContent;
  th.textContent="";th.appendChild(button);th.setAttribute("aria-sort","none");
  button.addEventListener("click",function(){
    var dir=th.getAttribute("aria-sort")==="ascending"?"descending":"ascending";
    Array.prototype.forEach.call(heads,function(h){h.setAttribute("aria-sort","none");});
    th.setAttribute("aria-sort",dir);
    var keyed=rows.map(function(r){return [r.cells[col].textContent,r];});
    keyed.sort(function(a,b){var c=collator.compare(a[0],b[0]);return dir==="ascending"?c:-c;});
    var frag=document.createDocumentFragment();
    keyed.forEach(function(k){frag.appendChild(k[1]);});
    rows=keyed.map(function(k){return k[1];});body.appendChild(frag);
  });
});
var timer;
function apply(){
  var q=text.value.trim().toLowerCase(),s=state.value,shown=0;
  rows.forEach(function(r){
    var st=r.getAttribute("data-state");
    var ok=(s===""||st===s||(s==="enabled-or-enforced"&&(st==="enabled"||st==="enforced")))&&(q===""||r.textContent.toLowerCase().indexOf(q)>=0);
    r.hidden=!ok;if(ok)shown++;
  });
  status.textContent="Showing "+shown+" of "+rows.length+" users.";
}
text.addEventListener("input",function(){clearTimeout(timer);timer=setTimeout(apply,200);});
state.addEventListener("change",apply);
})();
`;

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
/** The report's Content-Security-Policy (also in its meta tag): a server sends it as the header too. */
export const REPORT_CSP = `default-src 'none'; style-src ${sha256(STYLE)}; script-src ${sha256(SCRIPT)}; img-src 'none'; base-uri 'none'; form-action 'none'`;

const COLUMN_CLASS: Partial<Record<(typeof REPORT_COLUMNS)[number], string>> = { displayName: "name" };

function renderHead(input: HtmlReportInput): string {
  const title = escapeHtml(input.title);
  const when = Number.isNaN(input.generatedAt.getTime()) ? "" : input.generatedAt.toISOString();
  const notes = (input.notes ?? []).map((n) => `<p class="muted">${escapeHtml(n)}</p>`).join("");
  return (
    `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(REPORT_CSP)}">\n` +
    `<meta name="referrer" content="no-referrer">\n<meta name="generator" content="mfactl">\n` +
    `<title>${title}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n` +
    `<header>\n<h1>${title}</h1>\n<p class="muted">Generated <time datetime="${escapeHtml(when)}">${escapeHtml(when.replace("T", " ").replace(/\.\d+Z$/, " UTC"))}</time> by mfactl.</p>${notes}\n</header>\n<main>\n`
  );
}

function percent(part: number, total: number): string {
  return total === 0 ? "0%" : `${((part / total) * 100).toFixed(1)}%`;
}

function badge(state: string): string {
  const known = (REPORT_STATES as readonly string[]).includes(state) ? state : "unknown";
  return `<span class="badge badge-${known}">${escapeHtml(state)}</span>`;
}

function legend(): string {
  return (
    `<ul class="legend" aria-label="Legend">` +
    `<li><span class="swatch state-enforced" aria-hidden="true"></span>${badge("enforced")} per-user MFA enforced: row shaded green with a bar at the left</li>` +
    `<li><span class="swatch state-enabled" aria-hidden="true"></span>${badge("enabled")} per-user MFA enabled (not yet enforced): row shaded amber with a bar at the left</li>` +
    `<li><span class="swatch" aria-hidden="true"></span>${badge("disabled")} per-user MFA disabled (Conditional Access or security defaults may still require MFA)</li>` +
    `<li>${badge("unknown")} state could not be read</li>` +
    `</ul>\n`
  );
}

function countsCells(counts: StateCounts): string {
  return REPORT_STATES.map((s) => `<td class="num">${counts[s]}</td>`).join("") + `<td class="num">${counts.total}</td>`;
}

function renderSummary(input: HtmlReportInput, summary: ReportSummary, maxListed: number): string {
  const { overall } = summary;
  const outcomes = new Map<string, TenantOutcome>();
  for (const outcome of input.tenants) outcomes.set(outcome.tenant, outcome);
  const tenantNames = [...new Set([...input.tenants.map((t) => t.tenant), ...summary.perTenant.keys()])];
  const failed = input.tenants.filter((t) => t.status === "failed");
  const parts: string[] = [];

  parts.push(`<section aria-labelledby="summary-h">\n<h2 id="summary-h">Summary</h2>\n`);
  parts.push(
    `<p>${overall.total} users in ${tenantNames.length} ${tenantNames.length === 1 ? "tenant" : "tenants"}: ` +
      `<strong>${overall.enforced}</strong> enforced, <strong>${overall.enabled}</strong> enabled, ${overall.disabled} disabled, ${overall.unknown} unknown.` +
      (failed.length ? ` <strong>${failed.length} ${failed.length === 1 ? "tenant" : "tenants"} failed</strong> (see below).` : "") +
      `</p>\n`,
  );
  parts.push(legend());

  parts.push(`<div class="table-wrap" id="overall-wrap" role="region" aria-labelledby="overall-caption" tabindex="0">\n<table id="overall">\n<caption id="overall-caption">Users by per-user MFA state</caption>\n`);
  parts.push(`<thead><tr><th scope="col">State</th><th scope="col" class="num">Users</th><th scope="col" class="num">Share</th></tr></thead>\n<tbody>\n`);
  for (const state of REPORT_STATES) {
    const highlight = state === "enabled" || state === "enforced" ? ` class="state-${state}"` : "";
    parts.push(`<tr${highlight} data-state="${state}"><th scope="row">${badge(state)}</th><td class="num">${overall[state]}</td><td class="num">${percent(overall[state], overall.total)}</td></tr>\n`);
  }
  parts.push(`</tbody>\n<tfoot><tr><th scope="row">Total</th><td class="num">${overall.total}</td><td class="num">${overall.total ? "100%" : "0%"}</td></tr></tfoot>\n</table>\n</div>\n`);

  parts.push(`<div class="table-wrap" role="region" aria-labelledby="tenants-caption" tabindex="0">\n<table id="tenants">\n<caption id="tenants-caption">Users by state, per tenant</caption>\n`);
  parts.push(
    `<thead><tr><th scope="col">Tenant</th><th scope="col">Status</th>${REPORT_STATES.map((s) => `<th scope="col" class="num">${s}</th>`).join("")}<th scope="col" class="num">Total</th></tr></thead>\n<tbody>\n`,
  );
  for (const name of tenantNames) {
    const outcome = outcomes.get(name);
    const counts = summary.perTenant.get(name) ?? emptyCounts();
    const status = outcome ? `<span class="badge badge-${outcome.status === "failed" ? "failed" : "completed"}">${escapeHtml(outcome.status)}</span>` : `<span class="muted">not reported</span>`;
    parts.push(`<tr${outcome?.status === "failed" ? ` class="tenant-failed"` : ""}><th scope="row">${escapeHtml(name)}</th><td>${status}</td>${countsCells(counts)}</tr>\n`);
  }
  if (tenantNames.length === 0) parts.push(`<tr><td colspan="7">No tenants.</td></tr>\n`);
  parts.push(`</tbody>\n</table>\n</div>\n`);

  parts.push(`<h3 id="failed-h">Failed tenants (${failed.length})</h3>\n`);
  if (failed.length === 0) {
    parts.push(`<p>None: every tenant was read.</p>\n`);
  } else {
    parts.push(`<p>These tenants could not be read completely; users reported before the failure are counted above.</p>\n`);
    parts.push(`<div class="table-wrap" role="region" aria-labelledby="failed-caption" tabindex="0">\n<table id="failed">\n<caption id="failed-caption">Tenants that failed, with the reason</caption>\n`);
    parts.push(`<thead><tr><th scope="col">Tenant</th><th scope="col">Error code</th><th scope="col">Reason</th><th scope="col" class="num">Users reported</th></tr></thead>\n<tbody>\n`);
    for (const t of failed) {
      parts.push(
        `<tr class="tenant-failed"><th scope="row">${escapeHtml(t.tenant)}</th><td>${escapeHtml(t.error?.code ?? "")}${t.error?.httpStatus ? ` (HTTP ${escapeHtml(t.error.httpStatus)})` : ""}</td><td>${escapeHtml(t.error?.message ?? "No reason given.")}</td><td class="num">${escapeHtml(t.users)}</td></tr>\n`,
      );
    }
    parts.push(`</tbody>\n</table>\n</div>\n`);
  }
  parts.push(`</section>\n`);

  for (const state of ["enforced", "enabled"] as const) {
    const listed = summary.listed[state];
    const total = overall[state];
    parts.push(`<section aria-labelledby="${state}-h">\n<h2 id="${state}-h">Users with per-user MFA ${state} (${total})</h2>\n`);
    if (total === 0) {
      parts.push(`<p>None.</p>\n`);
    } else {
      parts.push(`<ul class="users" id="${state}-users">\n`);
      for (const u of listed) {
        const name = u.displayName ? `${escapeHtml(u.displayName)} ` : "";
        parts.push(`<li>${name}&lt;${escapeHtml(u.userPrincipalName)}&gt; <span class="muted">${escapeHtml(u.tenant)}</span></li>\n`);
      }
      parts.push(`</ul>\n`);
      if (total > listed.length) {
        parts.push(`<p class="muted">The first ${maxListed} of ${total} are listed; the table below has all of them (filter by state).</p>\n`);
      }
    }
    parts.push(`</section>\n`);
  }
  return parts.join("");
}

function renderTableStart(total: number): string {
  return (
    `<section aria-labelledby="users-h">\n<h2 id="users-h">All users (${total})</h2>\n` +
    `<div class="controls" id="users-controls" hidden>` +
    `<label for="users-filter">Filter<input id="users-filter" type="search" autocomplete="off" placeholder="name, UPN, tenant..."></label>` +
    `<label for="users-state">State<select id="users-state"><option value="">all</option><option value="enabled-or-enforced">enabled or enforced</option>` +
    REPORT_STATES.map((s) => `<option value="${s}">${s}</option>`).join("") +
    `</select></label><span id="users-status" role="status" aria-live="polite"></span></div>\n` +
    `<div class="table-wrap" id="users-wrap" role="region" aria-labelledby="users-caption" tabindex="0">\n<table id="users">\n` +
    `<caption id="users-caption">Every user reported: ${total}. Rows with per-user MFA enabled or enforced are highlighted and marked with a badge.</caption>\n` +
    `<thead><tr>${REPORT_COLUMNS.map((c) => `<th scope="col">${c}</th>`).join("")}</tr></thead>\n<tbody>\n`
  );
}

function renderRow(row: ReportRow): string {
  const state = stateOf(row);
  const highlight = state === "enabled" || state === "enforced" ? ` class="state-${state}"` : "";
  const cells = REPORT_COLUMNS.map((column) => {
    const value = row[column];
    if (column === "perUserMfaState") return `<td>${badge(String(value))}</td>`;
    if (column === "userPrincipalName") return `<th scope="row">${escapeHtml(value)}</th>`;
    const cls = COLUMN_CLASS[column];
    return `<td${cls ? ` class="${cls}"` : ""}>${escapeHtml(value)}</td>`;
  });
  return `<tr${highlight} data-state="${state}">${cells.join("")}</tr>\n`;
}

function renderTableEnd(): string {
  return `</tbody>\n</table>\n</div>\n</section>\n</main>\n<script>${SCRIPT}</script>\n</body>\n</html>\n`;
}
