import { describeError, listTenants, session } from "./api.js";
import { el, show } from "./dom.js";
import type { Nav } from "./main.js";

/** Sign in with an API key: checked against GET /v1/tenants, then kept in sessionStorage for this tab. */
export function signInScreen(root: HTMLElement, nav: Nav, message?: string): void {
  const input = el("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": "api-key-help" });
  const button = el("button", { type: "submit" }, "Sign in");
  const error = el("p", { id: "sign-in-error", class: "error", role: "alert" }, message ?? "");
  const form = el(
    "form",
    { class: "card", "aria-labelledby": "sign-in-title" },
    el("label", { for: "api-key" }, "API key"),
    input,
    el("p", { id: "api-key-help", class: "help" }, "An mfactl API key (mfak_…) with the read scope, from ", el("code", {}, "mfactl keys create"), ". It stays in this tab only."),
    button,
    error,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    button.disabled = true;
    error.textContent = "";
    listTenants(undefined, key)
      .then(() => {
        session.key = key;
        nav.tenants();
      })
      .catch((e: unknown) => {
        error.textContent = `Sign-in failed: ${describeError(e)}`;
        button.disabled = false;
        input.focus();
      });
  });
  show(root, el("h1", { id: "sign-in-title" }, "Sign in"), form);
  input.focus();
}
