/**
 * @module runner/job-decisions
 * run-job's pure rules, kept apart from the I/O that carries them out (as
 * src/jobs/decisions.ts is for the queue): how a job ends given its agent's
 * outcome and why the agent was stopped, the result reported for a job that
 * finished or for one that broke, and whether an error means this runner no
 * longer owns its job. Table-tested in test/node/runner/job-decisions.test.ts.
 */
import type { ChangedFiles, Job, JobResult } from "../../src/shared/job-format.ts";
import type { AbortReason, AgentOutcome } from "./agents/types.ts";
import { zeroUsage } from "./agents/types.ts";
import { errorStatus } from "./api-client.ts";
import { capChangedFiles } from "./changes.ts";
import { toRunnerError } from "./errors.ts";

/** Codes of run-job's own failures. */
export const JOB_CODES = {
  notRunning: "JOB_NOT_RUNNING",
  leaseLost: "LEASE_LOST",
  projectMismatch: "PROJECT_MISMATCH",
  agentFailed: "AGENT_FAILED",
  timeout: "TIMEOUT",
  cancelled: "CANCELLED",
} as const;

/** The Worker refuses error messages over 10,000 characters; a failure's message is cut well below. */
export const FAILURE_MESSAGE_MAX_CHARS = 4000;

/** How a job ends: its status, and the error of a job that did not succeed. */
export type Verdict = { status: JobResult["status"]; error: JobResult["error"] };

/**
 * How the job ends after its agent: timeout and cancel (the abort's reason) first,
 * then the agent's own error, then its exit code. Also the agent phase's `ok`.
 */
export function judgeAgent(
  outcome: AgentOutcome,
  abortReason: AbortReason | null,
  job: Pick<Job, "timeoutSeconds">,
): Verdict {
  if (abortReason === "timeout") {
    return {
      status: "failed",
      error: { code: JOB_CODES.timeout, message: `Job exceeded its timeout of ${job.timeoutSeconds} s` },
    };
  }
  if (abortReason === "cancel") {
    return { status: "cancelled", error: { code: JOB_CODES.cancelled, message: "Job was cancelled" } };
  }
  if (abortReason === "lease-lost") {
    return {
      status: "failed",
      error: { code: JOB_CODES.leaseLost, message: "Lease lost: another attempt owns the job" },
    };
  }
  if (outcome.error) return { status: "failed", error: outcome.error };
  if (outcome.exitCode !== 0) {
    return {
      status: "failed",
      error: { code: JOB_CODES.agentFailed, message: `Agent exited with ${outcome.exitCode}` },
    };
  }
  return { status: "succeeded", error: null };
}

/** What a job that ran to its end produced. */
export interface JobRun {
  outcome: AgentOutcome;
  abortReason: AbortReason | null;
  job: Pick<Job, "timeoutSeconds">;
  snapshotId: string | null;
  changes: ChangedFiles;
  diff: { diff: string; truncated: boolean };
  timings: Record<string, number>;
}

/** The result of a job that ran to its end (whatever its agent did): the verdict plus what changed. */
export function decideResult(run: JobRun): JobResult {
  const { status, error } = judgeAgent(run.outcome, run.abortReason, run.job);
  return {
    status,
    exitCode: run.outcome.exitCode,
    summary: run.outcome.summary,
    changedFiles: capChangedFiles(run.changes),
    diff: run.diff.diff,
    diffTruncated: run.diff.truncated,
    timings: run.timings,
    snapshotId: run.snapshotId,
    usage: run.outcome.usage,
    error,
  };
}

/**
 * The result of a job that broke on `error` (a restore, snapshot or API failure):
 * failed with the error's code, keeping whatever the agent and snapshot had given.
 */
export function failureResult(
  error: { code: string; message: string },
  got: { outcome: AgentOutcome | null; snapshotId: string | null; timings: Record<string, number> },
): JobResult {
  return {
    status: "failed",
    exitCode: got.outcome?.exitCode ?? null,
    summary: error.message,
    changedFiles: { added: [], modified: [], deleted: [] },
    diff: "",
    diffTruncated: false,
    timings: got.timings,
    snapshotId: got.snapshotId,
    usage: got.outcome?.usage ?? zeroUsage(),
    error: { code: error.code, message: error.message.slice(0, FAILURE_MESSAGE_MAX_CHARS) },
  };
}

/**
 * Whether `err` says this runner no longer owns its job: LEASE_LOST (a newer attempt
 * runs it), or a 401 once the job's token has died with its lease (the job ended, was
 * requeued or moved on; the token itself was good when the job was fetched).
 */
export function tokenDead(err: unknown): boolean {
  return toRunnerError(err).code === JOB_CODES.leaseLost || errorStatus(err) === 401;
}

/** Whether a heartbeat's error ends this attempt: a dead token, or any 409 (LEASE_LOST or JOB_FINISHED). */
export function heartbeatEndsAttempt(err: unknown): boolean {
  return tokenDead(err) || errorStatus(err) === 409;
}
