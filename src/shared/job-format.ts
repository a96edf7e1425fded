/**
 * @module shared/job-format
 * Agent jobs: the wire types shared by the Worker (src/jobs, D1 queue) and the
 * runner's job mode (container/runner, `runner run-job`). No imports but types, so
 * Node loads it directly and esbuild bundles it into the runner without zod.
 *
 * Lifecycle: queued → running → succeeded | failed | cancelled. A running job
 * holds a lease that the runner extends by heartbeats; a lease that expires is
 * requeued (attempt + 1) until maxAttempts, then the job fails with its reason.
 * At most one job per project runs at a time (a unique index in D1 enforces it).
 */

import type { JobResult } from "./job-result.ts";

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";
export type AgentName = "shell" | "claude" | "opencode";

/** A job as the API and the runner see it. */
export interface Job {
  id: string;
  projectId: string;
  status: JobStatus;
  agent: AgentName;
  prompt: string;
  model: string | null;
  /** The command of the `shell` agent (run with bash -c in /workspace). */
  command: string | null;
  repo: JobRepo | null;
  timeoutSeconds: number;
  maxAttempts: number;
  /** 1 for the first run; incremented on every lease. 0 while never leased. */
  attempt: number;
  /** Epoch ms when the current lease runs out (running jobs only). */
  leaseUntil: number | null;
  cancelRequested: boolean;
  result: JobResult | null;
  /** Why it failed (failed/cancelled jobs). */
  error: { code: string; message: string } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** A pull request a job asks for; missing fields get defaults when it is opened. */
export interface PullRequestSpec {
  title: string | null;
  body: string | null;
  /** The branch the pull request merges into (default: the cloned branch, else the repository's default). */
  base: string | null;
  draft: boolean;
}

/** Who a job's commit names as author and committer (default: the product, naming the job). */
export interface GitAuthor {
  name: string;
  email: string;
}

/**
 * A job's repository: cloned on the project's first job; when `pushBranch` is set
 * (the job gave `pushBranch` or `pullRequest`; default `agent/<job id>`), the agent's
 * work is committed and pushed there (fast-forward only) and, with `pullRequest`,
 * the Worker opens a pull request.
 */
export interface JobRepo {
  url: string;
  branch: string | null;
  /** Absent (older rows, clone-only jobs) means null. */
  pushBranch?: string | null;
  commitMessage?: string | null;
  pullRequest?: PullRequestSpec | null;
  author?: GitAuthor | null;
}

/** The push settings kept in the job row (repo_push, JSON): what POST /jobs gave. */
export interface RepoPushSettings {
  pushBranch: string | null;
  commitMessage: string | null;
  pullRequest: PullRequestSpec | null;
  author: GitAuthor | null;
}

/** The branch a job pushes to when it names none. */
export function defaultPushBranch(jobId: string): string {
  return `agent/${jobId}`;
}

/**
 * Bounds of the listed paths: a result is one D1 row (2 MB at most), next to a diff
 * of up to DIFF_MAX_BYTES, so a job that creates 100k files must not list them all.
 */
export const CHANGED_FILES_MAX_PATHS = 5000;
export const CHANGED_FILES_MAX_BYTES = 512 * 1024;

// What the runner reports when a job ends (JobResult, ChangedFiles): defined once as a
// zod schema in job-result.ts, the types inferred from it.
export type { ChangedFiles, JobGit, JobResult } from "./job-result.ts";

/** Diffs larger than this are cut (and diffTruncated set): results live in D1 rows. */
export const DIFF_MAX_BYTES = 256 * 1024;

/** One job event as stored and streamed: `seq` counts from 1 per job. */
export interface JobEvent {
  seq: number;
  /** log | phase | agent_step | status | … */
  type: string;
  data: Record<string, unknown>;
  createdAt: string;
}

/** What the runner posts: events without seq (the Worker numbers them in order). */
export interface NewJobEvent {
  type: string;
  data: Record<string, unknown>;
}

// ---- Runner API for jobs (v1) ----------------------------------------------------
// Base: `${SANDBOX_RUNNER_API}/runner/v1/jobs/:jobId`, with `Authorization: Bearer`
// a runner token scoped to THIS job (and its project). The snapshot routes under
// /runner/v1/projects/:projectId accept the same token for the job's project. Every
// route, both groups, answers a job token 401 once its job no longer runs the token's
// attempt under a live lease (ended, cancelled, requeued, another attempt, lease or
// deadline passed): the runner then stops without a result.
//
//   GET  /                 → Job
//   POST /heartbeat        → { leaseUntil, cancelRequested }   (extends the lease; 409
//                            LEASE_LOST if a race moved the job on meanwhile)
//   POST /events           → body { events: NewJobEvent[] } (≤ 500 per call) → { lastSeq }
//   POST /result           → body JobResult → Job (terminal; 409 if a race ended it first)
//   POST /git-access       → GitAccess: how the runner reaches the job's repository, asked for
//                            right before a clone or push (egressPath: through the Worker, which
//                            adds the host's credentials; or a short-lived credential)
//   GET|POST /git/<owner>/<repo>.git/… → git smart HTTP, forwarded to the host with its token
//   POST /pull-request     → body PullRequestRequest → { number, url } (the Worker opens it;
//                            502 PULL_REQUEST_FAILED with GitHub's answer in the message)

export const RUNNER_JOBS_PREFIX = "/runner/v1/jobs";

/** Heartbeat cadence the runner uses; the lease is several times longer. */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** How long a lease lasts after a lease or heartbeat. */
export const LEASE_MS = 60_000;

/** Environment of `runner run-job`, beside RUNNER_ENV of snapshot-format.ts. */
export const JOB_ENV = { jobId: "SANDBOX_JOB_ID" } as const;

/** What POST /git-access answers: HTTP Basic credentials for the job's repository only. */
export interface GitCredential {
  username: string;
  password: string;
  /** Epoch ms after which the host refuses it (null: the host does not say). */
  expiresAt: number | null;
}

/**
 * How the runner reaches the job's repository. `egressPath` (below the job's base URL,
 * `RUNNER_JOBS_PREFIX/:jobId`): git talks to the Worker with the job token and the Worker
 * adds the host's credentials on the way out, so none enters the sandbox. `credential`:
 * a short-lived credential the runner sends itself. Neither: the URL as it is (public).
 */
export interface GitAccess {
  egressPath: string | null;
  credential: GitCredential | null;
}

/** What the runner asks the Worker to open once the branch is pushed. */
export interface PullRequestRequest {
  head: string;
  base: string | null;
  title: string;
  body: string;
  draft: boolean;
}

/** What the pull request route answers. */
export interface PullRequestRef {
  number: number;
  url: string;
}
