/**
 * @module sandboxes/idle
 * The idle TTL (a create's `idleTtl`): each cron round snapshots and stops the sandboxes
 * nobody has used for that long, so an unused sandbox stops costing a container even with
 * keepAlive, and loses nothing: the stop waits for the snapshot, a failed snapshot leaves
 * the sandbox running (the next round tries again), and the next use restores the head.
 *
 * "Use" is what the registry records: any API route that reaches the sandbox (the ensure
 * step), written at most once a minute. A sandbox running a job is never idle. Preview
 * traffic and the sandbox's own processes are not use (keepAlive covers those, sleepAfter
 * still applies to the container).
 */
import type { AppDeps } from "../deps";
import { runnerAvailable, snapshotBeforeStop } from "../runner-driver/access";
import { currentStatus } from "./status";

/** Sandboxes one round stops at most: each costs a snapshot, and a round should end well within a minute. */
export const IDLE_STOPS_PER_ROUND = 5;

export interface IdleRound {
  /** Stopped this round, each with the snapshot taken first (null: its workspace was fresh). */
  stopped: Array<{ projectId: string; snapshotId: string | null }>;
  /** Left running because something failed; tried again next round. */
  failed: Array<{ projectId: string; error: string }>;
  /** Why the round did nothing, when it could not run at all. */
  skipped: string | null;
}

/** Snapshots and stops each sandbox whose idle TTL ran out by `now`. */
export async function stopIdleSandboxes(deps: AppDeps, now = Date.now()): Promise<IdleRound> {
  const round: IdleRound = { stopped: [], failed: [], skipped: null };
  if (!deps.sandboxes) return { ...round, skipped: "no D1 database bound as DB" };
  // Without the runner API nothing could be snapshotted first: stopping would lose the work.
  if (!runnerAvailable(deps)) return { ...round, skipped: "sandboxes cannot reach the runner API (RUNNER_API_URL)" };
  for (const projectId of await deps.sandboxes.idleCandidates(now, IDLE_STOPS_PER_ROUND)) {
    try {
      let snapshotId: string | null = null;
      // Asleep already: nothing to save, nothing to stop.
      if ((await currentStatus(deps, projectId))?.status === "ready") {
        snapshotId = await snapshotBeforeStop(deps, projectId);
        await deps.backend.stop(projectId);
      }
      await deps.sandboxes.noteIdleStopped(projectId, now);
      round.stopped.push({ projectId, snapshotId });
    } catch (err) {
      round.failed.push({ projectId, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return round;
}
