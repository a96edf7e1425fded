/**
 * @module runner/agents/process-group
 * What every agent that spawns a process group needs: signal the whole group,
 * wait for the leader's exit, and reap what it left behind — a background child
 * still writing would change the workspace during the snapshot that follows.
 */
import type { ChildProcess } from "node:child_process";

/** Signal the process group led by `pid` (children were spawned detached); a gone group is fine. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** How a child ended: its exit code or signal, or the error that kept it from starting. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  spawnError?: Error;
}

/** Resolves once `child` has exited or failed to spawn. */
export function childExit(child: ChildProcess): Promise<ChildExit> {
  return new Promise((resolve) => {
    child.once("error", (err) => resolve({ code: null, signal: null, spawnError: err }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

/** How long to wait for the output pipes after the leader exited. */
const PIPE_DRAIN_MS = 2000;

/**
 * After the leader exited: SIGKILL the rest of its group, then wait (briefly: a
 * process that left the group may hold the pipes forever) for `closed`, and release
 * the pipes.
 */
export async function reapGroup(
  child: ChildProcess,
  pid: number | undefined,
  closed: Promise<unknown>[],
): Promise<void> {
  if (pid) signalGroup(pid, "SIGKILL");
  await Promise.race([Promise.all(closed), new Promise((r) => setTimeout(r, PIPE_DRAIN_MS).unref())]);
  child.stdout?.destroy();
  child.stderr?.destroy();
}
