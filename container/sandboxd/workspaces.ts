/**
 * @module sandboxd/workspaces
 * The projects sandboxd knows: one directory `<root>/projects/<projectId>/workspace`
 * each, plus the children running in it (execs, clones, background processes).
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
  /** Every child running for this project (execs, clones, background processes). */
  children: Set<ChildProcess>;
  processes: ProcessTable;
}

/** All projects under one root directory. */
export class Workspaces {
  private readonly root: string;
  private readonly logBytes: number;
  private readonly open = new Map<string, Workspace>();

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
        children: new Set(),
        processes: new ProcessTable(this.logBytes),
      };
      this.open.set(id, ws);
    }
    return ws;
  }

  /** Creates the workspace directory if needed (idempotent). */
  async ensure(id: string): Promise<Workspace> {
    const ws = this.entry(checkProjectId(id));
    await mkdir(ws.hostDir, { recursive: true, mode: 0o755 });
    return ws;
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

  /** Kills every running child of the project; returns how many. */
  killAll(id: string): number {
    const ws = this.open.get(checkProjectId(id));
    if (!ws) return 0;
    ws.processes.markAllKilled();
    let n = 0;
    for (const child of ws.children) if (killTree(child)) n++;
    return n;
  }

  /**
   * killAll, then waits (at most 5 s) until the children have exited, so an answer
   * of "killed N" is already true when a client looks at the processes.
   */
  async killAllAndWait(id: string): Promise<number> {
    const n = this.killAll(id);
    const ws = this.open.get(id);
    if (ws) {
      const deadline = Date.now() + 5000;
      while (ws.children.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    }
    return n;
  }

  /** Kills everything, waits (briefly) for it to exit, and removes the project's directory. */
  async destroy(id: string): Promise<void> {
    const dir = this.projectDir(id);
    await this.killAllAndWait(id);
    this.open.delete(id);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }

  /** Shutdown: SIGKILL every child of every project. */
  killEverything(): number {
    let n = 0;
    for (const id of this.open.keys()) n += this.killAll(id);
    return n;
  }
}
