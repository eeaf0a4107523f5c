import { createSecureContext, rootCertificates } from "node:tls";
import { Agent, fetch as undiciFetch, type RequestInit as UndiciRequestInit } from "undici";
import type { FetchLike } from "./types.js";

export interface HttpOptions {
  /** Extra CA certificate(s), PEM, trusted in addition to the public roots (e.g. the emulator's CA). */
  caPem?: string | undefined;
  /** Reuse connections (default true). */
  keepAlive?: boolean | undefined;
  /** Connections per origin (default 64). */
  connectionsPerOrigin?: number | undefined;
  /**
   * false: accept any server certificate (n8n's "Ignore SSL Issues", an explicit choice of the
   * person configuring it). Default true; prefer `caPem` to trust a private endpoint.
   */
  rejectUnauthorized?: boolean | undefined;
}

export interface HttpTransport {
  fetch: FetchLike;
  /** Closes the connection pool; requests after this fail. */
  close(): Promise<void>;
}

/**
 * The bottom of the chain: undici's fetch over a dedicated Agent, so that an extra CA can be
 * trusted inside this process (Node's `NODE_EXTRA_CA_CERTS` only works at start-up) without
 * touching the global dispatcher. Certificate checks stay on: the extra CA is added to the
 * public roots, never a replacement for verification.
 */
export function createFetch(options: HttpOptions = {}): HttpTransport {
  const keepAlive = options.keepAlive ?? true;
  // One secure context for every connection: a `ca` list would parse the public roots again per connection (26 ms each).
  const secureContext = options.caPem ? createSecureContext({ ca: [...rootCertificates, options.caPem] }) : undefined;
  const agent = new Agent({
    connections: options.connectionsPerOrigin ?? 64,
    // pipelining 0 turns keep-alive off in undici; 1 is a kept-alive connection without pipelining.
    pipelining: keepAlive ? 1 : 0,
    keepAliveTimeout: 30_000,
    ...(secureContext || options.rejectUnauthorized === false
      ? { connect: { ...(secureContext ? { secureContext } : {}), ...(options.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}) } }
      : {}),
  });
  const fetch: FetchLike = (url, init) =>
    undiciFetch(url, { ...(init as unknown as UndiciRequestInit), dispatcher: agent }) as unknown as Promise<Response>;
  let closed: Promise<void> | undefined;
  return {
    fetch,
    close: () => (closed ??= agent.close()),
  };
}
