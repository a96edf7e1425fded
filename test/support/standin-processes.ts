/**
 * @module test/support/standin-processes
 * Part of the STAND-IN container (see standin-container.ts): runs commands for
 * real, one bubblewrap sandbox per command with the container's workspace bound
 * at /workspace, and keeps the process table the SDK's /api/process/* endpoints
 * read. Output is decoded as UTF-8 per stream, as the real container does.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { StringDecoder } from "node:string_decoder";
import { bwrapArgv, detectIsolation, HOME_DIR, SANDBOX_PATH, WORKSPACE } from "../../container/sandboxd/bwrap.ts";
// bwrap reports its sandbox init's pid on fd 3; killing that PID 1 takes the whole sandbox along.
import { sandboxInitPid } from "../../container/sandboxd/spawn.ts";

/** Detected once: bwrap when it works here, else (loudly) unisolated. */
const isolation = detectIsolation("auto");
if (isolation.kind === "none") {
  console.warn(`[standin-container] WARNING: running commands UNISOLATED: ${isolation.reason}`);
}

/** Status names of the SDK's process table. */
export type StandInStatus = "running" | "completed" | "failed" | "killed";

/** One process of a stand-in container (exec, exec stream or background). */
export interface StandInProcess {
  id: string;
  pid: number | undefined;
  command: string;
  status: StandInStatus;
  exitCode: number | undefined;
  startTime: Date;
  endTime: Date | undefined;
  stdout: string;
  stderr: string;
  /** Called with each decoded output chunk. */
  outputListeners: Set<(stream: "stdout" | "stderr", data: string) => void>;
  /** Called once when the process ends. */
  exitListeners: Set<() => void>;
  child: ChildProcess;
  /** Host pid of the sandbox's PID-namespace init (bwrap's --json-status-fd), once known. */
  sandboxInit: Promise<number | undefined>;
  done: Promise<void>;
}

export interface SpawnSpec {
  /** Host directory standing in for the container's /workspace. */
  workspaceHostDir: string;
  /** Host directories standing in for the container's /var/lib/sandbox-worker and /root. */
  stateHostDir: string;
  homeHostDir: string;
  command: string;
  /** A /workspace path. */
  cwd: string;
  env: Record<string, string>;
  id: string;
}

/** Maps a /workspace path to the host directory (only for the unisolated fallback). */
function hostCwd(workspaceHostDir: string, cwd: string): string {
  return cwd === WORKSPACE || cwd.startsWith(`${WORKSPACE}/`)
    ? workspaceHostDir + cwd.slice(WORKSPACE.length)
    : workspaceHostDir;
}

/** Starts `spec.command` under bash inside bubblewrap and tracks it. */
export function spawnProcess(spec: SpawnSpec): StandInProcess {
  const isolated = isolation.kind === "bwrap";
  const env: Record<string, string> = {
    PATH: SANDBOX_PATH,
    HOME: isolated ? HOME_DIR : spec.homeHostDir,
    LANG: "C.UTF-8",
    ...(isolated ? {} : { SANDBOX_STATE_DIR: spec.stateHostDir }),
    ...spec.env,
  };
  const argv = ["/bin/bash", "-c", spec.command];
  const child =
    isolation.kind === "bwrap"
      ? spawn(
          isolation.bwrapPath,
          ["--json-status-fd", "3", ...bwrapArgv(isolation.systemArgs, { ...spec, env, argv })],
          { stdio: ["ignore", "pipe", "pipe", "pipe"], env: {} },
        )
      : spawn(argv[0] as string, argv.slice(1), {
          stdio: ["ignore", "pipe", "pipe"],
          env,
          cwd: hostCwd(spec.workspaceHostDir, spec.cwd),
        });
  let finish: () => void = () => {};
  const proc: StandInProcess = {
    id: spec.id,
    pid: child.pid,
    command: spec.command,
    status: "running",
    exitCode: undefined,
    startTime: new Date(),
    endTime: undefined,
    stdout: "",
    stderr: "",
    outputListeners: new Set(),
    exitListeners: new Set(),
    child,
    sandboxInit: sandboxInitPid(child),
    done: new Promise((resolve) => {
      finish = resolve;
    }),
  };
  const pipe = (name: "stdout" | "stderr") => {
    const decoder = new StringDecoder("utf8");
    const stream = child[name];
    stream?.on("data", (chunk: Buffer) => {
      const text = decoder.write(chunk);
      if (!text) return;
      proc[name] += text;
      for (const listener of proc.outputListeners) listener(name, text);
    });
    return new Promise<void>((resolve) => {
      if (!stream) return resolve();
      stream.on("close", () => {
        const rest = decoder.end();
        if (rest) {
          proc[name] += rest;
          for (const listener of proc.outputListeners) listener(name, rest);
        }
        resolve();
      });
    });
  };
  const outputs = Promise.all([pipe("stdout"), pipe("stderr")]);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("error", (err) => {
      proc.stderr += `${err.message}\n`;
      resolve({ code: 127, signal: null });
    });
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  void Promise.all([exited, outputs]).then(([{ code, signal }]) => {
    proc.exitCode = code ?? 128 + (signal === "SIGKILL" ? 9 : 15);
    if (proc.status === "running") proc.status = proc.exitCode === 0 ? "completed" : "failed";
    proc.endTime = new Date();
    for (const listener of proc.exitListeners) listener();
    finish();
  });
  return proc;
}

/** Kills a running process (bwrap takes its whole PID namespace with it); true if it was running. */
export function killProcess(proc: StandInProcess): boolean {
  if (proc.status !== "running") return false;
  proc.status = "killed";
  // Namespace init first (once bwrap has reported it), then bwrap itself.
  void proc.sandboxInit.then((pid) => {
    if (pid !== undefined && !isDone(proc)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    proc.child.kill("SIGKILL");
  });
  return true;
}

/** Whether a process has ended. */
export function isDone(proc: StandInProcess): boolean {
  return proc.endTime !== undefined;
}
