/**
 * @module runner-driver/job
 * Starting a leased job's runner: mint a runner token scoped to the job (and its
 * attempt), stop any runner a dead attempt left behind, then start `runner run-job`
 * in the project's sandbox as a background process. The runner does the rest (fetch
 * job, restore, agent, snapshot, report) through the runner API. The runner also gets
 * the model APIs' settings (placeholders and the egress host: models/egress) and the
 * operator's agent limits. What a failed start does to the job is the queue's business
 * (src/jobs/start.ts).
 */
import type { SandboxBackend } from "../backend/types";
import { NotFoundError } from "../errors";
import { TIMEOUT_GRACE_MS } from "../jobs/decisions";
import { modelRunnerEnv } from "../models/egress";
import { JOB_ENV, type Job } from "../shared/job-format";
import { type RunnerDeps, requireRunnerApi } from "./access";
import { runnerCommandLine, runnerEnv } from "./run";

/**
 * A job token outlives the job's hard deadline (timeout + grace) by this much, so the
 * runner can still report after a slow snapshot; the lease check of the runner API
 * (routes/runner-auth.ts), not the expiry, is what shuts out stale runners.
 */
const TOKEN_SLACK_SECONDS = 600;

/** The agent limits the operator set (AGENT_MAX_*), for the runner's environment. */
function agentLimitsEnv(config: RunnerDeps["config"]): Record<string, string> {
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

/**
 * Start `runner run-job` for `job` (just leased: status running, its current attempt) in
 * a sandbox that is already ready (restored). Throws whatever failed; nothing is retried.
 */
export async function startJobRunner(deps: RunnerDeps, job: Job): Promise<void> {
  const { snapshots, apiUrl } = requireRunnerApi(deps);
  const ttl = job.timeoutSeconds + Math.ceil(TIMEOUT_GRACE_MS / 1000) + TOKEN_SLACK_SECONDS;
  const token = await snapshots.tokens.mint(job.projectId, ttl, job.id, job.attempt);
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
}
