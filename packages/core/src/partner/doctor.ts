import type { AccessMode } from "../auth/delegated.js";
import { authCauseOf } from "../auth/errors.js";
import { AuthError, GraphError, NetworkError } from "../domain/errors.js";
import type { GraphClient } from "../transport/types.js";
import { graphCollection, type SyncedCustomer } from "./customers.js";
import { gdapAccess, gdapRoleName } from "./roles.js";

/**
 * `mfactl doctor` as data: per tenant, whether mfactl can work there and what to fix. Core only reads and decides;
 * the CLI prints. A check that cannot run (no token) is `skipped`, never guessed.
 */
export type CheckStatus = "ok" | "warn" | "fail" | "skipped";
export const DOCTOR_CHECKS = ["token", "permissions", "gdapRoles", "licences", "appCredential"] as const;
export type DoctorCheckName = (typeof DOCTOR_CHECKS)[number];

export interface DoctorCheck {
  check: DoctorCheckName;
  status: CheckStatus;
  message: string;
  /** What to do about it (warn and fail). */
  fix?: string | undefined;
  /** Entra or Graph code behind the result, when there is one. */
  code?: string | undefined;
}

export type { AccessMode };

export interface TenantDoctorResult {
  tenant: string;
  accessMode: AccessMode;
  /** The worst of the checks (skipped counts as ok). */
  status: "ok" | "warn" | "fail";
  checks: DoctorCheck[];
}

/** A permission mfactl needs, the features that need it, and which granted permissions satisfy it. */
export interface PermissionNeed {
  permission: string;
  anyOf: readonly string[];
  /** What is lost without it: "<commands> cannot <what>". */
  loses: string;
  /** fail: mfactl's own job (read and change per-user MFA); warn: a feature is degraded. */
  severity: "fail" | "warn";
}

export const PERMISSION_NEEDS: readonly PermissionNeed[] = [
  { permission: "User.Read.All", anyOf: ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"], loses: "every command cannot list or find users", severity: "fail" },
  {
    permission: "Policy.Read.All",
    anyOf: ["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"],
    loses: "get, report, drift and plan cannot read per-user MFA",
    severity: "fail",
  },
  // Conditional Access and security defaults are read with Policy.Read.All only.
  { permission: "Policy.Read.All", anyOf: ["Policy.Read.All"], loses: "posture and migrate cannot read Conditional Access and security defaults", severity: "warn" },
  {
    permission: "Policy.ReadWrite.AuthenticationMethod",
    anyOf: ["Policy.ReadWrite.AuthenticationMethod", "UserAuthenticationMethod.ReadWrite.All"],
    loses: "set, bulk set, apply, enforce, undo and resume cannot change per-user MFA",
    severity: "fail",
  },
  { permission: "AuditLog.Read.All", anyOf: ["AuditLog.Read.All"], loses: "posture cannot read MFA registration and last sign-ins", severity: "warn" },
  { permission: "RoleManagement.Read.Directory", anyOf: ["RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory", "Directory.Read.All", "Directory.ReadWrite.All"], loses: "posture and plan cannot tell who is an admin (or the sync account)", severity: "warn" },
  { permission: "Directory.Read.All", anyOf: ["Directory.Read.All", "Directory.ReadWrite.All", "GroupMember.Read.All", "Group.Read.All"], loses: "bulk set --group, plan and posture cannot read group members", severity: "warn" },
  { permission: "UserAuthenticationMethod.Read.All", anyOf: ["UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"], loses: "plan cannot warn about users with no method registered", severity: "warn" },
];

/** The claims doctor reads from an access token (payload only; the signature is Graph's business). */
export interface TokenClaims {
  tid?: string | undefined;
  roles?: string[] | undefined;
  scp?: string | undefined;
  appid?: string | undefined;
}

export function decodeTokenClaims(token: string): TokenClaims | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    return {
      tid: typeof claims["tid"] === "string" ? claims["tid"] : undefined,
      roles: Array.isArray(claims["roles"]) ? claims["roles"].filter((r): r is string => typeof r === "string") : undefined,
      scp: typeof claims["scp"] === "string" ? claims["scp"] : undefined,
      appid: typeof claims["appid"] === "string" ? claims["appid"] : typeof claims["azp"] === "string" ? claims["azp"] : undefined,
    };
  } catch {
    return undefined;
  }
}

/** The needs the granted permissions (app roles or delegated scopes) leave unmet. */
export function missingPermissions(granted: readonly string[]): PermissionNeed[] {
  const have = new Set(granted.map((g) => g.toLowerCase()));
  return PERMISSION_NEEDS.filter((n) => !n.anyOf.some((p) => have.has(p.toLowerCase())));
}

/** What the token failure means and what to do, in an MSP's words. */
export function explainTokenFailure(error: unknown, ctx: { tenant: string; clientId: string; accessMode: AccessMode; consentUrl: string }): DoctorCheck {
  if (error instanceof AuthError) {
    const cause = authCauseOf(error) ?? (error.code === "consent_required" ? "consentMissing" : error.code === "invalid_grant" ? "signInAgain" : undefined);
    const codes = new Set(error.aadstsCodes);
    const code = error.aadstsCodes.length ? `AADSTS${error.aadstsCodes[0]}` : error.code;
    const login = ctx.accessMode === "gdap" ? "mfactl login --partner" : `mfactl login --tenant ${ctx.tenant}`;
    if (cause === "consentMissing")
      return { check: "token", status: "fail", code, message: `App ${ctx.clientId} is not consented in ${ctx.tenant} (${code}).`, fix: `A Global Administrator of ${ctx.tenant} opens ${ctx.consentUrl} and accepts (mfactl consent-url --tenant ${ctx.tenant}).` };
    if (cause === "secretExpired")
      return { check: "token", status: "fail", code, message: `The client secret of app ${ctx.clientId} has expired (${code}).`, fix: "Create a new client secret in the app registration and update MFACTL_CLIENT_SECRET or the profile's clientSecret." };
    if (codes.has(7000215))
      return { check: "token", status: "fail", code, message: `The client secret is not valid for app ${ctx.clientId} (${code}).`, fix: "Check MFACTL_CLIENT_SECRET or the profile's clientSecret." };
    if (cause === "signInAgain" || cause === "notSignedIn")
      return { check: "token", status: "fail", code, message: error.message, fix: `Sign in again: ${login}.` };
    if (cause === "noRelationship")
      return { check: "token", status: "fail", code, message: `No active GDAP relationship gives the partner access to ${ctx.tenant} (${code}).`, fix: "Create or renew a GDAP relationship with the customer in Partner Center, then run mfactl tenants sync." };
    return { check: "token", status: "fail", code, message: error.message, fix: ctx.accessMode !== "app" ? `Check the sign-in (${login}) and, through GDAP, the relationship.` : "Check the app registration, its credential and its consent in this tenant." };
  }
  if (error instanceof NetworkError) return { check: "token", status: "fail", code: error.code, message: error.message, fix: "Check the network path to the authority (proxy, firewall, --ca-file)." };
  const message = error instanceof Error ? error.message : String(error);
  return { check: "token", status: "fail", message };
}

export interface AppCredentialInfo {
  kind: "secret" | "certificate";
  /** The first characters of the secret in use (Graph's `hint`), to find it among the app's secrets. */
  secretHint?: string | undefined;
}

interface CredentialWire {
  keyId?: unknown;
  displayName?: unknown;
  endDateTime?: unknown;
  hint?: unknown;
}

/**
 * The app registration's secret or certificate expiry, read in the tenant the app is registered in
 * (`GET /v1.0/applications?$filter=appId eq '<id>'`, needs Application.Read.All). Expired: fail; under 30 days: warn.
 * `undefined` when the app is not registered in that tenant (look in another one).
 */
export async function checkAppCredential(graph: GraphClient, homeTenant: string, clientId: string, credential: AppCredentialInfo, now: Date, signal?: AbortSignal): Promise<DoctorCheck | undefined> {
  let app: { passwordCredentials?: CredentialWire[]; keyCredentials?: CredentialWire[] } | undefined;
  try {
    for await (const a of graphCollection<typeof app>(graph, homeTenant, `/v1.0/applications?$filter=${encodeURIComponent(`appId eq '${clientId}'`)}&$select=${encodeURIComponent("appId,passwordCredentials,keyCredentials")}`, signal)) {
      app = a;
      break;
    }
  } catch (error) {
    if (error instanceof GraphError && (error.status === 403 || error.status === 401))
      return { check: "appCredential", status: "warn", code: error.code, message: `Cannot read the registration of app ${clientId} in ${homeTenant} to check its ${credential.kind}'s expiry (${error.code}).`, fix: "Grant the app Application.Read.All, or check the expiry in the Entra admin center (App registrations > Certificates & secrets)." };
    if (error instanceof GraphError) return { check: "appCredential", status: "warn", code: error.code, message: `Reading the registration of app ${clientId} failed: ${error.message}` };
    throw error;
  }
  if (!app) return undefined;
  const list = (credential.kind === "secret" ? app.passwordCredentials : app.keyCredentials) ?? [];
  const what = credential.kind === "secret" ? "client secret" : "certificate";
  const dated = list.flatMap((c) => (typeof c.endDateTime === "string" && !Number.isNaN(Date.parse(c.endDateTime)) ? [{ ...c, end: Date.parse(c.endDateTime) }] : []));
  const inUse = credential.secretHint ? dated.filter((c) => typeof c.hint === "string" && credential.secretHint!.startsWith(c.hint)) : [];
  const candidates = inUse.length ? inUse : dated;
  if (candidates.length === 0) return { check: "appCredential", status: "warn", message: `App ${clientId} has no ${what} with an end date.`, fix: `Add a ${what} to the app registration.` };
  const best = candidates.reduce((a, b) => (b.end > a.end ? b : a));
  const name = typeof best.displayName === "string" && best.displayName !== "" ? ` "${best.displayName}"` : "";
  const endIso = new Date(best.end).toISOString();
  const days = Math.floor((best.end - now.getTime()) / 86_400_000);
  if (best.end <= now.getTime())
    return { check: "appCredential", status: "fail", code: "CredentialExpired", message: `The ${what}${name} of app ${clientId} expired on ${endIso}.`, fix: `Create a new ${what} in the app registration and update the profile.` };
  if (days < 30)
    return { check: "appCredential", status: "warn", code: "CredentialExpiring", message: `The ${what}${name} of app ${clientId} expires in ${days} day${days === 1 ? "" : "s"} (${endIso}).`, fix: `Create a new ${what} before then and update the profile.` };
  return { check: "appCredential", status: "ok", message: `The ${what}${name} of app ${clientId} is valid until ${endIso} (${days} days).` };
}

interface SkuWire {
  skuPartNumber?: unknown;
  capabilityStatus?: unknown;
  servicePlans?: { servicePlanName?: unknown; provisioningStatus?: unknown }[];
}

/** Entra ID P1/P2 (`AAD_PREMIUM` / `AAD_PREMIUM_P2` service plans) from `/subscribedSkus`: the posture report's registration and sign-in sources need it. */
export async function checkLicences(graph: GraphClient, tenant: string, signal?: AbortSignal): Promise<DoctorCheck> {
  const found = new Set<string>();
  const skus: string[] = [];
  try {
    for await (const sku of graphCollection<SkuWire>(graph, tenant, "/v1.0/subscribedSkus", signal)) {
      if (sku.capabilityStatus !== undefined && sku.capabilityStatus !== "Enabled" && sku.capabilityStatus !== "Warning") continue;
      if (typeof sku.skuPartNumber === "string") skus.push(sku.skuPartNumber);
      for (const plan of sku.servicePlans ?? []) {
        if (plan.servicePlanName !== "AAD_PREMIUM" && plan.servicePlanName !== "AAD_PREMIUM_P2") continue;
        if (plan.provisioningStatus === "Disabled") continue;
        found.add(plan.servicePlanName === "AAD_PREMIUM_P2" ? "P2" : "P1");
      }
    }
  } catch (error) {
    if (error instanceof GraphError)
      return { check: "licences", status: "warn", code: error.code, message: `Cannot read the licences of ${tenant} (${error.code}).`, fix: "Grant Directory.Read.All (or Organization.Read.All) to check them." };
    throw error;
  }
  if (found.size === 0)
    return {
      check: "licences",
      status: "warn",
      code: "LicenceRequired",
      message: `${tenant} has no Microsoft Entra ID P1 or P2${skus.length ? ` (subscriptions: ${skus.join(", ")})` : ""}: posture cannot read MFA registration or last sign-ins there (shown as unknown).`,
      fix: "License Entra ID P1 (or a bundle with it, e.g. Microsoft 365 Business Premium) to see registration and sign-in activity.",
    };
  return { check: "licences", status: "ok", message: `Microsoft Entra ID ${[...found].sort().join(" and ")} (${skus.join(", ")}).` };
}

/** The GDAP relationship's roles against what mfactl needs. In app-only mode they are informational. */
export function checkGdapRoles(tenant: string, accessMode: AccessMode, customer: SyncedCustomer | undefined, synced: boolean): DoctorCheck {
  if (accessMode === "delegated") return { check: "gdapRoles", status: "skipped", message: "A tenant administrator's own sign-in: their directory roles apply, not GDAP." };
  if (accessMode === "app") {
    if (!customer) return { check: "gdapRoles", status: "skipped", message: "App-only access does not use GDAP." };
    return { check: "gdapRoles", status: "ok", message: `App-only access does not use GDAP (the relationship gives ${customer.access}: ${customer.roles.join(", ") || "no roles"}).` };
  }
  if (!customer || customer.access === "no relationship") {
    return {
      check: "gdapRoles",
      status: "fail",
      code: "noRelationship",
      message: synced ? `The partner has no GDAP relationship with ${tenant}.` : `No synced customers: GDAP roles of ${tenant} unknown.`,
      fix: synced ? "Create a GDAP relationship with Authentication Policy Administrator (and Global Reader) in Partner Center, then run mfactl tenants sync." : "Run mfactl tenants sync.",
    };
  }
  const access = gdapAccess(customer.roleIds);
  const roles = customer.roleIds.map(gdapRoleName).join(", ") || "no roles";
  if (access === "read+write") return { check: "gdapRoles", status: "ok", message: `GDAP roles: ${roles} (read and write).` };
  if (access === "read")
    return { check: "gdapRoles", status: "fail", code: "missingRole", message: `The GDAP relationship with ${tenant} lacks Authentication Policy Administrator (roles: ${roles}): reads work, writing per-user MFA will fail.`, fix: "Add Authentication Policy Administrator to the relationship (a new relationship or access assignment in Partner Center), then run mfactl tenants sync." };
  return { check: "gdapRoles", status: "fail", code: "missingRole", message: `No active GDAP relationship role of ${tenant} lets mfactl read users (roles: ${roles}).`, fix: "Give the relationship Global Reader and Authentication Policy Administrator, then run mfactl tenants sync." };
}

export interface DoctorTenantInput {
  tenant: string;
  accessMode: AccessMode;
  clientId: string;
  consentUrl: string;
  /** An access token for the tenant in its access mode; throws AuthError / NetworkError. */
  getToken(tenant: string): Promise<string>;
  /** Graph with the same token source. */
  graph: GraphClient;
  customer: SyncedCustomer | undefined;
  /** A sync was run (so "not in the cache" means "no relationship"). */
  synced: boolean;
  signal?: AbortSignal | undefined;
}

/** Token, permissions, GDAP roles and licences for one tenant (the app's credential is checked once, by `checkAppCredential`). */
export async function doctorTenant(input: DoctorTenantInput): Promise<TenantDoctorResult> {
  const { tenant, accessMode } = input;
  const checks: DoctorCheck[] = [];
  let token: string | undefined;
  try {
    token = await input.getToken(tenant);
    checks.push({ check: "token", status: "ok", message: `${accessMode === "app" ? "App-only" : accessMode === "gdap" ? "GDAP delegated" : "Delegated"} token for ${tenant} acquired.` });
  } catch (error) {
    if (input.signal?.aborted) throw error;
    checks.push(explainTokenFailure(error, { tenant, clientId: input.clientId, accessMode, consentUrl: input.consentUrl }));
  }
  checks.push(token === undefined ? { check: "permissions", status: "skipped", message: "Needs a token." } : permissionsCheck(token, accessMode));
  checks.push(checkGdapRoles(tenant, accessMode, input.customer, input.synced));
  checks.push(token === undefined ? { check: "licences", status: "skipped", message: "Needs a token." } : await checkLicences(input.graph, tenant, input.signal));
  return { tenant, accessMode, status: worst(checks), checks };
}

function permissionsCheck(token: string, accessMode: AccessMode): DoctorCheck {
  const claims = decodeTokenClaims(token);
  const granted = accessMode === "app" ? claims?.roles : claims?.scp?.split(" ").filter(Boolean);
  if (!claims || (accessMode === "app" && granted === undefined && claims.scp === undefined)) {
    if (claims && accessMode === "app") return { check: "permissions", status: "fail", code: "PermissionMissing", message: "The app-only token carries no application permissions (no roles claim).", fix: "Grant the app's application permissions admin consent in this tenant." };
    return { check: "permissions", status: "skipped", message: "The token's claims could not be read." };
  }
  const missing = missingPermissions(granted ?? []);
  const kind = accessMode === "app" ? "application permission" : "delegated permission";
  if (missing.length === 0) return { check: "permissions", status: "ok", message: `Every ${kind} mfactl uses is granted (${(granted ?? []).length} granted).` };
  const status = missing.some((m) => m.severity === "fail") ? "fail" : "warn";
  return {
    check: "permissions",
    status,
    code: "PermissionMissing",
    message: `Missing ${kind}${new Set(missing.map((m) => m.permission)).size > 1 ? "s" : ""}: ${missing.map((m) => `${m.permission} (${m.loses})`).join("; ")}.`,
    fix: accessMode === "app" ? "Add the permissions to the app registration and grant admin consent in this tenant again (mfactl consent-url)." : "Add the delegated permissions to the app registration and consent again.",
  };
}

export function worst(checks: readonly DoctorCheck[]): "ok" | "warn" | "fail" {
  if (checks.some((c) => c.status === "fail")) return "fail";
  if (checks.some((c) => c.status === "warn")) return "warn";
  return "ok";
}
