/**
 * @module routes/runner-jobs
 * The runner API for jobs (contract in src/shared/job-format.ts), mounted by app.ts at
 * RUNNER_JOBS_PREFIX/:jobId. Only a runner token scoped to THIS job opens it (never the
 * API_TOKEN, never a project token or another job's token); the token's attempt decides
 * which lease it may extend, so a runner presumed dead cannot touch a later attempt.
 *   GET  /            → Job
 *   POST /heartbeat   → { leaseUntil, cancelRequested }
 *   POST /events      → { lastSeq }
 *   POST /result      → Job
 */
import { zValidator } from "@hono/zod-validator";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { PayloadTooLargeError, UnauthorizedError } from "../errors";
import type { JobQueue } from "../jobs/queue";
import { JobResultSchema, NewJobEventsBodySchema, RunnerJobParamSchema } from "../jobs/schemas";
import type { JobResult } from "../shared/job-format";
import type { RunnerTokens } from "../snapshots/tokens";
import { onInvalid } from "../validation";

/** Event batches carry log lines: up to 500 of them, so more room than other JSON bodies. */
export const MAX_EVENTS_BODY_BYTES = 4 * 1024 * 1024;
/** A result holds a diff of up to DIFF_MAX_BYTES plus file lists. */
export const MAX_RESULT_BODY_BYTES = 4 * 1024 * 1024;

function limit(maxSize: number, what: string) {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new PayloadTooLargeError(what, maxSize);
    },
  });
}

type Vars = { Variables: { attempt: number } };

/** The runner job routes, relative to RUNNER_JOBS_PREFIX/:jobId. */
export function runnerJobRoutes(jobs: JobQueue, tokens: RunnerTokens): Hono<Vars> {
  const param = zValidator("param", RunnerJobParamSchema, onInvalid);
  return new Hono<Vars>()
    .use("*", async (c, next) => {
      const jobId = c.req.param("jobId") ?? "";
      const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
      if (!match?.[1]) throw new UnauthorizedError("Missing runner token");
      const claims = await tokens.verifyJob(match[1], jobId);
      const job = await jobs.get(jobId);
      // The token names the job and its project; both must agree with the row.
      if (job.projectId !== claims.projectId) throw new UnauthorizedError("Runner token is for another project");
      c.set("attempt", claims.attempt ?? job.attempt);
      await next();
    })
    .get("/", param, async (c) => c.json(await jobs.get(c.req.valid("param").jobId)))
    .post("/heartbeat", param, async (c) => {
      return c.json(await jobs.heartbeat(c.req.valid("param").jobId, c.get("attempt")));
    })
    .post(
      "/events",
      limit(MAX_EVENTS_BODY_BYTES, "Event batch"),
      param,
      zValidator("json", NewJobEventsBodySchema, onInvalid),
      async (c) => {
        const { events } = c.req.valid("json");
        const lastSeq = await jobs.appendEvents(c.req.valid("param").jobId, c.get("attempt"), events);
        return c.json({ lastSeq });
      },
    )
    .post(
      "/result",
      limit(MAX_RESULT_BODY_BYTES, "Job result"),
      param,
      zValidator("json", JobResultSchema, onInvalid),
      async (c) => {
        const result: JobResult = c.req.valid("json");
        return c.json(await jobs.finish(c.req.valid("param").jobId, c.get("attempt"), result));
      },
    );
}
