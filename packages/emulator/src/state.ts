/** The mutable emulator state shared by the Entra, Graph and admin surfaces. */
import { noApi, seededApps, seededSecret, type AppRecord } from "./apps.js";
import type { CertificateInfo } from "./ca.js";
import { findUser, type Tenant } from "./model.js";
import { allPartnerTenants, applyPartnerApps, seedPartner, type PartnerSeed } from "./partner.js";
import { createPrng, type Prng } from "./prng.js";
import type { EmulatorClock, RuntimeConfig, SeedParams } from "./options.js";
import { seedTenants } from "./seed.js";

export interface EmulatorStats {
  /** Graph requests executed: top-level requests other than $batch envelopes, plus every sub-request. */
  requests: number;
  /** $batch envelopes received. */
  batches: number;
  tokensIssued: number;
  /** Successful Graph PATCHes of per-user MFA state. */
  patches: number;
  /** "<tenantId>/<userId>" -> successful Graph PATCHes. */
  patchesByUser: Record<string, number>;
  /** x-ms-throttle-scope value -> 429s given for it. */
  throttled: Record<string, number>;
  throttledTotal: number;
  /** Random and scripted faults injected. */
  faultsInjected: number;
}

export function emptyStats(): EmulatorStats {
  return { requests: 0, batches: 0, tokensIssued: 0, patches: 0, patchesByUser: {}, throttled: {}, throttledTotal: 0, faultsInjected: 0 };
}

/** App roles of the seeded "mfactl API" held by named users of the first tenant (when the tenant has them). */
export const SEEDED_USER_ROLES: readonly (readonly [string, readonly string[]])[] = [
  ["adele.vance", ["Admin"]],
  ["alex.wilber", ["MfaState.ReadWrite"]],
  ["megan.bowen", ["MfaState.Read"]],
];

/** What the authorize endpoint remembers about a code until it is redeemed. */
export interface AuthCodeRecord {
  clientId: string;
  tenantId: string;
  userId: string;
  redirectUri: string;
  /** The platform the redirect URI is registered under: spa codes are redeemed cross-origin without a secret. */
  platform: "web" | "spa";
  /** The OIDC scopes asked (openid, profile, email, offline_access), lower case. */
  oidcScopes: string[];
  /** The API asked for, if any: its client id, the name it was asked by, and the delegated scopes granted. */
  resource?: { clientId: string; requestedAs: string; identifierUri?: string; scopes: string[]; requestedScopes: string[] };
  nonce?: string;
  codeChallenge?: string;
  /** Epoch ms (emulator clock). */
  expiresAt: number;
  redeemed: boolean;
}

/** A device code from POST /devicecode until it is redeemed or expires. */
export interface DeviceCodeRecord {
  deviceCode: string;
  userCode: string;
  clientId: string;
  /** The tenant named in the request path, or undefined for organizations/common. */
  tenantId: string | undefined;
  /** The scope parameter as sent. */
  scope: string;
  /** Epoch ms (emulator clock). */
  expiresAt: number;
  status: "pending" | "approved" | "declined" | "redeemed";
  /** Set on approval: the user and their home tenant. */
  userId?: string;
  homeTenantId?: string;
}

/** An issued refresh token: every redemption spends it and issues a new one (rotation). */
export interface RefreshTokenRecord {
  clientId: string;
  userId: string;
  homeTenantId: string;
  /** Epoch ms (emulator clock). */
  issuedAt: number;
  redeemed: boolean;
  revoked: boolean;
}

export class EmulatorState {
  tenants: Tenant[] = [];
  private tenantIndex = new Map<string, Tenant>();
  apps = new Map<string, AppRecord>();
  mainApp!: AppRecord;
  readOnlyApp!: AppRecord;
  /** "mfactl API" and its two seeded callers (first tenant). */
  apiApp!: AppRecord;
  apiReadWriteCaller!: AppRecord;
  apiReadOnlyCaller!: AppRecord;
  /** "mfactl dashboard": the SPA that signs users in (first tenant). */
  dashboardApp!: AppRecord;
  /** Authorization codes by code value (redeemed ones stay, to answer AADSTS54005); cleared on re-seed. */
  authCodes = new Map<string, AuthCodeRecord>();
  /** Device codes by device_code; cleared on re-seed. */
  deviceCodes = new Map<string, DeviceCodeRecord>();
  /** Refresh tokens by value (spent and revoked ones stay, to answer with the right error); cleared on re-seed. */
  refreshTokens = new Map<string, RefreshTokenRecord>();
  /** The partner tenant, its customers and GDAP relationships (only when seeded with `partner`). */
  partner: PartnerSeed | undefined;
  /** With planted problems: a second app, consented like the main one, whose secret has expired. */
  expiredSecretApp: AppRecord | undefined;
  stats: EmulatorStats = emptyStats();
  /** Shuffles $batch responses; re-created on reset so runs repeat. */
  batchPrng!: Prng;

  constructor(
    public seedParams: SeedParams,
    public readonly config: RuntimeConfig,
    public readonly clock: EmulatorClock,
    /** The main app's certificate: generated once per process start, kept across re-seeds. */
    public readonly clientCertificate: CertificateInfo,
  ) {
    this.reseed(seedParams);
  }

  /** Back to a freshly seeded directory, apps and counters. */
  reseed(params: SeedParams): void {
    this.seedParams = params;
    this.tenants = seedTenants(params);
    this.partner = params.partner ? seedPartner(params.seed, params.partner) : undefined;
    if (this.partner) this.tenants.push(...allPartnerTenants(this.partner));
    this.tenantIndex = new Map();
    for (const t of this.tenants) {
      this.tenantIndex.set(t.id.toLowerCase(), t);
      this.tenantIndex.set(t.domain.toLowerCase(), t);
    }
    const seeded = seededApps(params.seed, this.tenants.map((t) => t.id), this.clientCertificate);
    this.mainApp = seeded.main;
    this.readOnlyApp = seeded.readOnly;
    this.apiApp = seeded.api;
    this.apiReadWriteCaller = seeded.apiReadWrite;
    this.apiReadOnlyCaller = seeded.apiReadOnly;
    this.dashboardApp = seeded.dashboard;
    this.apps = new Map([seeded.main, seeded.readOnly, seeded.api, seeded.apiReadWrite, seeded.apiReadOnly, seeded.dashboard].map((a) => [a.clientId, a]));
    this.expiredSecretApp = undefined;
    if (this.partner) {
      const now = this.clock.now();
      if (this.partner.planted) {
        this.expiredSecretApp = {
          ...structuredClone({ ...seeded.main, certificates: [] }),
          clientId: createPrng(`${params.seed}/app/expired-secret`).guid(),
          displayName: "mfactl (expired secret)",
          secret: seededSecret(`${params.seed}/app/expired-secret/secret`),
          secretExpiresAt: now - 86_400_000,
          certificates: [],
          api: noApi(),
        };
        this.apps.set(this.expiredSecretApp.clientId, this.expiredSecretApp);
      }
      applyPartnerApps(this.partner, this.mainApp, now, this.expiredSecretApp);
    }
    const home = this.tenants[0];
    if (home) {
      const assigned = new Map<string, string[]>();
      for (const [local, roles] of SEEDED_USER_ROLES) {
        const user = findUser(home, `${local}@${home.domain}`);
        if (user) assigned.set(user.id, [...roles]);
      }
      this.apiApp.userRoles.set(home.id.toLowerCase(), assigned);
    }
    this.authCodes = new Map();
    this.deviceCodes = new Map();
    this.refreshTokens = new Map();
    this.stats = emptyStats();
    this.batchPrng = createPrng(`${params.seed}/batch-order`);
  }

  /** By tenant id or domain, case-insensitive. */
  findTenant(ref: string): Tenant | undefined {
    return this.tenantIndex.get(ref.toLowerCase());
  }

  findApp(clientId: string): AppRecord | undefined {
    return this.apps.get(clientId.toLowerCase());
  }

  /** A resource as a token request names it: its client id, or one of its identifier URIs (case-insensitive). */
  findResource(ref: string): { app: AppRecord; identifierUri?: string } | undefined {
    const byId = this.findApp(ref);
    if (byId) return { app: byId };
    const key = ref.toLowerCase();
    for (const app of this.apps.values()) {
      const uri = app.api.identifierUris.find((u) => u.toLowerCase() === key);
      if (uri !== undefined) return { app, identifierUri: uri };
    }
    return undefined;
  }
}
