/**
 * @module jobs/queue
 * The job queue over D1: one object the routes, start.ts and the cron use. Creating
 * (with idempotency keys), reading and listing jobs, cancelling, finishing with the
 * runner's result, and events live here; leasing lives in leases.ts. Every method
 * takes `now` (epoch ms, default Date.now()) so tests control time.
 */
import { ConflictError, UnauthorizedError } from "../errors";
import type { AgentName, Job, JobEvent, JobResult, NewJobEvent } from "../shared/job-format";
import { cancelAction, jobTokenRefusal } from "./decisions";
import { appendEvents, appendStatusEvent, readEvents } from "./events";
import { countRunning, heartbeat, leaseJob, leaseNext, releaseAfterStartFailure, sweepExpired } from "./leases";
import {
  decodeCursor,
  encodeCursor,
  iso,
  type JobRow,
  jobNotFound,
  leaseState,
  newJobId,
  notOwnedError,
  readJobRow,
  rowToJob,
} from "./records";

/** What POST /jobs asks for, after validation and defaults. */
export interface NewJob {
  projectId: string;
  prompt: string;
  agent: AgentName;
  model: string | null;
  command: string | null;
  repo: { url: string; branch: string | null } | null;
  timeoutSeconds: number;
  maxAttempts: number;
}

export interface ListJobsQuery {
  projectId?: string | undefined;
  status?: Job["status"] | undefined;
  limit: number;
  cursor?: string | undefined;
}

export interface JobQueue {
  /** Create a job; with a key, the same key and body give the same job (`created: false`). */
  create(input: NewJob, idempotencyKey?: string, now?: number): Promise<{ job: Job; created: boolean }>;
  get(id: string): Promise<Job>;
  /**
   * The job, if a job token minted for `attempt` may act on it at `now` (see
   * decisions.ts jobTokenRefusal); otherwise 401 UNAUTHORIZED saying why. One read:
   * the runner API's gate calls it once per request.
   */
  authorizeToken(id: string, attempt: number | undefined, now?: number): Promise<Job>;
  /** Newest first; `nextCursor` is null on the last page. */
  list(query: ListJobsQuery): Promise<{ jobs: Job[]; nextCursor: string | null }>;
  cancel(id: string, now?: number): Promise<Job>;
  /** Sweeps expired leases first unless `swept` (a cron round sweeps once, then leases several). */
  leaseNext(now?: number, opts?: { swept?: boolean }): Promise<Job | null>;
  leaseJob(id: string, now?: number): Promise<Job>;
  heartbeat(id: string, attempt: number, now?: number): Promise<{ leaseUntil: number; cancelRequested: boolean }>;
  /** The runner's report for `attempt`: running → result.status. */
  finish(id: string, attempt: number, result: JobResult, now?: number): Promise<Job>;
  releaseAfterStartFailure(id: string, attempt: number, code: string, reason: string, now?: number): Promise<Job>;
  sweepExpired(now?: number): Promise<number>;
  countRunning(): Promise<number>;
  /** Append runner events for `attempt` (409 when that attempt no longer runs); returns the last seq. */
  appendEvents(id: string, attempt: number, events: NewJobEvent[], now?: number): Promise<number>;
  readEvents(id: string, after: number, limit: number): Promise<JobEvent[]>;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Attempts at a compare-and-set that lost to a concurrent transition before giving up. */
const CAS_RETRIES = 3;

/** The queue over `db` (the D1 binding with migrations/0002_jobs.sql applied). */
export function createJobQueue(db: D1Database): JobQueue {
  async function mustRead(id: string): Promise<JobRow> {
    const row = await readJobRow(db, id);
    if (!row) throw jobNotFound(id);
    return row;
  }

  return {
    async create(input, idempotencyKey, now = Date.now()) {
      const requestHash = idempotencyKey === undefined ? null : await sha256Hex(JSON.stringify(input));
      const at = iso(now);
      const inserted = await db
        .prepare(
          `INSERT INTO jobs (id, project_id, status, agent, prompt, model, command, repo_url, repo_branch,
             timeout_seconds, max_attempts, idempotency_key, request_hash, created_at, updated_at)
           VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING *`,
        )
        .bind(
          newJobId(now),
          input.projectId,
          input.agent,
          input.prompt,
          input.model,
          input.command,
          input.repo?.url ?? null,
          input.repo?.branch ?? null,
          input.timeoutSeconds,
          input.maxAttempts,
          idempotencyKey ?? null,
          requestHash,
          at,
        )
        .first<JobRow>();
      if (inserted) {
        await appendStatusEvent(db, inserted.id, { status: "queued" }, now);
        return { job: rowToJob(inserted), created: true };
      }
      // Only an idempotency key can conflict: answer with the job it made, if the body matches.
      const existing = await db
        .prepare("SELECT * FROM jobs WHERE idempotency_key = ?")
        .bind(idempotencyKey)
        .first<JobRow>();
      if (!existing) throw new ConflictError("The job could not be created; try again", "CONFLICT");
      if (existing.request_hash !== requestHash) {
        throw new ConflictError(
          "This Idempotency-Key was used for a different request; use a new key for a new job",
          "IDEMPOTENCY_CONFLICT",
        );
      }
      return { job: rowToJob(existing), created: false };
    },

    async get(id) {
      return rowToJob(await mustRead(id));
    },

    async authorizeToken(id, attempt, now = Date.now()) {
      const row = await readJobRow(db, id);
      const refusal = row ? jobTokenRefusal(leaseState(row), attempt, now) : "does not exist";
      if (!row || refusal !== null) throw new UnauthorizedError(`Job token is no longer valid: job ${id} ${refusal}`);
      return rowToJob(row);
    },

    async list({ projectId, status, limit, cursor }) {
      const where: string[] = [];
      const binds: Array<string | number> = [];
      if (projectId !== undefined) {
        where.push("project_id = ?");
        binds.push(projectId);
      }
      if (status !== undefined) {
        where.push("status = ?");
        binds.push(status);
      }
      if (cursor !== undefined) {
        const after = decodeCursor(cursor);
        where.push("(created_at < ? OR (created_at = ? AND id < ?))");
        binds.push(after.createdAt, after.createdAt, after.id);
      }
      const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
        ORDER BY created_at DESC, id DESC LIMIT ?`;
      const { results } = await db
        .prepare(sql)
        .bind(...binds, limit + 1)
        .all<JobRow>();
      const page = results.slice(0, limit);
      const last = page.at(-1);
      const nextCursor =
        results.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null;
      return { jobs: page.map(rowToJob), nextCursor };
    },

    async cancel(id, now = Date.now()) {
      // Retried: the job may be leased or finished between the read and the write.
      for (let i = 0; i < CAS_RETRIES; i++) {
        const row = await mustRead(id);
        const action = cancelAction({ status: row.status, cancelRequested: row.cancel_requested !== 0 });
        if (action.kind === "refuse") throw new ConflictError(`Cannot cancel: ${action.reason}`, "JOB_FINISHED");
        if (action.kind === "already-requested") return rowToJob(row);
        const at = iso(now);
        const { meta } =
          action.kind === "cancel-now"
            ? await db
                .prepare(
                  `UPDATE jobs SET status = 'cancelled', error_code = 'CANCELLED', error_message = ?,
                     finished_at = ?, updated_at = ? WHERE id = ? AND status = 'queued'`,
                )
                .bind("Cancelled before it started", at, at, id)
                .run()
            : await db
                .prepare(
                  "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ? AND status = 'running' AND attempt = ?",
                )
                .bind(at, id, row.attempt)
                .run();
        if (meta.changes === 1) {
          const data =
            action.kind === "cancel-now" ? { status: "cancelled" } : { status: "running", cancelRequested: true };
          await appendStatusEvent(db, id, data, now);
          return rowToJob(await mustRead(id));
        }
      }
      throw new ConflictError(`Job ${id} kept changing while being cancelled; try again`, "CONFLICT");
    },

    leaseNext: (now = Date.now(), opts = {}) => leaseNext(db, now, opts),
    leaseJob: (id, now = Date.now()) => leaseJob(db, id, now),
    heartbeat: (id, attempt, now = Date.now()) => heartbeat(db, id, attempt, now),
    releaseAfterStartFailure: (id, attempt, code, reason, now = Date.now()) =>
      releaseAfterStartFailure(db, id, attempt, code, reason, now),
    sweepExpired: (now = Date.now()) => sweepExpired(db, now),
    countRunning: () => countRunning(db),

    async finish(id, attempt, result, now = Date.now()) {
      const at = iso(now);
      // A failed or cancelled job always names why, even when the runner did not.
      const error =
        result.status === "succeeded"
          ? null
          : (result.error ?? {
              code: result.status === "cancelled" ? "CANCELLED" : "AGENT_FAILED",
              message: result.summary || `The job ${result.status}`,
            });
      const row = await db
        .prepare(
          `UPDATE jobs SET status = ?1, result = ?2, error_code = ?3, error_message = ?4, finished_at = ?5,
             updated_at = ?5, lease_until = NULL, deadline_at = NULL
           WHERE id = ?6 AND status = 'running' AND attempt = ?7 RETURNING *`,
        )
        .bind(result.status, JSON.stringify(result), error?.code ?? null, error?.message ?? null, at, id, attempt)
        .first<JobRow>();
      if (!row) throw notOwnedError(await mustRead(id), attempt);
      await appendStatusEvent(
        db,
        id,
        { status: row.status, attempt, ...(error ? { code: error.code, reason: error.message } : {}) },
        now,
      );
      return rowToJob(row);
    },

    async appendEvents(id, attempt, events, now = Date.now()) {
      const row = await mustRead(id);
      if (row.status !== "running" || row.attempt !== attempt) throw notOwnedError(row, attempt);
      return await appendEvents(db, id, events, now);
    },

    readEvents: (id, after, limit) => readEvents(db, id, after, limit),
  };
}
