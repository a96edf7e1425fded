/**
 * @module runner/cli
 * The runner's command line: `snapshot`, `restore [--snapshot ID] [--if-fresh]
 * [--no-install]`, `sync --watch [--interval-ms N] [--batch-files N]`, `run-job`
 * (one agent job, see run-job.ts), with
 * `--ignore PATTERN` (repeatable), `--json`, `--help`, `--version`. Logs go to
 * stderr; with `--json` the last stdout line is one RunnerResult object (for
 * `sync`, one per snapshot taken, the final flush last; for `run-job`, a
 * RunJobOutput). Exit code 0 on success,
 * 1 on failure, 2 for usage or configuration errors.
 *
 * Each command is one entry of COMMANDS (cli-commands.ts: its usage line and its
 * run); runCli parses, dispatches and turns any failure into the error result and
 * exit code.
 */
import { parseArgs } from "node:util";
import type { RunnerResult } from "../../src/shared/snapshot-format.ts";
import { type CliIo, COMMANDS, OPTIONS } from "./cli-commands.ts";
import { CODES, RunnerError, toRunnerError } from "./errors.ts";
import { RUNNER_VERSION } from "./version.ts";

export type { CliIo };

const NAMES = Object.keys(COMMANDS);

/** `--help` text. */
export const HELP = `sandbox-worker runner ${RUNNER_VERSION}
Snapshots /workspace to the Worker's runner API and restores it.

Usage:
${NAMES.map((n) => `  runner ${COMMANDS[n]?.usage}\n`).join("")}Options:
  --ignore PATTERN   extra ignore rule (repeatable; after .sandboxignore)
  --json             print one RunnerResult JSON object as the last stdout line
  --help, --version
Environment:
  SANDBOX_RUNNER_API, SANDBOX_RUNNER_TOKEN, SANDBOX_PROJECT_ID (required;
  run-job takes the project from its job), SANDBOX_JOB_ID (run-job),
  SANDBOX_HEARTBEAT_MS (run-job heartbeat period, default 10000),
  SANDBOX_WORKSPACE (/workspace), SANDBOX_STATE_DIR (/var/lib/sandbox-worker),
  SANDBOX_SYNC_IGNORE_GIT=1 (drop .git),
  SANDBOX_RESTORE_INSTALL=0 (no install after restore),
  SANDBOX_RUNNER_RETRIES, SANDBOX_RUNNER_RETRY_BASE_MS (API retry policy)
`;

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let command = "unknown";
  let json = argv.includes("--json");
  try {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
    json = values.json ?? false;
    if (values.help) {
      io.out(HELP);
      return 0;
    }
    if (values.version) {
      io.out(RUNNER_VERSION);
      return 0;
    }
    command = positionals[0] ?? "unknown";
    // Own keys only: `runner constructor` is a usage error, not Object.prototype's.
    const found = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (positionals.length !== 1 || !found) {
      const list = `${NAMES.slice(0, -1).join(", ")} or ${NAMES.at(-1)}`;
      throw new RunnerError(CODES.usage, `Expected one command: ${list} (see --help)`);
    }
    const emit = (r: unknown): void => io.out(json ? JSON.stringify(r) : JSON.stringify(r, null, 2));
    return await found.run({ values, io, emit, log: (m) => io.err(`[runner] ${m}`) });
  } catch (err) {
    return failure(err, command, io);
  }
}

/** Reports a failed command: the error result on stdout; exit 2 for usage and configuration errors, else 1. */
function failure(err: unknown, command: string, io: CliIo): number {
  const e = toRunnerError(err);
  const usage =
    e.code === CODES.usage || e.code === CODES.config || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
  const code = usage && !(err instanceof RunnerError) ? CODES.usage : e.code;
  io.err(`[runner] ${command} failed: ${code}: ${e.message}`);
  const result: RunnerResult = { ok: false, command, code, error: e.message };
  io.out(JSON.stringify(result));
  return usage ? 2 : 1;
}
