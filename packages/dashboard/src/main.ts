import "./style.css";
import { ApiError, currentUser, describeError, getMe, listTenants, roleOf, session, setCurrentUser, setUnauthorizedHandler, signedOutReason, type Tenant } from "./api.js";
import { auditScreen } from "./audit.js";
import { el, show } from "./dom.js";
import { completeEntraSignIn, EntraSignInError, getDashboardConfig, isEntraReturn, logoutUrl } from "./oidc.js";
import { postureScreen } from "./posture.js";
import { runScreen, runsScreen } from "./runs.js";
import { signInScreen } from "./sign-in.js";
import { tenantsScreen } from "./tenants.js";
import { usersScreen } from "./users.js";

/** Moves between the screens; each screen gets the root to draw into and this to leave it. */
export interface Nav {
  signIn(message?: string): void;
  /** Tenants overview: each tenant with its state and effective-protection charts. */
  tenants(): void;
  /** A tenant's users: search, filter, sort, select, then the bulk flow (plan, apply, result). */
  users(tenant: Tenant): void;
  /** Run history (the journal's runs), newest first. */
  runs(): void;
  /** One run: its counts and changes, and Undo. */
  run(runId: string): void;
  /** The audit log: who did what, filterable. */
  audit(): void;
  /** Posture findings of one tenant (or a choice of tenant when none is given). */
  posture(tenant?: Tenant): void;
}

const root = document.getElementById("app") as HTMLElement;
const signOut = document.getElementById("sign-out") as HTMLButtonElement;
const mainNav = document.getElementById("main-nav") as HTMLElement;
const who = document.getElementById("who") as HTMLElement;
const skipLink = document.getElementById("skip-link") as HTMLAnchorElement;
/** Set after an Entra sign-out, to say so when Microsoft sends the browser back. */
const SIGNED_OUT_ITEM = "mfactl.signedOut";

type Section = "tenants" | "runs" | "audit" | "posture" | undefined;
let leave: (() => void) | undefined;
/** The hash route shown now ("" on the sign-in screen). */
let shown = "";

/** The header: the nav and who is signed in only once someone is; the active section marked for screen readers. */
function drawShell(section: Section): void {
  const signedIn = session.bearer !== undefined && section !== undefined;
  signOut.hidden = !signedIn;
  mainNav.hidden = !signedIn;
  who.hidden = !signedIn;
  for (const a of mainNav.querySelectorAll<HTMLAnchorElement>("a[data-section]")) {
    if (a.dataset["section"] === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const me = currentUser();
  const name = me?.name ?? session.entra?.name ?? session.entra?.username;
  const role = me ? roleOf(me) : undefined;
  who.replaceChildren(
    el("span", { class: "visually-hidden" }, "Signed in as "),
    el("span", { id: "who-name", class: "who-name" }, name ?? "unknown caller"),
    " ",
    // Until /v1/me answers, say nothing about the role rather than "no role".
    me ? el("span", { id: "who-role", class: `role role-${role ?? "none"}` }, role ?? "no role") : "",
  );
}

/**
 * Shows a screen: leaves the old one, records its route in the history (so reload and Back work), marks the nav.
 * `replace`: the route stands for the one in the address bar (a tenant alias resolved), not a new step.
 */
function go(route: string, section: Section, draw: () => (() => void) | void, replace = false): void {
  leave?.();
  leave = undefined;
  if (location.hash !== route) {
    if (replace) history.replaceState(null, "", route);
    else history.pushState(null, "", route);
  }
  shown = route;
  drawShell(section);
  leave = draw() ?? undefined;
}

/** Shows a screen without touching the address bar (sign-in, loading who you are). */
function interim(draw: () => (() => void) | void): void {
  leave?.();
  leave = undefined;
  shown = "";
  drawShell(undefined);
  leave = draw() ?? undefined;
}

const enc = encodeURIComponent;

/** Set while a route names a tenant by a name that is not its canonical one (see withTenant). */
let replaceNext = false;

function goTenant(route: string, section: Section, draw: () => (() => void) | void): void {
  const replace = replaceNext;
  replaceNext = false;
  go(route, section, draw, replace);
}

const nav: Nav = {
  signIn: (message) => showSignIn(message),
  tenants: () => go("#/tenants", "tenants", () => tenantsScreen(root, nav)),
  users: (tenant) => goTenant(`#/tenants/${enc(tenant.tenant)}/users`, "tenants", () => usersScreen(root, nav, tenant)),
  runs: () => go("#/runs", "runs", () => runsScreen(root, nav)),
  run: (runId) => go(`#/runs/${enc(runId)}`, "runs", () => runScreen(root, nav, runId)),
  audit: () => go("#/audit", "audit", () => auditScreen(root, nav)),
  posture: (tenant) => goTenant(tenant ? `#/posture/${enc(tenant.tenant)}` : "#/posture", "posture", () => postureScreen(root, nav, tenant)),
};

/** The sign-in screen, remembering which screen was asked for (a deep link, or the one a 401 interrupted). */
function showSignIn(message?: string, notice?: string): void {
  const wanted = shown || (location.hash.startsWith("#/") ? location.hash : "");
  interim(() => signInScreen(root, (route) => signedIn(route), message, wanted, notice));
}

/** A screen that needs a tenant by name (a reload of #/tenants/<t>/users): look it up among the caller's tenants. */
function withTenant(route: string, section: Section, name: string, open: (tenant: Tenant) => void): void {
  go(route, section, () => {
    const controller = new AbortController();
    const status = el("p", { role: "status" }, `Looking up tenant ${name}…`);
    show(root, el("h1", {}, name), status);
    listTenants(controller.signal)
      .then(({ tenants }) => {
        if (controller.signal.aborted) return;
        const wanted = name.toLowerCase();
        const tenant = tenants.find((t) => t.tenant.toLowerCase() === wanted || t.names.some((n) => n.toLowerCase() === wanted));
        if (tenant) {
          replaceNext = true;
          return open(tenant);
        }
        status.textContent = "";
        root.append(el("p", { class: "error", role: "alert" }, `Tenant ${name} is not among the tenants you may see. `, el("a", { href: "#/tenants" }, "All tenants")));
      })
      .catch((e: unknown) => {
        if (controller.signal.aborted) return;
        status.textContent = "";
        root.append(el("p", { class: "error", role: "alert" }, `Could not look up tenant ${name}: ${describeError(e)}`));
      });
    return () => controller.abort();
  });
}

/** Opens the screen of a hash route; unknown routes open the tenants overview. */
function route(hash: string): void {
  const parts = hash.replace(/^#\/?/, "").split("/").map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [first, second, third] = parts;
  if (first === "tenants" && second && third === "users") return withTenant(hash, "tenants", second, (t) => nav.users(t));
  if (first === "runs" && second) return nav.run(second);
  if (first === "runs") return nav.runs();
  if (first === "audit") return nav.audit();
  if (first === "posture" && second) return withTenant(hash, "posture", second, (t) => nav.posture(t));
  if (first === "posture") return nav.posture();
  // No route (or an unknown one) stands for the overview: replaced, so Back does not land here and bounce.
  go("#/tenants", "tenants", () => tenantsScreen(root, nav), true);
}

/** After any sign-in: who is this (GET /v1/me), then the screen asked for. */
function signedIn(wanted: string): void {
  interim(() => {
    const controller = new AbortController();
    show(root, el("h1", {}, "Signing in…"), el("p", { role: "status" }, "Loading who you are…"));
    getMe(controller.signal)
      .then((me) => {
        if (controller.signal.aborted) return;
        setCurrentUser(me);
        route(wanted);
      })
      .catch((e: unknown) => {
        if (controller.signal.aborted) return;
        // A 401 was already handled (back to sign-in). A server without /v1/me: carry on without a name.
        if (e instanceof ApiError && e.status === 401) return;
        if (e instanceof ApiError && e.status === 404) return route(wanted);
        const words = `Signed in, but ${describeError(e)}`;
        session.clear();
        showSignIn(words);
      });
    return () => controller.abort();
  });
}

setUnauthorizedHandler((error) => {
  // Several screens' calls may fail at once: the first one signs out.
  if (session.bearer === undefined) return;
  // The words name the credential (a key, a person's sign-in): say them before forgetting it.
  const reason = signedOutReason(error);
  session.clear();
  showSignIn(reason);
});

signOut.addEventListener("click", () => {
  // Stop the screen's requests first: none may go out without the credential while the page leaves.
  leave?.();
  leave = undefined;
  const entra = session.entra;
  session.clear();
  shown = "";
  const away = entra ? logoutUrl(entra) : undefined;
  if (away) {
    // Microsoft ends its session too, then sends the browser back here.
    sessionStorage.setItem(SIGNED_OUT_ITEM, "1");
    location.assign(away);
    return;
  }
  history.replaceState(null, "", location.pathname);
  showSignIn(undefined, "You are signed out.");
});

skipLink.addEventListener("click", (event) => {
  // The link's own #app would be taken for a route.
  event.preventDefault();
  (root.querySelector<HTMLElement>("h1") ?? root).focus();
});

function fromHistory(): void {
  if (location.hash === shown) return;
  if (session.bearer === undefined) return showSignIn();
  route(location.hash);
}
window.addEventListener("hashchange", fromHistory);
window.addEventListener("popstate", fromHistory);

async function start(): Promise<void> {
  const query = new URLSearchParams(location.search);
  if (isEntraReturn(query)) {
    // The code is single use and must not stay in the address bar or the history.
    history.replaceState(null, "", location.pathname);
    show(root, el("h1", {}, "Signing in…"), el("p", { role: "status" }, "Finishing the sign-in with Microsoft…"));
    try {
      const entra = (await getDashboardConfig()).signIn.entra;
      if (!entra) throw new EntraSignInError("This server no longer offers sign-in with Microsoft: use an API key.");
      const wanted = await completeEntraSignIn(entra, query);
      signedIn(wanted);
    } catch (e) {
      session.clear();
      showSignIn(e instanceof EntraSignInError ? e.message : `Sign-in with Microsoft failed: ${describeError(e)}`);
    }
    return;
  }
  if (sessionStorage.getItem(SIGNED_OUT_ITEM)) {
    sessionStorage.removeItem(SIGNED_OUT_ITEM);
    return showSignIn(undefined, "You are signed out of mfactl and of Microsoft.");
  }
  const entra = session.entra;
  if (entra && entra.expiresAt <= Date.now()) {
    session.clear();
    return showSignIn("Your sign-in has expired: sign in again.");
  }
  if (session.bearer) signedIn(location.hash);
  else showSignIn();
}

void start();
