import {
  ApiKeyNameTakenError,
  AuthError,
  GraphError,
  JournalUnavailableError,
  NetworkError,
  PlanAlreadyRunError,
  RunBusyError,
  RunNotFoundError,
  UsageError,
  type ErrorInfo,
} from "@mfactl/core";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { z } from "zod";
import { AccessDeniedError } from "./auth/principal.js";

/** Every error answer: `{ error: { code, message, requestId? }, requestId }` (requestId: this server's, for its logs). */
export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    /** Graph's request id, when Graph refused. */
    requestId: z.string().optional(),
    httpStatus: z.number().int().optional(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
  requestId: z.string(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** A resource the caller named does not exist (tenant not served, unknown job, run or user). */
export class NotFoundError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "NotFoundError";
  }
}

export class ConflictError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ConflictError";
  }
}

/** A tenant could not be read (token, consent, network): the other side failed, not the caller. */
export class UpstreamError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "UpstreamError";
  }
}

export interface MappedError {
  status: number;
  error: ErrorBody["error"];
}

/** The one place core's typed errors become HTTP statuses. */
export function mapError(error: unknown): MappedError {
  if (error instanceof AccessDeniedError) return { status: error.statusCode, error: { code: error.code, message: error.message } };
  if (error instanceof NotFoundError) return { status: 404, error: { code: error.code, message: error.message } };
  if (error instanceof ConflictError) return { status: 409, error: { code: error.code, message: error.message } };
  if (error instanceof UpstreamError) return { status: 502, error: { code: error.code, message: error.message } };
  if (error instanceof UsageError) return { status: 400, error: { code: "BadRequest", message: error.message } };
  if (error instanceof ApiKeyNameTakenError) return { status: 409, error: { code: "NameTaken", message: error.message } };
  // Core's message names the database file or server; an API caller needs only the run.
  if (error instanceof RunNotFoundError) return { status: 404, error: { code: "RunNotFound", message: `No run ${error.runId} in the journal (see GET /v1/runs).` } };
  if (error instanceof PlanAlreadyRunError) return { status: 409, error: { code: "PlanAlreadyRun", message: error.message } };
  if (error instanceof RunBusyError) return { status: 409, error: { code: "RunBusy", message: error.message } };
  if (error instanceof JournalUnavailableError) return { status: 503, error: { code: "JournalUnavailable", message: error.message } };
  if (error instanceof GraphError) {
    // Throttled or unavailable after every retry: the caller may try again later, as with our own 429/503.
    const status = error.status === 404 ? 404 : error.status === 429 ? 429 : error.status === 503 || error.status === 504 ? 503 : 502;
    return { status, error: { code: error.code, message: error.message, ...(error.requestId ? { requestId: error.requestId } : {}), ...(error.status ? { httpStatus: error.status } : {}) } };
  }
  if (error instanceof AuthError) return { status: 502, error: { code: "GraphAuthFailed", message: error.message } };
  if (error instanceof NetworkError) return { status: 504, error: { code: "GraphUnreachable", message: error.message } };
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = error.validation.map((v) => ({ path: [error.validationContext, ...v.instancePath.split("/").filter((s) => s !== "")].filter(Boolean).join("."), message: v.message ?? "invalid" }));
    return { status: 400, error: { code: "BadRequest", message: `Invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, issues } };
  }
  const fe = error as Partial<FastifyError>;
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = fe.statusCode === 429 ? "TooManyRequests" : fe.statusCode === 413 ? "PayloadTooLarge" : fe.statusCode === 415 ? "UnsupportedMediaType" : "BadRequest";
    return { status: fe.statusCode, error: { code, message: fe.message ?? "Bad request" } };
  }
  return { status: 500, error: { code: "InternalError", message: "The server failed; see its log for this request id." } };
}

export function errorInfoOf(error: unknown): ErrorInfo {
  const { status, error: e } = mapError(error);
  return { code: e.code, message: e.message, httpStatus: e.httpStatus ?? status };
}

export function sendError(req: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  const mapped = mapError(error);
  if (mapped.status >= 500 && mapped.error.code === "InternalError") req.log.error({ err: error }, "request failed");
  else req.log.info({ code: mapped.error.code, status: mapped.status }, "request refused");
  return reply.status(mapped.status).send({ error: mapped.error, requestId: req.id });
}
