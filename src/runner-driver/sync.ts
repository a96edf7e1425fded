/**
 * @module runner-driver/sync
 * Continuous sync: one `runner sync --watch` background process per sandbox,
 * started when the sandbox is created and restarted by the next create after a
 * container restart. It snapshots config and lock files at once and other changes
 * in batches, and flushes on SIGTERM (a container going to sleep).
 */
import { shellQuote } from "../shell";
import { type RunnerDeps, requireRunnerApi } from "./access";
import { runnerCommandLine, runnerEnv } from "./run";

/** How the sync process is recognised in the process list. */
const SYNC_ARGS = ["sync", "--watch"];

/** A sync process lives as long as its container; its token lasts a day (containers sleep long before). */
const SYNC_TOKEN_TTL_SECONDS = 24 * 3600;

/** Start the project's sync process unless one is running; returns its process id. */
export async function ensureSync(deps: RunnerDeps, projectId: string): Promise<string> {
  const { snapshots, apiUrl } = requireRunnerApi(deps);
  // The quoted `sync --watch` words of the runner's command line identify it.
  const marker = SYNC_ARGS.map(shellQuote).join(" ");
  const running = (await deps.backend.listProcesses(projectId)).find(
    (p) => p.status === "running" && p.command.includes(marker),
  );
  if (running) return running.id;
  const token = await snapshots.mintRunnerToken(projectId, SYNC_TOKEN_TTL_SECONDS);
  const args = [
    ...SYNC_ARGS,
    "--interval-ms",
    String(deps.config.SYNC_INTERVAL_MS),
    "--batch-files",
    String(deps.config.SYNC_BATCH_FILES),
  ];
  const started = await deps.backend.startProcess(projectId, {
    command: runnerCommandLine(args),
    env: runnerEnv({ apiUrl, token }, projectId),
  });
  return started.id;
}
