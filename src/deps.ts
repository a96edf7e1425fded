/**
 * @module deps
 * What the app is built from. Tests build the app with their own deps; only
 * index.ts turns `env` into deps.
 */
import type { SandboxBackend } from "./backend/types";
import type { Config } from "./config";
import type { JobQueue } from "./jobs/queue";
import type { SandboxRegistry } from "./sandboxes/registry";
import type { SnapshotService } from "./snapshots/service";

export interface AppDeps {
  backend: SandboxBackend;
  config: Config;
  /** Reported by GET /health. */
  version: string;
  /** Snapshot storage (R2 + D1); without it the runner API is not mounted. */
  snapshots?: SnapshotService;
  /** The job queue (D1); without it the /jobs, /run-job and /run-next routes are not mounted. */
  jobs?: JobQueue;
  /** The sandboxes seen (D1); without it GET /sandboxes is not mounted and uses are not recorded. */
  sandboxes?: SandboxRegistry;
}
