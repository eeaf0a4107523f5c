import { describe, expect, it } from "vitest";
import type { DriftCheckResult } from "../schedule/drift-check.js";
import { cleanResult, driftResult, remediatedResult } from "./alert-fixtures.test-helper.js";
import { alertPayload, emailMessage, shouldAlert, slackPayload, driftCheckSummary, teamsPayload } from "./payload.js";

const NOW = Date.UTC(2026, 4, 1, 0, 0, 10);

describe("driftCheckSummary", () => {
  it("says in one line what was found and done", () => {
    expect(driftCheckSummary(remediatedResult())).toBe("nightly: 12 users in drift in 2 of 3 tenants (contoso.com 10, fabrikam.com 2); remediated: 12 changed.");
    expect(driftCheckSummary(cleanResult())).toBe("nightly: no drift in 3 tenants (300 users checked).");
    expect(driftCheckSummary(driftResult())).toBe(
      "nightly: 4 users in drift in 1 of 2 tenants (contoso.com 4), 1 of them protected; 1 tenant failed (evil.com); remediation skipped: This run would change 3 users, over the cap of 2 set by schedule nightly remediate.maxChanges.",
    );
    const partly = remediatedResult();
    partly.status = "drift";
    partly.remediation = { enabled: true, status: "completed", runId: "r", counts: { changed: 10, unchanged: 0, failed: 1, conflict: 1 }, failed: [] };
    expect(driftCheckSummary(partly)).toBe("nightly: 12 users in drift in 2 of 3 tenants (contoso.com 10, fabrikam.com 2); remediation: 10 changed, 1 failed, 1 conflict.");
    const failed: DriftCheckResult = { ...driftResult(), status: "failed", tenants: [driftResult().tenants[1]!], counts: { tenants: 1, tenantsFailed: 1, users: 0, managed: 0, inDrift: 0, protectedInDrift: 0 }, drift: [] };
    expect(driftCheckSummary(failed)).toBe("nightly: check failed: no tenant could be measured (evil.com: <script>alert(1)</script> & no service principal).");
  });
});

describe("alertPayload", () => {
  it("wraps the result in the documented envelope", () => {
    const result = remediatedResult();
    const alert = alertPayload(result, NOW);
    expect(alert).toEqual({
      type: "mfactl.driftCheck",
      version: 1,
      alertId: expect.stringMatching(/^alt-[0-9a-f]{24}$/),
      sentAt: "2026-05-01T00:00:10.000Z",
      summary: "nightly: 12 users in drift in 2 of 3 tenants (contoso.com 10, fabrikam.com 2); remediated: 12 changed.",
      schedule: { scheduleId: "sch-0123456789ab", name: "nightly" },
      period: "2026-05-01T00:00:00.000Z",
      startedAt: "2026-05-01T00:00:01.000Z",
      finishedAt: "2026-05-01T00:00:09.000Z",
      status: "remediated",
      counts: result.counts,
      tenants: result.tenants,
      drift: result.drift,
      driftTruncated: false,
      remediation: result.remediation,
    });
  });

  it("keeps the alert id for one check (retries, channels) and changes it for another period", () => {
    const result = remediatedResult();
    expect(alertPayload(result, NOW).alertId).toBe(alertPayload(result, NOW + 60_000).alertId);
    expect(alertPayload({ ...result, period: "2026-05-02T00:00:00.000Z" }, NOW).alertId).not.toBe(alertPayload(result, NOW).alertId);
  });

  it("lists the first 50 users in drift and says there were more", () => {
    const alert = alertPayload(driftResult(120), NOW);
    expect(alert.drift).toHaveLength(50);
    expect(alert.driftTruncated).toBe(true);
    expect(alert.counts.inDrift).toBe(121);
  });
});

describe("teamsPayload", () => {
  it("is a message with one Adaptive Card 1.4: title, summary, facts, up to 10 users, no images", () => {
    const alert = alertPayload(driftResult(14), NOW);
    const payload = teamsPayload(alert) as { type: string; attachments: { contentType: string; contentUrl: null; content: { type: string; version: string; body: Record<string, unknown>[] } }[] };
    expect(payload.type).toBe("message");
    expect(payload.attachments).toHaveLength(1);
    const att = payload.attachments[0]!;
    expect(att.contentType).toBe("application/vnd.microsoft.card.adaptive");
    expect(att.content).toMatchObject({ type: "AdaptiveCard", version: "1.4", $schema: "http://adaptivecards.io/schemas/adaptive-card.json" });
    const body = att.content.body;
    expect(body[0]).toEqual({ type: "TextBlock", text: "mfactl drift check: nightly", size: "Large", weight: "Bolder", wrap: true });
    expect(body[1]).toEqual({ type: "TextBlock", text: alert.summary, wrap: true });
    expect(body[2]).toEqual({
      type: "FactSet",
      facts: [
        { title: "Status", value: "Drift found" },
        { title: "Period", value: "2026-05-01T00:00:00.000Z" },
        { title: "Tenants", value: "2 checked, 1 with drift, 1 failed" },
        { title: "Users checked", value: "114" },
        { title: "In drift", value: "15 (1 protected)" },
        { title: "Remediation", value: "skipped: This run would change 14 users, over the cap of 2 set by schedule nightly remediate.maxChanges" },
      ],
    });
    const lines = body.filter((b) => b["fontType"] === "Monospace").map((b) => b["text"]);
    expect(lines).toHaveLength(10);
    expect(lines[0]).toBe("person.with.a.rather.long.name.number0@contoso.onmicrosoft.com (contoso.com): disabled → enforced");
    expect(body.some((b) => b["text"] === "... and 5 more users in drift")).toBe(true);
    expect(body.every((b) => b["type"] === "TextBlock" || b["type"] === "FactSet")).toBe(true);
    expect(JSON.stringify(payload)).not.toMatch(/"Image"|"url"|https?:\/\/(?!adaptivecards\.io)/);
  });
});

describe("slackPayload", () => {
  it("has the summary as text and header, section with fields, drift list and context blocks within Slack's limits", () => {
    const alert = alertPayload(driftResult(120), NOW);
    const payload = slackPayload(alert) as { text: string; blocks: { type: string; text?: { type: string; text: string }; fields?: { type: string; text: string }[]; elements?: { text: string }[] }[] };
    expect(payload.text).toBe(alert.summary);
    expect(payload.blocks.map((b) => b.type)).toEqual(["header", "section", "section", "context"]);
    expect(payload.blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: "mfactl drift check: nightly", emoji: false } });
    const facts = payload.blocks[1]!;
    expect(facts.fields!.length).toBeLessThanOrEqual(10);
    expect(facts.fields![0]).toEqual({ type: "mrkdwn", text: "*Status*\nDrift found" });
    for (const b of payload.blocks) {
      if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(b.type === "header" ? 150 : 3000);
      for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2000);
    }
    const list = payload.blocks[2]!.text!.text;
    expect(list).toMatch(/^\*Users in drift\*\n```person\.with/);
    expect(list.split("\n").filter((l) => l.includes("@contoso")).length).toBe(10);
    expect(list).toContain("... and 111 more users in drift");
    expect(payload.blocks[3]!.elements![0]!.text).toBe(`mfactl · period 2026-05-01T00:00:00.000Z · alert ${alert.alertId}`);
  });

  it("escapes Slack's markup characters", () => {
    const result = driftResult();
    result.status = "failed";
    const payload = slackPayload(alertPayload(result, NOW)) as { text: string; blocks: { text?: { text: string } }[] };
    const section = payload.blocks[1]!.text!.text;
    expect(section).toContain("&lt;script&gt;alert(1)&lt;/script&gt; &amp; no service principal");
    expect(section).not.toContain("<script>");
  });
});

describe("emailMessage", () => {
  it("has the summary as subject and names the users in drift in text and HTML, every value escaped", () => {
    const alert = alertPayload(driftResult(), NOW);
    const mail = emailMessage(alert);
    expect(mail.subject).toBe(`[mfactl] ${alert.summary}`);
    expect(mail.text).toContain("person.with.a.rather.long.name.number2@contoso.onmicrosoft.com  disabled  enforced");
    expect(mail.text).toContain("admin@contoso.com  disabled  enforced  protected: listed in the profile's protectedAccounts");
    expect(mail.text).toContain("evil.com: AADSTS7000229: <script>alert(1)</script>");
    expect(mail.html).toContain("<td style=\"padding:2px 8px;border-bottom:1px solid #ddd;text-align:left\">person.with.a.rather.long.name.number0@contoso.onmicrosoft.com</td>");
    expect(mail.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt; &amp; no service principal.");
    expect(mail.html).toContain("listed in the profile&#39;s protectedAccounts");
    expect(mail.html).not.toContain("<script>");
  });

  it("lists remediation failures with their request ids", () => {
    const result = remediatedResult();
    result.remediation = {
      enabled: true,
      status: "completed",
      runId: "r1",
      counts: { changed: 11, unchanged: 0, failed: 1, conflict: 0 },
      failed: [{ tenant: "contoso.com", id: "x", userPrincipalName: "user3@contoso.com", status: "failed", error: { code: "Forbidden", message: "Insufficient privileges", requestId: "req-42" } }],
    };
    const mail = emailMessage(alertPayload(result, NOW));
    expect(mail.text).toContain("contoso.com  user3@contoso.com  failed  Forbidden: Insufficient privileges  (request req-42)");
    expect(mail.html).toContain("req-42");
  });
});

describe("shouldAlert", () => {
  it("always: every check; drift: drift or a failed tenant; remediated: remediation changed (or failed to change) users", () => {
    const clean = cleanResult();
    const drift = driftResult();
    const remediated = remediatedResult();
    expect([shouldAlert("always", clean), shouldAlert("drift", clean), shouldAlert("remediated", clean)]).toEqual([true, false, false]);
    expect([shouldAlert("always", drift), shouldAlert("drift", drift), shouldAlert("remediated", drift)]).toEqual([true, true, false]);
    expect([shouldAlert("always", remediated), shouldAlert("drift", remediated), shouldAlert("remediated", remediated)]).toEqual([true, true, true]);
    const cleanButFailedTenant = { ...clean, counts: { ...clean.counts, tenantsFailed: 1 } };
    expect(shouldAlert("drift", cleanButFailedTenant)).toBe(true);
    const nothingChanged: DriftCheckResult = { ...remediated, remediation: { enabled: true, status: "completed", runId: "r", counts: { changed: 0, unchanged: 3, failed: 0, conflict: 0 }, failed: [] } };
    expect(shouldAlert("remediated", nothingChanged)).toBe(false);
  });
});
