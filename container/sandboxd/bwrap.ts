/**
 * @module sandboxd/bwrap
 * Detects bubblewrap once and builds the argv that runs a command in a project's
 * sandbox: the workspace read-write at /workspace, the system directories
 * read-only, private /tmp, /proc (its kernel knobs read-only) and /dev, a network of its
 * own, and nothing else of the host (not the repository, not other workspaces, not any home
 * directory). A jail's container runtime (jails.ts) runs under the same argv plus its own
 * binds (jailIsolation).
 */
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { RUNNER_NODE, RUNNER_STATE_DIR } from "../../src/shared/snapshot-format.ts";
import { executeOnlyNode } from "./runner-node.ts";
import { findOnPath } from "./which.ts";

/**
 * Where the opencode CLI appears in every sandbox. The image installs it globally
 * (on /usr/local/bin); locally sandboxd binds the repository's devDependency there
 * (see OPENCODE_HOST_BINARY), read-only, so the runner's `opencode` agent finds it
 * on PATH. Last on PATH: an image-installed opencode wins.
 */
export const OPENCODE_BIN_DIR = "/opt/opencode/bin";
/** PATH inside the sandbox (and for unisolated commands). */
export const SANDBOX_PATH = `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${OPENCODE_BIN_DIR}`;
/** Where the workspace appears inside the sandbox. */
export const WORKSPACE = "/workspace";
/**
 * Where the runner's state appears inside the sandbox: a per-project host
 * directory, so the runner's files stay out of the user's tree and die with the
 * workspace on destroy.
 */
export const STATE_DIR = RUNNER_STATE_DIR;
/** HOME inside the sandbox, as in the container image: tool caches (.npm, .cache) land here, not in /workspace. */
export const HOME_DIR = "/root";

/** Where the runner bundle appears in every sandbox (as in the container image). */
export const RUNNER_DIR = "/opt/sandbox-worker";
/** The repository's built runner bundle (`npm run build:runner`), mounted at RUNNER_DIR. */
export const DEFAULT_RUNNER_HOST_DIR = join(import.meta.dirname, "..", "..", "dist", "runner");

/**
 * The host's opencode binary: `npm install` (opencode-ai's postinstall) links the
 * platform's single-file executable to this path. Before that it is a small
 * placeholder script, and without the devDependency it is absent (then nothing
 * is bound and the opencode agent reports that opencode is not installed).
 */
export const OPENCODE_HOST_BINARY = join(
  import.meta.dirname,
  "..",
  "..",
  "node_modules",
  "opencode-ai",
  "bin",
  "opencode.exe",
);

/**
 * How commands are run: inside bubblewrap, or (loudly) unisolated. `runnerHostDir`
 * is the host directory holding the runner bundle.
 */
export type Isolation =
  | {
      kind: "bwrap";
      bwrapPath: string;
      systemArgs: string[];
      runnerHostDir: string;
      /**
       * The unprivileged host user a jail runs as when sandboxd is root: bwrap runs as it in a
       * user namespace whose uid 0 it is, so root in a jail is no one on the host. Null when
       * sandboxd is not root (a jail then runs as sandboxd's own user).
       */
      jailUser: JailUser | null;
      /** The size of a jail's /tmp (bwrap's --size; null where this bwrap lacks it: as large as the host allows). */
      tmpBytes: number | null;
    }
  | { kind: "none"; reason: string; runnerHostDir: string };

/** A host uid and gid. */
export interface JailUser {
  uid: number;
  gid: number;
}

/** Top-level entries that merged-/usr systems keep as symlinks (or real directories on older ones). */
const SYSTEM_DIRS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/** Host files under /etc a sandbox has no business reading, masked with /dev/null when present. */
function secretEtcFiles(): string[] {
  const out = ["/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers"].filter((p) =>
    existsSync(p),
  );
  try {
    for (const name of readdirSync("/etc/ssh")) {
      if (/^ssh_host_.*_key$/.test(name)) out.push(join("/etc/ssh", name));
    }
  } catch {
    // No /etc/ssh: nothing to mask.
  }
  return out;
}

/** The host-layout-dependent part of the argv: read-only /usr, /etc and the merged-usr links. */
function systemArgs(): string[] {
  const args = ["--ro-bind", "/usr", "/usr"];
  for (const dir of SYSTEM_DIRS) {
    let isLink: boolean;
    try {
      isLink = lstatSync(dir).isSymbolicLink();
    } catch {
      continue;
    }
    if (isLink) args.push("--symlink", readlinkSync(dir), dir);
    else args.push("--ro-bind", dir, dir);
  }
  args.push("--ro-bind", "/etc", "/etc");
  for (const file of secretEtcFiles()) args.push("--ro-bind", "/dev/null", file);
  return args;
}

/**
 * Finds bwrap and checks that it can actually create the namespaces (it cannot in
 * some containers). `requested: "none"` skips detection.
 */
export function detectIsolation(
  requested: "auto" | "none",
  runnerHostDir: string = DEFAULT_RUNNER_HOST_DIR,
  jailUser: JailUser | null = null,
  tmpBytes: number | null = null,
): Isolation {
  // Created if missing so the bind below always works; a later build shows through it.
  mkdirSync(runnerHostDir, { recursive: true });
  if (requested === "none") return { kind: "none", reason: "SANDBOXD_ISOLATION=none", runnerHostDir };
  const bwrapPath = findOnPath("bwrap");
  if (!bwrapPath) {
    return { kind: "none", reason: "bwrap (Debian/Ubuntu package `bubblewrap`) is not on PATH", runnerHostDir };
  }
  const sys = [...systemArgs(), "--ro-bind", runnerHostDir, RUNNER_DIR];
  const runnerNode = executeOnlyNode(SANDBOX_PATH);
  if (runnerNode) sys.push("--ro-bind", runnerNode, RUNNER_NODE);
  // Only the one executable file, read-only: the rest of node_modules stays invisible.
  if (existsSync(OPENCODE_HOST_BINARY)) sys.push("--ro-bind", OPENCODE_HOST_BINARY, `${OPENCODE_BIN_DIR}/opencode`);
  // --size came with bwrap 0.7 (Ubuntu 22.04 has 0.6): without it /tmp is unbounded, and said so.
  const help = spawnSync(bwrapPath, ["--help"], { encoding: "utf8", timeout: 10_000 }).stdout ?? "";
  const tmpSize = tmpBytes !== null && help.includes("--size") ? tmpBytes : null;
  const probe = spawnSync(bwrapPath, [...commonArgs(sys, jailUser, tmpSize), "--chdir", "/", "--", "/bin/true"], {
    env: {},
    timeout: 10_000,
    encoding: "utf8",
    ...(jailUser ?? {}),
  });
  if (probe.status !== 0) {
    const why = (probe.stderr || probe.error?.message || `exit ${probe.status}`).trim();
    return { kind: "none", reason: `bwrap is installed but cannot create a sandbox here: ${why}`, runnerHostDir };
  }
  return { kind: "bwrap", bwrapPath, systemArgs: sys, runnerHostDir, jailUser, tmpBytes: tmpSize };
}

/**
 * The kernel's knobs under /proc, which a fresh proc mount leaves writable to uid 0: read-only
 * (a write to /proc/sys/kernel/core_pattern or /proc/sysrq-trigger would act on the host), and
 * the entries that only leak host state masked, as container runtimes do. Host paths, bound
 * over the sandbox's own /proc; absent ones are skipped.
 */
function procArgs(): string[] {
  const args: string[] = [];
  for (const path of ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"]) {
    if (existsSync(path)) args.push("--ro-bind", path, path);
  }
  for (const path of ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/latency_stats"]) {
    if (existsSync(path)) args.push("--ro-bind", "/dev/null", path);
  }
  return args;
}

function commonArgs(sys: string[], jailUser: JailUser | null, tmpBytes: number | null): string[] {
  return [
    // Every namespace, the network's too: a jail's only ways out are its egress (jail-egress.ts)
    // and, when on, user-mode internet without the host's loopback (jail-network.ts).
    "--unshare-all",
    // Run as jailUser (see Isolation), bwrap makes it uid and gid 0 of a user namespace of its own.
    ...(jailUser ? ["--unshare-user", "--uid", "0", "--gid", "0"] : []),
    "--die-with-parent",
    "--new-session",
    "--clearenv",
    "--cap-drop",
    "ALL",
    // Port 80 of its own loopback, where the egress forwarder listens; nothing outside the jail.
    "--cap-add",
    "CAP_NET_BIND_SERVICE",
    "--hostname",
    "sandbox",
    ...sys,
    "--proc",
    "/proc",
    ...procArgs(),
    "--dev",
    "/dev",
    ...(tmpBytes === null ? [] : ["--size", String(tmpBytes)]),
    "--tmpfs",
    "/tmp",
  ];
}

/** What one sandboxed command needs. */
export interface SandboxSpawn {
  /** Host directory bound read-write at /workspace. */
  workspaceHostDir: string;
  /** Host directory bound read-write at STATE_DIR. */
  stateHostDir: string;
  /** Host directory bound read-write at HOME_DIR. */
  homeHostDir: string;
  /** Working directory inside the sandbox (a /workspace path, already confined). */
  cwd: string;
  /** The full environment of the command (sandbox defaults merged with the caller's). */
  env: Record<string, string>;
  /** Program and arguments, run without a shell unless the program is one. */
  argv: string[];
}

/** The bwrap arguments (without the bwrap path itself) that run `spec` isolated. */
export function bwrapArgv(iso: Extract<Isolation, { kind: "bwrap" }>, spec: SandboxSpawn): string[] {
  const args = [
    ...commonArgs(iso.systemArgs, iso.jailUser, iso.tmpBytes),
    ...["--bind", spec.workspaceHostDir, WORKSPACE],
    ...["--bind", spec.stateHostDir, STATE_DIR],
    ...["--bind", spec.homeHostDir, HOME_DIR],
  ];
  // After every mount point exists: the rest of / (bwrap's tmpfs root) becomes read-only.
  args.push("--remount-ro", "/");
  for (const [key, value] of Object.entries(spec.env)) args.push("--setenv", key, value);
  args.push("--chdir", spec.cwd, "--", ...spec.argv);
  return args;
}

/** Where a jail's container runtime (Bun and the runtime bundle) appears, read-only. */
export const RUNTIME_DIR = "/opt/sandbox-runtime";
export const RUNTIME_BUN = `${RUNTIME_DIR}/bun`;
export const RUNTIME_BUNDLE = `${RUNTIME_DIR}/runtime.js`;
/** The jail's `run/` directory, read-write: the runtime listens on a unix socket there. */
export const RUNTIME_RUN_DIR = "/run/sandbox-runtime";
export const RUNTIME_SOCKET_NAME = "runtime.sock";
/** Beside it, the forwarder's socket to the jail's own ports (jail-forwarder.ts; preview URLs). */
export const PORTS_SOCKET_NAME = "ports.sock";
/** What the egress forwarder writes in the run directory once it listens (jail-forwarder.ts). */
export const FORWARDER_READY_NAME = "forwarder.ready";

/** Where the egress forwarder appears (jail-forwarder.ts: the jail's entry, which then runs the runtime). */
export const RUNTIME_FORWARDER = `${RUNTIME_DIR}/forwarder.ts`;
/** The jail's egress directory (jail-egress.ts), read-only: the unix sockets its forwarder connects to. */
export const EGRESS_DIR = "/run/sandbox-egress";

/** The host side of one jail's runtime. */
export interface JailRuntime {
  /** The Bun executable (a real file: it is bind-mounted). */
  bunHostPath: string;
  /** The runtime bundle. */
  bundleHostPath: string;
  /** The jail's host `run/` directory (bound at RUNTIME_RUN_DIR). */
  runHostDir: string;
  /** The network the jail sees (undefined: the host's, unisolated only). */
  net?: JailNet;
}

/** A jail's network files on the host: its egress directory and what replaces /etc/hosts and /etc/resolv.conf. */
export interface JailNet {
  egressHostDir: string;
  forwarderHostPath: string;
  hostsFile: string;
  resolvFile: string;
}

/**
 * Where `etcPath` really is inside the jail, which sees the host's /etc: a bind goes on
 * the file a symlink (a resolv.conf managed elsewhere) points to. Null when it is absent.
 */
function bindTarget(etcPath: string): string | null {
  try {
    return realpathSync(etcPath);
  } catch {
    return null;
  }
}

/**
 * The isolation a jail's runtime runs under: `iso` plus read-only binds of Bun and
 * the bundle and the read-write run directory, so that spawn.ts's `launch` (and
 * through it `bwrapArgv`) starts it with exactly the confinement of any command.
 * Unisolated, nothing changes: the runtime then runs on the host paths.
 */
export function jailIsolation(iso: Isolation, rt: JailRuntime): Isolation {
  if (iso.kind !== "bwrap") return iso;
  const binds = [
    ...["--ro-bind", rt.bunHostPath, RUNTIME_BUN],
    ...["--ro-bind", rt.bundleHostPath, RUNTIME_BUNDLE],
    ...["--bind", rt.runHostDir, RUNTIME_RUN_DIR],
  ];
  if (rt.net) {
    binds.push("--ro-bind", rt.net.forwarderHostPath, RUNTIME_FORWARDER, "--ro-bind", rt.net.egressHostDir, EGRESS_DIR);
    for (const [file, etcPath] of [
      [rt.net.hostsFile, "/etc/hosts"],
      [rt.net.resolvFile, "/etc/resolv.conf"],
    ] as const) {
      const target = bindTarget(etcPath);
      if (target) binds.push("--ro-bind", file, target);
    }
  }
  return { ...iso, systemArgs: [...iso.systemArgs, ...binds] };
}

/** The runtime's argv and the socket path it is told to listen on (SANDBOX_RUNTIME_SOCKET). */
export function jailCommand(iso: Isolation, rt: JailRuntime): { argv: string[]; socket: string } {
  if (iso.kind === "bwrap") {
    // With a network of its own, the forwarder listens first, then runs the runtime in its process.
    const entry = rt.net ? [RUNTIME_FORWARDER] : [];
    return {
      argv: [RUNTIME_BUN, ...entry, RUNTIME_BUNDLE],
      socket: `${RUNTIME_RUN_DIR}/${RUNTIME_SOCKET_NAME}`,
    };
  }
  // Unisolated the runtime's cwd is the jail's host workspace (a sibling of run/). A unix
  // socket path has at most 107 bytes, which a deep SANDBOXD_ROOT and a 64-character jail
  // id exceed; the relative path from the cwd always fits.
  const absolute = join(rt.runHostDir, RUNTIME_SOCKET_NAME);
  const socket = Buffer.byteLength(absolute) <= 100 ? absolute : join("..", "run", RUNTIME_SOCKET_NAME);
  return { argv: [rt.bunHostPath, rt.bundleHostPath], socket };
}
