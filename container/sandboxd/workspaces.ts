/**
 * @module sandboxd/workspaces
 * The projects sandboxd knows: one directory `<root>/projects/<projectId>/` each,
 * holding `workspace/` (bound at /workspace), `state/` (the runner's state, bound
 * at /var/lib/sandbox-worker) and `home/` (HOME), plus the children running in it
 * (execs, clones, background processes). Destroy removes all three at once, as a
 * container's disk goes with its container.
 *
 * What the Worker's ensure step needs to know (see src/sandboxes/ready.ts):
 * `initialized` — the runner's state.json exists, i.e. the workspace was restored
 * since it was created; `started` — the first ensure since this sandboxd process
 * began serving the project (its processes, the sync watcher among them, died with
 * the previous sandboxd), answered once.
 */
import type { ChildProcess } from "node:child_process";
import { mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { notFound } from "./errors.ts";
import { checkProjectId } from "./ids.ts";
import { ProcessTable } from "./processes.ts";
import { killTree } from "./spawn.ts";

/** One project's sandbox state on the host. */
export interface Workspace {
  projectId: string;
  /** The directory bound at /workspace. */
  hostDir: string;
  /** The runner's state directory (bound at /var/lib/sandbox-worker). */
  stateDir: string;
  /** HOME (bound at /root). */
  homeDir: string;
  /** Every child running for this project (execs, clones, background processes). */
  children: Set<ChildProcess>;
  processes: ProcessTable;
}

/** All projects under one root directory. */
export class Workspaces {
  private readonly root: string;
  private readonly logBytes: number;
  private readonly open = new Map<string, Workspace>();
  /** Projects whose `started` was already answered by this process. */
  private readonly announced = new Set<string>();

  constructor(root: string, processLogBytes: number) {
    this.root = root;
    this.logBytes = processLogBytes;
  }

  private projectDir(id: string): string {
    return join(this.root, "projects", checkProjectId(id));
  }

  private entry(id: string): Workspace {
    let ws = this.open.get(id);
    if (!ws) {
      ws = {
        projectId: id,
        hostDir: join(this.projectDir(id), "workspace"),
        stateDir: join(this.projectDir(id), "state"),
        homeDir: join(this.projectDir(id), "home"),
        children: new Set(),
        processes: new ProcessTable(this.logBytes),
      };
      this.open.set(id, ws);
    }
    return ws;
  }

  /** Creates the project's directories if needed (idempotent). */
  async ensure(id: string): Promise<Workspace> {
    const ws = this.entry(checkProjectId(id));
    await mkdir(ws.hostDir, { recursive: true, mode: 0o755 });
    await mkdir(ws.stateDir, { recursive: true, mode: 0o700 });
    await mkdir(ws.homeDir, { recursive: true, mode: 0o700 });
    return ws;
  }

  /** ensure, plus what the Worker's ensure step needs: `initialized` and (once) `started`. */
  async ensureReporting(id: string): Promise<{ ws: Workspace; initialized: boolean; started: boolean }> {
    const ws = await this.ensure(id);
    const started = !this.announced.has(id);
    this.announced.add(id);
    const initialized = await stat(join(ws.stateDir, "state.json")).then(
      () => true,
      () => false,
    );
    return { ws, initialized, started };
  }

  /** The workspace if it exists on disk; 404 SANDBOX_NOT_FOUND otherwise. */
  async existing(id: string): Promise<Workspace> {
    checkProjectId(id);
    try {
      if ((await stat(join(this.projectDir(id), "workspace"))).isDirectory()) return this.entry(id);
    } catch {
      // Fall through to 404.
    }
    throw notFound(`Sandbox ${id} does not exist`, "SANDBOX_NOT_FOUND");
  }

  /** Kills every running child of the project but the processes in `keep`; returns how many. */
  killAll(id: string, keep: readonly string[] = []): number {
    const ws = this.open.get(checkProjectId(id));
    if (!ws) return 0;
    const spared = ws.processes.markAllKilled(new Set(keep));
    let n = 0;
    for (const child of ws.children) if (!spared.has(child) && killTree(child)) n++;
    return n;
  }

  /**
   * killAll, then waits (at most 5 s) until the children have exited, so an answer
   * of "killed N" is already true when a client looks at the processes.
   */
  async killAllAndWait(id: string, keep: readonly string[] = []): Promise<number> {
    const n = this.killAll(id, keep);
    const ws = this.open.get(id);
    if (ws) {
      const deadline = Date.now() + 5000;
      const spared = keep.length;
      while (ws.children.size > spared && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
    return n;
  }

  /** Kills everything, waits (briefly) for it to exit, and removes the project's directory. */
  async destroy(id: string): Promise<void> {
    const dir = this.projectDir(id);
    await this.killAllAndWait(id);
    this.open.delete(id);
    this.announced.delete(id);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }

  /** Shutdown: SIGKILL every child of every project. */
  killEverything(): number {
    let n = 0;
    for (const id of this.open.keys()) n += this.killAll(id);
    return n;
  }
}
