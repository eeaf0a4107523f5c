import { createHmac } from "node:crypto";
import { rootCertificates } from "node:tls";
import { z } from "zod";
import type { DriftCheckResult } from "../schedule/drift-check.js";
import type { ScheduleDefinition, WebhookAlert, WebhookFormat } from "../schedule/types.js";
import { clockTimeout, systemClock, type Clock } from "../transport/clock.js";
import { describeNetworkFailure, oneLine } from "../transport/network-errors.js";
import type { FetchLike } from "../transport/types.js";
import { alertPayload, emailMessage, shouldAlert, slackPayload, teamsPayload, type DriftAlert } from "./payload.js";

/**
 * Sending a drift check's alert: webhooks (the mfactl payload, signed when a secret is set; or
 * Teams / Slack shapes) with retries, and email over SMTP. A webhook URL is a secret for Teams and
 * Slack: results and errors name it redacted, never whole.
 */

const LOOPBACK = new Set(["127.0.0.1", "::1", "[::1]", "localhost"]);

export interface SmtpSettings {
  host: string;
  /** Default 587. */
  port: number;
  /** TLS from the first byte (port 465). Default false: STARTTLS when the server offers it. */
  secure: boolean;
  /** Refuse to send without TLS (STARTTLS required). Default true, except to a loopback host. */
  requireTls?: boolean | undefined;
  user?: string | undefined;
  password?: string | undefined;
  /** The sender: `alerts@example.com` or `mfactl <alerts@example.com>`. */
  from: string;
  /** Extra CA certificate(s), PEM, for a server with a private CA. */
  caPem?: string | undefined;
}

/** Where and how to send, without the password: what a settings file may hold (the password comes from the environment). */
export const SmtpServerSchema = z
  .object({
    host: z.string().trim().min(1),
    port: z.number().int().min(1).max(65535).default(587),
    secure: z.boolean().default(false),
    requireTls: z.boolean().optional(),
    user: z.string().min(1).optional(),
    from: z.string().trim().min(3),
    caPem: z.string().min(1).optional(),
  })
  .strict();

export const SmtpSettingsSchema: z.ZodType<SmtpSettings> = SmtpServerSchema.extend({ password: z.string().min(1).optional() })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.user === undefined) !== (s.password === undefined)) ctx.addIssue({ code: "custom", path: [s.user === undefined ? "user" : "password"], message: "give user and password together (or neither)" });
  })
  .transform((s) => ({ ...s, requireTls: s.requireTls ?? !LOOPBACK.has(s.host.toLowerCase()) }));

export interface AlertDelivery {
  channel: "webhook" | "email";
  /** Redacted: `https://hooks.slack.com/…`, `smtp://mail.example.com:587`. */
  target: string;
  format: WebhookFormat | "email";
  status: "sent" | "failed" | "skipped";
  attempts: number;
  httpStatus?: number;
  error?: { code: string; message: string };
}

export interface DeliverDeps {
  fetch?: FetchLike | undefined;
  clock?: Clock | undefined;
  smtp?: SmtpSettings | undefined;
  signal?: AbortSignal | undefined;
  /** Attempts per webhook, the first included. Default 3. */
  maxAttempts?: number | undefined;
}

/** Per attempt. */
export const WEBHOOK_TIMEOUT_MS = 10_000;
/** The longest Retry-After honoured. */
export const MAX_RETRY_AFTER_MS = 30_000;
const BACKOFF_MS = [1_000, 2_000, 4_000, 8_000];

/** `https://hooks.slack.com/…` : origin plus "/…" (the path holds the secret). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const rest = (u.pathname && u.pathname !== "/") || u.search || u.hash ? "/…" : "";
    return `${u.protocol}//${u.host}${rest}`;
  } catch {
    return "(invalid URL)";
  }
}

/** Seconds or an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function bodyFor(format: WebhookFormat, alert: DriftAlert): string {
  const payload = format === "teams" ? teamsPayload(alert) : format === "slack" ? slackPayload(alert) : alert;
  return JSON.stringify(payload);
}

/** `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

async function sendWebhook(hook: WebhookAlert, alert: DriftAlert, deps: DeliverDeps): Promise<AlertDelivery> {
  const clock = deps.clock ?? systemClock;
  const fetchFn: FetchLike = deps.fetch ?? ((url, init) => fetch(url, init));
  const maxAttempts = Math.max(1, deps.maxAttempts ?? 3);
  const target = redactUrl(hook.url);
  const body = bodyFor(hook.format, alert);
  const base = { channel: "webhook" as const, target, format: hook.format };
  // A response body may quote the request; keep the URL out of what is reported.
  const scrub = (text: string) => oneLine(text.split(hook.url).join(target), 200);
  let lastError: { code: string; message: string } = { code: "failed", message: "not sent" };
  let lastStatus: number | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (aborted(deps.signal)) return { ...base, status: "failed", attempts: attempt - 1, error: { code: "aborted", message: "Stopped before the alert was sent." } };
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "mfactl",
      "x-mfactl-event": "driftCheck",
      "x-mfactl-alert-id": alert.alertId,
    };
    if (hook.secret !== undefined) {
      // Per attempt: receivers may refuse old timestamps (replays).
      const timestamp = String(Math.floor(clock.now() / 1000));
      headers["x-mfactl-timestamp"] = timestamp;
      headers["x-mfactl-signature"] = webhookSignature(hook.secret, timestamp, body);
    }
    const timeout = clockTimeout(clock, WEBHOOK_TIMEOUT_MS);
    const signal = deps.signal ? AbortSignal.any([timeout, deps.signal]) : timeout;
    let retryDelay: number | undefined;
    try {
      // Redirects are not followed: a POST carrying an alert goes only where it was configured to.
      const res = await fetchFn(hook.url, { method: "POST", headers, body, signal, redirect: "manual" });
      const text = await res.text().catch(() => "");
      if (res.status >= 200 && res.status < 300) return { ...base, status: "sent", attempts: attempt, httpStatus: res.status };
      lastStatus = res.status;
      const detail = text.trim() ? `: ${scrub(text)}` : "";
      lastError = { code: `http${res.status}`, message: `The webhook ${target} answered ${res.status}${res.statusText ? ` ${res.statusText}` : ""}${detail}` };
      if (res.status !== 429 && res.status < 500) {
        if (res.status >= 300 && res.status < 400) lastError.message += " (redirects are not followed: configure the final URL)";
        return { ...base, status: "failed", attempts: attempt, httpStatus: res.status, error: lastError };
      }
      const after = retryAfterMs(res.headers.get("retry-after"), clock.now());
      if (after !== undefined) retryDelay = Math.min(after, MAX_RETRY_AFTER_MS);
    } catch (error) {
      if (aborted(deps.signal)) return { ...base, status: "failed", attempts: attempt, error: { code: "aborted", message: "Stopped while the alert was being sent." } };
      const failure = describeNetworkFailure(error);
      lastStatus = undefined;
      lastError = failure
        ? { code: failure.code, message: `The webhook ${target} could not be reached: ${scrub(failure.detail)}` }
        : { code: "failed", message: `The webhook ${target} could not be reached: ${scrub(error instanceof Error ? error.message : String(error))}` };
      if (failure && !failure.retryable && failure.code !== "FETCH_FAILED") return { ...base, status: "failed", attempts: attempt, error: lastError };
    }
    if (attempt < maxAttempts) {
      try {
        await clock.sleep(retryDelay ?? BACKOFF_MS[Math.min(attempt - 1, BACKOFF_MS.length - 1)]!, deps.signal);
      } catch {
        return { ...base, status: "failed", attempts: attempt, error: { code: "aborted", message: "Stopped while waiting to send the alert again." } };
      }
    }
  }
  return { ...base, status: "failed", attempts: maxAttempts, ...(lastStatus !== undefined ? { httpStatus: lastStatus } : {}), error: { ...lastError, message: `${lastError.message} (after ${maxAttempts} attempts)` } };
}

function smtpTarget(smtp: SmtpSettings | undefined): string {
  return smtp ? `smtp://${smtp.host.includes(":") ? `[${smtp.host}]` : smtp.host}:${smtp.port}` : "smtp";
}

async function sendEmail(email: NonNullable<ScheduleDefinition["alerts"]["email"]>, alert: DriftAlert, smtp: SmtpSettings, signal: AbortSignal | undefined): Promise<AlertDelivery> {
  const target = smtpTarget(smtp);
  const base = { channel: "email" as const, target, format: "email" as const };
  const scrub = (text: string) => {
    let out = text;
    for (const secret of [smtp.password, smtp.user]) if (secret) out = out.split(secret).join("[redacted]");
    // Base64 of the credentials can show in an AUTH transcript.
    if (smtp.user && smtp.password) for (const b64 of [Buffer.from(`\u0000${smtp.user}\u0000${smtp.password}`).toString("base64"), Buffer.from(smtp.password).toString("base64")]) out = out.split(b64).join("[redacted]");
    return oneLine(out, 300);
  };
  if (signal?.aborted) return { ...base, status: "failed", attempts: 0, error: { code: "aborted", message: "Stopped before the email was sent." } };
  // Loaded when an email goes: the library is large, and most callers never send one.
  const { createTransport } = await import("nodemailer");
  const message = emailMessage(alert);
  const loopback = LOOPBACK.has(smtp.host.toLowerCase());
  const requireTls = smtp.requireTls ?? !loopback;
  const transport = createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: requireTls && !smtp.secure,
    // A local relay without requireTls is spoken to in plain text (its certificate rarely verifies); a remote
    // server without requireTls still gets STARTTLS when it offers it.
    ignoreTLS: loopback && !requireTls && !smtp.secure,
    ...(smtp.user !== undefined && smtp.password !== undefined ? { auth: { user: smtp.user, pass: smtp.password } } : {}),
    // `ca` replaces Node's roots: keep the public ones beside the extra CA.
    ...(smtp.caPem ? { tls: { ca: [...rootCertificates, smtp.caPem] } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  try {
    await transport.sendMail({
      from: email.from ?? smtp.from,
      to: email.to,
      subject: message.subject,
      text: message.text,
      html: message.html,
      headers: { "X-Mfactl-Alert-Id": alert.alertId },
    });
    return { ...base, status: "sent", attempts: 1 };
  } catch (error) {
    const code = typeof (error as { code?: unknown }).code === "string" ? (error as { code: string }).code : "smtp";
    return { ...base, status: "failed", attempts: 1, error: { code, message: `Sending the email through ${target} failed: ${scrub(error instanceof Error ? error.message : String(error))}` } };
  } finally {
    transport.close();
  }
}

/**
 * Send a check's alert to every channel due (`shouldAlert`); the others are reported `skipped`.
 * Never throws for a channel's failure: each is reported in its AlertDelivery, in the order
 * configured (webhooks, then email).
 */
export async function deliverAlerts(alerts: ScheduleDefinition["alerts"], result: DriftCheckResult, deps: DeliverDeps = {}): Promise<AlertDelivery[]> {
  const clock = deps.clock ?? systemClock;
  const alert = alertPayload(result, clock.now());
  const jobs: Promise<AlertDelivery>[] = alerts.webhooks.map((hook) =>
    shouldAlert(hook.when, result) ? sendWebhook(hook, alert, deps) : Promise.resolve({ channel: "webhook", target: redactUrl(hook.url), format: hook.format, status: "skipped", attempts: 0 }),
  );
  const email = alerts.email;
  if (email) {
    const target = smtpTarget(deps.smtp);
    if (!shouldAlert(email.when, result)) jobs.push(Promise.resolve({ channel: "email", target, format: "email", status: "skipped", attempts: 0 }));
    else if (!deps.smtp) jobs.push(Promise.resolve({ channel: "email", target, format: "email", status: "failed", attempts: 0, error: { code: "smtpNotConfigured", message: "The schedule sends email alerts, but no SMTP server is configured (smtp settings)." } }));
    else jobs.push(sendEmail(email, alert, deps.smtp, deps.signal));
  }
  return Promise.all(jobs);
}
