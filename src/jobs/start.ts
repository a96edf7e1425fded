/**
 * @module jobs/start
 * Starting leased jobs: mint a runner token scoped to the job (and its attempt), then
 * start `runner run-job` in the project's sandbox as a background process. The runner
 * does the rest (fetch job, restore, agent, snapshot, report) through the runner API.
 * A start that fails puts the job back (requeued, or failed after maxAttempts) with
 * the reason. Also /run-next and /run-job: refuse before leasing anything when
 * sandboxes cannot reach the runner API, so no job is leased only to be stranded.
 * The runner also gets the model APIs' settings (keys or the egress host: models/egress).
 * Before a runner starts, any `run-job` still running in the sandbox is killed: it can
 * only be a dead attempt's runner (one running job per project), and a new attempt
 * must not share the workspace with it.
 */
import type { SandboxBackend } from "../backend/types";
import type { AppDeps } from "../deps";
import { AppError, NotFoundError } from "../errors";
import { modelRunnerEnv } from "../models/egress";
import { ensureReady } from "../sandboxes/ready";
import { JOB_ENV, type Job } from "../shared/job-format";
import { runnerCommandLine, runnerEnv } from "../snapshots/run-runner";
import { requireRunnerApi } from "../snapshots/runner-access";
import { TIMEOUT_GRACE_MS } from "./decisions";
import type { JobQueue } from "./queue";

/**
 * A job token outlives the job's hard deadline (timeout + grace) by this much, so the
 * runner can still report after a slow snapshot; the lease check of the runner API
 * (routes/runner-auth.ts), not the expiry, is what shuts out stale runners.
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

/**
 * Kill every `run-job` still running in `projectId`'s sandbox; resolves with how many.
 * A project runs one job at a time and the caller holds its lease, so any such runner
 * is left from a dead attempt (of this job or an earlier one): presumed dead by the
 * sweep but maybe only cut off, still driving its agent. Its token is already refused
 * (routes/runner-auth.ts); this stops it writing into the workspace the new attempt
 * restores. The kill takes the agent along where the runner's process tree or PID
 * namespace goes with it (Cloudflare's runtime, bwrap); an agent that outlived its
 * runner is killed by the new runner (container/runner/leftovers.ts).
 */
export async function stopStaleRunners(backend: SandboxBackend, projectId: string): Promise<number> {
  const command = runnerCommandLine(["run-job"]);
  const stale = (await backend.listProcesses(projectId)).filter((p) => p.status === "running" && p.command === command);
  for (const p of stale) {
    await backend.killProcess(projectId, p.id).catch((err: unknown) => {
      // It exited between the listing and the kill: what we wanted.
      if (!(err instanceof NotFoundError)) throw err;
    });
  }
  return stale.length;
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
    // The ensure step every route takes: a fresh container gets the head back first.
    await ensureReady(deps, job.projectId);
    await stopStaleRunners(deps.backend, job.projectId);
    await deps.backend.startProcess(job.projectId, {
      command: runnerCommandLine(["run-job"]),
      // The token travels in the environment, never on the command line (process listings show that).
      // Model keys never: placeholders and the models host the Worker answers (src/models/egress.ts).
      env: {
        ...modelRunnerEnv(),
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
