/**
 * @module backend/cloudflare-errors
 * The one place where failures of @cloudflare/sandbox become our AppErrors.
 *
 * SDK errors cross the Durable Object RPC boundary as plain objects of their
 * class name: workerd keeps `name`, `message` and own properties (notably
 * `errorResponse: { code, message, context, httpStatus }`) but not prototype
 * getters such as `code`. So the mapping reads `errorResponse.code` (falling back
 * to an own `code`), never the message, except for the one case the container
 * reports only in prose: a command that outran the container-side timeout.
 */
import {
  AppError,
  BackendError,
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  TimeoutError,
  ValidationError,
} from "../errors";

/** What the SDK's container reports in `errorResponse`. */
export interface SdkErrorShape {
  code: string;
  message: string;
  context?: Record<string, unknown>;
  httpStatus?: number;
}

/** Context the caller knows and the error may not carry. */
export interface ErrorContext {
  /** The command's timeout, when the failing call ran one. */
  timeoutMs?: number;
  /** Scrubs text before it reaches a message (e.g. credentials of a clone URL). */
  redact?: (text: string) => string;
}

/** SDK codes meaning "the container is not there right now; retry later". */
const TRANSIENT_CODES = new Set([
  "CONTAINER_UNAVAILABLE",
  "RPC_TRANSPORT_ERROR",
  "OPERATION_INTERRUPTED",
  "SESSION_TERMINATED",
  "SESSION_DESTROYED",
  "INTERPRETER_NOT_READY",
]);

/** Messages of errors raised by the platform rather than the container (DO reset, overload, network). */
const TRANSIENT_MESSAGE =
  /container is starting|no container instance|network connection lost|durable object reset|overloaded|internal error in durable object|container suddenly disconnected/i;

/** Pulls `{code, message, …}` out of an SDK error (local instance or RPC copy), or null. */
export function sdkErrorShape(err: unknown): SdkErrorShape | null {
  if (typeof err !== "object" || err === null) return null;
  const rec = err as { errorResponse?: unknown; code?: unknown; message?: unknown };
  const resp = rec.errorResponse as Partial<SdkErrorShape> | undefined;
  if (resp && typeof resp.code === "string") {
    return {
      code: resp.code,
      message: typeof resp.message === "string" ? resp.message : String(rec.message ?? resp.code),
      context: resp.context,
      httpStatus: resp.httpStatus,
    };
  }
  if (typeof rec.code === "string" && /^[A-Z][A-Z0-9_]+$/.test(rec.code)) {
    return { code: rec.code, message: String(rec.message ?? rec.code) };
  }
  return null;
}

/**
 * Maps anything thrown by the SDK (or the DO RPC path around it) to an AppError.
 * AppErrors pass through unchanged.
 */
export function toAppError(err: unknown, ctx: ErrorContext = {}): AppError {
  if (err instanceof AppError) return err;
  const redact = ctx.redact ?? ((t: string) => t);
  const shape = sdkErrorShape(err);
  const rawMessage = shape?.message ?? (err instanceof Error ? err.message : String(err));
  const message = redact(rawMessage);
  if (!shape) {
    return TRANSIENT_MESSAGE.test(rawMessage)
      ? new BackendError(`Sandbox container unavailable: ${message}`)
      : new BackendError(`Sandbox backend failed: ${message}`, "BACKEND_ERROR");
  }
  switch (shape.code) {
    case "FILE_NOT_FOUND":
      return new NotFoundError(message, "FILE_NOT_FOUND");
    case "PROCESS_NOT_FOUND":
      return new NotFoundError(message, "PROCESS_NOT_FOUND");
    case "IS_DIRECTORY":
      return new ValidationError(message, undefined, "IS_A_DIRECTORY");
    case "NOT_DIRECTORY":
      return new ValidationError(message, undefined, "NOT_A_DIRECTORY");
    case "FILE_EXISTS":
    case "RESOURCE_BUSY":
      return new ConflictError(message);
    case "FILE_TOO_LARGE": {
      const limit = shape.context?.maxSize;
      return new PayloadTooLargeError("File", typeof limit === "number" ? limit : 32 * 1024 * 1024);
    }
    case "PERMISSION_DENIED":
    case "READ_ONLY":
    case "COMMAND_PERMISSION_DENIED":
    case "PROCESS_PERMISSION_DENIED":
      return new AppError(message, "PERMISSION_DENIED");
    case "NO_SPACE":
      return new AppError(message, "NO_SPACE");
    case "VALIDATION_FAILED":
    case "INVALID_COMMAND":
    case "NAME_TOO_LONG":
      return new ValidationError(message);
    case "COMMAND_EXECUTION_ERROR":
      // The container's own timeout (set a little after ours) reports only in prose.
      if (/command timeout/i.test(rawMessage) && ctx.timeoutMs !== undefined) return new TimeoutError(ctx.timeoutMs);
      return new BackendError(`Command could not run: ${message}`, "BACKEND_ERROR");
    case "INTERNAL_ERROR":
      if (shape.httpStatus === 503 || TRANSIENT_MESSAGE.test(rawMessage)) {
        return new BackendError(`Sandbox container unavailable: ${message}`);
      }
      return new BackendError(`Sandbox backend failed: ${message}`, "BACKEND_ERROR");
    default:
      if (TRANSIENT_CODES.has(shape.code)) {
        return new BackendError(`Sandbox container unavailable: ${message}`);
      }
      return new BackendError(`Sandbox backend failed (${shape.code}): ${message}`, "BACKEND_ERROR");
  }
}

/** Runs `fn`, mapping whatever it throws through toAppError. */
export async function mapErrors<T>(fn: () => Promise<T>, ctx?: ErrorContext): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toAppError(err, ctx);
  }
}
