import "./posture.css";
import { ApiError, describeError, listTenants, unauthorized, type Tenant } from "./api.js";
import { el, show } from "./dom.js";
import { followJob, jobResult, startJob, type Job } from "./jobs-api.js";
import type { Nav } from "./main.js";

/** One tenant of the posture job's result (docs/api/jobs.md). */
export type PostureTenant =
  | {
      tenant: string;
      status: "completed";
      counts: { users: number; enabledAccounts: number; admins: number; byProtection: Record<string, number>; byPerUserMfaState: Record<string, number>; byFinding: Record<string, number> };
      unknown: { source: string; code: string; reason: string }[];
      securityDefaults: { enabled: boolean | null; reason?: string };
      conditionalAccess: {
        readable: boolean;
        reason?: string;
        mfaPolicies: { id: string; displayName: string }[];
        reportOnlyMfaPolicies: { id: string; displayName: string }[];
        mfaNotGuaranteed: { id: string; displayName: string; code?: string; reason?: string }[];
      };
      findings: { code: string; message: string; count: number; users: { id: string; userPrincipalName: string }[] }[];
    }
  | { tenant: string; status: "failed"; error: { code: string; message: string; requestId?: string } };

/** Effective protection, strongest first (docs/posture.md). */
const PROTECTIONS = ["per-user enforced", "per-user enabled", "conditional access (all apps)", "conditional access (some apps)", "security defaults", "none", "unknown"];
const PER_USER = ["enforced", "enabled", "disabled", "unknown"];
/** Findings in words (the codes are for scripts: docs/posture.md#findings). */
const FINDING_TITLES: Record<string, string> = {
  enforcedWithoutMethod: "Enforced without an MFA method",
  adminWithoutMfa: "Administrators without MFA",
  userWithoutMfa: "Enabled accounts without MFA",
  protectionUnknown: "Protection unknown",
  perUserRedundant: "Per-user MFA redundant",
  perUserMixedWithCa: "Per-user MFA mixed with Conditional Access",
};
/** Users of a finding shown at first; the rest behind "Show all". */
const FIRST_USERS = 10;

/** Posture findings of one tenant (POST /v1/jobs/posture), or a choice of tenant when none is given. */
export function postureScreen(root: HTMLElement, nav: Nav, tenant?: Tenant): () => void {
  const controller = new AbortController();
  const signal = controller.signal;
  if (tenant) readPosture(root, nav, tenant, signal);
  else chooseTenant(root, nav, signal);
  return () => controller.abort();
}

function failedHere(e: unknown, signal: AbortSignal): boolean {
  if (signal.aborted) return true;
  if (e instanceof ApiError && e.status === 401) {
    unauthorized(e);
    return true;
  }
  return false;
}

function chooseTenant(root: HTMLElement, nav: Nav, signal: AbortSignal): void {
  const status = el("p", { id: "posture-choose-status", role: "status" }, "Loading tenants…");
  const select = el("select", { id: "posture-tenant", required: true, disabled: true });
  const submit = el("button", { type: "submit", id: "posture-read", class: "primary", disabled: true }, "Read posture");
  const form = el(
    "form",
    { class: "posture-choose", "aria-labelledby": "posture-title" },
    el("label", { for: "posture-tenant" }, "Tenant"),
    select,
    el("p", { class: "help", id: "posture-tenant-help" }, "Reads the tenant's users, Conditional Access policies and security defaults; nothing is changed."),
    submit,
  );
  select.setAttribute("aria-describedby", "posture-tenant-help");
  show(root, el("h1", { id: "posture-title" }, "Posture findings"), status, form);
  let tenants: Tenant[] = [];
  listTenants(signal)
    .then((answer) => {
      tenants = answer.tenants;
      status.textContent = tenants.length === 0 ? "You may see no tenants." : `Choose one of ${tenants.length} tenant${tenants.length === 1 ? "" : "s"}.`;
      select.replaceChildren(...tenants.map((t) => el("option", { value: t.tenant }, t.displayName ? `${t.displayName} (${t.tenant})` : t.tenant)));
      select.disabled = tenants.length === 0;
      submit.disabled = tenants.length === 0;
    })
    .catch((e: unknown) => {
      if (failedHere(e, signal)) return;
      status.textContent = "";
      form.before(el("p", { class: "error", role: "alert" }, `Could not list the tenants: ${describeError(e)}`));
    });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = tenants.find((t) => t.tenant === select.value);
    if (chosen) nav.posture(chosen);
  });
}

function readPosture(root: HTMLElement, nav: Nav, tenant: Tenant, signal: AbortSignal): void {
  const name = tenant.displayName ?? tenant.tenant;
  const bar = el("progress", { id: "posture-progress", "aria-labelledby": "posture-progress-label" });
  const status = el("p", { id: "posture-read-status", role: "status" }, "Starting…");
  show(
    root,
    links(nav, tenant),
    el("h1", { id: "posture-title" }, `Posture of ${name}`),
    el("p", { id: "posture-progress-label", class: "label" }, "Reading the tenant's users, Conditional Access policies and security defaults"),
    bar,
    status,
  );
  startJob("posture", { tenants: [tenant.tenant] }, signal)
    .then((started) => {
      status.textContent = "Reading users…";
      return followJob(
        started.jobId,
        (event) => {
          if (event.type === "change") return;
          const { total, done } = event.job.progress;
          if (total !== undefined && total > 0) {
            bar.max = total;
            bar.value = done;
          }
          status.textContent = total ? `${done.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} users read…` : `${done.toLocaleString("en-US")} users read…`;
        },
        signal,
      );
    })
    .then(async (job: Job) => {
      if (job.status !== "succeeded") throw new Error(job.error ? `The posture job failed: ${job.error.message} (${job.error.code})` : `The posture job ended ${job.status}.`);
      const result = await jobResult<{ tenants: PostureTenant[] }>(job.jobId, signal);
      if (signal.aborted) return;
      const mine = result.tenants.find((t) => t.tenant.toLowerCase() === tenant.tenant.toLowerCase()) ?? result.tenants[0];
      if (!mine) throw new Error("The posture job's result holds no tenant.");
      showPosture(root, nav, tenant, mine, signal);
    })
    .catch((e: unknown) => {
      if (failedHere(e, signal)) return;
      const again = el("button", { type: "button", id: "posture-again", class: "secondary" }, "Try again");
      again.addEventListener("click", () => readPosture(root, nav, tenant, signal));
      show(root, links(nav, tenant), el("h1", { id: "posture-title" }, `Posture of ${name}: not read`), el("p", { id: "posture-error", class: "error", role: "alert" }, `Could not read the posture: ${describeError(e)}`), el("div", { class: "actions" }, again));
    });
}

function links(nav: Nav, tenant: Tenant): HTMLElement {
  const users = el("button", { type: "button", class: "link", id: "posture-users" }, "← Users of this tenant");
  users.addEventListener("click", () => nav.users(tenant));
  const other = el("button", { type: "button", class: "link", id: "posture-other" }, "Another tenant");
  other.addEventListener("click", () => nav.posture());
  return el("div", { class: "screen-links" }, users, other);
}

function showPosture(root: HTMLElement, nav: Nav, tenant: Tenant, p: PostureTenant, signal: AbortSignal): void {
  const name = tenant.displayName ?? tenant.tenant;
  const again = el("button", { type: "button", id: "posture-again", class: "secondary" }, "Read again");
  again.addEventListener("click", () => readPosture(root, nav, tenant, signal));
  const heading = el("h1", { id: "posture-title" }, `Posture of ${name}`);
  if (p.status === "failed") {
    show(
      root,
      links(nav, tenant),
      heading,
      el("p", { id: "posture-error", class: "error", role: "alert" }, `The tenant could not be read: ${p.error.message} (${p.error.code})${p.error.requestId ? ` Request id ${p.error.requestId}.` : ""}`),
      el("div", { class: "actions" }, again),
    );
    return;
  }
  const c = p.counts;
  const sd = p.securityDefaults;
  const ca = p.conditionalAccess;
  const sdText = sd.enabled === true ? "On" : sd.enabled === false ? "Off" : "Unknown";

  const overview = el(
    "dl",
    { class: "counts", id: "posture-counts" },
    el("dt", {}, "Users"),
    el("dd", { id: "posture-users-count" }, c.users.toLocaleString("en-US")),
    el("dt", {}, "Enabled accounts"),
    el("dd", {}, c.enabledAccounts.toLocaleString("en-US")),
    el("dt", {}, "Administrators"),
    el("dd", {}, c.admins.toLocaleString("en-US")),
    el("dt", {}, "Security defaults"),
    el("dd", { id: "posture-security-defaults" }, sdText, sd.enabled === null && sd.reason ? ` (${sd.reason})` : ""),
    el("dt", {}, "Conditional Access"),
    el("dd", { id: "posture-ca" }, ca.readable ? `${ca.mfaPolicies.length} polic${ca.mfaPolicies.length === 1 ? "y requires" : "ies require"} MFA` : `Could not be read${ca.reason ? ` (${ca.reason})` : ""}`),
  );

  const findings = el("section", { id: "posture-findings", "aria-labelledby": "posture-findings-title" }, el("h2", { id: "posture-findings-title" }, `Findings (${p.findings.length})`));
  if (p.findings.length === 0) findings.append(el("p", { class: "note" }, "No findings: every enabled account is covered and nothing needs attention."));
  for (const f of p.findings) findings.append(finding(f));

  const policies = el(
    "section",
    { id: "posture-policies", "aria-labelledby": "posture-policies-title" },
    el("h2", { id: "posture-policies-title" }, "Conditional Access policies"),
    ...(ca.readable
      ? [
          policyList("posture-mfa-policies", "Require MFA (enforced)", ca.mfaPolicies, "No enforced policy requires MFA."),
          policyList("posture-report-only", "Report-only (would require MFA; protect nobody now)", ca.reportOnlyMfaPolicies, "None."),
          policyList("posture-not-guaranteed", "MFA among alternatives (not counted as requiring MFA)", ca.mfaNotGuaranteed, "None."),
        ]
      : [el("p", { class: "error" }, `The policies could not be read: ${(ca.reason ?? "no reason given").replace(/\.$/, "")}. Users whose protection depends on them count as unknown.`)]),
  );

  const protection = el(
    "section",
    { "aria-labelledby": "posture-protection-title" },
    el("h2", { id: "posture-protection-title" }, "How users are protected"),
    tally("posture-by-protection", "Effective protection", "Protection", PROTECTIONS, c.byProtection, c.users),
    tally("posture-by-state", "Per-user MFA state", "State", PER_USER, c.byPerUserMfaState, c.users),
  );

  const parts: Node[] = [links(nav, tenant), heading, el("p", { class: "lead" }, "Read just now from Microsoft Graph; nothing was changed."), overview];
  if (p.unknown.length > 0) {
    parts.push(
      el(
        "section",
        { id: "posture-unknown", "aria-labelledby": "posture-unknown-title" },
        el("h2", { id: "posture-unknown-title" }, "Could not be read"),
        el("ul", {}, ...p.unknown.map((u) => el("li", {}, el("strong", {}, sourceName(u.source)), `: ${u.reason} (${u.code})`))),
      ),
    );
  }
  parts.push(findings, policies, protection, el("div", { class: "actions" }, again));
  show(root, ...parts);
}

function finding(f: { code: string; message: string; count: number; users: { id: string; userPrincipalName: string }[] }): HTMLElement {
  const id = `finding-${f.code}`;
  const list = el("ul", { class: "finding-users", id: `${id}-users`, "aria-label": `Users: ${f.code}` });
  const draw = (all: boolean) => list.replaceChildren(...(all ? f.users : f.users.slice(0, FIRST_USERS)).map((u) => el("li", { class: "upn" }, u.userPrincipalName)));
  draw(false);
  const parts: Node[] = [el("h3", { id: `${id}-title` }, el("span", { class: "finding-count" }, f.count.toLocaleString("en-US")), ` ${f.count === 1 ? "user" : "users"}: ${FINDING_TITLES[f.code] ?? f.code} `, el("code", { class: "finding-code" }, f.code)), el("p", { class: "finding-message" }, f.message), list];
  if (f.users.length > FIRST_USERS) {
    const button = el("button", { type: "button", class: "link", "aria-expanded": "false", "aria-controls": `${id}-users` }, `Show ${f.users.length - FIRST_USERS} more`);
    button.addEventListener("click", () => {
      const open = button.getAttribute("aria-expanded") !== "true";
      draw(open);
      button.setAttribute("aria-expanded", String(open));
      button.textContent = open ? "Show fewer" : `Show ${f.users.length - FIRST_USERS} more`;
    });
    parts.push(button);
  }
  if (f.count > f.users.length) parts.push(el("p", { class: "help" }, `The server lists the first ${f.users.length}; ${(f.count - f.users.length).toLocaleString("en-US")} more are in the full report (mfactl posture).`));
  return el("article", { class: "finding", id, "aria-labelledby": `${id}-title` }, ...parts);
}

function policyList(id: string, title: string, policies: { id: string; displayName: string; reason?: string }[], none: string): HTMLElement {
  return el(
    "div",
    { class: "policy-group" },
    el("h3", { id: `${id}-title` }, `${title}: ${policies.length}`),
    policies.length === 0 ? el("p", { class: "help" }, none) : el("ul", { id, "aria-labelledby": `${id}-title` }, ...policies.map((p) => el("li", {}, p.displayName || p.id, p.reason ? el("span", { class: "help" }, ` — ${p.reason}`) : null))),
  );
}

function tally(id: string, caption: string, column: string, keys: string[], counts: Record<string, number>, total: number): HTMLTableElement {
  const rows = [...keys, ...Object.keys(counts).filter((k) => !keys.includes(k))].filter((k) => (counts[k] ?? 0) > 0);
  return el(
    "table",
    { id, class: "tally" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, column), el("th", { scope: "col", class: "num" }, "Users"), el("th", { scope: "col", class: "num" }, "Share"))),
    el(
      "tbody",
      {},
      ...rows.map((k) => {
        const n = counts[k] ?? 0;
        return el("tr", {}, el("th", { scope: "row" }, k), el("td", { class: "num" }, n.toLocaleString("en-US")), el("td", { class: "num" }, total > 0 ? `${Math.round((n / total) * 100)} %` : "—"));
      }),
    ),
  );
}

const SOURCES: Record<string, string> = {
  conditionalAccess: "Conditional Access policies",
  securityDefaults: "Security defaults",
  registration: "MFA registration",
  signIns: "Sign-in activity",
  roles: "Directory roles",
  groups: "Group memberships",
  perUserMfaState: "Per-user MFA states",
};

function sourceName(source: string): string {
  return SOURCES[source] ?? source;
}
