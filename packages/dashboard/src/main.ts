import "./style.css";
import { session, type Tenant } from "./api.js";
import { auditScreen } from "./audit.js";
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
let leave: (() => void) | undefined;

function go(draw: () => (() => void) | void): void {
  leave?.();
  signOut.hidden = session.bearer === undefined;
  leave = draw() ?? undefined;
}

const nav: Nav = {
  signIn: (message) => go(() => signInScreen(root, nav, message)),
  tenants: () => go(() => tenantsScreen(root, nav)),
  users: (tenant) => go(() => usersScreen(root, nav, tenant)),
  runs: () => go(() => runsScreen(root, nav)),
  run: (runId) => go(() => runScreen(root, nav, runId)),
  audit: () => go(() => auditScreen(root, nav)),
  posture: (tenant) => go(() => postureScreen(root, nav, tenant)),
};

signOut.addEventListener("click", () => {
  session.key = undefined;
  nav.signIn();
});

if (session.bearer) nav.tenants();
else nav.signIn();
