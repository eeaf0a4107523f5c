import type { Tenant } from "./api.js";
import { el, show } from "./dom.js";
import type { Nav } from "./main.js";

/** Posture findings (POST /v1/jobs/posture). Placeholder until its screen lands. */
export function postureScreen(root: HTMLElement, _nav: Nav, tenant?: Tenant): void {
  show(root, el("h1", {}, `Posture${tenant ? ` of ${tenant.displayName ?? tenant.tenant}` : ""}`));
}
