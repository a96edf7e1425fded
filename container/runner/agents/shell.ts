/**
 * @module runner/agents/shell
 * The `shell` agent: runs `job.command` (falling back to `job.prompt`) with
 * `/bin/bash -c` in the workspace, as the leader of its own process group, so a
 * timeout or cancel can stop the command AND everything it started (SIGTERM to
 * the group, SIGKILL after a grace period). Output lines stream as `log` events;
 * the summary is the last lines of output. When bash exits, whatever it left
 * running in its group is killed too: nothing may write to the workspace while
 * run-job snapshots it. Model API keys are removed from the command's
 * environment (a shell job needs none, and its output is stored).
 */
import { spawn } from "node:child_process";
import { childExit, reapGroup, signalGroup } from "./process-group.ts";
import type { Agent, AgentContext, AgentOutcome } from "./types.ts";
import { zeroUsage } from "./types.ts";

/** Time between SIGTERM and SIGKILL of the command's process group. */
export const KILL_GRACE_MS = 2000;
/** Longest line a log event carries (longer lines are cut). */
const MAX_LINE_CHARS = 8192;
/** Log events per job before output is only counted, not emitted (a runaway command). */
const MAX_LOG_EVENTS = 10_000;
/** Output lines kept for the summary. */
const SUMMARY_LINES = 20;
const SUMMARY_MAX_CHARS = 4000;
/** Variables a shell command never sees. */
const SECRET_VARS = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"];

/** Exit code of a child: its code, or 128 + signal number as a shell reports it. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return 128 + ((signal && numbers[signal]) || 0);
}

async function runShell(ctx: AgentContext): Promise<AgentOutcome> {
  const command = ctx.job.command ?? ctx.job.prompt;
  if (!command.trim()) {
    return {
      exitCode: null,
      summary: "no command",
      usage: zeroUsage(),
      error: { code: "AGENT_FAILED", message: "shell job has no command" },
    };
  }
  const env: NodeJS.ProcessEnv = { ...ctx.env };
  for (const k of SECRET_VARS) delete env[k];
  const child = spawn("/bin/bash", ["-c", command], {
    cwd: ctx.workspace,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = child.pid;
  const tail: string[] = [];
  let logEvents = 0;
  let droppedLines = 0;
  const onLine = (stream: "stdout" | "stderr", raw: string): void => {
    const line = raw.length > MAX_LINE_CHARS ? `${raw.slice(0, MAX_LINE_CHARS)}…` : raw;
    tail.push(line);
    if (tail.length > SUMMARY_LINES) tail.shift();
    if (logEvents < MAX_LOG_EVENTS) {
      logEvents++;
      ctx.emit({ type: "log", data: { stream, line } });
    } else droppedLines++;
  };
  const closed: Promise<void>[] = [];
  for (const stream of ["stdout", "stderr"] as const) {
    const src = child[stream];
    let partial = "";
    src.setEncoding("utf8");
    src.on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) onLine(stream, l);
    });
    closed.push(
      new Promise((resolve) =>
        src.once("close", () => {
          if (partial) onLine(stream, partial);
          resolve();
        }),
      ),
    );
  }

  let killTimer: NodeJS.Timeout | null = null;
  const onAbort = (): void => {
    if (!pid) return;
    ctx.log(`stopping the shell command (${String(ctx.signal.reason)}): SIGTERM to process group ${pid}`);
    signalGroup(pid, "SIGTERM");
    killTimer = setTimeout(() => signalGroup(pid, "SIGKILL"), KILL_GRACE_MS);
  };
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener("abort", onAbort, { once: true });

  const exit = await childExit(child);
  ctx.signal.removeEventListener("abort", onAbort);
  if (killTimer) clearTimeout(killTimer);
  // Whatever it left running would keep writing during the snapshot.
  await reapGroup(child, pid, closed);

  if (droppedLines > 0)
    ctx.emit({ type: "log", data: { stream: "runner", line: `${droppedLines} more lines not streamed` } });
  if (exit.spawnError) {
    return {
      exitCode: null,
      summary: "",
      usage: zeroUsage(),
      error: { code: "AGENT_FAILED", message: `could not start /bin/bash: ${exit.spawnError.message}` },
    };
  }
  let summary = tail.join("\n");
  if (summary.length > SUMMARY_MAX_CHARS) summary = summary.slice(summary.length - SUMMARY_MAX_CHARS);
  return { exitCode: exitCodeOf(exit.code, exit.signal), summary, usage: zeroUsage() };
}

/** The shell agent. */
export const shellAgent: Agent = { name: "shell", run: runShell };
