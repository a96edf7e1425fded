/**
 * @module bench/jobs-lease
 * The leasing half of bench/jobs.ts: queue jobs (one per project, so every job is
 * leasable at once), then call `/run-next` until each has been leased, timing each
 * call (bench/measure.ts' run: p50/p99, calls per second). Checks what it measured:
 * every queued job leased exactly once, on its first attempt, and no call answered
 * `data: null` while jobs were still queued.
 */
import { randomBytes } from "node:crypto";
import type { JobsApi } from "./jobs-api.ts";
import { type RunResult, run } from "./measure.ts";

/** One leasing run. */
export interface LeaseRun {
  label: string;
  queued: number;
  /** The queued jobs' ids. */
  ids: string[];
  concurrency: number;
  /** POST /jobs timings of the queueing (at `concurrency` clients as well). */
  queue: RunResult;
  /** POST /run-next timings: every call leased a job, or counted as an error. */
  lease: RunResult;
  /** Jobs leased more than once, not leased at all, or leased on a later attempt (all must be 0). */
  duplicates: number;
  missing: number;
  laterAttempt: number;
}

/**
 * Queues `count` `shell` jobs (`command: "true"`) in `count` distinct projects, then
 * leases them all through `/run-next` with `concurrency` clients; bounded by `deadline`.
 */
export async function leaseRun(
  api: JobsApi,
  label: string,
  count: number,
  concurrency: number,
  deadline: number,
): Promise<LeaseRun> {
  const prefix = `bench-lease-${randomBytes(3).toString("hex")}`;
  const queuedIds = new Set<string>();
  let n = 0;
  const queue = await run(
    async () => {
      const job = await api.create(`${prefix}-${n++}`, "true");
      queuedIds.add(job.id);
    },
    count,
    concurrency,
    deadline,
  );
  const seen = new Map<string, number>();
  let laterAttempt = 0;
  const lease = await run(
    async () => {
      const job = await api.runNext();
      if (!job) throw new Error("/run-next answered data: null while jobs were queued");
      seen.set(job.id, (seen.get(job.id) ?? 0) + 1);
      if (job.attempt !== 1) laterAttempt++;
    },
    queuedIds.size,
    concurrency,
    deadline,
  );
  let duplicates = 0;
  for (const times of seen.values()) if (times > 1) duplicates += times - 1;
  const missing = [...queuedIds].filter((id) => !seen.has(id)).length;
  return {
    label,
    queued: queuedIds.size,
    ids: [...queuedIds],
    concurrency,
    queue,
    lease,
    duplicates,
    missing,
    laterAttempt,
  };
}
