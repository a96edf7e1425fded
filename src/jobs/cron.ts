/**
 * @module jobs/cron
 * What the cron trigger does (`scheduled()` in src/index.ts): sweep expired leases,
 * then lease and start jobs until MAX_CONCURRENT_JOBS are running or nothing is
 * runnable. `fillSlots` takes the starter as a parameter so tests can drive the
 * fill-up logic without a sandbox that can reach the Worker.
 */
import type { AppDeps } from "../deps";
import type { Job } from "../shared/job-format";
import { freeSlots } from "./decisions";
import type { JobQueue } from "./queue";
import { startJob } from "./start";

/** What one round did. */
export interface FillResult {
  /** Jobs leased and started this round. */
  started: Job[];
  /** Running jobs after the round. */
  running: number;
  /** Why the round stopped early (a start failed, or the runner API is unreachable), if it did. */
  stopped: string | null;
}

/**
 * Lease and start jobs until `max` run or none is runnable. Stops at the first failed
 * start (that job was put back by the starter): failures are usually the sandbox side
 * being down, and retrying in a loop would burn the job's attempts in one round.
 */
export async function fillSlots(
  queue: JobQueue,
  start: (job: Job) => Promise<unknown>,
  max: number,
  now = Date.now(),
): Promise<FillResult> {
  await queue.sweepExpired(now);
  let running = await queue.countRunning();
  const started: Job[] = [];
  while (freeSlots(running, max) > 0) {
    // Swept once above for the whole round, not again per lease.
    const job = await queue.leaseNext(now, { swept: true });
    if (!job) break;
    try {
      await start(job);
    } catch (err) {
      return { started, running, stopped: err instanceof Error ? err.message : String(err) };
    }
    started.push(job);
    running += 1;
  }
  return { started, running, stopped: null };
}

/** The cron's round for a deployment: skips (and says why) when jobs cannot run here. */
export async function runScheduledJobs(deps: AppDeps, now = Date.now()): Promise<FillResult> {
  if (!deps.jobs) return { started: [], running: 0, stopped: "no D1 database bound as DB" };
  if (!deps.snapshots?.runnerApiUrl) {
    const running = await deps.jobs.countRunning();
    return { started: [], running, stopped: "sandboxes cannot reach the runner API (RUNNER_API_URL)" };
  }
  return await fillSlots(deps.jobs, (job) => startJob(deps, job, now), deps.config.MAX_CONCURRENT_JOBS, now);
}
