/**
 * Run history, Undo and the audit log in Chromium, against the real server and emulator: a person (Alex, an
 * operator through their Entra app role) changes two users through the API, signs in to the dashboard with
 * Microsoft, finds the run under their name, opens it, and undoes it by keyboard: a confirmation in the page, live
 * progress to the end, a link to the undo run; the users are back in their previous state (read from the server and
 * the emulator). A refused undo (already undone behind the page's back) is put into words. The audit log lists the
 * change and the undo under the person, and the actor filter keeps only theirs. A reader sees no Undo. Every screen
 * passes axe-core at 1280 px, has no horizontal overflow at 390 px, and is in artifacts/dashboard/.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "@mfactl/store";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumAvailable, launchChromium, requireChromium } from "../../render/src/chromium.test-helper.js";
import { expectAccessible, expectNoHorizontalOverflow, focusedId, openDashboardPage, screenshot } from "./dashboard-browser.test-helper.js";
import { DASHBOARD_DIST } from "./routes/dashboard.js";
import { startHarness, type Harness, type JobView } from "./server-harness.test-helper.js";

requireChromium("dashboard runs, undo and audit browser test");

interface UserRow {
  id: string;
  userPrincipalName: string;
  displayName: string;
  perUserMfaState: string;
}
interface AuditEntry {
  actor: string;
  action: string;
  runId?: string;
  target?: string;
}

/** Seeded accounts with a special part in the emulator (admins, break glass, sync, guests): not the ones to change. */
const SPECIAL = /^(admin|adele\.vance|alex\.wilber|megan\.bowen|breakglass|former\.employee|sync_|o'brien)|#ext#/i;

describe.runIf(chromiumAvailable)("dashboard in Chromium: runs, undo by keyboard, audit log", () => {
  let dir: string;
  let h: Harness;
  let browser: Browser;
  let home: { id: string; domain: string };
  let alex: string;
  let alexToken: string;
  let changed: UserRow[];
  let runId: string;

  beforeAll(async () => {
    if (!existsSync(join(DASHBOARD_DIST, "index.html"))) throw new Error(`${DASHBOARD_DIST} has no index.html: run npm run build -w @mfactl/dashboard first.`);
    dir = await mkdtemp(join(tmpdir(), "mfactl-dashboard-history-"));
    h = await startHarness({ openStore: () => openSqliteStore(join(dir, "mfactl.db")), users: 30, tenants: 2 });
    home = h.emu.tenants.find((t) => t.id === h.emu.dashboardApp.tenantId)!;
    browser = await launchChromium();
    alex = `alex.wilber@${home.domain}`;
    alexToken = await h.personToken(alex);

    // Somebody else's change first (an API key), so the actor filter has something to leave out.
    const writer = await h.key(["write"], { name: "writer" });
    const list = await h.call(`/v1/tenants/${home.domain}/users?limit=100&state=disabled`, { auth: writer });
    expect(list.status).toBe(200);
    const candidates = (list.body as { users: UserRow[] }).users.filter((u) => !SPECIAL.test(u.userPrincipalName));
    expect(candidates.length).toBeGreaterThanOrEqual(3);
    const other = candidates[2]!;
    expect((await h.call(`/v1/tenants/${home.domain}/users/${other.id}/mfa`, { method: "PUT", auth: writer, body: { perUserMfaState: "enabled" } })).status).toBe(200);

    // Alex's change: two users enforced, one run, through the API with Alex's own token.
    changed = candidates.slice(0, 2);
    const started = await h.call("/v1/jobs/bulk-set", { method: "POST", auth: alexToken, body: { tenants: [home.domain], state: "enforced", users: changed.map((u) => u.userPrincipalName) } });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const done: JobView = await h.waitForJob((started.body as JobView).jobId, alexToken);
    expect(done.status).toBe("succeeded");
    expect(done.progress.counts).toEqual({ changed: 2 });
    runId = done.runId!;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A user's state as the server reads it from Graph now. */
  async function stateOf(user: UserRow): Promise<string> {
    const res = await h.call(`/v1/tenants/${home.domain}/users/${user.id}/mfa`, { auth: alexToken });
    expect(res.status).toBe(200);
    return (res.body as { perUserMfaState: string }).perUserMfaState;
  }

  /** Alex signs in with Microsoft, by keyboard. */
  async function signInAsAlex(page: Page): Promise<void> {
    await page.goto(h.url);
    await expect.poll(() => focusedId(page)).toBe("sign-in-entra");
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.toString().startsWith(h.emu.authorityHost));
    await page.locator("#login").focus();
    await page.keyboard.type(alex);
    await page.keyboard.press("Tab");
    await page.keyboard.type(h.emu.userPassword(home.id, alex));
    await page.keyboard.press("Enter");
    await page.waitForURL((u) => u.toString().startsWith(h.url));
    await expect.poll(() => page.locator("#who-role").textContent(), { timeout: 15_000 }).toBe("operator");
  }

  /** Checks a screen at 1280 px (axe, screenshot) and at 390 px (no overflow, screenshot), back at 1280. */
  async function checkScreen(page: Page, name: string): Promise<void> {
    await expectAccessible(page, name);
    await screenshot(page, name);
    await page.setViewportSize({ width: 390, height: 844 });
    await expectNoHorizontalOverflow(page, name);
    await screenshot(page, `${name}-390`);
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  /** Tab forward until the focused element matches, at most `max` presses: keyboard alone, no clicks. */
  async function tabTo(page: Page, test: string, max = 40): Promise<void> {
    for (let i = 0; i < max; i++) {
      if (await page.evaluate<boolean>(`!!document.activeElement && document.activeElement.matches(${JSON.stringify(test)})`)) return;
      await page.keyboard.press("Tab");
    }
    throw new Error(`no ${test} within ${max} Tabs (focused: ${await focusedId(page)})`);
  }

  it("lists Alex's run, undoes it by keyboard with live progress, and the users are back", async () => {
    const d = await openDashboardPage(browser, h.url, { allowOrigins: [h.emu.authorityHost] });
    const { page } = d;
    try {
      const before = await Promise.all(changed.map(stateOf));
      expect(before).toEqual(["enforced", "enforced"]);
      await signInAsAlex(page);

      // Runs, from the header's nav by keyboard.
      await page.locator("#main-nav a[href='#/runs']").focus();
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("#runs").getAttribute("aria-busy")).toBe("false");
      expect(await page.locator("#main-nav a[aria-current=page]").textContent()).toBe("Runs");
      const runs = (await h.call("/v1/runs", { auth: alexToken })).body as { runs: { runId: string }[] };
      expect(await page.locator("#runs tbody tr").count()).toBe(runs.runs.length);
      const row = page.locator("#runs tbody tr", { has: page.locator(`a[href='#/runs/${runId}']`) });
      // Newest first: Alex's run is the first row, under Alex's UPN marked as a person.
      expect(await page.locator("#runs tbody tr").first().locator(`a[href='#/runs/${runId}']`).count()).toBe(1);
      expect(await row.locator(".actor").textContent()).toBe(`person ${alex}`);
      expect(await row.textContent()).toContain("2 changed (of 2)");
      await checkScreen(page, "runs");

      // Open the run by keyboard.
      await page.locator("h1").focus();
      await tabTo(page, `a[href='#/runs/${runId}']`);
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("h1").textContent()).toBe(`Run ${runId}`);
      expect(await focusedId(page)).toBe(`Run ${runId}`);
      await expect.poll(() => page.locator("#changes").getAttribute("aria-busy")).toBe("false");
      const rows = await page.evaluate<string[][]>(`[...document.querySelectorAll("#changes tbody tr")].map((tr) => [...tr.cells].map((td) => td.textContent))`);
      expect(rows.map((r) => r.slice(0, 4))).toEqual(changed.map((u) => [u.userPrincipalName, home.domain, "disabled → enforced", "changed"]));
      expect(await page.locator("#run-facts").textContent()).toContain(alex);
      await checkScreen(page, "run-detail");

      // Undo: a confirmation step in the page saying what will happen; Escape steps back.
      await page.locator("h1").focus();
      await tabTo(page, "#run-undo");
      await page.keyboard.press("Enter");
      expect(await focusedId(page)).toBe("undo-question");
      expect(await page.locator("#undo-question").textContent()).toBe("Put back the previous state of 2 users changed by this run?");
      await expectAccessible(page, "undo confirmation");
      await screenshot(page, "undo-confirm");
      await page.keyboard.press("Escape");
      expect(await focusedId(page)).toBe("run-undo");
      expect(await page.locator("#undo-confirmation").isHidden()).toBe(true);
      await page.keyboard.press("Enter");
      await page.keyboard.press("Tab");
      expect(await focusedId(page)).toBe("undo-confirm");
      expect(await page.locator("#undo-confirm").textContent()).toBe("Undo 2 users");
      await page.keyboard.press("Enter");

      // Live progress to the end: the bar full, the counts announced, each user listed, then the result focused.
      await expect.poll(() => focusedId(page), { timeout: 30_000 }).toBe("undo-outcome");
      expect(await page.locator("#undo-outcome").textContent()).toBe("Undone: 2 changed.");
      expect(await page.evaluate<number[]>(`(() => { const p = document.getElementById("undo-progress"); return [p.value, p.max]; })()`)).toEqual([2, 2]);
      expect(await page.locator("#undo-counts").getAttribute("aria-live")).toBe("polite");
      expect(await page.locator("#undo-counts").textContent()).toBe("2 of 2 users: 2 changed.");
      // Listed as they settle, or from the undo run's journal when the job ended before its events were followed.
      await expect.poll(() => page.locator("#undo-changes li").count()).toBe(changed.length);
      const settled = await page.locator("#undo-changes li").allTextContents();
      // Each with Graph's request id of its change, for support.
      expect(settled.map((t) => t.replace(/Graph request id [0-9a-f-]{36}$/, "")).sort()).toEqual(changed.map((u) => `${u.userPrincipalName} (${home.domain}): enforced → disabled: changed`).sort());
      await checkScreen(page, "undo-result");

      // The users are back, as the server and the emulator read them.
      expect(await Promise.all(changed.map(stateOf))).toEqual(["disabled", "disabled"]);
      for (const u of changed) expect(h.emu.admin.getUser(home.id, u.id).perUserMfaState).toBe("disabled");

      // The result links the undo run; it names what it undid.
      const undoRun = (await h.call("/v1/runs/last", { auth: alexToken })).body as { runId: string; undoOf?: string; actor: string };
      expect(undoRun).toMatchObject({ undoOf: runId, actor: `user:${alex}` });
      await tabTo(page, `#undo-result a[href='#/runs/${undoRun.runId}']`);
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("h1").textContent()).toBe(`Run ${undoRun.runId}`);
      await expect.poll(() => page.locator("#run-facts").textContent()).toContain(`Undo of${runId}`);

      // Back to the first run: it says it was undone, and by which run; no second Undo offered.
      await page.goBack();
      await expect.poll(() => page.locator("#undo").textContent()).toContain(`This run was undone by run ${undoRun.runId}`);
      expect(await page.locator("#run-undo").count()).toBe(0);

      // Runs lists the undo run, newest first.
      await page.locator("#main-nav a[href='#/runs']").focus();
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("#runs tbody tr").first().locator(`a[href='#/runs/${undoRun.runId}']`).count()).toBe(1);
      expect(await page.locator("#runs tbody tr").first().textContent()).toContain(`undo of ${runId}`);

      expect(d.foreign).toEqual([]);
      expect(d.errors).toEqual([]);
      expect(await d.cspViolations()).toEqual([]);
    } finally {
      await d.close();
    }
  }, 180_000);

  it("puts a refused undo into words (the run was undone behind the page's back)", async () => {
    // The undo's own run, undone in the browser (a redo): first undone through the API while the page shows it.
    const d = await openDashboardPage(browser, h.url, { allowOrigins: [h.emu.authorityHost], expectedConsole: /status of 400/ });
    const { page } = d;
    try {
      const undoRun = ((await h.call("/v1/runs/last", { auth: alexToken })).body as { runId: string }).runId;
      await signInAsAlex(page);
      await page.goto(`${h.url}/#/runs/${undoRun}`);
      await expect.poll(() => page.locator("#run-undo").count()).toBe(1);
      const redo = await h.call("/v1/jobs/undo", { method: "POST", auth: alexToken, body: { runId: undoRun } });
      expect(redo.status).toBe(202);
      await h.waitForJob((redo.body as JobView).jobId, alexToken);

      await page.locator("#run-undo").focus();
      await page.keyboard.press("Enter");
      await page.keyboard.press("Tab");
      expect(await focusedId(page)).toBe("undo-confirm");
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("#undo-error").textContent()).toMatch(new RegExp(`^The undo was refused: The server did not accept the request \\(BadRequest: Run ${undoRun} was already undone by run \\S+; undo \\S+ to redo it\\. Nothing was changed\\.\\) Request id \\S+\\.$`));
      expect(await focusedId(page)).toBe("undo-error");
      expect(await page.locator("#undo-confirm").isDisabled()).toBe(false);
      expect(d.errors).toEqual([]);
      expect(await d.cspViolations()).toEqual([]);
    } finally {
      await d.close();
    }
  }, 120_000);

  it("shows the change and the undo under the person in the audit log, and filters by actor", async () => {
    const d = await openDashboardPage(browser, h.url, { allowOrigins: [h.emu.authorityHost] });
    const { page } = d;
    try {
      await signInAsAlex(page);
      await page.locator("#main-nav a[href='#/audit']").focus();
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("#audit").getAttribute("aria-busy")).toBe("false");
      const all = ((await h.call("/v1/audit?limit=50", { auth: alexToken })).body as { entries: AuditEntry[] }).entries;
      expect(await page.locator("#audit tbody tr").count()).toBe(all.length);
      // Newest first, as the API answers; people by their UPN with a marker, keys as "API key <name>".
      const actors = await page.locator("#audit tbody tr td:nth-child(2)").allTextContents();
      expect(actors).toEqual(all.map((e) => (e.actor.startsWith("user:") ? `person ${e.actor.slice(5)}` : e.actor.replace(/^apikey:/, "API key "))));
      expect(actors).toContain("API key writer");
      const actions = await page.locator("#audit tbody tr td:nth-child(3)").allTextContents();
      for (const action of ["job.bulkSet", "job.bulkSet.finished", "job.undo", "job.undo.finished"]) expect(actions).toContain(action);
      const mine = all.filter((e) => e.actor === `user:${alex}`);
      expect(mine.some((e) => e.action === "job.bulkSet.finished" && e.runId === runId)).toBe(true);
      expect(mine.some((e) => e.action === "job.undo")).toBe(true);
      await checkScreen(page, "audit");

      // Filter by actor, by keyboard: the person's UPN is enough.
      await page.locator("h1").focus();
      await tabTo(page, "#audit-actor");
      await page.keyboard.type(alex);
      await page.keyboard.press("Enter");
      await expect.poll(async () => (await page.locator("#audit tbody tr td:nth-child(2)").allTextContents()).join("|")).toBe(mine.map(() => `person ${alex}`).join("|"));
      expect(await page.locator("#audit-status").textContent()).toContain("filtered");
      const filtered = ((await h.call(`/v1/audit?limit=50&actor=${encodeURIComponent(`user:${alex}`)}`, { auth: alexToken })).body as { entries: AuditEntry[] }).entries;
      expect(await page.locator("#audit tbody tr td:nth-child(3)").allTextContents()).toEqual(filtered.map((e) => e.action));
      // The run's link leads to the run.
      expect(await page.locator(`#audit a[href='#/runs/${runId}']`).count()).toBeGreaterThan(0);
      await checkScreen(page, "audit-filtered");
      expect(d.foreign).toEqual([]);
      expect(d.errors).toEqual([]);
      expect(await d.cspViolations()).toEqual([]);
    } finally {
      await d.close();
    }
  }, 120_000);

  it("offers a reader no Undo", async () => {
    const d = await openDashboardPage(browser, h.url);
    const { page } = d;
    try {
      const reader = await h.key(["read"], { name: "reader" });
      await page.goto(`${h.url}/#/runs/${runId}`);
      await expect.poll(() => focusedId(page)).toBe("sign-in-entra");
      await page.keyboard.press("Tab");
      await page.keyboard.type(reader);
      await page.keyboard.press("Enter");
      // Back on the screen asked for, as a reader.
      await expect.poll(() => page.locator("h1").textContent()).toBe(`Run ${runId}`);
      expect(await page.locator("#who-role").textContent()).toBe("reader");
      await expect.poll(() => page.locator("#undo").textContent()).toContain("Undo needs the operator or admin role");
      expect(await page.locator("#run-undo").count()).toBe(0);

      // Sign out of a key: no trip to Microsoft, the tab emptied, the sign-in screen says so.
      await page.locator("#sign-out").focus();
      await page.keyboard.press("Enter");
      await expect.poll(() => page.locator("#sign-in-status").textContent()).toBe("You are signed out.");
      expect(await page.evaluate("Object.keys(sessionStorage).filter((k) => k.startsWith('mfactl.'))")).toEqual([]);
      expect(new URL(page.url()).hash).toBe("");
      expect(d.errors).toEqual([]);
      expect(d.foreign).toEqual([]);
    } finally {
      await d.close();
    }
  }, 120_000);
});
