/**
 * Signing in to the dashboard with Microsoft Entra ID, in Chromium, end to end: the dashboard's "Sign in with
 * Microsoft", the emulator's real authorize page (a wrong password refused there, in its words), the code
 * redeemed by the page with PKCE, and the person signed in with their name and role in the header; the tenants
 * overview with its charts (numbers as the directory has them); sign out through the emulator's end-session
 * endpoint; a person with no role told so in words; an expired token; a tenant whose posture fails; Entra's own
 * errors, a spent code and a forged answer in words. Every screen passes axe-core at 1280 px and has no
 * horizontal overflow at 390 px, with a screenshot in artifacts/dashboard/.
 * The CSP holds: no violations, no requests but to the server and the emulator's authority.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "@mfactl/store";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumAvailable, launchChromium, requireChromium } from "../../render/src/chromium.test-helper.js";
import { expectAccessible, expectNoHorizontalOverflow, focusedId, openDashboardPage, screenshot, type DashboardPage } from "./dashboard-browser.test-helper.js";
import { DASHBOARD_DIST } from "./routes/dashboard.js";
import { startHarness, type Harness } from "./server-harness.test-helper.js";

requireChromium("dashboard Entra sign-in browser test");

interface UserRow {
  userPrincipalName: string;
  perUserMfaState: string;
}

describe.runIf(chromiumAvailable)("dashboard in Chromium: sign in with Microsoft Entra ID", () => {
  let dir: string;
  let h: Harness;
  let browser: Browser;
  /** The dashboard app's tenant, where the seeded people (and their app roles on the mfactl API) are. */
  let home: { id: string; domain: string };

  beforeAll(async () => {
    if (!existsSync(join(DASHBOARD_DIST, "index.html"))) throw new Error(`${DASHBOARD_DIST} has no index.html: run npm run build -w @mfactl/dashboard first.`);
    dir = await mkdtemp(join(tmpdir(), "mfactl-dashboard-signin-"));
    h = await startHarness({ openStore: () => openSqliteStore(join(dir, "mfactl.db")), users: 40, tenants: 2 });
    home = h.emu.tenants.find((t) => t.id === h.emu.dashboardApp.tenantId)!;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const open = (options: { viewport?: { width: number; height: number }; expectedConsole?: RegExp } = {}) =>
    openDashboardPage(browser, h.url, { allowOrigins: [h.emu.authorityHost], ...options });

  /** On the emulator's sign-in page: type the UPN and password by keyboard, Enter. */
  async function typeCredentials(page: Page, upn: string, password: string): Promise<void> {
    await page.waitForURL((u) => u.toString().startsWith(h.emu.authorityHost));
    await page.locator("#login").focus();
    await page.keyboard.press("Control+A");
    await page.keyboard.type(upn);
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("passwd");
    await page.keyboard.type(password);
    await page.keyboard.press("Enter");
  }

  /** From the dashboard's sign-in screen, by keyboard: Sign in with Microsoft, then the emulator's page. */
  async function signInAs(page: Page, upn: string, password = h.emu.userPassword(home.id, upn)): Promise<void> {
    await expect.poll(() => focusedId(page)).toBe("sign-in-entra");
    await page.keyboard.press("Enter");
    await typeCredentials(page, upn, password);
  }

  /** Every user's state through the API, all pages. */
  async function statesOf(tenant: string, auth: string): Promise<Record<string, number>> {
    const tally: Record<string, number> = {};
    let cursor: string | undefined;
    do {
      const res = await h.call(`/v1/tenants/${tenant}/users?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { auth });
      expect(res.status).toBe(200);
      const body = res.body as { users: UserRow[]; nextCursor?: string };
      for (const u of body.users) tally[u.perUserMfaState] = (tally[u.perUserMfaState] ?? 0) + 1;
      cursor = body.nextCursor;
    } while (cursor);
    return tally;
  }

  /** The legend table of a chart: label -> count as shown. */
  async function chartNumbers(page: Page, id: string): Promise<Record<string, number>> {
    const rows = await page.evaluate<[string, string][]>(`[...document.querySelectorAll("#${id} tbody tr")].map((tr) => [tr.cells[0].textContent.trim(), tr.cells[1].textContent.trim()])`);
    return Object.fromEntries(rows.map(([label, n]) => [label, Number(n.replace(/,/g, ""))]));
  }

  async function expectClean(d: DashboardPage): Promise<void> {
    expect(d.foreign).toEqual([]);
    expect(d.errors).toEqual([]);
    expect(await d.cspViolations()).toEqual([]);
  }

  it("signs an operator in with Microsoft by keyboard, shows the tenants with their charts, and signs out", async () => {
    const d = await open();
    const { page } = d;
    try {
      const alex = `alex.wilber@${home.domain}`;
      await page.goto(h.url);
      await expect.poll(() => focusedId(page)).toBe("sign-in-entra");
      // The API key stays the second way.
      expect(await page.locator("label[for=api-key]").textContent()).toBe("API key");
      await expectAccessible(page, "sign-in");
      await screenshot(page, "sign-in");

      // A wrong password: the emulator's page says so, in Entra's words, and nothing reaches the dashboard.
      await signInAs(page, alex, "not-the-password");
      await expect.poll(() => page.locator("#signin-error").textContent()).toContain("AADSTS50126");
      expect(page.url().startsWith(h.emu.authorityHost)).toBe(true);

      // The right one: back on the dashboard, signed in as Alex, an operator (the MfaState.ReadWrite app role).
      await typeCredentials(page, alex, h.emu.userPassword(home.id, alex));
      await page.waitForURL((u) => u.toString().startsWith(h.url));
      await expect.poll(() => page.locator("#who-role").textContent(), { timeout: 15_000 }).toBe("operator");
      expect(await page.locator("#who-name").textContent()).toContain("Alex Wilber");
      // The code is gone from the address bar; the one-time PKCE values from the tab.
      expect(new URL(page.url()).search).toBe("");
      expect(await page.evaluate("sessionStorage.getItem('mfactl.oidc')")).toBeNull();
      const stored = JSON.parse((await page.evaluate<string>("sessionStorage.getItem('mfactl.entra')")) ?? "{}") as { accessToken?: string };
      expect(stored.accessToken?.split(".")).toHaveLength(3);
      // The server takes the token for Alex, as the audit log will name them.
      const me = await h.call("/v1/me", { auth: stored.accessToken! });
      expect(me.body).toMatchObject({ actor: `user:${alex}`, kind: "user", role: "operator" });

      // The tenants overview: a card each, and the nav marks where we are.
      await expect.poll(() => page.locator("#tenants > li").count()).toBe(2);
      expect(await page.locator("#main-nav a[aria-current=page]").textContent()).toBe("Tenants");
      await expect.poll(() => page.locator("#posture-refresh").isVisible(), { timeout: 30_000 }).toBe(true);
      expect(await page.locator("#posture-status").textContent()).toMatch(/^Posture as of .+: 80 users in 2 tenants\.$/);
      // The state chart says what the directory holds, user for user.
      for (const t of h.emu.tenants) {
        const id = t.domain.toLowerCase().replace(/[^a-z0-9]+/g, "-");
        const shown = await chartNumbers(page, `chart-state-${id}`);
        const actual = await statesOf(t.domain, stored.accessToken!);
        for (const state of ["enforced", "enabled", "disabled", "unknown"]) expect(shown[state], `${t.domain} ${state}`).toBe(actual[state] ?? 0);
        const protection = await chartNumbers(page, `chart-protection-${id}`);
        expect(Object.values(protection).reduce((a, b) => a + b, 0)).toBe(t.userCount);
        // The bar's segments are sized through the CSSOM: widths add up to the whole.
        const widths = await page.evaluate<number[]>(`[...document.querySelectorAll("#chart-state-${id} .seg")].map((s) => parseFloat(s.style.width))`);
        expect(widths.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 5);
      }
      await expectAccessible(page, "tenants overview");
      await screenshot(page, "tenants-overview");

      // Coming back to the overview does not read every user again: the session keeps the reading.
      const asOf = await page.locator("#posture-status").textContent();
      await page.locator("#main-nav a[href='#/runs']").focus();
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("h1").textContent()).toBe("Runs");
      await page.goBack();
      await expect.poll(() => page.locator("#posture-status").textContent()).toBe(asOf);
      expect(await page.locator("#posture-progress").isHidden()).toBe(true);

      // A reload keeps the session and the screen.
      await page.goto(`${h.url}/#/runs`);
      await expect.poll(() => page.locator("h1").textContent()).toBe("Runs");
      expect(await page.locator("#who-name").textContent()).toContain("Alex Wilber");
      // "Skip to content" is the first stop of Tab and lands on the screen's heading, past the header.
      await page.evaluate("document.activeElement && document.activeElement.blur()");
      await page.keyboard.press("Tab");
      expect(await focusedId(page)).toBe("skip-link");
      expect(await page.locator("#skip-link").isVisible()).toBe(true);
      await page.keyboard.press("Enter");
      expect(await focusedId(page)).toBe("Runs");
      expect(new URL(page.url()).hash).toBe("#/runs");

      // A phone's width: nothing sideways, on the overview and the sign-in screen alike.
      await page.goto(`${h.url}/#/tenants`);
      await expect.poll(() => page.locator("#tenants .chart").count()).toBe(4);
      await page.setViewportSize({ width: 390, height: 844 });
      await expectNoHorizontalOverflow(page, "tenants overview");
      await screenshot(page, "tenants-overview-390");
      await page.setViewportSize({ width: 1280, height: 900 });

      // Sign out by keyboard: through the emulator's end-session endpoint and back, signed out, the tab emptied.
      await page.locator("#sign-out").focus();
      await page.keyboard.press("Enter");
      await page.waitForURL((u) => u.toString().startsWith(h.url) && !u.toString().includes("logout"));
      await expect.poll(() => page.locator("#sign-in-status").textContent()).toContain("You are signed out");
      expect(await page.locator("#sign-out").isHidden()).toBe(true);
      expect(await page.evaluate("Object.keys(sessionStorage).filter((k) => k.startsWith('mfactl.'))")).toEqual([]);
      await page.setViewportSize({ width: 390, height: 844 });
      await expectNoHorizontalOverflow(page, "sign-in");
      await screenshot(page, "sign-in-390");
      await expectClean(d);
    } finally {
      await d.close();
    }
  }, 180_000);

  it("tells a person with no mfactl role why nothing is shown (403), in words", async () => {
    // Chromium logs each refused request as a console error: those are the point here.
    const d = await open({ expectedConsole: /status of 403/ });
    const { page } = d;
    try {
      const upn = `admin@${home.domain}`;
      await page.goto(h.url);
      await signInAs(page, upn);
      await page.waitForURL((u) => u.toString().startsWith(h.url));
      await expect.poll(() => page.locator("#who-role").textContent(), { timeout: 15_000 }).toBe("no role");
      const refusal = page.locator("#tenants-error");
      await expect.poll(() => refusal.textContent()).toContain("Could not list the tenants: You have no mfactl role yet: an administrator must give you reader, operator or admin (InsufficientScope:");
      expect(await refusal.textContent()).toContain("Request id ");
      await expectAccessible(page, "no role");
      await screenshot(page, "sign-in-no-role");
      await expectClean(d);
    } finally {
      await d.close();
    }
  }, 120_000);

  it("shows a tenant whose posture could not be read with the reason on its card, and the card still works", async () => {
    const d = await open();
    const { page } = d;
    const other = h.emu.tenants.find((t) => t.id !== home.id)!;
    try {
      const key = await h.key(["read"], { name: "posture-fails" });
      // Graph refuses the other tenant's user list for the posture job (403: not retried).
      h.emu.admin.addFaults([{ tenant: other.id, method: "GET", pathIncludes: "/users", status: 403, count: 1000 }]);
      await page.goto(h.url);
      await expect.poll(() => focusedId(page)).toBe("sign-in-entra");
      await page.keyboard.press("Tab");
      await page.keyboard.type(key);
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("#posture-refresh").isVisible(), { timeout: 30_000 }).toBe(true);
      expect(await page.locator("#posture-status").textContent()).toMatch(/^Posture as of .+: 40 users in 2 tenants; 1 could not be read\.$/);
      const card = page.locator("#tenants > li", { hasText: other.domain });
      expect(await card.locator(".charts .error").textContent()).toMatch(/^Posture could not be read: .+ \(\w+(; request id \S+)?\)\.$/);
      expect(await card.locator(".chart").count()).toBe(0);
      // The good tenant has its charts.
      expect(await page.locator("#tenants > li", { hasText: home.domain }).locator(".chart").count()).toBe(2);
      await expectAccessible(page, "tenants overview, a tenant failed");
      await screenshot(page, "tenants-overview-failed");
      h.emu.admin.clearFaults();
      // The card still opens the tenant's users.
      await card.locator("button.tenant").focus();
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("h1").textContent()).toBe(other.domain);
      expect(new URL(page.url()).hash).toBe(`#/tenants/${other.domain}/users`);
      await expectClean(d);
    } finally {
      h.emu.admin.clearFaults();
      await d.close();
    }
  }, 120_000);

  it("sends a person whose token expired back to sign-in, saying so", async () => {
    // Chromium logs the refused request; that one is the point.
    const d = await open({ expectedConsole: /status of 401/ });
    const { page } = d;
    try {
      // A token like Alex's real one, expired an hour ago (beyond any clock skew): the server says TokenExpired.
      const real = await h.personToken(`alex.wilber@${home.domain}`);
      const { exp: _exp, iat: _iat, nbf: _nbf, ...claims } = JSON.parse(Buffer.from(real.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
      const expired = await h.emu.mintToken({ tenant: home.id, clientId: h.emu.dashboardApp.clientId, audience: String(claims["aud"]), lifetimeSeconds: -3600, extraClaims: claims });
      expect(((await h.call("/v1/me", { auth: expired.accessToken })).body as { error: { code: string } }).error.code).toBe("TokenExpired");

      // The tab still believes the token good for an hour: the server's 401 decides.
      await page.goto(h.url);
      await expect.poll(() => focusedId(page)).toBe("sign-in-entra");
      await page.evaluate(`sessionStorage.setItem("mfactl.entra", JSON.stringify({ accessToken: ${JSON.stringify(expired.accessToken)}, expiresAt: Date.now() + 3600000, name: "Alex Wilber" }))`);
      await page.goto(`${h.url}/#/audit`);
      await expect.poll(() => page.locator("#sign-in-error").textContent()).toBe("Your sign-in has expired: sign in again.");
      expect(await page.evaluate("sessionStorage.getItem('mfactl.entra')")).toBeNull();
      expect(await page.locator("#main-nav").isHidden()).toBe(true);

      // Signing in again returns to the screen that was asked for.
      await signInAs(page, `alex.wilber@${home.domain}`);
      await page.waitForURL((u) => u.toString().startsWith(h.url));
      await expect.poll(() => page.locator("h1").textContent(), { timeout: 15_000 }).toBe("Audit log");
      expect(new URL(page.url()).hash).toBe("#/audit");
      await expectClean(d);
    } finally {
      await d.close();
    }
  }, 120_000);

  it("puts Entra's errors, a spent code and a forged answer into words", async () => {
    // The token endpoint's 400 for the spent code is logged by Chromium as a failed resource: expected.
    const d = await open({ expectedConsole: /status of 400/ });
    const { page } = d;
    try {
      // An answer this tab did not ask for (no matching state): refused before anything is redeemed.
      await page.goto(`${h.url}/?code=forged&state=not-ours`);
      await expect.poll(() => page.locator("#sign-in-error").textContent()).toContain("This sign-in answer is not the one this tab asked for");
      expect(new URL(page.url()).search).toBe("");

      // Entra refusing (a person cancelling, consent denied): its error and description, in words.
      await expect.poll(() => focusedId(page)).toBe("sign-in-entra");
      await page.keyboard.press("Enter");
      await page.waitForURL((u) => u.toString().startsWith(h.emu.authorityHost));
      const state = new URL(page.url()).searchParams.get("state")!;
      const description = "AADSTS65004: User declined to consent to access the app.";
      await page.goto(`${h.url}/?${new URLSearchParams({ error: "access_denied", error_description: description, state }).toString()}`);
      await expect.poll(() => page.locator("#sign-in-error").textContent()).toBe(`Microsoft sign-in was cancelled or refused. Microsoft said: ${description}`);
      await expectAccessible(page, "sign-in error");
      await screenshot(page, "sign-in-error");

      // A code that does not redeem (here: one already spent by an earlier sign-in): the token endpoint's words.
      const codes: string[] = [];
      page.on("request", (r) => {
        const code = r.url().startsWith(`${h.url}/?`) ? new URL(r.url()).searchParams.get("code") : null;
        if (code) codes.push(code);
      });
      await expect.poll(() => focusedId(page)).toBe("sign-in-entra");
      await signInAs(page, `megan.bowen@${home.domain}`);
      await expect.poll(() => page.locator("#who-role").textContent(), { timeout: 15_000 }).toBe("reader");
      expect(codes).toHaveLength(1);
      await page.locator("#sign-out").focus();
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("#sign-in-status").textContent()).toContain("You are signed out");
      await expect.poll(() => focusedId(page)).toBe("sign-in-entra");
      await page.keyboard.press("Enter");
      await page.waitForURL((u) => u.toString().startsWith(h.emu.authorityHost));
      const again = new URL(page.url()).searchParams.get("state")!;
      await page.goto(`${h.url}/?${new URLSearchParams({ code: codes[0]!, state: again }).toString()}`);
      await expect.poll(() => page.locator("#sign-in-error").textContent()).toMatch(/^Microsoft did not accept the sign-in code: sign in again\. Microsoft said: AADSTS54005: OAuth2 Authorization code was already redeemed/);
      expect(await page.evaluate("sessionStorage.getItem('mfactl.entra')")).toBeNull();
      expect(await page.locator("#main-nav").isHidden()).toBe(true);
      await expectClean(d);
    } finally {
      await d.close();
    }
  }, 120_000);
});
