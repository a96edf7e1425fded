/**
 * @module routes/runner-jobs
 * The runner API for jobs (contract in src/shared/job-format.ts), mounted by app.ts at
 * RUNNER_JOBS_PREFIX/:jobId. Only a runner token scoped to THIS job opens it (never the
 * API_TOKEN, never a project token or another job's token), and only while the job runs
 * the token's attempt under a live lease (routes/runner-auth.ts): a runner presumed dead
 * gets 401 and cannot touch a later attempt. The result route is gated the same way
 * before its handler ends the job.
 *   GET  /            → Job
 *   POST /heartbeat   → { leaseUntil, cancelRequested }
 *   POST /events      → { lastSeq }
 *   POST /result      → Job
 *   POST /git-access  → GitAccess: the job's repository through /git (git-host/smart-http.ts)
 *   GET|POST /git/<owner>/<repo>.git/… → smart HTTP to the host, its token added on egress
 *   POST /pull-request → { number, url } for the job's push branch (git-host/pull-request.ts)
 */
import { Hono } from "hono";
import { BackendError, UnauthorizedError, ValidationError } from "../errors";
import { type GitHost, repoOnHost } from "../git-host/config";
import { openPullRequest } from "../git-host/pull-request";
import { egressPath, forwardGit } from "../git-host/smart-http";
import { limitBody } from "../http/body";
import type { JobQueue } from "../jobs/queue";
import { NewJobEventsBodySchema, PullRequestBodySchema, RunnerJobParamSchema } from "../jobs/schemas";
import { type GitAccess, type Job, type JobResult, RUNNER_JOBS_PREFIX } from "../shared/job-format";
import { JobResultSchema } from "../shared/job-result";
import type { RunnerTokens } from "../snapshots/tokens";
import { validate } from "../validation";
import { type RunnerAuthVars, requireRunnerToken } from "./runner-auth";

/** Event batches carry log lines: up to 500 of them, so more room than other JSON bodies. */
export const MAX_EVENTS_BODY_BYTES = 4 * 1024 * 1024;
/** A result holds a diff of up to DIFF_MAX_BYTES plus file lists. */
export const MAX_RESULT_BODY_BYTES = 4 * 1024 * 1024;

type Vars = { Variables: RunnerAuthVars["Variables"] & { attempt: number } };

/** The runner job routes, relative to RUNNER_JOBS_PREFIX/:jobId. */
export function runnerJobRoutes(jobs: JobQueue, tokens: RunnerTokens, gitHost: GitHost | null): Hono<Vars> {
  const param = validate("param", RunnerJobParamSchema);
  /** The job the gate read (a job token always has one). */
  const gated = (c: { get(key: "runnerJob"): Job | null }): Job => {
    const job = c.get("runnerJob");
    if (!job) throw new UnauthorizedError("Not a job token");
    return job;
  };
  return new Hono<Vars>()
    .use("*", requireRunnerToken(tokens, jobs, "job"))
    .use("*", async (c, next) => {
      c.set("attempt", c.get("runnerClaims").attempt ?? gated(c).attempt);
      await next();
    })
    .get("/", param, async (c) => c.json(gated(c)))
    .post("/heartbeat", param, async (c) => {
      return c.json(await jobs.heartbeat(c.req.valid("param").jobId, c.get("attempt")));
    })
    .post(
      "/events",
      limitBody(MAX_EVENTS_BODY_BYTES, "Event batch"),
      param,
      validate("json", NewJobEventsBodySchema),
      async (c) => {
        const { events } = c.req.valid("json");
        const lastSeq = await jobs.appendEvents(c.req.valid("param").jobId, c.get("attempt"), events);
        return c.json({ lastSeq });
      },
    )
    .post("/git-access", param, async (c) => {
      const repo = gated(c).repo;
      const onHost = repo && gitHost ? repoOnHost(repo.url, gitHost) : null;
      // The host's token stays here: the runner's git comes through /git, added on egress.
      const access: GitAccess = {
        egressPath: onHost ? egressPath(onHost.owner, onHost.repo) : null,
        credential: null,
      };
      return c.json(access);
    })
    .on(["GET", "POST"], "/git/*", param, async (c) => {
      const job = gated(c);
      const base = `${RUNNER_JOBS_PREFIX}/${encodeURIComponent(job.id)}/git`;
      const path = c.req.path;
      const at = path.indexOf(base);
      if (at < 0) throw new UnauthorizedError("Not this job's git path");
      return forwardGit(c.req.raw, job, gitHost, path.slice(at + base.length));
    })
    .post("/pull-request", param, validate("json", PullRequestBodySchema), async (c) => {
      const job = gated(c);
      const req = c.req.valid("json");
      // Only the job's own branch, and only when the job asked for a pull request.
      if (!job.repo?.pullRequest || req.head !== job.repo.pushBranch) {
        throw new ValidationError(`Job ${job.id} opens no pull request from ${req.head}`);
      }
      const repo = gitHost ? repoOnHost(job.repo.url, gitHost) : null;
      if (!gitHost || !repo) {
        throw new BackendError(
          `No GitHub credentials for ${new URL(job.repo.url).origin}: set GITHUB_TOKEN or a GitHub App, and GITHUB_URL for GitHub Enterprise`,
          "PULL_REQUEST_FAILED",
        );
      }
      return c.json(await openPullRequest(gitHost, repo, req), 201);
    })
    .post(
      "/result",
      limitBody(MAX_RESULT_BODY_BYTES, "Job result"),
      param,
      validate("json", JobResultSchema),
      async (c) => {
        const result: JobResult = c.req.valid("json");
        return c.json(await jobs.finish(c.req.valid("param").jobId, c.get("attempt"), result));
      },
    );
}
