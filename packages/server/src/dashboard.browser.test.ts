/**
 * The dashboard in a real browser, against the real server: Debian's Chromium (/usr/bin/chromium)
 * driven by playwright-core, the server harness (emulator, SQLite store) serving the built
 * dashboard at /. Signing in with an API key by keyboard (a wrong key first: refused in words), the
 * tenants, a tenant's users page by page from the server, search, the state filter, Next and
 * Previous, no horizontal overflow at 390 px, the strict CSP held (no violations, no other hosts),
 * and a screenshot in artifacts/dashboard/users-paging.png. Without /usr/bin/chromium the browser test is
 * skipped (with the reason printed), unless MFACTL_E2E=1 (CI), where that fails.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSqliteStore } from "@mfactl/store";
import Fastify from "fastify";
import { type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ZodApp } from "./app.js";
import type { ServerContext } from "./context.js";
import { DASHBOARD_CSP, DASHBOARD_DIST, dashboardCsp, dashboardRoutes, type EntraSignIn } from "./routes/dashboard.js";
import { startHarness, type Harness } from "./server-harness.test-helper.js";
import { chromiumAvailable, launchChromium, requireChromium } from "../../render/src/chromium.test-helper.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const SCREENSHOT = join(root, "artifacts/dashboard/users-paging.png");
/** The dashboard's page size (packages/dashboard/src/users.ts). */
const PAGE_SIZE = 25;

interface Row {
  userPrincipalName: string;
  displayName: string;
  perUserMfaState: string;
}
interface UsersPage {
  users: Row[];
  nextCursor?: string;
}

requireChromium("dashboard browser test");

describe("dashboard routes without a build", () => {
  it("answers / with a page saying to run the build, under the dashboard's CSP", async () => {
    const dir = await mkdtemp(join(tmpdir(), "mfactl-dashboard-missing-"));
    const app = Fastify();
    try {
      dashboardRoutes(app as unknown as ZodApp, {} as ServerContext, join(dir, "dist"));
      const page = await app.inject({ url: "/" });
      expect(page.statusCode).toBe(503);
      expect(page.headers["content-type"]).toContain("text/html");
      expect(page.headers["content-security-policy"]).toBe(DASHBOARD_CSP);
      expect(page.body).toContain("npm run build -w @mfactl/dashboard");
      expect((await app.inject({ url: "/assets/index.js" })).statusCode).toBe(404);
      expect((await app.inject({ url: "/assets/..%2Fpackage.json" })).statusCode).toBe(404);
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.runIf(chromiumAvailable)("dashboard in Chromium: sign in, tenants, users with paging, search and state", () => {
  let dir: string;
  let h: Harness;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(DASHBOARD_DIST, "index.html"))) throw new Error(`${DASHBOARD_DIST} has no index.html: run npm run build -w @mfactl/dashboard first (the root test script does).`);
    dir = await mkdtemp(join(tmpdir(), "mfactl-dashboard-"));
    h = await startHarness({ openStore: () => openSqliteStore(join(dir, "mfactl.db")), users: 60, tenants: 2 });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The rows shown once the table has loaded: UPN, display name, state. */
  async function shownRows(page: Page): Promise<string[][]> {
    await expect.poll(() => page.locator("#users").getAttribute("aria-busy")).toBe("false");
    // The columns shown per user (the first cell is the row's selection checkbox).
    return page.evaluate<string[][]>(`[...document.querySelectorAll("#users tbody tr")].map((tr) => [...tr.querySelectorAll("td.upn, td.name, td.state-cell")].map((td) => td.textContent))`);
  }
  const asRows = (users: Row[]) => users.map((u) => [u.userPrincipalName, u.displayName, u.perUserMfaState]);
  const focusedId = (page: Page) => page.evaluate<string>("document.activeElement ? document.activeElement.id || document.activeElement.textContent || '' : ''");
  async function api(path: string, key: string): Promise<UsersPage> {
    const res = await h.call(path, { auth: key });
    expect(res.status).toBe(200);
    return res.body as UsersPage;
  }

  it("is usable by keyboard alone and shows the server's pages", async () => {
    const key = await h.key(["read"], { name: "dashboard" });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const origin = new URL(h.url).origin;
    const foreign: string[] = [];
    const errors: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) foreign.push(r.url());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      // The wrong key's 401 is logged by Chromium as a failed resource; that one is expected.
      if (m.type() === "error" && !m.text().includes("401")) errors.push(m.text());
    });
    await page.addInitScript({ content: `window.cspViolations=[];document.addEventListener("securitypolicyviolation",function(e){window.cspViolations.push(e.violatedDirective+" "+e.blockedURI);});` });

    const res = await page.goto(h.url);
    expect(res?.status()).toBe(200);
    // With Entra sign-in configured (the harness's default), the authority may be fetched too: nothing else.
    const config = (await h.call("/v1/dashboard/config")).body as { signIn: { entra?: EntraSignIn } };
    expect(config.signIn.entra).toBeDefined();
    expect(res?.headers()["content-security-policy"]).toBe(dashboardCsp(config.signIn.entra));

    // Sign in: "Sign in with Microsoft" has focus; Tab reaches the API key, the second way. A wrong key is
    // refused in words, then the right one.
    await expect.poll(() => focusedId(page)).toBe("sign-in-entra");
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("api-key");
    expect(await page.locator("label[for=api-key]").textContent()).toBe("API key");
    await page.keyboard.type("mfak_not-a-real-key");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#sign-in-error").textContent()).toContain("Sign-in failed: The key was refused (InvalidApiKey");
    expect(await focusedId(page)).toBe("api-key");
    await page.keyboard.press("Control+A");
    await page.keyboard.type(key);
    await page.keyboard.press("Enter");

    // Tenants: once the posture is read, Tab from the heading to Refresh, then the first tenant; Enter opens it.
    await expect.poll(() => page.locator("#tenants button").count()).toBe(2);
    expect(await page.evaluate("sessionStorage.getItem('mfactl.apiKey')")).toBe(key);
    await expect.poll(() => page.locator("#posture-refresh").isVisible(), { timeout: 30_000 }).toBe(true);
    const tenant = h.emu.tenants[0]!.domain;
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("posture-refresh");
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe(tenant);
    // The focus ring is visible.
    expect(await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")).not.toBe("none");
    await page.keyboard.press("Enter");

    // The first page is the API's first page.
    await expect.poll(() => page.locator("h1").textContent()).toBe(tenant);
    const first = await api(`/v1/tenants/${tenant}/users?limit=${PAGE_SIZE}`, key);
    expect(first.users.length).toBe(PAGE_SIZE);
    expect(first.nextCursor).toBeDefined();
    expect(await shownRows(page)).toEqual(asRows(first.users));
    expect(await page.locator("#users-status").textContent()).toBe(`Page 1: users 1–${PAGE_SIZE}.`);

    // Search: Tab from the heading to the search box, type a prefix; only matching rows.
    const prefix = first.users[1]!.userPrincipalName.slice(0, 2);
    const searched = await api(`/v1/tenants/${tenant}/users?limit=${PAGE_SIZE}&search=${encodeURIComponent(prefix)}`, key);
    expect(searched.users.length).toBeGreaterThan(0);
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("users-search");
    await page.keyboard.type(prefix);
    await expect.poll(async () => JSON.stringify(await shownRows(page))).toBe(JSON.stringify(asRows(searched.users)));
    for (const [upn, name] of await shownRows(page)) expect(upn!.toLowerCase().startsWith(prefix.toLowerCase()) || name!.toLowerCase().startsWith(prefix.toLowerCase())).toBe(true);

    // State: clear the search, Tab to the state select, arrow down to "enforced"; only that state.
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Backspace");
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("users-state");
    const state = "enforced";
    const inState = await api(`/v1/tenants/${tenant}/users?limit=${PAGE_SIZE}&state=${state}`, key);
    expect(inState.users.length).toBeGreaterThan(0);
    for (let i = 0; i < 5 && (await page.locator("#users-state").inputValue()) !== state; i++) await page.keyboard.press("ArrowDown");
    expect(await page.locator("#users-state").inputValue()).toBe(state);
    await expect.poll(async () => JSON.stringify(await shownRows(page))).toBe(JSON.stringify(asRows(inState.users)));
    expect(new Set((await shownRows(page)).map((r) => r[2]))).toEqual(new Set([state]));

    // Back to all states; then Next and Previous by keyboard, against the API's cursor.
    await page.keyboard.press("Home");
    expect(await page.locator("#users-state").inputValue()).toBe("");
    await expect.poll(async () => JSON.stringify(await shownRows(page))).toBe(JSON.stringify(asRows(first.users)));
    await page.locator("#users-next").focus();
    await page.keyboard.press("Enter");
    const second = await api(`/v1/tenants/${tenant}/users?limit=${PAGE_SIZE}&cursor=${encodeURIComponent(first.nextCursor!)}`, key);
    await expect.poll(() => page.locator("#users-status").textContent()).toBe(`Page 2: users ${PAGE_SIZE + 1}–${2 * PAGE_SIZE}.`);
    expect(await shownRows(page)).toEqual(asRows(second.users));
    expect(await focusedId(page)).toBe("users-next");
    await page.keyboard.press("Shift+Tab");
    expect(await focusedId(page)).toBe("users-previous");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#users-status").textContent()).toBe(`Page 1: users 1–${PAGE_SIZE}.`);
    expect(await shownRows(page)).toEqual(asRows(first.users));
    // Page 1 has no Previous: focus moved to Next rather than being lost.
    expect(await page.locator("#users-previous").isDisabled()).toBe(true);
    expect(await focusedId(page)).toBe("users-next");

    // A phone's width: nothing wider than the viewport.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);

    expect(foreign).toEqual([]);
    expect(errors).toEqual([]);
    expect(await page.evaluate("window.cspViolations")).toEqual([]);

    await mkdir(join(root, "artifacts/dashboard"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`dashboard: screenshot in ${SCREENSHOT}`);
    await context.close();
  }, 120_000);
});
