/**
 * The sources of an MFA posture report: a tenant's licence (Entra ID P1/P2), security defaults, Conditional
 * Access policies, users' last sign-ins, and the authentication-methods registration report derived from them.
 */
import {
  DIRECTORY_SYNCHRONIZATION_ACCOUNTS, ROLE_DEFINITIONS,
  type AuthenticationStrength, type ConditionalAccessPolicy, type ConditionalAccessPolicyState, type Tenant, type UserRecord,
} from "./model.js";
import { InvalidOptionError } from "./options.js";
import { createPrng, type Prng } from "./prng.js";

/** The id Graph gives the one security defaults policy object. */
export const SECURITY_DEFAULTS_POLICY_ID = "00000000-0000-0000-0000-000000000005";
/** Exchange Online and SharePoint Online: the "some apps" of the seeded Finance policy. */
export const EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000";
export const SHAREPOINT_ONLINE_APP_ID = "00000003-0000-0ff1-ce00-000000000000";

/** The built-in "Multifactor authentication" authentication strength. */
export const MFA_STRENGTH: AuthenticationStrength = {
  id: "00000000-0000-0000-0000-000000000002",
  displayName: "Multifactor authentication",
  requirementsSatisfied: "mfa",
  allowedCombinations: [
    "windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor", "deviceBasedPush", "temporaryAccessPassOneTime", "temporaryAccessPassMultiUse",
    "password,microsoftAuthenticatorPush", "password,softwareOath", "password,hardwareOath", "password,sms", "password,voice", "federatedMultiFactor",
    "microsoftAuthenticatorPush,federatedSingleFactor", "softwareOath,federatedSingleFactor", "hardwareOath,federatedSingleFactor",
    "sms,federatedSingleFactor", "voice,federatedSingleFactor",
  ],
};

/** Every seeded admin role but Directory Synchronization Accounts (the admin policy's includeRoles). */
export const ADMIN_POLICY_ROLES: readonly string[] = ROLE_DEFINITIONS.map((r) => r.id).filter((id) => id !== DIRECTORY_SYNCHRONIZATION_ACCOUNTS);

/** Posture kinds, cycled by tenant index (index % 3): contoso-like, fabrikam-like, northwind-like. */
export type PostureKind = "conditionalAccess" | "securityDefaults" | "unlicensed";
export function postureKind(index: number): PostureKind {
  return (["conditionalAccess", "securityDefaults", "unlicensed"] as const)[index % 3] as PostureKind;
}

/** Sign-ins lie in the 180 days before this instant (fixed, so seeded data never depends on the wall clock). */
export const SIGN_IN_REFERENCE = Date.UTC(2025, 5, 1);
const DAY_S = 86_400;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/** Fixed-user positions (seed.ts's FIXED_USERS). */
const GUEST = 4;
const FORMER_EMPLOYEE = 5;
const BREAKGLASS = 7;

const users = (u: Partial<ConditionalAccessPolicy["conditions"]["users"]>): ConditionalAccessPolicy["conditions"]["users"] => ({
  includeUsers: [], excludeUsers: [], includeGroups: [], excludeGroups: [], includeRoles: [], excludeRoles: [],
  includeGuestsOrExternalUsers: null, excludeGuestsOrExternalUsers: null, ...u,
});

function policy(
  prng: Prng, displayName: string, state: ConditionalAccessPolicyState, u: Partial<ConditionalAccessPolicy["conditions"]["users"]>,
  includeApplications: string[], grant: { operator?: "OR" | "AND"; builtInControls?: string[]; authenticationStrength?: AuthenticationStrength },
): ConditionalAccessPolicy {
  const id = prng.guid();
  const created = Date.UTC(2023, 0, 1) + prng.int(365 * DAY_S) * 1000;
  const modified = created + prng.int(180 * DAY_S) * 1000;
  return {
    id,
    displayName,
    state,
    createdDateTime: iso(created),
    modifiedDateTime: iso(modified),
    conditions: {
      users: users(u),
      applications: { includeApplications, excludeApplications: [], includeUserActions: [] },
      clientAppTypes: ["all"],
      platforms: null,
      locations: null,
    },
    grantControls: {
      operator: grant.operator ?? "OR",
      builtInControls: grant.builtInControls ?? [],
      customAuthenticationFactors: [],
      termsOfUse: [],
      authenticationStrength: grant.authenticationStrength ? structuredClone(grant.authenticationStrength) : null,
    },
    sessionControls: null,
  };
}

/**
 * Sets the tenant's licence, security defaults, Conditional Access policies and users' last sign-ins from its own
 * stream (`${seed}/tenant/${index}/posture`): users, groups and roles are not touched. Policies that name groups
 * exist only where the seeded groups do (tenants with all nine fixed users).
 */
export function seedPosture(seed: string, index: number, tenant: Tenant): void {
  const prng = createPrng(`${seed}/tenant/${index}/posture`);
  const kind = postureKind(index);
  tenant.premium = kind !== "unlicensed";
  tenant.securityDefaultsEnabled = kind === "securityDefaults";
  // Six policy ids and dates are drawn whatever the tenant looks like, so sign-ins stay put.
  const draws = Array.from({ length: 6 }, () => createPrng(prng.guid()));
  const group = (name: string) => tenant.groups.find((g) => g.displayName === name)?.id;
  const [allStaff, finance, mfaExclusions, emergency] = [group("All Staff"), group("Finance"), group("MFA Exclusions"), group("Emergency Access")];
  const breakglass = tenant.users[BREAKGLASS]?.id;
  const only = (id: string | undefined) => (id === undefined ? [] : [id]);
  const d = (i: number) => draws[i] as Prng;
  const policies: ConditionalAccessPolicy[] = [];
  if (kind === "conditionalAccess") {
    policies.push(policy(d(0), "Require MFA for admins", "enabled", { includeRoles: [...ADMIN_POLICY_ROLES], excludeGroups: only(emergency) }, ["All"], { builtInControls: ["mfa"] }));
    policies.push(policy(d(1), "Require MFA for all users", "enabled",
      { includeUsers: ["All"], excludeUsers: only(breakglass), excludeGroups: only(mfaExclusions), excludeRoles: [DIRECTORY_SYNCHRONIZATION_ACCOUNTS] },
      ["All"], { authenticationStrength: MFA_STRENGTH }));
    if (finance) policies.push(policy(d(2), "MFA for Finance apps", "enabled", { includeGroups: [finance] }, [EXCHANGE_ONLINE_APP_ID, SHAREPOINT_ONLINE_APP_ID], { builtInControls: ["mfa"] }));
    if (allStaff) policies.push(policy(d(3), "MFA or compliant device", "enabled", { includeGroups: [allStaff] }, ["All"], { operator: "OR", builtInControls: ["mfa", "compliantDevice"] }));
    policies.push(policy(d(4), "Report-only: block legacy", "enabledForReportingButNotEnforced", { includeUsers: ["All"] }, ["All"], { builtInControls: ["mfa"] }));
    policies.push(policy(d(5), "Disabled policy", "disabled", { includeUsers: ["All"] }, ["All"], { builtInControls: ["mfa"] }));
  }
  tenant.conditionalAccessPolicies = policies;
  seedSignIns(prng, tenant.users);
}

/** Two draws per user, in user order (earlier users keep their sign-ins as the tenant grows); about 10% never signed in. */
function seedSignIns(prng: Prng, list: readonly UserRecord[]): void {
  for (let i = 0; i < list.length; i++) {
    const u = list[i] as UserRecord;
    const never = prng.next() < 0.1;
    const ago = prng.int(180 * DAY_S);
    let at: string | null = never ? null : iso(SIGN_IN_REFERENCE - ago * 1000);
    // The named guest and the break-glass account never signed in; the former employee's last sign-in is old.
    if (i === GUEST || i === BREAKGLASS) at = null;
    else if (i === FORMER_EMPLOYEE) at = iso(SIGN_IN_REFERENCE - (400 * DAY_S + ago) * 1000);
    u.lastSignInDateTime = at;
  }
}

/** microsoft.graph.signInActivity of a user: everything but the interactive sign-in is derived from it. */
export function signInActivity(u: UserRecord): Record<string, string | null> {
  if (u.lastSignInDateTime === null)
    return {
      lastSignInDateTime: null, lastSignInRequestId: null, lastNonInteractiveSignInDateTime: null, lastNonInteractiveSignInRequestId: null,
      lastSuccessfulSignInDateTime: null, lastSuccessfulSignInRequestId: null,
    };
  const prng = createPrng(`sign-in/${u.id}/${u.lastSignInDateTime}`);
  const interactiveId = prng.guid();
  const nonInteractive = iso(Date.parse(u.lastSignInDateTime) + (1 + prng.int(36 * 3600)) * 1000);
  return {
    lastSignInDateTime: u.lastSignInDateTime,
    lastSignInRequestId: interactiveId,
    lastNonInteractiveSignInDateTime: nonInteractive,
    lastNonInteractiveSignInRequestId: prng.guid(),
    lastSuccessfulSignInDateTime: u.lastSignInDateTime,
    lastSuccessfulSignInRequestId: interactiveId,
  };
}

/** Methods that count as registered for MFA (email and a temporary access pass do not). */
const MFA_METHODS = new Set(["microsoftAuthenticatorPush", "mobilePhone", "softwareOneTimePasscode", "fido2", "windowsHelloForBusiness"]);
const SSPR_METHODS = new Set(["microsoftAuthenticatorPush", "mobilePhone", "softwareOneTimePasscode", "email"]);
const PASSWORDLESS_METHODS = new Set(["fido2", "windowsHelloForBusiness"]);

/** The properties of microsoft.graph.userRegistrationDetails (beta), in Graph's order. */
export const REGISTRATION_PROPERTIES = [
  "id", "userPrincipalName", "userDisplayName", "userType", "isAdmin", "isSsprRegistered", "isSsprEnabled", "isSsprCapable", "isMfaRegistered",
  "isMfaCapable", "isPasswordlessCapable", "methodsRegistered", "isSystemPreferredAuthenticationMethodEnabled", "systemPreferredAuthenticationMethods",
  "userPreferredMethodForSecondaryAuthentication", "defaultMfaMethod", "lastUpdatedDateTime",
] as const;

/** A user's row of the registration report; `isAdmin` = holds any directory role. Disabled users are not listed by the caller. */
export function registrationDetails(u: UserRecord, adminIds: ReadonlySet<string>): Record<string, unknown> {
  const methods = [...new Set(u.methods)];
  const has = (m: string) => methods.includes(m);
  const mfa = methods.some((m) => MFA_METHODS.has(m));
  const sspr = methods.some((m) => SSPR_METHODS.has(m));
  const ssprEnabled = u.userType === "Member";
  // Graph's defaultMfaMethod enum has no FIDO2 or Windows Hello value: a key-only user reads "none".
  const defaultMfaMethod = has("microsoftAuthenticatorPush") ? "microsoftAuthenticatorPush" : has("mobilePhone") ? "mobilePhone" : has("softwareOneTimePasscode") ? "softwareOneTimePassword" : "none";
  const preferred = { microsoftAuthenticatorPush: "push", mobilePhone: "sms", softwareOneTimePassword: "oath", none: "none" }[defaultMfaMethod];
  const system = has("fido2") ? ["Fido2"] : has("windowsHelloForBusiness") ? [] : has("microsoftAuthenticatorPush") ? ["Push"] : has("softwareOneTimePasscode") ? ["Oath"] : has("mobilePhone") ? ["Sms"] : [];
  const updated = Date.UTC(2025, 4, 1) + createPrng(`registration/${u.id}`).int(30 * DAY_S) * 1000;
  return {
    id: u.id,
    userPrincipalName: u.userPrincipalName,
    userDisplayName: u.displayName,
    userType: u.userType === "Member" ? "member" : "guest",
    isAdmin: adminIds.has(u.id),
    isSsprRegistered: sspr,
    isSsprEnabled: ssprEnabled,
    isSsprCapable: ssprEnabled && sspr,
    isMfaRegistered: mfa,
    isMfaCapable: mfa,
    isPasswordlessCapable: methods.some((m) => PASSWORDLESS_METHODS.has(m)),
    methodsRegistered: methods,
    isSystemPreferredAuthenticationMethodEnabled: true,
    systemPreferredAuthenticationMethods: system,
    userPreferredMethodForSecondaryAuthentication: preferred,
    defaultMfaMethod,
    lastUpdatedDateTime: iso(updated),
  };
}

/** Boolean properties a registration-report $filter may test with `eq true|false`. */
const FILTER_BOOLEANS = ["isAdmin", "isMfaRegistered", "isMfaCapable", "isSsprRegistered", "isPasswordlessCapable"] as const;

/** `userType eq 'member'|'guest'` and `<boolean> eq true|false` (FILTER_BOOLEANS), joined by `and`; anything else 400. */
export function parseRegistrationFilter(text: string, adminIds: ReadonlySet<string>): ((u: UserRecord) => boolean) | { status: number; code: string; message: string } {
  const tests: ((u: UserRecord) => boolean)[] = [];
  for (const raw of text.trim().split(/\s+and\s+/i)) {
    const clause = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^userType\s+eq\s+'(member|guest)'$/i.exec(clause))) {
      const want = m[1]?.toLowerCase() === "member" ? "Member" : "Guest";
      tests.push((u) => u.userType === want);
    } else if ((m = /^([A-Za-z]+)\s+eq\s+(true|false)$/i.exec(clause)) && FILTER_BOOLEANS.some((b) => b.toLowerCase() === m?.[1]?.toLowerCase())) {
      const name = FILTER_BOOLEANS.find((b) => b.toLowerCase() === m?.[1]?.toLowerCase()) as (typeof FILTER_BOOLEANS)[number];
      const want = m[2]?.toLowerCase() === "true";
      tests.push((u) => registrationDetails(u, adminIds)[name] === want);
    } else {
      return { status: 400, code: "Request_UnsupportedQuery", message: `Unsupported or invalid query filter clause specified: '${clause}'.` };
    }
  }
  return (u) => tests.every((t) => t(u));
}

// ---- validation of admin-supplied policies ----

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STATES: readonly ConditionalAccessPolicyState[] = ["enabled", "disabled", "enabledForReportingButNotEnforced"];
const CONTROLS = ["block", "mfa", "compliantDevice", "domainJoinedDevice", "approvedApplication", "compliantApplication", "passwordChange"];

function bad(message: string): never {
  throw new InvalidOptionError(message);
}

function ids(value: unknown, what: string, keywords: readonly string[]): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) bad(`${what} must be a list of strings`);
  for (const v of value as string[])
    if (!GUID.test(v) && !keywords.includes(v)) bad(`${what}: '${v}' is neither a GUID nor one of ${keywords.length > 0 ? keywords.join(", ") : "(no keywords)"}`);
  return [...(value as string[])];
}

const record = (v: unknown, what: string): Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad(`${what} must be an object`);
  return v as Record<string, unknown>;
};

/**
 * A policy in Graph's shape from admin input: displayName, state, conditions.users and
 * conditions.applications.includeApplications are required; grantControls may be null. Missing lists are empty.
 */
export function validatePolicy(input: unknown, id: string, nowIso: string): ConditionalAccessPolicy {
  const p = record(input, "the policy");
  const known = new Set(["id", "displayName", "state", "conditions", "grantControls", "sessionControls", "createdDateTime", "modifiedDateTime", "templateId", "@odata.type"]);
  for (const k of Object.keys(p)) if (!known.has(k)) bad(`unknown policy property '${k}'`);
  if (typeof p["displayName"] !== "string" || p["displayName"].trim() === "") bad("displayName must be a non-empty string");
  if (!STATES.includes(p["state"] as ConditionalAccessPolicyState)) bad(`state must be one of ${STATES.join(", ")}`);
  if (p["id"] !== undefined && (typeof p["id"] !== "string" || !GUID.test(p["id"]))) bad("id must be a GUID");
  if (p["sessionControls"] !== undefined && p["sessionControls"] !== null) bad("sessionControls are not emulated: give null");
  const conditions = record(p["conditions"], "conditions");
  const u = record(conditions["users"], "conditions.users");
  const apps = record(conditions["applications"], "conditions.applications");
  if (!Array.isArray(apps["includeApplications"])) bad("conditions.applications.includeApplications is required");
  if (conditions["clientAppTypes"] !== undefined && !(Array.isArray(conditions["clientAppTypes"]) && conditions["clientAppTypes"].every((c) => typeof c === "string")))
    bad("conditions.clientAppTypes must be a list of strings");
  const userKeywords = ["All", "None", "GuestsOrExternalUsers"];
  const appKeywords = ["All", "Office365", "None", "MicrosoftAdminPortals"];
  let grantControls: ConditionalAccessPolicy["grantControls"] = null;
  if (p["grantControls"] !== undefined && p["grantControls"] !== null) {
    const g = record(p["grantControls"], "grantControls");
    const operator = g["operator"] ?? "OR";
    if (operator !== "OR" && operator !== "AND") bad("grantControls.operator must be OR or AND");
    const controls = g["builtInControls"] ?? [];
    if (!Array.isArray(controls) || !controls.every((c) => typeof c === "string" && CONTROLS.includes(c))) bad(`grantControls.builtInControls must be a list of ${CONTROLS.join(", ")}`);
    let strength: AuthenticationStrength | null = null;
    if (g["authenticationStrength"] !== undefined && g["authenticationStrength"] !== null) {
      const s = record(g["authenticationStrength"], "grantControls.authenticationStrength");
      if (s["requirementsSatisfied"] !== "mfa" && s["requirementsSatisfied"] !== "none") bad("authenticationStrength.requirementsSatisfied must be mfa or none");
      strength = {
        id: typeof s["id"] === "string" ? s["id"] : MFA_STRENGTH.id,
        displayName: typeof s["displayName"] === "string" ? s["displayName"] : "Custom authentication strength",
        requirementsSatisfied: s["requirementsSatisfied"],
        allowedCombinations: Array.isArray(s["allowedCombinations"]) ? (s["allowedCombinations"] as unknown[]).map(String) : [],
      };
    }
    if (controls.length === 0 && strength === null) bad("grantControls needs builtInControls or an authenticationStrength (or give grantControls: null)");
    grantControls = { operator, builtInControls: [...(controls as string[])], customAuthenticationFactors: [], termsOfUse: [], authenticationStrength: strength };
  }
  return {
    id: typeof p["id"] === "string" ? p["id"].toLowerCase() : id,
    displayName: p["displayName"],
    state: p["state"] as ConditionalAccessPolicyState,
    createdDateTime: nowIso,
    modifiedDateTime: null,
    conditions: {
      users: users({
        includeUsers: ids(u["includeUsers"], "includeUsers", userKeywords),
        excludeUsers: ids(u["excludeUsers"], "excludeUsers", userKeywords),
        includeGroups: ids(u["includeGroups"], "includeGroups", []),
        excludeGroups: ids(u["excludeGroups"], "excludeGroups", []),
        includeRoles: ids(u["includeRoles"], "includeRoles", []),
        excludeRoles: ids(u["excludeRoles"], "excludeRoles", []),
      }),
      applications: {
        includeApplications: ids(apps["includeApplications"], "includeApplications", appKeywords),
        excludeApplications: ids(apps["excludeApplications"], "excludeApplications", appKeywords),
        includeUserActions: [],
      },
      clientAppTypes: conditions["clientAppTypes"] === undefined ? ["all"] : [...(conditions["clientAppTypes"] as string[])],
      platforms: null,
      locations: null,
    },
    grantControls,
    sessionControls: null,
  };
}
