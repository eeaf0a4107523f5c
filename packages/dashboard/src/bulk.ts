import "./bulk.css";
import { ApiError, canWrite, currentUser, describeError, getJson, getMe, roleOf, setCurrentUser, unauthorized, type Tenant } from "./api.js";
import { el, show } from "./dom.js";
import { followJob, jobResult, startJob, type Job, type JobChange, type JobEvent } from "./jobs-api.js";
import type { Nav } from "./main.js";

export type RequestedState = "disabled" | "enabled" | "enforced";

/** A user picked on the users screen: what the flow needs to name it before the server has read it. */
export interface SelectedUser {
  id: string;
  userPrincipalName: string;
  perUserMfaState: string;
}

export interface BulkOptions {
  tenant: Tenant;
  state: RequestedState;
  users: SelectedUser[];
  /** Back to the users screen: `applied` clears the selection and reloads the table. */
  back(applied: boolean): void;
}

/** The plan file (docs/plan-file.md), the fields shown here. */
interface PlanFile {
  planId: string;
  summary: { selected: number; changes: number; unchanged: number; leftOut: number; warnings: number; failed: number };
  items: { tenant: string; id: string; userPrincipalName: string; perUserMfaState: string; requestedState: string; protected?: boolean; warnings?: { code: string; message: string }[] }[];
  leftOut?: LeftOut[];
  failures?: { tenant: string; userPrincipalName?: string; error: { code: string; message: string; httpStatus?: number; requestId?: string } }[];
}

interface LeftOut {
  tenant: string;
  id: string;
  userPrincipalName: string;
  perUserMfaState?: string;
  reason: string;
  detail?: string;
}

/** The plan job's `summary.runSizeCap`: the server's maxChanges against this plan. */
interface RunSizeCap {
  limit: string | null;
  source: string;
  changes: number;
  exceeded: boolean;
  message?: string;
}

/** One row of GET /v1/runs/{run}/changes. */
interface RunChange {
  userPrincipalName: string;
  previousState?: string;
  requestedState: string;
  status: string;
  requestId?: string;
  error?: { code?: string; message: string; requestId?: string };
}

const COUNTED = ["changed", "unchanged", "failed", "conflict"] as const;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * The bulk flow of the users screen, drawn in its place: the plan (a dry run: POST /v1/jobs/plan,
 * followed to its end), the preview (counts, changes with warnings, who is left out and why, what
 * could not be read, the run-size cap), Apply (POST /v1/jobs/apply) with live progress, and the
 * result. Returns what ends it (the screen left mid-way).
 */
export function bulkFlow(root: HTMLElement, nav: Nav, options: BulkOptions): () => void {
  const controller = new AbortController();
  const signal = controller.signal;
  const { tenant, state, users } = options;
  const tenantName = tenant.displayName ?? tenant.tenant;
  const stateWord = state;

  /** A refused credential goes back to sign-in (api.ts); anything else is shown where it happened. */
  function settledByMain(e: unknown): boolean {
    if (signal.aborted) return true;
    if (e instanceof ApiError && e.status === 401) {
      unauthorized(e);
      return true;
    }
    return false;
  }

  function backButton(id: string, applied: boolean, text = "Back to users"): HTMLButtonElement {
    const button = el("button", { type: "button", id, class: "secondary" }, text);
    button.addEventListener("click", () => {
      controller.abort();
      options.back(applied);
    });
    return button;
  }

  // Step 1: the plan, made by the server from the selection; nothing is changed.
  function planStep(): void {
    const bar = el("progress", { id: "bulk-plan-progress", "aria-labelledby": "bulk-plan-label" });
    const text = el("p", { id: "bulk-plan-status", role: "status" }, `Reading ${plural(users.length, "selected user")}…`);
    show(
      root,
      el("h1", { id: "bulk-title" }, `Preview: set ${plural(users.length, "user")} to ${stateWord}`),
      el("p", { class: "lead" }, `In ${tenantName}. The server reads each user now; nothing is changed until you apply.`),
      el("p", { id: "bulk-plan-label", class: "label" }, "Users read"),
      bar,
      text,
      el("div", { class: "actions" }, backButton("bulk-cancel", false, "Cancel")),
    );
    makePlan((job) => {
      const { total, done } = job.progress;
      if (total !== undefined && total > 0) {
        bar.max = total;
        bar.value = done;
        text.textContent = `${done} of ${plural(total, "user")} read…`;
      }
    })
      .then((made) => previewStep(made))
      .catch((e: unknown) => {
        if (settledByMain(e)) return;
        refusedStep("The preview could not be made", e);
      });
  }

  /**
   * Plans the selection. Protected accounts named here are left out by the server (leaveOutProtected):
   * the preview lists them with the reason, as a plan over a filter would.
   */
  async function makePlan(onProgress: (job: Job) => void): Promise<{ job?: Job; plan?: PlanFile }> {
    if (users.length === 0) return {};
    const started = await startJob("plan", { tenants: [tenant.tenant], state, users: users.map((u) => u.id), leaveOutProtected: true }, signal);
    const job = await followJob(started.jobId, (event: JobEvent) => {
      if (event.type !== "change") onProgress(event.job);
    }, signal);
    if (job.status !== "succeeded") throw new JobFailedError(job);
    return { job, plan: await jobResult<PlanFile>(job.jobId, signal) };
  }

  // Step 2: the preview.
  function previewStep(made: { job?: Job; plan?: PlanFile }): void {
    const { plan } = made;
    const summary = plan?.summary ?? { selected: 0, changes: 0, unchanged: 0, leftOut: 0, warnings: 0, failed: 0 };
    const leftOut = plan?.leftOut ?? [];
    const failures = plan?.failures ?? [];
    const items = plan?.items ?? [];
    const cap = runSizeCapOf(made.job);
    const changes = summary.changes;

    const counts = el(
      "dl",
      { class: "counts", id: "bulk-counts" },
      ...count("Selected", summary.selected, "selected"),
      ...count("Will change", changes, "changes"),
      ...count("Already in that state", summary.unchanged, "unchanged"),
      ...count("Left out", summary.leftOut, "left-out"),
      ...count("Warnings", summary.warnings, "warnings"),
      ...count("Could not be read", summary.failed, "failed"),
    );

    const parts: Node[] = [
      el("h1", { id: "bulk-title" }, `Preview: set ${plural(users.length, "user")} to ${stateWord}`),
      el("p", { class: "lead" }, `In ${tenantName}. A dry run: nothing has been changed.`),
      counts,
    ];
    const capNode = cap ? capText(cap) : undefined;
    if (capNode) parts.push(capNode);

    if (items.length > 0) {
      parts.push(
        el("h2", { id: "bulk-changes-title" }, `Changes (${items.length})`),
        el(
          "table",
          { id: "bulk-changes", class: "bulk-table", "aria-labelledby": "bulk-changes-title" },
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "UPN"), el("th", { scope: "col" }, "Change"), el("th", { scope: "col" }, "Warnings"))),
          el(
            "tbody",
            {},
            ...items.map((i) =>
              el(
                "tr",
                {},
                el("td", { class: "upn" }, i.userPrincipalName),
                el("td", { class: "change" }, `${i.perUserMfaState} → ${i.requestedState}`),
                el("td", { class: "warnings" }, (i.warnings?.length ?? 0) === 0 ? "None" : el("ul", {}, ...(i.warnings ?? []).map((w) => el("li", {}, w.message)))),
              ),
            ),
          ),
        ),
      );
    }
    if (leftOut.length > 0) {
      parts.push(
        el("h2", { id: "bulk-left-out-title" }, `Left out (${leftOut.length})`),
        el("p", { class: "help" }, "The server leaves these alone: protected accounts change only when an administrator includes them on purpose."),
        el(
          "table",
          { id: "bulk-left-out", class: "bulk-table", "aria-labelledby": "bulk-left-out-title" },
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "UPN"), el("th", { scope: "col" }, "State"), el("th", { scope: "col" }, "Why"))),
          el("tbody", {}, ...leftOut.map((l) => el("tr", {}, el("td", { class: "upn" }, l.userPrincipalName), el("td", {}, l.perUserMfaState ?? "—"), el("td", { class: "why" }, leftOutWhy(l))))),
        ),
      );
    }
    if (failures.length > 0) {
      parts.push(
        el("h2", { id: "bulk-failures-title" }, `Could not be read (${failures.length})`),
        el(
          "table",
          { id: "bulk-failures", class: "bulk-table", "aria-labelledby": "bulk-failures-title" },
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "UPN"), el("th", { scope: "col" }, "Reason"), el("th", { scope: "col" }, "Request id"))),
          el(
            "tbody",
            {},
            ...failures.map((f) => el("tr", {}, el("td", { class: "upn" }, f.userPrincipalName ?? `the whole tenant ${f.tenant}`), el("td", { class: "why" }, `${f.error.message} (${f.error.code})`), el("td", { class: "request-id" }, f.error.requestId ?? "—"))),
          ),
        ),
      );
    }

    const error = el("p", { id: "bulk-apply-error", class: "error", role: "alert" });
    const actions = el("div", { class: "actions" });
    const me = currentUser();
    const overCap = cap?.exceeded === true;
    if (changes === 0) {
      actions.append(el("p", { id: "bulk-nothing", class: "note" }, "Nothing to apply: every selected user is already in that state, left out, or could not be read."));
    } else if (!canWrite()) {
      const role = me ? (roleOf(me) ?? "no role") : "unknown";
      actions.append(el("p", { id: "bulk-read-only", class: "note" }, `Your role (${role}) may preview but not apply.`));
    } else {
      const apply = el("button", { type: "button", id: "bulk-apply", class: "primary", disabled: overCap, ...(overCap ? { "aria-describedby": "bulk-cap" } : {}) }, `Apply ${plural(changes, "change")}`);
      apply.addEventListener("click", () => {
        if (overCap || !made.job) return;
        apply.disabled = true;
        error.textContent = "";
        startJob("apply", { planJobId: made.job.jobId }, signal)
          .then((job) => progressStep(job, items.length))
          .catch((e: unknown) => {
            if (settledByMain(e)) return;
            error.textContent = `Apply was refused: ${describeError(e)}`;
            apply.disabled = false;
            apply.focus();
          });
      });
      actions.append(apply);
    }
    actions.append(backButton("bulk-back", false));
    parts.push(error, actions);
    show(root, ...parts);
  }

  function count(label: string, n: number, id: string): HTMLElement[] {
    return [el("dt", {}, label), el("dd", { id: `bulk-count-${id}` }, String(n))];
  }

  function capText(cap: RunSizeCap): HTMLElement {
    if (cap.exceeded) {
      return el("p", { id: "bulk-cap", class: "error cap", role: "alert" }, `Over the run-size cap, so Apply stays off. ${cap.message ?? `This plan changes ${cap.changes} users, over the cap of ${cap.limit ?? "none"} (${cap.source}): narrow the selection.`}`);
    }
    if (cap.limit === null) return el("p", { id: "bulk-cap", class: "cap" }, `Run-size cap: none set on this server (maxChanges in its profile sets one); this plan changes ${cap.changes}.`);
    return el("p", { id: "bulk-cap", class: "cap" }, `Run-size cap: ${cap.limit} (${cap.source}); this plan changes ${cap.changes}.`);
  }

  // Step 3: apply, with live progress.
  function progressStep(started: Job, planned: number): void {
    const total = started.progress.total ?? planned;
    const bar = el("progress", { id: "bulk-progress", max: String(Math.max(1, total)), value: "0", "aria-labelledby": "bulk-progress-label" });
    const done = el("p", { id: "bulk-progress-done" }, `0 of ${plural(total, "user")} done`);
    const tally = el("p", { id: "bulk-progress-counts", role: "status", "aria-live": "polite" }, countsText({}));
    const settled = el("ol", { id: "bulk-settled", class: "settled" });
    const events: JobChange[] = [];
    show(
      root,
      el("h1", { id: "bulk-title" }, `Applying: ${stateWord}`),
      el("p", { class: "lead" }, `Setting ${plural(total, "user")} of ${tenantName} to ${stateWord}. Each user is read again, changed and read back.`),
      el("p", { id: "bulk-progress-label", class: "label" }, "Users done"),
      bar,
      done,
      tally,
      el("p", { class: "help" }, `The run goes on at the server if you leave this page${started.runId ? `: it is run ${started.runId} under Runs` : ""}.`),
      el("h2", { id: "bulk-settled-title" }, "Settled so far"),
      settled,
    );
    const update = (job: Job) => {
      const n = job.progress.total ?? total;
      bar.max = Math.max(1, n);
      bar.value = job.progress.done;
      done.textContent = `${job.progress.done} of ${plural(n, "user")} done`;
      tally.textContent = countsText(job.progress.counts);
    };
    followJob(
      started.jobId,
      (event) => {
        if (event.type === "change") {
          events.push(event.change);
          settled.append(el("li", {}, settledText(event.change)));
        } else update(event.job);
      },
      signal,
    )
      .then((job) => {
        update(job);
        return resultStep(job, events);
      })
      .catch((e: unknown) => {
        if (settledByMain(e)) return;
        refusedStep("The run's progress could not be followed", e, started.runId);
      });
  }

  // Step 4: the result.
  async function resultStep(job: Job, events: JobChange[]): Promise<void> {
    const summary = job.summary as { runStatus?: string; counts?: Record<string, number> } | undefined;
    const counts = { ...job.progress.counts, ...pick(summary?.counts) };
    let problems: { userPrincipalName: string; status: string; reason: string; requestId?: string }[] = events
      .filter((c) => c.status === "failed" || c.status === "conflict")
      .map((c) => ({ userPrincipalName: c.userPrincipalName ?? c.id, status: c.status, reason: c.error?.message ?? c.status, ...(c.requestId ? { requestId: c.requestId } : {}) }));
    const expected = (counts["failed"] ?? 0) + (counts["conflict"] ?? 0);
    // The journal is the record: the stream may have been joined late, or dropped.
    if (job.runId && expected > problems.length) {
      try {
        const page = await getJson<{ changes: RunChange[] }>(`/v1/runs/${encodeURIComponent(job.runId)}/changes?status=failed&status=conflict&limit=1000`, signal);
        problems = page.changes.map((c) => ({ userPrincipalName: c.userPrincipalName, status: c.status, reason: c.error?.message ?? c.status, ...((c.requestId ?? c.error?.requestId) ? { requestId: (c.requestId ?? c.error?.requestId)! } : {}) }));
      } catch (e) {
        if (settledByMain(e)) return;
      }
    }
    if (signal.aborted) return;

    const ok = job.status === "succeeded";
    const parts: Node[] = [
      el("h1", { id: "bulk-title" }, ok ? (expected === 0 ? "Result: done" : "Result: done, with users to look at") : "Result: the run did not finish"),
      el("p", { class: "lead" }, `Set to ${stateWord} in ${tenantName}${job.runId ? `, run ${job.runId}` : ""}${summary?.runStatus ? ` (${summary.runStatus})` : ""}.`),
    ];
    if (!ok && job.error) parts.push(el("p", { id: "bulk-result-error", class: "error", role: "alert" }, `${job.error.message} (${job.error.code})`));
    parts.push(el("dl", { class: "counts", id: "bulk-result-counts" }, ...COUNTED.flatMap((k) => count(k[0]!.toUpperCase() + k.slice(1), counts[k] ?? 0, `result-${k}`))));
    if (problems.length > 0) {
      parts.push(
        el("h2", { id: "bulk-problems-title" }, `Failed or in conflict (${problems.length})`),
        el(
          "table",
          { id: "bulk-problems", class: "bulk-table", "aria-labelledby": "bulk-problems-title" },
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "UPN"), el("th", { scope: "col" }, "Status"), el("th", { scope: "col" }, "Reason"), el("th", { scope: "col" }, "Graph request id"))),
          el("tbody", {}, ...problems.map((p) => el("tr", {}, el("td", { class: "upn" }, p.userPrincipalName), el("td", {}, p.status), el("td", { class: "why" }, p.reason), el("td", { class: "request-id" }, p.requestId ?? "—")))),
        ),
      );
    }
    const actions = el("div", { class: "actions" });
    if (job.runId) {
      const runId = job.runId;
      const open = el("button", { type: "button", id: "bulk-open-run", class: "secondary" }, "Open the run");
      open.addEventListener("click", () => nav.run(runId));
      actions.append(open);
    }
    actions.append(backButton("bulk-done", true));
    parts.push(actions);
    if (events.length > 0) {
      parts.push(
        el(
          "details",
          { class: "settled-all", id: "bulk-result-settled" },
          el("summary", {}, `Every settled user (${events.length})`),
          el("ol", { class: "settled" }, ...events.map((c) => el("li", {}, settledText(c)))),
        ),
      );
    }
    show(root, ...parts);
  }

  /** A refusal (the plan or apply request, or the job) in words, with the server's message. */
  function refusedStep(title: string, e: unknown, runId?: string): void {
    const words = e instanceof JobFailedError ? e.describe() : describeError(e);
    const actions = el("div", { class: "actions" });
    if (runId) {
      const open = el("button", { type: "button", id: "bulk-open-run", class: "secondary" }, "Open the run");
      open.addEventListener("click", () => nav.run(runId));
      actions.append(open);
    }
    actions.append(backButton("bulk-back", runId !== undefined));
    show(root, el("h1", { id: "bulk-title" }, title), el("p", { id: "bulk-error", class: "error", role: "alert" }, words), actions);
  }

  // The role decides whether Apply is offered: load it when sign-in did not.
  if (currentUser() === undefined) {
    getMe(signal)
      .then((me) => setCurrentUser(me))
      .catch(() => undefined)
      .finally(() => {
        if (!signal.aborted) planStep();
      });
  } else planStep();

  return () => controller.abort();
}

/** A job that ended `failed`: its error, in words. */
class JobFailedError extends Error {
  constructor(readonly job: Job) {
    super(job.error?.message ?? `The job ended ${job.status}.`);
    this.name = "JobFailedError";
  }
  describe(): string {
    const error = this.job.error;
    if (!error) return `The server's job ended ${this.job.status}.`;
    const words = error.httpStatus === 400 ? "The server did not accept the request" : error.httpStatus === 403 ? "This is not allowed" : error.httpStatus === 409 ? "This cannot be done now" : "The server's job failed";
    return `${words} (${error.code}: ${error.message})`;
  }
}

function leftOutWhy(l: LeftOut): string {
  if (l.reason === "protected") return `Protected account: ${l.detail ?? "listed as protected"}`;
  if (l.reason === "excluded") return `Excluded: ${l.detail ?? "in the exclude list"}`;
  return l.detail ? `${l.reason}: ${l.detail}` : l.reason;
}

function runSizeCapOf(job: Job | undefined): RunSizeCap | undefined {
  const cap = (job?.summary as { runSizeCap?: RunSizeCap } | undefined)?.runSizeCap;
  return cap && typeof cap === "object" && typeof cap.exceeded === "boolean" ? cap : undefined;
}

function countsText(counts: Record<string, number>): string {
  return `Changed ${counts["changed"] ?? 0}, unchanged ${counts["unchanged"] ?? 0}, failed ${counts["failed"] ?? 0}, conflict ${counts["conflict"] ?? 0}.`;
}

function settledText(c: JobChange): string {
  const who = c.userPrincipalName ?? c.id;
  const change = `${c.previousState ?? "?"} → ${c.requestedState ?? "?"}`;
  if (c.status === "failed" || c.status === "conflict") return `${who}: ${c.status} (${change}): ${c.error?.message ?? "no reason given"}${c.requestId ? ` Request id ${c.requestId}.` : ""}`;
  return `${who}: ${c.status} (${change})`;
}

function pick(counts: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of COUNTED) if (typeof counts?.[k] === "number") out[k] = counts[k];
  return out;
}
