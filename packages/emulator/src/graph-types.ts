/** One Graph operation, whether it arrived on its own or inside a $batch. */
import type { Tenant } from "./model.js";

export type GraphVersion = "v1.0" | "beta";

export interface Caller {
  appId: string;
  tenant: Tenant;
  /** App-only: the app roles; delegated: the scopes (`scp`), whose names match the app roles they stand for. */
  roles: readonly string[];
  /** A signed-in user's token: who, and the directory roles they hold in this tenant now (own or through GDAP). */
  delegated?: { userId: string; userPrincipalName: string; homeTenantId: string; directoryRoles: readonly string[] };
}

export interface GraphCall {
  method: string;
  version: GraphVersion;
  /** Raw path and query after the version, starting with "/" (e.g. "/users?$top=5"). */
  pathAndQuery: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** Raw request body text; undefined when none was sent. */
  bodyText: string | undefined;
  /** Already-parsed body ($batch sub-requests carry JSON bodies). */
  bodyJson?: unknown;
  caller: Caller;
  /** e.g. https://127.0.0.1:PORT/graph, for @odata links. */
  graphBase: string;
  requestId: string;
  clientRequestId: string;
}

export interface GraphResult {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
  /** Resource units actually taken from the budgets (0 when faulted or throttled); not sent. */
  charged?: number;
}

export const ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
