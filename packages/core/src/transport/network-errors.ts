/**
 * What went wrong when no HTTP response came back: classify the error a fetch threw
 * (undici's `TypeError: fetch failed` with a coded cause, Node socket errors, timeouts).
 */

export interface NetworkFailure {
  /** `ECONNRESET`, `UND_ERR_SOCKET`, `TIMEOUT`, `SELF_SIGNED_CERT_IN_CHAIN`, ... */
  code: string;
  /** Worth another attempt: the same request may well succeed a moment later. */
  retryable: boolean;
  /** One line, for error messages. Never contains request headers or bodies. */
  detail: string;
}

/** Transient failures of the connection: retried. */
const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ENETDOWN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_DESTROYED",
  "TIMEOUT",
]);

/** Certificate problems: never retried, and the message says how to trust a private CA. */
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH/;

const CODE_SHAPE = /^(E[A-Z0-9_]+|UND_ERR_[A-Z_]+|ERR_[A-Z0-9_]+|[A-Z0-9_]*CERT[A-Z0-9_]*|UNABLE_TO_[A-Z0-9_]+|SELF_SIGNED[A-Z0-9_]*)$/;

function errorChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < 6 && !chain.includes(current)) {
    chain.push(current);
    current = typeof current === "object" ? (current as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && CODE_SHAPE.test(code) ? code : undefined;
}

function nameOf(error: unknown): string | undefined {
  return error instanceof Error || error instanceof DOMException ? error.name : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error || error instanceof DOMException ? error.message : String(error);
}

/** Collapses whitespace and bounds the length: error details go on one line. */
export function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/**
 * Classifies `error` as a network failure, or returns undefined when it is something else
 * (a bug, an abort by the caller) that must be rethrown as it is.
 */
export function describeNetworkFailure(error: unknown): NetworkFailure | undefined {
  const chain = errorChain(error);
  if (chain.some((e) => nameOf(e) === "TimeoutError")) {
    return { code: "TIMEOUT", retryable: true, detail: "no response in time" };
  }
  const coded = chain.find((e) => codeOf(e) !== undefined);
  const code = coded === undefined ? undefined : codeOf(coded);
  const innermost = chain[chain.length - 1];
  if (code !== undefined) {
    if (TLS_CODE.test(code)) {
      return {
        code,
        retryable: false,
        detail: `TLS failure ${code}: ${oneLine(messageOf(coded))}. If the server uses a private CA (the emulator), pass its CA certificate (caFile / caPem); certificate checks are never disabled`,
      };
    }
    return { code, retryable: RETRYABLE_CODES.has(code), detail: `${code}: ${oneLine(messageOf(coded))}` };
  }
  if (chain.some((e) => /socket hang up|other side closed/i.test(messageOf(e)))) {
    return { code: "ECONNRESET", retryable: true, detail: oneLine(messageOf(innermost)) };
  }
  if (chain.some((e) => e instanceof TypeError && /fetch failed/i.test(e.message))) {
    return { code: "FETCH_FAILED", retryable: false, detail: oneLine(messageOf(innermost)) };
  }
  return undefined;
}
