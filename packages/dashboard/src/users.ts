import "./users.css";
import { ApiError, describeError, getJson, type Tenant, type UserRow, type UsersPage } from "./api.js";
import { bulkFlow, type RequestedState, type SelectedUser } from "./bulk.js";
import { CursorPager, el, show } from "./dom.js";
import type { Nav } from "./main.js";

export const PAGE_SIZE = 25;
/** Short enough that a keystroke repaints within 500 ms at 20,000 users (docs/performance.md), long enough to skip most intermediate prefixes. */
const DEBOUNCE_MS = 120;
const STATES = ["disabled", "enabled", "enforced", "unknown"] as const;
const REQUESTABLE: readonly RequestedState[] = ["disabled", "enabled", "enforced"];

export type UserSort = "userPrincipalName" | "-userPrincipalName" | "displayName" | "-displayName";

/** GET /v1/tenants/{t}/users with the server's order (`sort`); no sort: the listing's own order. */
export function listUsersSorted(tenant: string, query: { limit: number; search?: string; state?: string; cursor?: string; sort?: UserSort }, signal?: AbortSignal): Promise<UsersPage> {
  const params = new URLSearchParams({ limit: String(query.limit) });
  if (query.search) params.set("search", query.search);
  if (query.state) params.set("state", query.state);
  if (query.sort) params.set("sort", query.sort);
  if (query.cursor) params.set("cursor", query.cursor);
  return getJson(`/v1/tenants/${encodeURIComponent(tenant)}/users?${params.toString()}`, signal);
}

const COLUMNS = [
  { key: "userPrincipalName", label: "UPN", id: "users-sort-upn" },
  { key: "displayName", label: "Display name", id: "users-sort-name" },
] as const;

/**
 * A tenant's users, a page at a time from the server (GET /v1/tenants/{t}/users): search by UPN or
 * display name prefix (debounced, the previous request aborted), filter by state, sort by UPN or
 * display name, Next and Previous by the server's cursors. Users are selected by checkbox; the
 * selection outlives pages, searches and filters, and leads to the bulk flow (bulk.ts).
 */
export function usersScreen(root: HTMLElement, nav: Nav, tenant: Tenant): () => void {
  const name = tenant.displayName ?? tenant.tenant;
  const search = el("input", { id: "users-search", type: "search", autocomplete: "off", spellcheck: "false", "aria-describedby": "users-search-help" });
  const state = el("select", { id: "users-state" }, el("option", { value: "" }, "All states"), ...STATES.map((s) => el("option", { value: s }, s)));
  const back = el("button", { type: "button", class: "link" }, "← All tenants");
  const posture = el("button", { type: "button", class: "link", id: "users-posture" }, "Posture findings of this tenant");
  const filters = el(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter users" },
    el("div", { class: "field" }, el("label", { for: "users-search" }, "Search"), search, el("span", { id: "users-search-help", class: "help" }, "UPN or display name starting with")),
    el("div", { class: "field" }, el("label", { for: "users-state" }, "State"), state),
  );

  // The selection and what to do with it.
  const selection = new Map<string, SelectedUser>();
  const selectedText = el("p", { id: "users-selected", role: "status", class: "selected-count" }, "No users selected.");
  const clear = el("button", { type: "button", id: "users-clear", class: "secondary", disabled: true }, "Clear selection");
  const radios = REQUESTABLE.map((s) => el("input", { type: "radio", name: "bulk-state", id: `bulk-state-${s}`, value: s }));
  const stateChoice = el(
    "fieldset",
    { class: "state-choice", id: "bulk-state" },
    el("legend", {}, "Set state"),
    ...REQUESTABLE.map((s, i) => el("span", { class: "radio" }, radios[i]!, el("label", { for: `bulk-state-${s}` }, s[0]!.toUpperCase() + s.slice(1)))),
  );
  const preview = el("button", { type: "button", id: "users-preview", disabled: true, "aria-describedby": "users-bulk-help" }, "Preview changes");
  const bulkHelp = el("p", { id: "users-bulk-help", class: "help" }, "Select users, choose the state to set, then preview: nothing changes until you apply the plan.");
  const bulkError = el("p", { id: "users-bulk-error", class: "error", role: "alert" });
  const bulkBar = el(
    "section",
    { class: "bulk-bar", "aria-labelledby": "users-bulk-title" },
    el("h2", { id: "users-bulk-title", class: "visually-hidden" }, "Selected users"),
    el("div", { class: "bulk-row" }, selectedText, clear),
    el("div", { class: "bulk-row" }, stateChoice, preview),
    bulkHelp,
    bulkError,
  );

  const status = el("p", { id: "users-status", role: "status" });
  const error = el("p", { id: "users-error", class: "error", role: "alert" });
  const body = el("tbody");
  const pageBox = el("input", { type: "checkbox", id: "users-select-page", "aria-label": "Select all on this page" });
  let sort: UserSort | undefined;
  const sortButtons = COLUMNS.map((c) => el("button", { type: "button", id: c.id, class: "sort" }, c.label, el("span", { class: "sort-mark", "aria-hidden": "true" })));
  const sortHeaders = COLUMNS.map((_, i) => el("th", { scope: "col", "aria-sort": "none" }, sortButtons[i]!));
  const table = el(
    "table",
    { id: "users", class: "users-table", "aria-busy": "true" },
    el("caption", { class: "visually-hidden" }, `Users of ${name}`),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", class: "select" }, pageBox), ...sortHeaders, el("th", { scope: "col" }, "State"))),
    body,
  );
  const busy = () => table.getAttribute("aria-busy") === "true";
  const pages = new CursorPager("users", load, busy);
  const pager = el("nav", { class: "pager", "aria-label": "Pages of users" }, pages.previous, pages.next);
  const heading = el("h1", {}, name);
  const screen = [el("div", { class: "screen-links" }, back, posture), heading, filters, bulkBar, status, error, table, pager];
  show(root, ...screen);

  let controller: AbortController | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let shown: UserRow[] = [];
  let leaveBulk: (() => void) | undefined;

  function load(): void {
    controller?.abort();
    const ctrl = (controller = new AbortController());
    const pageIndex = pages.page;
    const cursor = pages.cursor;
    const text = search.value.trim();
    // The buttons stay enabled (and focused) while a page loads; clicks wait for it.
    table.setAttribute("aria-busy", "true");
    status.textContent = "Loading users…";
    const query = { limit: PAGE_SIZE, ...(text ? { search: text } : {}), ...(state.value ? { state: state.value } : {}), ...(sort ? { sort } : {}), ...(cursor ? { cursor } : {}) };
    listUsersSorted(tenant.tenant, query, ctrl.signal)
      .then((page) => {
        if (ctrl.signal.aborted) return;
        error.textContent = "";
        pages.shown(page.nextCursor);
        shown = page.users;
        body.replaceChildren(...page.users.map(row));
        // What the rows are for: the search latency benchmark waits for this (bench/src/dashboard-search.ts).
        table.dataset["search"] = text;
        syncPageBox();
        const first = pageIndex * PAGE_SIZE + 1;
        status.textContent = page.users.length === 0 ? (pageIndex === 0 ? "No users match." : `Page ${pageIndex + 1}: no more users.`) : `Page ${pageIndex + 1}: users ${first}–${first + page.users.length - 1}${pages.last ? " (last page)" : ""}.`;
        table.setAttribute("aria-busy", "false");
      })
      .catch((e: unknown) => {
        if (ctrl.signal.aborted) return;
        // A refused credential is main.ts's business (api.ts sends it back to sign-in).
        if (e instanceof ApiError && e.status === 401) return;
        status.textContent = "";
        error.textContent = `Could not list the users: ${describeError(e)}`;
        pages.failed();
        table.setAttribute("aria-busy", "false");
      });
  }

  function row(user: UserRow): HTMLTableRowElement {
    const box = el("input", { type: "checkbox", id: `select-${user.id}`, "aria-label": `Select ${user.userPrincipalName}` });
    box.checked = selection.has(user.id);
    box.addEventListener("change", () => {
      if (box.checked) selection.set(user.id, { id: user.id, userPrincipalName: user.userPrincipalName, perUserMfaState: user.perUserMfaState });
      else selection.delete(user.id);
      selectionChanged();
    });
    return el(
      "tr",
      {},
      el("td", { class: "select" }, box),
      el("td", { class: "upn" }, user.userPrincipalName),
      el("td", { class: "name" }, user.displayName),
      el("td", { class: "state-cell" }, el("span", { class: `state state-${user.perUserMfaState}` }, user.perUserMfaState)),
    );
  }

  /** The header box: checked when every row shown is selected, indeterminate when some are. */
  function syncPageBox(): void {
    const on = shown.filter((u) => selection.has(u.id)).length;
    pageBox.checked = shown.length > 0 && on === shown.length;
    pageBox.indeterminate = on > 0 && on < shown.length;
    pageBox.disabled = shown.length === 0;
  }

  function selectionChanged(): void {
    const n = selection.size;
    selectedText.textContent = n === 0 ? "No users selected." : `${n} selected`;
    clear.disabled = n === 0;
    // Keep focus rather than lose it on a button that becomes disabled.
    if (n === 0 && (document.activeElement === clear || document.activeElement === preview)) search.focus();
    preview.disabled = n === 0;
    bulkError.textContent = "";
    syncPageBox();
  }

  function syncRows(): void {
    for (const box of body.querySelectorAll<HTMLInputElement>("input[type=checkbox]")) box.checked = selection.has(box.id.slice("select-".length));
    syncPageBox();
  }

  /** A new search, filter or order starts again at the first page. */
  function restart(): void {
    clearTimeout(timer);
    pages.restart();
    load();
  }

  function setSort(key: (typeof COLUMNS)[number]["key"]): void {
    sort = sort === key ? `-${key}` : key;
    COLUMNS.forEach((c, i) => {
      const direction = sort === c.key ? "ascending" : sort === `-${c.key}` ? "descending" : "none";
      sortHeaders[i]!.setAttribute("aria-sort", direction);
      sortButtons[i]!.querySelector(".sort-mark")!.textContent = direction === "ascending" ? "▲" : direction === "descending" ? "▼" : "";
    });
    restart();
  }

  /** Back from the bulk flow: the same screen, its selection kept, or cleared and reloaded once applied. */
  function returnFromBulk(applied: boolean): void {
    leaveBulk?.();
    leaveBulk = undefined;
    show(root, ...screen);
    if (applied) {
      selection.clear();
      for (const r of radios) r.checked = false;
      selectionChanged();
      restart();
    } else {
      syncRows();
      preview.focus();
    }
  }

  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(restart, DEBOUNCE_MS);
  });
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    restart();
  });
  state.addEventListener("change", restart);
  COLUMNS.forEach((c, i) => sortButtons[i]!.addEventListener("click", () => setSort(c.key)));
  pageBox.addEventListener("change", () => {
    const all = shown.every((u) => selection.has(u.id));
    for (const u of shown) {
      if (all) selection.delete(u.id);
      else selection.set(u.id, { id: u.id, userPrincipalName: u.userPrincipalName, perUserMfaState: u.perUserMfaState });
    }
    syncRows();
    selectionChanged();
  });
  clear.addEventListener("click", () => {
    selection.clear();
    syncRows();
    selectionChanged();
  });
  preview.addEventListener("click", () => {
    const chosen = radios.find((r) => r.checked)?.value as RequestedState | undefined;
    if (selection.size === 0) return;
    if (!chosen) {
      bulkError.textContent = "Choose the state to set (Disabled, Enabled or Enforced) first.";
      radios[0]!.focus();
      return;
    }
    bulkError.textContent = "";
    clearTimeout(timer);
    controller?.abort();
    leaveBulk = bulkFlow(root, nav, { tenant, state: chosen, users: [...selection.values()], back: returnFromBulk });
  });
  back.addEventListener("click", () => nav.tenants());
  posture.addEventListener("click", () => nav.posture(tenant));
  load();

  return () => {
    clearTimeout(timer);
    controller?.abort();
    leaveBulk?.();
  };
}
