/**
 * @module runner/git-exec
 * Runs git as a child process and collects what it printed: the one spawn both the
 * job's clone (job-workspace.ts) and its commit and push (git-push.ts) use. No
 * terminal is attached, so git never waits for a password.
 */
import { spawn } from "node:child_process";

export interface GitRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `git <args>` in `cwd` with exactly `env` (and `input` on stdin); resolves when it exits, whatever its status. */
export function spawnGit(
  args: string[],
  opts: { cwd: string | undefined; env: NodeJS.ProcessEnv; signal?: AbortSignal | undefined; input?: string },
): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
