/** The mfactl REST API, same origin, with the session's credential (API key or Entra access token) as a bearer. */
const KEY_ITEM = "mfactl.apiKey";

export const session = {
  get key(): string | undefined {
    return sessionStorage.getItem(KEY_ITEM) ?? undefined;
  },
  set key(value: string | undefined) {
    if (value === undefined) sessionStorage.removeItem(KEY_ITEM);
    else sessionStorage.setItem(KEY_ITEM, value);
  },
  /** What goes after `Bearer ` on every API call. */
  get bearer(): string | undefined {
    return session.key;
  },
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The server's x-request-id (or the body's requestId), for support. */
    readonly requestId?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const WORDS: Record<number, string> = {
  400: "the server did not accept the request",
  401: "the key was refused",
  403: "the key is not allowed to do this",
  404: "not found",
  409: "this cannot be done now",
  429: "too many requests: wait a moment and try again",
  502: "Microsoft Graph failed to answer",
  503: "the server is unavailable: try again shortly",
};

/** An error in words a person can act on, with the server's own code and message after them. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const words = WORDS[error.status] ?? (error.status >= 500 ? "the server failed" : `the server answered HTTP ${error.status}`);
    return `${words[0]!.toUpperCase()}${words.slice(1)} (${error.code}: ${error.message})`;
  }
  if (error instanceof TypeError) return "The server could not be reached.";
  return error instanceof Error ? error.message : String(error);
}

export interface Tenant {
  tenant: string;
  displayName?: string;
  names: string[];
}

export interface UserRow {
  id: string;
  userPrincipalName: string;
  displayName: string;
  perUserMfaState: string;
}

export interface UsersPage {
  users: UserRow[];
  nextCursor?: string;
}

/** GET, POST, PUT with JSON in and out; a non-2xx answer is an ApiError with the server's code and message. */
export async function requestJson<T>(method: string, path: string, options: { body?: unknown; signal?: AbortSignal | undefined; bearer?: string | undefined } = {}): Promise<T> {
  const bearer = options.bearer ?? session.bearer;
  const headers: Record<string, string> = { accept: "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const b = body as { error?: { code?: string; message?: string }; requestId?: string } | undefined;
    throw new ApiError(res.status, b?.error?.code ?? "HttpError", b?.error?.message ?? res.statusText, b?.requestId ?? res.headers.get("x-request-id") ?? undefined);
  }
  return body as T;
}

export function getJson<T>(path: string, signal?: AbortSignal, bearer?: string): Promise<T> {
  return requestJson<T>("GET", path, { signal, bearer });
}

export function postJson<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return requestJson<T>("POST", path, { body, signal });
}

export function listTenants(signal?: AbortSignal, bearer?: string): Promise<{ tenants: Tenant[] }> {
  return getJson("/v1/tenants", signal, bearer);
}

export function listUsers(tenant: string, query: { limit: number; search?: string; state?: string; cursor?: string }, signal?: AbortSignal): Promise<UsersPage> {
  const params = new URLSearchParams({ limit: String(query.limit) });
  if (query.search) params.set("search", query.search);
  if (query.state) params.set("state", query.state);
  if (query.cursor) params.set("cursor", query.cursor);
  return getJson(`/v1/tenants/${encodeURIComponent(tenant)}/users?${params.toString()}`, signal);
}

/** Who is signed in (GET /v1/me), loaded after sign-in; screens hide what the role may not do. */
export interface Me {
  actor: string;
  kind: "apikey" | "entra" | "user";
  name: string;
  role?: "reader" | "operator" | "admin";
  scopes: string[];
  tenants?: string[];
}

let me: Me | undefined;

export function currentUser(): Me | undefined {
  return me;
}

export function setCurrentUser(value: Me | undefined): void {
  me = value;
}

/** Operators and admins may change states and undo runs; unknown (not loaded yet) counts as no. */
export function canWrite(): boolean {
  return me !== undefined && (me.scopes.includes("write") || me.scopes.includes("admin"));
}

export function isAdmin(): boolean {
  return me?.scopes.includes("admin") ?? false;
}

export function getMe(signal?: AbortSignal): Promise<Me> {
  return getJson<Me>("/v1/me", signal);
}
