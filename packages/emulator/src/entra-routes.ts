/** Entra ID: OpenID discovery, signing keys, instance discovery and the client-credentials token endpoint. */
import { apiGrantIn, rolesIn, type AppRecord } from "./apps.js";
import { DelegatedRoutes, isDeviceCodeGrant } from "./delegated.js";
import { aadError } from "./entra-errors.js";
import { PUBLIC_LOGIN, type Endpoints } from "./endpoints.js";
import { json, type Outcome, type RequestContext } from "./http.js";
import type { Tenant } from "./model.js";
import { MULTI_TENANT, SignInRoutes } from "./sign-in.js";
import type { EmulatorState } from "./state.js";
import { issuerFor, secretMatches, verifyClientAssertion, type TokenService } from "./tokens.js";

const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** Scopes MSAL may add next to a resource's /.default; they do not name a resource. */
const OIDC_SCOPES = new Set(["openid", "profile", "offline_access", "email"]);

export class EntraRoutes {
  private readonly signIn: SignInRoutes;
  /** Device code, refresh tokens and GDAP (also used by the admin interface to approve codes and revoke tokens). */
  readonly delegated: DelegatedRoutes;

  constructor(
    private readonly state: EmulatorState,
    private readonly tokens: TokenService,
    private readonly endpoints: Endpoints,
  ) {
    this.signIn = new SignInRoutes(state, tokens, endpoints, (r) => this.isGraph(r));
    this.delegated = new DelegatedRoutes(state, tokens, endpoints, (r) => this.isGraph(r));
  }

  async handle(ctx: RequestContext): Promise<Outcome> {
    let segments: string[];
    try {
      segments = ctx.url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    } catch {
      return json(400, { error: "invalid_request", error_description: "Malformed URL." });
    }
    const [tenantRef, ...rest] = segments;
    const route = rest.join("/").toLowerCase();
    if (tenantRef === undefined) return json(404, { error: "not_found" });
    if (tenantRef.toLowerCase() === "devicelogin" && rest.length === 0) return this.delegated.verificationPage(ctx);
    if (route === "oauth2/v2.0/devicecode") return this.delegated.deviceCode(ctx, tenantRef);
    if (ctx.method === "GET" && tenantRef.toLowerCase() === "common" && route === "discovery/instance") return this.instanceDiscovery(ctx);
    if (ctx.method === "GET" && route === "v2.0/.well-known/openid-configuration") return this.discovery(ctx, tenantRef);
    if (ctx.method === "GET" && route === ".well-known/openid-configuration") return this.discoveryV1(ctx, tenantRef);
    if (ctx.method === "GET" && (route === "discovery/v2.0/keys" || route === "discovery/keys")) return json(200, this.tokens.jwks());
    if (route === "oauth2/v2.0/token") {
      if (ctx.method === "OPTIONS") return this.preflight(ctx);
      if (ctx.method !== "POST")
        return this.error(ctx, 400, "invalid_request", 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${ctx.method} request.`);
      return this.withCors(ctx, await this.token(ctx, tenantRef));
    }
    if (route === "oauth2/v2.0/authorize" && (ctx.method === "GET" || ctx.method === "POST")) return this.signIn.authorize(ctx, tenantRef);
    if (route === "oauth2/v2.0/logout" && (ctx.method === "GET" || ctx.method === "POST")) return this.signIn.logout(ctx, tenantRef);
    return json(404, { error: "not_found", error_description: `No Entra endpoint at ${ctx.url.pathname}` });
  }

  /** CORS for single-page apps redeeming codes from the browser: any origin may read token responses. */
  private preflight(ctx: RequestContext): Outcome {
    return {
      kind: "response",
      status: 204,
      headers: {
        "access-control-allow-origin": ctx.headers["origin"] ?? "*",
        "access-control-allow-methods": "POST, OPTIONS",
        "access-control-allow-headers": ctx.headers["access-control-request-headers"] ?? "content-type",
        "access-control-max-age": "86400",
        vary: "Origin",
      },
    };
  }

  private withCors(ctx: RequestContext, outcome: Outcome): Outcome {
    const origin = ctx.headers["origin"];
    if (origin === undefined || outcome.kind !== "response") return outcome;
    return { ...outcome, headers: { ...outcome.headers, "access-control-allow-origin": origin, vary: "Origin" } };
  }

  private error(ctx: RequestContext, status: number, error: string, code: number, message: string): Outcome {
    return aadError(status, error, code, message, ctx.clientRequestId, this.state.clock.now());
  }

  private tenantNotFound(ctx: RequestContext, tenantRef: string, error: string): Outcome {
    return this.error(
      ctx,
      400,
      error,
      90002,
      `Tenant '${tenantRef}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    );
  }

  /** Where a discovery document's endpoints live and whose issuer it names; `organizations`/`common` give "{tenantid}". */
  private discoveryTenant(ctx: RequestContext, tenantRef: string): { pathTenant: string; issuerTenant: string } | Outcome {
    if (MULTI_TENANT.has(tenantRef.toLowerCase())) return { pathTenant: tenantRef.toLowerCase(), issuerTenant: "{tenantid}" };
    const tenant = this.state.findTenant(tenantRef);
    if (!tenant) return this.tenantNotFound(ctx, tenantRef, "invalid_tenant");
    // Like Entra: a domain-named authority gets endpoints under the tenant id.
    return { pathTenant: tenant.id, issuerTenant: tenant.id };
  }

  private discovery(ctx: RequestContext, tenantRef: string): Outcome {
    const origin = this.endpoints.originFor(ctx.headers["host"]);
    const where = this.discoveryTenant(ctx, tenantRef);
    if ("kind" in where) return where;
    const { pathTenant, issuerTenant } = where;
    const base = `${origin}/${pathTenant}`;
    return json(200, {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
      scopes_supported: ["openid", "profile", "email", "offline_access"],
      issuer: `${origin}/${issuerTenant}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${origin}/graph/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
      kerberos_endpoint: `${base}/kerberos`,
      tenant_region_scope: "EU",
      cloud_instance_name: "microsoftonline.com",
      cloud_graph_host_name: "graph.windows.net",
      msgraph_host: new URL(origin).host,
      rbac_url: "https://pas.windows.net",
    });
  }

  /** The v1.0 document: issuer `https://sts.windows.net/<tid>/` (what v1.0 access tokens carry), keys at common/discovery/keys. */
  private discoveryV1(ctx: RequestContext, tenantRef: string): Outcome {
    const origin = this.endpoints.originFor(ctx.headers["host"]);
    const where = this.discoveryTenant(ctx, tenantRef);
    if ("kind" in where) return where;
    const { pathTenant, issuerTenant } = where;
    const base = `${origin}/${pathTenant}`;
    return json(200, {
      token_endpoint: `${base}/oauth2/token`,
      token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
      jwks_uri: `${origin}/common/discovery/keys`,
      response_modes_supported: ["query", "fragment", "form_post"],
      subject_types_supported: ["pairwise"],
      id_token_signing_alg_values_supported: ["RS256"],
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/logout`,
      response_types_supported: ["code", "id_token", "code id_token", "token id_token", "token"],
      scopes_supported: ["openid"],
      issuer: issuerFor(issuerTenant),
      claims_supported: ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"],
      microsoft_multi_refresh_token: true,
      check_session_iframe: `${base}/oauth2/checksession`,
      userinfo_endpoint: `${base}/openid/userinfo`,
      kerberos_endpoint: `${base}/kerberos`,
      tenant_region_scope: "EU",
      cloud_instance_name: "microsoftonline.com",
      cloud_graph_host_name: "graph.windows.net",
      msgraph_host: new URL(origin).host,
      rbac_url: "https://pas.windows.net",
    });
  }

  private instanceDiscovery(ctx: RequestContext): Outcome {
    const origin = this.endpoints.originFor(ctx.headers["host"]);
    const host = new URL(origin).host;
    let tenant = "common";
    const authorize = ctx.url.searchParams.get("authorization_endpoint");
    if (authorize) {
      try {
        tenant = new URL(authorize).pathname.split("/").filter(Boolean)[0] ?? tenant;
      } catch {
        // Keep "common": MSAL only needs the metadata.
      }
    }
    const aliases = this.endpoints.origins().map((o) => new URL(o).host);
    return json(200, {
      tenant_discovery_endpoint: `${origin}/${tenant}/v2.0/.well-known/openid-configuration`,
      "api-version": "1.1",
      metadata: [{ preferred_network: host, preferred_cache: host, aliases }],
    });
  }

  private async token(ctx: RequestContext, tenantRef: string): Promise<Outcome> {
    const form = new URLSearchParams(ctx.body.toString("utf8"));
    let clientId = form.get("client_id");
    let secret = form.get("client_secret");
    const basic = /^Basic\s+(.+)$/i.exec(ctx.headers["authorization"] ?? "");
    if (basic?.[1]) {
      const [id, pw] = Buffer.from(basic[1], "base64").toString("utf8").split(":");
      if (id) clientId = decodeURIComponent(id);
      if (pw !== undefined) secret = decodeURIComponent(pw);
    }
    if (form.get("grant_type") === "authorization_code")
      return this.signIn.redeem(ctx, tenantRef, form, { clientId, secret }, (app, s) => this.checkSecret(ctx, app, s), (t) => this.assertionAudiences(tenantRef, t));
    const grant = form.get("grant_type");
    if (isDeviceCodeGrant(grant) || grant === "refresh_token")
      return this.delegated.token(ctx, tenantRef, form, { clientId, secret }, (app, s) => this.checkSecret(ctx, app, s));
    if (MULTI_TENANT.has(tenantRef.toLowerCase()))
      return this.error(ctx, 400, "invalid_request", 50059, "No tenant-identifying information found in either the request or implied by any provided credentials.");
    const tenant = this.state.findTenant(tenantRef);
    if (!tenant) return this.tenantNotFound(ctx, tenantRef, "invalid_request");

    const grantType = form.get("grant_type");
    if (!grantType) return this.missingParameter(ctx, "grant_type");
    if (grantType !== "client_credentials")
      return this.error(ctx, 400, "unsupported_grant_type", 70003, `The app requested an unsupported grant type '${grantType}'.`);
    if (!clientId) return this.missingParameter(ctx, "client_id");

    const app = this.state.findApp(clientId);
    const roles = app ? rolesIn(app, tenant.id) : undefined;
    if (!app || roles === undefined)
      return this.error(
        ctx,
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenant.displayName}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );

    const assertion = form.get("client_assertion");
    let credential: "secret" | "certificate";
    if (assertion !== null) {
      if (form.get("client_assertion_type") !== JWT_BEARER)
        return this.error(ctx, 400, "invalid_request", 50012, `The client_assertion_type must be '${JWT_BEARER}'.`);
      const result = await verifyClientAssertion(assertion, app, this.assertionAudiences(tenantRef, tenant), this.state.clock);
      if (!result.ok) return this.error(ctx, 400, "invalid_client", result.code, result.message);
      credential = "certificate";
    } else if (secret !== null) {
      const secretError = this.checkSecret(ctx, app, secret);
      if (secretError) return secretError;
      credential = "secret";
    } else {
      return this.error(ctx, 400, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }

    const scope = form.get("scope");
    if (!scope) return this.missingParameter(ctx, "scope");
    const resourceRef = this.defaultScopeResource(scope);
    if (resourceRef === undefined)
      return this.error(ctx, 400, "invalid_scope", 70011, `The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`);

    const lifetime = this.state.config.tokenLifetimeSeconds;
    let accessToken: string;
    if (this.isGraph(resourceRef)) {
      accessToken = await this.tokens.issue({
        tenantId: tenant.id,
        app,
        roles,
        audience: this.endpoints.graphUrl,
        lifetimeSeconds: lifetime,
        credential,
      });
    } else {
      const issued = await this.apiToken(ctx, tenant, app, resourceRef, credential, lifetime);
      if (typeof issued !== "string") return issued;
      accessToken = issued;
    }
    this.state.stats.tokensIssued++;
    return json(
      200,
      { token_type: "Bearer", expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken },
      { "cache-control": "no-store, no-cache", pragma: "no-cache" },
    );
  }

  /**
   * A token for a custom API: the resource needs a service principal in the tenant (AADSTS500011) and the caller an
   * app role assignment on it there (AADSTS501051, as when "assignment required" is on); `roles` are the assigned roles.
   */
  private async apiToken(ctx: RequestContext, tenant: Tenant, caller: AppRecord, resourceRef: string, credential: "secret" | "certificate", lifetime: number): Promise<string | Outcome> {
    const found = this.state.findResource(resourceRef);
    if (!found || rolesIn(found.app, tenant.id) === undefined)
      return this.error(
        ctx,
        400,
        "invalid_resource",
        500011,
        `The resource principal named ${resourceRef} was not found in the tenant named ${tenant.displayName}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
    const resource = found.app;
    const granted = apiGrantIn(caller, resource, tenant.id);
    if (granted === undefined)
      return this.error(
        ctx,
        400,
        "invalid_grant",
        501051,
        `Application '${caller.clientId}'(${caller.displayName}) is not assigned to a role for the application '${resourceRef}'(${resource.displayName}).`,
      );
    const version = resource.api.accessTokenAcceptedVersion === 2 ? 2 : 1;
    // v1.0: the resource as requested (identifier URI or client id); v2.0: always the client id.
    const audience = version === 2 ? resource.clientId : (found.identifierUri ?? resource.clientId);
    return this.tokens.issueApi({
      tenantId: tenant.id,
      caller,
      // A role the API no longer defines is not issued.
      roles: granted.filter((r) => resource.api.appRoles.includes(r)),
      audience,
      version,
      authorityOrigin: this.endpoints.originFor(ctx.headers["host"]),
      lifetimeSeconds: lifetime,
      credential,
    });
  }

  private missingParameter(ctx: RequestContext, name: string): Outcome {
    return this.error(ctx, 400, "invalid_request", 900144, `The request body must contain the following parameter: '${name}'.`);
  }

  /** Never echoes the secret: messages name the app only. */
  private checkSecret(ctx: RequestContext, app: AppRecord, secret: string): Outcome | undefined {
    if (app.secret === undefined || !secretMatches(app.secret, secret))
      return this.error(
        ctx,
        400,
        "invalid_client",
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
      );
    if (app.secretExpiresAt !== undefined && app.secretExpiresAt <= this.state.clock.now())
      return this.error(
        ctx,
        400,
        "invalid_client",
        7000222,
        `The provided client secret keys for app '${app.clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`,
      );
    return undefined;
  }

  /** The token endpoint under any name of this tenant, on any of our host names or Microsoft's (lower case, no query). */
  private assertionAudiences(tenantRef: string, tenant: Tenant): Set<string> {
    const out = new Set<string>();
    for (const origin of [...this.endpoints.origins(), PUBLIC_LOGIN])
      for (const t of [tenantRef, tenant.id, tenant.domain]) {
        out.add(`${origin}/${t}/oauth2/v2.0/token`.toLowerCase());
        out.add(`${origin}/${t}/oauth2/token`.toLowerCase());
      }
    return out;
  }

  /** The resource of a client-credentials scope (`<resource>/.default`, one resource), or undefined when it is not one. */
  private defaultScopeResource(scope: string): string | undefined {
    const resources = scope.split(/\s+/).filter((s) => s && !OIDC_SCOPES.has(s.toLowerCase()));
    if (resources.length !== 1) return undefined;
    const m = /^(.+)\/\.default$/i.exec(resources[0] ?? "");
    return m?.[1];
  }

  private isGraph(resource: string): boolean {
    return this.endpoints.graphAudiences().some((r) => r.toLowerCase() === resource.toLowerCase());
  }
}
