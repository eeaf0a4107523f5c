/** JSON batching: up to 20 sub-requests, each run through the full Graph pipeline on its own. */
import { randomUUID } from "node:crypto";
import { graphError, type ErrorIds } from "./graph-errors.js";
import { ODATA_JSON, type GraphCall, type GraphResult } from "./graph-types.js";
import { shuffle } from "./prng.js";
import type { EmulatorState } from "./state.js";

export const MAX_BATCH_REQUESTS = 20;
const WRITE_METHODS = new Set(["POST", "PATCH", "PUT"]);

interface SubRequest {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  dependsOn: string[];
}

const HEADER_CASE: Record<string, string> = { "content-type": "Content-Type", "retry-after": "Retry-After", location: "Location" };

function subHeaders(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[HEADER_CASE[k] ?? k] = v;
  return out;
}

type Parsed = { ok: true; requests: SubRequest[] } | { ok: false; message: string };

function parseEnvelope(envelope: GraphCall): Parsed {
  const invalid = (message = "Invalid batch payload format."): Parsed => ({ ok: false, message });
  if (envelope.bodyText === undefined || envelope.bodyText.trim() === "") return invalid("Empty Payload. JSON content expected.");
  let body: unknown;
  try {
    if (!/\bjson\b/i.test(envelope.headers["content-type"] ?? "")) throw new Error("not JSON");
    body = JSON.parse(envelope.bodyText);
  } catch {
    return invalid("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.");
  }
  const list = (body as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(list) || list.length === 0) return invalid();
  if (list.length > MAX_BATCH_REQUESTS) return invalid(`The number of requests in the batch (${list.length}) exceeds the limit of ${MAX_BATCH_REQUESTS}.`);
  const requests: SubRequest[] = [];
  const seen = new Set<string>();
  for (const item of list as unknown[]) {
    if (typeof item !== "object" || item === null) return invalid();
    const r = item as Record<string, unknown>;
    const id = typeof r["id"] === "string" || typeof r["id"] === "number" ? String(r["id"]) : undefined;
    if (id === undefined || id === "") return invalid("Every batch request needs an id.");
    if (typeof r["method"] !== "string" || typeof r["url"] !== "string") return invalid(`Request id : ${id} needs a method and a url.`);
    if (seen.has(id)) return invalid(`Batch request contains a duplicate request id : ${id}.`);
    seen.add(id);
    const headers: Record<string, string> = {};
    if (r["headers"] !== undefined) {
      if (typeof r["headers"] !== "object" || r["headers"] === null) return invalid();
      for (const [k, v] of Object.entries(r["headers"])) headers[k.toLowerCase()] = String(v);
    }
    const method = r["method"].toUpperCase();
    const body = r["body"];
    // Graph rejects the whole batch when a write or a body comes without Content-Type.
    if ((body !== undefined || WRITE_METHODS.has(method)) && (body === undefined || headers["content-type"] === undefined))
      return invalid(`Write request id : ${id} does not contain Content-Type header or body.`);
    let dependsOn: string[] = [];
    if (r["dependsOn"] !== undefined) {
      if (!Array.isArray(r["dependsOn"])) return invalid();
      dependsOn = (r["dependsOn"] as unknown[]).map(String);
    }
    requests.push({ id, method, url: r["url"], headers, body, dependsOn });
  }
  for (const r of requests)
    for (const d of r.dependsOn) if (!seen.has(d) || d === r.id) return invalid(`Request id : ${r.id} depends on an unknown request id : ${d}.`);
  if (hasCycle(requests)) return invalid("The dependsOn values of the batch form a cycle.");
  return { ok: true, requests };
}

function hasCycle(requests: SubRequest[]): boolean {
  const byId = new Map(requests.map((r) => [r.id, r]));
  const state = new Map<string, 1 | 2>();
  const visit = (id: string): boolean => {
    if (state.get(id) === 2) return false;
    if (state.get(id) === 1) return true;
    state.set(id, 1);
    for (const d of byId.get(id)?.dependsOn ?? []) if (visit(d)) return true;
    state.set(id, 2);
    return false;
  };
  return requests.some((r) => visit(r.id));
}

function subCall(envelope: GraphCall, r: SubRequest): GraphCall {
  const call: GraphCall = {
    method: r.method,
    version: envelope.version,
    pathAndQuery: r.url.startsWith("/") ? r.url : `/${r.url}`,
    headers: r.headers,
    bodyText: undefined,
    caller: envelope.caller,
    graphBase: envelope.graphBase,
    requestId: randomUUID(),
    clientRequestId: r.headers["client-request-id"] ?? envelope.clientRequestId,
  };
  if (typeof r.body === "string") call.bodyText = r.body;
  else if (r.body !== undefined) call.bodyJson = r.body;
  return call;
}

/**
 * Runs the batch in request order (honouring dependsOn), then answers in shuffled order:
 * clients must match responses by id. The envelope itself costs no resource units.
 */
export async function runBatch(envelope: GraphCall, execute: (call: GraphCall) => Promise<GraphResult>, state: EmulatorState): Promise<GraphResult> {
  const ids = (): ErrorIds => ({ requestId: envelope.requestId, clientRequestId: envelope.clientRequestId, nowMs: state.clock.now() });
  const parsed = parseEnvelope(envelope);
  if (!parsed.ok) return graphError(400, "BadRequest", parsed.message, ids());
  const results = new Map<string, GraphResult>();
  const pending = [...parsed.requests];
  while (pending.length > 0) {
    const index = pending.findIndex((r) => r.dependsOn.every((d) => results.has(d)));
    const r = pending.splice(index, 1)[0] as SubRequest;
    if (r.dependsOn.some((d) => (results.get(d)?.status ?? 500) >= 400)) {
      results.set(r.id, graphError(424, "FailedDependency", "The request depends on a request that failed.", ids()));
      continue;
    }
    state.stats.requests++;
    if (/^https?:/i.test(r.url)) {
      results.set(r.id, graphError(400, "BadRequest", `A batch request url must be relative to the batch's version, got '${r.url}'.`, ids()));
      continue;
    }
    results.set(r.id, await execute(subCall(envelope, r)));
  }
  const responses = parsed.requests.map((r) => {
    const res = results.get(r.id) as GraphResult;
    const item: Record<string, unknown> = { id: r.id, status: res.status, headers: subHeaders(res.headers) };
    if (res.body !== undefined) item["body"] = res.body;
    return item;
  });
  shuffle(responses, state.batchPrng);
  const charged = [...results.values()].reduce((n, r) => n + (r.charged ?? 0), 0);
  return { status: 200, headers: { "content-type": ODATA_JSON, "x-ms-resource-unit": String(charged) }, body: { responses }, charged };
}
