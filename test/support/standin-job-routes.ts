/**
 * @module test/support/standin-job-routes
 * The job routes of the STAND-IN runner API (standin-runner-api.ts), backed by
 * in-memory job records: GET the job, POST heartbeat / events / result, per
 * shared/job-format.ts. Not the Worker's D1 queue: only the wire contract and the
 * lease answers a runner sees (409 LEASE_LOST, 409 on a terminal job, 401 once
 * the job's token died with its lease) are reproduced, plus knobs for tests
 * (cancelRequested, leaseLost, tokenDead) and counters.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type GitCredential,
  type Job,
  type JobEvent,
  type JobResult,
  LEASE_MS,
  type NewJobEvent,
  type PullRequestRef,
  type PullRequestRequest,
  RUNNER_JOBS_PREFIX,
} from "../../src/shared/job-format.ts";

/** One job as the stand-in holds it. */
export interface StandinJobRecord {
  job: Job;
  events: JobEvent[];
  /** Heartbeats received. */
  heartbeats: number;
  /** Event POSTs received (batches). */
  eventPosts: number;
  /** Results received (accepted or not). */
  results: JobResult[];
  /** When true, heartbeats and results answer 409 LEASE_LOST. */
  leaseLost: boolean;
  /**
   * When true, every job route answers 401, as the Worker's does once the job's
   * token died with its lease (job ended, requeued, another attempt).
   */
  tokenDead: boolean;
  /** The credential POST /git-access hands out (the Worker answers an egress path instead). */
  gitCredential: GitCredential | null;
  /** For each credential request: the events received before it (to show when it was asked). */
  credentialAsks: JobEvent[][];
  /** Pull requests asked for, and the answer (a ref, or an error envelope with its status). */
  pullRequests: PullRequestRequest[];
  pullRequestAnswer: (req: PullRequestRequest) => PullRequestRef | { status: number; code: string; error: string };
}

/** The default pull-request answer: number 1 at an example URL. */
export function examplePullRequest(): PullRequestRef {
  return { number: 1, url: "https://github.example/o/r/pull/1" };
}

/** A running job for `projectId` with defaults for every field not given. */
export function makeJob(projectId: string, over: Partial<Job> = {}): Job {
  return {
    id: `job-${Math.random().toString(36).slice(2, 10)}`,
    projectId,
    status: "running",
    agent: "shell",
    prompt: "",
    model: null,
    command: "true",
    repo: null,
    timeoutSeconds: 60,
    maxAttempts: 3,
    attempt: 1,
    leaseUntil: Date.now() + LEASE_MS,
    cancelRequested: false,
    result: null,
    error: null,
    createdAt: new Date().toISOString(),
    startedAt: new Date().toISOString(),
    finishedAt: null,
    ...over,
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readJson<T>(req: IncomingMessage): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as T;
}

/**
 * Handles `req` if it is a job route; resolves with the status sent, or null
 * when the path is not under RUNNER_JOBS_PREFIX (the caller goes on).
 */
export async function handleJobRoute(
  jobs: Map<string, StandinJobRecord>,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<number | null> {
  if (!pathname.startsWith(`${RUNNER_JOBS_PREFIX}/`)) return null;
  const m = /^\/([^/]+)(\/[a-z-]+)?$/.exec(pathname.slice(RUNNER_JOBS_PREFIX.length));
  const rec = m ? jobs.get(decodeURIComponent(m[1] as string)) : undefined;
  const fail = (status: number, code: string, error: string): number => {
    send(res, status, { success: false, error, code });
    return status;
  };
  if (!m || !rec) return fail(404, "JOB_NOT_FOUND", "no such job");
  if (rec.tokenDead) return fail(401, "UNAUTHORIZED", `Job token is no longer valid: job ${rec.job.id} is requeued`);
  const route = `${req.method} ${m[2] ?? ""}`;
  const { job } = rec;
  if (route === "GET ") {
    send(res, 200, job);
    return 200;
  }
  if (route === "POST /heartbeat") {
    rec.heartbeats++;
    await readJson(req);
    if (rec.leaseLost || job.status !== "running") return fail(409, "LEASE_LOST", "lease lost");
    job.leaseUntil = Date.now() + LEASE_MS;
    send(res, 200, { leaseUntil: job.leaseUntil, cancelRequested: job.cancelRequested });
    return 200;
  }
  if (route === "POST /events") {
    const body = await readJson<{ events: NewJobEvent[] }>(req);
    if (!Array.isArray(body.events) || body.events.length > 500) return fail(400, "VALIDATION_ERROR", "bad events");
    rec.eventPosts++;
    for (const e of body.events) {
      rec.events.push({ seq: rec.events.length + 1, type: e.type, data: e.data, createdAt: new Date().toISOString() });
    }
    send(res, 200, { lastSeq: rec.events.length });
    return 200;
  }
  if (route === "POST /git-access") {
    await readJson(req);
    rec.credentialAsks.push([...rec.events]);
    // No egress here: the stand-in hands out a credential (GitAccess).
    send(res, 200, { egressPath: null, credential: rec.gitCredential });
    return 200;
  }
  if (route === "POST /pull-request") {
    const body = await readJson<PullRequestRequest>(req);
    rec.pullRequests.push(body);
    const answer = rec.pullRequestAnswer(body);
    if ("code" in answer) return fail(answer.status, answer.code, answer.error);
    send(res, 201, answer);
    return 201;
  }
  if (route === "POST /result") {
    const result = await readJson<JobResult>(req);
    rec.results.push(result);
    if (rec.leaseLost) return fail(409, "LEASE_LOST", "lease lost");
    if (job.status !== "running") return fail(409, "JOB_TERMINAL", `job is ${job.status}`);
    job.status = result.status;
    job.result = result;
    job.error = result.error;
    job.leaseUntil = null;
    job.finishedAt = new Date().toISOString();
    send(res, 200, job);
    return 200;
  }
  return fail(404, "ROUTE_NOT_FOUND", "no route");
}
