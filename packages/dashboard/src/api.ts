/** The mfactl REST API, same origin, with the session's credential (API key or Entra access token) as a bearer. */
const KEY_ITEM = "mfactl.apiKey";
const ENTRA_ITEM = "mfactl.entra";

/** A person signed in with Microsoft Entra ID: the access token for the API, and what to show and sign out with. */
export interface EntraSession {
  accessToken: string;
  /** Epoch ms when the access token expires (from the token answer's expires_in). */
  expiresAt: number;
  /** From the id token, for display only: the server names people from the access token. */
  name?: string;
  username?: string;
  /** Where Sign out goes (the config's logoutUrl) and the app to name there. */
  logoutUrl?: string;
  clientId?: string;
}

function readEntra(): EntraSession | undefined {
  const raw = sessionStorage.getItem(ENTRA_ITEM);
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<EntraSession>;
    return typeof value.accessToken === "string" && typeof value.expiresAt === "number" ? (value as EntraSession) : undefined;
  } catch {
    return undefined;
  }
}

/** Everything kept in sessionStorage (this tab only): the credential and what screens cached for it. */
export const session = {
  get key(): string | undefined {
    return sessionStorage.getItem(KEY_ITEM) ?? undefined;
  },
  set key(value: string | undefined) {
    if (value === undefined) sessionStorage.removeItem(KEY_ITEM);
    else {
      sessionStorage.removeItem(ENTRA_ITEM);
      sessionStorage.setItem(KEY_ITEM, value);
    }
  },
  get entra(): EntraSession | undefined {
    return readEntra();
  },
  set entra(value: EntraSession | undefined) {
    if (value === undefined) sessionStorage.removeItem(ENTRA_ITEM);
    else {
      sessionStorage.removeItem(KEY_ITEM);
      sessionStorage.setItem(ENTRA_ITEM, JSON.stringify(value));
    }
  },
  /** How this tab signed in. */
  get kind(): "apikey" | "entra" | undefined {
    return session.key !== undefined ? "apikey" : readEntra() !== undefined ? "entra" : undefined;
  },
  /** What goes after `Bearer ` on every API call: the API key, or the Entra access token. */
  get bearer(): string | undefined {
    return session.key ?? readEntra()?.accessToken;
  },
  /** Forgets the credential and every mfactl item cached for it (a cached posture belongs to who read it). */
  clear(): void {
    for (const name of Object.keys(sessionStorage)) if (name.startsWith("mfactl.") && name !== "mfactl.oidc") sessionStorage.removeItem(name);
    setCurrentUser(undefined);
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
  404: "not found",
  409: "this cannot be done now",
  429: "too many requests: wait a moment and try again",
  502: "Microsoft Graph failed to answer",
  503: "the server is unavailable: try again shortly",
};

/** 401 and 403 name the credential this tab holds: a key, or the person signed in. */
function accessWords(status: number, code: string): string | undefined {
  const person = session.kind === "entra";
  if (status === 401) {
    if (code === "TokenExpired") return "your sign-in has expired: sign in again";
    return person ? "your sign-in was refused" : "the key was refused";
  }
  if (status === 403) {
    if (code === "TenantNotAllowed") return person ? "you may not act on this tenant" : "the key may not act on this tenant";
    if (person && me !== undefined && me.scopes.length === 0)
      return "you have no mfactl role yet: an administrator must give you reader, operator or admin";
    return person ? "your role does not allow this" : "the key is not allowed to do this";
  }
  return undefined;
}

/** An error in words a person can act on, with the server's own code and message after them, and its request id. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const words = accessWords(error.status, error.code) ?? WORDS[error.status] ?? (error.status >= 500 ? "the server failed" : `the server answered HTTP ${error.status}`);
    const request = error.requestId ? ` Request id ${error.requestId}.` : "";
    return `${words[0]!.toUpperCase()}${words.slice(1)} (${error.code}: ${error.message})${request}`;
  }
  if (error instanceof TypeError) return "The server could not be reached: check the network, or that mfactl serve is running.";
  return error instanceof Error ? error.message : String(error);
}

/** What the sign-in screen says when a stored credential stops working. */
export function signedOutReason(error: ApiError): string {
  if (error.code === "TokenExpired") return "Your sign-in has expired: sign in again.";
  return `Signed out: ${describeError(error)}`;
}

let onUnauthorized: ((error: ApiError) => void) | undefined;

/** main.ts: what to do when the session's own credential is refused (401) on any call. */
export function setUnauthorizedHandler(handler: (error: ApiError) => void): void {
  onUnauthorized = handler;
}

/** Called for a 401 answer to the session's credential (also by followJob's callers through signedOut). */
export function unauthorized(error: ApiError): void {
  onUnauthorized?.(error);
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
    const error = new ApiError(res.status, b?.error?.code ?? "HttpError", b?.error?.message ?? res.statusText, b?.requestId ?? res.headers.get("x-request-id") ?? undefined);
    // The session's own credential refused (not a key being tried on the sign-in screen): back to sign-in.
    if (res.status === 401 && options.bearer === undefined && bearer !== undefined) unauthorized(error);
    throw error;
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

export function listUsers(tenant: string, query: { limit: number; search?: string; state?: string; cursor?: string; sort?: string }, signal?: AbortSignal): Promise<UsersPage> {
  const params = new URLSearchParams({ limit: String(query.limit) });
  if (query.search) params.set("search", query.search);
  if (query.state) params.set("state", query.state);
  if (query.cursor) params.set("cursor", query.cursor);
  if (query.sort) params.set("sort", query.sort);
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

/** The role to show: a person's from Entra; an API key's or an app's from its scopes. */
export function roleOf(value: Me): "reader" | "operator" | "admin" | undefined {
  if (value.role) return value.role;
  if (value.scopes.includes("admin")) return "admin";
  if (value.scopes.includes("write")) return "operator";
  if (value.scopes.includes("read")) return "reader";
  return undefined;
}

/** An actor as the journal and audit log name it, in words: people by their UPN, keys and apps by name. */
export function describeActor(actor: string): { text: string; person: boolean } {
  const colon = actor.indexOf(":");
  const kind = colon < 0 ? "" : actor.slice(0, colon);
  const rest = actor.slice(colon + 1);
  if (kind === "user") return { text: rest, person: true };
  if (kind === "apikey") return { text: `API key ${rest}`, person: false };
  if (kind === "app") return { text: `app ${rest}`, person: false };
  if (kind === "cli") return { text: `CLI ${rest}`, person: false };
  return { text: actor, person: false };
}
