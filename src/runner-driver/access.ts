/**
 * @module runner-driver/access
 * What driving the runner needs, and running it for user-facing routes: mints a
 * token scoped to the project for as long as the command may take, and runs it with
 * the configured maximum timeout. `RunnerDeps` is the narrow slice of AppDeps this
 * folder reads (AppDeps satisfies it): the backend, the snapshot service, a few limits.
 */
import type { SandboxBackend } from "../backend/types";
import type { Config } from "../config";
import { AppError } from "../errors";
import type { RunnerResult } from "../shared/snapshot-format";
import type { SnapshotService } from "../snapshots/service";
import { runRunner } from "./run";

/** What the runner driver reads: the backend, the snapshot service (runner API, tokens) and its limits. */
export interface RunnerDeps {
  backend: SandboxBackend;
  /** Absent when no storage is bound: then nothing that needs the runner API can run. */
  snapshots?: SnapshotService | undefined;
  config: Pick<
    Config,
    | "EXEC_MAX_TIMEOUT_MS"
    | "SYNC_INTERVAL_MS"
    | "SYNC_BATCH_FILES"
    | "AGENT_MAX_TURNS"
    | "AGENT_MAX_TOKENS"
    | "AGENT_MAX_COST_USD"
  >;
}

/** Whether the runner can work for this deployment (storage bound and reachable from sandboxes). */
export function runnerAvailable(deps: Pick<RunnerDeps, "snapshots">): boolean {
  return Boolean(deps.snapshots?.runnerApiUrl);
}

/** The snapshot service, or a 503 naming the missing bindings. */
export function requireSnapshots(deps: Pick<RunnerDeps, "snapshots">): SnapshotService {
  if (!deps.snapshots) {
    throw new AppError(
      "Snapshots are not configured: bind an R2 bucket as SNAPSHOTS and a D1 database as DB",
      "SNAPSHOTS_UNAVAILABLE",
    );
  }
  return deps.snapshots;
}

/** The snapshot service and the runner API's URL, or a 503 RUNNER_API_UNREACHABLE when sandboxes cannot call back. */
export function requireRunnerApi(deps: Pick<RunnerDeps, "snapshots">): { snapshots: SnapshotService; apiUrl: string } {
  const snapshots = requireSnapshots(deps);
  const apiUrl = snapshots.runnerApiUrl;
  if (!apiUrl) {
    throw new AppError(
      "Sandboxes cannot reach the runner API: set RUNNER_API_URL to this Worker's address (npm run dev does)",
      "RUNNER_API_UNREACHABLE",
    );
  }
  return { snapshots, apiUrl };
}

type Ok<C extends string> = Extract<RunnerResult, { ok: true; command: C }>;

/** Run `runner <command> <args>` in the project's sandbox with a fresh project-scoped token. */
export async function runForProject<C extends "snapshot" | "restore">(
  deps: RunnerDeps,
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

/**
 * Snapshots the workspace before its container goes away (a destroy, an idle stop): the new
 * snapshot's id, or null for a fresh workspace (never restored since its container started),
 * which holds nothing of the project's: the runner refuses to snapshot it over the head
 * (WORKSPACE_NOT_RESTORED), and there is nothing to save.
 */
export async function snapshotBeforeStop(deps: RunnerDeps, projectId: string): Promise<string | null> {
  try {
    return (await runForProject(deps, projectId, "snapshot")).snapshotId;
  } catch (err) {
    if (err instanceof AppError && err.code === "WORKSPACE_NOT_RESTORED") return null;
    throw err;
  }
}
