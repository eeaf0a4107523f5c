/** The directory the emulator serves: tenants, their users, groups and role assignments, plain objects for memory. */
import type { PerUserMfaState } from "./options.js";

export interface UserRecord {
  id: string;
  userPrincipalName: string;
  displayName: string;
  givenName: string | null;
  surname: string | null;
  userType: "Member" | "Guest";
  accountEnabled: boolean;
  /** Licensed users carry LICENSE_SKUS as assignedLicenses (shared, never mutated). */
  licensed: boolean;
  mail: string | null;
  /** Registered authentication methods (shared arrays; replace, never mutate). */
  methods: readonly string[];
  perUserMfaState: PerUserMfaState;
  /** Graph PATCHes of the per-user MFA state received for this user. */
  patchCount: number;
  /** Last interactive sign-in (ISO, whole seconds), null when the user never signed in: `signInActivity`. */
  lastSignInDateTime: string | null;
}

/** A security group: direct user members and direct (nested) group members, in the order they were added. */
export interface GroupRecord {
  id: string;
  displayName: string;
  description: string | null;
  /** User ids (shared arrays; replace, never mutate: membership sets are cached per array). */
  memberIds: readonly string[];
  /** Ids of groups that are members of this one. */
  memberGroupIds: readonly string[];
}

/** A built-in Entra role: its definition id is its template id. */
export interface RoleDefinition {
  id: string;
  displayName: string;
  description: string;
}

export interface RoleAssignmentRecord {
  id: string;
  roleDefinitionId: string;
  principalId: string;
  directoryScopeId: "/";
}

export interface Tenant {
  id: string;
  domain: string;
  displayName: string;
  users: UserRecord[];
  /** Keyed by lower-case id. */
  byId: Map<string, UserRecord>;
  /** Keyed by lower-case UPN. */
  byUpn: Map<string, UserRecord>;
  groups: GroupRecord[];
  /** Keyed by lower-case id. */
  groupsById: Map<string, GroupRecord>;
  roleAssignments: RoleAssignmentRecord[];
  /** Entra ID P1/P2: reports, Conditional Access and signInActivity need it. */
  premium: boolean;
  securityDefaultsEnabled: boolean;
  /** Graph v1.0 conditionalAccessPolicy objects, in listing order. */
  conditionalAccessPolicies: ConditionalAccessPolicy[];
}

export type ConditionalAccessPolicyState = "enabled" | "disabled" | "enabledForReportingButNotEnforced";

/** microsoft.graph.conditionalAccessPolicy (v1.0), the parts the emulator holds. */
export interface ConditionalAccessPolicy {
  id: string;
  displayName: string;
  state: ConditionalAccessPolicyState;
  createdDateTime: string;
  modifiedDateTime: string | null;
  conditions: {
    users: {
      includeUsers: string[];
      excludeUsers: string[];
      includeGroups: string[];
      excludeGroups: string[];
      includeRoles: string[];
      excludeRoles: string[];
      includeGuestsOrExternalUsers: null;
      excludeGuestsOrExternalUsers: null;
    };
    applications: { includeApplications: string[]; excludeApplications: string[]; includeUserActions: string[] };
    clientAppTypes: string[];
    platforms: null;
    locations: null;
  };
  grantControls: {
    operator: "OR" | "AND";
    builtInControls: string[];
    customAuthenticationFactors: string[];
    termsOfUse: string[];
    authenticationStrength: AuthenticationStrength | null;
  } | null;
  sessionControls: null;
}

export interface AuthenticationStrength {
  id: string;
  displayName: string;
  requirementsSatisfied: "mfa" | "none";
  allowedCombinations: string[];
}

/** The built-in roles the emulator knows, with Microsoft's template ids. */
export const ROLE_DEFINITIONS: readonly RoleDefinition[] = [
  { id: "62e90394-69f5-4237-9190-012177145e10", displayName: "Global Administrator", description: "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities." },
  { id: "7be44c8a-adaf-4e2a-84d6-ab2649e08a13", displayName: "Privileged Authentication Administrator", description: "Can access to view, set and reset authentication method information for any user (admin or non-admin)." },
  { id: "0526716b-113d-4c15-b2c8-68e3c22b9f80", displayName: "Authentication Policy Administrator", description: "Can create and manage the authentication methods policy, tenant-wide MFA settings, password protection policy, and verifiable credentials." },
  { id: "fe930be7-5e62-47db-91af-98c3a49a38b1", displayName: "User Administrator", description: "Can manage all aspects of users and groups, including resetting passwords for limited admins." },
  { id: "194ae4cb-b126-40b2-bd5b-6091b380977d", displayName: "Security Administrator", description: "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365." },
  { id: "d29b2b05-8046-44ba-8758-1e26182fcf32", displayName: "Directory Synchronization Accounts", description: "Only used by Microsoft Entra Connect service." },
  { id: "f2ef992c-3afb-46b9-b7cf-a126ee74c451", displayName: "Global Reader", description: "Can read everything that a Global Administrator can, but not update anything." },
];

export const GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10";
export const DIRECTORY_SYNCHRONIZATION_ACCOUNTS = "d29b2b05-8046-44ba-8758-1e26182fcf32";

/** By id or display name, case-insensitive. */
export function findRoleDefinition(ref: string): RoleDefinition | undefined {
  const key = ref.toLowerCase();
  return ROLE_DEFINITIONS.find((r) => r.id === key || r.displayName.toLowerCase() === key);
}

/** GUID bytes in Microsoft's order (the first three fields little-endian), as in directory ids built from GUIDs. */
function guidBytes(guid: string): Buffer {
  const hex = guid.replace(/-/g, "");
  const b = Buffer.from(hex, "hex");
  return Buffer.from([b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], ...b.subarray(8)] as number[]);
}

/** Entra's id for a directory-scoped role assignment: base64url(role GUID bytes + principal GUID bytes) + "-1". */
export function roleAssignmentId(roleDefinitionId: string, principalId: string): string {
  return `${Buffer.concat([guidBytes(roleDefinitionId), guidBytes(principalId)]).toString("base64url")}-1`;
}

export function findGroup(tenant: Tenant, id: string): GroupRecord | undefined {
  return tenant.groupsById.get(id.toLowerCase());
}

const memberSets = new WeakMap<readonly string[], Set<string>>();

/** Membership test in O(1): the set is built once per (immutable) member array. */
export function includesId(ids: readonly string[], id: string): boolean {
  let set = memberSets.get(ids);
  if (set === undefined) {
    set = new Set(ids);
    memberSets.set(ids, set);
  }
  return set.has(id);
}

export type DirectoryEntry = { kind: "user"; user: UserRecord } | { kind: "group"; group: GroupRecord };

/** Direct members: users first, then nested groups (ids that no longer resolve are skipped). */
export function directMembers(tenant: Tenant, group: GroupRecord): DirectoryEntry[] {
  const out: DirectoryEntry[] = [];
  for (const id of group.memberIds) {
    const user = tenant.byId.get(id);
    if (user) out.push({ kind: "user", user });
  }
  for (const id of group.memberGroupIds) {
    const nested = tenant.groupsById.get(id);
    if (nested) out.push({ kind: "group", group: nested });
  }
  return out;
}

/**
 * Every member reached through nested groups, each once, breadth first: a group's users, then its
 * groups, then theirs. Visited groups are remembered, so a cycle (Entra forbids them, the admin
 * interface does not) ends instead of looping; the group itself is never its own member.
 */
export function transitiveMembers(tenant: Tenant, group: GroupRecord): DirectoryEntry[] {
  const out: DirectoryEntry[] = [];
  const seenUsers = new Set<string>();
  const seenGroups = new Set<string>([group.id]);
  const queue: GroupRecord[] = [group];
  for (let q = 0; q < queue.length; q++) {
    const g = queue[q] as GroupRecord;
    for (const id of g.memberIds) {
      const user = tenant.byId.get(id);
      if (user && !seenUsers.has(id)) {
        seenUsers.add(id);
        out.push({ kind: "user", user });
      }
    }
    for (const id of g.memberGroupIds) {
      const nested = tenant.groupsById.get(id);
      if (nested && !seenGroups.has(id)) {
        seenGroups.add(id);
        out.push({ kind: "group", group: nested });
        queue.push(nested);
      }
    }
  }
  return out;
}

/** Groups that have the user (or group) with this id as a direct member, in tenant order. */
export function directGroupsOf(tenant: Tenant, id: string, kind: "user" | "group"): GroupRecord[] {
  return tenant.groups.filter((g) => includesId(kind === "user" ? g.memberIds : g.memberGroupIds, id));
}

/** Every group the user (or group) belongs to directly or through nesting, each once; cycles end. */
export function transitiveGroupsOf(tenant: Tenant, id: string, kind: "user" | "group"): GroupRecord[] {
  const out = directGroupsOf(tenant, id, kind);
  const seen = new Set<string>(out.map((g) => g.id));
  if (kind === "group") seen.add(id);
  for (let q = 0; q < out.length; q++) {
    for (const parent of directGroupsOf(tenant, (out[q] as GroupRecord).id, "group"))
      if (!seen.has(parent.id)) {
        seen.add(parent.id);
        out.push(parent);
      }
  }
  return out;
}

/** Microsoft 365 E3 and Enterprise Mobility + Security E3 sku ids. */
export const LICENSE_SKUS: readonly string[] = ["05e9a617-0261-4cee-bb44-138d3ef5d965", "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"];

export function findUser(tenant: Tenant, ref: string): UserRecord | undefined {
  const key = ref.toLowerCase();
  return tenant.byId.get(key) ?? tenant.byUpn.get(key);
}

/**
 * The reference's state rule: a user with a registered method cannot stay `enabled`;
 * setting `enabled` (or registering while `enabled`) reads back as `enforced`.
 */
export function effectiveState(requested: PerUserMfaState, methods: readonly string[]): PerUserMfaState {
  return requested === "enabled" && methods.length > 0 ? "enforced" : requested;
}
