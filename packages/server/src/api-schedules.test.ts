/**
 * Scheduled drift checks through the API, for real: the emulator over HTTPS, the server's scheduler
 * firing on its own clock (moved by the test: no waiting for 03:00), alerts posted to a webhook
 * receiver on loopback, remediation through the journal and its undo.
 */
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { systemClock, type Clock } from "@mfactl/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeBackendsForTests } from "../../store/src/postgres.test-helper.js";
import { startHarness, type Harness, type JobView } from "./server-harness.test-helper.js";

/** A clock whose time the test sets; its sleeps are real (the scheduler's ticks are 20 ms). */
function movableClock(start: number): Clock & { set(ms: number): void } {
  let now = start;
  return { now: () => now, sleep: (ms, signal) => systemClock.sleep(ms, signal), set: (ms) => void (now = ms) };
}

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

/** A webhook receiver on loopback: every POST kept; answers 200. */
async function receiver(): Promise<{ url: string; got: Received[]; close(): Promise<void>; next(n: number): Promise<Received[]> }> {
  const got: Received[] = [];
  const waiters: (() => void)[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      got.push({ headers: req.headers, body, json: JSON.parse(body) as Record<string, unknown> });
      res.writeHead(200).end("ok");
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/mfactl-secret-path`;
  return {
    url,
    got,
    close: () => new Promise((resolve) => server.close(() => resolve())),
    async next(n) {
      const deadline = Date.now() + 30_000;
      while (got.length < n) {
        if (Date.now() > deadline) throw new Error(`the webhook got ${got.length} posts, not ${n}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
      return got.slice(0, n);
    },
  };
}

const SECRET = "a-signing-secret-of-some-length";
const DAY = 86_400_000;

for (const b of storeBackendsForTests().filter((x) => x.name === "sqlite")) {
  describe(`scheduled drift checks (${b.name}, one instance: the scheduler runs in-process)`, () => {
    let h: Harness;
    let hook: Awaited<ReturnType<typeof receiver>>;
    // Tomorrow 02:59:50 UTC: the schedule below is due at 03:00.
    const tomorrow = Math.floor(Date.now() / DAY) * DAY + DAY;
    const clock = movableClock(tomorrow + 3 * 3_600_000 - 10_000);
    let key: string;

    beforeAll(async () => {
      hook = await receiver();
      h = await startHarness({ openStore: b.open, users: 30, tenants: 1, schedulerClock: clock, settings: { scheduler: { enabled: true, tickSeconds: 0.02 } } });
      key = await h.key(["write"]);
    });
    afterAll(async () => {
      await h?.close();
      await hook?.close();
    });

    it("fires at its time, posts the documented payload (signed), remediates, then finds no drift; undo reverts the remediation", async () => {
      const t = h.emu.tenants[0]!.domain;
      const before = h.emu.admin.listUsers(t).map((u) => h.emu.admin.getUser(t, u.id));
      // In drift: members not enforced, but the break-glass account (named in the policy) and the directory sync account (left alone by default).
      const disabledMembers = before.filter((u) => u.userType === "Member" && u.perUserMfaState !== "enforced" && !/^(sync_|breakglass@)/i.test(u.userPrincipalName));
      expect(disabledMembers.length).toBeGreaterThan(3);
      const policy = ["version: 1", "policies:", "  - name: Members enforced", `    tenants: [${t}]`, "    rules:", "      - name: Members", "        when: { userType: member }", "        state: enforced", `    breakGlass: [breakglass@${t}]`, ""].join("\n");

      const created = await h.call("/v1/schedules", {
        method: "POST",
        auth: key,
        body: { name: "nightly", cron: "0 3 * * *", timezone: "UTC", policy, policySource: "members.yaml", tenants: [t], alerts: { webhooks: [{ url: hook.url, format: "mfactl", secret: SECRET, when: "drift" }] }, remediate: { enabled: true } },
      });
      expect(created.status, created.text).toBe(201);
      // The webhook's path is its secret: never shown back; nor the signing secret.
      expect(created.text).not.toContain("mfactl-secret-path");
      expect(created.text).not.toContain(SECRET);
      expect((created.body as { nextFires: string[] }).nextFires[0]).toBe(new Date(tomorrow + 3 * 3_600_000).toISOString());

      // Not yet 03:00: nothing fires.
      await new Promise((r) => setTimeout(r, 200));
      expect(hook.got).toHaveLength(0);
      expect(h.emu.admin.stats().patches).toBe(0);

      clock.set(tomorrow + 3 * 3_600_000 + 500);
      const [post] = await hook.next(1);
      const period = new Date(tomorrow + 3 * 3_600_000).toISOString();
      const alert = post!.json;
      expect(alert).toMatchObject({ type: "mfactl.driftCheck", version: 1, schedule: { name: "nightly" }, period, status: "remediated" });
      expect((alert["counts"] as { inDrift: number }).inDrift).toBe(disabledMembers.length);
      const drift = alert["drift"] as { userPrincipalName: string; perUserMfaState: string; requestedState: string }[];
      expect(drift.map((d) => d.userPrincipalName).sort()).toEqual(disabledMembers.map((u) => u.userPrincipalName).sort());
      expect(drift.every((d) => d.perUserMfaState !== "enforced" && d.requestedState === "enforced")).toBe(true);
      const remediation = alert["remediation"] as { status: string; runId: string; counts: Record<string, number> };
      expect(remediation).toMatchObject({ enabled: true, status: "completed" });
      expect(remediation.counts["changed"]).toBe(disabledMembers.length);
      // Signed as docs/alerts.md says: HMAC-SHA256 of "<timestamp>.<body>".
      const ts = post!.headers["x-mfactl-timestamp"] as string;
      expect(post!.headers["x-mfactl-signature"]).toBe(`sha256=${createHmac("sha256", SECRET).update(`${ts}.${post!.body}`).digest("hex")}`);
      expect(post!.headers["x-mfactl-event"]).toBe("driftCheck");

      // The emulator: each of them enforced, each changed once, nobody else touched.
      for (const u of disabledMembers) expect(h.emu.admin.getUser(t, u.id)).toMatchObject({ perUserMfaState: "enforced" });
      const stats = h.emu.admin.stats();
      expect(Object.values(stats.patchesByUser).every((n) => n === 1)).toBe(true);
      expect(stats.patches).toBe(disabledMembers.length);

      // The firing is kept, with the run and the alert's delivery.
      const fires = await h.call("/v1/schedules/nightly/fires", { auth: key });
      expect(fires.status).toBe(200);
      const [fire] = (fires.body as { fires: { period: string; status: string; trigger: string; result: { remediation: { runId: string }; alerts: { status: string; target: string }[] } }[] }).fires;
      expect(fire).toMatchObject({ period, status: "succeeded", trigger: "scheduler" });
      expect(fire!.result.remediation.runId).toBe(remediation.runId);
      expect(fire!.result.alerts).toEqual([expect.objectContaining({ status: "sent" })]);
      expect(JSON.stringify(fires.body)).not.toContain("mfactl-secret-path");
      const run = await h.call(`/v1/runs/${remediation.runId}`, { auth: key });
      expect(run.body).toMatchObject({ kind: "enforce", actor: "schedule:nightly", status: "completed" });

      // The same period does not fire again, however long the scheduler keeps looking.
      clock.set(tomorrow + 3 * 3_600_000 + 60_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(hook.got).toHaveLength(1);

      // Checked again now (by hand): no drift left, so no alert (when: drift) and nothing changed.
      const again = await h.call("/v1/schedules/nightly/run", { method: "POST", auth: key });
      expect(again.status, again.text).toBe(202);
      const done = await h.waitForJob((again.body as JobView).jobId, key);
      expect(done).toMatchObject({ type: "driftCheck", status: "succeeded", summary: { status: "noDrift", counts: { inDrift: 0 }, alerts: { sent: 0, skipped: 1 } } });
      expect(h.emu.admin.stats().patches).toBe(disabledMembers.length);
      expect(hook.got).toHaveLength(1);

      // Undo the remediation: everyone back as they were.
      const undo = await h.call("/v1/jobs/undo", { method: "POST", auth: key, body: { runId: remediation.runId } });
      expect(undo.status, undo.text).toBe(202);
      expect(await h.waitForJob((undo.body as JobView).jobId, key)).toMatchObject({ status: "succeeded" });
      for (const u of before) expect(h.emu.admin.getUser(t, u.id).perUserMfaState).toBe(u.perUserMfaState);

      // The next night: drift again (the undo brought it back), a second firing for the new period.
      clock.set(tomorrow + DAY + 3 * 3_600_000 + 100);
      const posts = await hook.next(2);
      expect(posts[1]!.json).toMatchObject({ period: new Date(tomorrow + DAY + 3 * 3_600_000).toISOString(), status: "remediated" });
    });

    it("refuses a bad schedule with its reasons, changing nothing; lists, changes and removes schedules", async () => {
      const t = h.emu.tenants[0]!.domain;
      const policy = ["version: 1", "policies:", "  - name: All", `    tenants: [${t}]`, "    rules:", "      - name: Everyone", "        when: { userType: member }", "        state: enabled", ""].join("\n");
      const bad = await h.call("/v1/schedules", { method: "POST", auth: key, body: { name: "weekly", cron: "61 * * * *", policy, tenants: [t] } });
      expect(bad.status).toBe(400);
      expect(bad.text).toMatch(/cron/);
      const badHook = await h.call("/v1/schedules", { method: "POST", auth: key, body: { name: "weekly", cron: "0 6 * * 1", policy, tenants: [t], alerts: { webhooks: [{ url: "http://hooks.example.com/secret-token" }] } } });
      expect(badHook.status).toBe(400);
      expect(badHook.text).not.toContain("secret-token");
      const unserved = await h.call("/v1/schedules", { method: "POST", auth: key, body: { name: "weekly", cron: "0 6 * * 1", policy, tenants: ["not-served.example.com"] } });
      expect(unserved.status).toBe(404);
      expect((await h.call("/v1/schedules/weekly", { auth: key })).status).toBe(404);

      const created = await h.call("/v1/schedules", { method: "POST", auth: key, body: { name: "weekly", cron: "0 6 * * 1", timezone: "Europe/Amsterdam", policy, tenants: [t] } });
      expect(created.status, created.text).toBe(201);
      const dup = await h.call("/v1/schedules", { method: "POST", auth: key, body: { name: "WEEKLY", cron: "0 6 * * 1", policy, tenants: [t] } });
      expect(dup.status).toBe(409);
      const reader = await h.key(["read"]);
      expect((await h.call("/v1/schedules", { method: "POST", auth: reader, body: { name: "other", cron: "0 6 * * 1", policy, tenants: [t] } })).status).toBe(403);
      const list = await h.call("/v1/schedules", { auth: reader });
      expect((list.body as { schedules: { name: string }[] }).schedules.map((s) => s.name)).toEqual(["nightly", "weekly"]);

      const changed = await h.call("/v1/schedules/weekly", { method: "PATCH", auth: key, body: { enabled: false, cron: "30 7 * * 1-5" } });
      expect(changed.status, changed.text).toBe(200);
      expect(changed.body).toMatchObject({ name: "weekly", enabled: false, cron: "30 7 * * 1-5", timezone: "Europe/Amsterdam", nextFires: [] });
      expect((await h.call("/v1/schedules/weekly", { method: "DELETE", auth: key })).status).toBe(204);
      expect((await h.call("/v1/schedules/weekly", { auth: key })).status).toBe(404);
      const audit = await h.call("/v1/audit?limit=50", { auth: await h.key(["admin"]) });
      const actions = (audit.body as { entries: { action: string; target?: string }[] }).entries.filter((e) => e.target?.startsWith("weekly")).map((e) => e.action);
      expect(actions).toEqual(["schedule.delete", "schedule.update", "schedule.create"]);
    });
  });
}
