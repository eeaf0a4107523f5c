/** The mfactl REST API, same origin, with the API key as a bearer credential. */
const KEY_ITEM = "mfactl.apiKey";

export const session = {
  get key(): string | undefined {
    return sessionStorage.getItem(KEY_ITEM) ?? undefined;
  },
  set key(value: string | undefined) {
    if (value === undefined) sessionStorage.removeItem(KEY_ITEM);
    else sessionStorage.setItem(KEY_ITEM, value);
  },
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
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

export async function getJson<T>(path: string, signal?: AbortSignal, key = session.key): Promise<T> {
  const res = await fetch(path, { headers: { accept: "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) }, ...(signal ? { signal } : {}) });
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, e?.code ?? "HttpError", e?.message ?? res.statusText);
  }
  return body as T;
}

export function listTenants(signal?: AbortSignal, key?: string): Promise<{ tenants: Tenant[] }> {
  return getJson("/v1/tenants", signal, key);
}

export function listUsers(tenant: string, query: { limit: number; search?: string; state?: string; cursor?: string }, signal?: AbortSignal): Promise<UsersPage> {
  const params = new URLSearchParams({ limit: String(query.limit) });
  if (query.search) params.set("search", query.search);
  if (query.state) params.set("state", query.state);
  if (query.cursor) params.set("cursor", query.cursor);
  return getJson(`/v1/tenants/${encodeURIComponent(tenant)}/users?${params.toString()}`, signal);
}
