import { ApiError, describeError, listUsers, type Tenant, type UserRow } from "./api.js";
import { el, show } from "./dom.js";
import type { Nav } from "./main.js";
import { signedOut } from "./tenants.js";

export const PAGE_SIZE = 25;
const DEBOUNCE_MS = 300;
const STATES = ["disabled", "enabled", "enforced", "unknown"] as const;

/**
 * A tenant's users, a page at a time from the server (GET /v1/tenants/{t}/users): search by UPN or
 * display name prefix (debounced), filter by state, Next and Previous by the server's cursors.
 */
export function usersScreen(root: HTMLElement, nav: Nav, tenant: Tenant): () => void {
  const name = tenant.displayName ?? tenant.tenant;
  const search = el("input", { id: "users-search", type: "search", autocomplete: "off", spellcheck: "false", "aria-describedby": "users-search-help" });
  const state = el("select", { id: "users-state" }, el("option", { value: "" }, "All states"), ...STATES.map((s) => el("option", { value: s }, s)));
  const back = el("button", { type: "button", class: "link" }, "← All tenants");
  const filters = el(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter users" },
    el("div", { class: "field" }, el("label", { for: "users-search" }, "Search"), search, el("span", { id: "users-search-help", class: "help" }, "UPN or display name starting with")),
    el("div", { class: "field" }, el("label", { for: "users-state" }, "State"), state),
  );
  const status = el("p", { id: "users-status", role: "status" });
  const error = el("p", { id: "users-error", class: "error", role: "alert" });
  const body = el("tbody");
  const table = el(
    "table",
    { id: "users", "aria-busy": "true" },
    el("caption", { class: "visually-hidden" }, `Users of ${name}`),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "UPN"), el("th", { scope: "col" }, "Display name"), el("th", { scope: "col" }, "State"))),
    body,
  );
  const previous = el("button", { type: "button", id: "users-previous", disabled: true }, "Previous");
  const next = el("button", { type: "button", id: "users-next", disabled: true }, "Next");
  const pager = el("nav", { class: "pager", "aria-label": "Pages of users" }, previous, next);
  show(root, back, el("h1", {}, name), filters, status, error, table, pager);

  // cursors[i] fetches page i (page 0 has none); nextCursor is the server's for the page after the one shown.
  let cursors: (string | undefined)[] = [undefined];
  let nextCursor: string | undefined;
  let controller: AbortController | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;

  function load(): void {
    controller?.abort();
    const ctrl = (controller = new AbortController());
    const pageIndex = cursors.length - 1;
    const cursor = cursors[pageIndex];
    // The buttons stay enabled (and focused) while a page loads; clicks wait for it.
    table.setAttribute("aria-busy", "true");
    status.textContent = "Loading users…";
    const query = { limit: PAGE_SIZE, ...(search.value.trim() ? { search: search.value.trim() } : {}), ...(state.value ? { state: state.value } : {}), ...(cursor ? { cursor } : {}) };
    listUsers(tenant.tenant, query, ctrl.signal)
      .then((page) => {
        if (ctrl.signal.aborted) return;
        error.textContent = "";
        nextCursor = page.nextCursor;
        body.replaceChildren(...page.users.map(row));
        const first = pageIndex * PAGE_SIZE + 1;
        status.textContent = page.users.length === 0 ? (pageIndex === 0 ? "No users match." : `Page ${pageIndex + 1}: no more users.`) : `Page ${pageIndex + 1}: users ${first}–${first + page.users.length - 1}${nextCursor ? "" : " (last page)"}.`;
        setPager(pageIndex === 0, nextCursor === undefined);
        table.setAttribute("aria-busy", "false");
      })
      .catch((e: unknown) => {
        if (ctrl.signal.aborted) return;
        if (e instanceof ApiError && e.status === 401) return signedOut(nav, e);
        status.textContent = "";
        error.textContent = `Could not list the users: ${describeError(e)}`;
        setPager(pageIndex === 0, true);
        table.setAttribute("aria-busy", "false");
      });
  }

  /** Disables what cannot be used; focus on a button that becomes disabled moves to the other one. */
  function setPager(noPrevious: boolean, noNext: boolean): void {
    const focused = document.activeElement;
    previous.disabled = noPrevious;
    next.disabled = noNext;
    if (focused === next && noNext && !noPrevious) previous.focus();
    if (focused === previous && noPrevious && !noNext) next.focus();
  }

  const busy = () => table.getAttribute("aria-busy") === "true";

  /** A new search or filter starts again at the first page. */
  function restart(): void {
    clearTimeout(timer);
    cursors = [undefined];
    load();
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
  next.addEventListener("click", () => {
    if (busy() || nextCursor === undefined) return;
    cursors.push(nextCursor);
    load();
  });
  previous.addEventListener("click", () => {
    if (busy() || cursors.length <= 1) return;
    cursors.pop();
    load();
  });
  back.addEventListener("click", () => nav.tenants());
  load();

  return () => {
    clearTimeout(timer);
    controller?.abort();
  };
}

function row(user: UserRow): HTMLTableRowElement {
  return el("tr", {}, el("td", { class: "upn" }, user.userPrincipalName), el("td", {}, user.displayName), el("td", {}, el("span", { class: `state state-${user.perUserMfaState}` }, user.perUserMfaState)));
}
