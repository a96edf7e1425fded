/**
 * @module jobs/ending
 * How a job ends, or is asked to: a user's cancel (decisions.ts cancelAction), the
 * runner's report of its result, and the runner's events while it still owns the lease
 * (decisions.ts ownsLease). Each write is a compare-and-set on (status, attempt), the
 * same rule in SQL; test/worker/jobs-rules-sql.test.ts ties the two.
 */
import { ConflictError } from "../errors";
import type { Job, JobResult, NewJobEvent } from "../shared/job-format";
import { cancelAction, ownsLease } from "./decisions";
import { appendEvents, appendStatusEvent } from "./events";
import { iso, type JobRow, mustReadJobRow, notOwnedError, rowToJob } from "./records";

/** Attempts at a compare-and-set that lost to a concurrent transition before giving up. */
const CAS_RETRIES = 3;

/** Cancel a queued job at once, or ask a running one's runner to stop (it snapshots and reports). */
export async function cancelJob(db: D1Database, id: string, now: number): Promise<Job> {
  // Retried: the job may be leased or finished between the read and the write.
  for (let i = 0; i < CAS_RETRIES; i++) {
    const row = await mustReadJobRow(db, id);
    const action = cancelAction({ status: row.status, cancelRequested: row.cancel_requested !== 0 });
    if (action.kind === "refuse") throw new ConflictError(`Cannot cancel: ${action.reason}`, "JOB_FINISHED");
    if (action.kind === "already-requested") return rowToJob(row);
    const at = iso(now);
    const { meta } =
      action.kind === "cancel-now"
        ? await db
            .prepare(
              `UPDATE jobs SET status = 'cancelled', error_code = 'CANCELLED', error_message = ?,
                 finished_at = ?, updated_at = ? WHERE id = ? AND status = 'queued'`,
            )
            .bind("Cancelled before it started", at, at, id)
            .run()
        : await db
            .prepare(
              "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ? AND status = 'running' AND attempt = ?",
            )
            .bind(at, id, row.attempt)
            .run();
    if (meta.changes === 1) {
      const data =
        action.kind === "cancel-now" ? { status: "cancelled" } : { status: "running", cancelRequested: true };
      await appendStatusEvent(db, id, data, now);
      return rowToJob(await mustReadJobRow(db, id));
    }
  }
  throw new ConflictError(`Job ${id} kept changing while being cancelled; try again`, "CONFLICT");
}

/** The runner's report for `attempt`: running → result.status; 409 when that attempt no longer runs. */
export async function finishJob(
  db: D1Database,
  id: string,
  attempt: number,
  result: JobResult,
  now: number,
): Promise<Job> {
  const at = iso(now);
  // A failed or cancelled job always names why, even when the runner did not.
  const error =
    result.status === "succeeded"
      ? null
      : (result.error ?? {
          code: result.status === "cancelled" ? "CANCELLED" : "AGENT_FAILED",
          message: result.summary || `The job ${result.status}`,
        });
  const row = await db
    .prepare(
      `UPDATE jobs SET status = ?1, result = ?2, error_code = ?3, error_message = ?4, finished_at = ?5,
         updated_at = ?5, lease_until = NULL, deadline_at = NULL
       WHERE id = ?6 AND status = 'running' AND attempt = ?7 RETURNING *`,
    )
    .bind(result.status, JSON.stringify(result), error?.code ?? null, error?.message ?? null, at, id, attempt)
    .first<JobRow>();
  if (!row) throw notOwnedError(await mustReadJobRow(db, id), attempt);
  await appendStatusEvent(
    db,
    id,
    { status: row.status, attempt, ...(error ? { code: error.code, reason: error.message } : {}) },
    now,
  );
  return rowToJob(row);
}

/** Append the runner's events for `attempt` (409 when it no longer owns the lease); returns the last seq. */
export async function appendRunnerEvents(
  db: D1Database,
  id: string,
  attempt: number,
  events: NewJobEvent[],
  now: number,
): Promise<number> {
  const row = await mustReadJobRow(db, id);
  if (!ownsLease(row, attempt)) throw notOwnedError(row, attempt);
  return await appendEvents(db, id, events, now);
}
