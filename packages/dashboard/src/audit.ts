import { ApiError, describeError, getJson } from "./api.js";
import { CursorPager, dataTable, el, show, time } from "./dom.js";
import type { Nav } from "./main.js";
import { actorNode } from "./runs.js";
import { signedOut } from "./tenants.js";

/** One audit entry (docs/api/audit.md). */
export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  outcome: "ok" | "failed" | "denied" | string;
  tenant?: string;
  target?: string;
  runId?: string;
  requestId?: string;
  detail?: string;
}

const PAGE = 50;
/** The actions docs/api/audit.md lists, offered as suggestions (the field takes any). */
const ACTIONS = ["mfa.set", "job.plan", "job.bulkSet", "job.apply", "job.undo", "job.report", "job.posture", "job.bulkSet.finished", "job.apply.finished", "job.undo.finished", "apikey.create", "apikey.revoke"];

/** A person is typed as their UPN; the log names them `user:<upn>`. */
export function actorFilter(value: string): string {
  const v = value.trim();
  return v.includes("@") && !v.includes(":") ? `user:${v}` : v;
}

/** The audit log (GET /v1/audit), newest first, a page at a time by the server's cursor, filtered by exact fields. */
export function auditScreen(root: HTMLElement, nav: Nav): () => void {
  const field = (id: string, label: string, help: string, attrs: Record<string, string> = {}) => {
    const input = el("input", { id, name: id, type: "text", autocomplete: "off", spellcheck: "false", "aria-describedby": `${id}-help`, ...attrs });
    return { input, node: el("div", { class: "field" }, el("label", { for: id }, label), input, el("span", { id: `${id}-help`, class: "help" }, help)) };
  };
  const actor = field("audit-actor", "Actor", "A person's UPN, or apikey:<name>, app:<client id>");
  const tenant = field("audit-tenant", "Tenant", "As the server names it, e.g. contoso.onmicrosoft.com");
  const action = field("audit-action", "Action", "e.g. mfa.set, job.undo", { list: "audit-actions" });
  const run = field("audit-run", "Run id", "Entries naming this run");
  const apply = el("button", { type: "submit", id: "audit-apply" }, "Filter");
  const clear = el("button", { type: "button", id: "audit-clear", class: "secondary" }, "Clear filters");
  const filters = el(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter the audit log" },
    actor.node,
    tenant.node,
    action.node,
    run.node,
    el("datalist", { id: "audit-actions" }, ...ACTIONS.map((a) => el("option", { value: a }))),
    el("div", { class: "actions field-actions" }, apply, clear),
  );
  const status = el("p", { id: "audit-status", role: "status" });
  const error = el("p", { id: "audit-error", class: "error", role: "alert" });
  const { table, body, row } = dataTable("audit", "Audit log entries, newest first", ["Time", "Actor", "Action", "Tenant", "Outcome", "Target / run", "Detail"]);
  const pages = new CursorPager("audit", load, () => table.getAttribute("aria-busy") === "true");
  show(
    root,
    el("h1", {}, "Audit log"),
    el("p", { class: "help" }, "Who did what through this server, newest first. Reads and refused requests are in the server's log instead."),
    filters,
    status,
    error,
    table,
    el("nav", { class: "pager", "aria-label": "Pages of the audit log" }, pages.previous, pages.next),
  );

  let controller: AbortController | undefined;

  function query(): URLSearchParams {
    const params = new URLSearchParams({ limit: String(PAGE) });
    const set = (name: string, value: string) => {
      if (value.trim()) params.set(name, value.trim());
    };
    set("actor", actorFilter(actor.input.value));
    set("tenant", tenant.input.value);
    set("action", action.input.value);
    set("runId", run.input.value);
    return params;
  }

  function load(): void {
    controller?.abort();
    const ctrl = (controller = new AbortController());
    const page = pages.page;
    const params = query();
    const filtered = [...params.keys()].some((k) => k !== "limit");
    const cursor = pages.cursor;
    if (cursor !== undefined) params.set("cursor", cursor);
    table.setAttribute("aria-busy", "true");
    status.textContent = "Loading the audit log…";
    getJson<{ entries: AuditEntry[]; nextCursor?: string | number }>(`/v1/audit?${params.toString()}`, ctrl.signal)
      .then((answer) => {
        if (ctrl.signal.aborted) return;
        error.textContent = "";
        pages.shown(answer.nextCursor);
        body.replaceChildren(...answer.entries.map(entryRow));
        const first = page * PAGE + 1;
        status.textContent =
          answer.entries.length === 0
            ? page === 0
              ? filtered
                ? "No entries match the filters."
                : "The audit log is empty."
              : "No more entries."
            : `Page ${page + 1}: entries ${first}–${first + answer.entries.length - 1}${pages.last ? " (last page)" : ""}${filtered ? ", filtered" : ""}.`;
        table.setAttribute("aria-busy", "false");
      })
      .catch((e: unknown) => {
        if (ctrl.signal.aborted) return;
        if (e instanceof ApiError && e.status === 401) return signedOut(nav, e);
        status.textContent = "";
        error.textContent = `Could not read the audit log: ${describeError(e)}`;
        pages.failed();
        table.setAttribute("aria-busy", "false");
      });
  }

  function entryRow(e: AuditEntry): HTMLTableRowElement {
    return row(
      time(e.at),
      actorNode(e.actor),
      el("code", {}, e.action),
      e.tenant ?? "",
      el("span", { class: `badge outcome-${e.outcome}` }, e.outcome),
      el("span", {}, e.target ? el("span", { class: "target" }, e.target) : null, e.runId ? el("span", { class: "sub" }, "run ", el("a", { href: `#/runs/${encodeURIComponent(e.runId)}` }, e.runId)) : null),
      el("span", {}, e.detail ?? "", e.requestId ? el("span", { class: "sub" }, `request id ${e.requestId}`) : null),
    );
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    pages.restart();
    load();
  });
  clear.addEventListener("click", () => {
    filters.reset();
    pages.restart();
    load();
    actor.input.focus();
  });
  load();
  return () => controller?.abort();
}
