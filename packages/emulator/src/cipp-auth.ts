/**
 * The bearer check in front of the emulated CIPP, as App Service authentication ("easy auth") does it for CIPP's
 * Functions host: an Entra token from CIPP's own tenant, for CIPP-API, unexpired, signed by a published key, from a
 * caller holding CIPP-API's role. Anything else is a 401 before CIPP's code runs.
 */
import { createLocalJWKSet, errors, jwtVerify, type JWTPayload } from "jose";
import { CIPP_API_ROLE } from "./cipp-apps.js";
import type { Endpoints } from "./endpoints.js";
import type { Outcome } from "./http.js";
import type { EmulatorState } from "./state.js";
import { issuerFor, v2IssuerFor, type TokenService } from "./tokens.js";

export type CippCaller = { ok: true; appId: string } | { ok: false; reason: string };

/** easy auth's answer to a request it refuses (the body is its fixed page text, the reason goes in WWW-Authenticate). */
export function unauthorized(endpoints: Endpoints, hostHeader: string | undefined, tenantId: string, resourceId: string, reason: string): Outcome {
  const origin = endpoints.originFor(hostHeader);
  const description = reason.replace(/["\\\r\n]/g, "'");
  return {
    kind: "response",
    status: 401,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "www-authenticate": `Bearer realm="${origin}", authorization_uri="${origin}/${tenantId}/oauth2/authorize", resource_id="${resourceId}", error="invalid_token", error_description="${description}"`,
    },
    raw: "You do not have permission to view this directory or page.",
  };
}

export async function checkCippBearer(
  header: string | undefined,
  cipp: { clientId: string; tenantId: string },
  deps: { state: EmulatorState; tokens: TokenService; endpoints: Endpoints },
): Promise<CippCaller> {
  if (!header) return { ok: false, reason: "No Authorization header: send a bearer token for the CIPP-API app." };
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m?.[1]) return { ok: false, reason: "The Authorization header is not a bearer token." };
  const app = deps.state.findApp(cipp.clientId);
  if (!app) return { ok: false, reason: "CIPP-API is not registered." };
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(m[1], createLocalJWKSet(deps.tokens.jwks() as Parameters<typeof createLocalJWKSet>[0]), {
      algorithms: ["RS256"],
      currentDate: new Date(deps.state.clock.now()),
    }));
  } catch (e) {
    if (e instanceof errors.JWTExpired) return { ok: false, reason: "The token has expired." };
    if (e instanceof errors.JWTClaimValidationFailed && (e.claim === "nbf" || e.claim === "iat")) return { ok: false, reason: "The token is not valid yet." };
    if (e instanceof errors.JWSSignatureVerificationFailed || e instanceof errors.JWKSNoMatchingKey) return { ok: false, reason: "The token signature is invalid." };
    return { ok: false, reason: "The token is malformed." };
  }
  const version = app.api.accessTokenAcceptedVersion === 2 ? 2 : 1;
  // v1.0: the resource as it was requested (identifier URI or client id); v2.0: always the client id.
  const audiences = version === 2 ? [app.clientId] : [...app.api.identifierUris, app.clientId].map((a) => a.toLowerCase());
  const auds = typeof payload.aud === "string" ? [payload.aud] : (payload.aud ?? []);
  if (!auds.some((a) => audiences.includes(a.toLowerCase())))
    return { ok: false, reason: `The token is not for CIPP-API (audience ${JSON.stringify(auds.join(" "))}; expected ${app.api.identifierUris[0] ?? app.clientId}).` };
  const tid = typeof payload["tid"] === "string" ? payload["tid"].toLowerCase() : "";
  if (tid !== cipp.tenantId.toLowerCase()) return { ok: false, reason: `The token was issued by tenant ${tid || "(none)"}, not by CIPP's tenant ${cipp.tenantId}.` };
  const issuers = version === 2 ? deps.endpoints.origins().map((o) => v2IssuerFor(o, tid)) : [issuerFor(tid)];
  if (typeof payload.iss !== "string" || !issuers.includes(payload.iss)) return { ok: false, reason: `The token's issuer is not accepted (a v${version}.0 token is expected).` };
  const appId = payload[version === 2 ? "azp" : "appid"];
  if (typeof appId !== "string" || appId === "") return { ok: false, reason: "The token names no calling app." };
  const roles = Array.isArray(payload["roles"]) ? (payload["roles"] as unknown[]) : [];
  if (!roles.includes(CIPP_API_ROLE)) return { ok: false, reason: `The calling app ${appId} does not hold the ${CIPP_API_ROLE} role on CIPP-API.` };
  return { ok: true, appId };
}
