/**
 * @module response-schemas
 * zod schemas for what the API answers, beside the request schemas (schemas.ts): the
 * `data` of each success envelope, the runner API's bare JSON, and the events of the
 * streams. They are not used to build answers (handlers return typed values); they
 * describe them, for the OpenAPI document (src/openapi/), whose schemas the API tests
 * check every answer against. The backend's wire types (backend/types.ts) are inferred
 * from them; the types the runner shares (shared/job-format.ts, snapshot-format.ts)
 * cannot import zod at run time, so they are kept there and tied to these schemas by
 * the compile-time checks at the end.
 *
 * `.meta({ id })` names a schema: it becomes a component of the document.
 */
import { z } from "zod";
import type { GitAccess, Job, JobEvent, PullRequestRef } from "./shared/job-format";
import { JobResultSchema } from "./shared/job-result";
import type { CommitResponse, SnapshotInfo } from "./shared/snapshot-format";

const IsoTime = z.string().describe("ISO 8601 time");
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

// ---- Sandboxes -------------------------------------------------------------------

export const HealthSchema = z.object({
  status: z.literal("ok"),
  version: z.string(),
  backend: z.literal("cloudflare"),
});

export const SandboxInfoSchema = z
  .object({
    projectId: z.string(),
    status: z
      .enum(["ready", "stopped"])
      .describe("`ready`: commands can run now. `stopped`: known but not running (container asleep)."),
    backend: z.literal("cloudflare").describe("Which adapter serves the sandbox"),
    isolated: z.boolean().describe("Whether a container isolates the sandbox"),
  })
  .meta({ id: "SandboxInfo" });

export const SandboxSettingsSchema = z
  .object({
    envNames: z.array(z.string()).describe("Names of the sandbox's environment variables (never their values)"),
    sleepAfter: z
      .union([z.string(), z.number()])
      .describe('How long without requests before the container sleeps ("10m", or seconds)'),
    keepAlive: z.boolean().describe("Keep the container awake whatever the activity"),
    idleTtl: z
      .number()
      .int()
      .nullable()
      .describe("Seconds without API use after which the sandbox is snapshotted and stopped; null: none"),
  })
  .meta({ id: "SandboxSettings" });

export const CreatedSandboxSchema = SandboxInfoSchema.extend({
  restoredSnapshot: Sha256.nullable().describe("The snapshot this call restored, when it restored one"),
  syncProcessId: z.string().nullable().describe("The sync watcher's process id, when sync is configured"),
  settings: SandboxSettingsSchema,
  message: z.string(),
});

export const SandboxStatusSchema = SandboxInfoSchema.extend({ settings: SandboxSettingsSchema });

export const SandboxListingSchema = z
  .object({
    projectId: z.string(),
    state: z.enum(["active", "destroyed"]),
    createdAt: IsoTime,
    lastUsedAt: IsoTime,
    destroyedAt: IsoTime.nullable(),
    headSnapshotId: Sha256.nullable().describe("The project's head snapshot, or null before its first"),
    runningJobId: z.string().nullable().describe("The id of the job running in it now, if one is"),
    idleTtlSeconds: z
      .number()
      .int()
      .nullable()
      .describe("Seconds without use after which it is snapshotted and stopped; null: no idle TTL"),
    idleStoppedAt: IsoTime.nullable().describe("When the idle TTL last stopped it (cleared by its next use)"),
  })
  .meta({ id: "SandboxListing" });

export const SandboxPageSchema = z.object({
  sandboxes: z.array(SandboxListingSchema),
  nextCursor: z.string().nullable().describe("Pass as `cursor` for the next page; null on the last"),
});

export const DeleteSandboxSchema = z.union([
  z.object({
    projectId: z.string(),
    status: z.literal("destroyed"),
    snapshotId: Sha256.nullable().describe("The snapshot taken before the teardown (null: none was taken)"),
    alreadyStopped: z.boolean(),
    message: z.string(),
  }),
  z.object({
    projectId: z.string(),
    status: z.literal("cleaned"),
    killed: z.number().int().min(0).describe("How many of the user's processes were killed"),
    message: z.string(),
  }),
]);

// ---- Commands --------------------------------------------------------------------

export const ExecResultSchema = z
  .object({ stdout: z.string(), stderr: z.string(), exitCode: z.number().int(), durationMs: z.number() })
  .meta({ id: "ExecResult" });

/**
 * One event of a streamed exec or a followed process log: the SSE event name is `type`,
 * its data the other fields. A stream always ends with exactly one `exit` or `error`.
 */
export const ExecEventSchema = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("start"), pid: z.number().int().optional(), command: z.string() }),
    z.object({ type: z.literal("stdout"), data: z.string() }),
    z.object({ type: z.literal("stderr"), data: z.string() }),
    z.object({ type: z.literal("exit"), exitCode: z.number().int(), durationMs: z.number() }),
    z.object({ type: z.literal("error"), code: z.string(), message: z.string() }),
  ])
  .meta({
    id: "ExecEvent",
    description: "An SSE event: `event:` is `type`, `data:` the other fields as JSON, `id:` its position",
  });

export const CloneResultSchema = z.object({
  repoUrl: z.string().describe("The URL cloned, credentials redacted"),
  directory: z.string(),
  commit: z.string().describe("The checked-out commit (full SHA)"),
  branch: z.string(),
  message: z.string(),
});

// ---- Files -----------------------------------------------------------------------

export const FileEntrySchema = z
  .object({
    name: z.string(),
    path: z.string().describe("Absolute path inside the sandbox"),
    type: z.enum(["file", "directory", "symlink", "other"]),
    size: z.number().int().min(0),
    modifiedAt: IsoTime,
    mode: z.string().describe('Octal permission string such as "0644"'),
  })
  .meta({ id: "FileEntry" });

export const FileContentSchema = z.object({
  path: z.string(),
  content: z.string(),
  encoding: z.enum(["utf8", "base64"]).describe("base64 when asked, or when the file is not UTF-8"),
  size: z.number().int().min(0),
});

export const FileWrittenSchema = z.object({ path: z.string(), size: z.number().int().min(0), message: z.string() });
export const PathDeletedSchema = z.object({ path: z.string(), deleted: z.literal(true) });

export const ListingSchema = z.object({
  path: z.string(),
  recursive: z.boolean(),
  count: z.number().int().min(0),
  entries: z.array(FileEntrySchema),
});

export const ArchiveExtractedSchema = z.object({
  path: z.string(),
  entries: z.number().int().min(0),
  bytes: z.number().int().min(0),
});

// ---- Processes -------------------------------------------------------------------

export const ProcessInfoSchema = z
  .object({
    id: z.string(),
    command: z.string(),
    status: z.enum(["running", "completed", "failed", "killed"]),
    pid: z.number().int().optional(),
    exitCode: z.number().int().nullable(),
    startedAt: IsoTime,
    endedAt: IsoTime.nullable(),
  })
  .meta({ id: "ProcessInfo" });

export const ProcessListSchema = z.object({ processes: z.array(ProcessInfoSchema) });
export const ProcessLogsSchema = z.object({ stdout: z.string(), stderr: z.string() });
export const ProcessLogsPageSchema = ProcessLogsSchema.extend({ id: z.string() });

// ---- Preview URLs ----------------------------------------------------------------

export const PreviewPortSchema = z
  .object({
    port: z.number().int(),
    name: z.string().nullable(),
    url: z.string().nullable().describe("`http(s)://<port>-<projectId>-<token>.<hostname>/`; null while not active"),
    active: z
      .boolean()
      .describe("Forwarding now: exposed in the container that runs (a restart deactivates; expose again)"),
  })
  .meta({ id: "PreviewPort" });

export const PortListSchema = z.object({ ports: z.array(PreviewPortSchema) });
export const PortRevokedSchema = z.object({ port: z.number().int(), exposed: z.literal(false) });

// ---- Snapshots -------------------------------------------------------------------

export const SnapshotInfoSchema = z
  .object({
    snapshotId: Sha256,
    parent: Sha256.nullable(),
    createdAt: IsoTime,
    files: z.number().int().min(0),
    bytes: z.number().int().min(0),
    uploadedBytes: z.number().int().min(0).describe("Bytes of new packs this snapshot uploaded"),
    isHead: z.boolean(),
  })
  .meta({ id: "SnapshotInfo" });

export const SnapshotTakenSchema = z.object({
  snapshotId: Sha256,
  unchanged: z.boolean().describe("Nothing changed since the head: no new snapshot was written"),
  files: z.number().int().min(0),
  bytes: z.number().int().min(0),
  uploadedBytes: z.number().int().min(0),
  durationMs: z.number(),
});

export const SnapshotListSchema = z.object({ head: Sha256.nullable(), snapshots: z.array(SnapshotInfoSchema) });

export const RestoredSchema = z.object({
  snapshotId: Sha256.nullable().describe("Null when the project has no snapshot yet"),
  restored: z.boolean(),
  initialized: z.boolean(),
  files: z.number().int().min(0),
  downloadedBytes: z.number().int().min(0),
  deleted: z.number().int().min(0),
  install: z
    .object({ command: z.string(), exitCode: z.number().int() })
    .nullable()
    .describe("The package manager install that ran after the restore, if any"),
  durationMs: z.number(),
});

// ---- Jobs ------------------------------------------------------------------------

export const JobSchema = z
  .object({
    id: z.string(),
    projectId: z.string(),
    status: z.enum(["queued", "running", "succeeded", "failed", "cancelled"]),
    agent: z.enum(["shell", "claude", "opencode"]),
    prompt: z.string(),
    model: z.string().nullable(),
    command: z.string().nullable().describe("The command of the `shell` agent"),
    repo: z
      .object({
        url: z.string(),
        branch: z.string().nullable(),
        pushBranch: z.string().nullable().optional().describe("The branch the job pushes to (jobs that push)"),
        commitMessage: z.string().nullable().optional(),
        pullRequest: z
          .object({
            title: z.string().nullable(),
            body: z.string().nullable(),
            base: z.string().nullable(),
            draft: z.boolean(),
          })
          .nullable()
          .optional(),
        author: z.object({ name: z.string(), email: z.string() }).nullable().optional(),
      })
      .nullable(),
    timeoutSeconds: z.number().int(),
    maxAttempts: z.number().int(),
    attempt: z.number().int().min(0).describe("1 for the first run; 0 while never leased"),
    leaseUntil: z.number().nullable().describe("Epoch ms when the current lease runs out (running jobs)"),
    cancelRequested: z.boolean(),
    result: JobResultSchema.meta({ id: "JobResult" }).nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable().describe("Why it failed or was cancelled"),
    createdAt: IsoTime,
    startedAt: IsoTime.nullable(),
    finishedAt: IsoTime.nullable(),
  })
  .meta({ id: "Job" });

export const JobEventSchema = z
  .object({
    seq: z.number().int().min(1).describe("Counts from 1 per job; the SSE event id"),
    type: z.string().describe("log | phase | agent_step | status | …; the SSE event name"),
    data: z.record(z.string(), z.unknown()),
    createdAt: IsoTime,
  })
  .meta({ id: "JobEvent" });

export const JobPageSchema = z.object({ jobs: z.array(JobSchema), nextCursor: z.string().nullable() });

export const JobEventsPageSchema = z.object({
  events: z.array(JobEventSchema),
  lastSeq: z.number().int().min(0),
  hasMore: z.boolean(),
  status: JobSchema.shape.status,
});

// ---- Runner API (bare JSON, no envelope) -----------------------------------------

export const HeadSchema = z.object({ snapshotId: Sha256.nullable() });
export const RunnerSnapshotListSchema = z.object({ snapshots: z.array(SnapshotInfoSchema) });
export const CommitResponseSchema = z.object({ snapshotId: Sha256, head: Sha256 });
export const PackStoredSchema = z.object({ packId: Sha256, size: z.number().int().min(0) });
export const HeartbeatSchema = z.object({ leaseUntil: z.number(), cancelRequested: z.boolean() });
export const EventsAppendedSchema = z.object({ lastSeq: z.number().int().min(0) });
export const GitAccessSchema = z.object({
  egressPath: z.string().nullable(),
  credential: z.object({ username: z.string(), password: z.string(), expiresAt: z.number().nullable() }).nullable(),
});
export const PullRequestRefSchema = z.object({ number: z.number().int().min(1), url: z.string() });

// ---- The runner's shared types agree with these schemas (compile-time only) ----------

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agree = <T extends true>(_: T) => {};
agree<Same<z.infer<typeof JobSchema>, Job>>(true);
agree<Same<z.infer<typeof JobEventSchema>, JobEvent>>(true);
agree<Same<z.infer<typeof SnapshotInfoSchema>, SnapshotInfo>>(true);
agree<Same<z.infer<typeof CommitResponseSchema>, CommitResponse>>(true);
agree<Same<z.infer<typeof GitAccessSchema>, GitAccess>>(true);
agree<Same<z.infer<typeof PullRequestRefSchema>, PullRequestRef>>(true);
