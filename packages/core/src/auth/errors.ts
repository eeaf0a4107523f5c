import { AuthError, GraphError } from "../domain/errors.js";

/** Why a tenant could not be reached, in the terms an MSP acts on (docs/msp.md). */
export const AUTH_CAUSES = ["noRelationship", "missingRole", "consentMissing", "signInAgain", "notSignedIn", "secretExpired"] as const;
export type AuthCause = (typeof AUTH_CAUSES)[number];

/** Authentication Policy Administrator: the GDAP role writing per-user MFA needs. */
export const AUTHENTICATION_POLICY_ADMINISTRATOR = "0526716b-113d-4c15-b2c8-68e3c22b9f80";

/** An AuthError whose cause is known: the CLI and server say what to do from `authCause`. */
export class AccessError extends AuthError {
  readonly authCause: AuthCause;
  constructor(
    message: string,
    details: { tenant: string; code: string; authCause: AuthCause; aadstsCodes?: readonly number[]; correlationId?: string | undefined },
    options?: { cause?: unknown },
  ) {
    super(message, details, options);
    this.authCause = details.authCause;
  }
}

/** AADSTS codes, by the cause they mean. */
const CAUSE_BY_AADSTS: ReadonlyMap<number, AuthCause> = new Map([
  // The partner user has no (active) GDAP relationship in the customer tenant: not a user there.
  [50020, "noRelationship"],
  [50177, "noRelationship"],
  [90072, "noRelationship"],
  // The app is not consented in the tenant (delegated: 65001; app-only: 700016, 7000229).
  [65001, "consentMissing"],
  [700016, "consentMissing"],
  [7000229, "consentMissing"],
  // The refresh token was revoked, expired, already redeemed, or the password changed.
  [50173, "signInAgain"],
  [70008, "signInAgain"],
  [700082, "signInAgain"],
  [700084, "signInAgain"],
  [9002313, "signInAgain"],
  [50078, "signInAgain"],
  [50076, "signInAgain"],
  [50079, "signInAgain"],
  [7000222, "secretExpired"],
]);

export function causeFromAadsts(codes: readonly number[]): AuthCause | undefined {
  for (const code of codes) {
    const cause = CAUSE_BY_AADSTS.get(code);
    if (cause) return cause;
  }
  return undefined;
}

/** The cause of any failure, when it is one of the known ones. */
export function authCauseOf(error: unknown): AuthCause | undefined {
  if (error instanceof AccessError) return error.authCause;
  if (error instanceof AuthError) return causeFromAadsts(error.aadstsCodes);
  if (error instanceof GraphError && /GDAP relationship .* lacks/.test(error.message)) return "missingRole";
  return undefined;
}

/** The sentence for a cause: what is wrong and what to do. */
export function describeAuthCause(
  cause: AuthCause,
  ctx: { tenant: string; partner?: boolean | undefined; consentUrl?: string | undefined; clientId?: string | undefined },
): string {
  const login = ctx.partner ? "mfactl login --partner" : `mfactl login --tenant ${ctx.tenant}`;
  switch (cause) {
    case "noRelationship":
      return `The partner has no active GDAP relationship with tenant ${ctx.tenant}: ask the customer to approve one (with Authentication Policy Administrator and Global Reader), or use app-only access for this tenant (tenantAccess: app).`;
    case "missingRole":
      return `The GDAP relationship with ${ctx.tenant} lacks Authentication Policy Administrator, which writing per-user MFA needs: add that role to the relationship and its access assignment.`;
    case "consentMissing":
      return `App ${ctx.clientId ?? ""} is not consented in tenant ${ctx.tenant}: a Global Administrator of that tenant must grant admin consent${ctx.consentUrl ? ` at ${ctx.consentUrl}` : " (mfactl consent-url --tenant " + ctx.tenant + ")"}.`.replace("App  ", "The app ");
    case "signInAgain":
      return `The sign-in for tenant ${ctx.tenant} is no longer valid (the refresh token was revoked, expired or already used): sign in again: ${login}`;
    case "notSignedIn":
      return `No one is signed in for tenant ${ctx.tenant}: run ${login} first.`;
    case "secretExpired":
      return `The client secret of app ${ctx.clientId ?? ""} has expired: create a new secret in the app registration and update MFACTL_CLIENT_SECRET or the profile's clientSecret.`;
  }
}
