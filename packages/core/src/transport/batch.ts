import { z } from "zod";
import { GraphError, UsageError } from "../domain/errors.js";
import type { GraphClient, HttpMethod } from "./types.js";

/** Graph accepts at most 20 requests in one `$batch`. */
export const MAX_BATCH_REQUESTS = 20;

export interface BatchRequest {
  /** Unique within the batch; results are keyed by it. */
  id: string;
  method: HttpMethod;
  /** Relative to the batch's version, encoded: `/users/{id}/authentication/requirements`. */
  url: string;
  /** JSON body; `Content-Type: application/json` is added when absent. */
  body?: unknown;
  headers?: Record<string, string> | undefined;
}

export interface BatchResult {
  /** The sub-request's status; 0 when Graph's answer left it out. */
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

const BatchEnvelope = z.object({
  responses: z.array(
    z.object({
      id: z.string(),
      status: z.number().int(),
      headers: z.record(z.string(), z.string()).optional(),
      body: z.unknown().optional(),
    }),
  ),
});

/**
 * Sends up to 20 requests as one JSON batch and returns each sub-response by id. A 200 envelope
 * says nothing about the sub-requests: check each status. An id missing from Graph's answer comes
 * back as status 0 with a `MissingBatchResponse` error body, never silently dropped. Sub-requests
 * throttled with 429 are not retried here.
 */
export async function graphBatch(
  client: GraphClient,
  tenant: string,
  version: "v1.0" | "beta",
  requests: readonly BatchRequest[],
  options: { user?: string | undefined; signal?: AbortSignal | undefined } = {},
): Promise<Map<string, BatchResult>> {
  if (requests.length > MAX_BATCH_REQUESTS) {
    throw new UsageError(`A Graph batch holds at most ${MAX_BATCH_REQUESTS} requests (got ${requests.length}).`);
  }
  const ids = new Set<string>();
  for (const r of requests) {
    if (r.id === "") throw new UsageError("A batch request needs a non-empty id.");
    if (ids.has(r.id)) throw new UsageError(`Duplicate batch request id ${JSON.stringify(r.id)}.`);
    ids.add(r.id);
    if (/^[a-z]+:\/\//i.test(r.url) || /^\/?(v1\.0|beta)\//.test(r.url)) {
      throw new UsageError(`Batch request ${JSON.stringify(r.id)}: url ${JSON.stringify(r.url)} must be relative to the batch's version (e.g. /users/{id}).`);
    }
  }
  const results = new Map<string, BatchResult>();
  if (requests.length === 0) return results;

  const body = {
    requests: requests.map((r) => {
      const headers = { ...(r.headers ?? {}) };
      if (r.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
        headers["Content-Type"] = "application/json";
      }
      return {
        id: r.id,
        method: r.method,
        url: r.url.startsWith("/") ? r.url : `/${r.url}`,
        ...(Object.keys(headers).length > 0 ? { headers } : {}),
        ...(r.body !== undefined ? { body: r.body } : {}),
      };
    }),
  };
  const res = await client.request<unknown>({
    tenant,
    method: "POST",
    path: `/${version}/$batch`,
    body,
    user: options.user,
    signal: options.signal,
  });
  const envelope = BatchEnvelope.safeParse(res.body);
  if (!envelope.success) {
    throw new GraphError(`Graph's $batch answer has no "responses" array of {id, status} (tenant ${tenant}).`, {
      status: res.status,
      code: "InvalidBatchResponse",
      requestId: res.requestId,
      tenant,
      user: options.user,
      attempts: res.attempts,
    });
  }
  for (const r of envelope.data.responses) {
    if (!ids.has(r.id) || results.has(r.id)) continue;
    results.set(r.id, { status: r.status, headers: r.headers ?? {}, body: r.body });
  }
  for (const id of ids) {
    if (!results.has(id)) {
      results.set(id, {
        status: 0,
        headers: {},
        body: { error: { code: "MissingBatchResponse", message: `Graph's $batch answer has no response for request ${JSON.stringify(id)}.` } },
      });
    }
  }
  return results;
}
