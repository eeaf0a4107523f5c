/**
 * The emulated CIPP instance's identities: the "CIPP-API" app registration its Azure Functions host accepts tokens for,
 * and the "CIPP-SAM" app it calls Graph with in customer tenants.
 */
import { seededSecret, type AppRecord } from "./apps.js";
import { createPrng } from "./prng.js";

/** The app role a caller needs on CIPP-API (the emulator's stand-in for CIPP's allowed-clients list). */
export const CIPP_API_ROLE = "CIPPAPI.Access";

/** What a client needs to call the emulated CIPP. */
export interface CippInfo {
  /** e.g. https://127.0.0.1:PORT/cipp; the endpoints are `${url}/api/<Endpoint>`. */
  url: string;
  /** The CIPP-API app registration: request `api://<clientId>/.default`. */
  clientId: string;
  /** `api://<clientId>`. */
  identifierUri: string;
  /** The tenant it is registered in (the first seeded tenant, the MSP's own): tokens come from there. */
  tenantId: string;
  /** The app role a caller needs. */
  role: string;
  /**
   * Client credentials that may call it. In CIPP an API client is its own resource (its token is for
   * `api://<its client id>/.default`), so `caller.clientId` is `clientId`: it holds `role` on itself.
   */
  caller: { clientId: string; clientSecret: string };
}

/** CIPP-API in the first tenant: identifier URI `api://<clientId>`, v1.0 tokens, a secret, and its role on itself. */
export function seededCippApiApp(seed: string, homeTenantId: string): AppRecord {
  const clientId = createPrng(`${seed}/app/cipp-api`).guid();
  const home = homeTenantId.toLowerCase();
  return {
    clientId,
    displayName: "CIPP-API",
    secret: seededSecret(`${seed}/app/cipp-api/secret`),
    certificates: [],
    consents: new Map([[home, []]]),
    api: { identifierUris: [`api://${clientId}`], appRoles: [CIPP_API_ROLE], accessTokenAcceptedVersion: null, scopes: [] },
    apiGrants: new Map([[clientId, new Map([[home, [CIPP_API_ROLE]]])]]),
    redirectUris: { web: [], spa: [] },
    userRoles: new Map(),
  };
}

/** CIPP's own app in customer tenants (its Graph calls are throttled under this app id). */
export const cippSamAppId = (seed: string): string => createPrng(`${seed}/app/cipp-sam`).guid();
