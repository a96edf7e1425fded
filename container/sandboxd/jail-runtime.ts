/**
 * @module sandboxd/jail-runtime
 * One run of a jail's container runtime (the HTTP server of the `cloudflare/sandbox`
 * image, under Bun): checking the configured runtime files, booting it, pinging its
 * unix socket until it answers, learning its host pid and process group, keeping the
 * tail of its output, and stopping it with a grace period. jails.ts keeps the registry
 * of jails and decides when a run starts and stops; this module is how.
 *
 * The runtime is `/opt/sandbox-runtime/bun /opt/sandbox-runtime/runtime.js`, entered through
 * the jail's egress forwarder (jail-forwarder.ts) under bwrap, with the confinement of every
 * sandboxd command (bwrap.ts `jailIsolation`, started by spawn.ts `launch`).
 *
 * Unisolated (isolation "none") Bun runs directly on the host, with the jail's
 * workspace as cwd, its host run directory for the socket and HOME / state pointing
 * at its host directories. The runtime's default cwd /workspace then does not exist
 * (commands without a cwd fail or need one), /tmp/sandbox-internal is the host's and
 * shared by every jail, and processes the runtime starts in their own process groups
 * can outlive it: a development fallback, not a sandbox.
 *
 * Under bwrap the runtime is a child of the jail's init (bwrap, PID 1 of the jail's
 * PID namespace). bwrap turns a runtime killed by signal N into exit code 128 + N,
 * so `signal` is only known when sandboxd killed bwrap itself (or unisolated).
 */
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { request } from "node:http";
import {
  EGRESS_DIR,
  FORWARDER_READY_NAME,
  type Isolation,
  type JailNet,
  type JailRuntime,
  jailCommand,
  jailIsolation,
  PORTS_SOCKET_NAME,
  RUNTIME_RUN_DIR,
  WORKSPACE,
} from "./bwrap.ts";
import { SandboxdError, unavailable } from "./errors.ts";
import type { JailCgroup } from "./limits.ts";
import type { RuntimeSocket } from "./runtime-socket.ts";
import { exitCodeOf, killTree, launch, sandboxInitPid } from "./spawn.ts";

/** How a runtime ended: the shell-style exit code, and the signal when one is known. */
export interface JailExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** The Bun executable and the runtime bundle sandboxd was given (null: not configured). */
export interface RuntimeFiles {
  bun: string | null;
  bundle: string | null;
}

/** The last bytes a runtime wrote (it logs JSON lines), for errors and crash reports. */
export class OutputTail {
  private text = "";
  private cut = false;
  private readonly maxChars: number;

  constructor(maxChars = 16 * 1024) {
    this.maxChars = maxChars;
  }

  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.maxChars) {
      this.text = this.text.slice(-this.maxChars);
      this.cut = true;
    }
  }

  /** The last `n` non-empty lines (without a line cut in half by the bound). */
  lines(n = 20): string[] {
    const lines = this.text.split("\n");
    if (this.cut) lines.shift();
    return lines.filter((l) => l.trim() !== "").slice(-n);
  }
}

/** One start of a jail's runtime. */
export interface Run {
  child: ChildProcess;
  /** Host pid of the jail's init, once bwrap reports it (undefined unisolated). */
  initPid: Promise<number | undefined>;
  /** Host pid of Bun once known (after the first ping), else null. */
  pid: number | null;
  /**
   * The runtime's process group, which signals go to. Under bwrap it is the jail
   * init's (bwrap's --new-session makes the init a session leader and Bun inherits
   * its group); the init, PID 1 of its namespace, ignores every signal from outside
   * but SIGKILL, which takes the whole jail along. Unisolated: Bun's own.
   */
  pgid: number | null;
  startedAt: string;
  exit: JailExit | null;
  exited: Promise<JailExit>;
  /** Listeners for the exit (`wait` long-polls); removed when their client goes. */
  waiters: Set<(exit: JailExit) => void>;
  /** sandboxd (or the client, by signal) ends it: its exit is no surprise worth a log line. */
  expected: boolean;
  /** It answered a ping. */
  ready: boolean;
  tail: OutputTail;
}

/** What a run needs of its jail: its id (for log lines), host directories and child set. */
export interface JailPlace {
  id: string;
  workspaceDir: string;
  stateDir: string;
  homeDir: string;
  runDir: string;
  children: Set<ChildProcess>;
}

const noop = () => {};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether `p` settles within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** GET /api/ping on the socket answers 200 (false while it cannot be opened). */
function ping(open: () => RuntimeSocket): Promise<boolean> {
  let socket: RuntimeSocket;
  try {
    socket = open();
  } catch {
    return Promise.resolve(false);
  }
  return new Promise<boolean>((resolve) => {
    const req = request(
      { socketPath: socket.path, path: "/api/ping", method: "GET", agent: false, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  }).finally(() => socket.close());
}

/** ppid and process group of `pid` from /proc/<pid>/stat, or null. */
function procStat(pid: number | string): { ppid: number; pgid: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The fields after the command (which may hold spaces and parentheses): state, ppid, pgrp, ...
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), pgid: Number(fields[2]) };
  } catch {
    return null;
  }
}

/** The host pid of a child of `parent` (the jail's init has exactly one: the runtime). */
function childOf(parent: number): number | null {
  try {
    const first = readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/)[0];
    if (first) return Number(first);
  } catch {
    // No such file on kernels without CONFIG_PROC_CHILDREN: scan instead.
  }
  for (const name of readdirSync("/proc")) {
    if (/^\d+$/.test(name) && procStat(name)?.ppid === parent) return Number(name);
  }
  return null;
}

function describeExit(exit: JailExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.exitCode}`;
}

function startFailed(message: string, tail: OutputTail): SandboxdError {
  const output = tail.lines();
  const text = output.length > 0 ? `${message}. Its last output:\n${output.join("\n")}` : `${message} (no output)`;
  return new SandboxdError("JAIL_START_FAILED", text, { output });
}

/** The run has not exited (it may not have answered a ping yet). */
export function isAlive(run: Run | null): run is Run {
  return run !== null && run.exit === null;
}

/** The configured Bun and bundle as real paths; 503 RUNTIME_MISSING when either is unset or not a file. */
export async function runtimeFiles(runtime: RuntimeFiles): Promise<{ bun: string; bundle: string }> {
  const { bun, bundle } = runtime;
  if (!bun || !bundle) {
    throw unavailable(
      "No container runtime configured: set SANDBOXD_RUNTIME_BUN (the Bun executable) and " +
        "SANDBOXD_RUNTIME_BUNDLE (the runtime bundle) to the paths `npm run build:runtime` prints",
      "RUNTIME_MISSING",
    );
  }
  for (const [name, path] of [
    ["SANDBOXD_RUNTIME_BUN", bun],
    ["SANDBOXD_RUNTIME_BUNDLE", bundle],
  ] as const) {
    const st = await stat(path).catch(() => null);
    if (!st?.isFile()) {
      throw unavailable(`${name}=${path} is not a file; run \`npm run build:runtime\``, "RUNTIME_MISSING");
    }
  }
  // bwrap binds real files; a symlink's target may lie outside what the jail can resolve.
  return { bun: await realpath(bun), bundle: await realpath(bundle) };
}

/**
 * Launches the runtime for `jail` (its directories must exist) and returns its run at
 * once; {@link untilReady} waits for it to answer. An exit the run did not expect
 * after it was ready is logged with its last output.
 */
export function spawnRun(
  jail: JailPlace,
  iso: Isolation,
  files: { bun: string; bundle: string },
  net?: JailNet & { ports: number[] },
  cgroup: JailCgroup | null = null,
): Run {
  const rt: JailRuntime = { bunHostPath: files.bun, bundleHostPath: files.bundle, runHostDir: jail.runDir, net };
  const { argv, socket } = jailCommand(iso, rt);
  const target = {
    hostDir: jail.workspaceDir,
    stateDir: jail.stateDir,
    homeDir: jail.homeDir,
    children: jail.children,
    cgroup,
  };
  const child = launch(jailIsolation(iso, rt), target, {
    argv,
    cwd: WORKSPACE,
    hostCwd: jail.workspaceDir,
    env: {
      SANDBOX_RUNTIME_SOCKET: socket,
      // For the egress forwarder (jail-forwarder.ts).
      ...(net
        ? {
            SANDBOX_EGRESS_DIR: EGRESS_DIR,
            SANDBOX_EGRESS_PORTS: net.ports.join(","),
            SANDBOX_FORWARDER_READY: `${RUNTIME_RUN_DIR}/${FORWARDER_READY_NAME}`,
            SANDBOX_PORTS_SOCKET: `${RUNTIME_RUN_DIR}/${PORTS_SOCKET_NAME}`,
          }
        : {}),
    },
  });
  const initPid = sandboxInitPid(child);
  const tail = new OutputTail();
  child.stdout?.setEncoding("utf8").on("data", (s: string) => tail.push(s));
  child.stderr?.setEncoding("utf8").on("data", (s: string) => tail.push(s));

  let exitedResolve: (exit: JailExit) => void = noop;
  const run: Run = {
    child,
    initPid,
    pid: null,
    pgid: null,
    startedAt: new Date().toISOString(),
    exit: null,
    exited: new Promise((r) => {
      exitedResolve = r;
    }),
    waiters: new Set(),
    expected: false,
    ready: false,
    tail,
  };
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
    if (run.exit) return;
    run.exit = { exitCode: exitCodeOf(code, signal), signal };
    for (const waiter of [...run.waiters]) waiter(run.exit);
    exitedResolve(run.exit);
    if (run.ready && !run.expected) {
      console.warn(
        `sandboxd: jail ${jail.id}: the container runtime exited (${describeExit(run.exit)}); last output:\n` +
          tail.lines(10).join("\n"),
      );
    }
  };
  child.once("exit", onExit);
  child.once("error", (err) => {
    tail.push(`\nsandboxd: cannot start the runtime: ${err.message}\n`);
    onExit(null, null);
  });
  return run;
}

/** How often a starting runtime is pinged. */
const POLL_MS = 10;

/**
 * Pings the `socket` until the runtime answers, then records its host pid and process
 * group and marks it ready. 500 JAIL_START_FAILED (with its last output) when it exits
 * first, or when `timeoutMs` passes (it is killed then).
 */
export async function untilReady(
  run: Run,
  socket: () => RuntimeSocket,
  timeoutMs: number,
  alsoReady: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(alsoReady() && (await ping(socket)))) {
    if (run.exit) throw startFailed(`The container runtime exited (${describeExit(run.exit)}) during start`, run.tail);
    if (Date.now() > deadline) {
      await stopRun(run, 0);
      throw startFailed(`The container runtime did not answer GET /api/ping within ${timeoutMs} ms`, run.tail);
    }
    // Often: a ping before the socket exists fails at once, and each 50 ms of sleep was
    // ~25 ms more of every start on average.
    await Promise.race([sleep(POLL_MS), run.exited]);
  }
  const init = await run.initPid;
  run.pid = init === undefined ? (run.child.pid ?? null) : (childOf(init) ?? run.child.pid ?? null);
  run.pgid = run.pid === null ? null : (procStat(run.pid)?.pgid ?? run.pid);
  run.ready = true;
}

/**
 * SIGTERM to the runtime's process group (its own graceful shutdown), then after
 * `graceMs` SIGKILL to the whole jail (spawn.ts killTree: bwrap's group and the
 * jail's init, which takes its PID namespace along).
 */
export async function stopRun(run: Run, graceMs: number): Promise<void> {
  if (run.exit) return;
  run.expected = true;
  if (run.pgid !== null && graceMs > 0) {
    try {
      process.kill(-run.pgid, "SIGTERM");
    } catch {
      // Gone already; the kill below settles it.
    }
    if (await within(run.exited, graceMs)) return;
  }
  killTree(run.child);
  await within(run.exited, 5000);
}
