/**
 * What every dashboard browser test needs: a page on the server under test that records what must
 * not happen (script errors, CSP violations, requests to other hosts than the server and the
 * sign-in authority), an axe-core check that fails on serious or critical violations, and
 * screenshots in artifacts/dashboard/ (the CI artifact path, docs/dashboard.md).
 */
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { expect } from "vitest";

const root = fileURLToPath(new URL("../../../", import.meta.url));
/** Screenshots of the dashboard's screens, kept by CI as artifacts. */
export const SCREENSHOT_DIR = join(root, "artifacts/dashboard");

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface DashboardPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught script errors and console errors (except those `expectedConsole` allows). */
  errors: string[];
  /** CSP violations the page reported. */
  cspViolations(): Promise<string[]>;
  /** Requests to hosts other than the allowed origins. */
  foreign: string[];
  close(): Promise<void>;
}

export interface OpenOptions {
  viewport?: { width: number; height: number };
  /** Origins the page may talk to besides the server's (the emulator's sign-in authority). */
  allowOrigins?: string[];
  /** Console errors matching this are expected (a deliberately refused request logs one). */
  expectedConsole?: RegExp;
}

/** A fresh browser context (its own sessionStorage) with the watchers installed; navigate it yourself. */
export async function openDashboardPage(browser: Browser, serverUrl: string, options: OpenOptions = {}): Promise<DashboardPage> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const allowed = [new URL(serverUrl).origin, ...(options.allowOrigins ?? []).map((o) => new URL(o).origin)];
  const foreign: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith("data:") && !allowed.some((o) => url.startsWith(o))) foreign.push(url);
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && !(options.expectedConsole?.test(m.text()) ?? false)) errors.push(m.text());
  });
  await page.addInitScript({ content: `window.cspViolations=[];document.addEventListener("securitypolicyviolation",function(e){window.cspViolations.push(e.violatedDirective+" "+e.blockedURI);});` });
  return {
    context,
    page,
    errors,
    foreign,
    cspViolations: () => page.evaluate<string[]>("window.cspViolations || []"),
    close: () => context.close(),
  };
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * Runs axe-core on the page as it is now (WCAG 2.x A and AA rules and best practices) and returns
 * the serious and critical violations. axe is evaluated through the DevTools protocol, which the
 * page's CSP does not govern, so the dashboard's policy stays as strict as in production.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  const loaded = await page.evaluate<boolean>("typeof window.axe === 'object'");
  if (!loaded) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate<AxeViolation[]>(`
    window.axe.run(document, { resultTypes: ["violations"] }).then(function (r) {
      return r.violations.map(function (v) {
        return { id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(function (n) { return n.target.join(" "); }) };
      });
    })`);
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Fails with axe's words when the screen has a serious or critical violation. */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  const violations = await axeViolations(page);
  expect(violations, `${screen}: ${violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).join(", ")}`).join("; ")}`).toEqual([]);
}

/** artifacts/dashboard/<name>.png, full page. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** No horizontal overflow: the page is no wider than the viewport. */
export async function expectNoHorizontalOverflow(page: Page, screen: string): Promise<void> {
  const widths = await page.evaluate<{ scroll: number; client: number }>("({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })");
  expect(widths.scroll, `${screen}: page ${widths.scroll} px wide in a ${widths.client} px viewport`).toBeLessThanOrEqual(widths.client);
}

/** The id (or text) of the focused element. */
export function focusedId(page: Page): Promise<string> {
  return page.evaluate<string>("document.activeElement ? document.activeElement.id || (document.activeElement.textContent || '').trim() : ''");
}
