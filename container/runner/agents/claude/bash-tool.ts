/**
 * @module runner/agents/claude/bash-tool
 * Anthropic's bash client tool (`bash`, bash_20250124), run by the runner. Each call
 * is its own `/bin/bash -c` in the workspace, as the leader of a new process group,
 * but the working directory carries over between calls (the script reports `pwd` on
 * fd 3), which is what the model expects of a "persistent session" for most work.
 * Shell variables do not carry over (the tool's description in the system prompt says so).
 *
 * A call ends when bash exits; processes it left in the background keep running
 * (a dev server the next call queries) until `restart`, the end of the job or an
 * abort, when every group this session started is killed — nothing may write to the
 * workspace while run-job snapshots it. Output (stdout and stderr interleaved) is
 * kept head + tail in memory; model API keys are not in the command's environment.
 */
import { spawn } from "node:child_process";
import { signalGroup } from "../process-group.ts";
import { ToolFailure } from "./editor.ts";
import { headTail } from "./truncate.ts";

/** Variables no tool command sees. */
const SECRET_VARS = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_AUTH_TOKEN", "SANDBOX_RUNNER_TOKEN"];
const KILL_GRACE_MS = 2000;
/** After bash exits, how long to wait for pipes a background process may still hold. */
const PIPE_GRACE_MS = 200;

// $1 = directory to start in, $2 = workspace (fallback), $3 = the command.
const SCRIPT = 'cd -- "$1" 2>/dev/null || cd -- "$2"; eval "$3"; __rc=$?; pwd >&3 2>/dev/null; exit $__rc';

/** Keeps the first and the last `limit` characters of a stream, and counts the rest. */
class Capture {
  private head = "";
  private tail = "";
  private total = 0;
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  push(chunk: string): void {
    this.total += chunk.length;
    if (this.head.length < this.limit) {
      const room = this.limit - this.head.length;
      this.head += chunk.slice(0, room);
      chunk = chunk.slice(room);
    }
    if (chunk) this.tail = (this.tail + chunk).slice(-this.limit);
  }
  text(max: number): string {
    const dropped = this.total - this.head.length - this.tail.length;
    const middle = dropped > 0 ? `\n[… ${dropped} characters truncated …]\n` : "";
    return headTail(this.head + middle + this.tail, max);
  }
}

/** What one bash call produced. */
export interface BashResult {
  output: string;
  exitCode: number | null;
  timedOut: boolean;
}

/** One job's bash "session": the working directory and the process groups it started. */
export class BashSession {
  private cwd: string;
  private readonly groups = new Set<number>();
  private readonly env: NodeJS.ProcessEnv;
  private readonly workspace: string;
  private readonly opts: { timeoutMs: number; outputChars: number; signal: AbortSignal };

  constructor(
    workspace: string,
    env: NodeJS.ProcessEnv,
    opts: { timeoutMs: number; outputChars: number; signal: AbortSignal },
  ) {
    this.workspace = workspace;
    this.opts = opts;
    this.cwd = workspace;
    this.env = { ...env };
    for (const k of SECRET_VARS) delete this.env[k];
  }

  /** Runs the tool input `{command}` or `{restart: true}`; ToolFailure for a bad input. */
  async call(input: Record<string, unknown>): Promise<{ text: string; isError: boolean }> {
    if (input.restart === true) {
      this.killAll("SIGKILL");
      this.cwd = this.workspace;
      return { text: "bash session restarted (background processes stopped, back in the workspace)", isError: false };
    }
    const command = input.command;
    if (typeof command !== "string" || !command.trim()) {
      throw new ToolFailure("Parameter `command` is required and must be a non-empty string (or pass restart: true)");
    }
    const r = await this.run(command);
    let text = r.output;
    if (r.timedOut) text += `\n[command timed out after ${Math.round(this.opts.timeoutMs / 1000)} s and was killed]`;
    else if (r.exitCode !== 0) text += `\n[exit code ${r.exitCode}]`;
    return { text: text || "(no output)", isError: r.timedOut };
  }

  private async run(command: string): Promise<BashResult> {
    const child = spawn("/bin/bash", ["-c", SCRIPT, "bash", this.cwd, this.workspace, command], {
      cwd: this.workspace,
      env: { ...this.env, PWD: this.cwd },
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    const pid = child.pid;
    if (pid) this.groups.add(pid);
    const capture = new Capture(this.opts.outputChars);
    let pwd = "";
    child.stdout?.setEncoding("utf8").on("data", (c: string) => capture.push(c));
    child.stderr?.setEncoding("utf8").on("data", (c: string) => capture.push(c));
    const fd3 = child.stdio[3];
    fd3?.on("data", (c: Buffer) => {
      pwd += c.toString("utf8");
    });
    const streams = [child.stdout, child.stderr, fd3].filter((s) => s !== null && s !== undefined);
    const closed = Promise.all(streams.map((s) => new Promise((r) => s.once("close", r))));
    let timedOut = false;
    let killTimer: NodeJS.Timeout | null = null;
    const stop = (): void => {
      if (!pid) return;
      signalGroup(pid, "SIGTERM");
      killTimer = setTimeout(() => signalGroup(pid, "SIGKILL"), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, this.opts.timeoutMs);
    if (this.opts.signal.aborted) stop();
    else this.opts.signal.addEventListener("abort", stop, { once: true });
    const exit = await new Promise<{ code: number | null; spawnError?: Error }>((resolve) => {
      child.once("error", (err) => resolve({ code: null, spawnError: err }));
      child.once("exit", (code, signal) => resolve({ code: code ?? (signal ? 128 : null) }));
    });
    clearTimeout(timer);
    this.opts.signal.removeEventListener("abort", stop);
    if (timedOut && pid) signalGroup(pid, "SIGKILL");
    if (killTimer) clearTimeout(killTimer);
    // A background process may hold the pipes open: give them a moment, then stop reading.
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((r) => (graceTimer = setTimeout(r, PIPE_GRACE_MS)))]);
    clearTimeout(graceTimer);
    for (const s of streams) s.destroy();
    if (exit.spawnError) throw new ToolFailure(`could not start /bin/bash: ${exit.spawnError.message}`);
    const dir = pwd.trim();
    if (dir) this.cwd = dir;
    return { output: capture.text(this.opts.outputChars), exitCode: exit.code, timedOut };
  }

  /** Signals every process group this session started (at the end of the job, or on restart). */
  killAll(signal: NodeJS.Signals = "SIGKILL"): void {
    for (const pid of this.groups) signalGroup(pid, signal);
    this.groups.clear();
  }
}
