import { describeError, listTenants, session } from "./api.js";
import { el, show } from "./dom.js";
import { beginEntraSignIn, getDashboardConfig, type EntraConfig } from "./oidc.js";

/**
 * Sign in with Microsoft (when the server configures Entra ID: GET /v1/dashboard/config) or with an API key,
 * checked against GET /v1/tenants. Either is kept in sessionStorage for this tab only.
 * `route` is the screen to open afterwards (the hash asked for before signing in).
 */
export function signInScreen(root: HTMLElement, signedIn: (route: string) => void, message?: string, route = "", notice?: string): () => void {
  const controller = new AbortController();
  const error = el("p", { id: "sign-in-error", class: "error", role: "alert" }, message ?? "");
  const status = el("p", { id: "sign-in-status", role: "status" }, notice ?? "Loading the ways to sign in…");
  show(root, el("h1", { id: "sign-in-title" }, "Sign in"), error, status);

  function draw(entra: EntraConfig | undefined, configProblem?: string): void {
    status.textContent = notice ?? "";
    const keyForm = apiKeyForm(signedIn, error, route, entra !== undefined);
    if (entra) {
      const button = el("button", { type: "button", id: "sign-in-entra", class: "primary", "aria-describedby": "sign-in-entra-help" }, "Sign in with Microsoft");
      button.addEventListener("click", () => {
        button.disabled = true;
        error.textContent = "";
        status.textContent = "Going to Microsoft's sign-in page…";
        beginEntraSignIn(entra, route).catch((e: unknown) => {
          button.disabled = false;
          status.textContent = "";
          error.textContent = `Sign-in failed: ${describeError(e)}`;
        });
      });
      const section = el(
        "section",
        { class: "card", "aria-labelledby": "sign-in-entra-title" },
        el("h2", { id: "sign-in-entra-title" }, "Your work account"),
        button,
        el("p", { id: "sign-in-entra-help", class: "help" }, "Microsoft Entra ID: your role (reader, operator or admin) comes from the mfactl API app. What you change is recorded under your name."),
      );
      root.append(section, keyForm.form);
      button.focus();
    } else {
      root.append(keyForm.form);
      if (configProblem) root.append(el("p", { class: "help" }, configProblem));
      keyForm.input.focus();
    }
  }

  getDashboardConfig(controller.signal)
    .then((config) => {
      if (!controller.signal.aborted) draw(config.signIn.entra);
    })
    .catch((e: unknown) => {
      if (controller.signal.aborted) return;
      // The API key still works when the configuration cannot be read (an older server, a proxy).
      draw(undefined, `Sign-in with Microsoft is not offered: the server's dashboard configuration could not be read (${describeError(e)}).`);
    });
  return () => controller.abort();
}

/** The API key form, as the second way when Entra is offered. */
function apiKeyForm(signedIn: (route: string) => void, error: HTMLElement, route: string, second: boolean): { form: HTMLFormElement; input: HTMLInputElement } {
  const input = el("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off", spellcheck: "false", required: true, "aria-describedby": "api-key-help" });
  const button = el("button", { type: "submit", id: "sign-in-key", class: second ? "secondary" : "primary" }, "Sign in with the key");
  const form = el(
    "form",
    { class: "card", "aria-labelledby": "api-key-title" },
    el("h2", { id: "api-key-title" }, second ? "Or an API key" : "API key"),
    el("label", { for: "api-key" }, "API key"),
    input,
    el("p", { id: "api-key-help", class: "help" }, "An mfactl API key (mfak_…) with the read scope, from ", el("code", {}, "mfactl apikey create"), ". It stays in this tab only."),
    button,
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
        signedIn(route);
      })
      .catch((e: unknown) => {
        error.textContent = `Sign-in failed: ${describeError(e)}`;
        button.disabled = false;
        input.focus();
      });
  });
  return { form, input };
}
