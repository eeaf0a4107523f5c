import { ApiError, getJson, postJson, session } from "./api.js";

/** A server job (docs/api/jobs.md): plan, bulkSet, apply, undo, report, posture. */
export interface Job {
  jobId: string;
  type: string;
  status: "running" | "succeeded" | "failed" | "cancelled";
  actor: string;
  createdAt: string;
  finishedAt?: string;
  runId?: string;
  progress: { total?: number; done: number; counts: Record<string, number> };
  error?: { code: string; message: string; httpStatus?: number };
  summary?: unknown;
}

/** One settled user of a running job (the `change` event): the journal's change. */
export interface JobChange {
  tenant: string;
  id: string;
  userPrincipalName?: string;
  previousState?: string;
  requestedState?: string;
  status: string;
  requestId?: string;
  error?: { code?: string; message: string };
}

export type JobEvent = { type: "progress" | "done"; job: Job } | { type: "change"; change: JobChange };

export function startJob(kind: "plan" | "bulk-set" | "apply" | "undo" | "report" | "posture", body: unknown, signal?: AbortSignal): Promise<Job> {
  return postJson<Job>(`/v1/jobs/${kind}`, body, signal);
}

export function getJob(jobId: string, signal?: AbortSignal): Promise<Job> {
  return getJson<Job>(`/v1/jobs/${encodeURIComponent(jobId)}`, signal);
}

export function jobResult<T>(jobId: string, signal?: AbortSignal): Promise<T> {
  return getJson<T>(`/v1/jobs/${encodeURIComponent(jobId)}/result`, signal);
}

/**
 * Follows a job's server-sent events until `done` and returns the finished job. EventSource cannot
 * send an Authorization header, so the stream is read with fetch.
 */
export async function followJob(jobId: string, onEvent: (event: JobEvent) => void, signal?: AbortSignal): Promise<Job> {
  const bearer = session.bearer;
  const res = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, { headers: { accept: "text/event-stream", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) }, ...(signal ? { signal } : {}) });
  if (!res.ok || !res.body) {
    const b = (await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
    throw new ApiError(res.status, b?.error?.code ?? "HttpError", b?.error?.message ?? res.statusText, res.headers.get("x-request-id") ?? undefined);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let last: Job | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (!data) continue;
      const parsed: unknown = JSON.parse(data);
      if (name === "change") onEvent({ type: "change", change: parsed as JobChange });
      else if (name === "progress" || name === "done") {
        last = parsed as Job;
        onEvent({ type: name, job: last });
        if (name === "done") {
          await reader.cancel().catch(() => undefined);
          return last;
        }
      }
    }
  }
  // The stream ended without `done` (a restart, a proxy): ask for the job itself.
  return last && last.status !== "running" ? last : getJob(jobId, signal);
}
