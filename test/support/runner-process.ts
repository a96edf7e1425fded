/**
 * @module test/support/runner-process
 * Runs the runner as a real child process (the TypeScript sources under Node's
 * type stripping, or a given bundle) against a runner API URL, collecting stdout,
 * stderr, the exit code, the last-line RunnerResult and the child's peak RSS
 * (VmHWM polled from /proc while it runs).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunnerResult } from "../../src/shared/snapshot-format.ts";
import { stateDirOf } from "./runner-fixtures.ts";

/** The runner's entry point in the sources. */
export const RUNNER_MAIN = join(dirname(fileURLToPath(import.meta.url)), "../../container/runner/main.ts");

/** What a finished runner process left. */
export interface RunnerRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Parsed JSON of the last stdout line, if it is one. */
  result: RunnerResult | null;
  /** Peak resident set size in KiB (0 if /proc is unavailable). */
  peakRssKb: number;
}

async function vmHwmKb(pid: number): Promise<number> {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Env for a runner talking to `api` about `projectId` in `workspace`. */
export function runnerEnv(
  api: { url: string; token: string; projectId: string },
  workspace: string,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SANDBOX_RUNNER_API: api.url,
    SANDBOX_RUNNER_TOKEN: api.token,
    SANDBOX_PROJECT_ID: api.projectId,
    SANDBOX_WORKSPACE: workspace,
    SANDBOX_STATE_DIR: stateDirOf(workspace),
    SANDBOX_RUNNER_RETRY_BASE_MS: "20",
    ...extra,
  };
}

/** Starts the runner; `done` resolves when it exits. */
export function startRunner(
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { script?: string; onStdoutLine?: (line: string) => void } = {},
): { child: ChildProcess; done: Promise<RunnerRun> } {
  const child = spawn(process.execPath, [opts.script ?? RUNNER_MAIN, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let peak = 0;
  let partial = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString("utf8");
    partial += d.toString("utf8");
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) opts.onStdoutLine?.(l);
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
  });
  const poll = setInterval(() => {
    if (child.pid) void vmHwmKb(child.pid).then((kb) => (peak = Math.max(peak, kb)));
  }, 25);
  const done = new Promise<RunnerRun>((resolve) => {
    child.on("exit", (code, signal) => {
      clearInterval(poll);
      // Let the pipes drain.
      setTimeout(() => {
        const last = stdout.trimEnd().split("\n").pop() ?? "";
        let result: RunnerResult | null = null;
        try {
          result = JSON.parse(last) as RunnerResult;
        } catch {
          result = null;
        }
        resolve({ code, signal, stdout, stderr, result, peakRssKb: peak });
      }, 20);
    });
  });
  return { child, done };
}

/** Runs the runner to completion. */
export function runRunner(args: string[], env: NodeJS.ProcessEnv, script?: string): Promise<RunnerRun> {
  return startRunner(args, env, script ? { script } : {}).done;
}
