/**
 * @module shared/job-result
 * What the runner reports when a job ends (POST /runner/v1/jobs/:id/result), defined
 * once as a zod schema; `JobResult` and `ChangedFiles` (job-format.ts) are inferred
 * from it. The Worker checks every result with it (routes/runner-jobs.ts); the runner
 * only builds results, so it imports the types alone and its bundle carries no zod for
 * them. Unknown fields are dropped rather than refused (a newer runner's additions).
 */
import { z } from "zod";
import { CHANGED_FILES_MAX_BYTES, CHANGED_FILES_MAX_PATHS, DIFF_MAX_BYTES } from "./job-format.ts";

const PathListSchema = z
  .array(z.string().max(4096))
  .max(CHANGED_FILES_MAX_PATHS, `list at most ${CHANGED_FILES_MAX_PATHS} changed paths (counts carries the rest)`);
const CountSchema = z.number().int().min(0);
const utf8 = new TextEncoder();
const pathBytes = (paths: string[]): number => paths.reduce((n, p) => n + utf8.encode(p).byteLength, 0);

/**
 * Paths a job changed. A result lists at most CHANGED_FILES_MAX_PATHS paths (and
 * CHANGED_FILES_MAX_BYTES of them), taken from the three lists in turn; `counts`
 * always has the full numbers and `truncated` says when the lists are cut.
 */
export const ChangedFilesSchema = z
  .object({
    added: PathListSchema,
    modified: PathListSchema,
    deleted: PathListSchema,
    counts: z.object({ added: CountSchema, modified: CountSchema, deleted: CountSchema }).optional(),
    truncated: z.boolean().optional(),
  })
  .refine((c) => {
    const all = [...c.added, ...c.modified, ...c.deleted];
    return all.length <= CHANGED_FILES_MAX_PATHS && pathBytes(all) <= CHANGED_FILES_MAX_BYTES;
  }, `list at most ${CHANGED_FILES_MAX_PATHS} changed paths of at most ${CHANGED_FILES_MAX_BYTES} bytes in all ` +
    "(counts carries the rest)");

const ErrorSchema = z.object({ code: z.string().min(1).max(100), message: z.string().max(10_000) });

/**
 * What a job that pushes did with git: the branch, the commit it started from, the
 * commit it made (null when the agent changed nothing: nothing is pushed), whether
 * the push went through, and the pull request the Worker opened.
 */
export const JobGitSchema = z.object({
  branch: z.string().min(1).max(255),
  baseCommit: z
    .string()
    .regex(/^[0-9a-f]{40,64}$/)
    .nullable(),
  commit: z
    .string()
    .regex(/^[0-9a-f]{40,64}$/)
    .nullable(),
  pushed: z.boolean(),
  pullRequest: z.object({ number: z.number().int().positive(), url: z.string().max(2048) }).nullable(),
});

/** What the runner reports when a job ends. */
export const JobResultSchema = z.object({
  status: z.enum(["succeeded", "failed", "cancelled"]),
  exitCode: z.number().int().nullable(),
  summary: z.string().max(100_000),
  changedFiles: ChangedFilesSchema,
  /** Unified diff of the workspace against the restored snapshot, capped at DIFF_MAX_BYTES. */
  diff: z.string().max(DIFF_MAX_BYTES, `diff must be cut at ${DIFF_MAX_BYTES} bytes`),
  diffTruncated: z.boolean(),
  /** Milliseconds per phase: restore (or clone), agent, snapshot, … */
  timings: z.record(z.string(), z.number()),
  snapshotId: z.string().nullable(),
  /** Token usage of model-backed agents (zeros for shell). */
  usage: z.object({
    inputTokens: z.number(),
    outputTokens: z.number(),
    cacheReadTokens: z.number(),
    cacheWriteTokens: z.number(),
    costUsd: z.number(),
  }),
  /** Set when status is failed/cancelled: TIMEOUT, AGENT_FAILED, BUDGET_EXCEEDED, CANCELLED, … */
  error: ErrorSchema.nullable(),
  /** Jobs with a push branch only: what was committed, pushed and opened (job-format.ts JobRepo). */
  git: JobGitSchema.nullable().optional(),
});

export type ChangedFiles = z.infer<typeof ChangedFilesSchema>;
export type JobResult = z.infer<typeof JobResultSchema>;
export type JobGit = z.infer<typeof JobGitSchema>;
