/**
 * @module jobs/decisions
 * The job queue's decisions as pure functions of a job's state and the time: what
 * happens to an expired lease, a job past its deadline, a failed start, a cancel
 * request, and which status transitions exist at all. No I/O, so every rule is
 * pinned by a table-driven test (test/worker/jobs-decisions.test.ts); leases.ts and
 * ending.ts apply them with compare-and-set updates, and where their SQL restates a
 * rule (the sweep, a lease's columns, ownership, transitions), jobs-rules-sql.test.ts
 * runs both against D1 and fails when they disagree.
 */
import { type JobStatus, LEASE_MS } from "../shared/job-format";

/**
 * After its timeout the runner kills the agent, snapshots and reports TIMEOUT itself.
 * This grace covers that work; only a job still running past timeout + grace is failed
 * by the Worker (its runner is stuck or gone while still heartbeating).
 */
export const TIMEOUT_GRACE_MS = 120_000;

/** What the lease and deadline rules look at. */
export interface LeaseState {
  status: JobStatus;
  attempt: number;
  maxAttempts: number;
  /** Epoch ms. */
  leaseUntil: number | null;
  /** Epoch ms: the current attempt's hard deadline (timeout + grace). */
  deadlineAt: number | null;
  timeoutSeconds: number;
  cancelRequested: boolean;
}

/** What to do with a running job whose runner stopped answering (or never started). */
export type RecoveryAction =
  | { kind: "none" }
  | { kind: "requeue"; reason: string }
  | { kind: "fail"; code: string; reason: string }
  | { kind: "cancel"; reason: string };

const TERMINAL: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

/** Whether a job in `status` is finished for good. */
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL.includes(status);
}

/** Every transition the queue performs; anything else is refused. */
const TRANSITIONS: Record<JobStatus, readonly JobStatus[]> = {
  queued: ["running", "cancelled"],
  running: ["queued", "succeeded", "failed", "cancelled"],
  succeeded: [],
  failed: [],
  cancelled: [],
};

/** Whether `from → to` is a valid status transition. */
export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** When a lease taken or extended at `now` runs out. */
export function leaseUntilFrom(now: number): number {
  return now + LEASE_MS;
}

/** The hard deadline of an attempt leased at `now`. */
export function deadlineFrom(now: number, timeoutSeconds: number): number {
  return now + timeoutSeconds * 1000 + TIMEOUT_GRACE_MS;
}

/**
 * A retry of the current attempt's failure (`code`, `reason`): requeue while attempts
 * remain, otherwise fail with that code. A cancel request wins over both.
 */
export function retryOrFail(job: LeaseState, code: string, reason: string): RecoveryAction {
  if (job.cancelRequested) return { kind: "cancel", reason: `Cancelled while the runner was lost: ${reason}` };
  if (job.attempt < job.maxAttempts) {
    return { kind: "requeue", reason: `${reason} (attempt ${job.attempt} of ${job.maxAttempts}; requeued)` };
  }
  return { kind: "fail", code, reason: `${reason} (attempt ${job.attempt} of ${job.maxAttempts}; no attempts left)` };
}

/**
 * The sweep's rule for one job at `now`: a running job past its hard deadline fails
 * with TIMEOUT (not retried: another attempt would time out too); one whose lease ran
 * out is requeued with its reason, or fails with LEASE_EXPIRED after maxAttempts.
 */
export function leaseExpiryAction(job: LeaseState, now: number): RecoveryAction {
  if (job.status !== "running") return { kind: "none" };
  if (job.deadlineAt !== null && now >= job.deadlineAt) {
    return {
      kind: "fail",
      code: "TIMEOUT",
      reason: `The job ran past its timeout of ${job.timeoutSeconds} s and its runner did not report`,
    };
  }
  if (job.leaseUntil !== null && now < job.leaseUntil) return { kind: "none" };
  const at = job.leaseUntil === null ? "never leased properly" : new Date(job.leaseUntil).toISOString();
  return retryOrFail(job, "LEASE_EXPIRED", `The lease expired at ${at}: no heartbeat from the runner`);
}

/** What POST /jobs/:id/cancel does to a job in `status`. */
export type CancelAction =
  | { kind: "cancel-now" }
  | { kind: "request" }
  | { kind: "already-requested" }
  | { kind: "refuse"; reason: string };

/** Queued jobs are cancelled at once; running ones are asked to stop (the runner snapshots and reports). */
export function cancelAction(job: { status: JobStatus; cancelRequested: boolean }): CancelAction {
  if (job.status === "queued") return { kind: "cancel-now" };
  if (job.status === "running") return job.cancelRequested ? { kind: "already-requested" } : { kind: "request" };
  return { kind: "refuse", reason: `The job already ended (${job.status})` };
}

/** Whether a runner of `attempt` may still act on the job (heartbeat, events, result). */
export function ownsLease(job: { status: JobStatus; attempt: number }, attempt: number): boolean {
  return job.status === "running" && job.attempt === attempt;
}

/**
 * Why a job token minted for `attempt` may no longer act at `now`, or null while it
 * may. A job token lives exactly as long as its lease: the job must be running that
 * same attempt (a token without an attempt takes the current one) and be one the
 * sweep would leave alone (lease unexpired, deadline not passed). After that, every
 * runner route refuses it, so a runner presumed dead can neither report, heartbeat
 * nor move the head under the next attempt. The reason reads after "job <id> ".
 */
export function jobTokenRefusal(job: LeaseState, attempt: number | undefined, now: number): string | null {
  if (job.status !== "running") return `is ${job.status}`;
  if (attempt !== undefined && attempt !== job.attempt) {
    return `runs attempt ${job.attempt}, not attempt ${attempt}`;
  }
  if (leaseExpiryAction(job, now).kind === "none") return null;
  if (job.deadlineAt !== null && now >= job.deadlineAt) return "ran past its deadline";
  const at = job.leaseUntil === null ? "is missing" : `expired at ${new Date(job.leaseUntil).toISOString()}`;
  return `lost its lease (the lease ${at})`;
}

/** How many more jobs the cron may start with `running` jobs under a limit of `max`. */
export function freeSlots(running: number, max: number): number {
  return Math.max(0, max - running);
}
