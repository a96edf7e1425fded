/**
 * @module runner/errors
 * The one error type the runner throws. `code` is a stable UPPER_SNAKE code that
 * ends up in the RunnerResult (`{ ok: false, code, error }`) the Worker reads, so
 * callers branch on codes, never on messages. `transient` marks failures worth
 * retrying (network errors, 5xx, 429); everything else is final. Its codes are the
 * shared ones (src/shared/error-codes.ts), which also give each its HTTP status where
 * the Worker answers with it.
 */
import type { ErrorCode } from "../../src/shared/error-codes.ts";

/** A runner failure with a stable code. */
export class RunnerError extends Error {
  readonly code: string;
  readonly transient: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: { transient?: boolean; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = "RunnerError";
    this.code = code;
    this.transient = options.transient ?? false;
    this.details = options.details;
  }
}

/**
 * Short names for the runner's own codes (the Worker may also send its own, e.g.
 * PACK_HASH_MISMATCH); each must be a shared code.
 */
export const CODES = {
  usage: "USAGE",
  config: "CONFIG_MISSING",
  headMoved: "HEAD_MOVED",
  snapshotNotFound: "SNAPSHOT_NOT_FOUND",
  restoreIncomplete: "RESTORE_INCOMPLETE",
  notRestored: "WORKSPACE_NOT_RESTORED",
  network: "NETWORK_ERROR",
  api: "API_ERROR",
  badManifest: "INVALID_MANIFEST",
  internal: "INTERNAL_ERROR",
} as const satisfies Record<string, ErrorCode>;

/** Wraps anything thrown into a RunnerError (unknown errors become INTERNAL_ERROR). */
export function toRunnerError(err: unknown): RunnerError {
  if (err instanceof RunnerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RunnerError(CODES.internal, message);
}
