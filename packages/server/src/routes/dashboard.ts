import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyRequest } from "fastify";
import { z } from "zod";
import type { ZodApp } from "../app.js";
import type { ServerContext } from "../context.js";
import { ErrorBodySchema } from "../errors.js";
import type { EntraSettings } from "../settings.js";

/** Where `npm run build -w @mfactl/dashboard` puts the dashboard (the same from src/ and dist/). */
export const DASHBOARD_DIST = fileURLToPath(new URL("../../../dashboard/dist/", import.meta.url));

/** How the dashboard signs a person in (OpenID Connect, authorization code with PKCE): public, nothing secret. */
export const EntraSignInSchema = z.object({
  /** The dashboard's SPA app registration. */
  clientId: z.string(),
  /** The tenant people sign in to (entra.tenantId). */
  tenantId: z.string(),
  /** `<authority host>/<tenantId>`. */
  authority: z.string(),
  authorizeUrl: z.string(),
  tokenUrl: z.string(),
  logoutUrl: z.string(),
  /** What to ask for: openid, profile and the API's access_as_user. */
  scopes: z.array(z.string()),
});
export type EntraSignIn = z.infer<typeof EntraSignInSchema>;

export const DashboardConfigSchema = z.object({
  signIn: z.object({
    /** An mfactl API key always works. */
    apiKey: z.literal(true),
    /** Present when entra.dashboard is set: people sign in with Entra ID. */
    entra: EntraSignInSchema.optional(),
  }),
});

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The API's delegated scope: the settings' own, else `<first api:// audience>/access_as_user`. */
function apiScope(entra: EntraSettings & { dashboard: NonNullable<EntraSettings["dashboard"]> }): string {
  if (entra.dashboard.scope !== undefined) return entra.dashboard.scope;
  const audiences = typeof entra.audience === "string" ? [entra.audience] : entra.audience;
  const uri = audiences.find((a) => a.startsWith("api://")) ?? audiences.map((a) => (GUID.test(a) ? `api://${a}` : a))[0] ?? "";
  return `${uri.replace(/\/+$/, "")}/access_as_user`;
}

/** The dashboard's Entra sign-in, when entra.dashboard is set. */
export function entraSignIn(entra: EntraSettings | undefined, authorityHost: string): EntraSignIn | undefined {
  const dashboard = entra?.dashboard;
  if (!entra || !dashboard) return undefined;
  const authority = `${authorityHost.replace(/\/+$/, "")}/${encodeURIComponent(entra.tenantId)}`;
  return {
    clientId: dashboard.clientId,
    tenantId: entra.tenantId,
    authority,
    authorizeUrl: `${authority}/oauth2/v2.0/authorize`,
    tokenUrl: `${authority}/oauth2/v2.0/token`,
    logoutUrl: `${authority}/oauth2/v2.0/logout`,
    scopes: ["openid", "profile", apiScope({ ...entra, dashboard })],
  };
}

/**
 * The dashboard's own policy, stricter than the API docs': only this origin's scripts, styles and
 * API; no inline code, no frames, no other hosts, except (with Entra sign-in) the authority's origin
 * for fetch, where the page redeems its authorization code.
 */
export function dashboardCsp(signIn?: EntraSignIn): string {
  const connect = signIn ? `connect-src 'self' ${new URL(signIn.authority).origin}` : "connect-src 'self'";
  return ["default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", connect, "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"].join("; ");
}

/** The policy without Entra sign-in. */
export const DASHBOARD_CSP = dashboardCsp();

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json; charset=utf-8",
};

/** Vite's hashed file names: one path segment, no dot files, nothing to climb out with. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mfactl dashboard not built</title></head>
<body><h1>The dashboard is not built</h1>
<p>This server serves the dashboard from packages/dashboard/dist, which is missing. Run <code>npm run build -w @mfactl/dashboard</code> and reload. The API is at <a href="/docs">/docs</a>.</p></body></html>
`;

async function readIfThere(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "EISDIR") return undefined;
    throw error;
  }
}

/** GET /v1/dashboard/config: what the dashboard needs before anyone signs in. Public, rate-limited per address. */
export function dashboardConfigRoute(app: ZodApp, ctx: ServerContext): void {
  const config = { signIn: { apiKey: true as const, ...(ctx.dashboardSignIn ? { entra: ctx.dashboardSignIn } : {}) } };
  app.get(
    "/v1/dashboard/config",
    {
      schema: { tags: ["dashboard"], summary: "How the dashboard signs people in (public: no credential, nothing secret)", security: [], response: { 200: DashboardConfigSchema, 429: ErrorBodySchema } },
      // Public: counted per address even when a credential is sent.
      config: { rateLimit: { keyGenerator: (req: FastifyRequest) => `ip:${req.ip}` } },
    },
    async (_req, reply) => reply.header("cache-control", "no-cache").send(config),
  );
}

/** GET / (the dashboard's page) and GET /assets/* (its scripts and styles), both public. */
export function dashboardRoutes(app: ZodApp, ctx: ServerContext, dir: string = DASHBOARD_DIST): void {
  const csp = dashboardCsp(ctx.dashboardSignIn);

  app.get("/", { schema: { hide: true } }, async (_req, reply) => {
    const page = await readIfThere(join(dir, "index.html"));
    reply.header("content-security-policy", csp).header("cache-control", "no-cache").type("text/html; charset=utf-8");
    if (!page) return reply.status(503).send(NOT_BUILT);
    return reply.send(page);
  });

  app.get("/assets/*", { schema: { hide: true } }, async (req, reply) => {
    const name = (req.params as { "*"?: string })["*"] ?? "";
    const type = TYPES[extname(name)];
    const body = ASSET_NAME.test(name) && type ? await readIfThere(join(dir, "assets", name)) : undefined;
    if (!body || !type) return reply.status(404).send({ error: { code: "NotFound", message: `No dashboard asset ${name}.` }, requestId: req.id });
    // Hashed names: a new build has new names, so these never change.
    return reply.header("content-security-policy", csp).header("cache-control", "public, max-age=31536000, immutable").type(type).send(body);
  });
}
