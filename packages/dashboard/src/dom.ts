/** A small element builder: attributes as strings, children as nodes or text (never parsed as HTML). */
export type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false) continue;
    node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** Replaces the screen's content and moves focus to its heading, so keyboard users start at the top. */
export function show(root: HTMLElement, ...children: Node[]): void {
  root.replaceChildren(...children);
  const heading = root.querySelector<HTMLElement>("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

/**
 * A data table that reflows at a phone's width (each row a block, each cell labelled by its column through
 * `data-label`, drawn by style.css), so nothing scrolls sideways. Fill `body` with `row()`.
 */
export function dataTable(id: string, caption: string, columns: string[]): { table: HTMLTableElement; body: HTMLTableSectionElement; row(...cells: Child[]): HTMLTableRowElement } {
  const body = el("tbody");
  const table = el(
    "table",
    { id, class: "data", "aria-busy": "true" },
    el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { scope: "col" }, c)))),
    body,
  );
  const row = (...cells: Child[]) => el("tr", {}, ...cells.map((c, i) => el("td", { "data-label": columns[i] ?? "" }, c)));
  return { table, body, row };
}

/** An ISO time as a <time>, in the reader's locale, with seconds (runs a second apart are told apart). */
export function time(iso: string | undefined): HTMLElement | string {
  if (!iso) return "—";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return el("time", { datetime: iso }, at.toLocaleString([], { dateStyle: "medium", timeStyle: "medium" }));
}
