import { AccessError, ApiKeyNameTakenError, AuthError, GraphError, JournalUnavailableError, NetworkError, PlanAlreadyRunError, RunBusyError, RunNotFoundError, UsageError } from "@mfactl/core";
import { EXIT, type ExitCode } from "./exit-codes.js";

/** One readable line for any error, plus detail lines for --verbose. Never a stack trace by default. */
export function describeError(error: unknown): { message: string; detail: string[]; exitCode: ExitCode } {
  if (error instanceof UsageError) return { message: error.message, detail: [], exitCode: EXIT.usage };
  // Raised before a run sends anything; a journal failure in the middle of a run is mapped by the command.
  if (error instanceof JournalUnavailableError) return { message: error.message, detail: [`journal: ${error.location}`], exitCode: EXIT.usage };
  if (error instanceof PlanAlreadyRunError) return { message: error.message, detail: [`plan id: ${error.planId}`, `run: ${error.runId}`], exitCode: EXIT.usage };
  if (error instanceof RunNotFoundError || error instanceof RunBusyError) return { message: error.message, detail: [], exitCode: EXIT.usage };
  if (error instanceof ApiKeyNameTakenError) return { message: error.message, detail: [`key name: ${error.keyName}`], exitCode: EXIT.usage };
  if (error instanceof GraphError) {
    const detail = [
      `http status: ${error.status}`,
      `graph code: ${error.code}`,
      ...(error.requestId ? [`request id: ${error.requestId}`] : []),
      ...(error.tenant ? [`tenant: ${error.tenant}`] : []),
      ...(error.user ? [`user: ${error.user}`] : []),
      ...(error.attempts ? [`attempts: ${error.attempts}`] : []),
    ];
    return { message: withContext(error.message, error.code, error.requestId), detail, exitCode: EXIT.failed };
  }
  if (error instanceof AuthError) {
    const detail = [
      `tenant: ${error.tenant}`,
      // The cause an MSP acts on (docs/msp.md): noRelationship, missingRole, consentMissing, signInAgain, notSignedIn, secretExpired.
      ...(error instanceof AccessError ? [`cause: ${error.authCause}`] : []),
      `entra error: ${error.code}`,
      ...(error.aadstsCodes.length ? [`AADSTS: ${error.aadstsCodes.join(", ")}`] : []),
      ...(error.correlationId ? [`correlation id: ${error.correlationId}`] : []),
    ];
    return { message: error.message, detail, exitCode: EXIT.failed };
  }
  if (error instanceof NetworkError) {
    return { message: error.message, detail: [`code: ${error.code}`, ...(error.attempts ? [`attempts: ${error.attempts}`] : [])], exitCode: EXIT.failed };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: `Unexpected error: ${message}`, detail: error instanceof Error && error.stack ? [error.stack] : [], exitCode: EXIT.failed };
}

/** Add the error code and request id to a message unless it already names them. */
export function withContext(message: string, code: string | undefined, requestId: string | undefined): string {
  const extras = [
    code && !message.includes(code) ? code : undefined,
    requestId && !message.includes(requestId) ? `request id ${requestId}` : undefined,
  ].filter(Boolean);
  return extras.length ? `${message} [${extras.join(", ")}]` : message;
}
