/**
 * @module sandboxes/ready
 * The one way into a sandbox. Every route that reaches a project's sandbox (exec,
 * stream, clone, files, ls, processes, snapshots, restore, jobs) calls
 * `ensureReady` first, as create does: a container's disk is new whenever it
 * slept or was replaced, so work done in it before the head is back would be
 * lost at the next restore, and a snapshot of it would replace the project's work.
 *
 * - The backend starts the sandbox and says whether the workspace was initialised
 *   since its container started (the runner's state.json, kept outside /workspace).
 * - A fresh workspace gets `runner restore --if-fresh`, which holds the workspace
 *   lock (container/runner/workspace-lock.ts): concurrent calls wait for the first,
 *   which restores the head (exactly once); the others find it done. A restore
 *   that fails answers 503 RESTORE_FAILED and nothing runs.
 * - The call that initialised the workspace, or the first after the sandbox's
 *   processes died while its disk stayed (a local jail restarted), (re)starts the
 *   sync watcher: one call each time, never two calls of the same ensure. The
 *   runner keeps it at one even so (a second watcher finds the first's lock and leaves).
 *
 * The fast path (initialised, nothing restarted) costs the one ensure call: one RPC to
 * the Sandbox Durable Object, which remembers a restored workspace while its container runs.
 * `GET /sandboxes/:id` and cleanup do not come here: they start nothing.
 */
import type { EnsuredSandbox } from "../backend/types";
import type { AppDeps } from "../deps";
import { AppError } from "../errors";
import { runForProject, runnerAvailable } from "../runner-driver/access";
import { ensureSync } from "../runner-driver/sync";
import { recordUse } from "./registry";

/** What the ensure step did. */
export interface ReadySandbox extends EnsuredSandbox {
  /** The snapshot this call restored, when it restored one. */
  restoredSnapshot: string | null;
  /** The sync watcher's process id when this call (re)started or found it; null when not asked or not configured. */
  syncProcessId: string | null;
}

/**
 * Starts the sandbox and restores its workspace if it is fresh. `alwaysSync`
 * (create) looks for the sync watcher and starts it if missing even on the fast path.
 */
export async function ensureReady(
  deps: AppDeps,
  projectId: string,
  opts: { alwaysSync?: boolean } = {},
): Promise<ReadySandbox> {
  const sandbox = await deps.backend.ensure(projectId);
  await recordUse(deps.sandboxes, projectId, !sandbox.initialized || opts.alwaysSync === true);
  const ready: ReadySandbox = { ...sandbox, restoredSnapshot: null, syncProcessId: null };
  // Without a runner API (a local sandboxd with no RUNNER_API_URL) there is nothing to restore from.
  if (!runnerAvailable(deps)) return ready;
  let initializedNow = false;
  if (!sandbox.initialized) {
    try {
      const restore = await runForProject(deps, projectId, "restore", ["--if-fresh"]);
      ready.restoredSnapshot = restore.restored ? restore.snapshotId : null;
      initializedNow = restore.initialized;
    } catch (err) {
      const cause = err instanceof AppError ? err : null;
      throw new AppError(
        `The workspace of ${projectId} could not be restored, so nothing was run in it: ${
          err instanceof Error ? err.message : String(err)
        }`,
        "RESTORE_FAILED",
        cause ? { cause: cause.code } : undefined,
        "transient",
      );
    }
    ready.initialized = true;
  }
  // After the restore, so the sync's first snapshot starts from the restored head. A call that
  // started the sandbox on a fresh disk leaves the sync to the call that restored it (maybe another).
  const restartedWithDisk = sandbox.started && sandbox.initialized;
  if (deps.config.SYNC_ON_CREATE && (initializedNow || restartedWithDisk || opts.alwaysSync)) {
    ready.syncProcessId = await ensureSync(deps, projectId);
  }
  return ready;
}
