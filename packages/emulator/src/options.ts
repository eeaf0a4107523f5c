/** Public option and configuration types, their defaults and validation. */

export type PerUserMfaState = "disabled" | "enabled" | "enforced";
export const PER_USER_MFA_STATES: readonly PerUserMfaState[] = ["disabled", "enabled", "enforced"];

/** Budgets and windows of the identity-and-access token buckets (Graph throttling docs). */
export interface ThrottleLimits {
  /** Resource units per app + tenant for tenants under 50 users. */
  appTenantRuSmall: number;
  /** Resource units per app + tenant for tenants of 50 to 500 users. */
  appTenantRuMedium: number;
  /** Resource units per app + tenant for tenants over 500 users. */
  appTenantRuLarge: number;
  appTenantRuWindowSeconds: number;
  /** Writes per app + tenant. */
  appTenantWrites: number;
  appTenantWritesWindowSeconds: number;
  /** Resource units per app across all tenants. */
  appRu: number;
  appRuWindowSeconds: number;
  /** Writes per app across all tenants. */
  appWrites: number;
  appWritesWindowSeconds: number;
  /** Writes per tenant across all apps. */
  tenantWrites: number;
  tenantWritesWindowSeconds: number;
  /** Requests to reports/authenticationMethods per app + tenant (429 with Retry-After). */
  reportsRequests: number;
  reportsWindowSeconds: number;
  /** Requests to identity/conditionalAccess per tenant, across apps (429 without Retry-After). */
  conditionalAccessRequests: number;
  conditionalAccessWindowSeconds: number;
}

export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = {
  appTenantRuSmall: 3500,
  appTenantRuMedium: 5000,
  appTenantRuLarge: 8000,
  appTenantRuWindowSeconds: 10,
  appTenantWrites: 3000,
  appTenantWritesWindowSeconds: 150,
  appRu: 150_000,
  appRuWindowSeconds: 20,
  appWrites: 70_000,
  appWritesWindowSeconds: 300,
  tenantWrites: 18_000,
  tenantWritesWindowSeconds: 300,
  reportsRequests: 5,
  reportsWindowSeconds: 10,
  conditionalAccessRequests: 1,
  conditionalAccessWindowSeconds: 1,
};

/** Kinds of random fault; scripted faults choose theirs per rule. */
export type FaultKind = "429" | "503" | "504" | "reset" | "slow";
export const FAULT_KINDS: readonly FaultKind[] = ["429", "503", "504", "reset", "slow"];

/**
 * Weaknesses of the real CIPP that its emulated endpoints can reproduce (cipp-api.md, "Known weaknesses"); all off by
 * default, so the emulated CIPP behaves as a careful one would.
 */
export interface CippWeaknesses {
  /** ExecPerUserMFA answers 200 "Successfully set ..." even when its Graph change failed (CIPP never checks the $batch item). */
  misreportFailures: boolean;
  /**
   * ExecPerUserMFA picks the user as the current CIPP does: `userPrincipalName`, and `userId` only when that UPN is a
   * guest's (#EXT#). A body with only `userId` then "succeeds" without changing anything.
   */
  ignoreUserId: boolean;
}

/** Milliseconds since the epoch; inject one so throttling and expiry tests never sleep. */
export interface EmulatorClock {
  now(): number;
}

export interface EmulatorOptions {
  /** HTTPS port serving Entra + Graph; 0 (default) = random. */
  port?: number;
  /** Plain-HTTP admin interface on 127.0.0.1; 0 (default) = random. */
  adminPort?: number;
  /** Number of tenants, default 3. */
  tenants?: number;
  /** Users per tenant, default 25. */
  users?: number;
  /** Same seed => identical tenants, ids, users, credentials. Default "mfactl". */
  seed?: string | number;
  /** Added to every Graph/Entra response, default 0. */
  latencyMs?: number;
  /** 0..1 share of Graph requests (and $batch sub-requests) given a random fault, default 0. */
  faultRate?: number;
  /** Which random faults may be drawn; default all of FAULT_KINDS. */
  faultKinds?: FaultKind[];
  /** Delay of a "slow" fault, default 2000 ms. */
  slowResponseMs?: number;
  /** Default "realistic". */
  throttle?: "realistic" | "off";
  throttleLimits?: Partial<ThrottleLimits>;
  /** Access token lifetime, default 3599 s. */
  tokenLifetimeSeconds?: number;
  /** Listing /users never returns perUserMfaState (tests the client's per-user fallback). */
  omitPerUserMfaStateInList?: boolean;
  /** Where ca.pem and the client certificate go; default a fresh temp dir (removed on close). */
  dataDir?: string;
  /** Time source for throttling and tokens; default Date.now. */
  clock?: EmulatorClock;
  /** Weaknesses of the emulated CIPP instance to reproduce (default none). */
  cipp?: Partial<CippWeaknesses>;
  /** Adds a partner (MSP) tenant with GDAP relationships to customer tenants; off unless given. */
  partner?: PartnerOptions;
}

/** The partner tenant and its GDAP customers (docs/emulator-fidelity.md, "Partner (GDAP)"). */
export interface PartnerOptions {
  /** Healthy customer tenants, each with an active GDAP relationship (Authentication Policy Administrator + Global Reader). */
  customers: number;
  /** Users per customer tenant, default 25 (the partner tenant has the same count). */
  usersPerCustomer?: number;
  /** Adds one extra customer per planted problem (missing role, no consent, missing permission, no relationship, no licence). */
  planted?: boolean;
}

/** The settings that PATCH /config may change at run time. */
export interface RuntimeConfig {
  tokenLifetimeSeconds: number;
  latencyMs: number;
  faultRate: number;
  faultKinds: FaultKind[];
  slowResponseMs: number;
  throttle: "realistic" | "off";
  throttleLimits: ThrottleLimits;
  omitPerUserMfaStateInList: boolean;
  cipp: CippWeaknesses;
}

export interface ConfigPatch {
  tokenLifetimeSeconds?: number;
  latencyMs?: number;
  faultRate?: number;
  faultKinds?: FaultKind[];
  slowResponseMs?: number;
  throttle?: "realistic" | "off";
  throttleLimits?: Partial<ThrottleLimits>;
  omitPerUserMfaStateInList?: boolean;
  cipp?: Partial<CippWeaknesses>;
}

export interface SeedParams {
  tenants: number;
  users: number;
  seed: string;
  /** Absent: no partner tenant (the default). */
  partner?: { customers: number; usersPerCustomer: number; planted: boolean };
}

export const MAX_PARTNER_CUSTOMERS = 1000;

export const MAX_TENANTS = 10_000;
export const MAX_USERS = 1_000_000;

/** A bad option or admin input; the admin interface turns it into 400. */
export class InvalidOptionError extends Error {
  override readonly name = "InvalidOptionError";
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new InvalidOptionError(message);
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

export function validatePort(name: string, v: number): void {
  check(isInt(v) && v >= 0 && v <= 65535, `${name} must be an integer from 0 to 65535, got ${String(v)}`);
}

export function validateSeedParams(p: Partial<SeedParams>): void {
  if (p.tenants !== undefined)
    check(isInt(p.tenants) && p.tenants >= 1 && p.tenants <= MAX_TENANTS, `tenants must be an integer from 1 to ${MAX_TENANTS}, got ${String(p.tenants)}`);
  if (p.users !== undefined)
    check(isInt(p.users) && p.users >= 0 && p.users <= MAX_USERS, `users must be an integer from 0 to ${MAX_USERS}, got ${String(p.users)}`);
  if (p.seed !== undefined) check(typeof p.seed === "string" && p.seed.length > 0, "seed must be a non-empty string or a number");
  if (p.partner !== undefined) validatePartnerOptions(p.partner);
}

export function validatePartnerOptions(p: PartnerOptions): void {
  check(typeof p === "object" && p !== null && !Array.isArray(p), "partner must be an object, e.g. {\"customers\": 20}");
  check(isInt(p.customers) && p.customers >= 0 && p.customers <= MAX_PARTNER_CUSTOMERS, `partner.customers must be an integer from 0 to ${MAX_PARTNER_CUSTOMERS}, got ${String(p.customers)}`);
  if (p.usersPerCustomer !== undefined)
    check(isInt(p.usersPerCustomer) && p.usersPerCustomer >= 1 && p.usersPerCustomer <= 100_000, `partner.usersPerCustomer must be an integer from 1 to 100000, got ${String(p.usersPerCustomer)}`);
  if (p.planted !== undefined) check(typeof p.planted === "boolean", "partner.planted must be a boolean");
}

/** The seed parameters of a partner option (defaults filled in). */
export function partnerSeedParams(p: PartnerOptions): NonNullable<SeedParams["partner"]> {
  validatePartnerOptions(p);
  return { customers: p.customers, usersPerCustomer: p.usersPerCustomer ?? 25, planted: p.planted ?? false };
}

/** Validates a config patch; throws InvalidOptionError naming the bad value. */
export function validateConfigPatch(p: ConfigPatch): void {
  if (p.tokenLifetimeSeconds !== undefined)
    check(isInt(p.tokenLifetimeSeconds) && p.tokenLifetimeSeconds >= 1, `tokenLifetimeSeconds must be a whole number of seconds >= 1, got ${String(p.tokenLifetimeSeconds)}`);
  if (p.latencyMs !== undefined)
    check(typeof p.latencyMs === "number" && Number.isFinite(p.latencyMs) && p.latencyMs >= 0, `latencyMs must be a number >= 0, got ${String(p.latencyMs)}`);
  if (p.slowResponseMs !== undefined)
    check(typeof p.slowResponseMs === "number" && Number.isFinite(p.slowResponseMs) && p.slowResponseMs >= 0, `slowResponseMs must be a number >= 0, got ${String(p.slowResponseMs)}`);
  if (p.faultRate !== undefined)
    check(typeof p.faultRate === "number" && p.faultRate >= 0 && p.faultRate <= 1, `faultRate must be a number from 0 to 1, got ${String(p.faultRate)}`);
  if (p.faultKinds !== undefined)
    check(
      Array.isArray(p.faultKinds) && p.faultKinds.length > 0 && p.faultKinds.every((k) => FAULT_KINDS.includes(k)),
      `faultKinds must be a non-empty list of ${FAULT_KINDS.join(", ")}`,
    );
  if (p.throttle !== undefined) check(p.throttle === "realistic" || p.throttle === "off", `throttle must be "realistic" or "off", got ${String(p.throttle)}`);
  if (p.omitPerUserMfaStateInList !== undefined) check(typeof p.omitPerUserMfaStateInList === "boolean", "omitPerUserMfaStateInList must be a boolean");
  if (p.cipp !== undefined) {
    check(typeof p.cipp === "object" && p.cipp !== null && !Array.isArray(p.cipp), "cipp must be an object, e.g. {\"misreportFailures\": true}");
    for (const [k, v] of Object.entries(p.cipp)) {
      check(k === "misreportFailures" || k === "ignoreUserId", `unknown CIPP weakness "${k}"; known: misreportFailures, ignoreUserId`);
      check(typeof v === "boolean", `cipp.${k} must be a boolean`);
    }
  }
  if (p.throttleLimits !== undefined) {
    check(typeof p.throttleLimits === "object" && p.throttleLimits !== null, "throttleLimits must be an object");
    for (const [k, v] of Object.entries(p.throttleLimits)) {
      check(k in DEFAULT_THROTTLE_LIMITS, `unknown throttle limit "${k}"; known: ${Object.keys(DEFAULT_THROTTLE_LIMITS).join(", ")}`);
      check(typeof v === "number" && Number.isFinite(v) && v > 0, `throttle limit ${k} must be a number > 0, got ${String(v)}`);
    }
  }
}

export function applyConfigPatch(config: RuntimeConfig, p: ConfigPatch): void {
  validateConfigPatch(p);
  if (p.tokenLifetimeSeconds !== undefined) config.tokenLifetimeSeconds = p.tokenLifetimeSeconds;
  if (p.latencyMs !== undefined) config.latencyMs = p.latencyMs;
  if (p.faultRate !== undefined) config.faultRate = p.faultRate;
  if (p.faultKinds !== undefined) config.faultKinds = [...p.faultKinds];
  if (p.slowResponseMs !== undefined) config.slowResponseMs = p.slowResponseMs;
  if (p.throttle !== undefined) config.throttle = p.throttle;
  if (p.omitPerUserMfaStateInList !== undefined) config.omitPerUserMfaStateInList = p.omitPerUserMfaStateInList;
  if (p.throttleLimits !== undefined) config.throttleLimits = { ...config.throttleLimits, ...p.throttleLimits };
  if (p.cipp !== undefined) config.cipp = { ...config.cipp, ...p.cipp };
}

export function runtimeConfigFrom(options: EmulatorOptions): RuntimeConfig {
  const config: RuntimeConfig = {
    tokenLifetimeSeconds: 3599,
    latencyMs: 0,
    faultRate: 0,
    faultKinds: [...FAULT_KINDS],
    slowResponseMs: 2000,
    throttle: "realistic",
    throttleLimits: { ...DEFAULT_THROTTLE_LIMITS },
    omitPerUserMfaStateInList: false,
    cipp: { misreportFailures: false, ignoreUserId: false },
  };
  const patch: ConfigPatch = {};
  if (options.tokenLifetimeSeconds !== undefined) patch.tokenLifetimeSeconds = options.tokenLifetimeSeconds;
  if (options.latencyMs !== undefined) patch.latencyMs = options.latencyMs;
  if (options.faultRate !== undefined) patch.faultRate = options.faultRate;
  if (options.faultKinds !== undefined) patch.faultKinds = options.faultKinds;
  if (options.slowResponseMs !== undefined) patch.slowResponseMs = options.slowResponseMs;
  if (options.throttle !== undefined) patch.throttle = options.throttle;
  if (options.throttleLimits !== undefined) patch.throttleLimits = options.throttleLimits;
  if (options.omitPerUserMfaStateInList !== undefined) patch.omitPerUserMfaStateInList = options.omitPerUserMfaStateInList;
  if (options.cipp !== undefined) patch.cipp = options.cipp;
  applyConfigPatch(config, patch);
  return config;
}
