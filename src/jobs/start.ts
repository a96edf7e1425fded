/**
 * @module jobs/start
 * Starting leased jobs, as the queue sees it: make the project's sandbox ready (the
 * ensure step every route takes), then start the job's runner (runner-driver/job.ts).
 * A start that fails puts the job back (requeued, or failed after maxAttempts) with
 * the reason. Also /run-next and /run-job: refuse before leasing anything when
 * sandboxes cannot reach the runner API, so no job is leased only to be stranded.
 */
import type { AppDeps } from "../deps";
import { AppError } from "../errors";
import { requireRunnerApi } from "../runner-driver/access";
import { startJobRunner } from "../runner-driver/job";
import { ensureReady } from "../sandboxes/ready";
import type { Job } from "../shared/job-format";
import type { JobQueue } from "./queue";

/** The job queue, or a 503 JOBS_UNAVAILABLE when no D1 database is bound. */
export function requireJobs(deps: AppDeps): JobQueue {
  if (!deps.jobs) throw new AppError("Jobs are not configured: bind a D1 database as DB", "JOBS_UNAVAILABLE");
  return deps.jobs;
}

/**
 * Start the runner for `job` (just leased: status running, its current attempt). On
 * failure the job is put back and a 502 RUNNER_START_FAILED names the reason, with the
 * job's status and attempt afterwards in `details`.
 */
export async function startJob(deps: AppDeps, job: Job, now = Date.now()): Promise<Job> {
  const jobs = requireJobs(deps);
  try {
    requireRunnerApi(deps);
    // The ensure step every route takes: a fresh container gets the head back first.
    await ensureReady(deps, job.projectId);
    await startJobRunner(deps, job);
    return job;
  } catch (err) {
    const reason = `The runner could not be started: ${err instanceof Error ? err.message : String(err)}`;
    const after = await jobs.releaseAfterStartFailure(job.id, job.attempt, "START_FAILED", reason, now);
    throw new AppError(reason, "RUNNER_START_FAILED", {
      jobId: after.id,
      status: after.status,
      attempt: after.attempt,
    });
  }
}

/** POST /run-next: lease the oldest runnable job and start it; null when none is runnable. */
export async function runNext(deps: AppDeps, now = Date.now()): Promise<Job | null> {
  const jobs = requireJobs(deps);
  requireRunnerApi(deps);
  const job = await jobs.leaseNext(now);
  return job ? await startJob(deps, job, now) : null;
}

/** POST /run-job: lease the queued job `id` and start it (404, or 409 when not queued or its project is busy). */
export async function runJob(deps: AppDeps, id: string, now = Date.now()): Promise<Job> {
  const jobs = requireJobs(deps);
  requireRunnerApi(deps);
  return await startJob(deps, await jobs.leaseJob(id, now), now);
}
