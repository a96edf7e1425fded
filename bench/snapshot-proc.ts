/**
 * @module bench/snapshot-proc
 * Runs one measured command of bench/snapshot.ts (the runner, restic, tar) as a
 * child process and reports its wall time and peak RSS. Peak RSS comes from
 * `/usr/bin/time -f %M` (the kernel's own max RSS of the child at exit) when
 * present, otherwise from polling /proc/<pid>/status VmHWM every 10 ms (a peak in
 * the last few ms can then be missed). Every run has a time limit; the child runs
 * in its own process group, killed whole on timeout or when the benchmark stops.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { signalGroup } from "../scripts/lib/proc.ts";

const GNU_TIME = "/usr/bin/time";

/** What one measured run produced. */
export interface Timed {
  ms: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident set size in bytes; null when it could not be measured. */
  peakRss: number | null;
}

/** Options of {@link timed}. */
export interface TimedOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  /** Where /usr/bin/time writes its number (a path in the benchmark's temp dir). */
  rssFile: string;
}

/** Process groups still running, so the benchmark can kill them when it stops early. */
export const running = new Set<number>();

function vmHwm(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Runs `command args` to completion (or the time limit) and measures it. */
export async function timed(command: string, args: string[], opts: TimedOptions): Promise<Timed> {
  const useTime = existsSync(GNU_TIME);
  const [cmd, argv] = useTime ? [GNU_TIME, ["-f", "%M", "-o", opts.rssFile, command, ...args]] : [command, args];
  await rm(opts.rssFile, { force: true });
  const started = performance.now();
  const child = spawn(cmd, argv, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${command}`);
  running.add(pid);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on("data", (b: Buffer) => out.push(b));
  child.stderr?.on("data", (b: Buffer) => err.push(b));
  let peak: number | null = null;
  const poll = useTime
    ? undefined
    : setInterval(() => {
        const v = vmHwm(pid);
        if (v !== null) peak = Math.max(peak ?? 0, v);
      }, 10);
  const timer = setTimeout(() => signalGroup(pid, "SIGKILL"), opts.timeoutMs);
  const exitCode = await new Promise<number | null>((resolve) => {
    child.once("error", () => resolve(null));
    child.once("close", (code) => resolve(code));
  });
  const ms = performance.now() - started;
  clearTimeout(timer);
  if (poll) clearInterval(poll);
  running.delete(pid);
  if (useTime) {
    // The last line: GNU time may write "Command exited with non-zero status N" first.
    const text = await readFile(opts.rssFile, "utf8").catch(() => "");
    const kib = Number(text.trim().split("\n").pop());
    peak = Number.isFinite(kib) && kib > 0 ? kib * 1024 : null;
  }
  return {
    ms,
    exitCode,
    stdout: Buffer.concat(out).toString("utf8"),
    stderr: Buffer.concat(err).toString("utf8"),
    peakRss: peak,
  };
}

/** Throws with the tail of the output unless the run exited 0. */
export function expectSuccess(r: Timed, what: string): Timed {
  if (r.exitCode !== 0) {
    const tail = `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-15).join("\n");
    throw new Error(`${what} failed (exit ${r.exitCode}, ${Math.round(r.ms)} ms):\n${tail}`);
  }
  return r;
}

/** Whether `command` can be run (`command --version`-style probe exits 0). */
export async function available(command: string, args: string[]): Promise<boolean> {
  return await new Promise((resolve) => {
    const c = spawn(command, args, { stdio: "ignore" });
    c.once("error", () => resolve(false));
    c.once("close", (code) => resolve(code === 0));
  });
}
