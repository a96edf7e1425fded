/**
 * @module runner/cli-commands
 * The runner's commands as a table (COMMANDS: name → usage line and run), and
 * what each does: `snapshot`, `restore`, `sync --watch`, `run-job`. cli.ts parses
 * the arguments, dispatches here and reports failures.
 */

import type { parseArgs } from "node:util";
import type { RunnerResult } from "../../src/shared/snapshot-format.ts";
import { type ArchiveResult, takeSnapshot } from "./archiver.ts";
import { loadConfig, type RunnerConfig } from "./config.ts";
import { CODES, RunnerError, toRunnerError } from "./errors.ts";
import { HttpStore } from "./http-store.ts";
import { type IgnoreRules, loadIgnoreRules } from "./ignore.ts";
import { installAfterRestore } from "./install.ts";
import { withManifestCache } from "./manifest-cache.ts";
import { restoreSnapshot } from "./restorer.ts";
import { runJob } from "./run-job.ts";
import type { SnapshotStore } from "./store.ts";
import { SyncWatcher } from "./sync.ts";
import { tryLockSyncWatcher } from "./workspace-lock.ts";

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** Builds the store (tests pass a fake); default HttpStore from the config. */
  makeStore?: (config: RunnerConfig) => SnapshotStore;
  /** Registers a shutdown handler for sync (default: SIGTERM and SIGINT). */
  onShutdown?: (handler: () => void) => void;
}

/** The options every command parses (parseArgs). */
export const OPTIONS = {
  json: { type: "boolean" },
  snapshot: { type: "string" },
  "if-fresh": { type: "boolean" },
  "no-install": { type: "boolean" },
  watch: { type: "boolean" },
  "interval-ms": { type: "string" },
  "batch-files": { type: "string" },
  ignore: { type: "string", multiple: true },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const;

type Values = ReturnType<
  typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>
>["values"];

/** What a command gets: the parsed options and where to write. */
export interface CommandContext {
  values: Values;
  io: CliIo;
  /** Prints one result (one line with --json, else indented). */
  emit: (r: unknown) => void;
  log: (m: string) => void;
}

/** One command: its usage line (after `runner `) and what it does; resolves with the exit code. */
export interface Command {
  usage: string;
  run: (ctx: CommandContext) => Promise<number>;
}

/** The commands, in --help order. */
export const COMMANDS: Record<string, Command> = {
  snapshot: { usage: "snapshot [--json]", run: snapshotCommand },
  restore: { usage: "restore [--snapshot ID] [--if-fresh] [--no-install] [--json]", run: restoreCommand },
  sync: { usage: "sync --watch [--interval-ms 30000] [--batch-files 10] [--json]", run: syncCommand },
  "run-job": { usage: "run-job [--json]", run: runJobCommand },
};

/** What snapshot, restore and sync share: the project's config, store and ignore rules. */
interface ProjectContext {
  config: RunnerConfig;
  store: SnapshotStore;
  rules: IgnoreRules;
  /** Takes one snapshot of the workspace. */
  snap: () => Promise<ArchiveResult>;
}

async function projectContext({ values, io, log }: CommandContext): Promise<ProjectContext> {
  const config = loadConfig(io.env);
  const store = withManifestCache(
    io.makeStore?.(config) ??
      new HttpStore({
        apiUrl: config.apiUrl,
        token: config.token,
        projectId: config.projectId,
        ...(config.retries !== undefined ? { attempts: config.retries + 1 } : {}),
        ...(config.retryBaseMs !== undefined ? { baseDelayMs: config.retryBaseMs } : {}),
        onRetry: (i) =>
          io.err(`retry ${i.attempt} of ${i.method} ${i.path} in ${Math.round(i.delayMs)} ms: ${i.reason}`),
      }),
    config.stateDir,
  );
  const rules = await loadIgnoreRules(config.workspace, { ignoreGit: config.ignoreGit, extra: values.ignore ?? [] });
  const snap = () =>
    takeSnapshot({
      store,
      workspace: config.workspace,
      stateDir: config.stateDir,
      projectId: config.projectId,
      rules,
      log,
    });
  return { config, store, rules, snap };
}

function snapshotResult(r: ArchiveResult): RunnerResult {
  const { snapshotId, unchanged, files, bytes, uploadedBytes, durationMs } = r;
  return { ok: true, command: "snapshot", snapshotId, unchanged, files, bytes, uploadedBytes, durationMs };
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new RunnerError(CODES.usage, `${name} must be a positive integer`);
  return n;
}

/** `snapshot`: one snapshot of the workspace. */
async function snapshotCommand(ctx: CommandContext): Promise<number> {
  const { snap } = await projectContext(ctx);
  ctx.emit(snapshotResult(await snap()));
  return 0;
}

/** `restore`: the head (or --snapshot) into the workspace, then the package manager's install. */
async function restoreCommand(ctx: CommandContext): Promise<number> {
  const { values, log } = ctx;
  const { config, store, rules } = await projectContext(ctx);
  // Under the workspace lock (restorer.ts), so of concurrent `--if-fresh` calls
  // exactly one finds no state.json and initialises the workspace.
  const r = await restoreSnapshot({
    store,
    workspace: config.workspace,
    stateDir: config.stateDir,
    rules,
    snapshotId: values.snapshot ?? null,
    ifFresh: values["if-fresh"] ?? false,
    log,
  });
  const install =
    !r.restored || values["no-install"] || !config.install
      ? null
      : await installAfterRestore(config.workspace, r.changedPaths, log);
  ctx.emit({
    ok: true,
    command: "restore",
    snapshotId: r.snapshotId,
    restored: r.restored,
    initialized: r.initialized,
    files: r.files,
    downloadedBytes: r.downloadedBytes,
    deleted: r.deleted,
    install,
    durationMs: r.durationMs,
  } satisfies RunnerResult);
  return 0;
}

/** `sync --watch`: snapshots as the workspace changes, until SIGTERM/SIGINT, then a final flush. */
async function syncCommand(ctx: CommandContext): Promise<number> {
  const { values, io, emit, log } = ctx;
  if (!values.watch) throw new RunnerError(CODES.usage, "sync needs --watch");
  const { config, rules, snap } = await projectContext(ctx);
  const intervalMs = positiveInt(values["interval-ms"], "--interval-ms", 30_000);
  const batchFiles = positiveInt(values["batch-files"], "--batch-files", 10);
  const releaseSyncLock = await tryLockSyncWatcher(config.stateDir);
  if (!releaseSyncLock) {
    log("another sync watcher runs in this sandbox: leaving it the workspace");
    emit({ ok: true, command: "sync", alreadyRunning: true } satisfies RunnerResult);
    return 0;
  }
  const watcher = new SyncWatcher({
    workspace: config.workspace,
    rules,
    intervalMs,
    batchFiles,
    log,
    snapshot: async () => emit(snapshotResult(await snap())),
  });
  // Listen for SIGTERM/SIGINT first: a signal during the initial snapshot must still flush.
  const shutdown = new Promise<void>((resolve) => {
    const register =
      io.onShutdown ??
      ((h: () => void) => {
        process.once("SIGTERM", h);
        process.once("SIGINT", h);
      });
    register(() => resolve());
  });
  watcher.start();
  // Snapshot once at start: changes made before the watcher existed are not lost.
  await snap().then(
    (r) => emit(snapshotResult(r)),
    (err: unknown) => log(`initial snapshot failed: ${toRunnerError(err).message}`),
  );
  log(`watching ${config.workspace} (batch ${batchFiles} files / ${intervalMs} ms)`);
  await shutdown;
  log("stopping: flushing pending changes");
  await watcher.stop();
  await releaseSyncLock();
  return 0;
}

/** `run-job`: one agent job (run-job.ts); the project comes from the job. */
async function runJobCommand({ io, emit, log }: CommandContext): Promise<number> {
  const config = loadConfig(io.env, { projectOptional: true });
  const makeStore = io.makeStore;
  const { exitCode, output } = await runJob({
    config,
    env: io.env,
    log,
    ...(makeStore ? { makeStore: (projectId: string) => makeStore({ ...config, projectId }) } : {}),
  });
  emit(output);
  return exitCode;
}
