import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { InstantClock, ManualClock } from "../transport/clock.js";
import type { ScheduleDefinition, WebhookAlert } from "../schedule/types.js";
import { cleanResult, driftResult, remediatedResult } from "./alert-fixtures.test-helper.js";
import { deliverAlerts, redactUrl, SmtpSettingsSchema, type SmtpSettings } from "./deliver.js";
import { alertPayload, emailMessage, slackPayload, teamsPayload } from "./payload.js";

const SECRET = "a-webhook-secret-of-some-length";
const START = Date.UTC(2026, 4, 1, 0, 0, 10);

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver on 127.0.0.1 answering from a script (status, headers, body), then 200. */
class Receiver {
  readonly requests: Received[] = [];
  script: { status: number; headers?: Record<string, string>; body?: string }[] = [];
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        const next = this.script.shift() ?? { status: 200, body: "ok" };
        res.writeHead(next.status, next.headers ?? {});
        res.end(next.body ?? "");
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path = "/services/T000/B000/SECRETPATHPART"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  reset(): void {
    this.requests.length = 0;
    this.script = [];
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

const alerts = (webhooks: Partial<WebhookAlert>[], email?: ScheduleDefinition["alerts"]["email"]): ScheduleDefinition["alerts"] => ({
  webhooks: webhooks.map((w) => ({ url: "", format: "mfactl", when: "drift", ...w })),
  ...(email ? { email } : {}),
});

describe("deliverAlerts: webhooks", () => {
  const receiver = new Receiver();
  beforeAll(() => receiver.start());
  afterAll(() => receiver.stop());
  afterEach(() => receiver.reset());

  it("posts the mfactl payload with the documented headers and a verifiable signature", async () => {
    const clock = new InstantClock(START);
    const result = remediatedResult();
    const [delivery] = await deliverAlerts(alerts([{ url: receiver.url("/hook"), secret: SECRET }]), result, { clock });
    expect(delivery).toEqual({ channel: "webhook", target: `http://127.0.0.1:${receiver.port}/…`, format: "mfactl", status: "sent", attempts: 1, httpStatus: 200 });
    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0]!;
    expect(req.method).toBe("POST");
    expect(req.url).toBe("/hook");
    const expected = alertPayload(result, START);
    expect(JSON.parse(req.body)).toEqual(expected);
    expect(req.headers).toMatchObject({
      "content-type": "application/json",
      "user-agent": "mfactl",
      "x-mfactl-event": "driftCheck",
      "x-mfactl-alert-id": expected.alertId,
      "x-mfactl-timestamp": String(Math.floor(START / 1000)),
    });
    // What a receiver does: HMAC-SHA256 over `${timestamp}.${raw body}` with the shared secret.
    const mac = createHmac("sha256", SECRET).update(`${String(req.headers["x-mfactl-timestamp"])}.${req.body}`).digest("hex");
    expect(req.headers["x-mfactl-signature"]).toBe(`sha256=${mac}`);
    const forged = createHmac("sha256", "another-secret-entirely").update(`${String(req.headers["x-mfactl-timestamp"])}.${req.body}`).digest("hex");
    expect(req.headers["x-mfactl-signature"]).not.toBe(`sha256=${forged}`);
  });

  it("sends no signature headers without a secret", async () => {
    await deliverAlerts(alerts([{ url: receiver.url() }]), remediatedResult(), { clock: new InstantClock(START) });
    expect(receiver.requests[0]!.headers["x-mfactl-signature"]).toBeUndefined();
    expect(receiver.requests[0]!.headers["x-mfactl-timestamp"]).toBeUndefined();
  });

  it("posts the Teams and Slack shapes, each to its own URL, the same alert id", async () => {
    const result = driftResult(14);
    const deliveries = await deliverAlerts(alerts([{ url: receiver.url("/teams"), format: "teams" }, { url: receiver.url("/slack"), format: "slack" }]), result, { clock: new InstantClock(START) });
    expect(deliveries.map((d) => [d.format, d.status])).toEqual([
      ["teams", "sent"],
      ["slack", "sent"],
    ]);
    const alert = alertPayload(result, START);
    const byPath = new Map(receiver.requests.map((r) => [r.url, r]));
    expect(JSON.parse(byPath.get("/teams")!.body)).toEqual(JSON.parse(JSON.stringify(teamsPayload(alert))));
    expect(JSON.parse(byPath.get("/slack")!.body)).toEqual(JSON.parse(JSON.stringify(slackPayload(alert))));
    expect(byPath.get("/teams")!.headers["x-mfactl-alert-id"]).toBe(alert.alertId);
    expect(byPath.get("/slack")!.headers["x-mfactl-alert-id"]).toBe(alert.alertId);
  });

  it("retries a 503, honouring Retry-After through the clock (capped at 30 s), else 1 s then 2 s", async () => {
    const clock = new InstantClock(START);
    receiver.script = [{ status: 503, headers: { "retry-after": "7" } }, { status: 200 }];
    const [first] = await deliverAlerts(alerts([{ url: receiver.url(), secret: SECRET }]), remediatedResult(), { clock });
    expect(first).toMatchObject({ status: "sent", attempts: 2, httpStatus: 200 });
    expect(clock.sleeps).toEqual([7000]);
    // Each attempt is signed with its own timestamp.
    expect(receiver.requests.map((r) => r.headers["x-mfactl-timestamp"])).toEqual([String(START / 1000), String(START / 1000 + 7)]);

    receiver.reset();
    const backoff = new InstantClock(START);
    receiver.script = [{ status: 502 }, { status: 429, headers: { "retry-after": "120" } }, { status: 204 }];
    const [second] = await deliverAlerts(alerts([{ url: receiver.url() }]), remediatedResult(), { clock: backoff, maxAttempts: 4 });
    expect(second).toMatchObject({ status: "sent", attempts: 3, httpStatus: 204 });
    expect(backoff.sleeps).toEqual([1000, 30000]);

    receiver.reset();
    const gaveUp = new InstantClock(START);
    receiver.script = [{ status: 503 }, { status: 503 }, { status: 503, body: "busy" }];
    const [third] = await deliverAlerts(alerts([{ url: receiver.url() }]), remediatedResult(), { clock: gaveUp });
    expect(third).toMatchObject({ status: "failed", attempts: 3, httpStatus: 503, error: { code: "http503" } });
    expect(third!.error!.message).toBe(`The webhook http://127.0.0.1:${receiver.port}/… answered 503 Service Unavailable: busy (after 3 attempts)`);
    expect(gaveUp.sleeps).toEqual([1000, 2000]);
    expect(receiver.requests).toHaveLength(3);
  });

  it("fails at once on another 4xx, with the status and the receiver's words, never the URL", async () => {
    const clock = new InstantClock(START);
    receiver.script = [{ status: 400, body: "invalid_payload" }];
    const url = receiver.url();
    const [delivery] = await deliverAlerts(alerts([{ url, format: "slack" }]), remediatedResult(), { clock });
    expect(delivery).toEqual({
      channel: "webhook",
      target: `http://127.0.0.1:${receiver.port}/…`,
      format: "slack",
      status: "failed",
      attempts: 1,
      httpStatus: 400,
      error: { code: "http400", message: `The webhook http://127.0.0.1:${receiver.port}/… answered 400 Bad Request: invalid_payload` },
    });
    expect(receiver.requests).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
    expect(JSON.stringify(delivery)).not.toContain("SECRETPATHPART");
  });

  it("does not follow redirects", async () => {
    receiver.script = [{ status: 302, headers: { location: receiver.url("/elsewhere") } }];
    const [delivery] = await deliverAlerts(alerts([{ url: receiver.url() }]), remediatedResult(), { clock: new InstantClock(START) });
    expect(delivery).toMatchObject({ status: "failed", attempts: 1, httpStatus: 302 });
    expect(delivery!.error!.message).toContain("redirects are not followed");
    expect(receiver.requests.map((r) => r.url)).toEqual(["/services/T000/B000/SECRETPATHPART"]);
  });

  it("retries a refused connection, then reports it without the URL", async () => {
    const closed = new Receiver();
    await closed.start();
    const url = closed.url();
    await closed.stop();
    const clock = new InstantClock(START);
    const [delivery] = await deliverAlerts(alerts([{ url }]), remediatedResult(), { clock });
    expect(delivery).toMatchObject({ status: "failed", attempts: 3, error: { code: "ECONNREFUSED" } });
    expect(delivery!.httpStatus).toBeUndefined();
    expect(delivery!.error!.message).toMatch(/^The webhook http:\/\/127\.0\.0\.1:\d+\/… could not be reached: ECONNREFUSED/);
    expect(JSON.stringify(delivery)).not.toContain("SECRETPATHPART");
    expect(clock.sleeps).toEqual([1000, 2000]);
  });

  it("gives each attempt 10 s on the clock", async () => {
    const clock = new ManualClock(START);
    let started = 0;
    // A receiver that never answers: the attempt ends when the clock's timeout fires.
    const hanging = (_url: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        started++;
        init.signal?.addEventListener("abort", () => reject(init.signal?.reason as Error), { once: true });
      });
    const pending = deliverAlerts(alerts([{ url: "https://hooks.example.com/x/y" }]), remediatedResult(), { clock, fetch: hanging, maxAttempts: 1 });
    await new Promise((r) => setImmediate(r));
    expect(started).toBe(1);
    clock.advance(9_999);
    await new Promise((r) => setImmediate(r));
    clock.advance(1);
    const [delivery] = await pending;
    expect(delivery).toMatchObject({ status: "failed", attempts: 1, target: "https://hooks.example.com/…", error: { code: "TIMEOUT" } });
  });

  it("skips channels not due, and sends nothing to them", async () => {
    const deliveries = await deliverAlerts(
      alerts([
        { url: receiver.url("/drift"), when: "drift" },
        { url: receiver.url("/remediated"), when: "remediated" },
        { url: receiver.url("/always"), when: "always" },
      ]),
      cleanResult(),
      { clock: new InstantClock(START) },
    );
    expect(deliveries.map((d) => [d.status, d.attempts])).toEqual([
      ["skipped", 0],
      ["skipped", 0],
      ["sent", 1],
    ]);
    expect(receiver.requests.map((r) => r.url)).toEqual(["/always"]);
  });
});

describe("redactUrl", () => {
  it("keeps the origin only", () => {
    expect(redactUrl("https://hooks.slack.com/services/T0/B0/XYZ")).toBe("https://hooks.slack.com/…");
    expect(redactUrl("https://user:pw@example.com:8443/a?sig=1")).toBe("https://example.com:8443/…");
    expect(redactUrl("https://example.com/?code=secret")).toBe("https://example.com/…");
    expect(redactUrl("https://example.com")).toBe("https://example.com");
    expect(redactUrl("not a url")).toBe("(invalid URL)");
  });
});

describe("SmtpSettingsSchema", () => {
  it("fills the defaults; requireTls defaults to true except on loopback", () => {
    expect(SmtpSettingsSchema.parse({ host: "smtp.example.com", from: "alerts@example.com" })).toEqual({ host: "smtp.example.com", port: 587, secure: false, requireTls: true, from: "alerts@example.com" });
    expect(SmtpSettingsSchema.parse({ host: "127.0.0.1", port: 2525, from: "a@b.c" })).toMatchObject({ requireTls: false });
    expect(SmtpSettingsSchema.safeParse({ host: "h", from: "a@b.c", user: "u" }).success).toBe(false);
  });
});

/** Undoes the transfer encodings nodemailer may use, enough to search the body. */
function decoded(raw: string): string {
  const unfolded = raw.replace(/\r\n[ \t]/g, " ");
  const qp = unfolded.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(qp, "latin1").toString("utf8");
}

describe("deliverAlerts: email over SMTP", () => {
  const received: { from: string | undefined; to: string[]; raw: string; user: string | undefined }[] = [];
  let server: SMTPServer;
  let port = 0;
  const PASSWORD = "smtp-pass-Zq9";

  beforeAll(async () => {
    server = new SMTPServer({
      secure: false,
      disabledCommands: ["STARTTLS"],
      allowInsecureAuth: true,
      authOptional: true,
      logger: false,
      onAuth(auth, _session, callback) {
        if (auth.username === "mfactl" && auth.password === PASSWORD) callback(null, { user: auth.username });
        else callback(new Error("Invalid username or password"));
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          const from = session.envelope.mailFrom;
          received.push({ from: from ? from.address : undefined, to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString("latin1"), user: session.user as string | undefined });
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  afterEach(() => {
    received.length = 0;
  });

  const smtp = (extra: Partial<SmtpSettings> = {}): SmtpSettings => ({ host: "127.0.0.1", port, secure: false, requireTls: false, from: "mfactl@example.com", user: "mfactl", password: PASSWORD, ...extra });

  it("sends one message to every recipient with the summary as subject, naming the users in drift", async () => {
    const result = driftResult();
    const [delivery] = await deliverAlerts(alerts([], { to: ["ops@example.com", "secops@example.org"], when: "drift" }), result, { clock: new InstantClock(START), smtp: smtp() });
    expect(delivery).toEqual({ channel: "email", target: `smtp://127.0.0.1:${port}`, format: "email", status: "sent", attempts: 1 });
    expect(received).toHaveLength(1);
    const mail = received[0]!;
    expect(mail.to).toEqual(["ops@example.com", "secops@example.org"]);
    expect(mail.from).toBe("mfactl@example.com");
    expect(mail.user).toBe("mfactl");
    const text = decoded(mail.raw);
    const expected = emailMessage(alertPayload(result, START));
    expect(text).toContain(`Subject: ${expected.subject}`);
    expect(text.toLowerCase()).toContain(`x-mfactl-alert-id: ${alertPayload(result, START).alertId}`);
    for (const d of result.drift) expect(text).toContain(d.userPrincipalName);
    expect(text).toContain("text/html");
    // The HTML part escapes what the plain text part shows as it is.
    expect(text).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });

  it("uses the schedule's own sender when given", async () => {
    await deliverAlerts(alerts([], { to: ["ops@example.com"], from: "nightly@example.com", when: "always" }), cleanResult(), { clock: new InstantClock(START), smtp: smtp() });
    expect(received[0]!.from).toBe("nightly@example.com");
  });

  it("reports a refused login without the credentials", async () => {
    const [delivery] = await deliverAlerts(alerts([], { to: ["ops@example.com"], when: "always" }), cleanResult(), { clock: new InstantClock(START), smtp: smtp({ password: "wrong-pass-Xy7" }) });
    expect(delivery).toMatchObject({ channel: "email", status: "failed", attempts: 1, error: { code: "EAUTH" } });
    expect(delivery!.error!.message).toMatch(/^Sending the email through smtp:\/\/127\.0\.0\.1:\d+ failed: /);
    expect(JSON.stringify(delivery)).not.toContain("wrong-pass-Xy7");
    expect(JSON.stringify(delivery)).not.toContain(Buffer.from("wrong-pass-Xy7").toString("base64"));
    expect(received).toHaveLength(0);
  });

  it("refuses to send in plain text when requireTls is on (the server offers no STARTTLS)", async () => {
    const [delivery] = await deliverAlerts(alerts([], { to: ["ops@example.com"], when: "always" }), cleanResult(), { clock: new InstantClock(START), smtp: smtp({ requireTls: true }) });
    expect(delivery).toMatchObject({ channel: "email", status: "failed", attempts: 1 });
    expect(delivery!.error!.message).toMatch(/STARTTLS/i);
    expect(received).toHaveLength(0);
  });

  it("fails the email channel when no SMTP server is configured, skips it when not due", async () => {
    const [unconfigured] = await deliverAlerts(alerts([], { to: ["ops@example.com"], when: "drift" }), remediatedResult(), {});
    expect(unconfigured).toMatchObject({ channel: "email", status: "failed", attempts: 0, error: { code: "smtpNotConfigured" } });
    const [notDue] = await deliverAlerts(alerts([], { to: ["ops@example.com"], when: "remediated" }), cleanResult(), { smtp: smtp() });
    expect(notDue).toMatchObject({ channel: "email", status: "skipped", attempts: 0 });
    expect(received).toHaveLength(0);
  });
});
