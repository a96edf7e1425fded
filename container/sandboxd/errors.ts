/**
 * @module sandboxd/errors
 * The one error type sandboxd's handlers throw. The server turns it into
 * `{ error, code, details? }` with the code's HTTP status, from the one map the Worker
 * and the runner share (src/shared/error-codes.ts); the Worker's JailContainer
 * (src/backend/jail-container.ts) reads `code`.
 */
import { type CodeWithStatus, ERROR_STATUS, type ErrorCode } from "../../src/shared/error-codes.ts";

/** A failure with a stable code (and so its HTTP status) and a message safe to show. */
export class SandboxdError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "SandboxdError";
    this.status = ERROR_STATUS[code];
    this.code = code;
    this.details = details;
  }
}

/** 400 with a specific code (VALIDATION_ERROR, INVALID_JSON, INVALID_JAIL_ID, …). */
export function badRequest(
  message: string,
  code: CodeWithStatus<400> = "VALIDATION_ERROR",
  details?: Record<string, unknown>,
) {
  return new SandboxdError(code, message, details);
}

/** 404 with a specific code (JAIL_NOT_FOUND, ROUTE_NOT_FOUND). */
export function notFound(message: string, code: CodeWithStatus<404>) {
  return new SandboxdError(code, message);
}

/** 413: a body or a file over its limit (`what` and `limitBytes` travel in details for the adapter). */
export function tooLarge(what: string, limitBytes: number) {
  return new SandboxdError("PAYLOAD_TOO_LARGE", `${what} exceeds the limit of ${limitBytes} bytes`, {
    what,
    limitBytes,
  });
}

/** 503: something sandboxd needs is not there (RUNTIME_MISSING) or not running (JAIL_NOT_RUNNING). */
export function unavailable(message: string, code: CodeWithStatus<503>, details?: Record<string, unknown>) {
  return new SandboxdError(code, message, details);
}
