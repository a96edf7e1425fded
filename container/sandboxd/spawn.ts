/**
 * @module sandboxd/spawn
 * Starts a program in a jail (bubblewrap, or unisolated with the cwd mapped to the
 * workspace directory) and kills whole process trees. Every child is registered with
 * its jail so destroy and shutdown reach it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { bwrapArgv, HOME_DIR, type Isolation, SANDBOX_PATH, WORKSPACE } from "./bwrap.ts";
import type { JailCgroup } from "./limits.ts";

/** bash when the host has it (as in the container image), else POSIX sh. */
export const SHELL = existsSync("/usr/bin/bash") || existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh";

/** The part of a workspace that spawning needs. */
export interface SpawnTarget {
  hostDir: string;
  /** The runner's state directory on the host (bound at STATE_DIR). */
  stateDir: string;
  /** The sandbox's HOME on the host (bound at HOME_DIR). */
  homeDir: string;
  children: Set<ChildProcess>;
  /** The jail's cgroup (limits.ts): what is launched starts in it. */
  cgroup?: JailCgroup | null;
}

/** util-linux's setpriv: how a root shell that joined a cgroup becomes the jail user. */
const SETPRIV = existsSync("/usr/bin/setpriv") ? "/usr/bin/setpriv" : "setpriv";

/** A program to run: argv without a shell, cwd as a confined /workspace path. */
export interface LaunchSpec {
  argv: string[];
  cwd: string;
  /** The confined real host directory of `cwd`, used when running unisolated. */
  hostCwd?: string;
  env?: Record<string, string>;
}

/** Starts `spec` in `target`'s sandbox; stdout and stderr are pipes, stdin is closed. */
export function launch(iso: Isolation, target: SpawnTarget, spec: LaunchSpec): ChildProcess {
  const rel = spec.cwd === WORKSPACE ? "" : spec.cwd.slice(WORKSPACE.length);
  const home = iso.kind === "bwrap" ? HOME_DIR : target.homeDir;
  // The caller's env goes on top of sane defaults; sandboxd's own environment
  // (its token among it) never reaches a command.
  const env: Record<string, string> = { PATH: SANDBOX_PATH, HOME: home, LANG: "C.UTF-8", ...spec.env };
  if (iso.kind === "none") {
    // Unisolated, /workspace and /opt/sandbox-worker do not exist: tell the runner where they are.
    env.SANDBOX_WORKSPACE = target.hostDir;
    env.SANDBOX_STATE_DIR = target.stateDir;
    env.SANDBOX_RUNNER = join(iso.runnerHostDir, "runner.mjs");
    env.SANDBOX_NODE = "node";
  }
  let child: ChildProcess;
  const options = { detached: true, stdio: ["ignore", "pipe", "pipe"] as ["ignore", "pipe", "pipe"] };
  if (iso.kind === "bwrap") {
    const args = bwrapArgv(iso, {
      workspaceHostDir: target.hostDir,
      stateHostDir: target.stateDir,
      homeHostDir: target.homeDir,
      cwd: spec.cwd,
      env,
      argv: spec.argv,
    });
    // fd 3: bwrap reports the host pid of the sandbox's init there (see killTree).
    const bwrap = [iso.bwrapPath, "--json-status-fd", "3", ...args];
    // In a cgroup, a root shell joins it first (only root may move a process), then becomes the jail user.
    const user = iso.jailUser;
    const asUser = user ? [SETPRIV, `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--"] : [];
    const [program = iso.bwrapPath, ...rest] = target.cgroup ? target.cgroup.wrap([...asUser, ...bwrap]) : bwrap;
    child = spawn(program, rest, {
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      cwd: "/",
      env: {},
      ...(target.cgroup ? {} : (user ?? {})),
    });
    sandboxInits.set(child, readInitPid(child));
  } else {
    const [program = SHELL, ...args] = target.cgroup ? target.cgroup.wrap(spec.argv) : spec.argv;
    child = spawn(program, args, { ...options, cwd: spec.hostCwd ?? target.hostDir + rel, env });
  }
  target.children.add(child);
  child.once("close", () => target.children.delete(child));
  // A spawn failure (ENOENT, EACCES) arrives as "error"; callers listen too, this keeps it from being unhandled.
  child.once("error", () => target.children.delete(child));
  return child;
}

/** Whether the child has not exited yet. */
export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}

/** The host pid of each bwrap child's sandbox init (PID 1 of its namespace), once bwrap reports it. */
const sandboxInits = new WeakMap<ChildProcess, Promise<number | undefined>>();

/** The host pid of a launched child's sandbox init (undefined unisolated, or if bwrap never reports it). */
export function sandboxInitPid(child: ChildProcess): Promise<number | undefined> {
  return sandboxInits.get(child) ?? Promise.resolve(undefined);
}

/** Reads bwrap's `--json-status-fd` report: `{"child-pid": N}`. Undefined if it never comes. */
function readInitPid(child: ChildProcess): Promise<number | undefined> {
  const status = child.stdio[3] as NodeJS.ReadableStream | null | undefined;
  if (!status) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let text = "";
    status.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const m = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    status.on("close", () => resolve(undefined));
    status.on("error", () => resolve(undefined));
  });
}

/**
 * SIGKILLs the child's whole process group (it was started detached, so it leads
 * one). Under bwrap that kills bwrap, and its --die-with-parent init takes the
 * sandbox's PID namespace, so backgrounded and re-sessioned descendants die too.
 * bwrap arms --die-with-parent only after it starts, so a process killed right
 * after its start could outlive it (seen under load): the sandbox's init, which
 * bwrap reports on fd 3, is killed directly as well — PID 1 of a namespace takes
 * every process in it along.
 */
export function killTree(child: ChildProcess): boolean {
  if (!isRunning(child) || child.pid === undefined) return false;
  void sandboxInits.get(child)?.then((pid) => {
    if (pid === undefined) return;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone with bwrap.
    }
  });
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // The group may already be gone; fall through to the direct kill.
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited.
  }
  return true;
}

/** The shell-style exit code of a finished child: its code, or 128 + the signal number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  if (signal) return 128 + (constants.signals[signal] ?? 0);
  return -1;
}
