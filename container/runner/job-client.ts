/**
 * @module runner/job-client
 * The job routes of the runner API (shared/job-format.ts) — GET the job, POST a
 * heartbeat, POST events, POST the result — over api-client.ts (same token,
 * envelope and retry policy as the snapshot routes), and `EventBatcher`, which
 * buffers job events and posts them in order, in batches: every `flushMs`, when
 * `maxBatch` are waiting, and everything left on `close()`. One post is in flight
 * at a time so the Worker numbers events in the order they were emitted.
 */
import {
  type GitAccess,
  type Job,
  type JobResult,
  type NewJobEvent,
  type PullRequestRef,
  type PullRequestRequest,
  RUNNER_JOBS_PREFIX,
} from "../../src/shared/job-format.ts";
import { ApiClient, type RetryInfo, type RetryOptions } from "./api-client.ts";
import { toRunnerError } from "./errors.ts";
import { type GitRemote, headerEnv } from "./job-workspace.ts";

/** The heartbeat's answer. */
export interface HeartbeatAnswer {
  leaseUntil: number | null;
  cancelRequested: boolean;
}

/** Most events one POST /events may carry (job-format.ts). */
export const MAX_EVENTS_PER_POST = 500;

/** Client of `/runner/v1/jobs/:jobId`. */
export class JobClient {
  private readonly api: ApiClient;
  /** Calls that must not be repeated blindly (the Worker retries GitHub itself). */
  private readonly once: ApiClient;
  private readonly baseUrl: string;
  private readonly token: string;

  constructor(
    options: RetryOptions & { apiUrl: string; token: string; jobId: string; onRetry?: (info: RetryInfo) => void },
  ) {
    const { apiUrl, jobId, ...rest } = options;
    const baseUrl = `${apiUrl.replace(/\/+$/, "")}${RUNNER_JOBS_PREFIX}/${encodeURIComponent(jobId)}`;
    this.api = new ApiClient({ ...rest, baseUrl });
    this.once = new ApiClient({ ...rest, baseUrl, attempts: 1 });
    this.baseUrl = baseUrl;
    this.token = options.token;
  }

  /** The job as the Worker holds it. */
  getJob(): Promise<Job> {
    return this.api.json<Job>("GET", "", [200]);
  }

  /**
   * Extends the lease. `attempt` lets the Worker check this runner still owns the
   * job; a 409 LEASE_LOST comes back as a RunnerError with that code, the Worker's 401
   * once the job's token died with its lease as one with details.status 401.
   */
  async heartbeat(attempt: number): Promise<HeartbeatAnswer> {
    const a = await this.api.json<Partial<HeartbeatAnswer>>("POST", "/heartbeat", [200], { attempt });
    return { leaseUntil: a.leaseUntil ?? null, cancelRequested: a.cancelRequested === true };
  }

  /** Appends events (at most MAX_EVENTS_PER_POST). */
  async postEvents(events: NewJobEvent[]): Promise<{ lastSeq: number }> {
    return this.api.json<{ lastSeq: number }>("POST", "/events", [200, 201], { events });
  }

  /**
   * How git reaches the job's repository (`repoUrl`), asked for right before a clone or a
   * push, never while the agent runs: through the Worker with this job's token (the
   * Worker adds the host's credentials on egress), with a credential the Worker handed
   * out, or as it is.
   */
  async gitRemote(repoUrl: string): Promise<GitRemote> {
    const a = await this.once.json<Partial<GitAccess>>("POST", "/git-access", [200], {});
    if (a.egressPath) {
      return { url: `${this.baseUrl}${a.egressPath}`, env: headerEnv(`Authorization: Bearer ${this.token}`) };
    }
    if (a.credential) {
      const basic = Buffer.from(`${a.credential.username}:${a.credential.password}`).toString("base64");
      return { url: repoUrl, env: headerEnv(`Authorization: Basic ${basic}`) };
    }
    return { url: repoUrl, env: {} };
  }

  /** Asks the Worker to open the pull request (or answer the open one for the same head). */
  openPullRequest(req: PullRequestRequest): Promise<PullRequestRef> {
    return this.once.json<PullRequestRef>("POST", "/pull-request", [200, 201], req);
  }

  /** Reports the terminal result (401 once the job ended or the lease is gone; 409 if a race ended it first). */
  postResult(result: JobResult): Promise<Job> {
    return this.api.json<Job>("POST", "/result", [200, 201], result);
  }
}

/** Settings of an EventBatcher. */
export interface EventBatcherOptions {
  post: (events: NewJobEvent[]) => Promise<unknown>;
  /** Flush period (default 500 ms). */
  flushMs?: number;
  /** Flush as soon as this many are waiting (default 100). */
  maxBatch?: number;
  log?: (message: string) => void;
}

/** Buffers events and posts them in order, in batches. */
export class EventBatcher {
  private buffer: NewJobEvent[] = [];
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly opts: EventBatcherOptions;
  /** Events given up on (the API refused them for good); counted for logs and tests. */
  dropped = 0;

  constructor(opts: EventBatcherOptions) {
    this.opts = opts;
    this.flushMs = opts.flushMs ?? 500;
    this.maxBatch = Math.min(opts.maxBatch ?? 100, MAX_EVENTS_PER_POST);
  }

  /** Queues one event; never throws, never blocks the caller. */
  push(event: NewJobEvent): void {
    if (this.closed) {
      this.opts.log?.(`event after close dropped: ${event.type}`);
      this.dropped++;
      return;
    }
    this.buffer.push(event);
    if (this.buffer.length >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /** Posts everything buffered so far; resolves when it has been sent (or given up). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.chain = this.chain.then(() => this.drain());
    return this.chain;
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.maxBatch);
      try {
        await this.opts.post(batch);
        this.buffer.splice(0, batch.length);
      } catch (err) {
        const e = toRunnerError(err);
        if (e.transient && !this.closed) {
          // The client already retried; keep the events for the next flush.
          this.opts.log?.(`posting ${batch.length} events failed, keeping them: ${e.message}`);
          this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
          return;
        }
        this.opts.log?.(`dropping ${batch.length} events: ${e.code}: ${e.message}`);
        this.dropped += batch.length;
        this.buffer.splice(0, batch.length);
      }
    }
  }

  /** Stops the timer and posts the final batch; later pushes are dropped. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    // A transient failure in the flush above left events behind: one last try, then drop.
    await this.flush();
  }
}
