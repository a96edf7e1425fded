/**
 * @module sandboxd/errors
 * The one error type sandboxd's handlers throw. The server turns it into
 * `{ error, code, details? }` with its HTTP status; the Worker's JailContainer
 * (src/backend/jail-container.ts) reads `code`, stable UPPER_SNAKE codes as in
 * src/errors.ts.
 */

/** A failure with an HTTP status, a stable code and a message safe to show. */
export class SandboxdError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "SandboxdError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** 400 with a specific code (VALIDATION_ERROR, INVALID_PATH, INVALID_PROJECT_ID, …). */
export function badRequest(message: string, code = "VALIDATION_ERROR", details?: Record<string, unknown>) {
  return new SandboxdError(400, code, message, details);
}

/** 404 with a specific code (FILE_NOT_FOUND, PROCESS_NOT_FOUND, SANDBOX_NOT_FOUND, ROUTE_NOT_FOUND). */
export function notFound(message: string, code: string) {
  return new SandboxdError(404, code, message);
}

/** 413: a body or a file over its limit (`what` and `limitBytes` travel in details for the adapter). */
export function tooLarge(what: string, limitBytes: number) {
  return new SandboxdError(413, "PAYLOAD_TOO_LARGE", `${what} exceeds the limit of ${limitBytes} bytes`, {
    what,
    limitBytes,
  });
}

/** 503: something sandboxd needs is not there (RUNTIME_MISSING) or not running (JAIL_NOT_RUNNING). */
export function unavailable(message: string, code: string, details?: Record<string, unknown>) {
  return new SandboxdError(503, code, message, details);
}
