import { el, show } from "./dom.js";
import type { Nav } from "./main.js";

/** Run history (GET /v1/runs). Placeholder until its screen lands. */
export function runsScreen(root: HTMLElement, _nav: Nav): void {
  show(root, el("h1", {}, "Runs"));
}

/** One run and Undo. Placeholder until its screen lands. */
export function runScreen(root: HTMLElement, _nav: Nav, runId: string): void {
  show(root, el("h1", {}, `Run ${runId}`));
}
