/**
 * @module runner/tree-watch
 * Watches a workspace for `sync --watch`: one non-recursive fs.watch per directory
 * the ignore rules keep. Node's recursive watch on Linux puts an inotify watch on
 * every directory, node_modules included: on a real project that is tens of
 * thousands of watches (the default per-user limit is 8,192 on older kernels) and
 * a startup walk of trees the snapshot never reads. Here an ignored directory costs
 * nothing. A directory that appears is watched from then on and its contents are
 * reported (they may have been written before its watch existed); a directory that
 * goes away takes its watches with it. When the kernel refuses a watch (ENOSPC:
 * fs.inotify.max_user_watches), the watcher says so once and reports itself
 * degraded, so the caller can fall back to periodic snapshots.
 */
import { type Dirent, type FSWatcher, lstatSync, readdirSync, watch } from "node:fs";
import { join } from "node:path";
import type { IgnoreRules } from "./ignore.ts";

/** Settings of a TreeWatcher. */
export interface TreeWatchOptions {
  root: string;
  rules: IgnoreRules;
  /** A path (relative, POSIX) changed; null when the platform did not say which. */
  onChange: (rel: string | null) => void;
  /** Watching became partial (a watch was refused); called once. */
  onDegraded?: (reason: string) => void;
  log?: (message: string) => void;
  /** fs.watch, replaceable so tests can make the kernel refuse a watch. */
  watch?: typeof watch;
}

/** `name` inside the relative directory `dir` ("" is the root). */
const childPath = (dir: string, name: string): string => (dir === "" ? name : `${dir}/${name}`);

/** Per-directory watches over the kept part of a tree. */
export class TreeWatcher {
  private readonly o: TreeWatchOptions;
  private readonly watchers = new Map<string, FSWatcher>();
  private degradedReason: string | null = null;
  private closed = false;

  constructor(options: TreeWatchOptions) {
    this.o = options;
  }

  /** Directories watched now (relative; "" is the root). */
  get watchedDirs(): string[] {
    return [...this.watchers.keys()];
  }

  /** Why watching is partial, or null. */
  get degraded(): string | null {
    return this.degradedReason;
  }

  /** Watches the root and every kept directory below it; throws when the root is not a directory. */
  start(): void {
    this.addTree("", false);
    if (!this.watchers.has("") && this.degradedReason === null) {
      throw new Error(`cannot watch ${this.o.root}: not a directory (or gone)`);
    }
  }

  /** Watches `dir` and its kept subdirectories; with `report`, reports what it finds as changed. */
  private addTree(dir: string, report: boolean): void {
    const stack = [dir];
    while (stack.length > 0 && !this.closed) {
      const rel = stack.pop() as string;
      if (this.watchers.has(rel) || !this.watchDir(rel)) continue;
      let entries: Dirent[];
      try {
        entries = readdirSync(join(this.o.root, rel), { withFileTypes: true });
      } catch {
        continue; // gone meanwhile: its watch reports that
      }
      for (const e of entries) {
        const child = childPath(rel, e.name);
        const isDir = e.isDirectory();
        if (this.o.rules.ignores(child, isDir)) continue;
        if (isDir) stack.push(child);
        if (report) this.o.onChange(child);
      }
    }
  }

  /** One watch on one directory; false when it could not be set. */
  private watchDir(rel: string): boolean {
    try {
      const watchFn = this.o.watch ?? watch;
      const w = watchFn(join(this.o.root, rel), { encoding: "utf8" }, (_event, name) => this.onEvent(rel, name));
      w.on("error", () => this.drop(rel));
      this.watchers.set(rel, w);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return false;
      if (this.degradedReason === null) {
        this.degradedReason =
          code === "ENOSPC"
            ? `the kernel refused another inotify watch at ${JSON.stringify(rel || ".")} ` +
              `(${this.watchers.size} in use; raise fs.inotify.max_user_watches)`
            : `cannot watch ${JSON.stringify(rel || ".")}: ${(err as Error).message}`;
        this.o.log?.(this.degradedReason);
        this.o.onDegraded?.(this.degradedReason);
      }
      return false;
    }
  }

  private onEvent(dir: string, name: string | null): void {
    if (this.closed) return;
    if (!name) {
      this.o.onChange(null);
      return;
    }
    const rel = childPath(dir, name);
    let isDir = false;
    let exists = true;
    try {
      isDir = lstatSync(join(this.o.root, rel)).isDirectory();
    } catch {
      exists = false;
    }
    if (this.o.rules.ignores(rel, isDir)) return;
    if (!exists && this.watchers.has(rel)) this.dropTree(rel);
    else if (isDir && !this.watchers.has(rel)) this.addTree(rel, true);
    this.o.onChange(rel);
  }

  private drop(rel: string): void {
    this.watchers.get(rel)?.close();
    this.watchers.delete(rel);
  }

  /** Closes the watches of `rel` and everything below it. */
  private dropTree(rel: string): void {
    for (const dir of [...this.watchers.keys()]) {
      if (dir === rel || dir.startsWith(`${rel}/`)) this.drop(dir);
    }
  }

  /** Closes every watch. */
  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
