import { ManualClock, type ErrorInfo } from "@mfactl/core";
import { describe, expect, it } from "vitest";
import { JobManager, type JobEvent, type JobHandle } from "./job-manager.js";

const describeError = (error: unknown): ErrorInfo => ({ code: "Boom", message: error instanceof Error ? error.message : String(error), httpStatus: 500 });

/** A promise the test settles by hand, and the job handle the work got. */
function gate<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Resolves with the job's `done` event. */
function doneOf(jobs: JobManager, jobId: string): Promise<JobEvent> {
  return new Promise((resolve) => {
    const off = jobs.subscribe(jobId, (e) => {
      if (e.type === "done") {
        off();
        resolve(e);
      }
    });
  });
}

describe("JobManager", () => {
  it("runs work in the background: running, then succeeded with its result, summary and end time", async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 2, 3, 4, 5));
    const jobs = new JobManager(clock, 10);
    const g = gate<{ n: number }>();
    const job = jobs.start("report", "apikey:a", () => g.promise, { describe: describeError, summarize: (r) => ({ users: r.n }) });
    expect(job).toMatchObject({ type: "report", status: "running", actor: "apikey:a", createdAt: "2026-01-02T03:04:05.000Z", progress: { done: 0, counts: {} } });
    expect(job.jobId).toMatch(/^job-20260102T030405Z-[0-9a-f]{8}$/);
    expect(jobs.running().map((j) => j.jobId)).toStrictEqual([job.jobId]);
    const done = doneOf(jobs, job.jobId);
    clock.advance(5_000);
    g.resolve({ n: 7 });
    expect(((await done) as { job: { status: string } }).job.status).toBe("succeeded");
    expect(jobs.get(job.jobId)).toMatchObject({ status: "succeeded", summary: { users: 7 }, finishedAt: "2026-01-02T03:04:10.000Z" });
    expect(jobs.result(job.jobId)).toStrictEqual({ n: 7 });
    expect(jobs.running()).toStrictEqual([]);
  });

  it("fails a job whose work throws, with the error described, and tells onError", async () => {
    const seen: unknown[] = [];
    const jobs = new JobManager(new ManualClock(), 10, (_job, error) => seen.push(error));
    const job = jobs.start("plan", "apikey:a", () => Promise.reject(new Error("no tenant")), { describe: describeError });
    await doneOf(jobs, job.jobId);
    expect(jobs.get(job.jobId)).toMatchObject({ status: "failed", error: { code: "Boom", message: "no tenant", httpStatus: 500 } });
    expect(jobs.result(job.jobId)).toBeUndefined();
    expect(seen).toHaveLength(1);
  });

  it("streams progress when the total and run are known, a change per settled user, and done last", async () => {
    const clock = new ManualClock();
    const jobs = new JobManager(clock, 10);
    const g = gate();
    let handle!: JobHandle;
    const job = jobs.start(
      "bulkSet",
      "apikey:a",
      async (h) => {
        handle = h;
        await g.promise;
      },
      { describe: describeError },
    );
    const events: JobEvent[] = [];
    jobs.subscribe(job.jobId, (e) => events.push(e));
    handle.setTotal(3);
    handle.setRunId("run-1");
    handle.settled("changed", { id: "u1" });
    handle.settled("failed", { id: "u2" });
    clock.advance(200);
    handle.settled("changed", { id: "u3" });
    const done = doneOf(jobs, job.jobId);
    g.resolve();
    await done;
    expect(events.map((e) => e.type)).toStrictEqual(["progress", "progress", "change", "change", "change", "progress", "done"]);
    expect(events.filter((e) => e.type === "change").map((e) => (e as { change: unknown }).change)).toStrictEqual([{ id: "u1" }, { id: "u2" }, { id: "u3" }]);
    const last = events.at(-1) as { job: { status: string; runId: string; progress: unknown } };
    expect(last.job).toMatchObject({ status: "succeeded", runId: "run-1", progress: { total: 3, done: 3, counts: { changed: 2, failed: 1 } } });
    // Progress events are snapshots: later changes do not alter an event already sent.
    expect((events[1] as { job: { progress: { done: number } } }).job.progress.done).toBe(0);
  });

  it("sends progress at most every 200 ms of its clock, but every change", async () => {
    const clock = new ManualClock();
    const jobs = new JobManager(clock, 10);
    const g = gate();
    let handle!: JobHandle;
    const job = jobs.start(
      "apply",
      "apikey:a",
      async (h) => {
        handle = h;
        await g.promise;
      },
      { describe: describeError },
    );
    const events: JobEvent[] = [];
    jobs.subscribe(job.jobId, (e) => events.push(e));
    handle.setTotal(100);
    for (let i = 0; i < 50; i++) handle.settled("changed", { i });
    clock.advance(199);
    for (let i = 0; i < 50; i++) handle.settled("changed", { i });
    expect(events.filter((e) => e.type === "progress")).toHaveLength(1);
    clock.advance(1);
    handle.settled("changed", {});
    expect(events.filter((e) => e.type === "progress")).toHaveLength(2);
    expect(events.filter((e) => e.type === "change")).toHaveLength(101);
    g.resolve();
    await doneOf(jobs, job.jobId);
  });

  it("keeps the newest N finished jobs with their results; running jobs are never dropped", async () => {
    const jobs = new JobManager(new ManualClock(), 2);
    const slow = gate();
    const running = jobs.start("bulkSet", "apikey:a", () => slow.promise, { describe: describeError });
    const finished: string[] = [];
    for (let i = 0; i < 4; i++) {
      const job = jobs.start("report", "apikey:a", async () => i, { describe: describeError });
      await doneOf(jobs, job.jobId);
      finished.push(job.jobId);
    }
    expect(finished.map((id) => jobs.get(id)?.jobId)).toStrictEqual([undefined, undefined, finished[2], finished[3]]);
    expect(finished.map((id) => jobs.result(id))).toStrictEqual([undefined, undefined, 2, 3]);
    expect(jobs.get(running.jobId)?.status).toBe("running");
    // Newest first.
    expect(jobs.list().map((j) => j.jobId)).toStrictEqual([finished[3], finished[2], running.jobId]);
    const done = doneOf(jobs, running.jobId);
    slow.resolve();
    await done;
    // The long job finished last: it is kept, the oldest kept one goes.
    expect(jobs.get(running.jobId)?.status).toBe("succeeded");
    expect(jobs.get(finished[2]!)).toBeUndefined();
    expect(jobs.get(finished[3]!)).toBeDefined();
  });

  it("unsubscribes, and subscribing to an unknown job is harmless", async () => {
    const jobs = new JobManager(new ManualClock(), 5);
    const g = gate();
    let handle!: JobHandle;
    const job = jobs.start(
      "apply",
      "apikey:a",
      async (h) => {
        handle = h;
        await g.promise;
      },
      { describe: describeError },
    );
    const events: JobEvent[] = [];
    const off = jobs.subscribe(job.jobId, (e) => events.push(e));
    handle.settled("changed", {});
    off();
    handle.settled("changed", {});
    expect(events.filter((e) => e.type === "change")).toHaveLength(1);
    const noop = jobs.subscribe("job-none", () => events.push({ type: "change", change: "never" }));
    noop();
    g.resolve();
    await doneOf(jobs, job.jobId);
  });

  it("cancels a job when the signal it was given aborts", async () => {
    const jobs = new JobManager(new ManualClock(), 5);
    const outer = new AbortController();
    const job = jobs.start(
      "bulkSet",
      "apikey:a",
      (h) =>
        new Promise((_resolve, reject) => {
          h.signal.addEventListener("abort", () => reject(h.signal.reason as Error), { once: true });
        }),
      { describe: describeError, signal: outer.signal },
    );
    const done = doneOf(jobs, job.jobId);
    outer.abort(new Error("server closing"));
    await done;
    expect(jobs.get(job.jobId)).toMatchObject({ status: "cancelled", error: { message: "server closing" } });
  });

  it("starts a job cancelled when its signal has already aborted", async () => {
    const jobs = new JobManager(new ManualClock(), 5);
    const outer = new AbortController();
    outer.abort(new Error("server closed"));
    let sawAbort: boolean | undefined;
    const job = jobs.start(
      "apply",
      "apikey:a",
      async (h) => {
        sawAbort = h.signal.aborted;
        if (h.signal.aborted) throw h.signal.reason as Error;
      },
      { describe: describeError, signal: outer.signal },
    );
    await doneOf(jobs, job.jobId);
    expect(sawAbort).toBe(true);
    expect(jobs.get(job.jobId)?.status).toBe("cancelled");
  });

  it("awaits onFinish before done: it sees the final status", async () => {
    const jobs = new JobManager(new ManualClock(), 5);
    const order: string[] = [];
    const job = jobs.start("apply", "apikey:a", async () => 1, {
      describe: describeError,
      onFinish: async (j) => {
        order.push(`finish:${j.status}`);
        await Promise.resolve();
        order.push("finish written");
      },
    });
    jobs.subscribe(job.jobId, (e) => order.push(e.type));
    await doneOf(jobs, job.jobId);
    expect(order).toStrictEqual(["finish:succeeded", "finish written", "done"]);
  });

  describe("drain", () => {
    it("stops taking jobs and lets running jobs finish within the grace", async () => {
      const jobs = new JobManager(new ManualClock(), 5);
      const g = gate();
      let signal!: AbortSignal;
      const job = jobs.start(
        "apply",
        "apikey:a",
        async (h) => {
          signal = h.signal;
          await g.promise;
        },
        { describe: describeError },
      );
      expect(jobs.accepting).toBe(true);
      const draining = jobs.drain(60_000);
      expect(jobs.accepting).toBe(false);
      g.resolve();
      expect(await draining).toStrictEqual({ finished: 1, aborted: 0, resumable: 0 });
      expect(signal.aborted).toBe(false);
      expect(jobs.get(job.jobId)?.status).toBe("succeeded");
    });

    it("aborts jobs still running after the grace and waits for them to wind down", async () => {
      const jobs = new JobManager(new ManualClock(), 5);
      const wound: string[] = [];
      const job = jobs.start(
        "bulkSet",
        "apikey:a",
        (h) =>
          new Promise((_resolve, reject) => {
            h.signal.addEventListener(
              "abort",
              () => {
                // Winding down takes a moment; drain waits for it.
                setTimeout(() => {
                  wound.push("wound down");
                  reject(h.signal.reason as Error);
                }, 20);
              },
              { once: true },
            );
          }),
        { describe: describeError },
      );
      const quick = jobs.start("report", "apikey:a", async () => "ok", { describe: describeError });
      await doneOf(jobs, quick.jobId);
      expect(await jobs.drain(10)).toStrictEqual({ finished: 0, aborted: 1, resumable: 0 });
      expect(wound).toStrictEqual(["wound down"]);
      expect(jobs.get(job.jobId)).toMatchObject({ status: "cancelled", error: { message: "The server is shutting down." } });
      expect(jobs.get(quick.jobId)?.status).toBe("succeeded");
    });

    it("returns at once with nothing running", async () => {
      const jobs = new JobManager(new ManualClock(), 5);
      expect(await jobs.drain(3_600_000)).toStrictEqual({ finished: 0, aborted: 0, resumable: 0 });
    });
  });
});
