import { GraphError } from "../domain/errors.js";
import { readMfaState, type MfaStateRead } from "../domain/mfa-state.js";
import type { ReportRow } from "../domain/vocabulary.js";
import type { BatchEngine } from "../engine/types.js";
import { mapConcurrent } from "../util/concurrent.js";
import { enginePort } from "./mfa-port.js";
import { graphFilter, stateMatches, type UserFilters } from "./user-filters.js";
import { ok } from "./mfa-port.js";

export const READ_STRATEGIES = ["auto", "list", "per-user"] as const;
export type ReadStrategy = (typeof READ_STRATEGIES)[number];

const SELECT_BASE = "id,userPrincipalName,displayName,userType,accountEnabled,assignedLicenses";
const PAGE_SIZE = "999";

/** A user as the listing returns it (the fields reports need). */
export interface WireUser {
  id?: string;
  userPrincipalName?: string;
  displayName?: string | null;
  userType?: string | null;
  accountEnabled?: boolean | null;
  assignedLicenses?: unknown[];
  perUserMfaState?: unknown;
}

export interface TenantUsersOptions {
  filters: UserFilters;
  strategy: ReadStrategy;
  /** Per-user reads in flight for this tenant (the engine paces them). Default 1000. */
  window?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called with each page's size as users are listed (progress). */
  onListed?: ((count: number) => void) | undefined;
}

/**
 * A tenant's users with their per-user MFA state, streamed. `list` reads the state from the
 * user listing (999 a page, the fast path); `per-user` reads each user's requirements through
 * `$batch`; `auto` uses the listing and falls back to per-user reads for users whose listing
 * lacks the property. Memory stays bounded by one page plus the window.
 */
export async function* listTenantUsers(engine: BatchEngine, tenant: string, options: TenantUsersOptions): AsyncGenerator<ReportRow> {
  const { strategy, filters } = options;
  const port = enginePort(engine);
  const withState = strategy !== "per-user";
  const pages = listPages(engine, tenant, filters, withState, options.signal);

  async function* needingState(): AsyncGenerator<{ user: WireUser; state: MfaStateRead | undefined }> {
    for await (const page of pages) {
      options.onListed?.(page.length);
      for (const user of page) {
        const has = withState && Object.hasOwn(user, "perUserMfaState");
        if (strategy === "list" && !has) {
          throw new GraphError(
            `The user listing of tenant ${tenant} does not return perUserMfaState; use --read-strategy per-user (or auto).`,
            { status: 200, code: "PropertyNotReturned", tenant },
          );
        }
        yield { user, state: has ? readMfaState(user.perUserMfaState) : undefined };
      }
    }
  }

  const rows = mapConcurrent(needingState(), options.window ?? 1000, async ({ user, state }) => {
    const resolved = { id: user.id ?? "", userPrincipalName: user.userPrincipalName ?? "" };
    const perUserMfaState = state ?? (await port.readState(tenant, resolved, options.signal)).state;
    return reportRowOf(tenant, user, perUserMfaState);
  });
  for await (const row of rows) {
    if (stateMatches(filters, row.perUserMfaState)) yield row;
  }
}

export function reportRowOf(tenant: string, user: WireUser, perUserMfaState: MfaStateRead): ReportRow {
  return {
    tenant,
    id: user.id ?? "",
    userPrincipalName: user.userPrincipalName ?? "",
    displayName: user.displayName ?? "",
    userType: user.userType ?? "",
    accountEnabled: user.accountEnabled !== false,
    isLicensed: Array.isArray(user.assignedLicenses) && user.assignedLicenses.length > 0,
    perUserMfaState,
  };
}

/** Pages of `GET /v1.0/users`, following `@odata.nextLink` on the same Graph host. */
async function* listPages(engine: BatchEngine, tenant: string, filters: UserFilters, withState: boolean, signal: AbortSignal | undefined): AsyncGenerator<WireUser[]> {
  const { filter, advanced } = graphFilter(filters);
  let url = "/users";
  let query: Record<string, string> | undefined = {
    $select: withState ? `${SELECT_BASE},perUserMfaState` : SELECT_BASE,
    $top: PAGE_SIZE,
    ...(filter ? { $filter: filter } : {}),
    ...(advanced ? { $count: "true" } : {}),
  };
  const headers = advanced ? { ConsistencyLevel: "eventual" } : undefined;
  for (;;) {
    const res = ok(
      await engine.direct<{ value?: WireUser[]; "@odata.nextLink"?: string }>({
        tenant,
        version: "v1.0",
        method: "GET",
        url,
        ...(query ? { query } : {}),
        ...(headers ? { headers } : {}),
        signal,
      }),
      tenant,
      undefined,
      "GET /users",
    );
    const page = res.body?.value;
    if (!Array.isArray(page)) throw new GraphError(`Graph listed the users of ${tenant} without a "value" array.`, { status: res.status, code: "UnexpectedResponse", tenant, requestId: res.requestId });
    yield page;
    const next = res.body?.["@odata.nextLink"];
    if (typeof next !== "string" || next === "") return;
    ({ url, query } = relativeNextLink(next, tenant));
  }
}

/** `@odata.nextLink` is absolute: keep its path after the version and its query (the engine adds the host). */
export function relativeNextLink(link: string, tenant: string, version: "v1.0" | "beta" = "v1.0"): { url: string; query: Record<string, string> } {
  let parsed: URL;
  try {
    parsed = new URL(link);
  } catch {
    throw new GraphError(`Graph returned an invalid @odata.nextLink for ${tenant}.`, { status: 200, code: "UnexpectedNextLink", tenant });
  }
  const match = (version === "beta" ? /\/beta(\/.*)$/ : /\/v1\.0(\/.*)$/).exec(parsed.pathname);
  if (!match) throw new GraphError(`Graph's @odata.nextLink for ${tenant} is not a ${version} URL.`, { status: 200, code: "UnexpectedNextLink", tenant });
  return { url: match[1]!, query: Object.fromEntries(parsed.searchParams) };
}
