/**
 * @module sandboxd/jails
 * Jails: one Cloudflare container runtime (the HTTP server of the `cloudflare/sandbox`
 * image, under Bun) per sandbox, each in its own bubblewrap jail and listening on a
 * unix socket, so that sandboxd can carry a Durable Object's container traffic to it
 * (server.ts proxies `/jails/:id/container/...`). This module is the registry the
 * routes use (start, status, wait, signal, destroy, list, socketFor, killEverything);
 * how one runtime process boots, answers and stops is jail-runtime.ts.
 *
 * A jail has host directories `<root>/jails/<id>/{workspace,state,home,run}` and an egress
 * directory (egressDirOf), bound at /workspace, /var/lib/sandbox-worker, /root,
 * /run/sandbox-runtime and (read-only) /run/sandbox-egress, and a network of its own
 * (jail-egress.ts, jail-network.ts). Start is
 * idempotent: a running jail is reused, a dead one is restarted with its directories
 * as they were; only destroy removes them.
 */
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { FORWARDER_READY_NAME, type Isolation, type JailNet, PORTS_SOCKET_NAME, RUNTIME_SOCKET_NAME } from "./bwrap.ts";
import { badRequest, notFound, SandboxdError, unavailable } from "./errors.ts";
import { checkJailId } from "./ids.ts";
import { EGRESS_HTTP_PORT, JailEgress, jailHostsFile } from "./jail-egress.ts";
import { connectInternet, type Internet, jailResolvConf } from "./jail-network.ts";
import { claimResources, detachVolumeNow, type Enforcement, releaseResources } from "./jail-resources.ts";
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
import type { JailCgroup } from "./limits.ts";
import { openRuntimeSocket, type RuntimeSocket } from "./runtime-socket.ts";
import { killTree } from "./spawn.ts";

/** The port Cloudflare's runtime listens on in a container (here a unix socket): never a preview's. */
const RUNTIME_PORT = 3000;

/** Starts of a jail's runtime tried when bwrap's loopback setup fails (see boot). */
const LOOPBACK_ATTEMPTS = 5;

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
  /** What its limits stopped so far: OOM kills, forks refused at the pids limit (null without a cgroup). */
  limited: { oomKills: number; pidsMax: number } | null;
  /** Its cgroup's directories (limits.ts), empty without one. */
  cgroupDirs: string[];
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
  /** sandboxd's root, which holds `jails/<id>`. */
  root: string;
  dir: string;
  workspaceDir: string;
  stateDir: string;
  homeDir: string;
  runDir: string;
  run: Run | null;
  starting: Promise<{ run: Run; restarted: boolean }> | null;
  children: Set<ChildProcess>;
  egress: JailEgress | null;
  /** Its cgroup once claimed (jail-resources.ts): what its runtime is launched into. */
  cgroup: JailCgroup | null;
}

/** A jail's network files and the ports its forwarder listens on. */
type JailNetFiles = JailNet & { ports: number[] };

/** A jail's network: its internet, and what its egress lets through (jail-egress.ts). */
export interface JailNetworking {
  internet: Internet;
  /** sandboxd's token, which the Worker's jail egress route checks. */
  token: string | null;
  hostPorts: readonly number[];
}

/**
 * A jail's egress directory: `<root>/egress/<16 hex of its id's hash>`, short because a unix
 * socket's path has at most 107 bytes (a jail id alone is 64).
 */
function egressDirOf(root: string, id: string): string {
  return join(root, "egress", createHash("sha256").update(id).digest("hex").slice(0, 16));
}

/** The jail's forwarder, bound into it (the only file of the repository a jail sees). */
export const FORWARDER = join(import.meta.dirname, "jail-forwarder.ts");

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
  private readonly net: JailNetworking;
  private readonly enforcement: Enforcement;
  /** The /etc files every jail sees, written once. */
  private etcFiles: Promise<{ hostsFile: string; resolvFile: string }> | null = null;

  constructor(
    root: string,
    iso: Isolation,
    runtime: RuntimeFiles,
    net: JailNetworking,
    enforcement: Enforcement,
    opts: JailOptions = {},
  ) {
    this.root = root;
    this.iso = iso;
    this.runtime = runtime;
    this.net = net;
    this.enforcement = enforcement;
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
        root: this.root,
        dir,
        workspaceDir: join(dir, "workspace"),
        stateDir: join(dir, "state"),
        homeDir: join(dir, "home"),
        runDir: join(dir, "run"),
        run: null,
        starting: null,
        children: new Set(),
        egress: null,
        cgroup: null,
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

  /**
   * Starts the jail's runtime, or reuses the running one; resolves once it answers GET /api/ping.
   * `egressUrl`: the Worker's address, where the jail's requests for its hosts go.
   */
  async start(id: string, opts: { egressUrl?: string | undefined } = {}): Promise<JailStarted> {
    const jail = this.entry(checkJailId(id));
    jail.egress ??= new JailEgress(egressDirOf(this.root, id), {
      token: this.net.token,
      hostPorts: this.net.hostPorts,
      owner: this.iso.kind === "bwrap" ? this.iso.jailUser : null,
    });
    jail.egress.workerUrl = opts.egressUrl ? new URL(opts.egressUrl) : jail.egress.workerUrl;
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
    const user = this.iso.kind === "bwrap" ? this.iso.jailUser : null;
    jail.cgroup = await claimResources(this.enforcement, jail, user);
    // Root in the jail is the jail user on the host: its directories are that user's.
    if (user) {
      for (const dir of [jail.workspaceDir, jail.stateDir, jail.homeDir, jail.runDir])
        await chown(dir, user.uid, user.gid);
    }
    // A dead runtime's socket would refuse the new one's bind (and answer no ping); its forwarder's mark would lie.
    await rm(join(jail.runDir, RUNTIME_SOCKET_NAME), { force: true });
    await rm(join(jail.runDir, FORWARDER_READY_NAME), { force: true });
    await rm(join(jail.runDir, PORTS_SOCKET_NAME), { force: true });

    const net = await this.jailNet(jail);
    for (let attempt = 1; ; attempt++) {
      try {
        return { run: await this.launch(jail, files, net), restarted };
      } catch (err) {
        // bwrap's setup of a new network namespace's loopback fails now and then under load
        // (netlink answers "No child processes"; a few starts in a full test run, once three in
        // a row): a new bwrap gets a new namespace, after a pause that grows.
        const transient = err instanceof SandboxdError && err.message.includes("bwrap: loopback:");
        if (!transient || attempt >= LOOPBACK_ATTEMPTS) throw err;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  }

  /** One start of the jail's runtime: spawned, given its internet, answering. */
  private async launch(
    jail: Jail,
    files: { bun: string; bundle: string },
    net: JailNetFiles | undefined,
  ): Promise<Run> {
    const run = spawnRun(jail, this.iso, files, net, jail.cgroup);
    jail.run = run;
    if (net && this.net.internet.kind === "slirp4netns") {
      const init = await run.initPid;
      if (init !== undefined) {
        const slirp = await connectInternet(this.net.internet, init).catch(async (err) => {
          await stopRun(run, 0);
          throw err;
        });
        void run.exited.then(() => slirp.kill("SIGKILL"));
      }
    }
    // With a network of its own, started means its forwarder listens too (jail-forwarder.ts).
    const forwarderReady = join(jail.runDir, FORWARDER_READY_NAME);
    await untilReady(
      run,
      () => this.openSocket(jail),
      this.startTimeoutMs,
      () => !net || existsSync(forwarderReady),
    );
    return run;
  }

  /** The jail's network files, its egress serving (undefined unisolated: it shares the host's network). */
  private async jailNet(jail: Jail): Promise<JailNetFiles | undefined> {
    if (this.iso.kind !== "bwrap" || !jail.egress) return undefined;
    this.etcFiles ??= (async () => {
      const dir = join(this.root, "net");
      await mkdir(dir, { recursive: true, mode: 0o755 });
      const hostsFile = join(dir, "hosts");
      const resolvFile = join(dir, "resolv.conf");
      await writeFile(hostsFile, jailHostsFile(), { mode: 0o644 });
      await writeFile(resolvFile, jailResolvConf(this.net.internet), { mode: 0o644 });
      return { hostsFile, resolvFile };
    })();
    await jail.egress.open();
    return {
      ...(await this.etcFiles),
      egressHostDir: jail.egress.dir,
      forwarderHostPath: FORWARDER,
      ports: jail.egress.ports,
    };
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
      limited: (await jail.cgroup?.events()) ?? null,
      cgroupDirs: jail.cgroup?.dirs ?? [],
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
      await jail.egress?.close();
      await releaseResources(this.enforcement, jail, jail.cgroup);
      this.jails.delete(id);
    } else if (await exists(dir)) {
      // A jail of an earlier sandboxd run: its volume may still be mounted.
      await releaseResources(this.enforcement, this.entry(id), null);
      this.jails.delete(id);
    }
    await rm(egressDirOf(this.root, id), { recursive: true, force: true });
    existed = (await exists(dir)) || existed;
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    return existed;
  }

  /** The jail once a start in progress settled; 503 JAIL_NOT_RUNNING unless its runtime runs. */
  private async running(id: string): Promise<Jail> {
    const jail = this.jails.get(checkJailId(id));
    if (jail) await this.settled(jail);
    if (!jail || !isAlive(jail.run) || !jail.run.ready) {
      throw unavailable(`Jail ${id} is not running (POST /jails/${id} starts it)`, "JAIL_NOT_RUNNING");
    }
    return jail;
  }

  /** The socket to proxy the jail's container traffic to; 503 JAIL_NOT_RUNNING unless its runtime runs. */
  async socketFor(id: string): Promise<RuntimeSocket> {
    return this.openSocket(await this.running(id));
  }

  /**
   * How to reach `port` of the jail's own network (a preview URL's server): a connection to its
   * forwarder's ports socket that names the port first (jail-forwarder.ts), or, unisolated (the
   * host's network), the host's loopback. 400 INVALID_PORT for a port outside 1024-65535, the
   * runtime's 3000 or one of the jail's egress ports (they lead out of it); 503 unless it runs.
   */
  async portFor(id: string, port: number): Promise<{ connect(): Socket; close(): void }> {
    const egress = [EGRESS_HTTP_PORT, ...this.net.hostPorts];
    if (!Number.isInteger(port) || port < 1024 || port > 65535 || port === RUNTIME_PORT || egress.includes(port)) {
      throw badRequest(
        `Port ${port} cannot be reached: use 1024-65535 but ${RUNTIME_PORT} (the runtime's) and the jail's egress ports`,
        "INVALID_PORT",
      );
    }
    const jail = await this.running(id);
    if (this.iso.kind !== "bwrap") return { connect: () => connect(port, "127.0.0.1"), close: noop };
    const socket = openRuntimeSocket(join(jail.runDir, PORTS_SOCKET_NAME));
    return {
      connect: () => {
        const conn = connect(socket.path);
        conn.write(`${port}\n`);
        return conn;
      },
      close: socket.close,
    };
  }

  /** Shutdown: {@link killEverything}, then every jail's cgroup removed once its processes are gone. */
  async shutdown(): Promise<number> {
    const killed = this.killEverything();
    await Promise.all([...this.jails.values()].map((jail) => jail.cgroup?.destroy().catch(noop)));
    return killed;
  }

  /**
   * Shutdown: SIGKILL every jail and detach its volume (synchronously, so it works from an exit
   * handler). A volume's image stays: the next sandboxd mounts it again.
   */
  killEverything(): number {
    let n = 0;
    for (const jail of this.jails.values()) {
      const run = jail.run;
      if (isAlive(run)) {
        run.expected = true;
        if (killTree(run.child)) n++;
      }
      detachVolumeNow(this.enforcement, jail);
    }
    return n;
  }
}
