import { UsageError } from "../domain/errors.js";
import { parseTenantRef, tenantRefToString } from "../domain/references.js";

/** Where Entra sends the administrator after consent when the profile names no redirect URI. */
export const DEFAULT_CONSENT_REDIRECT_URI = "https://login.microsoftonline.com/common/oauth2/nativeclient";

/**
 * The admin-consent link for a tenant (Entra's admin consent endpoint, v1 form: it asks for every permission the
 * app registration lists, like the v2 endpoint with `scope=.../.default`):
 * `<authorityHost>/<tenant>/adminconsent?client_id=<app>&redirect_uri=<uri>`. The redirect URI must be one the app
 * registration lists. Throws UsageError for a tenant that is not an id or a domain.
 */
export function adminConsentUrl(options: { authorityHost: string; tenant: string; clientId: string; redirectUri?: string | undefined; state?: string | undefined }): string {
  const tenant = tenantRefToString(parseTenantRef(options.tenant));
  if (options.clientId.trim() === "") throw new UsageError("The client id is empty: set MFACTL_CLIENT_ID or the profile's clientId.");
  const redirectUri = options.redirectUri ?? DEFAULT_CONSENT_REDIRECT_URI;
  if (!/^(https:\/\/|http:\/\/localhost[:/])/i.test(redirectUri) || !URL.canParse(redirectUri)) {
    throw new UsageError(`Invalid consent redirect URI ${JSON.stringify(redirectUri)}: expected an https:// URL (or http://localhost) registered on the app.`);
  }
  const params = new URLSearchParams({ client_id: options.clientId.trim(), redirect_uri: redirectUri });
  if (options.state !== undefined) params.set("state", options.state);
  return `${options.authorityHost.replace(/\/+$/, "")}/${encodeURIComponent(tenant)}/adminconsent?${params.toString()}`;
}
