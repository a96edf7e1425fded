/**
 * @module jobs/schemas
 * zod schemas for the job routes (user side: POST /jobs, GET /jobs, /run-job; runner
 * side: events; the result's schema is shared, src/shared/job-result.ts). Kept beside the queue, as the snapshot schemas are, so
 * src/schemas.ts stays the sandbox API's.
 */
import { z } from "zod";
import { ProjectIdSchema } from "../schemas";

/** Most events one POST /events may carry (job-format.ts). */
export const MAX_EVENTS_PER_BATCH = 500;

/** Timeouts of jobs: 15 min by default, 1 h at most. */
export const DEFAULT_JOB_TIMEOUT_SECONDS = 900;
export const MAX_JOB_TIMEOUT_SECONDS = 3600;

const JobIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, "job id is malformed");
export const JobParamSchema = z.object({ id: JobIdSchema });
export const RunnerJobParamSchema = z.object({ jobId: JobIdSchema });

export const JobStatusSchema = z.enum(["queued", "running", "succeeded", "failed", "cancelled"]);

/** A pull request a job opens once its branch is pushed; every field has a default. */
const PullRequestSpecSchema = z.strictObject({
  title: z.string().min(1).max(256).optional(),
  body: z.string().max(65_536).optional(),
  base: z.string().min(1).max(255).optional(),
  draft: z.boolean().optional(),
});

/**
 * A job's repository: cloned on the project's first job; with `pushBranch` or
 * `pullRequest` the agent's work is committed, pushed and (with `pullRequest`) proposed.
 * Ref names are checked in routes/jobs.ts (shared/git.ts isSafeRefName).
 */
export const RepoSpecSchema = z.strictObject({
  url: z.string().min(1).max(2048),
  branch: z.string().min(1).max(255).optional(),
  pushBranch: z.string().min(1).max(255).optional(),
  commitMessage: z.string().min(1).max(10_000).optional(),
  pullRequest: PullRequestSpecSchema.optional(),
  author: z
    .strictObject({
      name: z
        .string()
        .min(1)
        .max(200)
        .regex(/^[^<>\n\r\0]+$/, "author.name must not contain <, >, or line breaks"),
      email: z
        .string()
        .min(3)
        .max(320)
        .regex(/^[^<>\s@]+@[^<>\s@]+$/, "author.email must be an email address"),
    })
    .optional(),
});

export const CreateJobBodySchema = z
  .strictObject({
    projectId: ProjectIdSchema,
    prompt: z.string().max(200_000),
    agent: z.enum(["shell", "claude", "opencode"]),
    model: z.string().min(1).max(200).optional(),
    command: z.string().min(1, "command must not be empty").max(65_536).optional(),
    repo: RepoSpecSchema.optional(),
    timeoutSeconds: z.number().int().min(1).max(MAX_JOB_TIMEOUT_SECONDS).default(DEFAULT_JOB_TIMEOUT_SECONDS),
    maxAttempts: z.number().int().min(1).max(10).default(3),
  })
  .superRefine((body, ctx) => {
    if (body.agent === "shell" && body.command === undefined) {
      ctx.addIssue({ code: "custom", path: ["command"], message: "command is required for the shell agent" });
    }
    if (body.agent !== "shell" && body.prompt.trim() === "") {
      ctx.addIssue({ code: "custom", path: ["prompt"], message: `prompt must not be empty for ${body.agent}` });
    }
  });
export type CreateJobBody = z.infer<typeof CreateJobBodySchema>;

/** Idempotency-Key: visible ASCII, 1–255 characters. */
export const IdempotencyKeySchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, "Idempotency-Key must be 1-255 visible ASCII characters");

export const ListJobsQuerySchema = z.object({
  projectId: ProjectIdSchema.optional(),
  status: JobStatusSchema.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional(),
});

/**
 * POST /run-job: `{"jobId"}` (as the rest of the API spells ids) or `{"job_id"}` (seed 002's
 * spelling); exactly one of them. Parsed to `{ jobId }`.
 */
export const RunJobBodySchema = z
  .strictObject({ jobId: JobIdSchema.optional(), job_id: JobIdSchema.optional() })
  .superRefine((body, ctx) => {
    if (body.jobId === undefined && body.job_id === undefined) {
      ctx.addIssue({ code: "custom", path: ["jobId"], message: "jobId is required (or job_id)" });
    } else if (body.jobId !== undefined && body.job_id !== undefined) {
      ctx.addIssue({ code: "custom", path: [], message: "Give jobId or job_id, not both" });
    }
  })
  .transform((body) => ({ jobId: (body.jobId ?? body.job_id) as string }));

export const EventsQuerySchema = z.object({
  format: z.enum(["json", "sse"]).optional(),
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
});

export const NewJobEventsBodySchema = z.strictObject({
  events: z
    .array(
      z.strictObject({
        type: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, "event type must be a short lowercase name"),
        data: z.record(z.string(), z.unknown()),
      }),
    )
    .max(MAX_EVENTS_PER_BATCH, `at most ${MAX_EVENTS_PER_BATCH} events per call`),
});

/** POST /runner/v1/jobs/:jobId/pull-request (shared/job-format.ts PullRequestRequest). */
export const PullRequestBodySchema = z.strictObject({
  head: z.string().min(1).max(255),
  base: z.string().min(1).max(255).nullable(),
  title: z.string().min(1).max(256),
  body: z.string().max(65_536),
  draft: z.boolean(),
});
