/**
 * Horizontal stacked bars of counts, drawn with DOM elements: the segments' widths are set through the CSSOM
 * (`node.style.width`), which the dashboard's CSP allows where a `style` attribute would be refused. Every chart is
 * a figure with a caption and its numbers as a small table, so it reads without colour and without sight.
 */
import { el } from "./dom.js";

export interface Segment {
  /** Names the colour (a CSS class `seg-<key>`). */
  key: string;
  label: string;
  value: number;
}

const number = new Intl.NumberFormat("en");

export function formatCount(n: number): string {
  return number.format(n);
}

/** "per-user enforced" → "per-user-enforced"; "conditional access (all apps)" → "conditional-access-all-apps". */
export function segmentKey(label: string): string {
  return label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

function share(value: number, total: number): string {
  if (total === 0) return "0%";
  const pct = (value / total) * 100;
  // Never "0%" for a few users out of many: that reads as none.
  if (value > 0 && pct < 1) return "<1%";
  return `${Math.round(pct)}%`;
}

/**
 * A figure: caption, one bar of segments (hidden from screen readers: the table says the same), and a table of
 * label, count and share. Segments with no users are in the table, not in the bar.
 */
export function stackedBar(options: { id: string; caption: string; segments: Segment[]; unit?: string }): HTMLElement {
  const total = options.segments.reduce((sum, s) => sum + s.value, 0);
  const unit = options.unit ?? "users";
  const bar = el("div", { class: "stack", "aria-hidden": "true" });
  for (const s of options.segments) {
    if (s.value <= 0) continue;
    const seg = el("span", { class: `seg seg-${s.key}`, title: `${s.label}: ${formatCount(s.value)}` });
    seg.style.width = `${(s.value / total) * 100}%`;
    bar.append(seg);
  }
  if (total === 0) bar.append(el("span", { class: "seg seg-empty" }));
  const rows = options.segments.map((s) =>
    el(
      "tr",
      { class: s.value === 0 ? "zero" : false },
      el("th", { scope: "row" }, el("span", { class: `swatch seg-${s.key}`, "aria-hidden": "true" }), s.label),
      el("td", { class: "num" }, formatCount(s.value)),
      el("td", { class: "num" }, share(s.value, total)),
    ),
  );
  return el(
    "figure",
    { class: "chart", id: options.id },
    el("figcaption", {}, options.caption, el("span", { class: "chart-total" }, ` · ${formatCount(total)} ${unit}`)),
    bar,
    el(
      "table",
      { class: "legend" },
      el("thead", { class: "visually-hidden" }, el("tr", {}, el("th", { scope: "col" }, "Category"), el("th", { scope: "col" }, unit[0]!.toUpperCase() + unit.slice(1)), el("th", { scope: "col" }, "Share"))),
      el("tbody", {}, ...rows),
    ),
  );
}
