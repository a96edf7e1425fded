/**
 * @module runner/heartbeat
 * A job's heartbeats for as long as run-job works on it: a self-scheduling loop, so
 * a slow heartbeat never overlaps the next. An answer with cancelRequested aborts
 * `signal` with "cancel"; an error saying the attempt is over (409, or the job's
 * token died with its lease: job-decisions.ts) aborts it with "lease-lost" and stops
 * the loop. Any other failure is logged and the next beat tries again: the lease is
 * several heartbeats long.
 */
import type { AbortReason } from "./agents/types.ts";
import { toRunnerError } from "./errors.ts";
import { heartbeatEndsAttempt } from "./job-decisions.ts";

/** What the heartbeat loop calls: one heartbeat of `attempt`. */
export interface HeartbeatClient {
  heartbeat(attempt: number): Promise<{ cancelRequested: boolean }>;
}

/** Heartbeats of one job attempt, from construction until stop(). */
export class Heartbeat {
  /** Aborts on a cancel request or a lost lease; its reason is an AbortReason. */
  readonly signal: AbortSignal;
  private readonly abort = new AbortController();
  private readonly client: HeartbeatClient;
  private readonly attempt: number;
  private readonly intervalMs: number;
  private readonly log: (message: string) => void;
  private cancelled: boolean;
  private lost = false;
  private beating = true;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> = Promise.resolve();

  /** Starts beating every `intervalMs`; `cancelRequested` is the job's flag when it was fetched. */
  constructor(opts: {
    client: HeartbeatClient;
    attempt: number;
    intervalMs: number;
    cancelRequested: boolean;
    log: (message: string) => void;
  }) {
    this.client = opts.client;
    this.attempt = opts.attempt;
    this.intervalMs = opts.intervalMs;
    this.cancelled = opts.cancelRequested;
    this.log = opts.log;
    this.signal = this.abort.signal;
    this.schedule();
  }

  /** A cancel was requested (when the job was fetched or since). */
  get cancelRequested(): boolean {
    return this.cancelled;
  }

  /** Another attempt owns the job, or it ended: stop without a result. */
  get leaseLost(): boolean {
    return this.lost;
  }

  /** Stops the loop; resolves once a heartbeat in flight has settled. */
  async stop(): Promise<void> {
    this.beating = false;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
  }

  private schedule(): void {
    this.timer = setTimeout(() => (this.inFlight = this.beat()), this.intervalMs);
  }

  private async beat(): Promise<void> {
    try {
      const a = await this.client.heartbeat(this.attempt);
      if (a.cancelRequested && !this.cancelled) {
        this.cancelled = true;
        this.log("cancel requested: stopping the agent");
        this.abort.abort("cancel" satisfies AbortReason);
      }
    } catch (err) {
      const e = toRunnerError(err);
      if (heartbeatEndsAttempt(err)) {
        this.lost = true;
        this.log(`lease lost (${e.message}): stopping without a result`);
        this.abort.abort("lease-lost" satisfies AbortReason);
        this.beating = false;
        return;
      }
      this.log(`heartbeat failed: ${e.code}: ${e.message}`);
    }
    if (this.beating) this.schedule();
  }
}
