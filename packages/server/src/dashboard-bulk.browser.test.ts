/**
 * The dashboard's users table and bulk flow in Chromium, against the real server (emulator, SQLite
 * store): sorting through the server, a selection kept across pages and searches, the plan preview
 * (counts, changes with warnings, protected accounts left out, the run-size cap), Apply with live
 * progress, the result, and what readers may not do. The whole flow is done once by keyboard alone
 * and checked against the emulator. Every screen passes axe-core (no serious or critical
 * violation), has no horizontal overflow at 390 px, and is kept as a screenshot in
 * artifacts/dashboard/. A second harness with 20,000 users checks the search results at that size.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "@mfactl/store";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DASHBOARD_DIST } from "./routes/dashboard.js";
import { startHarness, type Harness } from "./server-harness.test-helper.js";
import { expectAccessible, expectNoHorizontalOverflow, focusedId, openDashboardPage, screenshot, type DashboardPage } from "./dashboard-browser.test-helper.js";
import { chromiumAvailable, launchChromium, requireChromium } from "../../render/src/chromium.test-helper.js";

/** The dashboard's page size (packages/dashboard/src/users.ts). */
const PAGE_SIZE = 25;

interface Row {
  id: string;
  userPrincipalName: string;
  displayName: string;
  perUserMfaState: string;
}
interface UsersPage {
  users: Row[];
  nextCursor?: string;
}

requireChromium("dashboard bulk browser test");

/** Sign in with an API key by keyboard: the key field (after "Sign in with Microsoft" when offered), type, Enter. */
async function signIn(page: Page, url: string, key: string, route: string): Promise<void> {
  const res = await page.goto(`${url}/${route}`);
  expect(res?.status()).toBe(200);
  await page.locator("#api-key").waitFor();
  for (let i = 0; i < 8 && (await focusedId(page)) !== "api-key"; i++) await page.keyboard.press("Tab");
  expect(await focusedId(page)).toBe("api-key");
  await page.keyboard.type(key);
  await page.keyboard.press("Enter");
}

/** The rows once the table has loaded: UPN, display name, state. */
async function shownRows(page: Page): Promise<string[][]> {
  await expect.poll(() => page.locator("#users").getAttribute("aria-busy")).toBe("false");
  return page.evaluate<string[][]>(`[...document.querySelectorAll("#users tbody tr")].map((tr) => [...tr.querySelectorAll("td.upn, td.name, td.state-cell")].map((td) => td.textContent))`);
}
const asRows = (users: Row[]) => users.map((u) => [u.userPrincipalName, u.displayName, u.perUserMfaState]);
const rowsOf = async (page: Page) => JSON.stringify(await shownRows(page));
const heading = (page: Page) => page.locator("h1").textContent();
/** A property of the element `selector` finds (this package has no DOM types: the page evaluates a string). */
const prop = <T>(page: Page, selector: string, property: string) => page.evaluate<T>(`document.querySelector(${JSON.stringify(selector)}).${property}`);
/** The cells' text of a table's body rows. */
const cells = (page: Page, table: string) => page.evaluate<string[][]>(`[...document.querySelectorAll(${JSON.stringify(`${table} tbody tr`)})].map((tr) => [...tr.cells].map((c) => c.textContent || ""))`);

/** Each screen at a phone's width: nothing wider than the viewport; then back to 1280 px. */
async function atPhoneWidth(page: Page, screen: string, shot?: string): Promise<void> {
  await page.setViewportSize({ width: 390, height: 844 });
  await expectNoHorizontalOverflow(page, `${screen} at 390 px`);
  if (shot) await screenshot(page, shot);
  await page.setViewportSize({ width: 1280, height: 900 });
}

/** What every page must not have done: script errors, CSP violations, other hosts. */
async function expectClean(d: DashboardPage): Promise<void> {
  expect(d.errors).toEqual([]);
  expect(d.foreign).toEqual([]);
  expect(await d.cspViolations()).toEqual([]);
}

describe.runIf(chromiumAvailable)("dashboard in Chromium: users table and the bulk flow", () => {
  let dir: string;
  let h: Harness;
  let browser: Browser;
  let t0: string;
  let t1: string;
  let write: string;
  let read: string;

  beforeAll(async () => {
    if (!existsSync(join(DASHBOARD_DIST, "index.html"))) throw new Error(`${DASHBOARD_DIST} has no index.html: run npm run build -w @mfactl/dashboard first (the root test script does).`);
    dir = await mkdtemp(join(tmpdir(), "mfactl-dashboard-bulk-"));
    h = await startHarness({
      openStore: () => openSqliteStore(join(dir, "mfactl.db")),
      users: 60,
      tenants: 2,
      protectedList: (emu) => emu.tenants.map((t) => `breakglass@${t.domain}`),
      maxChanges: "5",
    });
    [t0, t1] = h.emu.tenants.map((t) => t.domain) as [string, string];
    write = await h.key(["write"], { name: "dashboard-operator" });
    read = await h.key(["read"], { name: "dashboard-reader" });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function api<T = UsersPage>(path: string, key = read): Promise<T> {
    const res = await h.call(path, { auth: key });
    expect(res.status, res.text).toBe(200);
    return res.body as T;
  }
  /** The accounts the server protects here: the listed break-glass account and the directory synchronisation accounts. */
  function protectedIds(tenant: string): Set<string> {
    const sync = h.emu.admin.listRoleAssignments(tenant).filter((a) => a.roleDisplayName === "Directory Synchronization Accounts").map((a) => a.principalId);
    return new Set([...sync, h.emu.admin.getUser(tenant, `breakglass@${tenant}`).id]);
  }
  /** The server's plan of these users (a plan job through the API), to compare the preview with. */
  async function planViaApi(tenant: string, state: string, users: string[]): Promise<{ items: { userPrincipalName: string; warnings: { message: string }[] }[] }> {
    const res = await h.call("/v1/jobs/plan", { method: "POST", auth: write, body: { tenants: [tenant], state, users } });
    expect(res.status, res.text).toBe(202);
    const job = await h.waitForJob((res.body as { jobId: string }).jobId, write);
    expect(job.status).toBe("succeeded");
    return api(`/v1/jobs/${job.jobId}/result`, write);
  }
  const states = (tenant: string) => new Map(h.emu.admin.listUsers(tenant).map((u) => [u.id, u.perUserMfaState as string]));

  it("sorts through the server: UPN ascending then descending, with the state filter too; the selection outlives searches", async () => {
    const d = await openDashboardPage(browser, h.url);
    const { page } = d;
    await signIn(page, h.url, read, `#/tenants/${t1}/users`);
    await expect.poll(() => heading(page)).toBe(t1);
    const unsorted = await api(`/v1/tenants/${t1}/users?limit=${PAGE_SIZE}`);
    expect(await shownRows(page)).toEqual(asRows(unsorted.users));
    expect(await page.locator("#users th[aria-sort]").evaluateAll((ths) => ths.map((th) => th.getAttribute("aria-sort")))).toEqual(["none", "none"]);

    // Keyboard: the UPN header's button, Enter for ascending, Enter again for descending.
    await page.locator("#users-sort-upn").focus();
    await page.keyboard.press("Enter");
    const ascending = await api(`/v1/tenants/${t1}/users?limit=${PAGE_SIZE}&sort=userPrincipalName`);
    await expect.poll(() => rowsOf(page)).toBe(JSON.stringify(asRows(ascending.users)));
    expect(await page.locator("#users th:has(#users-sort-upn)").getAttribute("aria-sort")).toBe("ascending");
    await page.keyboard.press("Enter");
    const descending = await api(`/v1/tenants/${t1}/users?limit=${PAGE_SIZE}&sort=-userPrincipalName`);
    expect(descending.users).not.toEqual(ascending.users);
    await expect.poll(() => rowsOf(page)).toBe(JSON.stringify(asRows(descending.users)));
    expect(await page.locator("#users th:has(#users-sort-upn)").getAttribute("aria-sort")).toBe("descending");
    expect(await page.locator("#users th:has(#users-sort-name)").getAttribute("aria-sort")).toBe("none");
    expect(await focusedId(page)).toBe("users-sort-upn");

    // Next page keeps the order: the API's page after its cursor.
    await page.locator("#users-next").click();
    const second = await api(`/v1/tenants/${t1}/users?limit=${PAGE_SIZE}&sort=-userPrincipalName&cursor=${encodeURIComponent(descending.nextCursor!)}`);
    await expect.poll(() => rowsOf(page)).toBe(JSON.stringify(asRows(second.users)));

    // Display name, descending, with a state: the server combines them.
    await page.locator("#users-sort-name").click();
    await page.locator("#users-sort-name").click();
    await page.locator("#users-state").selectOption("enforced");
    const byName = await api(`/v1/tenants/${t1}/users?limit=${PAGE_SIZE}&state=enforced&sort=-displayName`);
    expect(byName.users.length).toBeGreaterThan(0);
    await expect.poll(() => rowsOf(page)).toBe(JSON.stringify(asRows(byName.users)));
    expect(await page.locator("#users th:has(#users-sort-name)").getAttribute("aria-sort")).toBe("descending");

    // A selection is kept across a search and a filter, and the page box says how much of the page is in it.
    const first = byName.users[0]!;
    await page.locator(`#select-${first.id}`).check();
    await expect.poll(() => page.locator("#users-selected").textContent()).toBe("1 selected");
    expect(await prop<boolean>(page, "#users-select-page", "indeterminate")).toBe(byName.users.length > 1);
    await page.locator("#users-state").selectOption("");
    await page.locator("#users-search").fill(first.userPrincipalName);
    await expect.poll(() => page.locator("#users").getAttribute("data-search")).toBe(first.userPrincipalName);
    expect((await shownRows(page)).map((r) => r[0])).toContain(first.userPrincipalName);
    expect(await page.locator(`#select-${first.id}`).isChecked()).toBe(true);
    await page.locator("#users-search").fill("");
    await page.locator("#users-state").selectOption("enforced");
    await expect.poll(() => rowsOf(page)).toBe(JSON.stringify(asRows(byName.users)));
    expect(await page.locator(`#select-${first.id}`).isChecked()).toBe(true);
    expect(await page.locator("#users-selected").textContent()).toBe("1 selected");
    await page.locator("#users-clear").click();
    expect(await page.locator("#users-selected").textContent()).toBe("No users selected.");
    expect(await page.locator(`#select-${first.id}`).isChecked()).toBe(false);
    await expectClean(d);
    await d.close();
  }, 120_000);

  it("by keyboard alone: filter, select with Space, choose Enforced, preview, apply, watch the progress, the result; exactly those users are enforced", async () => {
    const d = await openDashboardPage(browser, h.url);
    const { page } = d;
    await signIn(page, h.url, write, `#/tenants/${t0}/users`);
    await expect.poll(() => heading(page)).toBe(t0);
    await shownRows(page);
    expect(await focusedId(page)).not.toBe("");

    // The heading has focus; Tab to the search box, the state filter, ArrowDown to "disabled".
    const shielded = protectedIds(t0);
    const disabled = await api(`/v1/tenants/${t0}/users?limit=${PAGE_SIZE}&state=disabled`);
    const picks = disabled.users.map((u, i) => ({ u, i })).filter(({ u }) => !shielded.has(u.id)).slice(0, 3);
    expect(picks.length).toBe(3);
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("users-search");
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("users-state");
    await page.keyboard.press("ArrowDown");
    expect(await page.locator("#users-state").inputValue()).toBe("disabled");
    await expect.poll(() => rowsOf(page)).toBe(JSON.stringify(asRows(disabled.users)));

    // On to the rows (past the state choice, the page box and the two sort buttons), Space on three of them.
    for (let i = 0; i < 8 && (await focusedId(page)) !== `select-${disabled.users[0]!.id}`; i++) await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe(`select-${disabled.users[0]!.id}`);
    let at = 0;
    for (const { u, i } of picks) {
      for (; at < i; at++) await page.keyboard.press("Tab");
      expect(await focusedId(page)).toBe(`select-${u.id}`);
      expect(await page.locator(`#select-${u.id}`).getAttribute("aria-label")).toBe(`Select ${u.userPrincipalName}`);
      await page.keyboard.press("Space");
    }
    await expect.poll(() => page.locator("#users-selected").textContent()).toBe("3 selected");
    expect(await prop<boolean>(page, "#users-select-page", "indeterminate")).toBe(true);
    // The focus ring shows where the keyboard is.
    expect(await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")).not.toBe("none");

    // Back up to the state choice; the arrows move within it; Space chooses Enforced.
    for (let i = 0; i < 40 && !(await focusedId(page)).startsWith("bulk-state-"); i++) await page.keyboard.press("Shift+Tab");
    expect(await focusedId(page)).toMatch(/^bulk-state-/);
    for (let i = 0; i < 4 && (await focusedId(page)) !== "bulk-state-enforced"; i++) await page.keyboard.press("ArrowDown");
    expect(await focusedId(page)).toBe("bulk-state-enforced");
    await page.keyboard.press("Space");
    expect(await page.locator("#bulk-state-enforced").isChecked()).toBe(true);

    // The users screen with a selection: accessible, no overflow at 390 px, kept as a screenshot.
    await expectAccessible(page, "users (with a selection)");
    await atPhoneWidth(page, "users", "users-390");
    await screenshot(page, "users");

    // Preview changes: the plan, focus on its heading.
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("users-preview");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#bulk-changes").count(), { timeout: 20_000 }).toBe(1);
    expect(await heading(page)).toBe("Preview: set 3 users to enforced");
    expect(await focusedId(page)).toBe("bulk-title");
    const changes = (await cells(page, "#bulk-changes")).map((r) => r.slice(0, 2));
    expect(changes.sort()).toEqual(picks.map(({ u }) => [u.userPrincipalName, "disabled → enforced"]).sort());
    expect(await page.locator("#bulk-count-selected").textContent()).toBe("3");
    expect(await page.locator("#bulk-count-changes").textContent()).toBe("3");
    expect(await page.locator("#bulk-count-left-out").textContent()).toBe("0");
    expect(await page.locator("#bulk-cap").textContent()).toBe("Run-size cap: 5 (the profile's maxChanges); this plan changes 3.");
    // Warnings in words, as the server's own plan of the same users words them.
    const planned = await planViaApi(t0, "enforced", picks.map(({ u }) => u.id));
    const shownWarnings = (await cells(page, "#bulk-changes")).map((r) => [r[0], r[2]]);
    expect(Object.fromEntries(shownWarnings)).toEqual(Object.fromEntries(planned.items.map((i) => [i.userPrincipalName, i.warnings.length === 0 ? "None" : i.warnings.map((w) => w.message).join("")])));
    expect(planned.items.some((i) => i.warnings.length > 0)).toBe(true);
    await expectAccessible(page, "bulk preview");
    await atPhoneWidth(page, "bulk preview", "bulk-preview-390");
    await screenshot(page, "bulk-preview");

    // Apply: one user's change is held back by the emulator for a while, so the progress can be looked at.
    const before = states(t0);
    h.emu.admin.addFaults([{ method: "PATCH", pathIncludes: `${picks[0]!.u.id}/authentication/requirements`, action: "slow", delayMs: 4_000, count: 1 }]);
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("bulk-apply");
    expect(await page.locator("#bulk-apply").textContent()).toBe("Apply 3 changes");
    await page.keyboard.press("Enter");
    await expect.poll(() => heading(page)).toBe("Applying: enforced");
    expect(await focusedId(page)).toBe("bulk-title");
    const bar = page.getByRole("progressbar", { name: "Users done" });
    expect(await bar.count()).toBe(1);
    expect(await prop<number>(page, "#bulk-progress", "max")).toBe(3);
    expect(await page.locator("#bulk-progress-counts").getAttribute("aria-live")).toBe("polite");
    await expectAccessible(page, "bulk progress");
    await atPhoneWidth(page, "bulk progress");
    await screenshot(page, "bulk-progress");
    // Still running when looked at: the held change had not settled.
    expect(await prop<number>(page, "#bulk-progress", "value")).toBeLessThan(3);

    // The result: counts, focus on its heading; the settled users had been listed as they came.
    await expect.poll(() => heading(page), { timeout: 30_000 }).toBe("Result: done");
    expect(await focusedId(page)).toBe("bulk-title");
    expect(await page.locator("#bulk-count-result-changed").textContent()).toBe("3");
    expect(await page.locator("#bulk-count-result-failed").textContent()).toBe("0");
    expect(await page.locator("#bulk-count-result-conflict").textContent()).toBe("0");
    expect(await page.locator("#bulk-problems").count()).toBe(0);
    await expectAccessible(page, "bulk result");
    await atPhoneWidth(page, "bulk result");
    await screenshot(page, "bulk-result");

    // Exactly those users are enforced now; nobody else in either tenant changed.
    const after = states(t0);
    const picked = new Set(picks.map(({ u }) => u.id));
    for (const [id, state] of after) expect(state, id).toBe(picked.has(id) ? "enforced" : before.get(id));
    for (const { u } of picks) expect((await api<{ perUserMfaState: string }>(`/v1/tenants/${t0}/users/${u.id}/mfa`)).perUserMfaState).toBe("enforced");
    const runs = await api<{ runs: { runId: string; actor: string; counts: Record<string, number> }[] }>("/v1/runs?limit=1");
    expect(runs.runs[0]).toMatchObject({ actor: "apikey:dashboard-operator", counts: { changed: 3 } });

    // Open the run is there; Back to users clears the selection and reloads: the three are no longer "disabled".
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("bulk-open-run");
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("bulk-done");
    await page.keyboard.press("Enter");
    await expect.poll(() => heading(page)).toBe(t0);
    const reloaded = await api(`/v1/tenants/${t0}/users?limit=${PAGE_SIZE}&state=disabled`);
    await expect.poll(() => rowsOf(page)).toBe(JSON.stringify(asRows(reloaded.users)));
    expect(reloaded.users.some((u) => picked.has(u.id))).toBe(false);
    expect(await page.locator("#users-selected").textContent()).toBe("No users selected.");
    await expectClean(d);
    await d.close();
  }, 180_000);

  it("leaves a protected account out of the preview, says why, and shows a failed user with its reason and Graph request id", async () => {
    const shielded = protectedIds(t0);
    const breakGlass = h.emu.admin.getUser(t0, `breakglass@${t0}`);
    expect(breakGlass.perUserMfaState).toBe("disabled");
    const disabled = (await api(`/v1/tenants/${t0}/users?limit=${PAGE_SIZE}&state=disabled`)).users.filter((u) => !shielded.has(u.id));
    const [ok, failing] = disabled as [Row, Row];
    expect(failing).toBeDefined();
    const d = await openDashboardPage(browser, h.url);
    const { page } = d;
    await signIn(page, h.url, write, `#/tenants/${t0}/users`);
    await expect.poll(() => heading(page)).toBe(t0);
    for (const user of [breakGlass, ok, failing]) {
      await page.locator("#users-search").fill(user.userPrincipalName);
      await expect.poll(async () => (await shownRows(page)).map((r) => r[0])).toContain(user.userPrincipalName);
      await page.locator(`#select-${user.id}`).check();
    }
    await expect.poll(() => page.locator("#users-selected").textContent()).toBe("3 selected");
    // Preview without a state chosen: said in words, focus on the choice.
    await page.locator("#users-preview").click();
    expect(await page.locator("#users-bulk-error").textContent()).toContain("Choose the state to set");
    expect(await focusedId(page)).toBe("bulk-state-disabled");
    await page.locator("#bulk-state-enforced").check();
    await page.locator("#users-preview").click();

    await expect.poll(() => page.locator("#bulk-left-out").count(), { timeout: 20_000 }).toBe(1);
    const leftOut = await cells(page, "#bulk-left-out");
    expect(leftOut).toEqual([[breakGlass.userPrincipalName, "disabled", "Protected account: listed in the profile's protectedAccounts"]]);
    expect(await page.locator("#bulk-changes tbody td.upn").allTextContents()).toEqual(expect.arrayContaining([ok.userPrincipalName, failing.userPrincipalName]));
    expect(await page.locator("#bulk-count-selected").textContent()).toBe("3");
    expect(await page.locator("#bulk-count-changes").textContent()).toBe("2");
    expect(await page.locator("#bulk-count-left-out").textContent()).toBe("1");
    await expectAccessible(page, "bulk preview with a protected account");

    // Graph refuses one user's change: the result names it, why, and Graph's request id.
    h.emu.admin.addFaults([{ method: "PATCH", pathIncludes: `${failing.id}/authentication/requirements`, status: 403, count: 5 }]);
    await page.locator("#bulk-apply").click();
    await expect.poll(() => heading(page), { timeout: 30_000 }).toBe("Result: done, with users to look at");
    h.emu.admin.clearFaults();
    expect(await page.locator("#bulk-count-result-changed").textContent()).toBe("1");
    expect(await page.locator("#bulk-count-result-failed").textContent()).toBe("1");
    const problems = await cells(page, "#bulk-problems");
    expect(problems.length).toBe(1);
    const [upn, status, reason, requestId] = problems[0]!;
    expect([upn, status]).toEqual([failing.userPrincipalName, "failed"]);
    expect(reason!.length).toBeGreaterThan(10);
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    await expectAccessible(page, "bulk result with a failure");
    await atPhoneWidth(page, "bulk result with a failure");
    expect(h.emu.admin.getUser(t0, ok.id).perUserMfaState).toBe("enforced");
    expect(h.emu.admin.getUser(t0, failing.id).perUserMfaState).toBe("disabled");
    expect(h.emu.admin.getUser(t0, breakGlass.id).perUserMfaState).toBe("disabled");
    await expectClean(d);
    await d.close();
  }, 120_000);

  it("keeps Apply off over the run-size cap, with the server's words; protected accounts of a whole page are left out", async () => {
    const d = await openDashboardPage(browser, h.url);
    const { page } = d;
    await signIn(page, h.url, write, `#/tenants/${t1}/users`);
    await expect.poll(() => heading(page)).toBe(t1);
    await page.locator("#users-state").selectOption("disabled");
    const disabled = await api(`/v1/tenants/${t1}/users?limit=${PAGE_SIZE}&state=disabled`);
    await expect.poll(() => rowsOf(page)).toBe(JSON.stringify(asRows(disabled.users)));
    await page.locator("#users-select-page").check();
    await expect.poll(() => page.locator("#users-selected").textContent()).toBe(`${disabled.users.length} selected`);
    const shielded = protectedIds(t1);
    const protectedHere = disabled.users.filter((u) => shielded.has(u.id));
    expect(protectedHere.length).toBe(2);
    const changeable = disabled.users.length - protectedHere.length;
    expect(changeable).toBeGreaterThan(5);
    await page.locator("#bulk-state-enabled").check();
    await page.locator("#users-preview").click();
    await expect.poll(() => page.locator("#bulk-cap").count(), { timeout: 30_000 }).toBe(1);
    const cap = (await page.locator("#bulk-cap").textContent()) ?? "";
    expect(cap).toContain("Over the run-size cap, so Apply stays off.");
    expect(cap).toContain(`This run would change ${changeable} users, over the cap of 5`);
    expect(await page.locator("#bulk-apply").isDisabled()).toBe(true);
    expect(await page.locator("#bulk-apply").getAttribute("aria-describedby")).toBe("bulk-cap");
    // Both kinds of protected account, each with the server's reason.
    const leftOut = await cells(page, "#bulk-left-out");
    expect(leftOut.map((r) => r[0]).sort()).toEqual(protectedHere.map((u) => u.userPrincipalName).sort());
    expect(leftOut.map((r) => r[2]).sort()).toEqual(["Protected account: directory synchronisation account", "Protected account: listed in the profile's protectedAccounts"]);
    await expectAccessible(page, "bulk preview over the cap");
    await atPhoneWidth(page, "bulk preview over the cap");
    await screenshot(page, "bulk-preview-over-cap");

    // Back to users keeps the selection.
    await page.locator("#bulk-back").click();
    await expect.poll(() => heading(page)).toBe(t1);
    expect(await page.locator("#users-selected").textContent()).toBe(`${disabled.users.length} selected`);
    expect(await page.locator("#users-select-page").isChecked()).toBe(true);
    expect(await focusedId(page)).toBe("users-preview");
    await expectClean(d);
    await d.close();
  }, 120_000);

  it("shows a refused Apply in words, with the server's message (the plan already carried out elsewhere)", async () => {
    const d = await openDashboardPage(browser, h.url, { expectedConsole: /409/ });
    const { page } = d;
    await signIn(page, h.url, write, `#/tenants/${t1}/users`);
    await expect.poll(() => heading(page)).toBe(t1);
    const user = (await api(`/v1/tenants/${t1}/users?limit=${PAGE_SIZE}&state=disabled`)).users.find((u) => !protectedIds(t1).has(u.id))!;
    await page.locator("#users-search").fill(user.userPrincipalName);
    await expect.poll(async () => (await shownRows(page)).map((r) => r[0])).toContain(user.userPrincipalName);
    await page.locator(`#select-${user.id}`).check();
    await page.locator("#bulk-state-enforced").check();
    await page.locator("#users-preview").click();
    await expect.poll(() => page.locator("#bulk-apply").count(), { timeout: 20_000 }).toBe(1);
    // Someone carries the same plan out first (here: the same key, through the API).
    const jobs = await api<{ jobs: { jobId: string; type: string }[] }>("/v1/jobs", write);
    const planJob = jobs.jobs.find((j) => j.type === "plan")!;
    const applied = await h.call("/v1/jobs/apply", { method: "POST", auth: write, body: { planJobId: planJob.jobId } });
    expect(applied.status, applied.text).toBe(202);
    await h.waitForJob((applied.body as { jobId: string }).jobId, write);
    await page.locator("#bulk-apply").click();
    await expect.poll(() => page.locator("#bulk-apply-error").textContent()).toMatch(/^Apply was refused: This cannot be done now \(PlanAlreadyRun: Plan [0-9a-f-]+ is already carried out by run \S+\.\) Request id [0-9a-f-]{36}\.$/);
    expect(await focusedId(page)).toBe("bulk-apply");
    await expectAccessible(page, "bulk preview with a refused apply");
    expect(d.foreign).toEqual([]);
    expect(await d.cspViolations()).toEqual([]);
    await d.close();
  }, 120_000);

  it("shows a reader the preview but no Apply, and says why", async () => {
    const d = await openDashboardPage(browser, h.url);
    const { page } = d;
    await signIn(page, h.url, read, `#/tenants/${t1}/users`);
    await expect.poll(() => heading(page)).toBe(t1);
    const first = await api(`/v1/tenants/${t1}/users?limit=${PAGE_SIZE}&state=disabled`);
    const picks = first.users.filter((u) => !protectedIds(t1).has(u.id)).slice(0, 2);
    await page.locator("#users-state").selectOption("disabled");
    await expect.poll(() => rowsOf(page)).toBe(JSON.stringify(asRows(first.users)));
    for (const u of picks) await page.locator(`#select-${u.id}`).check();
    await page.locator("#bulk-state-enforced").check();
    const before = states(t1);
    await page.locator("#users-preview").click();
    await expect.poll(() => page.locator("#bulk-read-only").count(), { timeout: 20_000 }).toBe(1);
    expect(await page.locator("#bulk-read-only").textContent()).toBe("Your role (reader) may preview but not apply.");
    expect(await page.locator("#bulk-apply").count()).toBe(0);
    expect(await page.locator("#bulk-changes tbody td.upn").allTextContents()).toEqual(expect.arrayContaining(picks.map((u) => u.userPrincipalName)));
    await expectAccessible(page, "bulk preview for a reader");
    expect(states(t1)).toEqual(before);
    await expectClean(d);
    await d.close();
  }, 120_000);
});

describe.runIf(chromiumAvailable)("dashboard in Chromium: searching 20,000 users", () => {
  let dir: string;
  let h: Harness;
  let browser: Browser;
  let tenant: string;
  let key: string;

  beforeAll(async () => {
    if (!existsSync(join(DASHBOARD_DIST, "index.html"))) throw new Error(`${DASHBOARD_DIST} has no index.html: run npm run build -w @mfactl/dashboard first.`);
    dir = await mkdtemp(join(tmpdir(), "mfactl-dashboard-20k-"));
    h = await startHarness({ openStore: () => openSqliteStore(join(dir, "mfactl.db")), users: 20_000, tenants: 1 });
    tenant = h.emu.tenants[0]!.domain;
    key = await h.key(["read"], { name: "dashboard-20k" });
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function api(path: string): Promise<UsersPage> {
    const res = await h.call(path, { auth: key });
    expect(res.status, res.text).toBe(200);
    return res.body as UsersPage;
  }

  it("shows the API's page for each search, one keystroke at a time, and for the next page and an order", async () => {
    expect(h.emu.admin.listUsers(tenant).length).toBeGreaterThanOrEqual(20_000);
    const d = await openDashboardPage(browser, h.url);
    const { page } = d;
    await signIn(page, h.url, key, `#/tenants/${tenant}/users`);
    await expect.poll(() => heading(page), { timeout: 20_000 }).toBe(tenant);
    await shownRows(page);
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("users-search");
    const base = `/v1/tenants/${tenant}/users?limit=${PAGE_SIZE}`;
    for (const word of ["sven", "mat", "priya"]) {
      let typed = "";
      for (const ch of word) {
        typed += ch;
        await page.keyboard.type(ch);
        const expected = await api(`${base}&search=${encodeURIComponent(typed)}`);
        expect(expected.users.length, typed).toBeGreaterThan(0);
        await expect.poll(() => page.locator("#users").getAttribute("data-search")).toBe(typed);
        expect(await shownRows(page), typed).toEqual(asRows(expected.users));
      }
      // The next page of the last prefix, by the server's cursor.
      const last = await api(`${base}&search=${encodeURIComponent(typed)}`);
      if (last.nextCursor) {
        await page.locator("#users-next").click();
        const second = await api(`${base}&search=${encodeURIComponent(typed)}&cursor=${encodeURIComponent(last.nextCursor)}`);
        await expect.poll(() => rowsOf(page)).toBe(JSON.stringify(asRows(second.users)));
        await page.locator("#users-search").focus();
      }
      await page.keyboard.press("Control+A");
      await page.keyboard.press("Backspace");
    }
    // A search in an order: the advanced query, as the API answers it.
    await page.locator("#users-search").fill("ana");
    await page.locator("#users-sort-upn").click();
    await page.locator("#users-sort-upn").click();
    const sorted = await api(`${base}&search=ana&sort=-userPrincipalName`);
    await expect.poll(() => rowsOf(page), { timeout: 20_000 }).toBe(JSON.stringify(asRows(sorted.users)));
    await expectClean(d);
    await d.close();
  }, 240_000);
});
