/**
 * @module sandboxd/jails
 * Jails: one Cloudflare container runtime (the HTTP server of the `cloudflare/sandbox`
 * image, under Bun) per sandbox, each in its own bubblewrap jail and listening on a
 * unix socket, so that sandboxd can carry a Durable Object's container traffic to it
 * (server.ts proxies `/jails/:id/container/...`). This module is the registry the
 * routes use (start, status, wait, signal, destroy, list, socketFor, killEverything);
 * how one runtime process boots, answers and stops is jail-runtime.ts.
 *
 * A jail has host directories `<root>/jails/<id>/{workspace,state,home,run}`, bound
 * at /workspace, /var/lib/sandbox-worker, /root and /run/sandbox-runtime. Start is
 * idempotent: a running jail is reused, a dead one is restarted with its directories
 * as they were; only destroy removes them.
 */
import type { ChildProcess } from "node:child_process";
import { chown, mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { type Isolation, RUNTIME_SOCKET_NAME } from "./bwrap.ts";
import { notFound, unavailable } from "./errors.ts";
import { checkJailId } from "./ids.ts";
import {
  isAlive,
  type JailExit,
  type Run,
  type RuntimeFiles,
  runtimeFiles,
  spawnRun,
  stopRun,
  untilReady,
} from "./jail-runtime.ts";
import { openRuntimeSocket, type RuntimeSocket } from "./runtime-socket.ts";
import { killTree } from "./spawn.ts";

export type { JailExit, RuntimeFiles } from "./jail-runtime.ts";

/** GET /jails/:id. */
export interface JailStatus extends JailExit {
  id: string;
  running: boolean;
  /** Host pid of the runtime (Bun); its process group is the runtime's. */
  pid: number | null;
  startedAt: string | null;
  /** Open `wait` long-polls. */
  waiting: number;
}

/** POST /jails/:id. */
export interface JailStarted {
  id: string;
  running: true;
  pid: number | null;
  startedAt: string;
  /** The jail existed before (its runtime had died, or sandboxd restarted): its directories are kept. */
  restarted: boolean;
}

interface Jail {
  id: string;
  dir: string;
  workspaceDir: string;
  stateDir: string;
  homeDir: string;
  runDir: string;
  run: Run | null;
  starting: Promise<{ run: Run; restarted: boolean }> | null;
  children: Set<ChildProcess>;
}

/** Timings (tests shorten them). */
export interface JailOptions {
  /** How long a runtime may take to answer GET /api/ping after its start. */
  startTimeoutMs?: number;
  /** How long stop waits after SIGTERM before SIGKILL. */
  stopGraceMs?: number;
}

const noop = () => {};

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(
    () => true,
    () => false,
  );
}

/** Every jail under one root directory. */
export class Jails {
  private readonly jails = new Map<string, Jail>();
  private readonly root: string;
  private readonly iso: Isolation;
  private readonly runtime: RuntimeFiles;
  private readonly startTimeoutMs: number;
  private readonly stopGraceMs: number;

  constructor(root: string, iso: Isolation, runtime: RuntimeFiles, opts: JailOptions = {}) {
    this.root = root;
    this.iso = iso;
    this.runtime = runtime;
    this.startTimeoutMs = opts.startTimeoutMs ?? 15_000;
    this.stopGraceMs = opts.stopGraceMs ?? 5_000;
  }

  private dirOf(id: string): string {
    return join(this.root, "jails", checkJailId(id));
  }

  private entry(id: string): Jail {
    let jail = this.jails.get(id);
    if (!jail) {
      const dir = this.dirOf(id);
      jail = {
        id,
        dir,
        workspaceDir: join(dir, "workspace"),
        stateDir: join(dir, "state"),
        homeDir: join(dir, "home"),
        runDir: join(dir, "run"),
        run: null,
        starting: null,
        children: new Set(),
      };
      this.jails.set(id, jail);
    }
    return jail;
  }

  /** A jail this sandboxd ran, or whose directories exist; 404 JAIL_NOT_FOUND otherwise. */
  private async known(id: string): Promise<Jail> {
    const jail = this.jails.get(checkJailId(id));
    if (jail) return jail;
    if (await exists(this.dirOf(id))) return this.entry(id);
    throw notFound(`Jail ${id} does not exist`, "JAIL_NOT_FOUND");
  }

  /** Lets a start in progress finish (or fail) first. */
  private async settled(jail: Jail): Promise<void> {
    while (jail.starting) await jail.starting.catch(noop);
  }

  /** Every jail this sandboxd knows of in this run, and whether its runtime runs. */
  list(): Array<{ id: string; running: boolean }> {
    return [...this.jails.values()].map((j) => ({ id: j.id, running: isAlive(j.run) }));
  }

  /** Starts the jail's runtime, or reuses the running one; resolves once it answers GET /api/ping. */
  async start(id: string): Promise<JailStarted> {
    const jail = this.entry(checkJailId(id));
    if (!jail.starting) {
      const run = jail.run;
      if (isAlive(run) && run.ready) {
        return { id, running: true, pid: run.pid, startedAt: run.startedAt, restarted: false };
      }
      jail.starting = this.boot(jail).finally(() => {
        jail.starting = null;
      });
    }
    const { run, restarted } = await jail.starting;
    return { id, running: true, pid: run.pid, startedAt: run.startedAt, restarted };
  }

  private async boot(jail: Jail): Promise<{ run: Run; restarted: boolean }> {
    const files = await runtimeFiles(this.runtime);
    const restarted = jail.run !== null || (await exists(jail.dir));
    if (isAlive(jail.run)) await stopRun(jail.run, this.stopGraceMs); // Alive but never ready: a failed start's leftover.
    await mkdir(jail.workspaceDir, { recursive: true, mode: 0o755 });
    await mkdir(jail.stateDir, { recursive: true, mode: 0o700 });
    await mkdir(jail.homeDir, { recursive: true, mode: 0o700 });
    await mkdir(jail.runDir, { recursive: true, mode: 0o700 });
    // Root in the jail is the jail user on the host: its directories are that user's.
    const user = this.iso.kind === "bwrap" ? this.iso.jailUser : null;
    if (user) {
      for (const dir of [jail.workspaceDir, jail.stateDir, jail.homeDir, jail.runDir])
        await chown(dir, user.uid, user.gid);
    }
    // A dead runtime's socket would refuse the new one's bind (and answer no ping).
    await rm(join(jail.runDir, RUNTIME_SOCKET_NAME), { force: true });

    const run = spawnRun(jail, this.iso, files);
    jail.run = run;
    await untilReady(run, () => this.openSocket(jail), this.startTimeoutMs);
    return { run, restarted };
  }

  /** Opens the jail's runtime socket (never what the jail put in its place: runtime-socket.ts). */
  private openSocket(jail: Jail): RuntimeSocket {
    return openRuntimeSocket(join(jail.runDir, RUNTIME_SOCKET_NAME));
  }

  /** GET /jails/:id. */
  async status(id: string): Promise<JailStatus> {
    const jail = await this.known(id);
    const run = jail.run;
    return {
      id: jail.id,
      running: isAlive(run),
      pid: run?.pid ?? null,
      startedAt: run?.startedAt ?? null,
      exitCode: run?.exit?.exitCode ?? null,
      signal: run?.exit?.signal ?? null,
      waiting: run?.waiters.size ?? 0,
    };
  }

  /**
   * Resolves with the runtime's exit once it exits (at once if it is not running),
   * or with null when `abort` fires first; either way the listener is removed.
   */
  async wait(id: string, abort: AbortSignal): Promise<JailExit | null> {
    const jail = await this.known(id);
    await this.settled(jail);
    const run = jail.run;
    if (!run) return { exitCode: null, signal: null };
    if (run.exit) return run.exit;
    return await new Promise((resolve) => {
      const cleanup = () => {
        run.waiters.delete(done);
        abort.removeEventListener("abort", gone);
      };
      const done = (exit: JailExit) => {
        cleanup();
        resolve(exit);
      };
      const gone = () => {
        cleanup();
        resolve(null);
      };
      if (abort.aborted) return gone();
      run.waiters.add(done);
      abort.addEventListener("abort", gone, { once: true });
    });
  }

  /** Sends `signal` to the runtime's process group; false when it is not running. */
  async signal(id: string, signal: NodeJS.Signals | number): Promise<boolean> {
    const jail = await this.known(id);
    await this.settled(jail);
    const run = jail.run;
    if (!isAlive(run) || run.pgid === null) return false;
    run.expected = true;
    try {
      process.kill(-run.pgid, signal);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
      throw err;
    }
  }

  /** Stops the runtime and removes the jail's directories; false when there was no such jail. */
  async destroy(id: string): Promise<boolean> {
    const dir = this.dirOf(id);
    const jail = this.jails.get(id);
    let existed = jail !== undefined;
    if (jail) {
      await this.settled(jail);
      if (jail.run) await stopRun(jail.run, this.stopGraceMs);
      this.jails.delete(id);
    }
    existed = (await exists(dir)) || existed;
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    return existed;
  }

  /** The socket to proxy the jail's container traffic to; 503 JAIL_NOT_RUNNING unless its runtime runs. */
  async socketFor(id: string): Promise<RuntimeSocket> {
    const jail = this.jails.get(checkJailId(id));
    if (jail) await this.settled(jail);
    if (!jail || !isAlive(jail.run) || !jail.run.ready) {
      throw unavailable(`Jail ${id} is not running (POST /jails/${id} starts it)`, "JAIL_NOT_RUNNING");
    }
    return this.openSocket(jail);
  }

  /** Shutdown: SIGKILL every jail (synchronously, so it works from an exit handler). */
  killEverything(): number {
    let n = 0;
    for (const jail of this.jails.values()) {
      const run = jail.run;
      if (!isAlive(run)) continue;
      run.expected = true;
      if (killTree(run.child)) n++;
    }
    return n;
  }
}
