/**
 * @module jobs/records
 * The `jobs` row as D1 returns it, its conversion to the wire `Job`, job ids, list
 * cursors, and the typed errors the queue throws. Shared by queue.ts, leases.ts and
 * events.ts so the row layout lives in one place (migrations/0002_jobs.sql).
 */
import { ConflictError, NotFoundError } from "../errors";
import { decodeCursor as decodeOpaque, encodeCursor as encodeOpaque } from "../http/cursor";
import {
  type AgentName,
  defaultPushBranch,
  type Job,
  type JobRepo,
  type JobResult,
  type JobStatus,
  type RepoPushSettings,
} from "../shared/job-format";
import { isTerminal, type LeaseState } from "./decisions";

/** A `jobs` row, column for column. */
export interface JobRow {
  id: string;
  project_id: string;
  status: JobStatus;
  agent: AgentName;
  prompt: string;
  model: string | null;
  command: string | null;
  repo_url: string | null;
  repo_branch: string | null;
  /** RepoPushSettings JSON (migrations/0005_job_push.sql), null when the job does not push. */
  repo_push: string | null;
  timeout_seconds: number;
  max_attempts: number;
  attempt: number;
  lease_until: number | null;
  deadline_at: number | null;
  cancel_requested: number;
  idempotency_key: string | null;
  request_hash: string | null;
  result: string | null;
  error_code: string | null;
  error_message: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

/** The wire form of a row. */
export function rowToJob(row: JobRow): Job {
  return {
    id: row.id,
    projectId: row.project_id,
    status: row.status,
    agent: row.agent,
    prompt: row.prompt,
    model: row.model,
    command: row.command,
    repo: row.repo_url === null ? null : rowRepo(row.id, row.repo_url, row.repo_branch, row.repo_push),
    timeoutSeconds: row.timeout_seconds,
    maxAttempts: row.max_attempts,
    attempt: row.attempt,
    leaseUntil: row.lease_until,
    cancelRequested: row.cancel_requested !== 0,
    result: row.result === null ? null : (JSON.parse(row.result) as JobResult),
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? "" },
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** A row's repository, its push settings filled in (the push branch defaults to agent/<job id>). */
function rowRepo(id: string, url: string, branch: string | null, push: string | null): JobRepo {
  const none: JobRepo = { url, branch, pushBranch: null, commitMessage: null, pullRequest: null, author: null };
  if (push === null) return none;
  const p = JSON.parse(push) as RepoPushSettings;
  return { ...none, ...p, pushBranch: p.pushBranch ?? defaultPushBranch(id) };
}

/** What the lease rules of decisions.ts need from a row. */
export function leaseState(row: JobRow): LeaseState {
  return {
    status: row.status,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    leaseUntil: row.lease_until,
    deadlineAt: row.deadline_at,
    timeoutSeconds: row.timeout_seconds,
    cancelRequested: row.cancel_requested !== 0,
  };
}

let counter = 0;

/**
 * A new job id: `job_` + 12 hex of the creation ms + 4 hex of a per-isolate counter +
 * 10 random hex. Ids sort by creation within an isolate even when the clock stands
 * still (workerd freezes Date.now() between I/O), which keeps (created_at, id) ordering
 * equal to creation order for jobs created in one place.
 */
export function newJobId(now: number): string {
  counter = (counter + 1) % 0x10000;
  const random = crypto.getRandomValues(new Uint8Array(5));
  const hex = [...random].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `job_${now.toString(16).padStart(12, "0")}${counter.toString(16).padStart(4, "0")}${hex}`;
}

/** Where a listing continues: after the row with this (created_at, id). */
export interface ListCursor {
  createdAt: string;
  id: string;
}

/** An opaque cursor for `after`. */
export function encodeCursor(after: ListCursor): string {
  return encodeOpaque([after.createdAt, after.id]);
}

/** The position a cursor names; a malformed one is a 400 INVALID_CURSOR. */
export function decodeCursor(cursor: string): ListCursor {
  const [createdAt = "", id = ""] = decodeOpaque(cursor, 2);
  return { createdAt, id };
}

/** 404 JOB_NOT_FOUND. */
export function jobNotFound(id: string): NotFoundError {
  return new NotFoundError(`Job ${id} not found`, "JOB_NOT_FOUND");
}

/** 409 for an action on a job that is no longer where the caller thinks (finished, requeued, …). */
export function notOwnedError(row: JobRow, attempt: number): ConflictError {
  if (isTerminal(row.status)) {
    return new ConflictError(`Job ${row.id} already ended (${row.status})`, "JOB_FINISHED");
  }
  return new ConflictError(
    `Job ${row.id} is no longer running attempt ${attempt} (it is ${row.status}, attempt ${row.attempt})`,
    "LEASE_LOST",
  );
}

/** Whether `err` is D1 refusing a row because of a UNIQUE constraint (the one-running-per-project index). */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Error && /UNIQUE constraint failed/i.test(err.message);
}

/** One job row by id, or null. */
export async function readJobRow(db: D1Database, id: string): Promise<JobRow | null> {
  return await db.prepare("SELECT * FROM jobs WHERE id = ?").bind(id).first<JobRow>();
}

/** One job row by id; 404 JOB_NOT_FOUND when there is none. */
export async function mustReadJobRow(db: D1Database, id: string): Promise<JobRow> {
  const row = await readJobRow(db, id);
  if (!row) throw jobNotFound(id);
  return row;
}

/** ISO 8601 of epoch ms. */
export function iso(now: number): string {
  return new Date(now).toISOString();
}
