import { GraphError } from "../domain/errors.js";
import type { BatchEngine, EngineResponse } from "../engine/types.js";
import { graphErrorFromBody, ok } from "./mfa-port.js";
import { relativeNextLink } from "./tenant-users.js";

/**
 * Directory reads the safety features need: groups and their nested members (selections and
 * policy exclusions), directory role assignments (admins, the directory synchronisation account)
 * and users' registered authentication methods (warnings).
 */

/** Built-in role template ids (for built-in roles the role definition id is the template id). */
export const ROLE_IDS = {
  globalAdministrator: "62e90394-69f5-4237-9190-012177145e10",
  privilegedAuthenticationAdministrator: "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
  authenticationPolicyAdministrator: "0526716b-113d-4c15-b2c8-68e3c22b9f80",
  userAdministrator: "fe930be7-5e62-47db-91af-98c3a49a38b1",
  securityAdministrator: "194ae4cb-b126-40b2-bd5b-6091b380977d",
  directorySynchronizationAccounts: "d29b2b05-8046-44ba-8758-1e26182fcf32",
} as const;

const ROLE_NAMES: Record<string, string> = {
  [ROLE_IDS.globalAdministrator]: "Global Administrator",
  [ROLE_IDS.privilegedAuthenticationAdministrator]: "Privileged Authentication Administrator",
  [ROLE_IDS.authenticationPolicyAdministrator]: "Authentication Policy Administrator",
  [ROLE_IDS.userAdministrator]: "User Administrator",
  [ROLE_IDS.securityAdministrator]: "Security Administrator",
  [ROLE_IDS.directorySynchronizationAccounts]: "Directory Synchronization Accounts",
  "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
  "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
  "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
  "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
  "b0f54661-2d74-4c50-afa3-1ec803f12efe": "Billing Administrator",
  "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
  "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
  "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
  "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
};

export function roleName(roleDefinitionId: string): string {
  return ROLE_NAMES[roleDefinitionId.toLowerCase()] ?? roleDefinitionId;
}

/** The directory synchronisation account's usual name, for when roles cannot be read. */
export const SYNC_ACCOUNT_UPN = /^sync_[^@]+@/i;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An OData string literal: quotes doubled, then percent-encoded by the URL layer. */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Pages of a collection (v1.0 unless told), following `@odata.nextLink`. */
export async function* collectionPages<T>(
  engine: BatchEngine,
  tenant: string,
  url: string,
  query: Record<string, string>,
  what: string,
  signal?: AbortSignal,
  headers?: Record<string, string>,
  version: "v1.0" | "beta" = "v1.0",
): AsyncGenerator<T[]> {
  let next: { url: string; query: Record<string, string> } | undefined = { url, query };
  while (next) {
    const res: EngineResponse<{ value?: T[]; "@odata.nextLink"?: string }> = ok(
      await engine.direct<{ value?: T[]; "@odata.nextLink"?: string }>({ tenant, version, method: "GET", url: next.url, query: next.query, ...(headers ? { headers } : {}), signal }),
      tenant,
      undefined,
      `GET ${what}`,
      what,
    );
    const page = res.body?.value;
    if (!Array.isArray(page)) throw new GraphError(`Graph answered ${what} of ${tenant} without a "value" array.`, { status: res.status, code: "UnexpectedResponse", tenant, requestId: res.requestId });
    yield page;
    const link: unknown = res.body?.["@odata.nextLink"];
    next = typeof link === "string" && link !== "" ? relativeNextLink(link, tenant, version) : undefined;
  }
}

export interface GroupRef {
  id: string;
  displayName: string;
}

/** A group by object id or display name. Not found or ambiguous names are errors of the tenant. */
export async function resolveGroup(engine: BatchEngine, tenant: string, ref: string, signal?: AbortSignal): Promise<GroupRef> {
  const wanted = ref.trim();
  if (GUID.test(wanted)) {
    const res = await engine.direct<{ id?: string; displayName?: string }>({ tenant, version: "v1.0", method: "GET", url: `/groups/${encodeURIComponent(wanted)}`, query: { $select: "id,displayName" }, signal });
    if (res.status === 404) throw new GraphError(`Group ${wanted} was not found in tenant ${tenant}.`, { status: 404, code: "GroupNotFound", tenant, requestId: res.requestId });
    const body = ok(res, tenant, undefined, "GET /groups/{id}").body;
    return { id: body?.id ?? wanted, displayName: body?.displayName ?? wanted };
  }
  const found: GroupRef[] = [];
  for await (const page of collectionPages<{ id: string; displayName: string }>(
    engine,
    tenant,
    "/groups",
    { $filter: `displayName eq ${odataString(wanted)}`, $select: "id,displayName", $top: "10" },
    "/groups",
    signal,
  )) {
    found.push(...page.map((g) => ({ id: g.id, displayName: g.displayName })));
  }
  if (found.length === 0) throw new GraphError(`No group named "${wanted}" in tenant ${tenant}.`, { status: 404, code: "GroupNotFound", tenant });
  if (found.length > 1) {
    throw new GraphError(`${found.length} groups are named "${wanted}" in tenant ${tenant} (${found.map((g) => g.id).join(", ")}): give the group's id.`, { status: 400, code: "GroupAmbiguous", tenant });
  }
  return found[0]!;
}

export interface MemberUser {
  id: string;
  userPrincipalName: string;
  userType?: string | null;
  accountEnabled?: boolean | null;
}

/** Every user in a group, nested groups included (Graph's transitiveMembers), streamed by page. */
export function groupMemberUsers(engine: BatchEngine, tenant: string, groupId: string, signal?: AbortSignal): AsyncGenerator<MemberUser[]> {
  return collectionPages<MemberUser>(
    engine,
    tenant,
    `/groups/${encodeURIComponent(groupId)}/transitiveMembers/microsoft.graph.user`,
    { $select: "id,userPrincipalName,userType,accountEnabled", $top: "999" },
    "/groups/{id}/transitiveMembers",
    signal,
  );
}

/** The ids (lower case) of a group's users, nested membership included. */
export async function groupMemberIds(engine: BatchEngine, tenant: string, groupId: string, signal?: AbortSignal): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const page of groupMemberUsers(engine, tenant, groupId, signal)) for (const u of page) ids.add(u.id.toLowerCase());
  return ids;
}

export interface RoleHolders {
  /** principal id (lower case) -> role names. */
  rolesOf: Map<string, string[]>;
  /** principal id (lower case) -> role template ids (lower case), as Conditional Access names roles. */
  roleIdsOf: Map<string, string[]>;
  /** Holders of the Directory Synchronization Accounts role (lower-case ids). */
  directorySync: Set<string>;
}

/** Every directory role assignment of the tenant (a few hundred at most), by principal. */
export async function directoryRoleHolders(engine: BatchEngine, tenant: string, signal?: AbortSignal): Promise<RoleHolders> {
  const rolesOf = new Map<string, string[]>();
  const roleIdsOf = new Map<string, string[]>();
  const directorySync = new Set<string>();
  for await (const page of collectionPages<{ principalId?: string; roleDefinitionId?: string }>(
    engine,
    tenant,
    "/roleManagement/directory/roleAssignments",
    { $select: "id,principalId,roleDefinitionId,directoryScopeId", $top: "999" },
    "/roleManagement/directory/roleAssignments",
    signal,
  )) {
    for (const a of page) {
      if (!a.principalId || !a.roleDefinitionId) continue;
      const principal = a.principalId.toLowerCase();
      const list = rolesOf.get(principal) ?? [];
      list.push(roleName(a.roleDefinitionId));
      rolesOf.set(principal, list);
      roleIdsOf.set(principal, [...(roleIdsOf.get(principal) ?? []), a.roleDefinitionId.toLowerCase()]);
      if (a.roleDefinitionId.toLowerCase() === ROLE_IDS.directorySynchronizationAccounts) directorySync.add(principal);
    }
  }
  return { rolesOf, roleIdsOf, directorySync };
}

/** Method types that are not a second factor. */
const NOT_MFA = new Set(["#microsoft.graph.passwordAuthenticationMethod", "#microsoft.graph.emailAuthenticationMethod"]);

/**
 * The user's registered MFA methods (Graph lists the password too, and email, which serves
 * password reset only: both are left out). Through the batch engine.
 */
export async function registeredMfaMethods(engine: BatchEngine, tenant: string, user: { id: string; userPrincipalName: string }, signal?: AbortSignal): Promise<string[]> {
  const res = await engine.submit<{ value?: { "@odata.type"?: string }[] }>({
    tenant,
    version: "v1.0",
    method: "GET",
    url: `/users/${encodeURIComponent(user.id)}/authentication/methods`,
    user: user.userPrincipalName,
    signal,
  });
  if (res.status < 200 || res.status >= 300) {
    throw graphErrorFromBody(res.status, res.body, { tenant, user: user.userPrincipalName, requestId: res.requestId, attempts: res.attempts, method: "GET authentication/methods", path: "/authentication/methods" });
  }
  const types = (res.body?.value ?? []).map((m) => m["@odata.type"] ?? "").filter((t) => t !== "" && !NOT_MFA.has(t));
  return types.map((t) => t.replace(/^#microsoft\.graph\./, "").replace(/AuthenticationMethod$/, ""));
}
