import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { systemClock, type BatchEngine, type Clock, type FetchLike, type GraphClient, type MaxChanges, type SmtpSettings } from "@mfactl/core";
import type { MfactlStore } from "@mfactl/store";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawReplyDefaultExpression, type RawRequestDefaultExpression, type RawServerDefault } from "fastify";
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { DestinationStream } from "pino";
import { createAuthenticator, requirePrincipal } from "./auth/principal.js";
import { EntraTokenVerifier } from "./auth/entra-tokens.js";
import { audit, type ServerContext } from "./context.js";
import { mapError, sendError } from "./errors.js";
import { pgBossQueue } from "./jobs/cluster-queue.js";
import { JobManager } from "./jobs/job-manager.js";
import { ClusterJobs, LocalJobs, type DrainOutcome, type Jobs } from "./jobs/jobs.js";
import { scheduleRoutes } from "./routes/schedules.js";
import { Scheduler } from "./schedules/scheduler.js";
import { auditRoutes } from "./routes/audit.js";
import { cippRoutes } from "./routes/cipp.js";
import { dashboardConfigRoute, dashboardRoutes, entraSignIn } from "./routes/dashboard.js";
import { healthRoutes } from "./routes/health.js";
import { jobRoutes } from "./routes/jobs.js";
import { meRoutes } from "./routes/me.js";
import { runRoutes } from "./routes/runs.js";
import { userRoutes } from "./routes/users.js";
import type { ServerSettings } from "./settings.js";
import { ServedTenants } from "./tenants.js";
import { VERSION } from "./version.js";

export type ZodApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, ZodTypeProvider>;

export interface ServerOptions {
  settings: ServerSettings;
  store: MfactlStore;
  graph: GraphClient;
  engine: BatchEngine;
  tenants: ServedTenants;
  protectedList?: readonly string[] | undefined;
  maxChanges?: { cap: MaxChanges; source: string } | undefined;
  clock?: Clock | undefined;
  /** Reads the token issuer's discovery document and keys (trusting the same CA as Graph calls). */
  fetch?: FetchLike | undefined;
  /** Where Entra lives (the CLI's authority host) when the settings name none. */
  authorityHost?: string | undefined;
  /** Log lines go here (default stdout). */
  logStream?: DestinationStream | undefined;
  /** PEM certificate and key: serve HTTPS. */
  tls?: { cert: string; key: string } | undefined;
  /**
   * Run as one of several instances on this PostgreSQL database (the store's): jobs through pg-boss,
   * in the schema `queueSchema`. Absent: jobs run in this process only.
   */
  cluster?: { connectionString: string; queueSchema: string } | undefined;
  /** The scheduler's clock (default `clock`): tests move it to make a schedule's period come. */
  schedulerClock?: Clock | undefined;
  /** Webhook alerts go out through this (default: Node's fetch). */
  alertFetch?: FetchLike | undefined;
  /** Alert emails: settings.smtp with the password (from the environment). */
  smtp?: SmtpSettings | undefined;
}

export interface MfactlServer {
  app: ZodApp;
  context: ServerContext;
  /** Absent when settings.scheduler.enabled is false. */
  scheduler: Scheduler | undefined;
  /**
   * Graceful shutdown: readiness turns 503, new jobs are refused, running jobs get `graceMs` to
   * finish and are then stopped between users (their runs stay resumable), then the listener closes.
   */
  shutdown(graceMs?: number): Promise<DrainOutcome>;
}

/** After a shutdown's drain, how long requests still open get before their connections are closed. */
const FORCE_CLOSE_AFTER_MS = 1000;

/** Headers and fields that may hold a credential: never in a log line. */
const REDACT = ["req.headers.authorization", 'req.headers["x-api-key"]', "req.headers.cookie", "headers.authorization", 'headers["x-api-key"]'];

/** Routes anyone may call: health, readiness, the API's description and the dashboard's files. */
function isPublic(url: string | undefined): boolean {
  return url === "/health" || url === "/ready" || url === "/openapi.json" || url === undefined || url === "/docs" || url.startsWith("/docs/") || url === "/" || url === "/assets/*" || url === "/v1/dashboard/config";
}

export async function buildServer(options: ServerOptions): Promise<MfactlServer> {
  const { settings } = options;
  const clock = options.clock ?? systemClock;
  const shutdownController = new AbortController();
  // Every request and job listens on this one signal.
  setMaxListeners(0, shutdownController.signal);
  // The https option changes Fastify's server type; the API is the same over HTTP and HTTPS.
  const create = Fastify as unknown as (opts: Record<string, unknown>) => FastifyInstance;
  const app = create({
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    logger: {
      level: settings.logLevel,
      redact: { paths: REDACT, censor: "[redacted]" },
      // Method, path and address; the query string can carry names but never credentials here.
      serializers: {
        req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, url: req.url, remoteAddress: req.ip ?? "" }),
      },
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: 32 * 1024 * 1024,
    trustProxy: false,
  }).withTypeProvider<ZodTypeProvider>() as ZodApp;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const entra = settings.entra;
  const authorityHost = entra?.authorityHost ?? options.authorityHost ?? "https://login.microsoftonline.com";
  const manager = new JobManager(clock, settings.keepJobs, (job, error) => app.log.warn({ jobId: job.jobId, type: job.type, err: error }, "job failed"));
  // The jobs need the context and the context names the jobs: set just below.
  let jobs = undefined as unknown as Jobs;
  const context: ServerContext = {
    settings,
    store: options.store,
    graph: options.graph,
    engine: options.engine,
    tenants: options.tenants,
    protectedList: options.protectedList ?? [],
    maxChanges: options.maxChanges,
    clock,
    jobs,
    shutdown: shutdownController.signal,
    dashboardSignIn: entraSignIn(entra, authorityHost),
    alertFetch: options.alertFetch,
    smtp: options.smtp,
  };
  jobs = options.cluster
    ? new ClusterJobs(
        context,
        manager,
        options.store.jobs,
        pgBossQueue({ connectionString: options.cluster.connectionString, schema: options.cluster.queueSchema, concurrency: settings.cluster.concurrency, pollSeconds: settings.cluster.pollSeconds }, app.log),
        { leaseMs: settings.cluster.leaseSeconds * 1000, keep: settings.keepJobs, clock },
        app.log,
      )
    : new LocalJobs(context, manager, app.log);
  context.jobs = jobs;
  await jobs.start();
  const scheduler = settings.scheduler.enabled ? new Scheduler(context, jobs, { clock: options.schedulerClock ?? clock, tickMs: settings.scheduler.tickSeconds * 1000, log: app.log }) : undefined;

  const verifier = entra
    ? new EntraTokenVerifier({
        tenantId: entra.tenantId,
        audiences: typeof entra.audience === "string" ? [entra.audience] : entra.audience,
        authorityHost,
        issuers: entra.issuers,
        fetch: options.fetch ?? ((url, init) => fetch(url, init as RequestInit)),
        clock,
      })
    : undefined;
  const authenticator = createAuthenticator({ access: options.store.access, verifier, apps: entra?.apps ?? [], dashboardClientId: entra?.dashboard?.clientId, roles: entra?.roles, people: entra?.people, clock });

  app.addHook("onRequest", async (req, reply) => {
    reply.header("x-request-id", req.id);
    await authenticator.authenticate(req);
  });
  // Credentials before bodies: an unauthenticated caller learns nothing from validation messages.
  app.addHook("preValidation", async (req) => {
    if (!isPublic(req.routeOptions.url)) requirePrincipal(req);
  });
  app.setErrorHandler(async (error, req, reply) => {
    const mapped = mapError(error);
    // A change refused for its scope or tenant is worth an audit line: who tried what.
    if (mapped.status === 403 && req.principal && req.method !== "GET") {
      await audit(context, req, { action: `${req.method} ${req.routeOptions.url ?? req.url}`, outcome: "denied", detail: mapped.error.message });
    }
    // Stopped by the shutdown mid-request: unavailable, not the caller's fault.
    if (shutdownController.signal.aborted && mapped.status < 500 && mapped.status !== 401 && mapped.status !== 403) {
      return reply.status(503).send({ error: { code: "ShuttingDown", message: "The server is shutting down; try again shortly." }, requestId: req.id });
    }
    return sendError(req, reply, error);
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: { code: "NotFound", message: `No route ${req.method} ${req.url.split("?")[0] ?? ""}.` }, requestId: req.id }));

  await app.register(helmet, {
    // The API docs page needs its own scripts and styles; everything else is JSON.
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: options.tls ? [] : null, defaultSrc: ["'self'"], scriptSrc: ["'self'"], styleSrc: ["'self'", "'unsafe-inline'"], imgSrc: ["'self'", "data:"], frameAncestors: ["'none'"] } },
    hsts: options.tls ? { maxAge: 15552000 } : false,
  });
  await app.register(rateLimit, {
    global: true,
    max: settings.rateLimit.max,
    timeWindow: settings.rateLimit.windowSeconds * 1000,
    // Per credential once authenticated (a shared NAT does not pool callers), else per address.
    keyGenerator: (req) => req.principal?.actor ?? `ip:${req.ip}`,
    // Thrown by the plugin into the error handler: an Error with the status, so the answer keeps this message.
    errorResponseBuilder: (_req, ctx) =>
      Object.assign(new Error(`Rate limit: ${ctx.max} requests per ${settings.rateLimit.windowSeconds} s for this caller; retry after ${ctx.after}.`), { statusCode: ctx.statusCode }),
  });
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "mfactl API", version: VERSION, description: "Per-user MFA state in Microsoft Entra ID: read, change (journaled, undoable), report. Field names as in mfactl's vocabulary (docs/vocabulary.md)." },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "An mfactl API key (mfak_...) or an Entra access token for api://<server app>/.default" },
          apiKey: { type: "apiKey", in: "header", name: "X-Api-Key" },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: "/docs", staticCSP: true });
  app.get("/openapi.json", { schema: { hide: true }, config: { rateLimit: false } }, async () => app.swagger());

  healthRoutes(app, context);
  userRoutes(app, context);
  jobRoutes(app, context);
  runRoutes(app, context);
  auditRoutes(app, context);
  cippRoutes(app, context);
  meRoutes(app, context);
  dashboardConfigRoute(app, context);
  dashboardRoutes(app, context);
  scheduleRoutes(app, context, scheduler);
  scheduler?.start();

  let stopping: Promise<DrainOutcome> | undefined;
  return {
    app,
    context,
    scheduler,
    shutdown(graceMs = settings.shutdownGraceSeconds * 1000) {
      stopping ??= (async () => {
        await scheduler?.stop();
        const outcome = await jobs.drain(graceMs);
        shutdownController.abort(new Error("The server is shutting down."));
        const closed = app.close();
        // Requests still in flight were just aborted and end at once. A socket that carries no request (a
        // client's spare connection) would hold close() open until the client or the headers timeout ends it.
        const force = setTimeout(() => app.server.closeAllConnections(), FORCE_CLOSE_AFTER_MS);
        try {
          await closed;
        } finally {
          clearTimeout(force);
          await jobs.close().catch((error: unknown) => app.log.warn({ err: error }, "job queue did not stop cleanly"));
        }
        return outcome;
      })();
      return stopping;
    },
  };
}
