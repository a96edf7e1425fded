/**
 * @module scripts/lib/proc
 * Child-process supervision for the dev script and the benchmark. Every child is
 * spawned as the leader of its own process group (`detached: true`) so that
 * stopping it also stops whatever it spawned (wrangler → workerd): we signal the
 * whole group with `kill(-pid)`. A terminal's Ctrl-C does not reach these groups,
 * which is deliberate: the supervisor decides the order and escalates to SIGKILL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { constants } from "node:os";
import { createInterface } from "node:readline";

/** How a supervised child's output is handled. */
export type OutputMode = "prefix" | "quiet";

/** Options for {@link Supervisor.start}. */
export interface StartOptions {
  /** Short label used as the output prefix and in messages. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** `prefix`: copy each output line to ours as `[name] line`. `quiet`: keep only a tail for errors. */
  output?: OutputMode;
}

/** A child started by a {@link Supervisor}. */
export interface ManagedChild {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or 128+signal) once the child has exited. */
  readonly exited: Promise<number>;
  /** The last lines of output (always kept, printed when something goes wrong). */
  tail(): string[];
}

const TAIL_LINES = 40;

/** Sends `signal` to the process group led by `pid`; true if the group still existed. */
export function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    // ESRCH: the whole group is gone already.
    return false;
  }
}

/**
 * Whether any process of the group led by `pid` is still alive. On Linux this reads
 * /proc and ignores zombies: an orphaned grandchild (workerd) may stay a zombie for
 * a while where PID 1 reaps slowly (containers), and that must not count as running.
 */
export function groupAlive(pid: number): boolean {
  if (!signalGroup(pid, 0)) return false;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return true; // No /proc (macOS): the signal-0 probe is all we have.
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the parenthesised command name: state, ppid, pgrp, …
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pid && state !== "Z") return true;
    } catch {
      // The process vanished while we looked.
    }
  }
  return false;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Starts children, watches them, and stops them all (in reverse start order) on
 * request or when one of them dies while it was expected to keep running.
 */
export class Supervisor {
  readonly children: ManagedChild[] = [];
  #stopping = false;
  #onUnexpectedExit: (child: ManagedChild, code: number) => void;

  /** `onUnexpectedExit` runs once when a child exits before {@link stopAll} was called. */
  constructor(onUnexpectedExit: (child: ManagedChild, code: number) => void) {
    this.#onUnexpectedExit = onUnexpectedExit;
  }

  /** Spawns a child in its own process group. Throws if it cannot be spawned at all. */
  start(opts: StartOptions): ManagedChild {
    const child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (child.pid === undefined) throw new Error(`could not start ${opts.name} (${opts.command})`);
    const lines: string[] = [];
    const mode = opts.output ?? "prefix";
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      const rl = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
      rl.on("line", (line) => {
        lines.push(line);
        if (lines.length > TAIL_LINES) lines.shift();
        if (mode === "prefix") process.stdout.write(`[${opts.name}] ${line}\n`);
      });
    }
    const exited = new Promise<number>((resolve) => {
      child.once("error", () => resolve(127));
      child.once("exit", (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
    const managed: ManagedChild = { name: opts.name, pid: child.pid, child, exited, tail: () => [...lines] };
    this.children.push(managed);
    void exited.then((code) => {
      if (!this.#stopping) this.#onUnexpectedExit(managed, code);
    });
    return managed;
  }

  /**
   * Stops every child's process group, newest first: SIGTERM, then SIGKILL for
   * groups still alive after `graceMs`. Waits until every group is gone (bounded).
   */
  async stopAll(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    for (const c of [...this.children].reverse()) {
      signalGroup(c.pid, "SIGTERM");
      const deadline = Date.now() + graceMs;
      while (groupAlive(c.pid) && Date.now() < deadline) await sleep(50);
      if (groupAlive(c.pid)) {
        process.stderr.write(`${c.name} did not stop within ${graceMs} ms after SIGTERM; sending SIGKILL\n`);
        signalGroup(c.pid, "SIGKILL");
        const hard = Date.now() + 2000;
        while (groupAlive(c.pid) && Date.now() < hard) await sleep(50);
      }
    }
  }
}

/** Runs a command to completion with a time limit; resolves with its exit code (null: timed out or failed to start). */
export async function runQuiet(command: string, args: string[], timeoutMs: number): Promise<number | null> {
  return await new Promise((resolve) => {
    let done = false;
    const finish = (code: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(code);
    };
    const child = spawn(command, args, { stdio: "ignore", detached: true });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
      finish(null);
    }, timeoutMs);
    child.once("error", () => finish(null));
    child.once("exit", (code) => finish(code));
  });
}
