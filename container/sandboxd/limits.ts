/**
 * @module sandboxd/limits
 * Per-jail resource limits: how many processes (and threads), how much memory (with no swap
 * beyond it), what share of the CPU, and the sizes of a jail's /tmp and workspace. The first
 * three are a cgroup per jail, named after it, under a parent group `sandboxd`:
 * - cgroup v1 (a directory per controller, e.g. /sys/fs/cgroup/memory/sandboxd/<id>);
 * - cgroup v2 (one directory in the unified hierarchy, /sys/fs/cgroup/sandboxd/<id>), the
 *   controllers enabled in the `subtree_control` of the root and of `sandboxd`.
 * The parent sits at the top of each hierarchy, not under sandboxd's own group: on v2 a group
 * holding processes (sandboxd's) can hand no controller down to children.
 *
 * The sizes are only carried here: /tmp's is bwrap's `--size`, the workspace's a volume of its
 * own (workspace-volume.ts). Only root can create groups and move processes into them; without
 * root or a writable hierarchy detectCgroups says why and jails run unlimited.
 *
 * A process joins a group by writing its pid to every `cgroup.procs` of it ({@link JailCgroup.wrap}
 * runs an argv so): its children are born in the group, so nothing of a jail starts outside it.
 */
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, readFile, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** What one jail may use. */
export interface JailLimits {
  /** Processes and threads at once (pids.max). */
  pids: number;
  /** RAM, and RAM plus swap where the controller can say so: a jail gets no swap beyond it. */
  memoryBytes: number;
  /** 1..10000, cgroup v2 cpu.weight (100 is an equal share); v1 cpu.shares scaled from it. */
  cpuWeight: number;
  /** Size of the jail's /tmp tmpfs (bwrap --size). */
  tmpBytes: number;
  /** Size of the jail's workspace volume (workspace-volume.ts). */
  workspaceBytes: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

/**
 * Sized for a 2-core, 24 GiB host running a handful of projects: one runaway jail cannot take
 * the host's memory or pids down, and an idle one is not squeezed.
 */
export const DEFAULT_LIMITS: JailLimits = Object.freeze({
  pids: 1024,
  memoryBytes: 4 * GiB,
  cpuWeight: 100,
  tmpBytes: GiB,
  workspaceBytes: 10 * GiB,
});

const UNITS: Record<string, number> = { "": 1, K: KiB, M: MiB, G: GiB, T: TiB };

/** Bytes from "1048576", "512M", "4G", "1.5G", "64KiB" (binary units); null when it is not a size. */
function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?|B)?$/i.exec(text.trim());
  if (!m) return null;
  const unit = (m[2] ?? "").toUpperCase();
  // A fraction of a byte is a typo, not a size.
  if (unit === "" && m[1]?.includes(".")) return null;
  const bytes = Math.floor(Number(m[1]) * (UNITS[unit] ?? 1));
  return Number.isSafeInteger(bytes) ? bytes : null;
}

function sizeFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const value = env[name]?.trim();
  if (!value) return fallback;
  const bytes = parseSize(value);
  if (bytes === null) {
    throw new Error(
      `${name} must be a size in bytes or with a K, M, G or T suffix (binary: "512M", "4G"), got ${JSON.stringify(value)}`,
    );
  }
  if (bytes < min) throw new Error(`${name} must be at least ${formatBytes(min)}, got ${JSON.stringify(value)}`);
  return bytes;
}

function countFrom(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const value = env[name]?.trim();
  if (!value) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * The limits from SANDBOXD_LIMIT_PIDS, SANDBOXD_LIMIT_MEMORY, SANDBOXD_LIMIT_CPU_WEIGHT,
 * SANDBOXD_LIMIT_TMP and SANDBOXD_LIMIT_DISK (unset or empty: DEFAULT_LIMITS). Throws a sentence
 * naming the variable and its value when one is unusable. The minimums only catch units
 * forgotten ("64" meant as MiB), a bare shell and an empty ext4 need about that much.
 */
export function limitsFromEnv(env: NodeJS.ProcessEnv = process.env): JailLimits {
  return {
    // 4194304 is the kernel's PID_MAX_LIMIT.
    pids: countFrom(env, "SANDBOXD_LIMIT_PIDS", DEFAULT_LIMITS.pids, 8, 4_194_304),
    memoryBytes: sizeFrom(env, "SANDBOXD_LIMIT_MEMORY", DEFAULT_LIMITS.memoryBytes, 16 * MiB),
    cpuWeight: countFrom(env, "SANDBOXD_LIMIT_CPU_WEIGHT", DEFAULT_LIMITS.cpuWeight, 1, 10_000),
    tmpBytes: sizeFrom(env, "SANDBOXD_LIMIT_TMP", DEFAULT_LIMITS.tmpBytes, MiB),
    workspaceBytes: sizeFrom(env, "SANDBOXD_LIMIT_DISK", DEFAULT_LIMITS.workspaceBytes, 16 * MiB),
  };
}

/** "4 GiB", "512 MiB", "1.5 GiB", "100 B": sizes for banners and messages. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let i = 0;
  while (Math.abs(value) >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  const text = Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, "");
  return `${text} ${units[i]}`;
}

/** v1 cpu.shares for a v2 cpu.weight: 1024 is v1's equal share, as 100 is v2's (2 is v1's minimum). */
export function cpuShares(weight: number): number {
  return Math.max(2, Math.round((weight * 1024) / 100));
}

/** Where jail groups can be made, or why not. */
export type CgroupSupport =
  | { kind: "v1"; mounts: { memory: string; pids: string; cpu: string } }
  | { kind: "v2"; root: string }
  | { kind: "none"; reason: string };

/** The parent group of every jail's group. */
export const CGROUP_PARENT = "sandboxd";

const CONTROLLERS = ["memory", "pids", "cpu"] as const;
type Controller = (typeof CONTROLLERS)[number];

/** One line of /proc/self/mountinfo, the fields used here. */
interface MountEntry {
  /** The mounted directory of its filesystem ("/" unless a subtree was mounted). */
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

function cgroupMounts(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const l = left.split(" ");
    const [fsType, , superOptions] = right.split(" ");
    if (fsType !== "cgroup" && fsType !== "cgroup2") continue;
    out.push({
      root: unescapeMountField(l[3] ?? ""),
      mountPoint: unescapeMountField(l[4] ?? ""),
      fsType,
      superOptions: (superOptions ?? "").split(","),
    });
  }
  return out;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Enables memory, pids and cpu in `<dir>/cgroup.subtree_control` where they are not yet (throws with why not). */
function enableInSubtree(dir: string): void {
  const file = join(dir, "cgroup.subtree_control");
  const enabled = readFileSync(file, "utf8").trim().split(/\s+/);
  const missing = CONTROLLERS.filter((c) => !enabled.includes(c));
  if (missing.length === 0) return;
  try {
    writeFileSync(file, missing.map((c) => `+${c}`).join(" "));
  } catch (err) {
    // EBUSY: the group holds processes (in a cgroup namespace its root is not exempt), so it may hand nothing down.
    throw new Error(`cannot enable ${missing.join(", ")} in ${file}: ${errorText(err)}`);
  }
}

/** The unified hierarchy at `root` with the parent group made and the controllers handed down to it. */
function setUpV2(root: string): CgroupSupport {
  enableInSubtree(root);
  const parent = join(root, CGROUP_PARENT);
  mkdirSync(parent, { recursive: true });
  enableInSubtree(parent);
  accessSync(join(parent, "cgroup.procs"), constants.W_OK);
  return { kind: "v2", root };
}

/** One v1 hierarchy per controller with the parent group made in each. */
function setUpV1(mounts: Record<Controller, string>): CgroupSupport {
  for (const c of CONTROLLERS) {
    const parent = join(mounts[c], CGROUP_PARENT);
    mkdirSync(parent, { recursive: true });
    accessSync(join(parent, "cgroup.procs"), constants.W_OK);
  }
  return { kind: "v1", mounts };
}

/** The controllers `cgroup.controllers` at `dir` lacks of the three. */
function missingV2Controllers(dir: string): Controller[] {
  let available: string[] = [];
  try {
    available = readFileSync(join(dir, "cgroup.controllers"), "utf8").trim().split(/\s+/);
  } catch {
    // No such file: nothing available.
  }
  return CONTROLLERS.filter((c) => !available.includes(c));
}

/**
 * Finds a hierarchy where jail groups can be made: cgroup v2 when its root offers memory, pids
 * and cpu (a pure v2 host), else cgroup v1 when each of them has a mount (v1 hosts, and hybrid
 * ones whose unified hierarchy has no controllers). Creates the parent group `sandboxd`
 * (idempotently) and checks that it is writable. Kind "none", with a sentence, otherwise.
 */
export function detectCgroups(): CgroupSupport {
  const uid = process.getuid?.();
  if (uid !== 0) {
    return { kind: "none", reason: `sandboxd is not root (uid ${uid}): only root can create a cgroup per jail` };
  }
  let mounts: MountEntry[];
  try {
    mounts = cgroupMounts();
  } catch (err) {
    return { kind: "none", reason: `cannot read /proc/self/mountinfo: ${errorText(err)}` };
  }
  const problems: string[] = [];

  const unified = mounts.filter((m) => m.fsType === "cgroup2");
  const v2 = unified.find((m) => missingV2Controllers(m.mountPoint).length === 0);
  if (v2) {
    try {
      return setUpV2(v2.mountPoint);
    } catch (err) {
      problems.push(`cgroup v2 at ${v2.mountPoint} is not usable (${errorText(err)})`);
    }
  } else if (unified[0]) {
    // On a hybrid host the controllers are v1's: said only if v1 fails too.
    const missing = missingV2Controllers(unified[0].mountPoint);
    problems.push(`cgroup v2 at ${unified[0].mountPoint} does not offer ${missing.join(", ")}`);
  }

  // A hierarchy can be mounted more than once (bind mounts): a mount of its whole tree ("/") first.
  const v1: Partial<Record<Controller, string>> = {};
  const wholeFirst = mounts.filter((m) => m.fsType === "cgroup").sort((a, b) => +(b.root === "/") - +(a.root === "/"));
  for (const m of wholeFirst) {
    for (const c of CONTROLLERS) if (m.superOptions.includes(c)) v1[c] ??= m.mountPoint;
  }
  const v1Missing = CONTROLLERS.filter((c) => v1[c] === undefined);
  if (v1Missing.length === 0) {
    try {
      return setUpV1(v1 as Record<Controller, string>);
    } catch (err) {
      problems.push(`cgroup v1 is not usable (${errorText(err)})`);
    }
  } else if (wholeFirst.length > 0) {
    problems.push(`no cgroup v1 hierarchy has ${v1Missing.join(", ")}`);
  }
  if (mounts.length === 0) problems.push("no cgroup filesystem is mounted");
  return { kind: "none", reason: `no cgroup hierarchy to limit jails in: ${problems.join("; ")}` };
}

/** Group names are jail ids; "." and ".." would name the parent or its parent. */
function checkName(name: string): string {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name) || name === "." || name === "..") {
    throw new Error(
      `cgroup name must be 1-64 characters of letters, digits, '.', '_' and '-', got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

function checkLimits(limits: JailLimits): void {
  for (const key of ["pids", "memoryBytes", "cpuWeight"] as const) {
    const n = limits[key];
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`limits.${key} must be a positive integer, got ${n}`);
  }
  if (limits.cpuWeight > 10_000) throw new Error(`limits.cpuWeight must be at most 10000, got ${limits.cpuWeight}`);
}

/** Writes one cgroup knob, saying which and what when the kernel refuses. */
async function put(file: string, value: string): Promise<void> {
  try {
    await writeFile(file, value);
  } catch (err) {
    throw new Error(`cannot write ${value} to ${file}: ${errorText(err)}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return await stat(path).then(
    () => true,
    () => false,
  );
}

/** The `<key> <number>` line of a flat-keyed cgroup file; 0 when the file or the key is missing. */
async function counter(file: string, key: string): Promise<number> {
  const text = await readFile(file, "utf8").catch(() => "");
  const m = new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return codes.includes((err as NodeJS.ErrnoException)?.code ?? "");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The knob files of one group. */
interface GroupFiles {
  /** The file and key counting OOM kills. */
  oom: [string, string];
  /** The file and key counting forks refused by pids.max. */
  pidsMax: [string, string];
}

/** One jail's cgroup: a directory per v1 hierarchy, or one v2 directory. */
export class JailCgroup {
  readonly name: string;
  readonly kind: "v1" | "v2";
  /** The group's directories (v1: one per hierarchy, a co-mounted hierarchy once). */
  readonly dirs: string[];
  /** The cgroup.procs files a process writes its pid to, to be in the group in every controller. */
  readonly procsFiles: string[];
  private readonly byController: Record<Controller, string>;
  private readonly files: GroupFiles;

  private constructor(name: string, kind: "v1" | "v2", byController: Record<Controller, string>) {
    this.name = name;
    this.kind = kind;
    this.byController = byController;
    this.dirs = [...new Set(Object.values(byController))];
    this.procsFiles = this.dirs.map((d) => join(d, "cgroup.procs"));
    this.files =
      kind === "v1"
        ? {
            oom: [join(byController.memory, "memory.oom_control"), "oom_kill"],
            pidsMax: [join(byController.pids, "pids.events"), "max"],
          }
        : {
            oom: [join(byController.memory, "memory.events"), "oom_kill"],
            pidsMax: [join(byController.pids, "pids.events"), "max"],
          };
  }

  /**
   * Creates `sandboxd/<name>` in every hierarchy of `support` and writes `limits` into it. An
   * existing group of that name is reused, its limits rewritten (a jail restarted).
   */
  static async create(
    support: Exclude<CgroupSupport, { kind: "none" }>,
    name: string,
    limits: JailLimits,
  ): Promise<JailCgroup> {
    checkName(name);
    checkLimits(limits);
    const dirOf = (mount: string) => join(mount, CGROUP_PARENT, name);
    const cg =
      support.kind === "v1"
        ? new JailCgroup(name, "v1", {
            memory: dirOf(support.mounts.memory),
            pids: dirOf(support.mounts.pids),
            cpu: dirOf(support.mounts.cpu),
          })
        : new JailCgroup(name, "v2", {
            memory: dirOf(support.root),
            pids: dirOf(support.root),
            cpu: dirOf(support.root),
          });
    const made: string[] = [];
    try {
      for (const dir of cg.dirs) {
        // Not recursive: the parent is detectCgroups' to make; a missing one is an error worth seeing.
        await mkdir(dir).then(
          () => made.push(dir),
          (err) => {
            if (!isCode(err, "EEXIST")) throw err;
          },
        );
      }
      await cg.writeLimits(limits);
    } catch (err) {
      // A group made here for nothing goes again (rmdir refuses a populated one: no harm).
      for (const dir of made) await rmdir(dir).catch(() => {});
      throw err;
    }
    return cg;
  }

  private async writeLimits(limits: JailLimits): Promise<void> {
    const { memory, pids, cpu } = this.byController;
    await put(join(pids, "pids.max"), String(limits.pids));
    if (this.kind === "v2") {
      await put(join(memory, "memory.max"), String(limits.memoryBytes));
      // Absent without swap accounting: then there is no swap to limit.
      if (await exists(join(memory, "memory.swap.max"))) await put(join(memory, "memory.swap.max"), "0");
      await put(join(cpu, "cpu.weight"), String(limits.cpuWeight));
      return;
    }
    // memsw (RAM + swap) may never be below the RAM limit: lifted first, so that either limit can move either way.
    const memsw = join(memory, "memory.memsw.limit_in_bytes");
    const hasMemsw = await exists(memsw);
    if (hasMemsw) await put(memsw, "-1");
    await put(join(memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
    if (hasMemsw) await put(memsw, String(limits.memoryBytes));
    await put(join(cpu, "cpu.shares"), String(cpuShares(limits.cpuWeight)));
  }

  /**
   * `argv` run inside the group: a POSIX shell writes its own pid to every cgroup.procs file,
   * then execs `argv` (exit 125, argv not run, when it cannot join). The shell must run as root:
   * moving a process needs write access to the files, and on v2 to the cgroup.procs of the
   * common ancestor of the old and new group too. A jail user is taken on after it (setpriv).
   */
  wrap(argv: string[]): string[] {
    const script =
      'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"';
    return ["/bin/sh", "-c", script, "sh", String(this.procsFiles.length), ...this.procsFiles, ...argv];
  }

  /** OOM kills in the group and forks refused by its pids.max; a missing file or key counts 0. */
  async events(): Promise<{ oomKills: number; pidsMax: number }> {
    const [oomKills, pidsMax] = await Promise.all([counter(...this.files.oom), counter(...this.files.pidsMax)]);
    return { oomKills, pidsMax };
  }

  /** Pids in the group in any hierarchy; none for a removed group. */
  async pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const file of this.procsFiles) {
      const text = await readFile(file, "utf8").catch((err) => {
        if (isCode(err, "ENOENT", "ENODEV")) return "";
        throw err;
      });
      for (const line of text.split("\n")) if (line.trim()) all.add(Number(line));
    }
    return [...all];
  }

  /** SIGKILLs every process in the group; how many were there. */
  private async killAll(): Promise<number> {
    const pids = await this.pids();
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
    return pids.length;
  }

  /**
   * SIGKILLs every process still in the group until none is left (a fork between the read and
   * the kill joins the next round; about 2 s at most), then removes the group's directories.
   * An already removed group is fine; one that stays busy is an Error naming what is left.
   */
  async destroy(): Promise<void> {
    const deadline = Date.now() + 2000;
    if (this.kind === "v2") {
      // Linux 5.14+: kills the whole group at once, processes forking meanwhile included.
      await writeFile(join(this.dirs[0] ?? "", "cgroup.kill"), "1").catch(() => {});
    }
    while ((await this.killAll()) > 0 && Date.now() < deadline) await sleep(10);
    for (const dir of this.dirs) {
      for (;;) {
        try {
          await rmdir(dir);
          break;
        } catch (err) {
          if (isCode(err, "ENOENT")) break;
          if (!isCode(err, "EBUSY") || Date.now() >= deadline) {
            const left = await this.pids().catch(() => []);
            throw new Error(
              `cannot remove cgroup ${dir}: ${errorText(err)}${left.length ? ` (processes still in it: ${left.join(", ")})` : ""}`,
            );
          }
          // Exiting processes leave a moment after SIGKILL.
          await this.killAll();
          await sleep(10);
        }
      }
    }
  }
}
