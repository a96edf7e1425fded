/**
 * @module worker-app
 * Turns `env` into what the Worker serves: the Hono app and the deps it was built from (the
 * snapshot service, the job queue), built once per isolate (env is the same object for every request it serves).
 * Used by index.ts (requests) and sandbox-class.ts (the runner API on the Sandbox's
 * outbound interception). Kept out of index.ts because workerd treats every export
 * of the main module as an entrypoint, so index.ts may export nothing else.
 */
import pkg from "../package.json";
import { createApp } from "./app";
import { createCloudflareBackend } from "./backend/cloudflare";
import { type Config, loadConfig } from "./config";
import type { AppDeps } from "./deps";
import { createJobQueue } from "./jobs/queue";
import { createSandboxRegistry } from "./sandboxes/registry";
import { RUNNER_INTERNAL_ORIGIN } from "./shared/egress";
import { createSnapshotService, type SnapshotService } from "./snapshots/service";

function createSnapshots(env: Env, config: Config): SnapshotService {
  return createSnapshotService({
    bucket: env.SNAPSHOTS,
    db: env.DB,
    keep: config.SNAPSHOT_KEEP,
    secrets: config,
    // On Cloudflare the Sandbox intercepts RUNNER_INTERNAL_ORIGIN; a local jail's host carries it
    // to the Worker's own address (RUNNER_API_URL, which npm run dev sets): without one its
    // runner cannot call back, so snapshots and jobs are off.
    runnerApiUrl: config.SANDBOXD_URL && !config.RUNNER_API_URL ? null : RUNNER_INTERNAL_ORIGIN,
  });
}

export interface WorkerApp {
  app: ReturnType<typeof createApp>;
  /** `app` without the bearer check: only for RPC through a service binding (src/rpc.ts). */
  trustedApp: ReturnType<typeof createApp>;
  /** What the app was built from (the cron's job round uses the same). */
  deps: AppDeps;
}

let cached: (WorkerApp & { env: Env }) | undefined;

/** The app and its deps for `env`; rebuilt only when env changes. */
export function workerApp(env: Env): WorkerApp {
  if (cached?.env !== env) {
    const config = loadConfig(env as unknown as Record<string, unknown>);
    const deps: AppDeps = {
      backend: createCloudflareBackend(env.Sandbox, { workspaceRoot: config.WORKSPACE_ROOT }),
      config,
      version: pkg.version,
      snapshots: createSnapshots(env, config),
      jobs: createJobQueue(env.DB),
      sandboxes: createSandboxRegistry(env.DB),
    };
    cached = { env, deps, app: createApp(deps), trustedApp: createApp(deps, { trusted: true }) };
  }
  return cached;
}

/**
 * The same app without the bearer check, for callers a service binding to the SandboxApi
 * entrypoint already authenticated (src/rpc.ts); from the same deps.
 */
export function trustedApp(env: Env): ReturnType<typeof createApp> {
  return workerApp(env).trustedApp;
}
