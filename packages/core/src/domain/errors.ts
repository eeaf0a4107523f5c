/**
 * The typed error hierarchy. Every front end maps these once:
 * UsageError -> "bad input, nothing done" (exit 2); everything else -> a failed user or tenant (exit 1).
 */
export abstract class MfactlError extends Error {
  abstract readonly kind: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input or settings detected before anything was sent. */
export class UsageError extends MfactlError {
  readonly kind = "usage";
}

export interface GraphErrorDetails {
  /** HTTP status of the (final) response; 0 when no response was received. */
  status: number;
  /** Graph error code, for example `Request_ResourceNotFound`. */
  code: string;
  requestId?: string | undefined;
  tenant?: string | undefined;
  user?: string | undefined;
  /** How many attempts were made before giving up. */
  attempts?: number | undefined;
}

/** Microsoft Graph answered with an error (after any retries). */
export class GraphError extends MfactlError {
  readonly kind = "graph";
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;
  readonly tenant: string | undefined;
  readonly user: string | undefined;
  readonly attempts: number | undefined;
  constructor(message: string, details: GraphErrorDetails, options?: { cause?: unknown }) {
    super(message, options);
    this.status = details.status;
    this.code = details.code;
    this.requestId = details.requestId;
    this.tenant = details.tenant;
    this.user = details.user;
    this.attempts = details.attempts;
  }
}

/** A token could not be obtained for a tenant (bad secret, app not consented, unknown tenant...). */
export class AuthError extends MfactlError {
  readonly kind = "auth";
  readonly tenant: string;
  /** Entra error, e.g. `invalid_client`. */
  readonly code: string;
  /** AADSTS numbers, e.g. [7000215]. */
  readonly aadstsCodes: readonly number[];
  readonly correlationId: string | undefined;
  constructor(
    message: string,
    details: { tenant: string; code: string; aadstsCodes?: readonly number[]; correlationId?: string | undefined },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.tenant = details.tenant;
    this.code = details.code;
    this.aadstsCodes = details.aadstsCodes ?? [];
    this.correlationId = details.correlationId;
  }
}

/** No usable response: connection refused or reset, TLS failure, timeout, deadline exceeded. */
export class NetworkError extends MfactlError {
  readonly kind = "network";
  readonly code: string;
  readonly tenant: string | undefined;
  readonly attempts: number | undefined;
  constructor(
    message: string,
    details: { code: string; tenant?: string | undefined; attempts?: number | undefined },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = details.code;
    this.tenant = details.tenant;
    this.attempts = details.attempts;
  }
}

export function isUsageError(error: unknown): error is UsageError {
  return error instanceof UsageError;
}

/** The journal's database cannot be used: locked, corrupt, unreadable. Nothing was changed by the failing step. */
export class JournalUnavailableError extends MfactlError {
  readonly kind = "journal";
  readonly location: string;
  constructor(message: string, details: { location: string }, options?: { cause?: unknown }) {
    super(message, options);
    this.location = details.location;
  }
}

/** A plan file is applied by one run only; this one already has a run. */
export class PlanAlreadyRunError extends MfactlError {
  readonly kind = "planAlreadyRun";
  readonly planId: string;
  readonly runId: string;
  constructor(message: string, details: { planId: string; runId: string }) {
    super(message);
    this.planId = details.planId;
    this.runId = details.runId;
  }
}

export class RunNotFoundError extends MfactlError {
  readonly kind = "runNotFound";
  readonly runId: string;
  constructor(message: string, details: { runId: string }) {
    super(message);
    this.runId = details.runId;
  }
}

/** An API key that is not revoked already has this name. */
export class ApiKeyNameTakenError extends MfactlError {
  readonly kind = "apiKeyNameTaken";
  readonly keyName: string;
  constructor(message: string, details: { name: string }) {
    super(message);
    this.keyName = details.name;
  }
}
