import { createHash } from "node:crypto";
import type { DriftCheckResult } from "../schedule/drift-check.js";
import type { AlertWhen } from "../schedule/types.js";

/**
 * What a drift check's alert says, in the documented mfactl shape (docs/alerts.md: a contract,
 * versioned) and in the shapes Microsoft Teams and Slack incoming webhooks and email want.
 */

export const ALERT_TYPE = "mfactl.driftCheck";
export const ALERT_VERSION = 1;
/** Users in drift an alert lists (the check's result keeps more). */
export const ALERT_DRIFT_LIMIT = 50;
/** Users in drift a Teams card or Slack message lists. */
const CHAT_DRIFT_LIMIT = 10;

export interface DriftAlert {
  type: typeof ALERT_TYPE;
  version: typeof ALERT_VERSION;
  /** The same for every delivery of one check's alert (every channel, every retry): receivers dedupe on it. */
  alertId: string;
  sentAt: string;
  /** One line for people. */
  summary: string;
  schedule: DriftCheckResult["schedule"];
  period: string;
  startedAt: string;
  finishedAt: string;
  status: DriftCheckResult["status"];
  counts: DriftCheckResult["counts"];
  tenants: DriftCheckResult["tenants"];
  /** The first 50 users in drift. */
  drift: DriftCheckResult["drift"];
  /** More users are in drift than `drift` lists (counts.inDrift has them all). */
  driftTruncated: boolean;
  remediation: DriftCheckResult["remediation"];
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

function firstSentence(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  const end = flat.search(/\.(\s|$)/);
  return end >= 0 ? flat.slice(0, end) : flat;
}

function listed(items: string[], max = 5): string {
  return items.length > max ? `${items.slice(0, max).join(", ")}, ...` : items.join(", ");
}

function remediationSummary(r: DriftCheckResult["remediation"]): string | undefined {
  if (!r.enabled) return undefined;
  if (r.status === "skipped") return `remediation skipped: ${firstSentence(r.reason)}`;
  const changed = r.counts["changed"] ?? 0;
  const failed = r.counts["failed"] ?? 0;
  const conflict = r.counts["conflict"] ?? 0;
  const parts = [`${changed} changed`];
  if (failed) parts.push(`${failed} failed`);
  if (conflict) parts.push(`${plural(conflict, "conflict")}`);
  return `${r.status === "interrupted" ? "remediation interrupted" : failed || conflict ? "remediation" : "remediated"}: ${parts.join(", ")}`;
}

/** `nightly: 12 users in drift in 2 of 3 tenants (contoso.com 10, fabrikam.com 2); remediated: 12 changed.` */
export function driftCheckSummary(result: DriftCheckResult): string {
  const { counts } = result;
  const name = result.schedule.name;
  const failed = result.tenants.filter((t) => t.status === "failed");
  if (result.status === "failed") {
    const why = failed[0]?.error ? ` (${failed[0].tenant}: ${firstSentence(failed[0].error.message)})` : "";
    return `${name}: check failed: no tenant could be measured${why}.`;
  }
  const parts: string[] = [];
  if (counts.inDrift === 0) parts.push(`no drift in ${plural(counts.tenants - counts.tenantsFailed, "tenant")} (${plural(counts.users, "user")} checked)`);
  else {
    const drifted = result.tenants.filter((t) => t.inDrift > 0);
    const shown = listed(drifted.map((t) => `${t.tenant} ${t.inDrift}`));
    const prot = counts.protectedInDrift ? `, ${counts.protectedInDrift} of them protected` : "";
    parts.push(`${plural(counts.inDrift, "user")} in drift in ${drifted.length} of ${plural(counts.tenants, "tenant")} (${shown})${prot}`);
  }
  if (failed.length) parts.push(`${plural(failed.length, "tenant")} failed (${listed(failed.map((t) => t.tenant))})`);
  const remediation = remediationSummary(result.remediation);
  if (remediation) parts.push(remediation);
  return `${name}: ${parts.join("; ")}.`;
}

/** The documented webhook payload (docs/alerts.md): an envelope around the result. */
export function alertPayload(result: DriftCheckResult, nowMs: number): DriftAlert {
  const alertId = `alt-${createHash("sha256").update(`${result.schedule.scheduleId}\n${result.period}\n${result.startedAt}`).digest("hex").slice(0, 24)}`;
  return {
    type: ALERT_TYPE,
    version: ALERT_VERSION,
    alertId,
    sentAt: new Date(nowMs).toISOString(),
    summary: driftCheckSummary(result),
    schedule: { scheduleId: result.schedule.scheduleId, name: result.schedule.name },
    period: result.period,
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    status: result.status,
    counts: { ...result.counts },
    tenants: result.tenants,
    drift: result.drift.slice(0, ALERT_DRIFT_LIMIT),
    driftTruncated: result.driftTruncated || result.drift.length > ALERT_DRIFT_LIMIT,
    remediation: result.remediation,
  };
}

const STATUS_WORDS: Record<DriftAlert["status"], string> = {
  noDrift: "No drift",
  drift: "Drift found",
  remediated: "Drift remediated",
  failed: "Check failed",
};

/** Facts every chat and email shape shows, as label and value. */
function facts(alert: DriftAlert): [string, string][] {
  const { counts } = alert;
  const drifted = alert.tenants.filter((t) => t.inDrift > 0).length;
  const tenants = `${counts.tenants} checked, ${drifted} with drift${counts.tenantsFailed ? `, ${counts.tenantsFailed} failed` : ""}`;
  const r = alert.remediation;
  const remediation = !r.enabled
    ? "off"
    : r.status === "skipped"
      ? `skipped: ${firstSentence(r.reason)}`
      : `${r.status}: ${Object.entries(r.counts)
          .filter(([, n]) => n > 0)
          .map(([s, n]) => `${n} ${s}`)
          .join(", ") || "nothing to do"} (run ${r.runId})`;
  return [
    ["Status", STATUS_WORDS[alert.status]],
    ["Period", alert.period],
    ["Tenants", tenants],
    ["Users checked", String(counts.users)],
    ["In drift", `${counts.inDrift}${counts.protectedInDrift ? ` (${counts.protectedInDrift} protected)` : ""}`],
    ["Remediation", remediation],
  ];
}

function driftLine(d: DriftAlert["drift"][number]): string {
  return `${d.userPrincipalName} (${d.tenant}): ${d.perUserMfaState} → ${d.requestedState}${d.protected ? ` [protected: ${d.protected}]` : ""}`;
}

function title(alert: DriftAlert): string {
  return `mfactl drift check: ${alert.schedule.name}`;
}

function moreLine(alert: DriftAlert, shown: number): string | undefined {
  const more = alert.counts.inDrift - shown;
  return more > 0 ? `... and ${plural(more, "more user")} in drift` : undefined;
}

/** Teams incoming webhook / Workflows: a message with one Adaptive Card 1.4 (no images). */
export function teamsPayload(alert: DriftAlert): unknown {
  const shown = alert.drift.slice(0, CHAT_DRIFT_LIMIT);
  const more = moreLine(alert, shown.length);
  const body: unknown[] = [
    { type: "TextBlock", text: title(alert), size: "Large", weight: "Bolder", wrap: true },
    { type: "TextBlock", text: alert.summary, wrap: true },
    { type: "FactSet", facts: facts(alert).map(([title, value]) => ({ title, value })) },
  ];
  if (shown.length) {
    body.push({ type: "TextBlock", text: "Users in drift", weight: "Bolder", separator: true, wrap: true });
    for (const d of shown) body.push({ type: "TextBlock", text: driftLine(d), wrap: true, spacing: "None", fontType: "Monospace", size: "Small" });
    if (more) body.push({ type: "TextBlock", text: more, wrap: true, isSubtle: true, spacing: "Small" });
  }
  body.push({ type: "TextBlock", text: `Alert ${alert.alertId}, sent ${alert.sentAt}`, wrap: true, isSubtle: true, size: "Small", separator: true });
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        contentUrl: null,
        content: { $schema: "http://adaptivecards.io/schemas/adaptive-card.json", type: "AdaptiveCard", version: "1.4", msteams: { width: "Full" }, body },
      },
    ],
  };
}

/** Slack's mrkdwn treats &, < and > as markup. */
function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Slack's limits: header 150, section text 3000, field 2000, 10 fields, 50 blocks. */
const SLACK = { header: 150, section: 3000, field: 2000, fields: 10 } as const;

/** Slack incoming webhook: `text` (notifications) and `blocks` (header, section with fields, drift list, context). */
export function slackPayload(alert: DriftAlert): unknown {
  const shown = alert.drift.slice(0, CHAT_DRIFT_LIMIT);
  const blocks: unknown[] = [
    { type: "header", text: { type: "plain_text", text: clip(title(alert), SLACK.header), emoji: false } },
    {
      type: "section",
      text: { type: "mrkdwn", text: clip(slackEscape(alert.summary), SLACK.section) },
      fields: facts(alert)
        .slice(0, SLACK.fields)
        .map(([label, value]) => ({ type: "mrkdwn", text: clip(`*${label}*\n${slackEscape(value)}`, SLACK.field) })),
    },
  ];
  if (shown.length) {
    const more = moreLine(alert, shown.length);
    const lines = shown.map((d) => slackEscape(driftLine(d)));
    // The list goes in a code block (no mrkdwn inside), kept within the section limit.
    let text = "";
    for (const line of lines) {
      const next = `${text}${line}\n`;
      if (`*Users in drift*\n\`\`\`${next}\`\`\``.length > SLACK.section - 120) break;
      text = next;
    }
    blocks.push({ type: "section", text: { type: "mrkdwn", text: `*Users in drift*\n\`\`\`${text}\`\`\`${more ? `\n${slackEscape(more)}` : ""}` } });
  }
  blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: clip(slackEscape(`mfactl · period ${alert.period} · alert ${alert.alertId}`), SLACK.section) }] });
  return { text: alert.summary, blocks };
}

function htmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** Subject "[mfactl] <summary>", a plain text body and a simple HTML one (every value escaped). */
export function emailMessage(alert: DriftAlert): { subject: string; text: string; html: string } {
  const subject = `[mfactl] ${alert.summary.replace(/[\r\n]+/g, " ")}`;
  const factRows = facts(alert);
  const r = alert.remediation;
  const failed = r.enabled && r.status !== "skipped" ? r.failed : [];
  const more = moreLine(alert, alert.drift.length);
  const failedTenants = alert.tenants.filter((t) => t.status === "failed");

  const text: string[] = [alert.summary, "", ...factRows.map(([k, v]) => `${k}: ${v}`)];
  if (r.enabled && r.status === "skipped") text.push("", `Remediation skipped: ${r.reason}`);
  if (r.enabled && r.status !== "skipped" && r.note) text.push("", r.note);
  if (failedTenants.length) text.push("", "Tenants that failed:", ...failedTenants.map((t) => `  ${t.tenant}: ${t.error?.code ?? "failed"}: ${t.error?.message ?? ""}`));
  if (alert.drift.length) {
    text.push("", "Users in drift (tenant, user, state, policy wants):");
    for (const d of alert.drift) text.push(`  ${d.tenant}  ${d.userPrincipalName}  ${d.perUserMfaState}  ${d.requestedState}${d.protected ? `  protected: ${d.protected}` : ""}`);
    if (more) text.push(`  ${more}`);
  }
  if (failed.length) {
    text.push("", "Remediation failures:");
    for (const f of failed) text.push(`  ${f.tenant}  ${f.userPrincipalName}  ${f.status}${f.error ? `  ${f.error.code}: ${f.error.message}` : ""}${f.error?.requestId ? `  (request ${f.error.requestId})` : ""}`);
  }
  text.push("", `Schedule ${alert.schedule.name} (${alert.schedule.scheduleId}), checked ${alert.startedAt} to ${alert.finishedAt}. Alert ${alert.alertId}.`);

  const e = htmlEscape;
  const cell = "style=\"padding:2px 8px;border-bottom:1px solid #ddd;text-align:left\"";
  const table = (headers: string[], rows: string[][]) =>
    `<table style="border-collapse:collapse;font-size:13px"><tr>${headers.map((h) => `<th ${cell}>${e(h)}</th>`).join("")}</tr>${rows
      .map((row) => `<tr>${row.map((c) => `<td ${cell}>${e(c)}</td>`).join("")}</tr>`)
      .join("")}</table>`;
  const html: string[] = [
    `<h2 style="font-family:sans-serif">${e(title(alert))}</h2>`,
    `<p style="font-family:sans-serif">${e(alert.summary)}</p>`,
    table(["", ""], factRows),
  ];
  if (r.enabled && r.status === "skipped") html.push(`<p style="font-family:sans-serif">Remediation skipped: ${e(r.reason)}</p>`);
  if (r.enabled && r.status !== "skipped" && r.note) html.push(`<p style="font-family:sans-serif">${e(r.note)}</p>`);
  if (failedTenants.length) {
    html.push(`<h3 style="font-family:sans-serif">Tenants that failed</h3>`, table(["Tenant", "Error"], failedTenants.map((t) => [t.tenant, `${t.error?.code ?? "failed"}: ${t.error?.message ?? ""}`])));
  }
  if (alert.drift.length) {
    html.push(
      `<h3 style="font-family:sans-serif">Users in drift</h3>`,
      table(
        ["Tenant", "User", "State", "Policy wants", "Protected"],
        alert.drift.map((d) => [d.tenant, d.userPrincipalName, d.perUserMfaState, d.requestedState, d.protected ?? ""]),
      ),
    );
    if (more) html.push(`<p style="font-family:sans-serif">${e(more)}</p>`);
  }
  if (failed.length) {
    html.push(
      `<h3 style="font-family:sans-serif">Remediation failures</h3>`,
      table(["Tenant", "User", "Status", "Error", "Request id"], failed.map((f) => [f.tenant, f.userPrincipalName, f.status, f.error ? `${f.error.code}: ${f.error.message}` : "", f.error?.requestId ?? ""])),
    );
  }
  html.push(`<p style="font-family:sans-serif;color:#666;font-size:12px">Schedule ${e(alert.schedule.name)} (${e(alert.schedule.scheduleId)}), checked ${e(alert.startedAt)} to ${e(alert.finishedAt)}. Alert ${e(alert.alertId)}.</p>`);
  return { subject, text: `${text.join("\n")}\n`, html: `<!doctype html><html><body>${html.join("\n")}</body></html>\n` };
}

/**
 * Whether a channel gets this check's alert. `always`: every check; `drift` (default): drift found
 * (remediated or not) or a tenant could not be measured; `remediated`: remediation ran and changed
 * users (or some of its changes failed).
 */
export function shouldAlert(when: AlertWhen, result: DriftCheckResult): boolean {
  switch (when) {
    case "always":
      return true;
    case "drift":
      return result.counts.inDrift > 0 || result.counts.tenantsFailed > 0 || result.status === "failed";
    case "remediated": {
      const r = result.remediation;
      if (!r.enabled || r.status === "skipped") return false;
      return (r.counts["changed"] ?? 0) > 0 || r.failed.length > 0;
    }
  }
}
