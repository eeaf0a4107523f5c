/** Shared by the emulator's tests: a tiny HTTPS/HTTP client that trusts the emulator's CA. */
import http from "node:http";
import https from "node:https";
import type { RunningEmulator } from "./emulator.js";

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: <T = Record<string, unknown>>() => T;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | object;
  ca?: string;
  /** e.g. a keep-alive agent (it must trust the CA itself). */
  agent?: https.Agent;
}

export function send(url: string, options: SendOptions = {}): Promise<Reply> {
  const u = new URL(url);
  const body = options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (body !== undefined && typeof options.body === "object" && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type"))
    headers["content-type"] = "application/json";
  const lib = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(u, { method: options.method ?? "GET", headers, ...(options.ca ? { ca: options.ca } : {}), ...(options.agent ? { agent: options.agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export function form(values: Record<string, string>): SendOptions {
  return { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(values).toString() };
}

export async function tokenFor(
  emu: RunningEmulator,
  tenant: string,
  app: { clientId: string; clientSecret: string } = { clientId: emu.clientId, clientSecret: emu.clientSecret },
): Promise<string> {
  const reply = await send(`${emu.authorityHost}/${tenant}/oauth2/v2.0/token`, {
    ...form({ grant_type: "client_credentials", client_id: app.clientId, client_secret: app.clientSecret, scope: `${emu.graphUrl}/.default` }),
    ca: emu.caPem,
  });
  if (reply.status !== 200) throw new Error(`token request failed: ${reply.status} ${reply.text}`);
  return reply.json<{ access_token: string }>().access_token;
}

/** A Graph call: `path` is after /graph (e.g. "/v1.0/users"). */
export function graph(emu: RunningEmulator, token: string, path: string, options: SendOptions = {}): Promise<Reply> {
  return send(`${emu.graphUrl}${path}`, { ...options, headers: { authorization: `Bearer ${token}`, ...options.headers }, ca: emu.caPem });
}

export function admin(emu: RunningEmulator, method: string, path: string, body?: object): Promise<Reply> {
  return send(`${emu.adminUrl}${path}`, body === undefined ? { method } : { method, body });
}

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public time = Date.now()) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
}
