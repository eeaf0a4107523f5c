import { readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ZodApp } from "../app.js";
import type { ServerContext } from "../context.js";

/** Where `npm run build -w @mfactl/dashboard` puts the dashboard (the same from src/ and dist/). */
export const DASHBOARD_DIST = fileURLToPath(new URL("../../../dashboard/dist/", import.meta.url));

/**
 * The dashboard's own policy, stricter than the API docs': only this origin's scripts, styles and
 * API; no inline code, no frames, no other hosts.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

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

/** GET / (the dashboard's page) and GET /assets/* (its scripts and styles), both public. */
export function dashboardRoutes(app: ZodApp, _ctx: ServerContext, dir: string = DASHBOARD_DIST): void {
  app.get("/", { schema: { hide: true } }, async (_req, reply) => {
    const page = await readIfThere(join(dir, "index.html"));
    reply.header("content-security-policy", DASHBOARD_CSP).header("cache-control", "no-cache").type("text/html; charset=utf-8");
    if (!page) return reply.status(503).send(NOT_BUILT);
    return reply.send(page);
  });

  app.get("/assets/*", { schema: { hide: true } }, async (req, reply) => {
    const name = (req.params as { "*"?: string })["*"] ?? "";
    const type = TYPES[extname(name)];
    const body = ASSET_NAME.test(name) && type ? await readIfThere(join(dir, "assets", name)) : undefined;
    if (!body || !type) return reply.status(404).send({ error: { code: "NotFound", message: `No dashboard asset ${name}.` }, requestId: req.id });
    // Hashed names: a new build has new names, so these never change.
    return reply.header("content-security-policy", DASHBOARD_CSP).header("cache-control", "public, max-age=31536000, immutable").type(type).send(body);
  });
}
