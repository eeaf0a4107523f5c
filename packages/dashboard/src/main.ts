import "./style.css";
import { session, type Tenant } from "./api.js";
import { signInScreen } from "./sign-in.js";
import { tenantsScreen } from "./tenants.js";
import { usersScreen } from "./users.js";

/** Moves between the screens; each screen gets the root to draw into and this to leave it. */
export interface Nav {
  signIn(message?: string): void;
  tenants(): void;
  users(tenant: Tenant): void;
}

const root = document.getElementById("app") as HTMLElement;
const signOut = document.getElementById("sign-out") as HTMLButtonElement;
let leave: (() => void) | undefined;

function go(draw: () => (() => void) | void): void {
  leave?.();
  signOut.hidden = session.key === undefined;
  leave = draw() ?? undefined;
}

const nav: Nav = {
  signIn: (message) => go(() => signInScreen(root, nav, message)),
  tenants: () => go(() => tenantsScreen(root, nav)),
  users: (tenant) => go(() => usersScreen(root, nav, tenant)),
};

signOut.addEventListener("click", () => {
  session.key = undefined;
  nav.signIn();
});

if (session.key) nav.tenants();
else nav.signIn();
