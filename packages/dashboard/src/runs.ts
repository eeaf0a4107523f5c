import { ApiError, canWrite, describeActor, describeError, getJson } from "./api.js";
import { formatCount } from "./charts.js";
import { CursorPager, dataTable, el, show, time, type Child } from "./dom.js";
import { followJob, startJob, type Job, type JobChange } from "./jobs-api.js";
import type { Nav } from "./main.js";
import { signedOut } from "./tenants.js";

/** A journal run (docs/api/runs.md). */
export interface Run {
  runId: string;
  kind: string;
  actor: string;
  host?: string;
  startedAt: string;
  finishedAt?: string;
  status: "running" | "completed" | "interrupted";
  planId?: string;
  undoOf?: string;
  description?: string;
  options?: { force?: boolean; includeProtected?: boolean };
  total: number;
  counts: Record<string, number>;
}

/** One user of a run. */
export interface RunChange {
  runId: string;
  seq: number;
  tenant: string;
  id: string;
  userPrincipalName?: string;
  expectedState?: string;
  previousState?: string;
  requestedState?: string;
  perUserMfaState?: string;
  status: string;
  requestId?: string;
  error?: { code?: string; message: string; httpStatus?: number };
  updatedAt?: string;
}

const RUNS_PAGE = 50;
/** The API's largest page of runs. */
const RUNS_MAX = 1000;
const CHANGES_PAGE = 100;
const STATUS_ORDER = ["changed", "unchanged", "failed", "conflict", "pending", "inFlight"];

/** An actor in words: a person by their UPN with a "person" marker, keys as "API key <name>". */
export function actorNode(actor: string): HTMLElement {
  const { text, person } = describeActor(actor);
  return el("span", { class: "actor", title: actor }, person ? el("span", { class: "badge badge-person" }, "person") : null, person ? " " : null, el("span", { class: "actor-name" }, text));
}

/** "9 changed · 1 conflict" (only the statuses some change is in), or "no changes". */
export function countsText(counts: Record<string, number>): string {
  const keys = [...STATUS_ORDER, ...Object.keys(counts).filter((k) => !STATUS_ORDER.includes(k))];
  const parts = keys.filter((k) => (counts[k] ?? 0) > 0).map((k) => `${formatCount(counts[k] ?? 0)} ${k}`);
  return parts.length ? parts.join(" · ") : "no changes";
}

const runLink = (runId: string, text?: Child): HTMLAnchorElement => el("a", { href: `#/runs/${encodeURIComponent(runId)}` }, text ?? runId);
const badge = (status: string) => el("span", { class: `badge status-${status}` }, status);

/** Run history (GET /v1/runs), newest first; "Show more" asks for a longer list (the API has no cursor for runs). */
export function runsScreen(root: HTMLElement, nav: Nav): () => void {
  let controller: AbortController | undefined;
  let limit = RUNS_PAGE;
  const status = el("p", { id: "runs-status", role: "status" }, "Loading runs…");
  const error = el("p", { id: "runs-error", class: "error", role: "alert" });
  const { table, body, row } = dataTable("runs", "Runs, newest first", ["When", "Who", "What", "Status", "Counts"]);
  const more = el("button", { type: "button", id: "runs-more", class: "secondary", hidden: true }, "Show more runs");
  show(root, el("h1", {}, "Runs"), el("p", { class: "help" }, "Every run that changed users, by the CLI or this server, newest first. Open one for its users and Undo."), status, error, table, el("div", { class: "pager" }, more));

  function load(): void {
    controller?.abort();
    const ctrl = (controller = new AbortController());
    table.setAttribute("aria-busy", "true");
    getJson<{ runs: Run[] }>(`/v1/runs?limit=${limit}`, ctrl.signal)
      .then(({ runs }) => {
        if (ctrl.signal.aborted) return;
        error.textContent = "";
        body.replaceChildren(
          ...runs.map((r) =>
            row(
              time(r.startedAt),
              actorNode(r.actor),
              el("span", {}, runLink(r.runId, r.description ?? r.kind), el("span", { class: "sub" }, `${r.kind} · ${r.runId}`), r.undoOf ? el("span", { class: "sub" }, "undo of ", runLink(r.undoOf)) : null),
              badge(r.status),
              `${countsText(r.counts)} (of ${formatCount(r.total)})`,
            ),
          ),
        );
        status.textContent = runs.length === 0 ? "No runs yet: nothing was changed through mfactl on this database." : `${runs.length} newest run${runs.length === 1 ? "" : "s"}.`;
        more.hidden = runs.length < limit || limit >= RUNS_MAX;
        table.setAttribute("aria-busy", "false");
      })
      .catch((e: unknown) => {
        if (ctrl.signal.aborted) return;
        if (e instanceof ApiError && e.status === 401) return signedOut(nav, e);
        status.textContent = "";
        error.textContent = `Could not list the runs: ${describeError(e)}`;
        table.setAttribute("aria-busy", "false");
      });
  }
  more.addEventListener("click", () => {
    limit = Math.min(RUNS_MAX, limit + RUNS_PAGE);
    load();
  });
  load();
  return () => controller?.abort();
}

/** One run: what and who, its counts, its changes page by page, and Undo for operators and admins. */
export function runScreen(root: HTMLElement, nav: Nav, runId: string): () => void {
  const controller = new AbortController();
  let changes: AbortController | undefined;
  let undo: AbortController | undefined;
  const status = el("p", { id: "run-status", role: "status" }, "Loading the run…");
  const error = el("p", { id: "run-error", class: "error", role: "alert" });
  const facts = el("dl", { id: "run-facts", class: "facts" });
  const undoSection = el("section", { id: "undo", class: "panel", "aria-labelledby": "undo-title", hidden: true });
  const changesStatus = el("p", { id: "changes-status", role: "status" });
  const changesError = el("p", { id: "changes-error", class: "error", role: "alert" });
  const { table, body, row } = dataTable("changes", `Changes of run ${runId}`, ["User", "Tenant", "Change", "Status", "Details"]);
  const pages = new CursorPager("changes", loadChanges, () => table.getAttribute("aria-busy") === "true");
  const changesSection = el(
    "section",
    { "aria-labelledby": "changes-title", hidden: true },
    el("h2", { id: "changes-title" }, "Changes"),
    changesStatus,
    changesError,
    table,
    el("nav", { class: "pager", "aria-label": "Pages of changes" }, pages.previous, pages.next),
  );
  show(root, el("a", { href: "#/runs", class: "back" }, "← All runs"), el("h1", {}, `Run ${runId}`), status, error, facts, undoSection, changesSection);

  function loadChanges(): void {
    changes?.abort();
    const ctrl = (changes = new AbortController());
    const page = pages.page;
    const params = new URLSearchParams({ limit: String(CHANGES_PAGE) });
    const cursor = pages.cursor;
    if (cursor !== undefined) params.set("cursor", cursor);
    table.setAttribute("aria-busy", "true");
    changesStatus.textContent = "Loading changes…";
    getJson<{ changes: RunChange[]; nextCursor?: string | number }>(`/v1/runs/${encodeURIComponent(runId)}/changes?${params.toString()}`, ctrl.signal)
      .then((answer) => {
        if (ctrl.signal.aborted) return;
        changesError.textContent = "";
        pages.shown(answer.nextCursor);
        body.replaceChildren(...answer.changes.map((c) => row(c.userPrincipalName || c.id, c.tenant, transition(c), badge(c.status), details(c))));
        const first = page * CHANGES_PAGE + 1;
        changesStatus.textContent = answer.changes.length === 0 ? (page === 0 ? "This run has no changes." : "No more changes.") : `Changes ${first}–${first + answer.changes.length - 1}${pages.last ? " (last page)" : ""}.`;
        table.setAttribute("aria-busy", "false");
      })
      .catch((e: unknown) => {
        if (ctrl.signal.aborted) return;
        if (e instanceof ApiError && e.status === 401) return signedOut(nav, e);
        changesStatus.textContent = "";
        changesError.textContent = `Could not list the run's changes: ${describeError(e)}`;
        pages.failed();
        table.setAttribute("aria-busy", "false");
      });
  }


  function drawFacts(run: Run, undoneBy: Run | undefined): void {
    const fact = (term: string, ...value: Child[]) => [el("dt", {}, term), el("dd", {}, ...value)];
    facts.replaceChildren(
      ...fact("What", run.description ?? run.kind),
      ...fact("Kind", run.kind),
      ...fact("Who", actorNode(run.actor), run.host ? ` on ${run.host}` : ""),
      ...fact("Started", time(run.startedAt)),
      ...fact("Finished", time(run.finishedAt)),
      ...fact("Status", badge(run.status)),
      ...fact("Users", `${countsText(run.counts)} (of ${formatCount(run.total)})`),
      ...(run.undoOf ? fact("Undo of", runLink(run.undoOf)) : []),
      ...(undoneBy ? fact("Undone by", runLink(undoneBy.runId), " at ", time(undoneBy.startedAt)) : []),
      ...(run.options?.force || run.options?.includeProtected ? fact("Options", [run.options.force ? "force" : "", run.options.includeProtected ? "include protected" : ""].filter(Boolean).join(", ")) : []),
    );
  }

  function drawUndo(run: Run, undoneBy: Run | undefined): void {
    const changed = run.counts["changed"] ?? 0;
    const title = el("h2", { id: "undo-title" }, "Undo");
    undoSection.hidden = false;
    if (!canWrite()) {
      undoSection.replaceChildren(title, el("p", { class: "help" }, "Undo needs the operator or admin role; you may look only."));
      return;
    }
    if (undoneBy) {
      undoSection.replaceChildren(title, el("p", {}, "This run was undone by run ", runLink(undoneBy.runId), ". To redo its changes, open that run and undo it."));
      return;
    }
    if (run.status === "running") {
      undoSection.replaceChildren(title, el("p", {}, "This run is still running (or its process died): undo it once it has finished, or finish it with ", el("code", {}, `mfactl resume ${run.runId}`), "."));
      return;
    }
    if (changed === 0) {
      undoSection.replaceChildren(title, el("p", {}, "Nothing to undo: this run changed nobody."));
      return;
    }
    const users = `${formatCount(changed)} user${changed === 1 ? "" : "s"}`;
    const start = el("button", { type: "button", id: "run-undo" }, "Undo this run…");
    const confirm = el("button", { type: "button", id: "undo-confirm", class: "danger" }, `Undo ${users}`);
    const cancel = el("button", { type: "button", id: "undo-cancel", class: "secondary" }, "Cancel");
    const question = el("h3", { id: "undo-question", tabindex: "-1" }, `Put back the previous state of ${users} changed by this run?`);
    const confirmation = el(
      "div",
      { id: "undo-confirmation", class: "confirm", role: "group", "aria-labelledby": "undo-question", hidden: true },
      question,
      el("p", { id: "undo-explain" }, "Each user goes back to the state it had before this run. A user whose state was changed since (by anyone) is left alone and listed as a conflict. The undo is a run of its own, in the journal and the audit log under your name, and can itself be undone."),
      el("div", { class: "actions" }, confirm, cancel),
    );
    const undoError = el("p", { id: "undo-error", class: "error", role: "alert" });
    undoSection.replaceChildren(title, el("p", { class: "help" }, `Puts back the previous state of the ${users} this run changed.`), start, confirmation, undoError);

    const close = () => {
      confirmation.hidden = true;
      start.hidden = false;
      start.focus();
    };
    start.addEventListener("click", () => {
      undoError.textContent = "";
      start.hidden = true;
      confirmation.hidden = false;
      question.focus();
    });
    cancel.addEventListener("click", close);
    confirmation.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
    });
    confirm.addEventListener("click", () => {
      confirm.disabled = true;
      cancel.disabled = true;
      undo?.abort();
      const ctrl = (undo = new AbortController());
      startJob("undo", { runId: run.runId }, ctrl.signal)
        .then((job) => {
          if (ctrl.signal.aborted) return;
          followUndo(job, ctrl.signal);
        })
        .catch((e: unknown) => {
          if (ctrl.signal.aborted) return;
          if (e instanceof ApiError && e.status === 401) return signedOut(nav, e);
          confirm.disabled = false;
          cancel.disabled = false;
          undoError.textContent = `The undo was refused: ${describeError(e)}`;
          undoError.focus();
        });
    });
    undoError.tabIndex = -1;
  }

  /** Live progress of the undo job: a progress bar, the counts (announced), each settled user listed. */
  function followUndo(job: Job, signal: AbortSignal): void {
    const heading = el("h3", { id: "undo-progress-title", tabindex: "-1" }, "Undoing…");
    const bar = el("progress", { id: "undo-progress", "aria-labelledby": "undo-progress-title", max: String(job.progress.total ?? 1), value: "0" });
    const counts = el("p", { id: "undo-counts", role: "status", "aria-live": "polite" }, "Starting the undo…");
    const settled = el("ul", { id: "undo-changes", class: "settled", "aria-label": "Users put back so far" });
    const result = el("div", { id: "undo-result" });
    const panel = el("div", { id: "undo-live" }, heading, bar, counts, result, el("h4", {}, "Users"), settled);
    const title = undoSection.querySelector("h2");
    undoSection.replaceChildren(...(title ? [title] : []), panel);
    heading.focus();

    const update = (j: Job) => {
      const total = j.progress.total;
      if (total !== undefined) bar.max = Math.max(1, total);
      bar.value = j.progress.done;
      counts.textContent = `${formatCount(j.progress.done)}${total !== undefined ? ` of ${formatCount(total)}` : ""} users: ${countsText(j.progress.counts)}.`;
    };
    update(job);
    followJob(
      job.jobId,
      (event) => {
        if (event.type === "change") settled.append(settledItem(event.change));
        else update(event.job);
      },
      signal,
    )
      .then((done) => {
        if (signal.aborted) return;
        update(done);
        const undoRun = done.runId ?? (done.summary as { runId?: string } | undefined)?.runId;
        heading.textContent = done.status === "succeeded" ? "Undo finished" : `Undo ${done.status}`;
        const outcome = el("h3", { id: "undo-outcome", tabindex: "-1" }, done.status === "succeeded" ? `Undone: ${countsText(done.progress.counts)}.` : `The undo ${done.status}: ${done.error ? `${done.error.message} (${done.error.code})` : "see the undo run"}.`);
        result.replaceChildren(outcome, ...(undoRun ? [el("p", {}, "The undo is run ", runLink(undoRun), ": open it for each user, or to undo the undo.")] : []));
        outcome.focus();
        // A job that ended before its events were followed sends only its end: list the users from the journal.
        const settledCount = Object.values(done.progress.counts).reduce((a, b) => a + b, 0);
        if (undoRun && settled.childElementCount < settledCount) {
          getJson<{ changes: RunChange[] }>(`/v1/runs/${encodeURIComponent(undoRun)}/changes?limit=${CHANGES_PAGE}`, signal)
            .then(({ changes }) => {
              if (!signal.aborted) settled.replaceChildren(...changes.map((c) => settledItem(c)));
            })
            .catch(() => undefined);
        }
      })
      .catch((e: unknown) => {
        if (signal.aborted) return;
        if (e instanceof ApiError && e.status === 401) return signedOut(nav, e);
        const words = el("p", { id: "undo-error", class: "error", role: "alert", tabindex: "-1" }, `Lost track of the undo: ${describeError(e)}. It may still be running: see Runs.`);
        result.replaceChildren(words);
        words.focus();
      });
  }

  Promise.all([getJson<Run>(`/v1/runs/${encodeURIComponent(runId)}`, controller.signal), getJson<{ runs: Run[] }>(`/v1/runs?limit=${RUNS_MAX}`, controller.signal).catch(() => ({ runs: [] as Run[] }))])
    .then(([run, recent]) => {
      if (controller.signal.aborted) return;
      const undoneBy = recent.runs.find((r) => r.undoOf === run.runId);
      status.textContent = "";
      drawFacts(run, undoneBy);
      drawUndo(run, undoneBy);
      changesSection.hidden = false;
      loadChanges();
    })
    .catch((e: unknown) => {
      if (controller.signal.aborted) return;
      if (e instanceof ApiError && e.status === 401) return signedOut(nav, e);
      status.textContent = "";
      error.textContent = e instanceof ApiError && e.status === 404 ? `No run ${runId} in the journal (${e.code}: ${e.message}).` : `Could not read run ${runId}: ${describeError(e)}`;
    });

  return () => {
    controller.abort();
    changes?.abort();
    // The undo job goes on on the server; its run is in Runs.
    undo?.abort();
  };
}

function transition(c: RunChange): string {
  return `${c.previousState ?? "?"} → ${c.requestedState ?? "?"}`;
}

function details(c: RunChange | JobChange): Child {
  const parts: Child[] = [];
  if (c.error) parts.push(el("span", { class: "error-text" }, `${c.error.code ? `${c.error.code}: ` : ""}${c.error.message}`));
  if (c.requestId) parts.push(el("span", { class: "sub" }, `Graph request id ${c.requestId}`));
  return parts.length ? el("span", {}, ...parts) : "";
}

function settledItem(c: JobChange): HTMLLIElement {
  return el("li", { class: `settled-${c.status}` }, el("span", { class: "upn" }, c.userPrincipalName || c.id), ` (${c.tenant}): ${c.previousState ?? "?"} → ${c.requestedState ?? "?"}: `, badge(c.status), details(c));
}
