/**
 * @module runner/sync
 * `sync --watch`: keeps the snapshot up to date while the workspace changes
 * (seed 000). Config and lock files (package.json, tsconfig.json, lockfiles, …)
 * trigger a snapshot at once; other changes are batched: a snapshot runs
 * `intervalMs` after the first pending change or as soon as `batchFiles` distinct
 * paths changed. Ignored directories are not even watched (tree-watch.ts), and
 * changes to ignored paths do not count. Snapshots never overlap:
 * changes seen during one schedule the next. `stop()` (SIGTERM/SIGINT) flushes
 * pending changes with a final snapshot before resolving.
 */
import type { IgnoreRules } from "./ignore.ts";
import { TreeWatcher, type TreeWatchOptions } from "./tree-watch.ts";

/** Base names whose change is synced immediately. */
export const IMMEDIATE_FILES: ReadonlySet<string> = new Set([
  "package.json",
  "package-lock.json",
  "npm-shrinkwrap.json",
  "pnpm-lock.yaml",
  "pnpm-workspace.yaml",
  "yarn.lock",
  ".yarnrc.yml",
  "bun.lockb",
  "bun.lock",
  "tsconfig.json",
  "jsconfig.json",
  "deno.json",
  "deno.lock",
  ".npmrc",
  ".nvmrc",
  ".node-version",
  ".sandboxignore",
]);

/** Delay before an "immediate" snapshot, so one editor save is one snapshot. */
export const IMMEDIATE_SETTLE_MS = 150;

/** Whether a change to `relPath` should be synced at once. */
export function isImmediate(relPath: string): boolean {
  const base = relPath.slice(relPath.lastIndexOf("/") + 1);
  return IMMEDIATE_FILES.has(base) || /^tsconfig\..+\.json$/.test(base);
}

/** Settings of a SyncWatcher. */
export interface SyncOptions {
  workspace: string;
  rules: IgnoreRules;
  /** Batch delay after the first pending change (default 30000). */
  intervalMs: number;
  /** Pending distinct paths that trigger a snapshot at once (default 10). */
  batchFiles: number;
  /** Takes one snapshot; errors are logged and the changes stay pending. */
  snapshot: (reason: string) => Promise<void>;
  log?: (message: string) => void;
  /** fs.watch, replaceable so tests can make the kernel refuse watches (tree-watch.ts). */
  watch?: TreeWatchOptions["watch"];
}

/** Watches a workspace and snapshots it as it changes. */
export class SyncWatcher {
  private readonly o: SyncOptions;
  private tree: TreeWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again: string | null = null;
  private stopped = false;

  constructor(options: SyncOptions) {
    this.o = options;
  }

  /** Starts watching every directory the ignore rules keep (tree-watch.ts). */
  start(): void {
    this.tree = new TreeWatcher({
      root: this.o.workspace,
      rules: this.o.rules,
      onChange: (rel) => this.onChange(rel),
      onDegraded: (reason) => this.pollInstead(reason),
      log: this.o.log,
      watch: this.o.watch,
    });
    this.tree.start();
  }

  /**
   * Some directory could not be watched: changes there would go unseen, so a
   * snapshot also runs every interval whatever was seen (a no-change snapshot
   * costs a scan and a hash-cache lookup, and uploads nothing).
   */
  private pollInstead(reason: string): void {
    if (this.poll) return;
    this.o.log?.(`watching is partial (${reason}): snapshotting every ${this.o.intervalMs} ms as well`);
    this.poll = setInterval(() => {
      if (!this.running && !this.stopped) this.trigger("periodic (watching is partial)");
    }, this.o.intervalMs);
  }

  /** Handles one change the tree watcher reported (ignored paths never arrive); null = unknown path. */
  onChange(rel: string | null): void {
    if (this.stopped) return;
    const path = rel ?? "?";
    this.pending.add(path);
    if (rel && isImmediate(path)) {
      // One save emits a burst of events (rename, change…): a short settle delay
      // turns the burst into one snapshot instead of two.
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.trigger(`${path} changed`), IMMEDIATE_SETTLE_MS);
    } else if (this.pending.size >= this.o.batchFiles) {
      this.trigger(`${this.pending.size} files changed`);
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.trigger("batch interval"), this.o.intervalMs);
    }
  }

  /** Starts a snapshot now, or right after the running one. */
  private trigger(reason: string): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running) {
      this.again = reason;
      return;
    }
    this.running = this.runOnce(reason).finally(() => {
      this.running = null;
      const next = this.again;
      this.again = null;
      if (next && this.pending.size > 0 && !this.stopped) this.trigger(next);
    });
  }

  private async runOnce(reason: string): Promise<void> {
    const batch = [...this.pending];
    this.pending.clear();
    try {
      this.o.log?.(`snapshot (${reason})`);
      await this.o.snapshot(reason);
    } catch (err) {
      // Keep the changes pending so the next trigger (or the final flush) retries.
      for (const p of batch) this.pending.add(p);
      this.o.log?.(`snapshot failed: ${(err as Error).message}`);
      if (!this.stopped && !this.timer) this.timer = setTimeout(() => this.trigger("retry"), this.o.intervalMs);
    }
  }

  /** Number of changed paths waiting for a snapshot. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Stops watching, waits for a running snapshot, then flushes pending changes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.tree?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.running) await this.running;
    if (this.pending.size > 0) await this.runOnce("final flush");
  }
}
