import { ApiError, describeError, listTenants, session } from "./api.js";
import { el, show } from "./dom.js";
import type { Nav } from "./main.js";

/** The tenants this key may see (GET /v1/tenants): one button each, opening its users. */
export function tenantsScreen(root: HTMLElement, nav: Nav): () => void {
  const controller = new AbortController();
  const status = el("p", { id: "tenants-status", role: "status" }, "Loading tenants…");
  const list = el("ul", { id: "tenants", class: "tenants" });
  show(root, el("h1", {}, "Tenants"), status, list);
  listTenants(controller.signal)
    .then(({ tenants }) => {
      status.textContent = tenants.length === 0 ? "This key may see no tenants." : `${tenants.length} tenant${tenants.length === 1 ? "" : "s"}.`;
      for (const tenant of tenants) {
        const button = el("button", { type: "button", class: "tenant" }, el("span", { class: "name" }, tenant.displayName ?? tenant.tenant), tenant.displayName ? el("span", { class: "sub" }, tenant.tenant) : null);
        button.addEventListener("click", () => nav.users(tenant));
        list.append(el("li", {}, button));
      }
    })
    .catch((e: unknown) => {
      if (controller.signal.aborted) return;
      if (e instanceof ApiError && e.status === 401) return signedOut(nav, e);
      status.textContent = "";
      root.append(el("p", { class: "error", role: "alert" }, `Could not list the tenants: ${describeError(e)}`));
    });
  return () => controller.abort();
}

/** The stored key no longer works: forget it and say why on the sign-in screen. */
export function signedOut(nav: Nav, error: ApiError): void {
  session.key = undefined;
  nav.signIn(`Signed out: ${describeError(error)}`);
}
