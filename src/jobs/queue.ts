/**
 * @module jobs/queue
 * The job queue over D1: one object the routes, start.ts and the cron use, binding the
 * database to the modules that do the work — create.ts (idempotent creation), list.ts,
 * leases.ts (leasing, heartbeats, the sweep), ending.ts (cancel, the runner's result and
 * events). Every method takes `now` (epoch ms, default Date.now()) so tests control time.
 */
import { UnauthorizedError } from "../errors";
import type { Job, JobEvent, JobResult, NewJobEvent } from "../shared/job-format";
import { createJob, type NewJob } from "./create";
import { jobTokenRefusal } from "./decisions";
import { appendRunnerEvents, cancelJob, finishJob } from "./ending";
import { readEvents } from "./events";
import { countRunning, heartbeat, leaseJob, leaseNext, releaseAfterStartFailure, sweepExpired } from "./leases";
import { type ListJobsQuery, listJobs } from "./list";
import { leaseState, mustReadJobRow, readJobRow, rowToJob } from "./records";

export type { ListJobsQuery, NewJob };

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

/** The queue over `db` (the D1 binding with migrations/0002_jobs.sql applied). */
export function createJobQueue(db: D1Database): JobQueue {
  return {
    create: (input, idempotencyKey, now = Date.now()) => createJob(db, input, idempotencyKey, now),
    get: async (id) => rowToJob(await mustReadJobRow(db, id)),
    async authorizeToken(id, attempt, now = Date.now()) {
      const row = await readJobRow(db, id);
      const refusal = row ? jobTokenRefusal(leaseState(row), attempt, now) : "does not exist";
      if (!row || refusal !== null) throw new UnauthorizedError(`Job token is no longer valid: job ${id} ${refusal}`);
      return rowToJob(row);
    },
    list: (query) => listJobs(db, query),
    cancel: (id, now = Date.now()) => cancelJob(db, id, now),
    leaseNext: (now = Date.now(), opts = {}) => leaseNext(db, now, opts),
    leaseJob: (id, now = Date.now()) => leaseJob(db, id, now),
    heartbeat: (id, attempt, now = Date.now()) => heartbeat(db, id, attempt, now),
    finish: (id, attempt, result, now = Date.now()) => finishJob(db, id, attempt, result, now),
    releaseAfterStartFailure: (id, attempt, code, reason, now = Date.now()) =>
      releaseAfterStartFailure(db, id, attempt, code, reason, now),
    sweepExpired: (now = Date.now()) => sweepExpired(db, now),
    countRunning: () => countRunning(db),
    appendEvents: (id, attempt, events, now = Date.now()) => appendRunnerEvents(db, id, attempt, events, now),
    readEvents: (id, after, limit) => readEvents(db, id, after, limit),
  };
}
