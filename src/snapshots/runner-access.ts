/**
 * @module snapshots/runner-access
 * Runs the runner for user-facing routes: mints a token scoped to the project for
 * as long as the command may take, and runs it with the configured maximum timeout.
 */
import type { AppDeps } from "../deps";
import { AppError } from "../errors";
import type { RunnerResult } from "../shared/snapshot-format";
import { runRunner } from "./run-runner";
import type { SnapshotService } from "./service";

/** Whether the runner can work for this deployment (storage bound and reachable from sandboxes). */
export function runnerAvailable(deps: AppDeps): boolean {
  return Boolean(deps.snapshots?.runnerApiUrl);
}

/** The snapshot service, or a 503 naming the missing bindings. */
export function requireSnapshots(deps: AppDeps): SnapshotService {
  if (!deps.snapshots) {
    throw new AppError(
      "Snapshots are not configured: bind an R2 bucket as SNAPSHOTS and a D1 database as DB",
      "SNAPSHOTS_UNAVAILABLE",
      503,
    );
  }
  return deps.snapshots;
}

/** The snapshot service and the runner API's URL, or a 503 RUNNER_API_UNREACHABLE when sandboxes cannot call back. */
export function requireRunnerApi(deps: AppDeps): { snapshots: SnapshotService; apiUrl: string } {
  const snapshots = requireSnapshots(deps);
  const apiUrl = snapshots.runnerApiUrl;
  if (!apiUrl) {
    throw new AppError(
      "Sandboxes cannot reach the runner API: set RUNNER_API_URL to this Worker's address (npm run dev does)",
      "RUNNER_API_UNREACHABLE",
      503,
    );
  }
  return { snapshots, apiUrl };
}

type Ok<C extends string> = Extract<RunnerResult, { ok: true; command: C }>;

/** Run `runner <command> <args>` in the project's sandbox with a fresh project-scoped token. */
export async function runForProject<C extends "snapshot" | "restore">(
  deps: AppDeps,
  projectId: string,
  command: C,
  args: string[] = [],
): Promise<Ok<C>> {
  const { snapshots, apiUrl } = requireRunnerApi(deps);
  const timeoutMs = deps.config.EXEC_MAX_TIMEOUT_MS;
  // Valid a minute past the longest the runner may run, and no longer.
  const token = await snapshots.mintRunnerToken(projectId, Math.ceil(timeoutMs / 1000) + 60);
  return runRunner(deps.backend, projectId, command, args, { apiUrl, token }, timeoutMs);
}
