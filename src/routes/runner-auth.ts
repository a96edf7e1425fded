/**
 * @module routes/runner-auth
 * The one gate of the runner API, shared by routes/runner.ts (a project's snapshots)
 * and routes/runner-jobs.ts (one job): a runner token scoped to the project or job
 * in the path, and — for a job token — a job still running the token's attempt
 * under a live lease (JobQueue.authorizeToken, one D1 read per request). So a job
 * token dies with its lease on every runner route at once: after the job ended, was
 * requeued or moved to another attempt, its runner cannot commit, upload, read,
 * post or report anything. Project tokens (sync, user-facing snapshot/restore) are
 * not tied to a job and pass on their scope and expiry alone.
 */
import type { MiddlewareHandler } from "hono";
import { UnauthorizedError } from "../errors";
import type { JobQueue } from "../jobs/queue";
import type { Job } from "../shared/job-format";
import type { RunnerTokenClaims, RunnerTokens } from "../snapshots/tokens";

/** What the gate leaves for the handlers: the token's claims and, for a job token, its job as just read. */
export type RunnerAuthVars = { Variables: { runnerClaims: RunnerTokenClaims; runnerJob: Job | null } };

/**
 * Runner-token auth for the `projectId` (scope "project") or `jobId` (scope "job")
 * path parameter. `jobs` is null when no D1 database is bound: job tokens are then
 * refused, since nothing can say whether their lease lives.
 */
export function requireRunnerToken(
  tokens: RunnerTokens,
  jobs: JobQueue | null,
  scope: "project" | "job",
): MiddlewareHandler<RunnerAuthVars> {
  return async (c, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
    if (!match?.[1]) throw new UnauthorizedError("Missing runner token");
    const claims =
      scope === "job"
        ? await tokens.verifyJob(match[1], c.req.param("jobId") ?? "")
        : await tokens.verify(match[1], c.req.param("projectId") ?? "");
    let job: Job | null = null;
    if (claims.jobId !== undefined) {
      if (!jobs) throw new UnauthorizedError("Job tokens are refused: jobs are not configured (no D1 database)");
      job = await jobs.authorizeToken(claims.jobId, claims.attempt);
      // The token names the job and its project; both must agree with the row.
      if (job.projectId !== claims.projectId) throw new UnauthorizedError("Runner token is for another project");
    }
    c.set("runnerClaims", claims);
    c.set("runnerJob", job);
    await next();
  };
}
