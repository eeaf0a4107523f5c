/** startEmulator: wires state, tokens, throttling, faults and routes to the two listeners. */
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdmin, tenantSummary, type ApiAppInfo, type ApiCallers, type DashboardAppInfo, type EmulatorAdmin, type MintedToken, type MintTokenRequest } from "./admin.js";
import { adminRoutes, handleAdmin } from "./admin-routes.js";
import { describeCertificate, generateTlsMaterial } from "./ca.js";
import type { CippInfo } from "./cipp-apps.js";
import { CippService } from "./cipp-routes.js";
import { Endpoints } from "./endpoints.js";
import { EntraRoutes } from "./entra-routes.js";
import { FaultInjector } from "./faults.js";
import { GraphService } from "./graph-service.js";
import { partnerSeedParams, runtimeConfigFrom, validatePort, validateSeedParams, type EmulatorOptions, type SeedParams } from "./options.js";
import type { PartnerInfo } from "./partner.js";
import { listen } from "./server.js";
import { EmulatorState } from "./state.js";
import { Throttler } from "./throttle.js";
import { TokenService, type SigningKeyRotation } from "./tokens.js";

export interface RunningEmulator {
  /** e.g. https://127.0.0.1:PORT (Entra lives at /{tenant}/...). */
  authorityHost: string;
  /** e.g. https://127.0.0.1:PORT/graph (Graph lives at /graph/v1.0/... and /graph/beta/...). */
  graphUrl: string;
  /** http://127.0.0.1:ADMINPORT */
  adminUrl: string;
  /** The locally generated CA that signed the server certificate. */
  caFile: string;
  caPem: string;
  /** The main app, consented in every tenant (follows the seed after admin.seed()). */
  clientId: string;
  clientSecret: string;
  /** PEM with the main app's client certificate AND its private key. */
  certificateFile: string;
  /** Consented everywhere with read roles only: User.Read.All, Policy.Read.All, GroupMember.Read.All, RoleManagement.Read.Directory, UserAuthenticationMethod.Read.All. */
  readOnlyApp: { clientId: string; clientSecret: string };
  /**
   * "mfactl API": an API (resource) app registered in the first tenant, identifier URI `api://<clientId>`, app roles
   * MfaState.Read, MfaState.ReadWrite, Admin, v1.0 tokens. Request `${identifierUri}/.default` from tenantId.
   */
  apiApp: ApiAppInfo;
  /** Apps with roles on apiApp in its tenant: readWrite ("CIPP automation", MfaState.ReadWrite), readOnly ("Read-only automation", MfaState.Read). */
  apiCallers: ApiCallers;
  /**
   * "mfactl dashboard": a SPA (public client, no secret) in the first tenant that signs users in with the authorization
   * code flow + PKCE. It has no redirect URI until one is registered: `admin.setRedirectUris(clientId, { spa: [...] })`.
   */
  dashboardApp: DashboardAppInfo;
  /**
   * An emulated CIPP instance at `${url}/api/<Endpoint>` (ExecPerUserMFA, ListPerUserMFA, ListMFAUsers), changing the same
   * tenants as Graph. Call it with a client-credentials token from `tenantId` for `${identifierUri}/.default` (the
   * "CIPP-API" app, v1.0 tokens) using `caller`'s credentials: as in CIPP, the API client is its own resource.
   */
  cipp: CippInfo;
  /** A seeded user's password for the sign-in page (tenant id or domain; user id or UPN). Same as admin.userPassword. */
  userPassword(tenant: string, user: string): string;
  /** New signing key (published in the JWKS at once); retireOld drops every older key. Same as admin.rotateSigningKey. */
  rotateSigningKey(options?: { retireOld?: boolean }): SigningKeyRotation;
  /** A token with chosen claims signed by the current key, for negative tests. Same as admin.mintToken. */
  mintToken(request: MintTokenRequest): Promise<MintedToken>;
  tenants: { id: string; domain: string; userCount: number }[];
  /**
   * With `partner: { customers: N }`: the partner (MSP) tenant, its admin (password: `userPassword(domain, upn)`), its
   * GDAP customers and, with `planted: true`, the planted problems. Undefined otherwise.
   */
  partner: PartnerInfo | undefined;
  /** In-process equivalent of the admin HTTP interface. */
  admin: EmulatorAdmin;
  close(): Promise<void>;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const port = options.port ?? 0;
  const adminPort = options.adminPort ?? 0;
  validatePort("port", port);
  validatePort("adminPort", adminPort);
  const seedParams: SeedParams = { tenants: options.tenants ?? 3, users: options.users ?? 25, seed: String(options.seed ?? "mfactl") };
  if (options.partner !== undefined) seedParams.partner = partnerSeedParams(options.partner);
  validateSeedParams(seedParams);
  const config = runtimeConfigFrom(options);
  const clock = options.clock ?? { now: () => Date.now() };

  const tls = generateTlsMaterial();
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "mfactl-emulator-")));
  await mkdir(dataDir, { recursive: true });
  const caFile = join(dataDir, "ca.pem");
  const certificateFile = join(dataDir, "client-certificate.pem");
  await writeFile(caFile, tls.ca.certPem);
  await writeFile(certificateFile, `${tls.client.keyPem}${tls.client.certPem}`, { mode: 0o600 });
  await chmod(certificateFile, 0o600);

  const state = new EmulatorState(seedParams, config, clock, describeCertificate(tls.client.certPem));
  const tokens = new TokenService(clock);
  const throttler = new Throttler(clock, config);
  const faults = new FaultInjector(config, seedParams.seed);
  const endpoints = new Endpoints(port);
  const cipp = new CippService(state, tokens, endpoints, faults, throttler);
  const entra = new EntraRoutes(state, tokens, endpoints);
  const admin = createAdmin(state, throttler, faults, tokens, endpoints, cipp, entra.delegated);
  const graph = new GraphService(state, tokens, endpoints, throttler, faults);
  const routes = adminRoutes(admin);

  let listening;
  try {
    listening = await listen(
      { key: tls.server.keyPem, cert: tls.server.certPem },
      { port, adminPort },
      {
        main: (ctx) => {
          if (ctx.rawUrl === "/graph" || ctx.rawUrl.startsWith("/graph/") || ctx.rawUrl.startsWith("/graph?")) return graph.handleHttp(ctx);
          if (ctx.rawUrl.startsWith("/cipp/")) return cipp.handle(ctx);
          return entra.handle(ctx);
        },
        admin: (method, rawPath, body) => handleAdmin(routes, method, rawPath, body),
        latencyMs: () => config.latencyMs,
      },
    );
  } catch (e) {
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  endpoints.port = listening.port;

  let closed: Promise<void> | undefined;
  const server = listening;
  return {
    authorityHost: endpoints.authorityHost,
    graphUrl: endpoints.graphUrl,
    adminUrl: `http://127.0.0.1:${listening.adminPort}`,
    caFile,
    caPem: tls.ca.certPem,
    get clientId() {
      return admin.credentials().clientId;
    },
    get clientSecret() {
      return admin.credentials().clientSecret;
    },
    certificateFile,
    get readOnlyApp() {
      return admin.credentials().readOnlyApp;
    },
    get apiApp() {
      return admin.credentials().apiApp;
    },
    get apiCallers() {
      return admin.credentials().apiCallers;
    },
    get dashboardApp() {
      return admin.credentials().dashboardApp;
    },
    get cipp() {
      return admin.credentials().cipp;
    },
    userPassword: (tenant, user) => admin.userPassword(tenant, user),
    rotateSigningKey: (options) => admin.rotateSigningKey(options),
    mintToken: (request) => admin.mintToken(request),
    get tenants() {
      return state.tenants.map(tenantSummary);
    },
    get partner() {
      return admin.partner();
    },
    admin,
    close: () =>
      (closed ??= (async () => {
        await server.close();
        if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
      })()),
  };
}
