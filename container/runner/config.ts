/**
 * @module runner/config
 * The runner's settings, from the environment only (RUNNER_ENV of
 * shared/snapshot-format.ts): the token never travels on the command line, where
 * a process listing would show it.
 *
 * - SANDBOX_RUNNER_API, SANDBOX_RUNNER_TOKEN, SANDBOX_PROJECT_ID: required by
 *   every command that talks to the store.
 * - SANDBOX_WORKSPACE: workspace root (default /workspace).
 * - SANDBOX_STATE_DIR: the runner's own state, outside the workspace (default
 *   /var/lib/sandbox-worker, see state.ts).
 * - SANDBOX_SYNC_IGNORE_GIT=1: leave `.git` out of snapshots.
 * - SANDBOX_RESTORE_INSTALL=0: no package manager install after restore.
 * - SANDBOX_RUNNER_RETRIES, SANDBOX_RUNNER_RETRY_BASE_MS: retry policy of API calls.
 *
 * `run-job` reads its job id (JOB_ENV) in run-job.ts and may leave
 * SANDBOX_PROJECT_ID unset: the job names its project.
 */
import { RUNNER_ENV, RUNNER_STATE_DIR } from "../../src/shared/snapshot-format.ts";
import { CODES, RunnerError } from "./errors.ts";

/** Resolved settings. */
export interface RunnerConfig {
  apiUrl: string;
  token: string;
  projectId: string;
  workspace: string;
  stateDir: string;
  ignoreGit: boolean;
  install: boolean;
  retries: number | undefined;
  retryBaseMs: number | undefined;
}

function flag(value: string | undefined): boolean | undefined {
  if (value === undefined || value === "") return undefined;
  return !["0", "false", "no", "off"].includes(value.toLowerCase());
}

function int(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Reads the config; throws CONFIG_MISSING naming every missing variable. With
 * `projectOptional` (run-job) a missing project id reads as "".
 */
export function loadConfig(env: NodeJS.ProcessEnv, opts: { projectOptional?: boolean } = {}): RunnerConfig {
  const required = opts.projectOptional
    ? [RUNNER_ENV.api, RUNNER_ENV.token]
    : [RUNNER_ENV.api, RUNNER_ENV.token, RUNNER_ENV.projectId];
  const missing = required.filter((k) => !env[k]);
  if (missing.length > 0) {
    throw new RunnerError(CODES.config, `Missing environment variable(s): ${missing.join(", ")}`);
  }
  return {
    apiUrl: (env[RUNNER_ENV.api] as string).replace(/\/+$/, ""),
    token: env[RUNNER_ENV.token] as string,
    projectId: env[RUNNER_ENV.projectId] ?? "",
    workspace: env[RUNNER_ENV.workspace] || "/workspace",
    stateDir: env[RUNNER_ENV.stateDir] || RUNNER_STATE_DIR,
    ignoreGit: flag(env.SANDBOX_SYNC_IGNORE_GIT) ?? false,
    install: flag(env.SANDBOX_RESTORE_INSTALL) ?? true,
    retries: int(env.SANDBOX_RUNNER_RETRIES),
    retryBaseMs: int(env.SANDBOX_RUNNER_RETRY_BASE_MS),
  };
}
