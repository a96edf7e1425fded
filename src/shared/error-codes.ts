/**
 * @module shared/error-codes
 * Every error code that crosses a wire, with the HTTP status it is answered with: the
 * Worker's API (src/errors.ts), the jail host's (container/sandboxd/errors.ts) and the
 * runner's results (container/runner/errors.ts), as sandbox-sdk keeps `ErrorCode` and
 * its status map in its shared package. A code's status is looked up here and nowhere
 * else restated. No imports, so Node loads it directly and esbuild bundles it into the
 * runner (which imports only types from here).
 *
 * Not here: the codes of a job's outcome (`Job.error.code`: TIMEOUT, AGENT_FAILED,
 * LEASE_EXPIRED, …), which are data in a job record, never an HTTP answer.
 */

/** Each code and its HTTP status. Codes are stable UPPER_SNAKE; clients branch on them. */
export const ERROR_STATUS = {
  // 400: the request is malformed or a field is invalid.
  VALIDATION_ERROR: 400,
  INVALID_JSON: 400,
  INVALID_PATH: 400,
  INVALID_BASE64: 400,
  INVALID_CURSOR: 400,
  INVALID_ARCHIVE: 400,
  INVALID_EVENT_ID: 400,
  INVALID_CWD: 400,
  INVALID_REPO_URL: 400,
  INVALID_BRANCH: 400,
  INVALID_JAIL_ID: 400,
  IS_A_DIRECTORY: 400,
  NOT_A_DIRECTORY: 400,
  CLONE_FAILED: 400,
  LENGTH_REQUIRED: 400,
  BODY_LENGTH_MISMATCH: 400,
  PACK_HASH_MISMATCH: 400,
  PROJECT_MISMATCH: 400,
  MISSING_PACKS: 400,
  BLOB_OUT_OF_PACK: 400,
  UPGRADE_NOT_SUPPORTED: 400,
  INVALID_PORT: 400,
  PREVIEW_URL_INVALID: 400,
  // 401: missing or wrong credentials (or none configured: fail closed).
  UNAUTHORIZED: 401,
  MODEL_KEY_MISSING: 401,
  // 403: refused whoever asks.
  PATH_FORBIDDEN: 403,
  PERMISSION_DENIED: 403,
  EGRESS_HOST_REFUSED: 403,
  // 404: no such thing.
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  PROCESS_NOT_FOUND: 404,
  SANDBOX_NOT_FOUND: 404,
  SNAPSHOT_NOT_FOUND: 404,
  PACK_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  JAIL_NOT_FOUND: 404,
  PORT_NOT_EXPOSED: 404,
  METHOD_NOT_ALLOWED: 405,
  TIMEOUT: 408,
  // 409: conflicts with the current state.
  CONFLICT: 409,
  HEAD_MOVED: 409,
  WORKSPACE_NOT_RESTORED: 409,
  IDEMPOTENCY_CONFLICT: 409,
  JOB_NOT_QUEUED: 409,
  JOB_FINISHED: 409,
  PROJECT_BUSY: 409,
  LEASE_CONTENDED: 409,
  LEASE_LOST: 409,
  PUSH_REJECTED: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  // 426: the route speaks WebSocket only (the terminal).
  UPGRADE_REQUIRED: 426,
  // 500: our own failure.
  INTERNAL_ERROR: 500,
  /** An exception the framework raised; answered with the framework's status (src/app.ts). */
  HTTP_ERROR: 500,
  RESTORE_INCOMPLETE: 500,
  ROOT_TOO_DEEP: 500,
  JAIL_START_FAILED: 500,
  JAIL_NETWORK_FAILED: 500,
  // 502: something behind us (the sandbox, the runner, a jail) failed.
  BACKEND_ERROR: 502,
  FILE_READ_FAILED: 502,
  FILE_WRITE_FAILED: 502,
  FILE_DELETE_FAILED: 502,
  RUNNER_FAILED: 502,
  RUNNER_MISSING: 502,
  RUNNER_START_FAILED: 502,
  JAIL_PROXY_FAILED: 502,
  JAIL_SOCKET_INVALID: 502,
  PUSH_AUTH_FAILED: 502,
  PULL_REQUEST_FAILED: 502,
  // 503: not available now, or not configured; retrying later can succeed.
  BACKEND_UNAVAILABLE: 503,
  RESTORE_FAILED: 503,
  SNAPSHOTS_UNAVAILABLE: 503,
  RUNNER_API_UNREACHABLE: 503,
  JOBS_UNAVAILABLE: 503,
  REGISTRY_UNAVAILABLE: 503,
  RUNTIME_MISSING: 503,
  JAIL_NOT_RUNNING: 503,
  EGRESS_UNAVAILABLE: 503,
  NO_SPACE: 507,
  // The runner's own result codes (container/runner/errors.ts) that no route answers
  // with their status: a user route answers them 502 (see RUNNER_CODES_WITH_STATUS).
  USAGE: 500,
  CONFIG_MISSING: 500,
  NETWORK_ERROR: 502,
  API_ERROR: 502,
  INVALID_MANIFEST: 502,
} as const satisfies Record<string, number>;

/** A code that crosses a wire. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** The codes answered with status `S` (e.g. `CodeWithStatus<404>`), for typed constructors. */
export type CodeWithStatus<S extends number> = {
  [K in ErrorCode]: (typeof ERROR_STATUS)[K] extends S ? K : never;
}[ErrorCode];

/** Whether `code` is one of ours (a string from a wire may be anything). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}

/**
 * Runner failures a user route (snapshot, restore, destroy) answers with the code's own
 * status; any other failure of the runner is the sandbox's, a 502 (src/runner-driver/run.ts).
 */
export const RUNNER_CODES_WITH_STATUS: readonly ErrorCode[] = [
  "SNAPSHOT_NOT_FOUND",
  "HEAD_MOVED",
  "WORKSPACE_NOT_RESTORED",
  "RESTORE_INCOMPLETE",
];
