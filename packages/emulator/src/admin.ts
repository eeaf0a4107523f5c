/** The admin operations, in process; admin-routes.ts serves the same over plain HTTP. */
import {
  appFromRegistration, appIsNamed, ensurePresence, validateApiRoles, validateRedirectUris, validateRoles,
  type AppRecord, type AppRegistration, type RedirectUris,
} from "./apps.js";
import type { CippInfo } from "./cipp-apps.js";
import type { DelegatedRoutes } from "./delegated.js";
import type { Endpoints } from "./endpoints.js";
import type { FaultInjector, FaultRule } from "./faults.js";
import {
  directGroupsOf, effectiveState, findRoleDefinition, findUser, includesId, roleAssignmentId, ROLE_DEFINITIONS,
  type ConditionalAccessPolicy, type GroupRecord, type RoleAssignmentRecord, type Tenant, type UserRecord,
} from "./model.js";
import {
  applyConfigPatch, InvalidOptionError, partnerSeedParams, PER_USER_MFA_STATES, validateSeedParams,
  type ConfigPatch, type PartnerOptions, type PerUserMfaState, type RuntimeConfig,
} from "./options.js";
import { partnerInfo, type GdapRelationship, type GdapStatus, type PartnerInfo } from "./partner.js";
import { validatePolicy } from "./posture.js";
import { guidFor } from "./prng.js";
import { seededPassword } from "./sign-in.js";
import { emptyStats, type EmulatorState, type EmulatorStats } from "./state.js";
import type { Throttler } from "./throttle.js";
import { apiTokenClaims, type SigningKeyRotation, type SigningKeyView, type TokenService } from "./tokens.js";

export interface TenantSummary {
  id: string;
  domain: string;
  userCount: number;
}

export interface AdminUserView {
  id: string;
  userPrincipalName: string;
  displayName: string;
  userType: "Member" | "Guest";
  accountEnabled: boolean;
  isLicensed: boolean;
  methods: string[];
  perUserMfaState: PerUserMfaState;
  patchCount: number;
  /** Ids of the groups the user is a direct member of. */
  groups: string[];
  /** Display names of the user's directory roles. */
  roles: string[];
  /** signInActivity's last interactive sign-in; null = never signed in. */
  lastSignInDateTime: string | null;
}

/** A tenant's licence and security defaults. */
export interface TenantPosture {
  premium: boolean;
  securityDefaultsEnabled: boolean;
}

export interface AdminGroupView {
  id: string;
  displayName: string;
  description: string | null;
  /** Direct user members (ids). */
  memberIds: string[];
  /** Direct group members (nested groups' ids). */
  memberGroupIds: string[];
}

export interface GroupRequest {
  displayName: string;
  description?: string;
  /** User ids or UPNs. */
  members?: string[];
  /** Group ids or display names. */
  memberGroups?: string[];
}

export interface GroupMembersRequest {
  /** User ids or UPNs. */
  users?: string[];
  /** Group ids or display names. */
  groups?: string[];
}

export interface AdminRoleAssignmentView {
  id: string;
  roleDefinitionId: string;
  roleDisplayName: string;
  principalId: string;
  /** null when the principal no longer resolves. */
  userPrincipalName: string | null;
  directoryScopeId: string;
}

export interface RoleRequest {
  /** A role's display name or id (template id), e.g. "Global Administrator". */
  role: string;
  /** User id or UPN. */
  user: string;
}

export interface AdminUserPatch {
  perUserMfaState?: PerUserMfaState;
  methods?: string[];
  /** Any text, hostile included: tests of report outputs need names like `=HYPERLINK(...)` or `<script>`. */
  displayName?: string;
  /** ISO date-time, or null for "never signed in". */
  lastSignInDateTime?: string | null;
  accountEnabled?: boolean;
}

export interface SeedRequest {
  tenants?: number;
  users?: number;
  seed?: string | number;
  /** A partner tenant with GDAP customers; null removes it; absent keeps what was seeded. */
  partner?: PartnerOptions | null;
}

/** A device code as the admin interface approves it. */
export interface DeviceCodeApproval {
  userCode: string;
  userPrincipalName: string;
  clientId: string;
}

/** Changes to a GDAP relationship (to a customer tenant, by its id or domain). */
export interface RelationshipPatch {
  status?: GdapStatus;
  /** Role template ids (or built-in role names), replacing the relationship's roles. */
  roles?: string[];
}

/** A missing tenant, user or app (the HTTP interface answers 404). */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
}

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** The seeded API (resource) app: what mfactl's HTTP server accepts tokens for. */
export interface ApiAppInfo {
  clientId: string;
  /** `api://<clientId>`; request `${identifierUri}/.default`. */
  identifierUri: string;
  /** The tenant it is registered in (the first seeded tenant, the MSP's own). */
  tenantId: string;
  /** The app roles it defines. */
  roles: string[];
  /** The delegated scopes it defines (`access_as_user`): ask for `${identifierUri}/access_as_user` or `/.default`. */
  scopes: string[];
  /** 1: it receives v1.0 tokens (accessTokenAcceptedVersion null). */
  accessTokenVersion: 1 | 2;
}

export interface ApiCallers {
  /** "CIPP automation": MfaState.ReadWrite in the API's tenant. */
  readWrite: ClientCredentials;
  /** "Read-only automation": MfaState.Read in the API's tenant. */
  readOnly: ClientCredentials;
}

/** The seeded web dashboard: a SPA (public client, no secret) registered in the first tenant. */
export interface DashboardAppInfo {
  clientId: string;
  /** The tenant it is registered in (the first seeded tenant). */
  tenantId: string;
  /** Its redirect URIs: none until registered with `setRedirectUris` (`PUT /apps/{clientId}/redirect-uris`). */
  redirectUris: RedirectUris;
}

/** A user's app role assignment on an app (the resource whose roles they are). */
export interface UserRoleAssignmentView {
  /** The app whose roles these are. */
  clientId: string;
  tenantId: string;
  userId: string;
  userPrincipalName: string;
  /** [] = assigned without a role (default access). */
  roles: string[];
}

export interface AppCredentials {
  clientId: string;
  clientSecret: string;
  readOnlyApp: ClientCredentials;
  apiApp: ApiAppInfo;
  apiCallers: ApiCallers;
  dashboardApp: DashboardAppInfo;
  /** The emulated CIPP instance: its URL, the CIPP-API app and credentials that may call it. */
  cipp: CippInfo;
}

/** A token with chosen claims, for negative tests of a relying party (POST /tokens). */
export interface MintTokenRequest {
  /** A seeded tenant's id or domain, or any GUID (a tenant the emulator does not know). */
  tenant: string;
  /** The calling app's client id (`appid` in v1, `azp` in v2); need not be registered. */
  clientId: string;
  /** `aud`. */
  audience: string;
  /** exp = iat + lifetimeSeconds; 0 or negative = already expired. */
  lifetimeSeconds: number;
  /** nbf = iat + this (default 0; positive = not yet valid). */
  notBeforeOffsetSeconds?: number;
  /** `roles` (omitted when empty or absent). */
  roles?: string[];
  /** 1 (default): v1.0 claims and issuer; 2: v2.0. */
  version?: 1 | 2;
  /** Merged last: replaces any claim; a null value removes it. */
  extraClaims?: Record<string, unknown>;
}

export interface MintedToken {
  accessToken: string;
  /** The key that signed it (the current one). */
  kid: string;
  /** The payload as signed. */
  claims: Record<string, unknown>;
}

/** One line of a tenant's user listing (benchmarks check every user against it). */
export interface AdminUserState {
  id: string;
  userPrincipalName: string;
  perUserMfaState: PerUserMfaState;
  patchCount: number;
}

export interface EmulatorAdmin {
  tenants(): TenantSummary[];
  /** Every user of a tenant with its state and Graph PATCH count. */
  listUsers(tenant: string): AdminUserState[];
  /**
   * Sets the state of every user of a tenant (or of `users`, ids or UPNs) as someone else would: not
   * counted as Graph PATCHes. Returns how many users were set.
   */
  setUsers(tenant: string, patch: { perUserMfaState: PerUserMfaState; users?: string[] }): number;
  /** The seeded apps' credentials (they follow the seed). */
  credentials(): AppCredentials;
  getUser(tenant: string, idOrUpn: string): AdminUserView;
  /** Changes a user as someone else would (not counted as a Graph PATCH). */
  patchUser(tenant: string, idOrUpn: string, patch: AdminUserPatch): AdminUserView;
  stats(): EmulatorStats;
  resetStats(): void;
  /** Users, apps, counters, throttle budgets and faults back to the seeded state (config is kept). */
  reset(): void;
  /** Re-seeds with new parameters (kept for later resets); the main app's id and secret follow the seed. */
  seed(request?: SeedRequest): TenantSummary[];
  addFaults(rules: FaultRule[]): void;
  clearFaults(): void;
  pendingFaults(): FaultRule[];
  config(): RuntimeConfig;
  configure(patch: ConfigPatch): RuntimeConfig;
  /** Registers (or replaces) an app: credentials, Graph consents, an exposed API, API role assignments. */
  registerApp(app: AppRegistration): void;
  consent(clientId: string, tenant: string, roles: string[]): void;
  revokeConsent(clientId: string, tenant: string): void;
  /**
   * Assigns app roles of an API (`resource`: its client id or an identifier URI) to a caller in a tenant (id, domain or
   * "*"), replacing earlier roles there; [] = assigned without a role. The caller gets a service principal there if it
   * had none. Returns the roles.
   */
  grantApiRoles(clientId: string, resource: string, tenant: string, roles: string[]): string[];
  /** Removes the caller's assignment on the API in a tenant (its token requests then fail with AADSTS501051). */
  revokeApiGrant(clientId: string, resource: string, tenant: string): void;
  /** The signing key set (every key is in the JWKS), the current signer first. */
  signingKeys(): SigningKeyView[];
  /** A new key signs from now on; retireOld removes every older key from the set (tokens they signed stop validating). */
  rotateSigningKey(options?: { retireOld?: boolean }): SigningKeyRotation;
  /** Removes a key that no longer signs from the set. */
  retireSigningKey(kid: string): SigningKeyView[];
  /** Signs a token with chosen claims using the current key (not counted in stats). */
  mintToken(request: MintTokenRequest): Promise<MintedToken>;
  /** A tenant's groups with their direct members. */
  listGroups(tenant: string): AdminGroupView[];
  /** A new security group; display names are unique here (case-insensitive) so they can name the group. */
  createGroup(tenant: string, request: GroupRequest): AdminGroupView;
  /** Adds direct members (already present ones are ignored). Cycles are allowed, unlike Entra, to test them. */
  addGroupMembers(tenant: string, group: string, request: GroupMembersRequest): AdminGroupView;
  /** Removes one direct member: a user (id or UPN) or a group (id or display name). */
  removeGroupMember(tenant: string, group: string, member: string): AdminGroupView;
  listRoleAssignments(tenant: string): AdminRoleAssignmentView[];
  assignRole(tenant: string, request: RoleRequest): AdminRoleAssignmentView;
  removeRoleAssignment(tenant: string, assignmentId: string): void;
  /** Licence (Entra ID P1/P2) and security defaults. */
  posture(tenant: string): TenantPosture;
  setPosture(tenant: string, patch: Partial<TenantPosture>): TenantPosture;
  /** The tenant's Conditional Access policies, in Graph's shape and listing order. */
  listConditionalAccessPolicies(tenant: string): ConditionalAccessPolicy[];
  /** Adds a policy given in Graph's shape (validated; id generated from the seed unless given) -> the stored policy. */
  addConditionalAccessPolicy(tenant: string, policy: unknown): ConditionalAccessPolicy;
  removeConditionalAccessPolicy(tenant: string, id: string): void;
  /** A seeded user's sign-in password (deterministic per seed, tenant and user). */
  userPassword(tenant: string, user: string): string;
  /** Replaces the app's web and/or spa redirect URIs (a platform left out keeps its list) -> both lists. */
  setRedirectUris(clientId: string, uris: Partial<RedirectUris>): RedirectUris;
  /**
   * Assigns a user app roles of an app (`clientId`: its client id or an identifier URI) in a tenant, replacing earlier
   * ones; [] = assigned without a role. The roles land in the user's id_token (for that client) or access token (for that API).
   */
  assignUserRoles(clientId: string, tenant: string, user: string, roles: string[]): UserRoleAssignmentView;
  removeUserRoles(clientId: string, tenant: string, user: string): void;
  listUserRoles(clientId: string, tenant: string): UserRoleAssignmentView[];
  /** The partner tenant and its customers, when seeded with `partner`. */
  partner(): PartnerInfo | undefined;
  /** Signs a user in on a pending device code (what the verification page does, without the password). */
  approveDeviceCode(userCode: string, userPrincipalName: string): DeviceCodeApproval;
  /** The user cancels on the verification page: polling then gets authorization_declined. */
  declineDeviceCode(userCode: string): void;
  /** Revokes the user's refresh tokens (as revokeSignInSessions does); returns how many were live. */
  revokeRefreshTokens(userPrincipalName: string): number;
  /** The app's client secret expires now (token requests then get AADSTS7000222). */
  expireSecret(clientId: string): void;
  /** Sets when the app's client secret expires (ISO date-time; Graph's passwordCredentials show it). */
  setSecretExpiry(clientId: string, endDateTime: string): void;
  /** The partner's GDAP relationships. */
  listRelationships(): GdapRelationship[];
  /** Changes the relationship with a customer tenant (status, roles). */
  patchRelationship(customerTenant: string, patch: RelationshipPatch): GdapRelationship;
}

export function tenantSummary(t: Tenant): TenantSummary {
  return { id: t.id, domain: t.domain, userCount: t.users.length };
}

function userView(t: Tenant, u: UserRecord): AdminUserView {
  const roles = t.roleAssignments.filter((a) => a.principalId === u.id).map((a) => roleName(a.roleDefinitionId));
  return {
    id: u.id,
    userPrincipalName: u.userPrincipalName,
    displayName: u.displayName,
    userType: u.userType,
    accountEnabled: u.accountEnabled,
    isLicensed: u.licensed,
    methods: [...u.methods],
    perUserMfaState: u.perUserMfaState,
    patchCount: u.patchCount,
    groups: directGroupsOf(t, u.id, "user").map((g) => g.id),
    roles,
    lastSignInDateTime: u.lastSignInDateTime,
  };
}

const roleName = (id: string) => ROLE_DEFINITIONS.find((r) => r.id === id)?.displayName ?? id;

function groupView(g: GroupRecord): AdminGroupView {
  return { id: g.id, displayName: g.displayName, description: g.description, memberIds: [...g.memberIds], memberGroupIds: [...g.memberGroupIds] };
}

function roleAssignmentView(t: Tenant, a: RoleAssignmentRecord): AdminRoleAssignmentView {
  return {
    id: a.id,
    roleDefinitionId: a.roleDefinitionId,
    roleDisplayName: roleName(a.roleDefinitionId),
    principalId: a.principalId,
    userPrincipalName: t.byId.get(a.principalId)?.userPrincipalName ?? null,
    directoryScopeId: a.directoryScopeId,
  };
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
/** Ten years either way: enough for any test, and exp stays a sane number. */
const MAX_OFFSET_SECONDS = 10 * 366 * 86_400;

/** The emulated CIPP as the admin operations see it: re-registered after every re-seed. */
export interface CippAdmin {
  seed(): void;
  info(): CippInfo;
}

export function createAdmin(
  state: EmulatorState,
  throttler: Throttler,
  faults: FaultInjector,
  tokens: TokenService,
  endpoints: Endpoints,
  cipp: CippAdmin,
  delegated: DelegatedRoutes,
): EmulatorAdmin {
  const tenant = (ref: string): Tenant => {
    const t = state.findTenant(ref);
    if (!t) throw new NotFoundError(`tenant '${ref}' not found`);
    return t;
  };
  const user = (tenantRef: string, ref: string): UserRecord => {
    const u = findUser(tenant(tenantRef), ref);
    if (!u) throw new NotFoundError(`user '${ref}' not found in tenant '${tenantRef}'`);
    return u;
  };
  const app = (clientId: string) => {
    const a = state.findApp(clientId);
    if (!a) throw new NotFoundError(`app '${clientId}' not registered`);
    return a;
  };
  const tenantKey = (ref: string) => (ref === "*" ? "*" : tenant(ref).id.toLowerCase());
  const resource = (ref: string): AppRecord => {
    const found = state.findResource(ref)?.app;
    if (!found) throw new NotFoundError(`no registered app has the client id or identifier URI '${ref}'`);
    return found;
  };
  const credentialsOf = (a: AppRecord): ClientCredentials => ({ clientId: a.clientId, clientSecret: a.secret ?? "" });
  const mint = async (request: MintTokenRequest): Promise<MintedToken> => {
    if (!isPlainObject(request)) throw new InvalidOptionError("the body must be an object");
    const { clientId, audience, lifetimeSeconds, notBeforeOffsetSeconds = 0, roles = [], version = 1, extraClaims = {} } = request;
    if (typeof request.tenant !== "string" || request.tenant === "") throw new InvalidOptionError("tenant must be a tenant id or domain");
    const known = state.findTenant(request.tenant);
    if (!known && !GUID.test(request.tenant)) throw new NotFoundError(`tenant '${request.tenant}' not found (give a seeded tenant's id or domain, or any GUID)`);
    const tenantId = known?.id ?? request.tenant.toLowerCase();
    if (typeof clientId !== "string" || clientId === "") throw new InvalidOptionError("clientId must be a non-empty string");
    if (typeof audience !== "string" || audience === "") throw new InvalidOptionError("audience must be a non-empty string");
    const offset = (name: string, v: unknown): number => {
      if (typeof v !== "number" || !Number.isInteger(v) || Math.abs(v) > MAX_OFFSET_SECONDS)
        throw new InvalidOptionError(`${name} must be a whole number of seconds (negative allowed), got ${JSON.stringify(v)}`);
      return v;
    };
    const lifetime = offset("lifetimeSeconds", lifetimeSeconds);
    const notBefore = offset("notBeforeOffsetSeconds", notBeforeOffsetSeconds);
    if (!isStringList(roles)) throw new InvalidOptionError("roles must be a list of strings");
    if (version !== 1 && version !== 2) throw new InvalidOptionError(`version must be 1 or 2, got ${JSON.stringify(version)}`);
    if (!isPlainObject(extraClaims)) throw new InvalidOptionError("extraClaims must be an object of claims");
    const iat = Math.floor(state.clock.now() / 1000);
    const claims = apiTokenClaims({
      tenantId, clientId, audience, version, roles, credential: "secret",
      authorityOrigin: endpoints.authorityHost, iat, nbf: iat + notBefore, exp: iat + lifetime,
    });
    for (const [k, v] of Object.entries(extraClaims)) {
      if (v === null) delete claims[k];
      else claims[k] = v;
    }
    const kid = tokens.kid;
    return { accessToken: await tokens.sign(claims), kid, claims };
  };
  /** By id or display name (case-insensitive). */
  const group = (t: Tenant, ref: string): GroupRecord => {
    const key = ref.toLowerCase();
    const g = t.groupsById.get(key) ?? t.groups.find((x) => x.displayName.toLowerCase() === key);
    if (!g) throw new NotFoundError(`group '${ref}' not found in tenant '${t.domain}'`);
    return g;
  };
  const userIn = (t: Tenant, ref: string): UserRecord => {
    const u = findUser(t, ref);
    if (!u) throw new NotFoundError(`user '${ref}' not found in tenant '${t.domain}'`);
    return u;
  };
  const list = (value: unknown, what: string): string[] => {
    if (value === undefined) return [];
    if (!isStringList(value)) throw new InvalidOptionError(`${what} must be a list of strings`);
    return value;
  };
  /** Adds without duplicates; arrays are replaced, never mutated (membership sets are cached per array). */
  const addMembers = (t: Tenant, g: GroupRecord, users: string[], groups: string[]) => {
    const userIds = users.map((ref) => userIn(t, ref).id);
    const groupIds = groups.map((ref) => group(t, ref).id);
    if (groupIds.includes(g.id)) throw new InvalidOptionError(`group '${g.displayName}' cannot be a member of itself`);
    const newUsers = [...new Set(userIds)].filter((id) => !includesId(g.memberIds, id));
    const newGroups = [...new Set(groupIds)].filter((id) => !includesId(g.memberGroupIds, id));
    if (newUsers.length > 0) g.memberIds = [...g.memberIds, ...newUsers];
    if (newGroups.length > 0) g.memberGroupIds = [...g.memberGroupIds, ...newGroups];
  };
  const reset = () => {
    state.reseed(state.seedParams);
    cipp.seed();
    throttler.reset();
    faults.reset(state.seedParams.seed);
  };

  return {
    tenants: () => state.tenants.map(tenantSummary),
    credentials: () => ({
      clientId: state.mainApp.clientId,
      clientSecret: state.mainApp.secret ?? "",
      readOnlyApp: credentialsOf(state.readOnlyApp),
      apiApp: {
        clientId: state.apiApp.clientId,
        identifierUri: state.apiApp.api.identifierUris[0] ?? `api://${state.apiApp.clientId}`,
        tenantId: state.tenants[0]?.id ?? "",
        roles: [...state.apiApp.api.appRoles],
        scopes: [...state.apiApp.api.scopes],
        accessTokenVersion: state.apiApp.api.accessTokenAcceptedVersion === 2 ? 2 : 1,
      },
      apiCallers: { readWrite: credentialsOf(state.apiReadWriteCaller), readOnly: credentialsOf(state.apiReadOnlyCaller) },
      dashboardApp: {
        clientId: state.dashboardApp.clientId,
        tenantId: state.tenants[0]?.id ?? "",
        redirectUris: { web: [...state.dashboardApp.redirectUris.web], spa: [...state.dashboardApp.redirectUris.spa] },
      },
      cipp: cipp.info(),
    }),
    userPassword: (t, ref) => {
      const te = tenant(t);
      const u = userIn(te, ref);
      return seededPassword(state.seedParams.seed, te.id, u.id);
    },
    setRedirectUris: (clientId, uris) => {
      const a = app(clientId);
      if (!isPlainObject(uris)) throw new InvalidOptionError("the body must be { \"web\"?: [...], \"spa\"?: [...] }");
      const unknown = Object.keys(uris).filter((k) => k !== "web" && k !== "spa");
      if (unknown.length > 0) throw new InvalidOptionError(`unknown platform ${unknown.map((k) => `'${k}'`).join(", ")}: use web or spa`);
      const web = uris.web === undefined ? a.redirectUris.web : validateRedirectUris(uris.web, "web");
      const spa = uris.spa === undefined ? a.redirectUris.spa : validateRedirectUris(uris.spa, "spa");
      a.redirectUris = { web, spa };
      return { web: [...web], spa: [...spa] };
    },
    assignUserRoles: (clientId, t, ref, roles) => {
      const api = resource(clientId);
      const te = tenant(t);
      const u = userIn(te, ref);
      const valid = validateApiRoles(roles, api);
      const key = te.id.toLowerCase();
      const perTenant = api.userRoles.get(key) ?? new Map<string, string[]>();
      perTenant.set(u.id.toLowerCase(), valid);
      api.userRoles.set(key, perTenant);
      return { clientId: api.clientId, tenantId: te.id, userId: u.id, userPrincipalName: u.userPrincipalName, roles: [...valid] };
    },
    removeUserRoles: (clientId, t, ref) => {
      const api = resource(clientId);
      const te = tenant(t);
      api.userRoles.get(te.id.toLowerCase())?.delete(userIn(te, ref).id.toLowerCase());
    },
    listUserRoles: (clientId, t) => {
      const api = resource(clientId);
      const te = tenant(t);
      const out: UserRoleAssignmentView[] = [];
      for (const [userId, roles] of api.userRoles.get(te.id.toLowerCase()) ?? []) {
        const u = te.byId.get(userId);
        if (u) out.push({ clientId: api.clientId, tenantId: te.id, userId: u.id, userPrincipalName: u.userPrincipalName, roles: [...roles] });
      }
      return out;
    },
    getUser: (t, ref) => userView(tenant(t), user(t, ref)),
    listUsers: (t) => tenant(t).users.map((u) => ({ id: u.id, userPrincipalName: u.userPrincipalName, perUserMfaState: u.perUserMfaState, patchCount: u.patchCount })),
    setUsers: (t, patch) => {
      if (typeof patch !== "object" || patch === null) throw new InvalidOptionError("the body must be an object");
      if (!PER_USER_MFA_STATES.includes(patch.perUserMfaState))
        throw new InvalidOptionError(`perUserMfaState must be one of ${PER_USER_MFA_STATES.join(", ")}, got ${String(patch.perUserMfaState)}`);
      if (patch.users !== undefined && (!Array.isArray(patch.users) || !patch.users.every((u) => typeof u === "string")))
        throw new InvalidOptionError("users must be a list of user ids or UPNs");
      const chosen = patch.users === undefined ? tenant(t).users : patch.users.map((ref) => user(t, ref));
      for (const u of chosen) u.perUserMfaState = effectiveState(patch.perUserMfaState, u.methods);
      return chosen.length;
    },
    patchUser: (t, ref, patch) => {
      const u = user(t, ref);
      if (typeof patch !== "object" || patch === null) throw new InvalidOptionError("the patch must be an object");
      if (patch.perUserMfaState !== undefined && !PER_USER_MFA_STATES.includes(patch.perUserMfaState))
        throw new InvalidOptionError(`perUserMfaState must be one of ${PER_USER_MFA_STATES.join(", ")}, got ${String(patch.perUserMfaState)}`);
      if (patch.methods !== undefined && (!Array.isArray(patch.methods) || !patch.methods.every((m) => typeof m === "string")))
        throw new InvalidOptionError("methods must be a list of method names");
      if (patch.displayName !== undefined && typeof patch.displayName !== "string") throw new InvalidOptionError("displayName must be a string");
      if (patch.accountEnabled !== undefined && typeof patch.accountEnabled !== "boolean") throw new InvalidOptionError("accountEnabled must be a boolean");
      let signIn: string | null | undefined;
      if (patch.lastSignInDateTime !== undefined) {
        if (patch.lastSignInDateTime === null) signIn = null;
        else if (typeof patch.lastSignInDateTime !== "string" || Number.isNaN(Date.parse(patch.lastSignInDateTime)))
          throw new InvalidOptionError("lastSignInDateTime must be an ISO date-time or null");
        else signIn = new Date(Date.parse(patch.lastSignInDateTime)).toISOString().replace(/\.\d+Z$/, "Z");
      }
      if (signIn !== undefined) u.lastSignInDateTime = signIn;
      if (patch.accountEnabled !== undefined) u.accountEnabled = patch.accountEnabled;
      if (patch.methods !== undefined) u.methods = [...patch.methods];
      if (patch.displayName !== undefined) u.displayName = patch.displayName;
      // Registering while enabled moves the user to enforced, as Entra does.
      u.perUserMfaState = effectiveState(patch.perUserMfaState ?? u.perUserMfaState, u.methods);
      return userView(tenant(t), u);
    },
    stats: () => structuredClone(state.stats),
    resetStats: () => {
      state.stats = emptyStats();
    },
    reset,
    partner: () => (state.partner ? partnerInfo(state.partner, state.expiredSecretApp) : undefined),
    approveDeviceCode: (userCode, upn) => {
      if (typeof userCode !== "string" || typeof upn !== "string") throw new InvalidOptionError("give userCode and userPrincipalName");
      const result = delegated.approve(userCode, upn);
      if (!result.ok) throw result.notFound ? new NotFoundError(result.message) : new InvalidOptionError(result.message);
      return { userCode: result.record.userCode, userPrincipalName: upn, clientId: result.record.clientId };
    },
    declineDeviceCode: (userCode) => {
      if (!delegated.decline(String(userCode))) throw new NotFoundError(`no pending device code with the user code '${String(userCode)}'`);
    },
    revokeRefreshTokens: (upn) => {
      const n = delegated.revoke(String(upn));
      if (n < 0) throw new NotFoundError(`user '${String(upn)}' not found`);
      return n;
    },
    expireSecret: (clientId) => {
      app(clientId).secretExpiresAt = state.clock.now();
    },
    setSecretExpiry: (clientId, endDateTime) => {
      const ms = typeof endDateTime === "string" ? Date.parse(endDateTime) : NaN;
      if (!Number.isFinite(ms)) throw new InvalidOptionError(`endDateTime must be an ISO date-time, got ${JSON.stringify(endDateTime)}`);
      app(clientId).secretExpiresAt = ms;
    },
    listRelationships: () => structuredClone(state.partner?.relationships ?? []),
    patchRelationship: (customer, patch) => {
      if (!state.partner) throw new NotFoundError("no partner tenant: start the emulator with the partner option");
      const t = tenant(customer);
      const rel = state.partner.relationships.find((r) => r.customerTenantId === t.id);
      if (!rel) throw new NotFoundError(`no GDAP relationship with tenant '${customer}'`);
      if (!isPlainObject(patch)) throw new InvalidOptionError("the body must be { \"status\"?: ..., \"roles\"?: [...] }");
      const status: unknown = patch.status;
      if (status !== undefined) {
        if (typeof status !== "string" || !["active", "approvalPending", "expired", "terminated"].includes(status)) throw new InvalidOptionError(`status must be active, approvalPending, expired or terminated, got ${JSON.stringify(patch.status)}`);
        rel.status = status as GdapStatus;
      }
      if (patch.roles !== undefined) {
        if (!isStringList(patch.roles)) throw new InvalidOptionError("roles must be a list of role ids or names");
        rel.roleDefinitionIds = patch.roles.map((r) => {
          const d = findRoleDefinition(r);
          if (!d) throw new InvalidOptionError(`unknown role '${r}'`);
          return d.id;
        });
      }
      return structuredClone(rel);
    },
    seed: (request = {}) => {
      const next = { ...state.seedParams };
      if (request.tenants !== undefined) next.tenants = request.tenants;
      if (request.users !== undefined) next.users = request.users;
      if (request.seed !== undefined) next.seed = String(request.seed);
      if (request.partner === null) delete next.partner;
      else if (request.partner !== undefined) next.partner = partnerSeedParams(request.partner);
      validateSeedParams(next);
      state.seedParams = next;
      reset();
      return state.tenants.map(tenantSummary);
    },
    addFaults: (rules) => {
      if (!Array.isArray(rules)) throw new InvalidOptionError("rules must be a list of fault rules");
      faults.add(rules);
    },
    clearFaults: () => faults.clear(),
    pendingFaults: () => faults.pending(),
    config: () => structuredClone(state.config),
    configure: (patch) => {
      if (typeof patch !== "object" || patch === null) throw new InvalidOptionError("the config patch must be an object");
      applyConfigPatch(state.config, patch);
      return structuredClone(state.config);
    },
    registerApp: (registration) => {
      if (!isPlainObject(registration)) throw new InvalidOptionError("the registration must be an object");
      const record = appFromRegistration(registration, {
        resolveTenant: (ref) => state.findTenant(ref)?.id,
        resolveResource: (ref) => state.findResource(ref)?.app,
      });
      // Identifier URIs are unique in the directory.
      for (const uri of record.api.identifierUris) {
        const owner = state.findResource(uri)?.app;
        if (owner && owner.clientId !== record.clientId)
          throw new InvalidOptionError(`identifier URI '${uri}' is already used by app '${owner.clientId}' (${owner.displayName})`);
      }
      state.apps.set(record.clientId, record);
    },
    consent: (clientId, t, roles) => {
      app(clientId).consents.set(tenantKey(t), validateRoles(roles));
    },
    revokeConsent: (clientId, t) => {
      const a = app(clientId);
      const key = tenantKey(t);
      if (key === "*") a.consents.delete("*");
      else a.consents.set(key, null);
    },
    grantApiRoles: (clientId, resourceRef, t, roles) => {
      const caller = app(clientId);
      const api = appIsNamed(caller, resourceRef) ? caller : resource(resourceRef);
      const key = tenantKey(t);
      const valid = validateApiRoles(roles, api);
      const grants = caller.apiGrants.get(api.clientId) ?? new Map<string, string[] | null>();
      grants.set(key, valid);
      caller.apiGrants.set(api.clientId, grants);
      ensurePresence(caller, key);
      return [...valid];
    },
    revokeApiGrant: (clientId, resourceRef, t) => {
      const caller = app(clientId);
      const api = appIsNamed(caller, resourceRef) ? caller : resource(resourceRef);
      const key = tenantKey(t);
      const grants = caller.apiGrants.get(api.clientId);
      if (key === "*") grants?.delete("*");
      else if (grants) grants.set(key, null);
    },
    signingKeys: () => tokens.keyViews(),
    rotateSigningKey: (options = {}) => {
      if (!isPlainObject(options)) throw new InvalidOptionError("the body must be an object");
      const { retireOld = false } = options;
      if (typeof retireOld !== "boolean") throw new InvalidOptionError("retireOld must be a boolean");
      return tokens.rotate(retireOld);
    },
    retireSigningKey: (kid) => {
      if (kid === tokens.kid) throw new InvalidOptionError(`'${kid}' is the current signing key: rotate first`);
      if (!tokens.retire(kid)) throw new NotFoundError(`signing key '${kid}' is not in the set`);
      return tokens.keyViews();
    },
    mintToken: mint,
    listGroups: (t) => tenant(t).groups.map(groupView),
    createGroup: (t, request) => {
      const te = tenant(t);
      if (typeof request !== "object" || request === null) throw new InvalidOptionError("the body must be an object");
      const { displayName, description } = request;
      if (typeof displayName !== "string" || displayName.trim() === "" || displayName.length > 256)
        throw new InvalidOptionError("displayName must be a non-empty string of at most 256 characters");
      if (description !== undefined && typeof description !== "string") throw new InvalidOptionError("description must be a string");
      if (te.groups.some((g) => g.displayName.toLowerCase() === displayName.toLowerCase()))
        throw new InvalidOptionError(`a group named '${displayName}' already exists in tenant '${te.domain}'`);
      const members = list(request.members, "members");
      const memberGroups = list(request.memberGroups, "memberGroups");
      // Follows the seed and the order of creation, so a scripted run gets the same ids again.
      const id = guidFor(`${state.seedParams.seed}/tenant/${te.id}/group/${te.groups.length}/${displayName.toLowerCase()}`);
      const g: GroupRecord = { id, displayName, description: description ?? null, memberIds: [], memberGroupIds: [] };
      addMembers(te, g, members, memberGroups);
      te.groups.push(g);
      te.groupsById.set(g.id, g);
      return groupView(g);
    },
    addGroupMembers: (t, ref, request) => {
      const te = tenant(t);
      const g = group(te, ref);
      if (typeof request !== "object" || request === null) throw new InvalidOptionError("the body must be an object");
      const users = list(request.users, "users");
      const groups = list(request.groups, "groups");
      if (users.length + groups.length === 0) throw new InvalidOptionError("give users and/or groups to add");
      addMembers(te, g, users, groups);
      return groupView(g);
    },
    removeGroupMember: (t, ref, member) => {
      const te = tenant(t);
      const g = group(te, ref);
      const u = findUser(te, member);
      if (u && includesId(g.memberIds, u.id)) {
        g.memberIds = g.memberIds.filter((id) => id !== u.id);
        return groupView(g);
      }
      const key = member.toLowerCase();
      const nested = g.memberGroupIds.find((id) => id === key || te.groupsById.get(id)?.displayName.toLowerCase() === key);
      if (nested === undefined) throw new NotFoundError(`'${member}' is not a direct member of group '${g.displayName}'`);
      g.memberGroupIds = g.memberGroupIds.filter((id) => id !== nested);
      return groupView(g);
    },
    listRoleAssignments: (t) => {
      const te = tenant(t);
      return te.roleAssignments.map((a) => roleAssignmentView(te, a));
    },
    assignRole: (t, request) => {
      const te = tenant(t);
      if (typeof request !== "object" || request === null) throw new InvalidOptionError("the body must be an object");
      if (typeof request.role !== "string" || typeof request.user !== "string") throw new InvalidOptionError("role and user must be strings");
      const role = findRoleDefinition(request.role);
      if (!role) throw new NotFoundError(`role '${request.role}' not found (known: ${ROLE_DEFINITIONS.map((r) => r.displayName).join(", ")})`);
      const u = userIn(te, request.user);
      const id = roleAssignmentId(role.id, u.id);
      if (te.roleAssignments.some((a) => a.id === id)) throw new InvalidOptionError(`'${u.userPrincipalName}' already has the role '${role.displayName}'`);
      const assignment: RoleAssignmentRecord = { id, roleDefinitionId: role.id, principalId: u.id, directoryScopeId: "/" };
      te.roleAssignments.push(assignment);
      return roleAssignmentView(te, assignment);
    },
    removeRoleAssignment: (t, id) => {
      const te = tenant(t);
      const i = te.roleAssignments.findIndex((a) => a.id === id);
      if (i < 0) throw new NotFoundError(`role assignment '${id}' not found in tenant '${te.domain}'`);
      te.roleAssignments.splice(i, 1);
    },
    posture: (t) => {
      const te = tenant(t);
      return { premium: te.premium, securityDefaultsEnabled: te.securityDefaultsEnabled };
    },
    setPosture: (t, patch) => {
      const te = tenant(t);
      if (typeof patch !== "object" || patch === null) throw new InvalidOptionError("the body must be an object");
      for (const k of Object.keys(patch)) if (k !== "premium" && k !== "securityDefaultsEnabled") throw new InvalidOptionError(`unknown posture property '${k}' (premium, securityDefaultsEnabled)`);
      if (patch.premium !== undefined && typeof patch.premium !== "boolean") throw new InvalidOptionError("premium must be a boolean");
      if (patch.securityDefaultsEnabled !== undefined && typeof patch.securityDefaultsEnabled !== "boolean") throw new InvalidOptionError("securityDefaultsEnabled must be a boolean");
      if (patch.premium !== undefined) te.premium = patch.premium;
      if (patch.securityDefaultsEnabled !== undefined) te.securityDefaultsEnabled = patch.securityDefaultsEnabled;
      return { premium: te.premium, securityDefaultsEnabled: te.securityDefaultsEnabled };
    },
    listConditionalAccessPolicies: (t) => structuredClone(tenant(t).conditionalAccessPolicies),
    addConditionalAccessPolicy: (t, input) => {
      const te = tenant(t);
      const name = typeof (input as { displayName?: unknown } | null)?.displayName === "string" ? (input as { displayName: string }).displayName : "";
      const id = guidFor(`${state.seedParams.seed}/tenant/${te.id}/conditional-access/${te.conditionalAccessPolicies.length}/${name.toLowerCase()}`);
      const now = new Date(state.clock.now()).toISOString().replace(/\.\d+Z$/, "Z");
      const p = validatePolicy(input, id, now);
      if (te.conditionalAccessPolicies.some((x) => x.id === p.id)) throw new InvalidOptionError(`a policy with id '${p.id}' already exists in tenant '${te.domain}'`);
      te.conditionalAccessPolicies.push(p);
      return structuredClone(p);
    },
    removeConditionalAccessPolicy: (t, id) => {
      const te = tenant(t);
      const i = te.conditionalAccessPolicies.findIndex((p) => p.id === id.toLowerCase());
      if (i < 0) throw new NotFoundError(`conditional access policy '${id}' not found in tenant '${te.domain}'`);
      te.conditionalAccessPolicies.splice(i, 1);
    },
  };
}
