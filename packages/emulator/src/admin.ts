/** The admin operations, in process; admin-routes.ts serves the same over plain HTTP. */
import { appFromRegistration, validateRoles, type AppRegistration } from "./apps.js";
import type { FaultInjector, FaultRule } from "./faults.js";
import { effectiveState, findUser, type Tenant, type UserRecord } from "./model.js";
import {
  applyConfigPatch, InvalidOptionError, PER_USER_MFA_STATES, validateSeedParams,
  type ConfigPatch, type PerUserMfaState, type RuntimeConfig,
} from "./options.js";
import { emptyStats, type EmulatorState, type EmulatorStats } from "./state.js";
import type { Throttler } from "./throttle.js";

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
}

export interface AdminUserPatch {
  perUserMfaState?: PerUserMfaState;
  methods?: string[];
  /** Any text, hostile included: tests of report outputs need names like `=HYPERLINK(...)` or `<script>`. */
  displayName?: string;
}

export interface SeedRequest {
  tenants?: number;
  users?: number;
  seed?: string | number;
}

/** A missing tenant, user or app (the HTTP interface answers 404). */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
}

export interface AppCredentials {
  clientId: string;
  clientSecret: string;
  readOnlyApp: { clientId: string; clientSecret: string };
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
  registerApp(app: AppRegistration): void;
  consent(clientId: string, tenant: string, roles: string[]): void;
  revokeConsent(clientId: string, tenant: string): void;
}

export function tenantSummary(t: Tenant): TenantSummary {
  return { id: t.id, domain: t.domain, userCount: t.users.length };
}

function userView(u: UserRecord): AdminUserView {
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
  };
}

export function createAdmin(state: EmulatorState, throttler: Throttler, faults: FaultInjector): EmulatorAdmin {
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
  const reset = () => {
    state.reseed(state.seedParams);
    throttler.reset();
    faults.reset(state.seedParams.seed);
  };

  return {
    tenants: () => state.tenants.map(tenantSummary),
    credentials: () => ({
      clientId: state.mainApp.clientId,
      clientSecret: state.mainApp.secret ?? "",
      readOnlyApp: { clientId: state.readOnlyApp.clientId, clientSecret: state.readOnlyApp.secret ?? "" },
    }),
    getUser: (t, ref) => userView(user(t, ref)),
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
      if (patch.methods !== undefined) u.methods = [...patch.methods];
      if (patch.displayName !== undefined) u.displayName = patch.displayName;
      // Registering while enabled moves the user to enforced, as Entra does.
      u.perUserMfaState = effectiveState(patch.perUserMfaState ?? u.perUserMfaState, u.methods);
      return userView(u);
    },
    stats: () => structuredClone(state.stats),
    resetStats: () => {
      state.stats = emptyStats();
    },
    reset,
    seed: (request = {}) => {
      const next = { ...state.seedParams };
      if (request.tenants !== undefined) next.tenants = request.tenants;
      if (request.users !== undefined) next.users = request.users;
      if (request.seed !== undefined) next.seed = String(request.seed);
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
      const record = appFromRegistration(registration, (ref) => state.findTenant(ref)?.id);
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
  };
}
