/**
 * The checks of `npm run load`: every answer the clients got, replayed user by user against what
 * the emulator holds at the end, what it counted (PATCHes) and what the journal recorded. Each
 * client changes only its own users, one request at a time, so for each user the state it should
 * be in is known exactly after every acknowledged answer; only a request that failed leaves two
 * possibilities (the state before or the one requested), which the journal then decides.
 */
import type { JournalChange, RunRecord } from "@mfactl/core";
import type { LoadRecord, State } from "./load-server-clients.js";

export interface UserFact {
  idx: number;
  tenant: string;
  tenantId: string;
  id: string;
  upn: string;
  /** The client that changes this user. */
  owner: number;
  /** Registered methods: setting `enabled` makes the user `enforced` (as Entra does). */
  hasMethods: boolean;
  initialState: State;
  initialPatches: number;
}

export interface FinalFact {
  state: string;
  patches: number;
}

export interface VerifyInput {
  users: UserFact[];
  /** The emulator's view after the run, by user idx. */
  final: FinalFact[];
  records: LoadRecord[];
  runs: RunRecord[];
  changes: JournalChange[];
  /** The journal's actor of each client (`apikey:<name>`, `app:<id>`). */
  actors: string[];
  /** Successful PATCHes the emulator counted during the run. */
  emulatorPatches: number;
}

export type ProblemKind = "state" | "final" | "response" | "journal" | "patches" | "unexpected4xx";

export interface Problem {
  kind: ProblemKind;
  detail: string;
}

export interface Verification {
  problems: Problem[];
  /** Problems per kind (the list above keeps the first 50). */
  byKind: Record<ProblemKind, number>;
  /** PUT answered changed, unchanged, wouldChange. */
  put: { changed: number; unchanged: number; wouldChange: number };
  /** CIPP changes answered success, and how many of them changed the state. */
  cipp: { succeeded: number; changed: number };
  /** PUT changed + CIPP successes that changed the state: the PATCHes the emulator should have counted. */
  changedAnswers: number;
  /** Users whose state the clients changed at least once. */
  usersChanged: number;
  usersChecked: number;
  /** Writes answered with an error (other than 400/401/403/429, refused before anything was sent) or not answered. */
  failedWrites: number;
  /** Of those, writes whose outcome neither the answer nor its journal run told (undecided until a later read or the journal). */
  undecidedWrites: number;
  /** Undecided at the end, decided by the journal. */
  decidedByJournal: number;
  journal: { runs: number; changes: number; changed: number; unchanged: number; failed: number; conflict: number; pending: number; inFlight: number; notCompleted: number; putChangedMatched: number };
  emulatorPatches: number;
  journalPatches: number;
}

const satisfies = (observed: string, requested: string) => observed === requested || (requested === "enabled" && observed === "enforced");
const SENT_BUT_FAILED = new Set(["ReadBackFailed", "ReadBackMismatch"]);
/** Answers after which nothing was done: refused before anything was sent. */
const NOTHING_DONE = new Set([400, 401, 403, 429]);

interface Track {
  possible: Set<string>;
  minPatches: number;
  maxPatches: number;
  changedOnce: boolean;
}

export function verify(input: VerifyInput): Verification {
  const problems: Problem[] = [];
  const byKind: Record<ProblemKind, number> = { state: 0, final: 0, response: 0, journal: 0, patches: 0, unexpected4xx: 0 };
  const problem = (kind: ProblemKind, detail: string) => {
    byKind[kind]++;
    if (problems.length < 50) problems.push({ kind, detail });
  };
  const { users } = input;
  const key = (tenantOrId: string, id: string) => `${tenantOrId.toLowerCase()}/${id.toLowerCase()}`;
  const byUserKey = new Map<string, UserFact>();
  for (const u of users) {
    byUserKey.set(key(u.tenant, u.id), u);
    byUserKey.set(key(u.tenantId, u.id), u);
  }
  const effective = (u: UserFact, requested: string) => (requested === "enabled" && u.hasMethods ? "enforced" : requested);

  // The journal, by run and by user.
  const runsById = new Map(input.runs.map((r) => [r.runId, r]));
  const changesByRun = new Map<string, JournalChange[]>();
  const changesByUser = new Map<number, JournalChange[]>();
  const journal = { runs: input.runs.length, changes: input.changes.length, changed: 0, unchanged: 0, failed: 0, conflict: 0, pending: 0, inFlight: 0, notCompleted: 0, putChangedMatched: 0 };
  for (const run of input.runs) {
    if (run.status !== "completed") {
      journal.notCompleted++;
      problem("journal", `run ${run.runId} (${run.actor}) is ${run.status}, not completed`);
    }
  }
  for (const c of input.changes) {
    journal[c.status]++;
    if (c.status === "pending" || c.status === "inFlight") problem("journal", `run ${c.runId} left ${c.userPrincipalName} ${c.status}`);
    changesByRun.set(c.runId, [...(changesByRun.get(c.runId) ?? []), c]);
    const u = byUserKey.get(key(c.tenant, c.id));
    if (!u) {
      problem("journal", `run ${c.runId} changed ${c.userPrincipalName} (${c.tenant}), a user no client owns`);
      continue;
    }
    const actor = runsById.get(c.runId)?.actor;
    if (actor !== input.actors[u.owner]) problem("journal", `run ${c.runId} names ${actor ?? "no run"} as the actor for ${u.upn}, whose changes all come from ${input.actors[u.owner] ?? "?"}`);
    changesByUser.set(u.idx, [...(changesByUser.get(u.idx) ?? []), c]);
  }
  for (const list of changesByUser.values()) list.sort((a, b) => (a.updatedAt < b.updatedAt ? -1 : a.updatedAt > b.updatedAt ? 1 : a.runId < b.runId ? -1 : 1));

  const tracks: Track[] = users.map((u) => ({ possible: new Set([u.initialState]), minPatches: 0, maxPatches: 0, changedOnce: false }));
  const put = { changed: 0, unchanged: 0, wouldChange: 0 };
  const cipp = { succeeded: 0, changed: 0 };
  let undecidedWrites = 0;
  let failedWrites = 0;
  const show = (s: Set<string>) => [...s].join(" or ");

  const observe = (u: UserFact, t: Track, state: string, where: string) => {
    if (!t.possible.has(state)) problem("state", `${where}: ${u.upn} read as ${state}, but the last answers leave it ${show(t.possible)}`);
    t.possible = new Set([state]);
  };
  /** A write whose outcome the answer does not tell: settle it from the journal when the answer named the run. */
  const undecided = (u: UserFact, t: Track, requested: string, runId: string | undefined) => {
    failedWrites++;
    const c = runId ? changesByRun.get(runId)?.[0] : undefined;
    if (c && c.status === "changed") {
      t.possible = new Set([c.perUserMfaState ?? effective(u, requested)]);
      t.minPatches++;
      t.maxPatches++;
      t.changedOnce = true;
      return;
    }
    if (c && c.status === "failed" && !SENT_BUT_FAILED.has(c.error?.code ?? "")) return;
    undecidedWrites++;
    t.possible.add(effective(u, requested));
    t.maxPatches++;
    if (c) t.minPatches++;
  };

  const records = [...input.records].sort((a, b) => a.client - b.client || a.start - b.start);
  for (const r of records) {
    const where = `${r.kind} by client ${r.client} at ${(r.start / 1000).toFixed(2)} s`;
    if (r.http >= 400 && r.http < 500 && r.http !== 429) problem("unexpected4xx", `${where}: HTTP ${r.http} ${r.outcome?.errorCode ?? ""} ${r.outcome?.message ?? ""}`.trim());
    if (r.kind === "list") {
      for (const [idx, state] of r.seen ?? []) {
        const u = users[idx]!;
        observe(u, tracks[idx]!, state, where);
      }
      continue;
    }
    if (r.user === undefined) continue;
    const u = users[r.user]!;
    const t = tracks[r.user]!;
    const o = r.outcome ?? {};
    if (r.kind === "get") {
      if (r.http !== 200) continue;
      if ((o.id ?? "").toLowerCase() !== u.id.toLowerCase()) problem("response", `${where}: asked for ${u.upn}, answered for ${o.id ?? "no id"}`);
      observe(u, t, o.perUserMfaState ?? "missing", where);
      continue;
    }
    const requested = r.requested!;
    if (r.kind === "put") {
      if (r.http === 200) {
        if ((o.id ?? "").toLowerCase() !== u.id.toLowerCase()) problem("response", `${where}: asked to change ${u.upn}, answered for ${o.id ?? "no id"}`);
        const prev = o.previousState ?? "missing";
        if (!t.possible.has(prev)) problem("state", `${where}: previousState ${prev} for ${u.upn}, but the last answers leave it ${show(t.possible)}`);
        if (o.status === "changed") {
          put.changed++;
          if (r.dryRun) problem("response", `${where}: a dry run answered changed for ${u.upn}`);
          if (satisfies(prev, requested)) problem("response", `${where}: changed ${u.upn} from ${prev}, which already satisfied ${requested}`);
          if (o.perUserMfaState !== effective(u, requested)) problem("response", `${where}: ${u.upn} changed to ${requested} reads back as ${o.perUserMfaState ?? "nothing"}, not ${effective(u, requested)}`);
          t.possible = new Set([o.perUserMfaState ?? effective(u, requested)]);
          t.minPatches++;
          t.maxPatches++;
          t.changedOnce = true;
          // (3) exactly one journal change, settled changed, same run, request id, user and state.
          const js = o.runId ? (changesByRun.get(o.runId) ?? []) : [];
          const c = js[0];
          if (!o.runId) problem("journal", `${where}: changed ${u.upn} without a runId`);
          else if (js.length !== 1 || !c) problem("journal", `${where}: run ${o.runId} of ${u.upn} has ${js.length} journal changes, not 1`);
          else if (c.status !== "changed" || c.requestId !== o.requestId || c.id.toLowerCase() !== u.id.toLowerCase() || c.requestedState !== requested) {
            problem("journal", `${where}: run ${o.runId} of ${u.upn} journals ${c.status} ${c.requestedState} for ${c.userPrincipalName} with request id ${c.requestId ?? "none"}; the answer said changed ${requested}, request id ${o.requestId ?? "none"}`);
          } else journal.putChangedMatched++;
        } else if (o.status === "unchanged") {
          put.unchanged++;
          if (!satisfies(prev, requested)) problem("response", `${where}: unchanged for ${u.upn} at ${prev}, which does not satisfy ${requested}`);
          if (o.perUserMfaState !== prev) problem("response", `${where}: unchanged for ${u.upn} but ${prev} became ${o.perUserMfaState ?? "nothing"}`);
          t.possible = new Set([prev]);
        } else if (o.status === "wouldChange") {
          put.wouldChange++;
          if (!r.dryRun) problem("response", `${where}: wouldChange for ${u.upn} without dryRun`);
          t.possible = new Set([prev]);
        } else {
          problem("response", `${where}: HTTP 200 with status ${o.status ?? "none"} for ${u.upn}`);
          undecided(u, t, requested, o.runId);
        }
      } else if (!NOTHING_DONE.has(r.http) && !r.dryRun) undecided(u, t, requested, o.runId);
      continue;
    }
    // CIPP: success says only that the state now satisfies the request; the previous state is known here.
    if (r.http === 200) {
      cipp.succeeded++;
      if (!(o.message ?? "").startsWith("Successfully set")) problem("response", `${where}: HTTP 200 "${o.message ?? ""}" for ${u.upn}`);
      const next = new Set<string>();
      let changes = 0;
      for (const s of t.possible) {
        if (satisfies(s, requested)) next.add(s);
        else {
          next.add(effective(u, requested));
          changes++;
        }
      }
      if (changes === t.possible.size) {
        t.minPatches++;
        cipp.changed++;
      }
      if (changes > 0) {
        t.maxPatches++;
        t.changedOnce = true;
      }
      t.possible = next;
    } else if (!NOTHING_DONE.has(r.http)) undecided(u, t, requested, undefined);
  }

  // (2) the emulator's final state, and (4) its PATCH counts, user by user.
  let decidedByJournal = 0;
  let usersChanged = 0;
  let journalPatches = 0;
  for (const u of users) {
    const t = tracks[u.idx]!;
    const f = input.final[u.idx]!;
    const js = changesByUser.get(u.idx) ?? [];
    const changed = js.filter((c) => c.status === "changed").length;
    const sentButFailed = js.filter((c) => c.status === "failed" && SENT_BUT_FAILED.has(c.error?.code ?? "")).length;
    journalPatches += changed;
    if (t.changedOnce || changed > 0) usersChanged++;
    if (!t.possible.has(f.state)) problem("final", `${u.upn} is ${f.state} in the emulator; the clients' answers leave it ${show(t.possible)}`);
    else if (t.possible.size > 1) {
      const last = js[js.length - 1];
      const says = last ? (last.status === "changed" ? last.perUserMfaState : (last.previousState ?? last.perUserMfaState)) : undefined;
      if (says === f.state) decidedByJournal++;
      else problem("final", `${u.upn} is ${f.state}; undecided between ${show(t.possible)} and the journal's last change says ${says ?? "nothing"}`);
    }
    const patches = f.patches - u.initialPatches;
    if (patches !== changed + sentButFailed) problem("patches", `${u.upn}: the emulator counted ${patches} PATCHes, the journal ${changed} changed${sentButFailed ? ` + ${sentButFailed} sent but failed` : ""}`);
    if (patches < t.minPatches || patches > t.maxPatches) {
      problem("patches", `${u.upn}: the emulator counted ${patches} PATCHes; the answers acknowledged ${t.minPatches === t.maxPatches ? t.minPatches : `${t.minPatches} to ${t.maxPatches}`}`);
    }
  }
  const changedAnswers = put.changed + cipp.changed;
  if (undecidedWrites === 0 && input.emulatorPatches !== changedAnswers) {
    problem("patches", `the emulator counted ${input.emulatorPatches} PATCHes in all; the clients got ${changedAnswers} changed answers (${put.changed} PUT, ${cipp.changed} CIPP)`);
  }
  return {
    problems,
    byKind,
    put,
    cipp,
    changedAnswers,
    usersChanged,
    usersChecked: users.length,
    failedWrites,
    undecidedWrites,
    decidedByJournal,
    journal,
    emulatorPatches: input.emulatorPatches,
    journalPatches,
  };
}
