/**
 * @module jobs/leases
 * Leasing in D1: the sweep of expired leases, leasing the oldest runnable job or a
 * given one, heartbeats, and putting back a job whose start failed. Every write is
 * one compare-and-set statement on (status, attempt); the partial unique index
 * `jobs_one_running_per_project` makes a second running job per project impossible,
 * so a lost race surfaces as a constraint error and is retried, never as two runners.
 * Time is a parameter (`now`, epoch ms) so tests control it without sleeping.
 */
import { ConflictError } from "../errors";
import type { Job } from "../shared/job-format";
import {
  deadlineFrom,
  leaseExpiryAction,
  leaseUntilFrom,
  ownsLease,
  type RecoveryAction,
  retryOrFail,
} from "./decisions";
import { appendStatusEvent } from "./events";
import {
  iso,
  isUniqueViolation,
  type JobRow,
  jobNotFound,
  leaseState,
  mustReadJobRow,
  notOwnedError,
  readJobRow,
  rowToJob,
} from "./records";

/** Lease attempts after a constraint error (another lease won the project) before giving up. */
const LEASE_RETRIES = 5;
/** Expired leases handled per sweep; the next sweep takes the rest. */
const SWEEP_BATCH = 100;

const LEASE_SET = `status = 'running', attempt = attempt + 1, lease_until = ?1,
  deadline_at = ?2 + timeout_seconds * 1000, cancel_requested = 0, started_at = ?3, updated_at = ?3,
  error_code = NULL, error_message = NULL`;

const NO_RUNNING_SIBLING = `NOT EXISTS (SELECT 1 FROM jobs r WHERE r.project_id = q.project_id AND r.status = 'running')`;

/** The oldest queued job whose project runs nothing, leased in one statement. */
const LEASE_NEXT_SQL = `UPDATE jobs SET ${LEASE_SET}
  WHERE id = (SELECT q.id FROM jobs q WHERE q.status = 'queued' AND ${NO_RUNNING_SIBLING}
              ORDER BY q.created_at, q.id LIMIT 1)
    AND status = 'queued'
  RETURNING *`;

const LEASE_ONE_SQL = `UPDATE jobs SET ${LEASE_SET}
  WHERE id = ?4 AND status = 'queued'
    AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.project_id = jobs.project_id AND r.status = 'running')
  RETURNING *`;

/**
 * ?1 the lease's end, ?2 the deadline of a zero-second job (the SQL adds the row's own
 * timeout: deadlineFrom is linear in it), ?3 the time. jobs-rules-sql.test.ts ties these
 * statements to decisions.ts.
 */
function leaseBindings(now: number): [number, number, string] {
  return [leaseUntilFrom(now), deadlineFrom(now, 0), iso(now)];
}

/** Apply a recovery action to a running row, compare-and-set on its attempt; true if it applied. */
export async function applyRecovery(
  db: D1Database,
  row: JobRow,
  action: RecoveryAction,
  now: number,
): Promise<boolean> {
  if (action.kind === "none") return false;
  const at = iso(now);
  const cas = "WHERE id = ? AND status = 'running' AND attempt = ?";
  const statement =
    action.kind === "requeue"
      ? db
          .prepare(`UPDATE jobs SET status = 'queued', lease_until = NULL, deadline_at = NULL, updated_at = ? ${cas}`)
          .bind(at, row.id, row.attempt)
      : db
          .prepare(
            `UPDATE jobs SET status = ?, error_code = ?, error_message = ?, lease_until = NULL, deadline_at = NULL,
               finished_at = ?, updated_at = ? ${cas}`,
          )
          .bind(
            action.kind === "fail" ? "failed" : "cancelled",
            action.kind === "fail" ? action.code : "CANCELLED",
            action.reason,
            at,
            at,
            row.id,
            row.attempt,
          );
  const { meta } = await statement.run();
  if (meta.changes !== 1) return false;
  const status = action.kind === "requeue" ? "queued" : action.kind === "fail" ? "failed" : "cancelled";
  await appendStatusEvent(
    db,
    row.id,
    { status, attempt: row.attempt, reason: action.reason, ...(action.kind === "fail" ? { code: action.code } : {}) },
    now,
  );
  return true;
}

/**
 * Requeue or fail every running job whose lease ran out (or was never recorded) or whose
 * deadline passed at `now`; returns how many this call changed (concurrent sweeps split
 * the work). The WHERE is leaseExpiryAction's rule (jobs-rules-sql.test.ts).
 */
export async function sweepExpired(db: D1Database, now: number): Promise<number> {
  const { results } = await db
    .prepare(
      `SELECT * FROM jobs WHERE status = 'running' AND (lease_until IS NULL OR lease_until <= ?1 OR deadline_at <= ?1)
       LIMIT ?2`,
    )
    .bind(now, SWEEP_BATCH)
    .all<JobRow>();
  let changed = 0;
  for (const row of results) {
    if (await applyRecovery(db, row, leaseExpiryAction(leaseState(row), now), now)) changed += 1;
  }
  return changed;
}

async function afterLease(db: D1Database, row: JobRow, now: number): Promise<Job> {
  await appendStatusEvent(db, row.id, { status: "running", attempt: row.attempt }, now);
  return rowToJob(row);
}

/**
 * Sweep (unless the caller just did: `swept`), then lease the oldest queued job of a project
 * with nothing running; null when none is runnable.
 */
export async function leaseNext(db: D1Database, now: number, opts: { swept?: boolean } = {}): Promise<Job | null> {
  if (!opts.swept) await sweepExpired(db, now);
  for (let i = 0; i < LEASE_RETRIES; i++) {
    let row: JobRow | null;
    try {
      row = await db
        .prepare(LEASE_NEXT_SQL)
        .bind(...leaseBindings(now))
        .first<JobRow>();
    } catch (err) {
      // Another lease took this job's project between the subquery and the write: pick again.
      if (isUniqueViolation(err)) continue;
      throw err;
    }
    return row ? await afterLease(db, row, now) : null;
  }
  throw new ConflictError("Leasing kept colliding with concurrent leases; try again", "LEASE_CONTENDED");
}

/**
 * Sweep, then lease job `id`: 404 JOB_NOT_FOUND, 409 JOB_NOT_QUEUED when it is not
 * queued, 409 PROJECT_BUSY when its project already runs a job.
 */
export async function leaseJob(db: D1Database, id: string, now: number): Promise<Job> {
  await sweepExpired(db, now);
  let row: JobRow | null = null;
  try {
    row = await db
      .prepare(LEASE_ONE_SQL)
      .bind(...leaseBindings(now), id)
      .first<JobRow>();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
  if (row) return await afterLease(db, row, now);
  const current = await readJobRow(db, id);
  if (!current) throw jobNotFound(id);
  if (current.status !== "queued") {
    throw new ConflictError(`Job ${id} is ${current.status}, not queued`, "JOB_NOT_QUEUED");
  }
  throw new ConflictError(`Project ${current.project_id} already runs a job`, "PROJECT_BUSY");
}

/**
 * Extend the lease of job `id` for the runner of `attempt`; 409 LEASE_LOST (or
 * JOB_FINISHED) when that attempt no longer runs. Reports whether a cancel was asked.
 */
export async function heartbeat(
  db: D1Database,
  id: string,
  attempt: number,
  now: number,
): Promise<{ leaseUntil: number; cancelRequested: boolean }> {
  const row = await db
    .prepare(
      `UPDATE jobs SET lease_until = MAX(COALESCE(lease_until, 0), ?1), updated_at = ?2
       WHERE id = ?3 AND status = 'running' AND attempt = ?4 RETURNING lease_until, cancel_requested`,
    )
    .bind(leaseUntilFrom(now), iso(now), id, attempt)
    .first<{ lease_until: number; cancel_requested: number }>();
  if (row) return { leaseUntil: row.lease_until, cancelRequested: row.cancel_requested !== 0 };
  throw notOwnedError(await mustReadJobRow(db, id), attempt);
}

/**
 * Put back a job whose runner could not be started (`reason`): requeued while
 * attempts remain, else failed with `code`. Returns the job as it is afterwards.
 */
export async function releaseAfterStartFailure(
  db: D1Database,
  id: string,
  attempt: number,
  code: string,
  reason: string,
  now: number,
): Promise<Job> {
  const row = await mustReadJobRow(db, id);
  if (ownsLease(row, attempt)) await applyRecovery(db, row, retryOrFail(leaseState(row), code, reason), now);
  return rowToJob(await mustReadJobRow(db, id));
}

/** How many jobs are running now. */
export async function countRunning(db: D1Database): Promise<number> {
  const row = await db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE status = 'running'").first<{ n: number }>();
  return row?.n ?? 0;
}
