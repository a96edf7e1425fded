/**
 * @module runner/workspace-lock
 * One exclusive lock per workspace, held by every restore and every snapshot, so a
 * snapshot never scans a half-restored tree (the sync watcher snapshotting while a
 * job or `POST …/restore` writes the workspace would otherwise commit a mix of old
 * and new files as the head) and two restores never interleave.
 *
 * Node has no flock(2), so the lock is held by a child: `flock FILE -c 'echo
 * locked; read _'` takes the lock, says so, and keeps it until its stdin closes —
 * when we release it, or when this process dies (the pipe closes with it), so a
 * killed runner never leaves a stale lock behind, unlike a lock file. flock(1) is
 * util-linux's (in every Debian/Ubuntu base, the container image included); where
 * it is missing, the runner works unlocked and says so once.
 */
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

/** The lock's file in the runner's state directory. */
export const WORKSPACE_LOCK_FILE = "workspace.lock";

let warned = false;

/** Waits for the workspace lock of `stateDir`; resolves with its release. */
export async function lockWorkspace(
  stateDir: string,
  log: (m: string) => void = () => {},
): Promise<() => Promise<void>> {
  await mkdir(stateDir, { recursive: true });
  // -o: the lock is flock's own, not inherited by the shell, so it ends with flock.
  const child = spawn("flock", ["-x", "-o", join(stateDir, WORKSPACE_LOCK_FILE), "-c", "echo locked; read _"], {
    stdio: ["pipe", "pipe", "ignore"],
  });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const held = await new Promise<boolean>((resolve) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8");
      if (out.includes("locked\n")) resolve(true);
    });
    child.once("error", () => resolve(false));
    child.once("close", () => resolve(false));
  });
  if (!held) {
    if (!warned) log("flock(1) is not available: restores and snapshots run without the workspace lock");
    warned = true;
    return async () => {};
  }
  return async () => {
    child.stdin.end();
    await exited;
  };
}

/** Runs `fn` holding the workspace lock of `stateDir`. */
export async function withWorkspaceLock<T>(
  stateDir: string,
  fn: () => Promise<T>,
  log?: (m: string) => void,
): Promise<T> {
  const release = await lockWorkspace(stateDir, log);
  try {
    return await fn();
  } finally {
    await release();
  }
}
