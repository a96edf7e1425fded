/**
 * @module runner/run-job
 * `runner run-job`: one agent job from start to result. Fetch the job (it must be
 * running, i.e. leased to this attempt) → prepare the workspace (job-prepare.ts:
 * kill a dead attempt's leftovers, clone on the project's first job, else restore
 * the head with install; a first job's start becomes the head) → run the agent
 * under the job's timeout → snapshot → changed files and diff → decide and post
 * the result (job-decisions.ts decides, job-report.ts reports).
 * Heartbeats run the whole time (heartbeat.ts); one answering cancelRequested
 * aborts the agent (the job then ends `cancelled`, snapshotted), one answering 409
 * LEASE_LOST or 401 (the job's token died with its lease: the job ended or another
 * attempt owns it) stops everything and exits WITHOUT a result. Phase changes and
 * the agent's output go out as batched job events, flushed before the result.
 *
 * Exit 0 whenever a result was reported (also for failed/cancelled jobs); 1 when
 * something unexpected failed (reported as failed with its code when the API is
 * reachable) or the lease was lost.
 */

import {
  type ChangedFiles,
  DIFF_MAX_BYTES,
  HEARTBEAT_INTERVAL_MS,
  JOB_ENV,
  type Job,
  type JobGit,
  type JobResult,
  type NewJobEvent,
} from "../../src/shared/job-format.ts";
import { type Manifest, RUNNER_ENV } from "../../src/shared/snapshot-format.ts";
import { getAgent } from "./agents/index.ts";
import { type AbortReason, type Agent, type AgentOutcome, zeroUsage } from "./agents/types.ts";
import type { RetryInfo, RetryOptions } from "./api-client.ts";
import { takeSnapshot } from "./archiver.ts";
import { changedFiles, type ReadBefore, type Tree, treeFromManifest, unifiedDiff } from "./changes.ts";
import type { RunnerConfig } from "./config.ts";
import { CODES, RunnerError, toRunnerError } from "./errors.ts";
import { startCommit } from "./git-push.ts";
import { Heartbeat } from "./heartbeat.ts";
import { HttpStore } from "./http-store.ts";
import { loadIgnoreRules } from "./ignore.ts";
import { EventBatcher, JobClient } from "./job-client.ts";
import { decideResult, failureResult, JOB_CODES, judgeAgent, tokenDead } from "./job-decisions.ts";
import { prepareWorkspace, rulesOptions } from "./job-prepare.ts";
import { failedExit, type PhaseRunner, phaseRunner, postFailure, type RunJobExit, reportedExit } from "./job-report.ts";
import { type Committed, commitStep, pushingRepo, shipStep } from "./job-ship.ts";
import { agentMark } from "./leftovers.ts";
import { withManifestCache } from "./manifest-cache.ts";
import type { SnapshotStore } from "./store.ts";

/** Inputs of runJob. */
export interface RunJobOptions {
  config: RunnerConfig;
  env: NodeJS.ProcessEnv;
  log: (message: string) => void;
  /** Builds the snapshot store for the job's project (tests may pass a fake). */
  makeStore?: (projectId: string) => SnapshotStore;
}

const LEASE_LOST_MESSAGE = "Lease lost: another attempt owns the job";

function positiveIntEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const n = Number(env[name]);
  return env[name] && Number.isInteger(n) && n > 0 ? n : fallback;
}

/** Runs the job named by SANDBOX_JOB_ID; resolves with the exit code and the output object. */
export async function runJob(opts: RunJobOptions): Promise<RunJobExit> {
  const { config, env, log } = opts;
  const jobId = env[JOB_ENV.jobId];
  if (!jobId) throw new RunnerError(CODES.config, `Missing environment variable(s): ${JOB_ENV.jobId}`);
  const started = Date.now();
  const retry: WorkContext["retry"] = {
    ...(config.retries !== undefined ? { attempts: config.retries + 1 } : {}),
    ...(config.retryBaseMs !== undefined ? { baseDelayMs: config.retryBaseMs } : {}),
    onRetry: (i) => log(`retry ${i.attempt} of ${i.method} ${i.path} in ${Math.round(i.delayMs)} ms: ${i.reason}`),
  };
  const client = new JobClient({ apiUrl: config.apiUrl, token: config.token, jobId, ...retry });
  const job: Job = await client.getJob();
  if (job.status !== "running") {
    return failedExit(jobId, JOB_CODES.notRunning, `Job ${jobId} is ${job.status}, not running`, false);
  }
  const batcher = new EventBatcher({ post: (e) => client.postEvents(e), log });
  const emit = (e: NewJobEvent): void => batcher.push(e);
  const timings: Record<string, number> = {};
  const phase = phaseRunner(emit, timings);
  const heartbeat = new Heartbeat({
    client,
    attempt: job.attempt,
    intervalMs: positiveIntEnv(env, "SANDBOX_HEARTBEAT_MS", HEARTBEAT_INTERVAL_MS),
    cancelRequested: job.cancelRequested,
    log,
  });
  const leaseLostExit = async (): Promise<RunJobExit> => {
    await heartbeat.stop();
    await batcher.close();
    return failedExit(jobId, JOB_CODES.leaseLost, LEASE_LOST_MESSAGE, false);
  };

  const got: Progress = { outcome: null, snapshotId: null };
  try {
    const result = await workJob({ ...opts, job, client, retry, phase, emit, heartbeat, got, timings, started });
    if (!result) return await leaseLostExit();
    // Events first: the Worker ends the event stream when the result lands.
    await batcher.close();
    await heartbeat.stop();
    if (heartbeat.leaseLost) return failedExit(jobId, JOB_CODES.leaseLost, LEASE_LOST_MESSAGE, false);
    await client.postResult(result);
    log(`job ${job.id} ${result.status}${result.error ? ` (${result.error.code})` : ""}`);
    return reportedExit(job.id, result, started);
  } catch (err) {
    const e = toRunnerError(err);
    await heartbeat.stop();
    await batcher.close();
    if (heartbeat.leaseLost || tokenDead(err)) return failedExit(jobId, JOB_CODES.leaseLost, e.message, false);
    log(`job ${job.id} failed: ${e.code}: ${e.message}`);
    timings.total = Date.now() - started;
    const reported = await postFailure(client, failureResult(e, { ...got, timings }), log);
    return failedExit(jobId, e.code, e.message, reported);
  }
}

/** What a job had got when it broke: a failed result still carries it. */
interface Progress {
  outcome: AgentOutcome | null;
  snapshotId: string | null;
}

/** What workJob needs: runJob's inputs, the leased job and its reporting and heartbeat. */
interface WorkContext extends RunJobOptions {
  job: Job;
  client: JobClient;
  /** The API retry policy (config and logging), as the job client got it. */
  retry: RetryOptions & { onRetry: (info: RetryInfo) => void };
  phase: PhaseRunner;
  emit: (e: NewJobEvent) => void;
  heartbeat: Heartbeat;
  got: Progress;
  timings: Record<string, number>;
  started: number;
}

/**
 * The job's steps: workspace, agent, snapshot, what changed; resolves with the
 * result to report, or null once the lease is lost (no result then).
 */
async function workJob(ctx: WorkContext): Promise<JobResult | null> {
  const { config, env, log, job, phase, emit, heartbeat, got } = ctx;
  if (config.projectId && config.projectId !== job.projectId) {
    throw new RunnerError(JOB_CODES.projectMismatch, `Job belongs to ${job.projectId}, not ${config.projectId}`);
  }
  const agent = getAgent(job.agent);
  const store = withManifestCache(
    ctx.makeStore?.(job.projectId) ??
      new HttpStore({ apiUrl: config.apiUrl, token: config.token, projectId: job.projectId, ...ctx.retry }),
    config.stateDir,
  );
  const workspace = config.workspace;

  // 1. The workspace: equal to the head (or the first job's clone).
  const { before, readBefore, known } = await prepareWorkspace({
    job,
    store,
    config,
    phase,
    emit,
    log,
    signal: heartbeat.signal,
    leaseLost: () => heartbeat.leaseLost,
    gitRemote: (url) => ctx.client.gitRemote(url),
  });
  if (heartbeat.leaseLost) return null;
  const repo = pushingRepo(job);
  const start = repo ? await startCommit(workspace) : null;

  // 2. The agent, under the job's timeout and the cancel/lease signal.
  let abortReason: AbortReason | null = null;
  let outcome: AgentOutcome;
  if (heartbeat.cancelRequested) {
    abortReason = "cancel";
    outcome = { exitCode: null, summary: "cancelled before the agent started", usage: zeroUsage() };
  } else ({ outcome, abortReason } = await runAgent({ agent, job, env, workspace, phase, emit, log, heartbeat }));
  got.outcome = outcome;
  if (heartbeat.leaseLost) return null;

  // 2b. A job that pushes commits what its agent left (only a job whose agent succeeded),
  // before the snapshot: the head and the next job continue from that commit.
  let committed: Committed | null = null;
  let shipError: JobResult["error"] = null;
  if (repo && judgeAgent(outcome, abortReason, job).status === "succeeded") {
    const c = { job, repo, workspace, stateDir: config.stateDir, start, phase, emit };
    committed = await commitStep(c).catch((err: unknown) => {
      shipError = { code: toRunnerError(err).code, message: toRunnerError(err).message };
      return null;
    });
  }

  // 3. Snapshot (also after timeout and cancel: the work so far is kept), 4. what changed.
  const snap = await phase("snapshot", async () =>
    takeSnapshot({
      store,
      workspace,
      stateDir: config.stateDir,
      projectId: job.projectId,
      rules: await loadIgnoreRules(workspace, rulesOptions(config)),
      parent: known,
      log,
    }),
  );
  got.snapshotId = snap.snapshotId;
  const { changes, diff } = await whatChanged({ workspace, before, readBefore, after: snap.manifest, phase, log });

  // 5. Push and pull request, the work safe in the snapshot whatever they answer.
  let git: JobGit | null = null;
  if (repo) {
    git = { branch: repo.pushBranch, baseCommit: start, commit: null, pushed: false, pullRequest: null };
    if (committed) {
      const shipped = await shipStep({
        job,
        repo,
        committed,
        workspace,
        stateDir: config.stateDir,
        client: ctx.client,
        summary: outcome.summary,
        phase,
        emit,
        signal: heartbeat.signal,
      });
      git = shipped.git;
      shipError = shipped.error;
    }
  }
  ctx.timings.total = Date.now() - ctx.started;
  const result = decideResult({
    outcome,
    abortReason,
    job,
    snapshotId: snap.snapshotId,
    changes,
    diff,
    timings: ctx.timings,
  });
  if (!repo) return result;
  return shipError ? { ...result, status: "failed", error: shipError, git } : { ...result, git };
}

/** The files the job changed (before → the snapshot) and their diff; a diff that cannot be made does not fail the job. */
async function whatChanged(ctx: {
  workspace: string;
  before: Tree;
  readBefore: ReadBefore;
  after: Manifest;
  phase: PhaseRunner;
  log: (message: string) => void;
}): Promise<{ changes: ChangedFiles; diff: { diff: string; truncated: boolean } }> {
  const { workspace, before, readBefore } = ctx;
  const after = treeFromManifest(ctx.after);
  const changes = changedFiles(before, after);
  const diff = await ctx
    .phase("diff", () => unifiedDiff({ workspace, before, after, changes, readBefore, maxBytes: DIFF_MAX_BYTES }))
    .catch((err: unknown) => {
      ctx.log(`diff failed: ${toRunnerError(err).message}`);
      return { diff: "", truncated: false };
    });
  return { changes, diff };
}

/**
 * Runs the agent as phase "agent", aborted by the job's timeout or the heartbeat's
 * signal (cancel, lease lost). An agent that throws counts as AGENT_FAILED. The
 * agent sees the runner's environment without the runner token.
 */
async function runAgent(ctx: {
  agent: Agent;
  job: Job;
  env: NodeJS.ProcessEnv;
  workspace: string;
  phase: PhaseRunner;
  emit: (e: NewJobEvent) => void;
  log: (message: string) => void;
  heartbeat: Heartbeat;
}): Promise<{ outcome: AgentOutcome; abortReason: AbortReason | null }> {
  const { agent, job, workspace, emit, log, heartbeat } = ctx;
  const agentAbort = new AbortController();
  const onStop = () => agentAbort.abort(heartbeat.signal.reason);
  heartbeat.signal.addEventListener("abort", onStop, { once: true });
  const timer = setTimeout(() => agentAbort.abort("timeout" satisfies AbortReason), job.timeoutSeconds * 1000);
  const agentEnv: NodeJS.ProcessEnv = {
    ...ctx.env,
    [JOB_ENV.jobId]: job.id,
    [RUNNER_ENV.projectId]: job.projectId,
    ...agentMark(workspace),
  };
  delete agentEnv[RUNNER_ENV.token];
  const reason = (): AbortReason | null =>
    agentAbort.signal.aborted ? (agentAbort.signal.reason as AbortReason) : null;
  try {
    const outcome = await ctx.phase(
      "agent",
      () =>
        agent.run({ job, workspace, env: agentEnv, signal: agentAbort.signal, emit, log }).catch((err: unknown) => ({
          exitCode: null,
          summary: "",
          usage: zeroUsage(),
          error: { code: JOB_CODES.agentFailed, message: `agent crashed: ${toRunnerError(err).message}` },
        })),
      (o) => {
        const v = judgeAgent(o, reason(), job);
        return v.error ? { ok: false, code: v.error.code } : { ok: true };
      },
    );
    return { outcome, abortReason: reason() };
  } finally {
    clearTimeout(timer);
    heartbeat.signal.removeEventListener("abort", onStop);
  }
}
