import { el, show } from "./dom.js";
import type { Nav } from "./main.js";

/** The audit log (GET /v1/audit). Placeholder until its screen lands. */
export function auditScreen(root: HTMLElement, _nav: Nav): void {
  show(root, el("h1", {}, "Audit log"));
}
