/** Small HTTP helpers shared by the HTTPS (Entra + Graph) and admin servers. */
import type { IncomingMessage } from "node:http";

/** What a handler decides; the server writes it (or, for "reset", drops the connection). */
export type Outcome =
  | { kind: "response"; status: number; headers: Record<string, string>; body?: unknown; /** Written as is (e.g. HTML), instead of `body` as JSON. */ raw?: string }
  | { kind: "reset" };

export interface RequestContext {
  method: string;
  url: URL;
  /** The request target exactly as received (path and query still percent-encoded as the client sent them). */
  rawUrl: string;
  /** Lower-case header names, single values. */
  headers: Record<string, string>;
  body: Buffer;
  requestId: string;
  clientRequestId: string;
}

export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class BodyTooLargeError extends Error {}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLargeError("request body too large");
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Outcome {
  return { kind: "response", status, headers, body };
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Parses JSON without throwing; callers turn `ok: false` into their own 400. */
export function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** An HTML page (the sign-in and error pages): the caller sets the CSP and other headers. */
export function htmlPage(status: number, page: string, headers: Record<string, string> = {}): Outcome {
  return { kind: "response", status, headers: { "content-type": "text/html; charset=utf-8", ...headers }, raw: page };
}

export function redirect(location: string, headers: Record<string, string> = {}): Outcome {
  return { kind: "response", status: 302, headers: { location, "cache-control": "no-store, no-cache", ...headers } };
}
