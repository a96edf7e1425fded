/**
 * @module sandboxd/errors
 * The one error type sandboxd's handlers throw. The server turns it into
 * `{ error, code, details? }` with its HTTP status; the local adapter
 * (src/backend/local.ts) maps `code` back to the Worker's AppError classes, so the
 * codes here are the same stable UPPER_SNAKE codes as src/errors.ts.
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

/** 403: a path that leaves the workspace (directly or through a symlink). */
export function forbiddenPath(path: string, reason = "is outside the workspace") {
  return new SandboxdError(403, "PATH_FORBIDDEN", `Path ${JSON.stringify(path)} ${reason}`, { path });
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

/**
 * Maps a Node fs error for `path` (as the caller named it) to a SandboxdError;
 * anything unknown is rethrown so the server answers 500 INTERNAL.
 */
export function fromFsError(err: unknown, path: string): SandboxdError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return notFound(`No such file or directory: ${path}`, "FILE_NOT_FOUND");
    case "EISDIR":
      return badRequest(`${path} is a directory`, "IS_A_DIRECTORY");
    case "ENOTDIR":
      return badRequest(`A parent of ${path} is not a directory`, "NOT_A_DIRECTORY");
    case "EEXIST":
      return new SandboxdError(409, "CONFLICT", `${path} already exists`);
    case "ELOOP":
      return forbiddenPath(path, "is a symlink that cannot be followed here");
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return new SandboxdError(403, "PERMISSION_DENIED", `Permission denied: ${path}`);
    case "ENOSPC":
    case "EDQUOT":
      return new SandboxdError(507, "NO_SPACE", "No space left for the workspace");
    default:
      throw err;
  }
}
