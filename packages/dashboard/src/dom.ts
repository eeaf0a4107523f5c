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

/**
 * Previous and Next over a server's cursors: page i is read with cursors[i] (the first page with
 * none). The buttons stay enabled (and focused) while a page loads, and clicks wait for it;
 * focus on a button that becomes disabled moves to the other one.
 */
export class CursorPager {
  readonly previous: HTMLButtonElement;
  readonly next: HTMLButtonElement;
  private cursors: (string | undefined)[] = [undefined];
  private nextCursor: string | undefined;

  constructor(idPrefix: string, load: () => void, busy: () => boolean) {
    this.previous = el("button", { type: "button", id: `${idPrefix}-previous`, disabled: true }, "Previous");
    this.next = el("button", { type: "button", id: `${idPrefix}-next`, disabled: true }, "Next");
    this.next.addEventListener("click", () => {
      if (busy() || this.nextCursor === undefined) return;
      this.cursors.push(this.nextCursor);
      load();
    });
    this.previous.addEventListener("click", () => {
      if (busy() || this.cursors.length <= 1) return;
      this.cursors.pop();
      load();
    });
  }

  /** The page being read or shown, from 0. */
  get page(): number {
    return this.cursors.length - 1;
  }

  /** The cursor that reads that page. */
  get cursor(): string | undefined {
    return this.cursors[this.page];
  }

  /** Whether the page shown is the last one. */
  get last(): boolean {
    return this.nextCursor === undefined;
  }

  /** Back to the first page (a new search or filter); the caller loads it. */
  restart(): void {
    this.cursors = [undefined];
  }

  /** A page arrived: the server's cursor for the one after it (none on the last page). */
  shown(nextCursor: string | number | undefined): void {
    this.nextCursor = nextCursor === undefined ? undefined : String(nextCursor);
    this.enable(this.page === 0, this.nextCursor === undefined);
  }

  /** A page could not be read: only Previous stays (when there is one). */
  failed(): void {
    this.enable(this.page === 0, true);
  }

  private enable(noPrevious: boolean, noNext: boolean): void {
    const focused = document.activeElement;
    this.previous.disabled = noPrevious;
    this.next.disabled = noNext;
    if (focused === this.next && noNext && !noPrevious) this.previous.focus();
    if (focused === this.previous && noPrevious && !noNext) this.next.focus();
  }
}
