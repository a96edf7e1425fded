/**
 * @module runner/run-job
 * `runner run-job`: one agent job from start to result. Fetch the job (it must be
 * running, i.e. leased to this attempt) → clone its repo on the project's first
 * job, else restore the head (with install) → remember the "before" tree → run
 * the agent under the job's timeout → snapshot → changed files and diff → post
 * the result. Every attempt starts from the head: first whatever a dead attempt
 * left running is killed (leftovers.ts), then the restore makes the tree equal the
 * head; on a project's first job the starting tree (the clone, or the workspace as
 * it is) is committed as the head before the agent runs ("baseline"), so a retry
 * restores that start instead of building on a dead agent's leftovers.
 * Heartbeats run the whole time; a heartbeat answering cancelRequested aborts the
 * agent (the job then ends `cancelled`, snapshotted), one answering 409 LEASE_LOST
 * or 401 (the job's token died with its lease: the job ended or another attempt
 * owns it) stops everything and exits WITHOUT a result. Phase changes (their `ok`
 * says whether the phase, for the agent whether the agent, succeeded) and the
 * agent's output go out as batched job events, flushed before the result is posted.
 *
 * Exit 0 whenever a result was reported (also for failed/cancelled jobs); 1 when
 * something unexpected failed (reported as failed with its code when the API is
 * reachable) or the lease was lost.
 */
import { mkdir } from "node:fs/promises";
import {
  DIFF_MAX_BYTES,
  HEARTBEAT_INTERVAL_MS,
  JOB_ENV,
  type Job,
  type JobResult,
  type NewJobEvent,
} from "../../src/shared/job-format.ts";
import { type Manifest, RUNNER_ENV, type SnapshotId } from "../../src/shared/snapshot-format.ts";
import { getAgent } from "./agents/index.ts";
import { type AbortReason, type AgentOutcome, zeroUsage } from "./agents/types.ts";
import { errorStatus } from "./api-client.ts";
import { takeSnapshot } from "./archiver.ts";
import {
  capChangedFiles,
  changedFiles,
  type ReadBefore,
  type Tree,
  treeFromManifest,
  treeFromScan,
  unifiedDiff,
} from "./changes.ts";
import type { RunnerConfig } from "./config.ts";
import { CODES, RunnerError, toRunnerError } from "./errors.ts";
import { HttpStore } from "./http-store.ts";
import { loadIgnoreRules } from "./ignore.ts";
import { installAfterRestore } from "./install.ts";
import { EventBatcher, JobClient } from "./job-client.ts";
import { cloneRepo, gitReader, storeReader } from "./job-workspace.ts";
import { agentMark, killLeftoverAgents } from "./leftovers.ts";
import { restoreSnapshot } from "./restorer.ts";
import { loadManifest, type SnapshotStore } from "./store.ts";

/** What `run-job --json` prints as its last stdout line. */
export type RunJobOutput =
  | {
      ok: true;
      command: "run-job";
      jobId: string;
      status: JobResult["status"];
      exitCode: number | null;
      snapshotId: string | null;
      error: JobResult["error"];
      durationMs: number;
    }
  | { ok: false; command: "run-job"; jobId: string | null; code: string; error: string; reported: boolean };

/** Codes of run-job's own failures. */
export const JOB_CODES = {
  notRunning: "JOB_NOT_RUNNING",
  leaseLost: "LEASE_LOST",
  projectMismatch: "PROJECT_MISMATCH",
  agentFailed: "AGENT_FAILED",
  timeout: "TIMEOUT",
  cancelled: "CANCELLED",
} as const;

/** Inputs of runJob. */
export interface RunJobOptions {
  config: RunnerConfig;
  env: NodeJS.ProcessEnv;
  log: (message: string) => void;
  /** Builds the snapshot store for the job's project (tests may pass a fake). */
  makeStore?: (projectId: string) => SnapshotStore;
}

function positiveIntEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const n = Number(env[name]);
  return env[name] && Number.isInteger(n) && n > 0 ? n : fallback;
}

/**
 * Whether `err` says this runner no longer owns its job: LEASE_LOST (a newer attempt
 * runs it), or a 401 once the job's token has died with its lease (the job ended, was
 * requeued or moved on; the token itself was good when the job was fetched).
 */
function tokenDead(err: unknown): boolean {
  return toRunnerError(err).code === JOB_CODES.leaseLost || errorStatus(err) === 401;
}

/**
 * How the job ends after its agent: timeout and cancel (the abort's reason) first,
 * then the agent's own error, then its exit code. Also the agent phase's `ok`.
 */
export function judgeAgent(
  outcome: AgentOutcome,
  abortReason: AbortReason | null,
  job: Pick<Job, "timeoutSeconds">,
): { status: JobResult["status"]; error: JobResult["error"] } {
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

/** Runs the job named by SANDBOX_JOB_ID; resolves with the exit code and the output object. */
export async function runJob(opts: RunJobOptions): Promise<{ exitCode: number; output: RunJobOutput }> {
  const { config, env, log } = opts;
  const jobId = env[JOB_ENV.jobId];
  if (!jobId) throw new RunnerError(CODES.config, `Missing environment variable(s): ${JOB_ENV.jobId}`);
  const started = Date.now();
  const retry = {
    ...(config.retries !== undefined ? { attempts: config.retries + 1 } : {}),
    ...(config.retryBaseMs !== undefined ? { baseDelayMs: config.retryBaseMs } : {}),
    onRetry: (i: { method: string; path: string; attempt: number; delayMs: number; reason: string }) =>
      log(`retry ${i.attempt} of ${i.method} ${i.path} in ${Math.round(i.delayMs)} ms: ${i.reason}`),
  };
  const client = new JobClient({ apiUrl: config.apiUrl, token: config.token, jobId, ...retry });
  const fail = (code: string, error: string, reported: boolean) => ({
    exitCode: 1,
    output: { ok: false, command: "run-job", jobId, code, error, reported } as RunJobOutput,
  });

  const job: Job = await client.getJob();
  if (job.status !== "running") {
    return fail(JOB_CODES.notRunning, `Job ${jobId} is ${job.status}, not running`, false);
  }
  const workspace = config.workspace;
  const batcher = new EventBatcher({ post: (e) => client.postEvents(e), log });
  const emit = (e: NewJobEvent): void => batcher.push(e);
  const timings: Record<string, number> = {};

  // Heartbeats: a self-scheduling loop, so a slow heartbeat never overlaps the next.
  const stop = new AbortController();
  let leaseLost = false;
  let cancelRequested = job.cancelRequested;
  let beating = true;
  let beatTimer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  const beatMs = positiveIntEnv(env, "SANDBOX_HEARTBEAT_MS", HEARTBEAT_INTERVAL_MS);
  const beat = async (): Promise<void> => {
    try {
      const a = await client.heartbeat(job.attempt);
      if (a.cancelRequested && !cancelRequested) {
        cancelRequested = true;
        log("cancel requested: stopping the agent");
        stop.abort("cancel" satisfies AbortReason);
      }
    } catch (err) {
      const e = toRunnerError(err);
      // A heartbeat's 409 is always LEASE_LOST or JOB_FINISHED: this attempt is over.
      if (tokenDead(err) || errorStatus(err) === 409) {
        leaseLost = true;
        log(`lease lost (${e.message}): stopping without a result`);
        stop.abort("lease-lost" satisfies AbortReason);
        beating = false;
        return;
      }
      // The lease is several heartbeats long: one failed heartbeat is not fatal.
      log(`heartbeat failed: ${e.code}: ${e.message}`);
    }
    if (beating) beatTimer = setTimeout(() => (inFlight = beat()), beatMs);
  };
  beatTimer = setTimeout(() => (inFlight = beat()), beatMs);
  const stopBeating = async (): Promise<void> => {
    beating = false;
    if (beatTimer) clearTimeout(beatTimer);
    await inFlight;
  };

  /** Runs `fn` as phase `name`; `verdict` judges a result that is not a plain success (the agent's). */
  const phase = async <T>(
    name: string,
    fn: () => Promise<T>,
    verdict: (r: T) => { ok: boolean; code?: string } = () => ({ ok: true }),
  ): Promise<T> => {
    emit({ type: "phase", data: { name, state: "start" } });
    const t0 = Date.now();
    try {
      const r = await fn();
      timings[name] = Date.now() - t0;
      emit({ type: "phase", data: { name, state: "end", ...verdict(r), durationMs: timings[name] } });
      return r;
    } catch (err) {
      timings[name] = Date.now() - t0;
      const e = toRunnerError(err);
      emit({ type: "phase", data: { name, state: "end", ok: false, durationMs: timings[name], code: e.code } });
      throw err;
    }
  };

  const leaseLostExit = async () => {
    await stopBeating();
    await batcher.close();
    return fail(JOB_CODES.leaseLost, "Lease lost: another attempt owns the job", false);
  };

  let outcome: AgentOutcome | null = null;
  let snapshotId: string | null = null;
  try {
    if (config.projectId && config.projectId !== job.projectId) {
      throw new RunnerError(JOB_CODES.projectMismatch, `Job belongs to ${job.projectId}, not ${config.projectId}`);
    }
    const agent = getAgent(job.agent);
    const store =
      opts.makeStore?.(job.projectId) ??
      new HttpStore({ apiUrl: config.apiUrl, token: config.token, projectId: job.projectId, ...retry });
    await mkdir(workspace, { recursive: true });
    const rulesOpts = { ignoreGit: config.ignoreGit, extra: [] };

    // 1. Workspace: nothing of a dead attempt keeps running; clone on the project's
    // first job, else restore the head.
    await killLeftoverAgents(workspace, log);
    const head = await store.getHead();
    // The head and its manifest as this job last saw them, each fetched once (the snapshots
    // take it as their parent; a head moved meanwhile is caught by the commit, which rebases).
    let known: { head: SnapshotId | null; manifest: Manifest | null } = { head, manifest: null };
    let before: Tree;
    let readBefore: ReadBefore;
    if (!head && job.repo) {
      const repo = job.repo;
      const commit = await phase("clone", () => cloneRepo(repo, workspace, { signal: stop.signal, log }));
      before = await treeFromScan(workspace, await loadIgnoreRules(workspace, rulesOpts));
      readBefore = gitReader(workspace, commit);
    } else {
      const restored = await phase("restore", async () => {
        const rules = await loadIgnoreRules(workspace, rulesOpts);
        const r = await restoreSnapshot({
          store,
          workspace,
          stateDir: config.stateDir,
          rules,
          snapshotId: head,
          noHead: head === null,
          log,
        });
        const install = config.install ? await installAfterRestore(workspace, r.changedPaths, log) : null;
        if (install && install.exitCode !== 0) {
          emit({ type: "log", data: { stream: "runner", line: `${install.command} exited with ${install.exitCode}` } });
        }
        return r;
      });
      if (head) {
        const manifest = restored.manifest ?? (await loadManifest(store, head));
        known = { head, manifest };
        before = treeFromManifest(manifest);
        readBefore = storeReader(store, manifest);
      } else {
        before = await treeFromScan(workspace, await loadIgnoreRules(workspace, rulesOpts));
        readBefore = async () => null;
      }
    }
    if (!head && !leaseLost) {
      // The project's first job: its start becomes the head, so a retry restores it.
      const rules = await loadIgnoreRules(workspace, rulesOpts);
      const baseline = await phase("baseline", () =>
        takeSnapshot({
          store,
          workspace,
          stateDir: config.stateDir,
          projectId: job.projectId,
          rules,
          parent: known,
          log,
        }),
      );
      known = { head: baseline.snapshotId, manifest: baseline.manifest };
    }
    if (leaseLost) return await leaseLostExit();

    // 2. The agent, under the job's timeout and the cancel/lease signal.
    let abortReason: AbortReason | null = null;
    if (cancelRequested) {
      abortReason = "cancel";
      outcome = { exitCode: null, summary: "cancelled before the agent started", usage: zeroUsage() };
    } else {
      const agentAbort = new AbortController();
      const onStop = () => agentAbort.abort(stop.signal.reason);
      stop.signal.addEventListener("abort", onStop, { once: true });
      const timer = setTimeout(() => agentAbort.abort("timeout" satisfies AbortReason), job.timeoutSeconds * 1000);
      const agentEnv: NodeJS.ProcessEnv = {
        ...env,
        [JOB_ENV.jobId]: job.id,
        [RUNNER_ENV.projectId]: job.projectId,
        ...agentMark(workspace),
      };
      delete agentEnv[RUNNER_ENV.token];
      try {
        outcome = await phase(
          "agent",
          () =>
            agent
              .run({ job, workspace, env: agentEnv, signal: agentAbort.signal, emit, log })
              .catch((err: unknown) => ({
                exitCode: null,
                summary: "",
                usage: zeroUsage(),
                error: { code: JOB_CODES.agentFailed, message: `agent crashed: ${toRunnerError(err).message}` },
              })),
          (o) => {
            const v = judgeAgent(o, agentAbort.signal.aborted ? (agentAbort.signal.reason as AbortReason) : null, job);
            return v.error ? { ok: false, code: v.error.code } : { ok: true };
          },
        );
      } finally {
        clearTimeout(timer);
        stop.signal.removeEventListener("abort", onStop);
      }
      if (agentAbort.signal.aborted) abortReason = agentAbort.signal.reason as AbortReason;
    }
    if (leaseLost) return await leaseLostExit();

    // 3. Snapshot (also after timeout and cancel: the work so far is kept).
    const snap = await phase("snapshot", async () =>
      takeSnapshot({
        store,
        workspace,
        stateDir: config.stateDir,
        projectId: job.projectId,
        rules: await loadIgnoreRules(workspace, rulesOpts),
        parent: known,
        log,
      }),
    );
    snapshotId = snap.snapshotId;

    // 4. What changed. A diff that cannot be made does not fail the job.
    const after = treeFromManifest(snap.manifest);
    const changes = changedFiles(before, after);
    const { diff, truncated } = await phase("diff", () =>
      unifiedDiff({ workspace, before, after, changes, readBefore, maxBytes: DIFF_MAX_BYTES }),
    ).catch((err: unknown) => {
      log(`diff failed: ${toRunnerError(err).message}`);
      return { diff: "", truncated: false };
    });

    const { status, error } = judgeAgent(outcome, abortReason, job);
    timings.total = Date.now() - started;
    const result: JobResult = {
      status,
      exitCode: outcome.exitCode,
      summary: outcome.summary,
      changedFiles: capChangedFiles(changes),
      diff,
      diffTruncated: truncated,
      timings,
      snapshotId,
      usage: outcome.usage,
      error,
    };
    // Events first: the Worker ends the event stream when the result lands.
    await batcher.close();
    await stopBeating();
    if (leaseLost) return fail(JOB_CODES.leaseLost, "Lease lost: another attempt owns the job", false);
    await client.postResult(result);
    log(`job ${job.id} ${status}${error ? ` (${error.code})` : ""}`);
    const output: RunJobOutput = {
      ok: true,
      command: "run-job",
      jobId: job.id,
      status,
      exitCode: outcome.exitCode,
      snapshotId,
      error,
      durationMs: Date.now() - started,
    };
    return { exitCode: 0, output };
  } catch (err) {
    const e = toRunnerError(err);
    await stopBeating();
    await batcher.close();
    if (leaseLost || tokenDead(err)) return fail(JOB_CODES.leaseLost, e.message, false);
    log(`job ${job.id} failed: ${e.code}: ${e.message}`);
    timings.total = Date.now() - started;
    const reported = await client
      .postResult({
        status: "failed",
        exitCode: outcome?.exitCode ?? null,
        summary: e.message,
        changedFiles: { added: [], modified: [], deleted: [] },
        diff: "",
        diffTruncated: false,
        timings,
        snapshotId,
        usage: outcome?.usage ?? zeroUsage(),
        // The Worker refuses error messages over 10,000 characters.
        error: { code: e.code, message: e.message.slice(0, 4000) },
      })
      .then(
        () => true,
        (postErr: unknown) => {
          log(`could not report the failure: ${toRunnerError(postErr).message}`);
          return false;
        },
      );
    return fail(e.code, e.message, reported);
  }
}
