/**
 * @module routes/jobs
 * The user side of agent jobs, behind the API_TOKEN (app.ts):
 *   POST /jobs              create (Idempotency-Key: same key → same job, 200; other body → 409)
 *   GET  /jobs              list, newest first, filtered by projectId/status, cursor-paginated
 *   GET  /jobs/:id          one job
 *   POST /jobs/:id/cancel   queued → cancelled; running → cancel requested (the runner stops)
 *   GET  /jobs/:id/events   SSE with Last-Event-ID replay, or ?format=json pages (job-events.ts)
 *   POST /run-job           {"jobId"} (or {"job_id"}) → lease that queued job and start it → 202
 *   POST /run-next          lease the oldest runnable job and start it → 202, or 200 data: null
 */
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { ValidationError } from "../errors";
import { jsonBody } from "../http/body";
import { ok } from "../http/envelope";
import type { NewJob } from "../jobs/queue";
import {
  type CreateJobBody,
  CreateJobBodySchema,
  EventsQuerySchema,
  IdempotencyKeySchema,
  JobParamSchema,
  ListJobsQuerySchema,
  RunJobBodySchema,
} from "../jobs/schemas";
import { requireJobs, runJob, runNext } from "../jobs/start";
import { checkRepoUrl, isSafeRefName, RepoUrlError, redactUrl } from "../shared/git";
import type { Job, RepoPushSettings } from "../shared/job-format";
import { parseOrThrow, validate } from "../validation";
import { jobEventsResponse } from "./job-events";

/** A job as users see it: credentials in the repo URL are redacted (the runner gets them unredacted). */
export function publicJob(job: Job): Job {
  return job.repo ? { ...job, repo: { ...job.repo, url: redactUrl(job.repo.url) } } : job;
}

/** A job pushes when it names a push branch or asks for a pull request; null otherwise. */
function pushSettings(repo: NonNullable<CreateJobBody["repo"]>): RepoPushSettings | null {
  if (repo.pushBranch === undefined && repo.pullRequest === undefined) return null;
  const pr = repo.pullRequest;
  return {
    pushBranch: repo.pushBranch ?? null,
    commitMessage: repo.commitMessage ?? null,
    pullRequest: pr
      ? { title: pr.title ?? null, body: pr.body ?? null, base: pr.base ?? null, draft: pr.draft ?? false }
      : null,
    author: repo.author ?? null,
  };
}

/** Validate what zod cannot (allowed clone schemes, ref names) and fill in nulls. */
function toNewJob(body: CreateJobBody, allowedSchemes: readonly string[]): NewJob {
  if (body.repo) {
    try {
      checkRepoUrl(body.repo.url, allowedSchemes);
    } catch (err) {
      if (err instanceof RepoUrlError) throw new ValidationError(err.message, undefined, "INVALID_REPO_URL");
      throw err;
    }
    for (const field of ["branch", "pushBranch"] as const) {
      const ref = body.repo[field];
      if (ref !== undefined && !isSafeRefName(ref)) {
        throw new ValidationError(`repo.${field} is not a valid git ref name`, undefined, "INVALID_BRANCH");
      }
    }
    const base = body.repo.pullRequest?.base;
    if (base !== undefined && !isSafeRefName(base)) {
      throw new ValidationError("repo.pullRequest.base is not a valid git ref name", undefined, "INVALID_BRANCH");
    }
  }
  return {
    projectId: body.projectId,
    prompt: body.prompt,
    agent: body.agent,
    model: body.model ?? null,
    command: body.command ?? null,
    repo: body.repo ? { url: body.repo.url, branch: body.repo.branch ?? null, push: pushSettings(body.repo) } : null,
    timeoutSeconds: body.timeoutSeconds,
    maxAttempts: body.maxAttempts,
  };
}

/** The job routes, relative to the root. */
export function jobRoutes(deps: AppDeps): Hono {
  const idParam = validate("param", JobParamSchema);
  return new Hono()
    .post("/jobs", jsonBody(), validate("json", CreateJobBodySchema), async (c) => {
      const jobs = requireJobs(deps);
      const rawKey = c.req.header("idempotency-key");
      const key = rawKey === undefined ? undefined : parseOrThrow(IdempotencyKeySchema, rawKey, "header");
      const input = toNewJob(c.req.valid("json"), deps.config.CLONE_ALLOWED_SCHEMES);
      const { job, created } = await jobs.create(input, key);
      return ok(c, publicJob(job), created ? 201 : 200);
    })
    .get("/jobs", validate("query", ListJobsQuerySchema), async (c) => {
      const { jobs: list, nextCursor } = await requireJobs(deps).list(c.req.valid("query"));
      return ok(c, { jobs: list.map(publicJob), nextCursor });
    })
    .get("/jobs/:id", idParam, async (c) => {
      const job = await requireJobs(deps).get(c.req.valid("param").id);
      return ok(c, publicJob(job));
    })
    .post("/jobs/:id/cancel", idParam, async (c) => {
      const job = await requireJobs(deps).cancel(c.req.valid("param").id);
      return ok(c, publicJob(job));
    })
    .get("/jobs/:id/events", idParam, validate("query", EventsQuerySchema), async (c) => {
      return await jobEventsResponse(c, requireJobs(deps), c.req.valid("param").id, c.req.valid("query"));
    })
    .post("/run-job", jsonBody(), validate("json", RunJobBodySchema), async (c) => {
      const job = await runJob(deps, c.req.valid("json").jobId);
      return ok(c, publicJob(job), 202);
    })
    .post("/run-next", async (c) => {
      const job = await runNext(deps);
      return job ? ok(c, publicJob(job), 202) : ok(c, null, 200);
    });
}
