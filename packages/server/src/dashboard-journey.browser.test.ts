/**
 * The technician's whole journey in one browser session, as issue 7 names it: sign in through the
 * emulator's Entra sign-in page, filter a tenant's users, bulk-enforce a selection through the
 * preview, watch the progress, undo the run, and find both in the audit log under the signed-in
 * person's name. Chromium against the real server (emulator over HTTPS, SQLite journal); the
 * emulator is the judge of what changed. A screenshot per step lands in artifacts/dashboard/journey-*.png.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStore } from "@mfactl/store";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumAvailable, launchChromium, requireChromium } from "../../render/src/chromium.test-helper.js";
import { expectAccessible, openDashboardPage, screenshot } from "./dashboard-browser.test-helper.js";
import { DASHBOARD_DIST } from "./routes/dashboard.js";
import { startHarness, type Harness } from "./server-harness.test-helper.js";

requireChromium("dashboard journey browser test");

interface AuditEntry {
  actor: string;
  action: string;
  outcome: string;
  runId?: string;
}

describe.runIf(chromiumAvailable)("dashboard in Chromium: sign in with Entra, filter, bulk-enforce through the preview, undo, audit", () => {
  let dir: string;
  let h: Harness;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(join(DASHBOARD_DIST, "index.html"))) throw new Error(`${DASHBOARD_DIST} has no index.html: run npm run build -w @mfactl/dashboard first.`);
    dir = await mkdtemp(join(tmpdir(), "mfactl-dashboard-journey-"));
    h = await startHarness({ openStore: () => openSqliteStore(join(dir, "mfactl.db")), users: 40, tenants: 2 });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const heading = (page: Page) => page.locator("h1").first().textContent();

  it("does the whole job and the audit log names the person for the change and its undo", async () => {
    const home = h.emu.tenants.find((t) => t.id === h.emu.dashboardApp.tenantId)!;
    const tenant = home.domain;
    const person = `alex.wilber@${home.domain}`;
    const d = await openDashboardPage(browser, h.url, { allowOrigins: [h.emu.authorityHost] });
    const { page } = d;
    try {
      // 1. Sign in through the emulator's Entra page.
      await page.goto(h.url);
      await page.locator("#sign-in-entra").click();
      await page.waitForURL((u) => u.toString().startsWith(h.emu.authorityHost));
      await page.locator("#login").fill(person);
      await page.locator("#passwd").fill(h.emu.userPassword(home.id, person));
      await page.keyboard.press("Enter");
      await page.waitForURL((u) => u.toString().startsWith(h.url));
      await expect.poll(() => page.locator("#who-role").textContent(), { timeout: 15_000 }).toBe("operator");
      expect(await page.locator("#who-name").textContent()).toContain("Alex Wilber");
      await screenshot(page, "journey-1-signed-in");

      // 2. The tenant's users, filtered to those with per-user MFA disabled.
      await page.locator("#tenants button.tenant").first().click();
      await expect.poll(() => heading(page)).toBe(tenant);
      await page.locator("#users-state").selectOption("disabled");
      await expect.poll(() => page.locator("#users").getAttribute("aria-busy")).toBe("false");
      await expect.poll(() => page.locator("#users tbody tr").count()).toBeGreaterThan(3);
      const shownStates = await page.evaluate<string[]>(`[...document.querySelectorAll("#users tbody tr .state")].map((s) => s.textContent)`);
      expect(new Set(shownStates)).toStrictEqual(new Set(["disabled"]));

      // 3. Select three and preview setting them to enforced.
      const ids = await page.evaluate<string[]>(`[...document.querySelectorAll("#users tbody input[type=checkbox]")].slice(0, 3).map((c) => c.id.replace(/^select-/, ""))`);
      expect(ids).toHaveLength(3);
      for (const id of ids) {
        expect(h.emu.admin.getUser(tenant, id).perUserMfaState).toBe("disabled");
        await page.locator(`#select-${id}`).check();
      }
      await expect.poll(() => page.locator("#users-selected").textContent()).toBe("3 selected");
      await page.locator("#bulk-state-enforced").check();
      await screenshot(page, "journey-2-selected");
      await page.locator("#users-preview").click();
      await expect.poll(() => page.locator("#bulk-changes").count(), { timeout: 20_000 }).toBe(1);
      expect(await page.locator("#bulk-count-changes").textContent()).toBe("3");
      const previewed = await page.locator("#bulk-changes").textContent();
      for (const id of ids) expect(previewed).toContain(h.emu.admin.getUser(tenant, id).userPrincipalName);
      // The preview changed nothing.
      for (const id of ids) expect(h.emu.admin.getUser(tenant, id).perUserMfaState).toBe("disabled");
      await expectAccessible(page, "journey preview");
      await screenshot(page, "journey-3-preview");

      // 4. Apply and watch the progress to the result.
      await page.locator("#bulk-apply").click();
      await expect.poll(() => heading(page), { timeout: 30_000 }).toBe("Result: done");
      expect(await page.locator("#bulk-count-result-changed").textContent()).toBe("3");
      for (const id of ids) expect(h.emu.admin.getUser(tenant, id).perUserMfaState).toBe("enforced");
      await screenshot(page, "journey-4-result");

      // 5. Open the run and undo it.
      await page.locator("#bulk-open-run").click();
      await expect.poll(() => heading(page)).toMatch(/^Run /);
      const runId = (await heading(page))!.replace(/^Run /, "");
      await page.locator("#run-undo").click();
      await page.locator("#undo-confirm").click();
      await expect.poll(() => page.locator("#undo-outcome").textContent(), { timeout: 30_000 }).toContain("Undone");
      for (const id of ids) expect(h.emu.admin.getUser(tenant, id).perUserMfaState).toBe("disabled");
      await screenshot(page, "journey-5-undone");

      // 6. The audit log: the apply and the undo, both under the person.
      await page.locator("#main-nav a", { hasText: "Audit log" }).click();
      await expect.poll(() => heading(page)).toBe("Audit log");
      await page.locator("#audit-actor").fill(person);
      await page.locator("#audit-apply").click();
      await expect.poll(() => page.locator("#audit").getAttribute("aria-busy")).toBe("false");
      const shown = await page.evaluate<string[][]>(`[...document.querySelectorAll("#audit tbody tr")].map((tr) => [...tr.cells].map((td) => td.textContent.trim()))`);
      const actions = shown.map((cells) => cells[2]);
      expect(actions).toEqual(expect.arrayContaining(["job.apply", "job.undo"]));
      for (const cells of shown) expect(cells[1]).toContain(person);
      // The page shows what the server's log holds for the person.
      const token = JSON.parse((await page.evaluate<string>("sessionStorage.getItem('mfactl.entra')")) ?? "{}") as { accessToken: string };
      const logged = (await h.call(`/v1/audit?actor=${encodeURIComponent(`user:${person}`)}`, { auth: token.accessToken })).body as { entries: AuditEntry[] };
      expect(logged.entries.map((e) => e.action)).toStrictEqual(actions);
      const apply = logged.entries.find((e) => e.action === "job.apply")!;
      expect(apply.runId).toBe(runId);
      expect(logged.entries.find((e) => e.action === "job.undo")).toMatchObject({ actor: `user:${person}`, outcome: "ok" });
      await expectAccessible(page, "journey audit");
      await screenshot(page, "journey-6-audit");

      expect(d.errors).toEqual([]);
      expect(d.foreign).toEqual([]);
      expect(await d.cspViolations()).toEqual([]);
    } finally {
      await d.close();
    }
  }, 120_000);
});
