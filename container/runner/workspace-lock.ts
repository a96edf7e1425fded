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
/** Held for its whole life by the one sync watcher of a sandbox (see {@link tryLockSyncWatcher}). */
export const SYNC_LOCK_FILE = "sync.lock";

type Release = () => Promise<void>;
const unlocked: Release = async () => {};
let warned = false;

/**
 * Takes the exclusive flock on `stateDir/file` through a flock(1) child: waits for it,
 * or with `wait: false` answers "busy" at once when another process holds it.
 */
async function holdFlock(
  stateDir: string,
  file: string,
  wait: boolean,
): Promise<{ state: "held"; release: Release } | { state: "busy" | "unavailable" }> {
  await mkdir(stateDir, { recursive: true });
  // -o: the lock is flock's own, not inherited by the shell, so it ends with flock.
  const args = [...(wait ? [] : ["-n"]), "-x", "-o", join(stateDir, file), "-c", "echo locked; read _"];
  const child = spawn("flock", args, { stdio: ["pipe", "pipe", "ignore"] });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const state = await new Promise<"held" | "busy" | "unavailable">((resolve) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8");
      if (out.includes("locked\n")) resolve("held");
    });
    // ENOENT: no flock(1). Exit 1 without "locked": -n found the lock taken.
    child.once("error", () => resolve("unavailable"));
    child.once("close", (code) => resolve(code === 1 && !wait ? "busy" : "unavailable"));
  });
  if (state !== "held") return { state };
  return {
    state,
    release: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/** Waits for the workspace lock of `stateDir`; resolves with its release. */
export async function lockWorkspace(stateDir: string, log: (m: string) => void = () => {}): Promise<Release> {
  const lock = await holdFlock(stateDir, WORKSPACE_LOCK_FILE, true);
  if (lock.state === "held") return lock.release;
  if (!warned) log("flock(1) is not available: restores and snapshots run without the workspace lock");
  warned = true;
  return unlocked;
}

/**
 * The sync watcher's claim to be the only one in its sandbox: null when another
 * watcher holds it (two calls into a fresh sandbox may each start one), else the
 * release, which the watcher keeps until it exits (or it dies and the lock with it).
 */
export async function tryLockSyncWatcher(stateDir: string): Promise<Release | null> {
  const lock = await holdFlock(stateDir, SYNC_LOCK_FILE, false);
  if (lock.state === "busy") return null;
  return lock.state === "held" ? lock.release : unlocked;
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
