/**
 * `mfactl schedule ...` as real processes on a real database file, against the emulator over HTTPS: schedules are
 * validated before anything is stored, webhook URLs and secrets never printed, `run` fires one now (the webhook
 * receives the documented payload, signed), remediation goes through the journal and `mfactl undo` reverts it.
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "@mfactl/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminUser, mfactl, useEmulatorProcess } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "1", "--users", "24", "--seed", "e2e-schedule"]);

const HOOK_SECRET = "hook-secret-0123456789abcdef";
/** The part of a webhook URL that is its secret (as in Teams and Slack URLs). */
const SECRET_PATH = "/hooks/T000-s3cr3t-path-4f9a";

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on loopback: records every POST; `/gone...` answers 410. */
let receiver: Server;
let hookBase = "";
const received: Received[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(req.url?.startsWith("/gone") ? 410 : 200, { "content-type": "text/plain" }).end("ok");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  hookBase = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

interface Mail {
  from: string;
  to: string[];
  data: string;
}

/** Just enough SMTP on loopback to take a message (no TLS, no login: what a local relay is). */
let smtpServer: TcpServer;
let smtpPort = 0;
const mails: Mail[] = [];

beforeAll(async () => {
  smtpServer = createTcpServer((socket) => {
    let buffer = "";
    let mail: Mail = { from: "", to: [], data: "" };
    let inData = false;
    socket.write("220 test ESMTP\r\n");
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      let end: number;
      while ((end = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            mails.push(mail);
            mail = { from: "", to: [], data: "" };
            socket.write("250 queued\r\n");
          } else mail.data += `${line.startsWith("..") ? line.slice(1) : line}\n`;
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "MAIL") mail.from = line;
        if (verb === "RCPT") mail.to.push(line);
        if (verb === "DATA") inData = true;
        if (verb === "QUIT") socket.end("221 bye\r\n");
        else socket.write(verb === "DATA" ? "354 go on\r\n" : "250 ok\r\n");
      }
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => smtpServer.listen(0, "127.0.0.1", resolve));
  smtpPort = (smtpServer.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => smtpServer.close(() => resolve()));
});

function workDir(): { dir: string; db: string } {
  const dir = mkdtempSync(join(tmpdir(), "mfactl-schedule-"));
  return { dir, db: join(dir, "journal.db") };
}

/** Guests must be disabled: with everyone enforced, every guest is in drift. */
function writePolicy(dir: string, tenant: string, name = "policy.yaml"): string {
  const path = join(dir, name);
  writeFileSync(path, `version: 1\npolicies:\n  - name: Guests off\n    tenants: [${tenant}]\n    rules:\n      - name: Guests\n        when: { userType: guest }\n        state: disabled\n`);
  return path;
}

interface ScheduleJson {
  scheduleId: string;
  name: string;
  enabled: boolean;
  cron: string;
  timezone: string;
  policySource?: string;
  alerts: { webhooks: { url: string; format: string; secret?: string; when: string }[]; email?: { to: string[] } };
  remediate: { enabled: boolean; maxChanges?: string | number };
  nextFires?: string[];
  nextFire?: string | null;
}

describe("mfactl schedule add | list | show | set | remove (no Graph)", () => {
  it("add stores the schedule: prints it with the webhook redacted and the next 3 fires; list and show never print the URL's path or the secret", async () => {
    const { dir, db } = workDir();
    const policy = writePolicy(dir, "contoso.onmicrosoft.com");
    const env = { MFACTL_DB: db, HOOK_SECRET };
    const hook = `${hookBase}${SECRET_PATH}`;
    const add = await mfactl(["schedule", "add", "nightly", "--cron", "0 6 * * *", "--policy", policy, "--webhook", `slack=${hook}`, "--webhook", hook, "--webhook-secret-env", "HOOK_SECRET", "--alert-when", "always", "-o", "json"], env);
    expect(add.code, add.stderr).toBe(0);
    const created = JSON.parse(add.stdout) as ScheduleJson;
    expect(created).toMatchObject({ name: "nightly", cron: "0 6 * * *", timezone: "UTC", enabled: true, policySource: "policy.yaml", remediate: { enabled: false } });
    expect(created.scheduleId).toMatch(/^sch-[0-9a-f]{12}$/);
    expect(created.alerts.webhooks).toEqual([
      { url: `${hookBase}/…`, format: "slack", secret: "[set]", when: "always" },
      { url: `${hookBase}/…`, format: "mfactl", secret: "[set]", when: "always" },
    ]);
    // Every day at 06:00 UTC, strictly in the future, one day apart.
    expect(created.nextFires).toHaveLength(3);
    const fires = created.nextFires!.map((f) => Date.parse(f));
    expect(created.nextFires!.every((f) => f.endsWith("T06:00:00.000Z"))).toBe(true);
    expect(fires[0]!).toBeGreaterThan(Date.now() - 60_000);
    expect(fires[1]! - fires[0]!).toBe(86_400_000);
    expect(add.stderr).toContain(`Schedule nightly (${created.scheduleId}) created`);

    const [list, show, showJson, again] = await Promise.all([
      mfactl(["schedule", "list"], env),
      mfactl(["schedule", "show", "nightly"], env),
      mfactl(["schedule", "show", created.scheduleId, "-o", "json"], env),
      // A name is taken whatever its case.
      mfactl(["schedule", "add", "NIGHTLY", "--cron", "0 7 * * *", "--policy", policy], env),
    ]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+ENABLED\s+CRON\s+TENANTS\s+ALERTS\s+REMEDIATION\s+NEXT FIRE\s+LAST FIRING/);
    expect(list.stdout).toMatch(/nightly\s+yes\s+0 6 \* \* \* \(UTC\)\s+the policy's\s+2 webhooks \(slack,mfactl\)\s+off\s+\d{4}-\d\d-\d\dT06:00:00\.000Z/);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(`webhook ${hookBase}/… (slack, every check, signed)`);
    expect(show.stdout).toContain("rules:"); // the policy's text
    expect(show.stdout).toContain("last firings:\nnone yet");
    expect(showJson.code, showJson.stderr).toBe(0);
    expect((JSON.parse(showJson.stdout) as ScheduleJson & { fires: unknown[] }).fires).toEqual([]);
    expect((JSON.parse(showJson.stdout) as ScheduleJson).nextFires).toHaveLength(5);
    for (const r of [add, list, show, showJson]) {
      expect(r.stdout + r.stderr).not.toContain(SECRET_PATH);
      expect(r.stdout + r.stderr).not.toContain(HOOK_SECRET);
    }

    expect(again.code).toBe(2);
    expect(again.stderr).toContain("A schedule named NIGHTLY already exists");
  });

  it("add with a bad cron, zone, webhook, secret variable or cap: exit 2, the reason in words, nothing stored", async () => {
    const cases: [string[], RegExp][] = [
      [["--cron", "61 * * * *"], /cron: "61 \* \* \* \*" is not a cron expression/],
      [["--cron", "0 6 * * *", "--timezone", "Mars/Olympus"], /timezone: "Mars\/Olympus" is not an IANA time zone/],
      [["--cron", "0 6 * * *", "--webhook", `http://hooks.example.com${SECRET_PATH}`], /alerts\.webhooks\.0\.url: must be https:\/\//],
      [["--cron", "0 6 * * *", "--webhook", `discord=https://hooks.example.com${SECRET_PATH}`], /unknown format "discord"/],
      [["--cron", "0 6 * * *", "--webhook", `https://hooks.example.com${SECRET_PATH}`, "--webhook-secret-env", "NOT_SET"], /environment variable NOT_SET is not set/],
      [["--cron", "0 6 * * *", "--remediate-max-changes", "5"], /add --remediate/],
    ];
    const { dir, db } = workDir();
    const policy = writePolicy(dir, "contoso.onmicrosoft.com");
    // Independent processes: run side by side (each refuses before it opens the database).
    const results = await Promise.all(cases.map(([flags]) => mfactl(["schedule", "add", "bad", "--policy", policy, ...flags], { MFACTL_DB: db })));
    results.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
      expect(r.stderr).not.toContain(SECRET_PATH);
    });
    const list = await mfactl(["schedule", "list", "-o", "json"], { MFACTL_DB: db });
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it("add with a bad policy file: exit 2 naming the problem and its line, nothing stored", async () => {
    const { dir, db } = workDir();
    const policy = join(dir, "typo.yaml");
    writeFileSync(policy, "version: 1\npolicies:\n  - name: P\n    tenants: [contoso.onmicrosoft.com]\n    rules:\n      - name: R\n        state: enforcd\n");
    const [r, missing] = await Promise.all([
      mfactl(["schedule", "add", "typo", "--cron", "0 6 * * *", "--policy", policy], { MFACTL_DB: db }),
      mfactl(["schedule", "add", "missing", "--cron", "0 6 * * *", "--policy", join(dir, "nope.yaml")], { MFACTL_DB: db }),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/policy: .*policies\[0\]\.rules\[0\]\.state \(line 7/);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("Cannot read the policy file");
    expect(JSON.parse((await mfactl(["schedule", "list", "-o", "json"], { MFACTL_DB: db })).stdout)).toEqual([]);
  });

  it("set changes what is given and keeps the rest; a bad change changes nothing; remove asks (or -y), unknown names exit 2", async () => {
    const { dir, db } = workDir();
    const env = { MFACTL_DB: db, HOOK_SECRET };
    const policy = writePolicy(dir, "contoso.onmicrosoft.com");
    const add = await mfactl(["schedule", "add", "weekly", "--cron", "0 6 * * 1", "--policy", policy, "--webhook", `teams=${hookBase}${SECRET_PATH}`, "--webhook-secret-env", "HOOK_SECRET", "-o", "json"], env);
    expect(add.code, add.stderr).toBe(0);

    const disable = await mfactl(["schedule", "set", "weekly", "--disable", "--cron", "30 5 * * 1-5", "--timezone", "Europe/Berlin", "-o", "json"], env);
    expect(disable.code, disable.stderr).toBe(0);
    const changed = JSON.parse(disable.stdout) as ScheduleJson;
    expect(changed).toMatchObject({ name: "weekly", enabled: false, cron: "30 5 * * 1-5", timezone: "Europe/Berlin", policySource: "policy.yaml" });
    // The webhook and its secret are kept.
    expect(changed.alerts.webhooks).toEqual([{ url: `${hookBase}/…`, format: "teams", secret: "[set]", when: "drift" }]);
    expect(disable.stderr).toContain("changed: cron, timezone, enabled.");
    const [list, bad, nothing] = await Promise.all([mfactl(["schedule", "list"], env), mfactl(["schedule", "set", "weekly", "--cron", "not cron", "--enable"], env), mfactl(["schedule", "set", "weekly"], env)]);
    expect(list.stdout).toMatch(/weekly\s+no\s+30 5 \* \* 1-5 \(Europe\/Berlin\).*\(disabled\)/);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("is not a cron expression");
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain("Nothing to change");
    const still = JSON.parse((await mfactl(["schedule", "list", "-o", "json"], env)).stdout) as ScheduleJson[];
    expect(still).toEqual([expect.objectContaining({ name: "weekly", enabled: false, cron: "30 5 * * 1-5", nextFire: null })]);

    const more = await mfactl(["schedule", "set", "weekly", "--enable", "--no-webhooks", "--remediate", "--remediate-max-changes", "10%", "-o", "json"], env);
    expect(more.code, more.stderr).toBe(0);
    expect(JSON.parse(more.stdout)).toMatchObject({ enabled: true, alerts: { webhooks: [] }, remediate: { enabled: true, maxChanges: "10%" } });

    // Off a terminal, remove needs --yes: nothing removed.
    const [unknown, ask] = await Promise.all([mfactl(["schedule", "show", "nope"], env), mfactl(["schedule", "remove", "weekly"], env)]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("No schedule named nope");
    expect(ask.code).toBe(2);
    expect(ask.stderr).toContain("add --yes");
    expect(JSON.parse((await mfactl(["schedule", "list", "-o", "json"], env)).stdout)).toHaveLength(1);
    const remove = await mfactl(["schedule", "remove", "weekly", "-y"], env);
    expect(remove.code, remove.stderr).toBe(0);
    expect(remove.stderr).toContain("Schedule weekly");
    const [gone, twice] = await Promise.all([mfactl(["schedule", "list", "-o", "json"], env), mfactl(["schedule", "remove", "weekly", "-y"], env)]);
    expect(JSON.parse(gone.stdout)).toEqual([]);
    expect(twice.code).toBe(2);

    // Each change is in the audit log, newest first, by the person at the CLI; never a webhook URL or secret.
    const store = await openStore(db);
    try {
      const entries = (await store.access.listAudit()).filter((e) => e.action.startsWith("schedule."));
      expect(entries.map((e) => e.action)).toEqual(["schedule.delete", "schedule.update", "schedule.update", "schedule.create"]);
      expect(entries.every((e) => e.outcome === "ok" && /^cli:/.test(e.actor) && e.target?.startsWith("weekly (sch-"))).toBe(true);
      expect(JSON.stringify(entries)).not.toContain(SECRET_PATH);
      expect(JSON.stringify(entries)).not.toContain(HOOK_SECRET);
    } finally {
      await store.close();
    }
  });
});

interface AdminListed {
  id: string;
  userPrincipalName: string;
}

describe("mfactl schedule run | results (against the emulator)", () => {
  /** Everyone enforced; the guests (read one by one from the emulator) are what the policy says is drift. */
  async function guestsInDrift(tenant: string): Promise<string[]> {
    await lab.emu.admin("PATCH", `/tenants/${tenant}/users`, { perUserMfaState: "enforced" });
    const users = await lab.emu.admin<AdminListed[]>("GET", `/tenants/${tenant}/users`);
    const guests: string[] = [];
    for (const u of users) if ((await adminUser(lab.emu, tenant, u.id)).userType === "Guest") guests.push(u.userPrincipalName);
    expect(guests.length).toBeGreaterThan(0);
    return guests.sort();
  }

  it("run checks now: the webhook gets the signed mfactl payload (schedule, counts, drift users), the email goes through the profile's smtp; results lists the firing; nothing changed", async () => {
    const t = lab.domain;
    const guests = await guestsInDrift(t);
    const { dir, db } = workDir();
    // The profile's smtp (a relay on loopback) carries the email alert.
    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ profiles: { default: { smtp: { host: "127.0.0.1", port: smtpPort, from: "mfactl <mfactl@contoso.com>" } } } }));
    const env = { ...lab.emu.env, MFACTL_DB: db, MFACTL_CONFIG: config, HOOK_SECRET };
    const policy = writePolicy(dir, t);
    const add = await mfactl(["schedule", "add", "check", "--cron", "0 6 * * *", "--policy", policy, "--webhook", `${hookBase}${SECRET_PATH}/check`, "--webhook-secret-env", "HOOK_SECRET", "--email-to", "secops@contoso.com,it@contoso.com"], env);
    expect(add.code, add.stderr).toBe(0);
    received.length = 0;
    mails.length = 0;

    const run = await mfactl(["schedule", "run", "check"], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^TENANT\s+USER\s+STATE\s+POLICY WANTS\n/);
    for (const g of guests) expect(run.stdout).toContain(g);
    expect(run.stderr).toContain(`${guests.length} user${guests.length === 1 ? "" : "s"} in drift`);
    expect(run.stderr).toContain("remediation: off");
    expect(run.stderr).toMatch(new RegExp(`alert webhook ${hookBase.replace(/[.]/g, "\\.")}/… \\(mfactl\\): sent \\(HTTP 200\\)`));
    expect(run.stderr).toContain(`alert email smtp://127.0.0.1:${smtpPort} (email): sent`);
    expect(run.stdout + run.stderr).not.toContain(SECRET_PATH);

    expect(mails).toHaveLength(1);
    expect(mails[0]!.from).toMatch(/^MAIL FROM:<mfactl@contoso\.com>/i);
    expect(mails[0]!.to.map((r) => /<(.+)>/.exec(r)?.[1])).toEqual(["secops@contoso.com", "it@contoso.com"]);
    expect(mails[0]!.data).toMatch(new RegExp(`^Subject: \\[mfactl\\] check: ${guests.length} users? in drift`, "m"));

    expect(received).toHaveLength(1);
    const hit = received[0]!;
    expect(hit.path).toBe(`${SECRET_PATH}/check`);
    // Signed as docs/alerts.md says: HMAC-SHA256 over "<timestamp>.<body>".
    const timestamp = hit.headers["x-mfactl-timestamp"] as string;
    expect(hit.headers["x-mfactl-signature"]).toBe(`sha256=${createHmac("sha256", HOOK_SECRET).update(`${timestamp}.${hit.body}`).digest("hex")}`);
    const alert = JSON.parse(hit.body) as {
      type: string;
      version: number;
      schedule: { name: string; scheduleId: string };
      status: string;
      counts: { tenants: number; tenantsFailed: number; inDrift: number; managed: number };
      drift: { tenant: string; userPrincipalName: string; perUserMfaState: string; requestedState: string }[];
      remediation: { enabled: boolean };
    };
    expect(alert).toMatchObject({ type: "mfactl.driftCheck", version: 1, schedule: { name: "check" }, status: "drift", counts: { tenants: 1, tenantsFailed: 0, inDrift: guests.length, managed: guests.length }, remediation: { enabled: false } });
    expect(alert.drift.map((d) => d.userPrincipalName).sort()).toEqual(guests);
    expect(alert.drift.every((d) => d.tenant === t && d.perUserMfaState === "enforced" && d.requestedState === "disabled")).toBe(true);
    // Measured, not changed.
    for (const g of guests) expect((await adminUser(lab.emu, t, g)).perUserMfaState).toBe("enforced");

    const results = await mfactl(["schedule", "results", "check"], env);
    expect(results.code, results.stderr).toBe(0);
    expect(results.stdout).toMatch(/^PERIOD\s+STATUS\s+TRIGGER\s+IN DRIFT\s+REMEDIATION RUN\s+ALERTS SENT\/FAILED/);
    expect(results.stdout).toMatch(new RegExp(`succeeded \\(drift\\)\\s+manual:app:${lab.emu.clientId}\\s+${guests.length}\\s+-\\s+2/0`));
    const list = await mfactl(["schedule", "list"], env);
    expect(list.stdout).toMatch(/succeeded \(drift\) \d{4}-\d\d-\d\dT/);
  }, 60_000);

  it("run with --remediate changes the drift through the journal; `mfactl undo <runId>` reverts it; an alert that cannot be delivered is exit 1", async () => {
    const t = lab.domain;
    const guests = await guestsInDrift(t);
    const { dir, db } = workDir();
    const env = { ...lab.emu.env, MFACTL_DB: db };
    const policy = writePolicy(dir, t);
    const add = await mfactl(["schedule", "add", "fix", "--cron", "*/30 * * * *", "--policy", policy, "--remediate", "--webhook", `${hookBase}${SECRET_PATH}/fix`, "--alert-when", "remediated", "-o", "json"], env);
    expect(add.code, add.stderr).toBe(0);
    received.length = 0;

    const run = await mfactl(["schedule", "run", "fix", "-o", "json"], env);
    expect(run.code, run.stderr).toBe(0);
    // The firing, as `schedule results -o json` lists it.
    const out = JSON.parse(run.stdout) as {
      scheduleId: string;
      status: string;
      trigger: string;
      result: {
        status: string;
        schedule: { name: string };
        counts: { inDrift: number };
        remediation: { enabled: boolean; status: string; runId: string; counts: Record<string, number> };
        alerts: { status: string; target: string }[];
      };
    };
    expect(out).toMatchObject({
      scheduleId: (JSON.parse(add.stdout) as ScheduleJson).scheduleId,
      status: "succeeded",
      trigger: `manual:app:${lab.emu.clientId}`,
      result: { status: "remediated", schedule: { name: "fix" }, counts: { inDrift: guests.length }, remediation: { enabled: true, status: "completed", counts: { changed: guests.length } } },
    });
    const runId = out.result.remediation.runId;
    expect(runId).toBeTruthy();
    expect(out.result.alerts).toEqual([expect.objectContaining({ status: "sent", target: `${hookBase}/…` })]);
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!.body)).toMatchObject({ status: "remediated", remediation: { enabled: true, status: "completed", runId } });
    for (const g of guests) expect((await adminUser(lab.emu, t, g)).perUserMfaState).toBe("disabled");

    // The remediation is a journaled run like any other.
    const undo = await mfactl(["undo", runId, "--yes", "-q"], env);
    expect(undo.code, undo.stderr).toBe(0);
    for (const g of guests) expect((await adminUser(lab.emu, t, g)).perUserMfaState).toBe("enforced");

    const [results, table] = await Promise.all([mfactl(["schedule", "results", "fix", "-o", "json"], env), mfactl(["schedule", "results", "fix"], env)]);
    const fires = JSON.parse(results.stdout) as { status: string; result: { remediation: { runId: string } } }[];
    expect(fires).toHaveLength(1);
    expect(fires[0]).toMatchObject({ status: "succeeded", result: { remediation: { runId } } });
    expect(table.stdout).toMatch(new RegExp(`succeeded \\(remediated\\)\\s+manual:\\S+\\s+${guests.length}\\s+${runId}\\s+1/0`));

    // A receiver that refuses the alert: the check is done (and kept), the exit code says the alert failed.
    const hook = await mfactl(["schedule", "set", "fix", "--no-remediate", "--webhook", `${hookBase}/gone${SECRET_PATH}`, "--alert-when", "always"], env);
    expect(hook.code, hook.stderr).toBe(0);
    const refused = await mfactl(["schedule", "run", "fix"], env);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toContain("remediation: off");
    expect(refused.stderr).toMatch(/alert webhook http:\/\/127\.0\.0\.1:\d+\/… \(mfactl\): failed: The webhook .* answered 410/);
    expect(refused.stdout + refused.stderr).not.toContain(SECRET_PATH);
    const after = JSON.parse((await mfactl(["schedule", "results", "fix", "-o", "json"], env)).stdout) as { status: string }[];
    expect(after).toHaveLength(2);
  }, 60_000);

  it("run of an unknown schedule is exit 2 before any Graph request", async () => {
    const { db } = workDir();
    await lab.emu.admin("POST", "/stats/reset");
    const r = await mfactl(["schedule", "run", "nope"], { ...lab.emu.env, MFACTL_DB: db });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("No schedule named nope");
    expect((await lab.emu.admin<{ requests: number }>("GET", "/stats")).requests).toBe(0);
  });
});
