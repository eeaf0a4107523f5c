import { ApiError, describeError, listTenants, session, signedOutReason, unauthorized, type Tenant } from "./api.js";
import { formatCount, segmentKey, stackedBar, type Segment } from "./charts.js";
import { el, show } from "./dom.js";
import { followJob, jobResult, startJob, type Job } from "./jobs-api.js";
import type { Nav } from "./main.js";

/** One tenant of the posture job's result (docs/api/jobs.md), as much of it as the overview draws. */
export interface TenantPosture {
  tenant: string;
  status: "completed" | "failed";
  counts?: { users: number; byProtection: Record<string, number>; byPerUserMfaState: Record<string, number> };
  error?: { code: string; message: string; requestId?: string };
}

/** What the overview keeps for the session, so coming back does not read every user again. */
interface CachedPosture {
  at: string;
  /** The tenants read, sorted: a different set of tenants (another key) reads again. */
  tenants: string[];
  results: TenantPosture[];
}

const CACHE_ITEM = "mfactl.posture";
/** A posture job still running when the screen was left: followed again on return instead of starting another. */
const JOB_ITEM = "mfactl.postureJob";

const STATES = ["enforced", "enabled", "disabled", "unknown"] as const;
/** Strongest first, as docs/posture.md orders effective protection. */
const PROTECTIONS = ["per-user enforced", "per-user enabled", "conditional access (all apps)", "conditional access (some apps)", "security defaults", "none", "unknown"];

function readJson<T>(item: string): T | undefined {
  try {
    const raw = sessionStorage.getItem(item);
    return raw ? (JSON.parse(raw) as T) : undefined;
  } catch {
    return undefined;
  }
}

const sameTenants = (a: string[], b: string[]) => a.length === b.length && a.every((t, i) => t === b[i]);

/** The time of a cached reading, in the reader's own clock and language. */
function asOf(iso: string): string {
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  return today ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/**
 * The tenants this caller may see (GET /v1/tenants), one card each: a button opening its users, a link to its
 * posture, and two charts from one posture job over all of them: per-user MFA state and effective protection.
 */
export function tenantsScreen(root: HTMLElement, nav: Nav): () => void {
  const controller = new AbortController();
  let job: AbortController | undefined;
  const status = el("p", { id: "tenants-status", role: "status" }, "Loading tenants…");
  const tenantsError = el("p", { id: "tenants-error", class: "error", role: "alert" });
  const postureStatus = el("p", { id: "posture-status", role: "status", "aria-live": "polite" });
  const progress = el("progress", { id: "posture-progress", "aria-labelledby": "posture-status", hidden: true });
  const refresh = el("button", { type: "button", id: "posture-refresh", class: "secondary", hidden: true }, "Refresh");
  const postureError = el("p", { id: "posture-error", class: "error", role: "alert" });
  const list = el("ul", { id: "tenants", class: "tenant-cards" });
  show(root, el("h1", {}, "Tenants"), status, tenantsError, el("div", { class: "toolbar" }, postureStatus, progress, refresh), postureError, list);

  const cards = new Map<string, HTMLElement>();
  let tenants: Tenant[] = [];

  function card(tenant: Tenant): HTMLElement {
    const name = tenant.displayName ?? tenant.tenant;
    const open = el("button", { type: "button", class: "tenant" }, el("span", { class: "name" }, name), tenant.displayName ? el("span", { class: "sub" }, tenant.tenant) : null);
    open.addEventListener("click", () => nav.users(tenant));
    const posture = el("a", { href: `#/posture/${encodeURIComponent(tenant.tenant)}`, class: "card-link" }, "Posture", el("span", { class: "visually-hidden" }, ` of ${name}`));
    const charts = el("div", { class: "charts", "data-tenant": tenant.tenant }, el("p", { class: "help" }, "Posture not read yet."));
    cards.set(tenant.tenant, charts);
    return el("li", { class: "tenant-card" }, el("h2", { class: "tenant-title" }, open), el("p", { class: "card-links" }, el("span", { class: "help" }, "Open the tenant for its users, or see its "), posture), charts);
  }

  function drawResults(cached: CachedPosture): void {
    for (const target of cards.values()) target.removeAttribute("aria-busy");
    for (const result of cached.results) {
      const target = cards.get(result.tenant);
      if (!target) continue;
      target.replaceChildren(...tenantCharts(result));
    }
    const users = cached.results.reduce((sum, r) => sum + (r.counts?.users ?? 0), 0);
    const failed = cached.results.filter((r) => r.status === "failed").length;
    postureStatus.textContent = `Posture as of ${asOf(cached.at)}: ${formatCount(users)} users in ${cached.results.length} tenant${cached.results.length === 1 ? "" : "s"}${failed ? `; ${failed} could not be read` : ""}.`;
    progress.hidden = true;
    refresh.hidden = false;
    refresh.disabled = false;
  }

  function readPosture(existing?: string): void {
    job?.abort();
    const ctrl = (job = new AbortController());
    const names = tenants.map((t) => t.tenant).sort();
    refresh.disabled = true;
    postureError.textContent = "";
    postureStatus.textContent = "Reading the tenants' users…";
    progress.hidden = false;
    progress.removeAttribute("value");
    for (const target of cards.values()) target.setAttribute("aria-busy", "true");
    const started: Promise<string> = existing ? Promise.resolve(existing) : startJob("posture", { tenants: names }, ctrl.signal).then((j) => j.jobId);
    started
      .then(async (jobId) => {
        sessionStorage.setItem(JOB_ITEM, JSON.stringify({ jobId, tenants: names }));
        const done = await followJob(jobId, (event) => {
          if (event.type !== "change") showProgress(event.job);
        }, ctrl.signal);
        if (done.status !== "succeeded") throw new Error(done.error ? `${done.error.message} (${done.error.code})` : `The posture job ended ${done.status}.`);
        const result = await jobResult<{ tenants: TenantPosture[] }>(jobId, ctrl.signal);
        // Only what the charts need: the findings' users would fill sessionStorage for 20,000 users.
        const cached: CachedPosture = { at: done.finishedAt ?? new Date().toISOString(), tenants: names, results: result.tenants.map(compact) };
        sessionStorage.removeItem(JOB_ITEM);
        sessionStorage.setItem(CACHE_ITEM, JSON.stringify(cached));
        if (!ctrl.signal.aborted) drawResults(cached);
      })
      .catch((e: unknown) => {
        if (ctrl.signal.aborted) return;
        if (e instanceof ApiError && e.status === 401) return signedOut(nav, e);
        if (existing && e instanceof ApiError && e.status === 404) {
          // The job is gone (a restart, or too old): read again.
          sessionStorage.removeItem(JOB_ITEM);
          return readPosture();
        }
        sessionStorage.removeItem(JOB_ITEM);
        progress.hidden = true;
        postureStatus.textContent = "";
        postureError.textContent = `Could not read the tenants' posture: ${describeError(e)}`;
        for (const target of cards.values()) {
          target.removeAttribute("aria-busy");
          target.replaceChildren(el("p", { class: "help" }, "No charts: the posture could not be read (above). The tenant's users are still available."));
        }
        refresh.hidden = false;
        refresh.disabled = false;
      });
  }

  function showProgress(j: Job): void {
    const { done, total } = j.progress;
    postureStatus.textContent = total ? `Reading ${formatCount(done)} of ${formatCount(total)} users…` : `Reading ${formatCount(done)} users…`;
    if (total) {
      progress.max = total;
      progress.value = done;
    }
  }

  refresh.addEventListener("click", () => readPosture());

  listTenants(controller.signal)
    .then(({ tenants: found }) => {
      if (controller.signal.aborted) return;
      tenants = found;
      status.textContent = found.length === 0 ? "You may see no tenants." : `${found.length} tenant${found.length === 1 ? "" : "s"}.`;
      list.replaceChildren(...found.map(card));
      if (found.length === 0) return;
      const names = found.map((t) => t.tenant).sort();
      const cached = readJson<CachedPosture>(CACHE_ITEM);
      if (cached && sameTenants(cached.tenants, names)) return drawResults(cached);
      const running = readJson<{ jobId: string; tenants: string[] }>(JOB_ITEM);
      readPosture(running && sameTenants(running.tenants, names) ? running.jobId : undefined);
    })
    .catch((e: unknown) => {
      if (controller.signal.aborted) return;
      if (e instanceof ApiError && e.status === 401) return signedOut(nav, e);
      status.textContent = "";
      tenantsError.textContent = `Could not list the tenants: ${describeError(e)}`;
    });
  return () => {
    controller.abort();
    // A running posture job is not lost: JOB_ITEM finds it again on return.
    job?.abort();
  };
}

function compact(r: TenantPosture): TenantPosture {
  const out: TenantPosture = { tenant: r.tenant, status: r.status };
  if (r.counts) out.counts = { users: r.counts.users, byProtection: r.counts.byProtection, byPerUserMfaState: r.counts.byPerUserMfaState };
  if (r.error) out.error = r.error;
  return out;
}

/** Known categories in their order, then any the server adds; zeros kept so the table always has them. */
function segments(counts: Record<string, number>, order: readonly string[], key: (label: string) => string): Segment[] {
  const labels = [...order, ...Object.keys(counts).filter((k) => !order.includes(k))];
  return labels.map((label) => ({ key: key(label), label, value: counts[label] ?? 0 }));
}

/** A tenant's two charts, or its posture error in words (the card's button and link still work). */
export function tenantCharts(result: TenantPosture): Node[] {
  const id = segmentKey(result.tenant);
  if (result.status === "failed" || !result.counts) {
    const e = result.error;
    const why = e ? `${e.message.replace(/[.\s]+$/, "")} (${e.code}${e.requestId ? `; request id ${e.requestId}` : ""})` : "the answer has no counts";
    return [el("p", { class: "error" }, `Posture could not be read: ${why}.`)];
  }
  return [
    stackedBar({ id: `chart-state-${id}`, caption: "Per-user MFA state", segments: segments(result.counts.byPerUserMfaState, STATES, (l) => `state-${segmentKey(l)}`) }),
    stackedBar({ id: `chart-protection-${id}`, caption: "Effective protection", segments: segments(result.counts.byProtection, PROTECTIONS, (l) => `protection-${segmentKey(l)}`) }),
  ];
}

/** The stored credential no longer works: forget it and say why on the sign-in screen (once, however many calls failed). */
export function signedOut(nav: Nav, error: ApiError): void {
  if (session.bearer === undefined) return;
  const before = session.bearer;
  unauthorized(error);
  // No handler (tests of a screen alone): do it here.
  if (session.bearer === before) {
    const reason = signedOutReason(error);
    session.clear();
    nav.signIn(reason);
  }
}
