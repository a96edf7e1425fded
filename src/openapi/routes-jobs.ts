/**
 * @module openapi/routes-jobs
 * The route table of the job API (/jobs, /run-job, /run-next) and of the runner API
 * (/runner/v1/…). The runner API is documented, under its own tag, because it is served
 * on the same origin and a reader of the document should see every route that answers
 * there; it is internal (its client is the runner in a sandbox, with a runner token the
 * Worker mints) and answers bare JSON rather than the envelope.
 */
import { z } from "zod";
import {
  CreateJobBodySchema,
  EventsQuerySchema,
  IdempotencyKeySchema,
  JobParamSchema,
  ListJobsQuerySchema,
  NewJobEventsBodySchema,
  PullRequestBodySchema,
  RunJobBodySchema,
  RunnerJobParamSchema,
} from "../jobs/schemas";
import * as R from "../response-schemas";
import { PackParamSchema, ProjectParamSchema, SnapshotParamSchema } from "../schemas";
import { RUNNER_JOBS_PREFIX } from "../shared/job-format";
import { JobResultSchema } from "../shared/job-result";
import { CommitRequestSchema, ManifestSchema } from "../shared/manifest";
import { RUNNER_API_PREFIX } from "../shared/snapshot-format";
import { INPUT, JOBS, JSON_BODY, type Operation } from "./operation";

const RUNNER_TAG = "Runner API (internal)";
/** A job's stream as `{type, ...data}` (SSE: `event:` type, `id:` seq, `data:` the rest), ending with `end`. */
const JobStreamEventSchema = z
  .union([
    z.object({
      type: z.literal("end"),
      status: R.JobSchema.shape.status,
      error: z.object({ code: z.string(), message: z.string() }).nullable(),
      finishedAt: z.string().nullable(),
    }),
    z.object({ type: z.string() }).loose(),
  ])
  .describe(
    "Each stored event (`id:` its seq, `event:` its type, `data:` its data), then one `end` with the final status",
  );
/**
 * Starting a job (jobs/start.ts): the runner API must be reachable, then the queue's lease; a
 * failure to start the runner (the ensure step's included) is RUNNER_START_FAILED.
 */
const START = [
  ...JOBS,
  "SNAPSHOTS_UNAVAILABLE",
  "RUNNER_API_UNREACHABLE",
  "PROJECT_BUSY",
  "LEASE_CONTENDED",
  "RUNNER_START_FAILED",
] as const;

const P = RUNNER_API_PREFIX;
const J = RUNNER_JOBS_PREFIX;

export const jobOperations: Operation[] = [
  {
    operationId: "createJob",
    method: "post",
    path: "/jobs",
    tag: "Jobs",
    summary: "Queue an agent job",
    description: "With `Idempotency-Key`: the same key and body answer the same job (200); another body is 409.",
    auth: "bearer",
    headers: [{ name: "Idempotency-Key", description: "Makes a retried create safe", schema: IdempotencyKeySchema }],
    body: { required: true, json: CreateJobBodySchema },
    responses: {
      201: { description: "Queued", json: R.JobSchema },
      200: { description: "The job this Idempotency-Key created before", json: R.JobSchema },
    },
    errors: [...JSON_BODY, ...JOBS, "INVALID_REPO_URL", "INVALID_BRANCH", "IDEMPOTENCY_CONFLICT", "CONFLICT"],
  },
  {
    operationId: "listJobs",
    method: "get",
    path: "/jobs",
    tag: "Jobs",
    summary: "Jobs, newest first, one page at a time",
    auth: "bearer",
    query: ListJobsQuerySchema,
    responses: { 200: { description: "One page", json: R.JobPageSchema } },
    errors: [...INPUT, ...JOBS, "INVALID_CURSOR"],
  },
  {
    operationId: "getJob",
    method: "get",
    path: "/jobs/:id",
    tag: "Jobs",
    summary: "One job",
    auth: "bearer",
    params: JobParamSchema,
    responses: { 200: { description: "The job", json: R.JobSchema } },
    errors: [...INPUT, ...JOBS, "JOB_NOT_FOUND"],
  },
  {
    operationId: "cancelJob",
    method: "post",
    path: "/jobs/:id/cancel",
    tag: "Jobs",
    summary: "Cancel: a queued job at once, a running one when its runner next hears of it",
    auth: "bearer",
    params: JobParamSchema,
    responses: { 200: { description: "The job", json: R.JobSchema } },
    errors: [...INPUT, ...JOBS, "JOB_NOT_FOUND", "JOB_FINISHED", "CONFLICT"],
  },
  {
    operationId: "jobEvents",
    method: "get",
    path: "/jobs/:id/events",
    tag: "Jobs",
    summary: "A job's events: SSE (replay, then live, then `end`), or one page with `format=json`",
    auth: "bearer",
    params: JobParamSchema,
    query: EventsQuerySchema,
    headers: [{ name: "Last-Event-ID", description: "Resume after this seq (wins over `after`)", schema: z.string() }],
    responses: {
      200: {
        description: "The events",
        json: R.JobEventsPageSchema,
        media: { "text/event-stream": { kind: "sse", events: JobStreamEventSchema } },
      },
    },
    errors: [...INPUT, ...JOBS, "JOB_NOT_FOUND", "INVALID_EVENT_ID"],
  },
  {
    operationId: "runJob",
    method: "post",
    path: "/run-job",
    tag: "Jobs",
    summary: "Lease a queued job and start it",
    auth: "bearer",
    body: { required: true, json: RunJobBodySchema },
    responses: { 202: { description: "Started", json: R.JobSchema } },
    errors: [...JSON_BODY, ...START, "JOB_NOT_FOUND", "JOB_NOT_QUEUED"],
  },
  {
    operationId: "runNext",
    method: "post",
    path: "/run-next",
    tag: "Jobs",
    summary: "Lease the oldest runnable job and start it",
    auth: "bearer",
    responses: {
      202: { description: "Started", json: R.JobSchema },
      200: { description: "Nothing to run", json: z.null() },
    },
    errors: [...START],
  },
];

export const runnerOperations: Operation[] = [
  {
    operationId: "runnerHead",
    method: "get",
    path: `${P}/:projectId/head`,
    tag: RUNNER_TAG,
    summary: "The project's head snapshot",
    auth: "runner",
    envelope: false,
    params: ProjectParamSchema,
    responses: { 200: { description: "The head", json: R.HeadSchema } },
    errors: [...INPUT],
  },
  {
    operationId: "runnerListSnapshots",
    method: "get",
    path: `${P}/:projectId/snapshots`,
    tag: RUNNER_TAG,
    summary: "The project's snapshots, newest first",
    auth: "runner",
    envelope: false,
    params: ProjectParamSchema,
    responses: { 200: { description: "The snapshots", json: R.RunnerSnapshotListSchema } },
    errors: [...INPUT],
  },
  {
    operationId: "runnerManifest",
    method: "get",
    path: `${P}/:projectId/snapshots/:id`,
    tag: RUNNER_TAG,
    summary: "A snapshot's manifest, as stored (its SHA-256 is the snapshot id)",
    auth: "runner",
    envelope: false,
    params: SnapshotParamSchema,
    responses: { 200: { description: "The manifest", json: ManifestSchema } },
    errors: [...INPUT, "SNAPSHOT_NOT_FOUND"],
  },
  {
    operationId: "runnerCommit",
    method: "post",
    path: `${P}/:projectId/snapshots`,
    tag: RUNNER_TAG,
    summary: "Commit a manifest whose packs are stored, and move the head to it",
    auth: "runner",
    envelope: false,
    params: ProjectParamSchema,
    body: { required: true, json: CommitRequestSchema },
    responses: { 201: { description: "Committed", json: R.CommitResponseSchema } },
    errors: [
      ...INPUT,
      "INVALID_JSON",
      "PAYLOAD_TOO_LARGE",
      "MISSING_PACKS",
      "PROJECT_MISMATCH",
      "BLOB_OUT_OF_PACK",
      "HEAD_MOVED",
    ],
  },
  {
    operationId: "runnerReadPack",
    method: "get",
    path: `${P}/:projectId/packs/:packId`,
    tag: RUNNER_TAG,
    summary: "A pack's bytes, or a `Range` of them",
    auth: "runner",
    envelope: false,
    params: PackParamSchema,
    headers: [{ name: "Range", description: "`bytes=start-end`: one range", schema: z.string() }],
    responses: {
      200: { description: "The pack", media: { "application/octet-stream": { kind: "binary" } } },
      206: {
        description: "The range asked for",
        media: { "application/octet-stream": { kind: "binary" } },
        headers: { "Content-Range": "bytes start-end/size" },
      },
    },
    errors: [...INPUT, "PACK_NOT_FOUND", "RANGE_NOT_SATISFIABLE"],
  },
  {
    operationId: "runnerPackSize",
    method: "head",
    path: `${P}/:projectId/packs/:packId`,
    tag: RUNNER_TAG,
    summary: "Whether a pack is stored, and its size (Content-Length)",
    auth: "runner",
    envelope: false,
    params: PackParamSchema,
    responses: { 200: { description: "Stored", headers: { "Content-Length": "The pack's size" } } },
    errors: [...INPUT, "PACK_NOT_FOUND"],
  },
  {
    operationId: "runnerPutPack",
    method: "put",
    path: `${P}/:projectId/packs/:packId`,
    tag: RUNNER_TAG,
    summary: "Store a pack (its SHA-256 must be its id)",
    auth: "runner",
    envelope: false,
    params: PackParamSchema,
    body: { required: true, media: { "application/octet-stream": { kind: "binary" } } },
    responses: { 201: { description: "Stored", json: R.PackStoredSchema } },
    errors: [...INPUT, "LENGTH_REQUIRED", "PAYLOAD_TOO_LARGE", "PACK_HASH_MISMATCH", "BODY_LENGTH_MISMATCH"],
  },
  {
    operationId: "runnerGetJob",
    method: "get",
    path: `${J}/:jobId`,
    tag: RUNNER_TAG,
    summary: "The job this token runs",
    auth: "runner",
    envelope: false,
    params: RunnerJobParamSchema,
    responses: { 200: { description: "The job", json: R.JobSchema } },
    errors: [...INPUT],
  },
  {
    operationId: "runnerHeartbeat",
    method: "post",
    path: `${J}/:jobId/heartbeat`,
    tag: RUNNER_TAG,
    summary: "Extend the job's lease",
    auth: "runner",
    envelope: false,
    params: RunnerJobParamSchema,
    responses: { 200: { description: "The new lease", json: R.HeartbeatSchema } },
    errors: [...INPUT, "LEASE_LOST", "JOB_FINISHED", "JOB_NOT_FOUND"],
  },
  {
    operationId: "runnerAppendEvents",
    method: "post",
    path: `${J}/:jobId/events`,
    tag: RUNNER_TAG,
    summary: "Append events (numbered by the Worker, in order)",
    auth: "runner",
    envelope: false,
    params: RunnerJobParamSchema,
    body: { required: true, json: NewJobEventsBodySchema },
    responses: { 200: { description: "Appended", json: R.EventsAppendedSchema } },
    errors: [...INPUT, "INVALID_JSON", "PAYLOAD_TOO_LARGE", "LEASE_LOST", "JOB_FINISHED", "JOB_NOT_FOUND"],
  },
  {
    operationId: "runnerResult",
    method: "post",
    path: `${J}/:jobId/result`,
    tag: RUNNER_TAG,
    summary: "Report the job's result; ends the job",
    auth: "runner",
    envelope: false,
    params: RunnerJobParamSchema,
    body: { required: true, json: JobResultSchema },
    responses: { 200: { description: "The ended job", json: R.JobSchema } },
    errors: [...INPUT, "INVALID_JSON", "PAYLOAD_TOO_LARGE", "LEASE_LOST", "JOB_FINISHED", "JOB_NOT_FOUND", "CONFLICT"],
  },
  {
    operationId: "runnerGitAccess",
    method: "post",
    path: `${J}/:jobId/git-access`,
    tag: RUNNER_TAG,
    summary: "How the runner reaches the job's repository (through the Worker, which adds the host's credentials)",
    auth: "runner",
    envelope: false,
    params: RunnerJobParamSchema,
    responses: {
      200: { description: "The egress path (null: no git host configured for it)", json: R.GitAccessSchema },
    },
    errors: [...INPUT],
  },
  ...(["get", "post"] as const).map(
    (method): Operation => ({
      operationId: method === "get" ? "runnerGitAdvertise" : "runnerGitService",
      method,
      path: `${J}/:jobId/git/*`,
      tag: RUNNER_TAG,
      summary:
        method === "get"
          ? "git smart HTTP: the refs of the job's repository, forwarded to the git host with its token"
          : "git smart HTTP: a fetch, or a push to the job's own branch only, forwarded to the git host with its token",
      auth: "runner",
      envelope: false,
      params: RunnerJobParamSchema,
      wildcard: "`<owner>/<repo>.git/info/refs`, `git-upload-pack` or `git-receive-pack` of the job's repository",
      ...(method === "post"
        ? { body: { required: true, media: { "application/octet-stream": { kind: "binary" as const } } } }
        : {}),
      responses: {
        200: {
          description: "The git host's answer, as it gave it",
          media: { "application/octet-stream": { kind: "binary" } },
        },
      },
      errors: [...INPUT, "PATH_FORBIDDEN"],
    }),
  ),
  {
    operationId: "runnerOpenPullRequest",
    method: "post",
    path: `${J}/:jobId/pull-request`,
    tag: RUNNER_TAG,
    summary: "Open the job's pull request from its push branch (the Worker calls the GitHub REST API)",
    auth: "runner",
    envelope: false,
    params: RunnerJobParamSchema,
    body: { required: true, json: PullRequestBodySchema },
    responses: {
      201: {
        description: "The pull request (an open one for the same head, if it exists)",
        json: R.PullRequestRefSchema,
      },
    },
    errors: [...INPUT, "INVALID_JSON", "PULL_REQUEST_FAILED"],
  },
];
