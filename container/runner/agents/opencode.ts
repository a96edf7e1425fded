/**
 * @module runner/agents/opencode
 * The `opencode` agent: runs the real opencode CLI (`opencode run --format json`,
 * installed in the image; bound read-only at /opt/opencode/bin by sandboxd
 * locally; OPENCODE_BIN overrides) in the workspace with the job's prompt on
 * stdin and its model (`provider/model`), configured through
 * OPENCODE_CONFIG_CONTENT (opencode-config.ts). Its JSON events become job events
 * (opencode-events.ts); token usage and cost add up into the result.
 *
 * The CLI runs as the leader of its own process group, so a timeout or cancel
 * stops it AND the commands its bash tool started (SIGTERM, SIGKILL after a
 * grace period). opencode retries 5xx/429 from the model API without end, so the
 * agent counts the model errors it logs and stops it after
 * OPENCODE_MAX_MODEL_ERRORS (default 4, ~15 s of opencode's backoff): the job
 * fails with MODEL_API_ERROR and the last error, and the work so far is
 * snapshotted by run-job as usual.
 *
 * The session it ran in is recorded in `.opencode-state/session.json` beside
 * opencode's data, so the next job on the project continues the conversation.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  opencodeArgs,
  opencodeConfig,
  opencodeDirs,
  opencodeEnv,
  parseModel,
  SESSION_FILE,
} from "./opencode-config.ts";
import { mapOpencodeLine, modelErrorOf, newStreamState } from "./opencode-events.ts";
import { childExit, reapGroup, signalGroup } from "./process-group.ts";
import type { Agent, AgentContext, AgentOutcome } from "./types.ts";
import { zeroUsage } from "./types.ts";

/** Time between SIGTERM and SIGKILL of opencode's process group. */
export const OPENCODE_KILL_GRACE_MS = 3000;
/** Error code for a model API that kept failing. */
export const MODEL_API_ERROR = "MODEL_API_ERROR";
const DEFAULT_MAX_MODEL_ERRORS = 4;
/** stderr lines streamed as log events per job (opencode's WARN/ERROR log). */
const MAX_STDERR_EVENTS = 2000;
const SUMMARY_MAX_CHARS = 4000;

/** What `.opencode-state/session.json` holds. */
interface SessionRecord {
  sessionId: string;
  model: string;
  jobId: string;
  /** The workspace path it ran in: opencode binds a session to its directory. */
  workspace: string;
  updatedAt: string;
}

/**
 * The session to continue, if one was recorded for this workspace path. A session
 * continued from another directory runs in that directory's opencode instance and
 * `opencode run` never sees it finish (it hangs), so a moved workspace starts afresh.
 */
async function readSession(file: string, workspace: string, log: (m: string) => void): Promise<string | null> {
  try {
    const rec = JSON.parse(await readFile(file, "utf8")) as Partial<SessionRecord>;
    if (typeof rec.sessionId !== "string" || !/^[\w-]+$/.test(rec.sessionId)) return null;
    if (rec.workspace !== workspace) {
      log(`opencode: session ${rec.sessionId} ran in ${rec.workspace}, not ${workspace}: starting a new one`);
      return null;
    }
    return rec.sessionId;
  } catch {
    return null;
  }
}

/** Splits a stream into lines, calling `onLine` for each; resolves when it closes. */
function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> {
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    for (const l of parts) onLine(l);
  });
  return new Promise((resolve) =>
    stream.once("close", () => {
      if (partial) onLine(partial);
      resolve();
    }),
  );
}

function failure(message: string, code = "AGENT_FAILED"): AgentOutcome {
  return { exitCode: null, summary: message, usage: zeroUsage(), error: { code, message } };
}

async function runOpencode(ctx: AgentContext): Promise<AgentOutcome> {
  const { job, workspace } = ctx;
  const model = parseModel(job.model);
  if (!model) return failure(`opencode needs the model as "provider/model", got ${JSON.stringify(job.model)}`);
  if (!job.prompt.trim()) return failure("opencode job has no prompt");
  const spec = `${model.provider}/${model.model}`;
  const scratch = await mkdtemp(join(tmpdir(), "opencode-job-"));
  const dirs = opencodeDirs(workspace, scratch);
  await mkdir(dirs.data, { recursive: true });
  await mkdir(join(scratch, "home"));
  const sessionFile = join(dirs.stateRoot, SESSION_FILE);
  const previous = await readSession(sessionFile, workspace, ctx.log);
  const args = opencodeArgs(spec, previous);
  const bin = ctx.env.OPENCODE_BIN || "opencode";
  const maxModelErrors = Number(ctx.env.OPENCODE_MAX_MODEL_ERRORS) || DEFAULT_MAX_MODEL_ERRORS;
  const env = opencodeEnv(ctx.env, workspace, dirs, opencodeConfig(ctx.env, model));
  ctx.log(`opencode: ${bin} ${args.join(" ")}${previous ? " (continuing the previous session)" : ""}`);
  ctx.emit({ type: "agent_step", data: { kind: "start", agent: "opencode", model: spec, continues: previous } });

  try {
    const child = spawn(bin, args, { cwd: workspace, env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
    const pid = child.pid;
    child.stdin.on("error", () => {
      // EPIPE when opencode exits before reading the prompt: the exit code tells.
    });
    child.stdin.end(job.prompt);
    const state = newStreamState();
    let stderrEvents = 0;
    const stderrTail: string[] = [];
    let modelErrors = 0;
    let lastModelError: string | null = null;
    let gaveUp = false;
    let killTimer: NodeJS.Timeout | null = null;
    const stop = (why: string): void => {
      if (!pid || killTimer) return;
      ctx.log(`stopping opencode (${why}): SIGTERM to process group ${pid}`);
      signalGroup(pid, "SIGTERM");
      killTimer = setTimeout(() => signalGroup(pid, "SIGKILL"), OPENCODE_KILL_GRACE_MS);
    };
    const closed = [
      lines(child.stdout, (line) => {
        for (const e of mapOpencodeLine(line, state)) ctx.emit(e);
      }),
      lines(child.stderr, (line) => {
        if (!line.trim()) return;
        stderrTail.push(line);
        if (stderrTail.length > 10) stderrTail.shift();
        if (stderrEvents++ < MAX_STDERR_EVENTS) ctx.emit({ type: "log", data: { stream: "stderr", line } });
        const err = modelErrorOf(line);
        if (err === null) return;
        modelErrors++;
        lastModelError = err;
        if (modelErrors >= maxModelErrors && !gaveUp) {
          gaveUp = true;
          stop(`the model API failed ${modelErrors} times`);
        }
      }),
    ];
    const onAbort = (): void => stop(String(ctx.signal.reason));
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });

    const exit = await childExit(child);
    ctx.signal.removeEventListener("abort", onAbort);
    if (killTimer) clearTimeout(killTimer);
    // Whatever it left running would keep writing during the snapshot.
    await reapGroup(child, pid, closed);

    if (exit.spawnError) {
      const notFound = (exit.spawnError as NodeJS.ErrnoException).code === "ENOENT";
      return failure(
        notFound
          ? `opencode CLI not found (${bin}): install opencode-ai (npm i -g opencode-ai) or set OPENCODE_BIN`
          : `could not start opencode: ${exit.spawnError.message}`,
      );
    }
    if (state.sessionId) {
      const rec: SessionRecord = {
        sessionId: state.sessionId,
        model: spec,
        jobId: job.id,
        workspace,
        updatedAt: new Date().toISOString(),
      };
      await writeFile(sessionFile, `${JSON.stringify(rec, null, 2)}\n`);
    }
    const exitCode = exit.code ?? 128 + (exit.signal === "SIGKILL" ? 9 : 15);
    const finalText = state.texts.at(-1) ?? "";
    let summary = finalText || state.lastError || stderrTail.join("\n");
    if (summary.length > SUMMARY_MAX_CHARS) summary = `${summary.slice(0, SUMMARY_MAX_CHARS)}…`;
    const outcome: AgentOutcome = { exitCode, summary, usage: state.usage };
    if (gaveUp) {
      outcome.error = {
        code: MODEL_API_ERROR,
        message: `The model API failed ${modelErrors} times (opencode kept retrying); last error: ${lastModelError}`,
      };
      outcome.summary = outcome.error.message;
    } else if (!ctx.signal.aborted && (exitCode !== 0 || state.lastError)) {
      const message = state.lastError ?? `opencode exited with ${exitCode}: ${stderrTail.slice(-3).join(" | ")}`;
      outcome.error = { code: lastModelError && state.lastError ? MODEL_API_ERROR : "AGENT_FAILED", message };
    }
    return outcome;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The opencode agent. */
export const opencodeAgent: Agent = { name: "opencode", run: runOpencode };
