import { userInfo } from "node:os";
import { JournalUnavailableError } from "@mfactl/core";
import { formatWait } from "./sqlite-errors.js";

/** Where a PostgreSQL store lives, as messages name it: never with the password. */
export interface PostgresTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  /** `postgres://user@host:port/database`, and the schema when one was given. */
  location: string;
  readonly: boolean;
  connectTimeoutMs: number;
}

/**
 * What the URL names, for messages. Throws a JournalUnavailableError for a URL that does not
 * parse, without the URL (nor the parser's error, whose `input` is the URL) in it: it may hold a
 * password.
 */
export function postgresTarget(url: string, options: { schema?: string | undefined; readonly: boolean; connectTimeoutMs: number }): PostgresTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new JournalUnavailableError(
      "The PostgreSQL URL given for the journal is not a valid URL (expected postgres://user:password@host:5432/database; percent-encode special characters in the password); nothing was changed.",
      { location: "postgres://(invalid URL)" },
    );
  }
  const param = (name: string) => parsed.searchParams.get(name) ?? undefined;
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  // As pg reads the URL: host and port may also come as query parameters (a socket directory).
  const host = (parsed.hostname !== "" ? decode(parsed.hostname) : param("host")) ?? "localhost";
  const port = Number(parsed.port !== "" ? parsed.port : (param("port") ?? 5432));
  const user = (parsed.username !== "" ? decode(parsed.username) : param("user")) ?? process.env.PGUSER ?? safeUserName();
  const database = (parsed.pathname.length > 1 ? decode(parsed.pathname.slice(1)) : param("database")) ?? user;
  const hostInUrl = host.startsWith("/") ? encodeURIComponent(host) : host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  const location = `postgres://${encodeURIComponent(user)}@${hostInUrl}:${port}/${encodeURIComponent(database)}${options.schema !== undefined ? ` (schema ${options.schema})` : ""}`;
  return { host, port, database, user, location, readonly: options.readonly, connectTimeoutMs: options.connectTimeoutMs };
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return "postgres";
  }
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  if ("code" in error && typeof error.code === "string") return error.code;
  // Node's happy eyeballs (localhost: ::1 and 127.0.0.1) fails with an AggregateError.
  if (error instanceof AggregateError) return codeOf(error.errors[0]);
  return undefined;
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.message === "") return messageOf(error.errors[0]);
  return error instanceof Error ? error.message : String(error);
}

/** An error the server sent (it has a SQLSTATE and a severity), as opposed to one of the network or of the client. */
function isServerError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && "severity" in error && /^[0-9A-Z]{5}$/.test(codeOf(error) ?? "");
}

/**
 * The message an administrator can act on for a failure of a PostgreSQL store: names host, port,
 * database (and user where it matters) and what to do; never the password, never a stack.
 * `undefined` when `error` is not a database or network failure.
 */
export function describePostgresFailure(error: unknown, t: PostgresTarget): string | undefined {
  const where = `the PostgreSQL database ${t.database} on ${t.host}:${t.port}`;
  const server = `the PostgreSQL server at ${t.host}:${t.port}`;
  const Where = `The PostgreSQL database ${t.database} on ${t.host}:${t.port}`;
  const Server = `The PostgreSQL server at ${t.host}:${t.port}`;
  const code = codeOf(error);
  const message = messageOf(error);
  switch (code) {
    case "ECONNREFUSED":
      return `Cannot connect to ${where}: the connection was refused. Check that the server is running and listens on ${t.host}:${t.port} (listen_addresses, port), or fix the URL; nothing was changed.`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `Cannot connect to ${where}: the host name ${t.host} does not resolve. Check the host in the URL and the DNS; nothing was changed.`;
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `Cannot connect to ${where}: no route to the server or no answer (${code}). Check the host and port in the URL and any firewall between; nothing was changed.`;
    case "ENOENT":
      // A socket directory without the server's socket.
      return `Cannot connect to ${where}: there is no server socket there. Check that the server is running, or fix the host in the URL; nothing was changed.`;
    case "ECONNRESET":
    case "EPIPE":
      return `The connection to ${where} was lost (${code}); the step that failed was not confirmed. Check that the server is up and try again.`;
    case "28P01":
      return `${Server} refused the password of user ${t.user} for the database ${t.database}; nothing was changed. Check the user and password in the URL.`;
    case "28000":
      return `${Server} refused user ${t.user} for the database ${t.database} (${message}); nothing was changed. Check the user in the URL, and pg_hba.conf on the server.`;
    case "3D000":
      return `There is no database ${t.database} on ${server}; nothing was changed. Create it (createdb -O ${t.user} ${t.database}) or fix the database in the URL.`;
    case "42501":
      return `User ${t.user} lacks a privilege in ${where} (${message}); nothing was changed. Grant it (CREATE on the database for a new schema, or on the schema for new tables) or connect as the owner.`;
    case "25006":
      return t.readonly
        ? `The journal database ${t.location} was opened read-only; nothing was written.`
        : `${Where} is read-only (a standby, or default_transaction_read_only); nothing was written. Connect to the primary.`;
    case "53300":
    case "57P03":
      return `${Server} does not accept connections now (${message}); nothing was changed. Try again, or raise max_connections.`;
    case "57P01":
    case "57P02":
    case "57P04":
      return `${Server} closed the connection (${message}); the step that failed was not confirmed. Try again when the server is back.`;
    case "53100":
      return `The disk of ${server} is full (${message}); nothing was written. Free some space and try again.`;
    case "55P03":
    case "57014":
    case "40P01":
    case "40001":
      return `${Where} is busy (${message}); nothing was changed. Try again when the other process finishes.`;
  }
  if (code?.startsWith("08")) return `The connection to ${where} failed (${code}: ${message}); the step that failed was not confirmed. Try again.`;
  if (code?.startsWith("28")) return `${Server} refused user ${t.user} for the database ${t.database} (${message}); nothing was changed.`;
  if (/SASL|client password must be/.test(message)) {
    return `${Server} asks for a password for user ${t.user}, and the URL has none; nothing was changed. Give it in the URL (postgres://user:password@host:port/database).`;
  }
  if (/timeout exceeded when trying to connect|connection timeout|timeout expired/i.test(message)) {
    return `Cannot connect to ${where}: no answer within ${formatWait(t.connectTimeoutMs)}. Check the host and port in the URL and any firewall between; nothing was changed.`;
  }
  if (/Connection terminated|not queryable/i.test(message)) {
    return `The connection to ${where} was lost (${message}); the step that failed was not confirmed. Check that the server is up and try again.`;
  }
  if (/SSL|TLS|certificate/i.test(message) || code?.startsWith("ERR_TLS") || code?.includes("CERT")) {
    return `The TLS connection to ${server} failed (${message}); nothing was changed. Check sslmode in the URL and the server's certificate.`;
  }
  if (isServerError(error)) return `The journal database ${t.location} failed (${code}: ${message}); nothing was changed.`;
  return undefined;
}

export function postgresFailure(error: unknown, t: PostgresTarget): JournalUnavailableError | undefined {
  const message = describePostgresFailure(error, t);
  return message === undefined ? undefined : new JournalUnavailableError(message, { location: t.location }, { cause: error });
}
