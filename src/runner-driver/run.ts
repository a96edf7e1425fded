/**
 * @module runner-driver/run
 * The runner's command line, and running a one-shot command (snapshot, restore)
 * inside a project's sandbox through the SandboxBackend, reading its one-line JSON
 * result. The runner gets the runner API's URL and a token scoped to the project in
 * its environment (never on the command line, so it never shows in a process
 * listing), and nothing else of the Worker's secrets.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { SandboxBackend } from "../backend/types";
import { AppError } from "../errors";
import { ERROR_STATUS, isErrorCode, RUNNER_CODES_WITH_STATUS } from "../shared/error-codes";
import { RUNNER_ENV, RUNNER_NODE, RUNNER_PATH, type RunnerResult } from "../shared/snapshot-format";
import { shellQuote } from "../shell";

/** What the runner needs to reach the Worker. */
export interface RunnerAccess {
  /** Base URL of the runner API as seen from inside the sandbox. */
  apiUrl: string;
  /** Token scoped to this project (or job). */
  token: string;
}

/**
 * A failure the runner reported, under its own code. Answered with the code's status when
 * it is one a route answers as its own (RUNNER_CODES_WITH_STATUS: HEAD_MOVED, …), else 502:
 * the sandbox failed. A code the map does not know becomes RUNNER_FAILED, the runner's in details.
 */
export class RunnerFailedError extends AppError {
  override readonly status: ContentfulStatusCode;

  constructor(message: string, runnerCode: string) {
    const code = isErrorCode(runnerCode) ? runnerCode : "RUNNER_FAILED";
    super(message, code, code === runnerCode ? undefined : { runnerCode });
    this.status = RUNNER_CODES_WITH_STATUS.includes(code) ? ERROR_STATUS[code] : 502;
  }
}

type Ok<C extends string> = Extract<RunnerResult, { ok: true; command: C }>;

/** How every runner command line starts; a process whose command starts so is the Worker's own. */
const RUNNER_LINE_PREFIX = `exec "\${SANDBOX_NODE:-${RUNNER_NODE}}" "\${SANDBOX_RUNNER:-${RUNNER_PATH}}" `;

/**
 * The shell line that runs `runner <args> --json` on RUNNER_NODE. Unisolated local sandboxes
 * set SANDBOX_NODE and SANDBOX_RUNNER to what they really have; everywhere else they are unset.
 * Shared with sync.ts and job.ts (background `sync --watch` and `run-job`).
 */
export function runnerCommandLine(args: string[]): string {
  return `${RUNNER_LINE_PREFIX}${[...args, "--json"].map(shellQuote).join(" ")}`;
}

/**
 * Whether a process is one the Worker started (sync watcher, run-job): such
 * processes are not listed to users, and a cleanup spares them.
 */
export function isInternalProcess(p: { command: string }): boolean {
  return p.command.startsWith(RUNNER_LINE_PREFIX);
}

/** The runner's environment: the runner API, its scoped token, the project. */
export function runnerEnv(access: RunnerAccess, projectId: string): Record<string, string> {
  return { [RUNNER_ENV.api]: access.apiUrl, [RUNNER_ENV.token]: access.token, [RUNNER_ENV.projectId]: projectId };
}

/**
 * Run `runner <args> --json` in the sandbox and return its result, or throw an
 * AppError carrying the runner's code (RESTORE_INCOMPLETE, HEAD_MOVED, …).
 */
export async function runRunner<C extends "snapshot" | "restore">(
  backend: SandboxBackend,
  projectId: string,
  command: C,
  args: string[],
  access: RunnerAccess,
  timeoutMs: number,
): Promise<Ok<C>> {
  const result = await backend.exec(projectId, {
    command: runnerCommandLine([command, ...args]),
    env: runnerEnv(access, projectId),
    timeoutMs,
  });
  const last = result.stdout.trimEnd().split("\n").pop() ?? "";
  let parsed: RunnerResult | undefined;
  try {
    parsed = JSON.parse(last) as RunnerResult;
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== "object" || !("ok" in parsed)) {
    const tail = result.stderr.trim().split("\n").slice(-5).join("\n");
    const missing = result.exitCode === 127 || /Cannot find module|ENOENT/.test(result.stderr);
    throw new AppError(
      missing
        ? "The runner bundle is not in the sandbox (build it with `npm run build:runner`; the image copies it to /opt/sandbox-worker)"
        : `The runner failed without a result (exit ${result.exitCode}): ${tail}`,
      missing ? "RUNNER_MISSING" : "RUNNER_FAILED",
    );
  }
  if (!parsed.ok) throw new RunnerFailedError(parsed.error, parsed.code);
  if (parsed.command !== command) {
    throw new AppError(`The runner answered for ${parsed.command}, not ${command}`, "RUNNER_FAILED");
  }
  return parsed as Ok<C>;
}
