/**
 * @module test/worker/support/jobs
 * Helpers for the job tests: the queue over the test D1 database, jobs created through
 * the API, job tokens minted the way src/runner-driver/job.ts mints them, and requests to the
 * runner job routes through the real entry (the tests play the runner).
 */
import { env, exports } from "cloudflare:workers";
import { createJobQueue, type NewJob } from "../../../src/jobs/queue";
import { type Job, type JobResult, RUNNER_JOBS_PREFIX } from "../../../src/shared/job-format";
import { apiJson, uniqueProject } from "./http";
import { testTokens } from "./snapshots";

/** The queue over the Worker's own D1 database. */
export const queue = createJobQueue(env.DB);

/** Empty the job tables (each test file has its own storage; tests that lease "the oldest" need a clean queue). */
export async function resetJobs(): Promise<void> {
  await env.DB.batch([env.DB.prepare("DELETE FROM jobs"), env.DB.prepare("DELETE FROM job_events")]);
}

/** A shell job for `projectId` (fields overridable), as the routes would build it. */
export function shellJob(projectId: string, extra: Partial<NewJob> = {}): NewJob {
  return {
    projectId,
    prompt: "test job",
    agent: "shell",
    model: null,
    command: "echo hi > out.txt",
    repo: null,
    timeoutSeconds: 900,
    maxAttempts: 3,
    ...extra,
  };
}

/** POST /jobs through the real entry; returns the created job. */
export async function createJobViaApi(body: Record<string, unknown> = {}): Promise<Job> {
  const { status, body: res } = await apiJson<Job>("/jobs", {
    method: "POST",
    json: { projectId: uniqueProject("job"), prompt: "p", agent: "shell", command: "true", ...body },
  });
  if (status !== 201) throw new Error(`POST /jobs failed: ${status} ${JSON.stringify(res)}`);
  return res.data;
}

/** A job token for `job`'s current attempt, as start.ts mints it. */
export async function jobToken(job: Job, attempt = job.attempt): Promise<string> {
  return await testTokens.mint(job.projectId, 600, job.id, attempt);
}

/** A request to the runner job routes of `jobId` with `token` (null: none). */
export async function runnerJob(
  jobId: string,
  path: string,
  token: string | null,
  init: RequestInit & { json?: unknown } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  const url = `http://sandbox.test${RUNNER_JOBS_PREFIX}/${jobId}${path}`;
  return await exports.default.fetch(new Request(url, { ...init, headers, body }));
}

/** A JobResult with `status` and everything else empty. */
export function result(status: JobResult["status"], extra: Partial<JobResult> = {}): JobResult {
  return {
    status,
    exitCode: status === "succeeded" ? 0 : 1,
    summary: `the job ${status}`,
    changedFiles: { added: [], modified: [], deleted: [] },
    diff: "",
    diffTruncated: false,
    timings: { agent: 1 },
    snapshotId: null,
    usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 },
    error: null,
    ...extra,
  };
}
