/** The two listeners: HTTPS for Entra + Graph, plain HTTP for admin, both on 127.0.0.1. */
import { randomUUID } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { BodyTooLargeError, delay, flatHeaders, readBody, type Outcome, type RequestContext } from "./http.js";

export const HOST = "127.0.0.1";

export interface ServerHooks {
  /** Entra and Graph, on HTTPS. */
  main(ctx: RequestContext): Promise<Outcome>;
  /** Admin, on HTTP. */
  admin(method: string, rawPath: string, bodyText: string): Outcome | Promise<Outcome>;
  /** Added before every Entra/Graph response. */
  latencyMs(): number;
}

export interface Listening {
  port: number;
  adminPort: number;
  close(): Promise<void>;
}

/** Echoed ids become response headers: only printable ASCII may pass. */
const safeId = (value: string | null | undefined, fallback: string) => (value && /^[\x21-\x7e]{1,256}$/.test(value) ? value : fallback);

function write(res: ServerResponse, outcome: Extract<Outcome, { kind: "response" }>, extra: Record<string, string>): void {
  try {
    writeUnchecked(res, outcome, extra);
  } catch {
    // Never crash the process over one response (e.g. a client that already went away).
    res.destroy();
  }
}

function writeUnchecked(res: ServerResponse, outcome: Extract<Outcome, { kind: "response" }>, extra: Record<string, string>): void {
  const headers: Record<string, string> = { ...extra, ...outcome.headers };
  if (outcome.raw !== undefined) {
    headers["content-length"] = String(Buffer.byteLength(outcome.raw));
    res.writeHead(outcome.status, headers);
    res.end(outcome.raw);
    return;
  }
  if (outcome.body === undefined) {
    res.writeHead(outcome.status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(outcome.body);
  headers["content-type"] ??= "application/json; charset=utf-8";
  headers["content-length"] = String(Buffer.byteLength(text));
  res.writeHead(outcome.status, headers);
  res.end(text);
}

const internalError = (message: string): Outcome => ({
  kind: "response",
  status: 500,
  headers: {},
  body: { error: { code: "InternalServerError", message } },
});

async function serveMain(hooks: ServerHooks, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = randomUUID();
  const headers = flatHeaders(req);
  const rawUrl = req.url ?? "/";
  // Concatenate rather than resolve: a target like "//x/y" must stay a path.
  const url = URL.canParse(`https://${HOST}${rawUrl}`) ? new URL(`https://${HOST}${rawUrl}`) : new URL(`https://${HOST}/`);
  // MSAL sends client-request-id in the query string; Graph clients send the header.
  const clientRequestId = safeId(headers["client-request-id"] ?? url.searchParams.get("client-request-id"), requestId);
  let outcome: Outcome;
  try {
    const body = await readBody(req);
    outcome = await hooks.main({ method: (req.method ?? "GET").toUpperCase(), url, rawUrl, headers, body, requestId, clientRequestId });
  } catch (e) {
    outcome = e instanceof BodyTooLargeError ? { kind: "response", status: 413, headers: {}, body: { error: { code: "RequestEntityTooLarge", message: e.message } } } : internalError("The emulator failed to handle the request.");
  }
  const latency = hooks.latencyMs();
  if (latency > 0) await delay(latency);
  if (outcome.kind === "reset") {
    // A connection reset: no status line at all.
    req.socket.destroy();
    return;
  }
  write(res, outcome, { "request-id": requestId, "client-request-id": clientRequestId });
}

async function serveAdmin(hooks: ServerHooks, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let outcome: Outcome;
  try {
    const body = await readBody(req);
    outcome = await hooks.admin((req.method ?? "GET").toUpperCase(), req.url ?? "/", body.toString("utf8"));
  } catch (e) {
    outcome = e instanceof BodyTooLargeError ? { kind: "response", status: 413, headers: {}, body: { error: { code: "TooLarge", message: e.message } } } : internalError(e instanceof Error ? e.message : String(e));
  }
  if (outcome.kind === "reset") {
    req.socket.destroy();
    return;
  }
  const requestId = randomUUID();
  write(res, outcome, { "request-id": requestId, "client-request-id": safeId(req.headers["client-request-id"]?.toString(), requestId) });
}

function listenOn(server: http.Server | https.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    server.listen(port, HOST, () => {
      server.off("error", onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server | https.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    // Keep-alive connections would otherwise hold close() open.
    server.closeAllConnections();
  });
}

export async function listen(tls: { key: string; cert: string }, ports: { port: number; adminPort: number }, hooks: ServerHooks): Promise<Listening> {
  const main = https.createServer({ key: tls.key, cert: tls.cert, keepAlive: true }, (req, res) => void serveMain(hooks, req, res));
  const admin = http.createServer({ keepAlive: true }, (req, res) => void serveAdmin(hooks, req, res));
  try {
    const port = await listenOn(main, ports.port);
    const adminPort = await listenOn(admin, ports.adminPort);
    return { port, adminPort, close: async () => void (await Promise.all([closeServer(main), closeServer(admin)])) };
  } catch (e) {
    await Promise.all([closeServer(main), closeServer(admin)]);
    throw e;
  }
}
