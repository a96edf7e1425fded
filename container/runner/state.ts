/**
 * @module runner/state
 * The runner's per-workspace state file `<workspace>/.sandbox-worker/state.json`:
 * `{ head, updatedAt }`, written after every successful snapshot or restore. Its
 * absence marks a fresh workspace (`restore --if-fresh` restores only then).
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { STATE_DIR } from "./ignore.ts";

/** What state.json holds. */
export interface RunnerState {
  head: string | null;
  updatedAt: string;
}

/** Paths of the runner's files inside a workspace. */
export function statePaths(workspace: string): { dir: string; state: string; hashCache: string; tmp: string } {
  const dir = join(workspace, STATE_DIR);
  return {
    dir,
    state: join(dir, "state.json"),
    hashCache: join(dir, "hash-cache.json"),
    tmp: join(dir, "tmp"),
  };
}

/** Reads state.json; null when absent (a fresh workspace). */
export async function readState(workspace: string): Promise<RunnerState | null> {
  try {
    return JSON.parse(await readFile(statePaths(workspace).state, "utf8")) as RunnerState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    // A damaged file still proves the workspace was initialised once.
    return { head: null, updatedAt: "" };
  }
}

/** Writes state.json atomically. */
export async function writeState(workspace: string, head: string | null): Promise<void> {
  const { dir, state } = statePaths(workspace);
  await mkdir(dir, { recursive: true });
  const tmp = `${state}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ head, updatedAt: new Date().toISOString() } satisfies RunnerState));
  await rename(tmp, state);
}
