/**
 * The dashboard's posture findings screen in Chromium, against the real server and emulator: the
 * screen shows what POST /v1/jobs/posture answers (security defaults, the Conditional Access policies
 * that require MFA and the report-only ones, the findings with their counts and first users, the
 * sources that could not be read and why), a tenant is chosen by keyboard when none is given, and
 * each screen passes axe-core, fits 390 px and is kept as a screenshot in artifacts/dashboard/.
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
import { expectAccessible, expectNoHorizontalOverflow, focusedId, openDashboardPage, screenshot } from "./dashboard-browser.test-helper.js";
import { chromiumAvailable, launchChromium, requireChromium } from "../../render/src/chromium.test-helper.js";

/** The posture job's result for one tenant (docs/api/jobs.md). */
interface PostureTenant {
  tenant: string;
  status: string;
  counts: { users: number; enabledAccounts: number; admins: number; byProtection: Record<string, number> };
  unknown: { source: string; code: string; reason: string }[];
  securityDefaults: { enabled: boolean | null; reason?: string };
  conditionalAccess: { readable: boolean; reason?: string; mfaPolicies: { displayName: string }[]; reportOnlyMfaPolicies: { displayName: string }[]; mfaNotGuaranteed: { displayName: string }[] };
  findings: { code: string; message: string; count: number; users: { userPrincipalName: string }[] }[];
}

/** Users of a finding the screen lists before "Show more" (packages/dashboard/src/posture.ts). */
const FIRST_USERS = 10;

requireChromium("dashboard posture browser test");

async function signIn(page: Page, url: string, key: string, route: string): Promise<void> {
  const res = await page.goto(`${url}/${route}`);
  expect(res?.status()).toBe(200);
  await page.locator("#api-key").waitFor();
  for (let i = 0; i < 8 && (await focusedId(page)) !== "api-key"; i++) await page.keyboard.press("Tab");
  expect(await focusedId(page)).toBe("api-key");
  await page.keyboard.type(key);
  await page.keyboard.press("Enter");
}

const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();

describe.runIf(chromiumAvailable)("dashboard in Chromium: posture findings", () => {
  let dir: string;
  let h: Harness;
  let browser: Browser;
  let key: string;
  let t0: string;
  let t1: string;

  beforeAll(async () => {
    if (!existsSync(join(DASHBOARD_DIST, "index.html"))) throw new Error(`${DASHBOARD_DIST} has no index.html: run npm run build -w @mfactl/dashboard first (the root test script does).`);
    dir = await mkdtemp(join(tmpdir(), "mfactl-dashboard-posture-"));
    h = await startHarness({ openStore: () => openSqliteStore(join(dir, "mfactl.db")), users: 40, tenants: 2 });
    [t0, t1] = h.emu.tenants.map((t) => t.domain) as [string, string];
    key = await h.key(["read"], { name: "dashboard-posture" });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The posture of one tenant through the API, as the screen's job reads it. */
  async function postureViaApi(tenant: string): Promise<PostureTenant> {
    const res = await h.call("/v1/jobs/posture", { method: "POST", auth: key, body: { tenants: [tenant] } });
    expect(res.status, res.text).toBe(202);
    const job = await h.waitForJob((res.body as { jobId: string }).jobId, key);
    expect(job.status).toBe("succeeded");
    const result = await h.call(`/v1/jobs/${job.jobId}/result`, { auth: key });
    expect(result.status, result.text).toBe(200);
    const mine = (result.body as { tenants: PostureTenant[] }).tenants.find((t) => t.tenant === tenant);
    expect(mine?.status).toBe("completed");
    return mine!;
  }

  /** The screen against the API's answer: overview, policies, every finding with its users, what could not be read. */
  async function expectScreenShows(page: Page, p: PostureTenant): Promise<void> {
    expect(await page.locator("#posture-users-count").textContent()).toBe(p.counts.users.toLocaleString("en-US"));
    const sd = p.securityDefaults.enabled === true ? "On" : p.securityDefaults.enabled === false ? "Off" : "Unknown";
    expect(await page.locator("#posture-security-defaults").textContent()).toMatch(new RegExp(`^${sd}`));
    const ca = p.conditionalAccess;
    if (ca.readable) {
      expect(await texts(page, "#posture-mfa-policies li")).toEqual(ca.mfaPolicies.map((x) => x.displayName));
      expect(await texts(page, "#posture-report-only li")).toEqual(ca.reportOnlyMfaPolicies.map((x) => x.displayName));
      expect((await texts(page, "#posture-not-guaranteed li")).map((t) => t.split(" — ")[0])).toEqual(ca.mfaNotGuaranteed.map((x) => x.displayName));
    } else {
      expect(await page.locator("#posture-ca").textContent()).toContain(`Could not be read (${ca.reason ?? ""}`);
    }
    expect(await page.locator("#posture-findings article.finding").evaluateAll((a) => a.map((x) => x.id))).toEqual(p.findings.map((f) => `finding-${f.code}`));
    for (const f of p.findings) {
      const at = `#finding-${f.code}`;
      const title = (await page.locator(`${at} h3`).textContent()) ?? "";
      expect(title.startsWith(`${f.count.toLocaleString("en-US")} ${f.count === 1 ? "user" : "users"}: `)).toBe(true);
      expect(await page.locator(`${at} h3 code`).textContent()).toBe(f.code);
      expect(await page.locator(`${at} .finding-message`).textContent()).toBe(f.message);
      expect(await texts(page, `${at} .finding-users li`)).toEqual(f.users.slice(0, FIRST_USERS).map((u) => u.userPrincipalName));
      if (f.users.length > FIRST_USERS) {
        const more = page.locator(`${at} button[aria-controls]`);
        expect(await more.getAttribute("aria-expanded")).toBe("false");
        await more.focus();
        await page.keyboard.press("Enter");
        expect(await more.getAttribute("aria-expanded")).toBe("true");
        expect(await texts(page, `${at} .finding-users li`)).toEqual(f.users.map((u) => u.userPrincipalName));
      }
    }
    const unknown = await texts(page, "#posture-unknown li");
    expect(unknown.length).toBe(p.unknown.length);
    p.unknown.forEach((u, i) => expect(unknown[i]).toContain(`: ${u.reason} (${u.code})`));
  }

  it("shows the findings, policies and security defaults the API returns; chooses another tenant by keyboard", async () => {
    const expected = await postureViaApi(t0);
    expect(expected.findings.length).toBeGreaterThan(0);
    const d = await openDashboardPage(browser, h.url);
    const { page } = d;
    await signIn(page, h.url, key, `#/posture/${t0}`);
    await expect.poll(() => page.locator("#posture-findings").count(), { timeout: 30_000 }).toBe(1);
    expect(await page.locator("h1").textContent()).toBe(`Posture of ${t0}`);
    expect(await focusedId(page)).toBe("posture-title");
    await expectScreenShows(page, expected);
    await expectAccessible(page, "posture");
    await page.setViewportSize({ width: 390, height: 844 });
    await expectNoHorizontalOverflow(page, "posture at 390 px");
    await page.setViewportSize({ width: 1280, height: 900 });
    await screenshot(page, "posture");

    // No tenant given: a labelled choice, by keyboard.
    await page.locator("#posture-other").focus();
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#posture-tenant option").count()).toBe(2);
    expect(await page.locator("h1").textContent()).toBe("Posture findings");
    expect(await page.locator("label[for=posture-tenant]").textContent()).toBe("Tenant");
    await expectAccessible(page, "posture tenant chooser");
    await page.setViewportSize({ width: 390, height: 844 });
    await expectNoHorizontalOverflow(page, "posture tenant chooser at 390 px");
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("posture-tenant");
    await page.keyboard.press("ArrowDown");
    expect(await page.locator("#posture-tenant").inputValue()).toBe(t1);
    await page.keyboard.press("Tab");
    expect(await focusedId(page)).toBe("posture-read");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#posture-findings").count(), { timeout: 30_000 }).toBe(1);
    expect(await page.locator("h1").textContent()).toBe(`Posture of ${t1}`);
    await expectScreenShows(page, await postureViaApi(t1));

    expect(d.errors).toEqual([]);
    expect(d.foreign).toEqual([]);
    expect(await d.cspViolations()).toEqual([]);
    await d.close();
  }, 120_000);

  it("says so in words, with the server's code, when the tenant itself cannot be read", async () => {
    // The users cannot be listed (no User.Read.All): the tenant fails, the job does not.
    h.emu.admin.addFaults([{ method: "GET", pathIncludes: "/v1.0/users", tenant: t0, status: 403, count: 1_000 }]);
    try {
      const res = await h.call("/v1/jobs/posture", { method: "POST", auth: key, body: { tenants: [t0] } });
      const job = await h.waitForJob((res.body as { jobId: string }).jobId, key);
      const answer = (await h.call(`/v1/jobs/${job.jobId}/result`, { auth: key })).body as { tenants: { status: string; error: { code: string; message: string } }[] };
      const failed = answer.tenants[0]!;
      expect(failed.status).toBe("failed");
      const d = await openDashboardPage(browser, h.url);
      const { page } = d;
      await signIn(page, h.url, key, `#/posture/${t0}`);
      await expect.poll(() => page.locator("#posture-error").count(), { timeout: 30_000 }).toBe(1);
      // Graph's request id differs between the two reads; the rest is the same.
      const anyId = (text: string) => text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<id>");
      expect(anyId((await page.locator("#posture-error").textContent()) ?? "")).toContain(anyId(`The tenant could not be read: ${failed.error.message} (${failed.error.code})`));
      expect(await page.locator("#posture-error").getAttribute("role")).toBe("alert");
      expect(await page.locator("#posture-again").count()).toBe(1);
      await expectAccessible(page, "posture of a tenant that could not be read");
      expect(d.errors).toEqual([]);
      await d.close();
    } finally {
      h.emu.admin.clearFaults();
    }
  }, 120_000);

  it("says which sources could not be read and why, as the API does", async () => {
    // Conditional Access refused (a missing Policy.Read.All): the policies are unknown, not "none".
    h.emu.admin.addFaults([{ pathIncludes: "/identity/conditionalAccess/policies", tenant: t1, status: 403, count: 1_000 }]);
    try {
      const expected = await postureViaApi(t1);
      expect(expected.conditionalAccess.readable).toBe(false);
      expect(expected.unknown.map((u) => u.source)).toContain("conditionalAccess");
      const d = await openDashboardPage(browser, h.url);
      const { page } = d;
      await signIn(page, h.url, key, `#/posture/${t1}`);
      await expect.poll(() => page.locator("#posture-findings").count(), { timeout: 30_000 }).toBe(1);
      await expectScreenShows(page, expected);
      expect(await page.locator("#posture-unknown h2").textContent()).toBe("Could not be read");
      expect(await page.locator("#posture-policies").textContent()).toContain("The policies could not be read");
      await expectAccessible(page, "posture with unreadable sources");
      await page.setViewportSize({ width: 390, height: 844 });
      await expectNoHorizontalOverflow(page, "posture with unreadable sources at 390 px");
      await screenshot(page, "posture-unknown");
      expect(d.errors).toEqual([]);
      await d.close();
    } finally {
      h.emu.admin.clearFaults();
    }
  }, 120_000);
});
