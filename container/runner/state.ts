/**
 * @module runner/state
 * The runner's own files, kept OUTSIDE the user's tree so they never show in `ls`,
 * snapshots or diffs: `<stateDir>/state.json` (`{ head, updatedAt }`, written after
 * every successful snapshot or restore), the hash cache, the pack spool and the
 * workspace lock (workspace-lock.ts). `stateDir` is SANDBOX_STATE_DIR (default
 * /var/lib/sandbox-worker): on the container's own disk, or a per-project directory
 * sandboxd binds there, so it dies with the workspace it describes.
 *
 * state.json's absence marks a **fresh** workspace: one never restored since its
 * container started. `restore --if-fresh` restores only then, and a snapshot of a
 * fresh workspace is refused while the project has a head (it would replace the
 * project's work with an empty tree).
 *
 * Restore and clone still need a scratch directory on the workspace's own
 * filesystem (files are renamed into place): `workspaceScratch`, removed after use.
 */
import { mkdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The scratch directory's parent under the workspace (always ignored by snapshots). */
export const SCRATCH_DIR = ".sandbox-worker";

/** What state.json holds. */
export interface RunnerState {
  head: string | null;
  updatedAt: string;
}

/** Paths of the runner's files in its state directory. */
export function statePaths(stateDir: string): { dir: string; state: string; hashCache: string; spool: string } {
  return {
    dir: stateDir,
    state: join(stateDir, "state.json"),
    hashCache: join(stateDir, "hash-cache.json"),
    spool: join(stateDir, "spool"),
  };
}

/** A scratch directory on the workspace's filesystem, for files renamed into place. */
export function workspaceScratch(workspace: string): string {
  return join(workspace, SCRATCH_DIR, "tmp");
}

/** Removes the scratch directory, and its parent when nothing else is in it. */
export async function removeScratch(workspace: string): Promise<void> {
  await rm(workspaceScratch(workspace), { recursive: true, force: true });
  await rmdir(join(workspace, SCRATCH_DIR)).catch(() => {});
}

/** Reads state.json; null when absent (a fresh workspace). */
export async function readState(stateDir: string): Promise<RunnerState | null> {
  try {
    return JSON.parse(await readFile(statePaths(stateDir).state, "utf8")) as RunnerState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    // A damaged file still proves the workspace was initialised once.
    return { head: null, updatedAt: "" };
  }
}

/** Writes state.json atomically. */
export async function writeState(stateDir: string, head: string | null): Promise<void> {
  const { dir, state } = statePaths(stateDir);
  await mkdir(dir, { recursive: true });
  const tmp = `${state}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ head, updatedAt: new Date().toISOString() } satisfies RunnerState));
  await rename(tmp, state);
}
