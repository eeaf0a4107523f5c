import { GraphError } from "../../domain/errors.js";

export interface CippErrorDetails {
  /** HTTP status of CIPP's (final) answer; 0 when none came back. */
  status: number;
  /** `CippUnauthorized`, `CippFailed`, `CippReportedSuccess`, `UserNotFound`, ... (stable, for scripts). */
  code: string;
  /** The customer tenant the call was about. */
  tenant?: string | undefined;
  user?: string | undefined;
  /** CIPP's endpoint, e.g. `ExecPerUserMFA`. */
  endpoint?: string | undefined;
  /** The request id of CIPP's answer, when its host sends one (CIPP does not pass Graph's on). */
  requestId?: string | undefined;
  attempts?: number | undefined;
}

/**
 * CIPP answered with an error (after any retries), or answered something a careful client cannot take as done.
 * A GraphError, since CIPP is a front for Graph: every front end that reports Graph failures reports these the same
 * way (status, code, message). Messages never carry the client secret or a token.
 */
export class CippError extends GraphError {
  readonly backend = "cipp";
  readonly endpoint: string | undefined;
  constructor(message: string, details: CippErrorDetails, options?: { cause?: unknown }) {
    super(message, details, options);
    this.endpoint = details.endpoint;
  }
}
