import { describe, expect, it } from "vitest";
import { UsageError } from "../domain/errors.js";
import { newScheduleRecord, parseScheduleInput, scheduleTenants, scheduleView } from "./schedule.js";
import type { ScheduleInput } from "./types.js";

const NAMED_POLICY = `version: 1
policies:
  - name: Members
    tenants: [contoso.com, Fabrikam.com]
    rules:
      - name: Everyone
        state: enforced
`;
const STAR_POLICY = NAMED_POLICY.replace("[contoso.com, Fabrikam.com]", '["*"]');

const SLACK_URL = "https://hooks.slack.com/services/T000/B000/hidden-s3cret-token";
const SECRET = "s3cret-s3cret-s3cret";

function input(extra: Partial<ScheduleInput> = {}): ScheduleInput {
  return { name: "nightly", cron: "0 2 * * *", timezone: "Europe/Amsterdam", policy: NAMED_POLICY, ...extra };
}

function problemOf(raw: unknown): string {
  try {
    parseScheduleInput(raw, "test");
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error("accepted");
}

describe("parseScheduleInput", () => {
  it("fills the defaults and keeps the policy text", () => {
    const def = parseScheduleInput({ name: "nightly", cron: " 0 2 * * * ", policy: NAMED_POLICY, tenants: ["Contoso.com", "contoso.com"] }, "test");
    expect(def).toEqual({
      name: "nightly",
      cron: "0 2 * * *",
      timezone: "UTC",
      policy: NAMED_POLICY,
      tenants: ["contoso.com"],
      allTenants: false,
      alerts: { webhooks: [] },
      remediate: { enabled: false },
      enabled: true,
    });
  });

  it("lists every problem by path in one error", () => {
    const message = problemOf({ name: "night ly", cron: "61 * * * *", timezone: "Nowhere/City", policy: "version: 2\npolicies: []\n", policySource: "p.yaml", extra: 1 });
    expect(message).toMatch(/^Invalid schedule \(test\): \d+ problems: /);
    expect(message).toContain("name: letters, digits");
    expect(message).toContain('(top level): Unrecognized key: "extra"');
    expect(message).toContain('timezone: "Nowhere/City" is not an IANA time zone');
    expect(message).toContain("policy: Invalid policy file p.yaml:");
    expect(message).toContain("cron: \"61 * * * *\" is not a cron expression: Invalid value for minute: 61");
    expect(message).not.toContain(".;");
  });

  it("refuses a bad cron expression with its own words", () => {
    expect(problemOf(input({ cron: "61 * * * *" }))).toBe(
      'Invalid schedule (test): cron: "61 * * * *" is not a cron expression: Invalid value for minute: 61. Expected five fields "minute hour day-of-month month day-of-week" (for example "0 2 * * *"), or six with seconds first.',
    );
  });

  it("refuses a bad policy at creation", () => {
    const message = problemOf(input({ policy: NAMED_POLICY.replace("state: enforced", "state: sometimes"), policySource: "nightly.yaml" }));
    expect(message).toMatch(/^Invalid schedule \(test\): policy: Invalid policy file nightly.yaml: policies\[0\]\.rules\[0\]\.state/);
  });

  it("refuses a policy for \"*\" without tenants or allTenants, and both together", () => {
    expect(problemOf(input({ policy: STAR_POLICY }))).toBe('Invalid schedule (test): tenants: the policy applies to "*": give tenants or allTenants.');
    expect(() => parseScheduleInput(input({ policy: STAR_POLICY, allTenants: true }), "test")).not.toThrow();
    expect(() => parseScheduleInput(input({ policy: STAR_POLICY, tenants: ["contoso.com"] }), "test")).not.toThrow();
    expect(problemOf(input({ tenants: ["contoso.com"], allTenants: true }))).toBe("Invalid schedule (test): allTenants: give tenants or allTenants, not both.");
  });

  it("refuses a malformed tenant", () => {
    expect(problemOf(input({ tenants: ["contoso.com", "not a tenant"] }))).toMatch(/^Invalid schedule \(test\): tenants\.1: Invalid tenant "not a tenant"/);
  });

  it("refuses a bad remediation cap", () => {
    expect(problemOf(input({ remediate: { enabled: true, maxChanges: "lots" } }))).toMatch(/remediate\.maxChanges: Invalid remediate\.maxChanges "lots"/);
  });

  it("wants https:// webhooks, allows http:// to loopback, and never echoes a URL or secret", () => {
    const httpHook = "http://hooks.example.com/services/T000/hidden-s3cret-token";
    const message = problemOf(
      input({
        alerts: {
          webhooks: [
            { url: httpHook },
            { url: "not a url with hidden-s3cret-token" },
            { url: "ftp://example.com/hidden-s3cret-token" },
            { url: SLACK_URL, secret: "short-hidden-s3cret-token".slice(0, 10) },
          ],
        },
      }),
    );
    expect(message).toContain("alerts.webhooks.0.url: must be https:// (http:// only to 127.0.0.1, ::1 or localhost)");
    expect(message).toContain("alerts.webhooks.1.url: ");
    expect(message).toContain("alerts.webhooks.2.url: must be an https:// URL");
    expect(message).toContain("alerts.webhooks.3.secret: ");
    expect(message).not.toContain("hidden-s3cret");
    expect(message).not.toContain("hooks.example.com");
    expect(message).not.toContain("short-");
    for (const url of ["http://127.0.0.1:8080/hook", "http://[::1]:8080/hook", "http://localhost/hook", "https://example.com/hook"]) {
      expect(() => parseScheduleInput(input({ alerts: { webhooks: [{ url }] } }), "test")).not.toThrow();
    }
  });

  it("checks email addresses", () => {
    expect(problemOf(input({ alerts: { email: { to: ["ops@example.com", "nobody"] } } }))).toMatch(/alerts\.email\.to\.1: /);
    expect(problemOf(input({ alerts: { email: { to: [] } } }))).toMatch(/alerts\.email\.to: /);
  });
});

describe("newScheduleRecord", () => {
  it("gives an id and the times", () => {
    const def = parseScheduleInput(input(), "test");
    const rec = newScheduleRecord(def, "apikey:ops", Date.UTC(2026, 4, 1, 12));
    expect(rec.scheduleId).toMatch(/^sch-[0-9a-f]{12}$/);
    expect(rec).toMatchObject({ ...def, createdAt: "2026-05-01T12:00:00.000Z", updatedAt: "2026-05-01T12:00:00.000Z", createdBy: "apikey:ops" });
    expect(newScheduleRecord(def, "x", 0).scheduleId).not.toBe(rec.scheduleId);
  });
});

describe("scheduleTenants", () => {
  it("takes the schedule's tenants (named), all known ones (not named), else the policy's (named)", () => {
    const known = ["contoso.com", "fabrikam.com", "tailspin.com", "contoso.com"];
    expect(scheduleTenants(parseScheduleInput(input({ tenants: ["tailspin.com"] }), "t"), known)).toEqual({ tenants: ["tailspin.com"], named: true });
    expect(scheduleTenants(parseScheduleInput(input({ allTenants: true }), "t"), known)).toEqual({ tenants: ["contoso.com", "fabrikam.com", "tailspin.com"], named: false });
    expect(scheduleTenants(parseScheduleInput(input(), "t"), known)).toEqual({ tenants: ["contoso.com", "fabrikam.com"], named: true });
  });

  it("refuses a \"*\" policy with neither tenants nor allTenants (a stored schedule that skipped the check)", () => {
    const def = { ...parseScheduleInput(input({ policy: STAR_POLICY, allTenants: true }), "t"), allTenants: false };
    expect(() => scheduleTenants(def, ["contoso.com"])).toThrow(new UsageError('The policy of schedule nightly (the schedule\'s policy) applies to "*": give tenants or allTenants.'));
  });
});

describe("scheduleView", () => {
  it("redacts webhook URLs and secrets, keeps the rest", () => {
    const def = parseScheduleInput(
      input({ alerts: { webhooks: [{ url: SLACK_URL, format: "slack", secret: SECRET }, { url: "https://example.com", when: "always" }], email: { to: ["ops@example.com"] } } }),
      "t",
    );
    const view = scheduleView(newScheduleRecord(def, "user:a@b.c", 0));
    expect(view.alerts).toEqual({
      webhooks: [
        { url: "https://hooks.slack.com/…", format: "slack", secret: "[set]", when: "drift" },
        { url: "https://example.com", format: "mfactl", when: "always" },
      ],
      email: { to: ["ops@example.com"], when: "drift" },
    });
    expect(view.policy).toBe(NAMED_POLICY);
    const text = JSON.stringify(view);
    expect(text).not.toContain("SECRET");
    expect(text).not.toContain(SECRET);
  });
});
