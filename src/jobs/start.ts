/**
 * @module jobs/start
 * Starting leased jobs: mint a runner token scoped to the job (and its attempt), then
 * start `runner run-job` in the project's sandbox as a background process. The runner
 * does the rest (fetch job, restore, agent, snapshot, report) through the runner API.
 * A start that fails puts the job back (requeued, or failed after maxAttempts) with
 * the reason. Also /run-next and /run-job: refuse before leasing anything when
 * sandboxes cannot reach the runner API, so no job is leased only to be stranded.
 * The runner also gets the model APIs' settings (keys or the egress host: models/egress).
 */
import type { AppDeps } from "../deps";
import { AppError } from "../errors";
import { modelRunnerEnv } from "../models/egress";
import { JOB_ENV, type Job } from "../shared/job-format";
import { runnerCommandLine, runnerEnv } from "../snapshots/run-runner";
import { requireRunnerApi } from "../snapshots/runner-access";
import { TIMEOUT_GRACE_MS } from "./decisions";
import type { JobQueue } from "./queue";

/**
 * A job token outlives the job's hard deadline (timeout + grace) by this much, so the
 * runner can still report after a slow snapshot; the attempt check, not the expiry,
 * is what shuts out stale runners.
 */
const TOKEN_SLACK_SECONDS = 600;

/** The agent limits the operator set (AGENT_MAX_*), for the runner's environment. */
function agentLimitsEnv(config: AppDeps["config"]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ["AGENT_MAX_TURNS", "AGENT_MAX_TOKENS", "AGENT_MAX_COST_USD"] as const) {
    const v = config[k];
    if (v) env[k] = v;
  }
  return env;
}

/** The job queue, or a 503 JOBS_UNAVAILABLE when no D1 database is bound. */
export function requireJobs(deps: AppDeps): JobQueue {
  if (!deps.jobs) throw new AppError("Jobs are not configured: bind a D1 database as DB", "JOBS_UNAVAILABLE", 503);
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
    const { snapshots, apiUrl } = requireRunnerApi(deps);
    const ttl = job.timeoutSeconds + Math.ceil(TIMEOUT_GRACE_MS / 1000) + TOKEN_SLACK_SECONDS;
    const token = await snapshots.tokens.mint(job.projectId, ttl, job.id, job.attempt);
    await deps.backend.ensure(job.projectId);
    await deps.backend.startProcess(job.projectId, {
      command: runnerCommandLine(["run-job"]),
      // The token travels in the environment, never on the command line (process listings show that).
      // Model keys: the real ones only on the local backend, and only for run-job; on Cloudflare
      // placeholders and the intercepted models host (src/models/egress.ts).
      env: {
        ...modelRunnerEnv(deps.config),
        ...agentLimitsEnv(deps.config),
        ...runnerEnv({ apiUrl, token }, job.projectId),
        [JOB_ENV.jobId]: job.id,
      },
    });
    return job;
  } catch (err) {
    const reason = `The runner could not be started: ${err instanceof Error ? err.message : String(err)}`;
    const after = await jobs.releaseAfterStartFailure(job.id, job.attempt, "START_FAILED", reason, now);
    throw new AppError(reason, "RUNNER_START_FAILED", 502, {
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
