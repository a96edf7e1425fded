/**
 * @module errors
 * Typed errors with stable UPPER_SNAKE codes. Handlers and adapters throw these;
 * one `app.onError` (see app.ts) turns them into the envelope
 * `{ success: false, error, code }` (http/envelope.ts). Nothing else builds error JSON. A code's HTTP
 * status comes from the one map in shared/error-codes.ts; the classes only narrow
 * which codes each may carry.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type CodeWithStatus, ERROR_STATUS, type ErrorCode } from "./shared/error-codes";

/** Whether retrying the same request later can succeed. */
export type ErrorKind = "transient" | "permanent";

/** Base class: a message safe to show the caller, a code, and the code's HTTP status. */
export class AppError extends Error {
  readonly status: ContentfulStatusCode;

  constructor(
    message: string,
    readonly code: ErrorCode,
    /** Extra fields for the envelope (e.g. partial output of a timed-out command). */
    readonly details?: Record<string, unknown>,
    readonly kind: ErrorKind = "permanent",
  ) {
    super(message);
    this.name = new.target.name;
    this.status = ERROR_STATUS[code];
  }
}

/** An exception the framework (hono) raised with its own status: HTTP_ERROR, that status. */
export class FrameworkHttpError extends AppError {
  override readonly status: ContentfulStatusCode;

  constructor(message: string, status: ContentfulStatusCode) {
    super(message, "HTTP_ERROR");
    this.status = status;
  }
}

/** 400: the request is malformed or a field is invalid. */
export class ValidationError extends AppError {
  constructor(message: string, details?: Record<string, unknown>, code: CodeWithStatus<400> = "VALIDATION_ERROR") {
    super(message, code, details);
  }
}

/** 401: missing or wrong bearer token, or no token configured (fail closed). */
export class UnauthorizedError extends AppError {
  constructor(message = "Missing or invalid bearer token") {
    super(message, "UNAUTHORIZED");
  }
}

/** 403: a path that resolves outside the workspace root (e.g. through a symlink). */
export class ForbiddenPathError extends AppError {
  constructor(path: string, reason = "is outside the workspace") {
    super(`Path ${JSON.stringify(path)} ${reason}`, "PATH_FORBIDDEN");
  }
}

/** 404 with a specific code (ROUTE_NOT_FOUND, FILE_NOT_FOUND, PROCESS_NOT_FOUND, …). */
export class NotFoundError extends AppError {
  constructor(message: string, code: CodeWithStatus<404> = "NOT_FOUND") {
    super(message, code);
  }
}

/** 405: the route exists but not with this method. */
export class MethodNotAllowedError extends AppError {
  constructor(method: string, allowed: string[]) {
    super(`Method ${method} is not allowed here; use ${allowed.join(", ")}`, "METHOD_NOT_ALLOWED", {
      allowed,
    });
  }
}

/** 409: the request conflicts with the sandbox's state (e.g. clone into a non-empty directory). */
export class ConflictError extends AppError {
  constructor(message: string, code: CodeWithStatus<409> = "CONFLICT") {
    super(message, code);
  }
}

/** 409 HEAD_MOVED: a snapshot commit whose parent is no longer the head; carries the current head. */
export class HeadMovedError extends AppError {
  constructor(expected: string | null, head: string | null) {
    super(
      `The head moved: the snapshot's parent is ${expected ?? "none"} but the head is ${head ?? "none"}`,
      "HEAD_MOVED",
      { expected, head },
    );
  }
}

/** 413: body or file over the configured limit. */
export class PayloadTooLargeError extends AppError {
  constructor(what: string, limitBytes: number) {
    super(`${what} exceeds the limit of ${limitBytes} bytes`, "PAYLOAD_TOO_LARGE", { limitBytes });
  }
}

/** 415: a body in a media type the route does not take (e.g. JSON routes sent form data). */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string) {
    super(message, "UNSUPPORTED_MEDIA_TYPE");
  }
}

/** 426: a WebSocket route (the terminal) asked without `Upgrade: websocket`. */
export class UpgradeRequiredError extends AppError {
  constructor(message: string) {
    super(message, "UPGRADE_REQUIRED");
  }
}

/** 408: a command ran past its timeout and was killed; carries the output so far. */
export class TimeoutError extends AppError {
  constructor(timeoutMs: number, details?: Record<string, unknown>) {
    super(`Command timed out after ${timeoutMs} ms and was killed`, "TIMEOUT", { timeoutMs, ...details });
  }
}

/**
 * 503 (transient: BACKEND_UNAVAILABLE, the default) or 502 (permanent: BACKEND_ERROR,
 * FILE_READ_FAILED, …): the sandbox backend cannot be reached, or failed.
 */
export class BackendError extends AppError {
  constructor(message: string, code: CodeWithStatus<502 | 503> = "BACKEND_UNAVAILABLE") {
    super(message, code, undefined, ERROR_STATUS[code] === 503 ? "transient" : "permanent");
  }
}
