/**
 * @module sandboxd/workspace-volume
 * A size limit for a jail's workspace: the workspace directory is the root of an ext4
 * filesystem of its own, kept in a sparse image file and loop-mounted (`nodev,nosuid`), so a
 * jail that fills it gets ENOSPC and the host's disk is untouched. Root only (mount); without
 * root or loop devices detectVolumes says why and workspaces stay plain directories.
 *
 * The image holds the workspace across jail restarts and sandboxd restarts: mounting an
 * existing image keeps its files, a larger size grows it (never shrinks), and only unmounting
 * with `remove` deletes it. The host tools are e2fsprogs' (mkfs.ext4, e2fsck, resize2fs) and
 * util-linux's (mount, umount, losetup), each run with a bounded time and a minimal environment.
 */
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { chown, link, mkdir, open, readdir, realpath, rm, rmdir, stat, truncate, unlink } from "node:fs/promises";
import { setPriority, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { takeSpareImage } from "./spare-volumes.ts";
import { findOnPath } from "./which.ts";

/** Whether workspaces can be volumes here, or why not. */
export type VolumeSupport = { kind: "loop" } | { kind: "none"; reason: string };

/** Smallest volume: an ext4 with a journal and room for a checkout needs about this much. */
export const MIN_VOLUME_BYTES = 16 * 1024 * 1024;

/** Every command is bounded: a hung mount must not hang a jail's start forever. */
const COMMAND_TIMEOUT_MS = 30_000;

const TOOLS = ["mkfs.ext4", "e2fsck", "resize2fs", "mount", "umount", "losetup"] as const;
type Tool = (typeof TOOLS)[number];

/** The tool on PATH or in the sbin directories (a non-login root's PATH may lack them); null if absent. */
function findTool(name: string): string | null {
  return findOnPath(name, ["/usr/local/sbin", "/usr/sbin", "/sbin"]);
}

/** Host tools get no part of sandboxd's environment (its token is in it), and speak C for their messages. */
const TOOL_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" };

/** Runs a tool; resolves when its exit code is in `ok`, else rejects with the command line and its stderr. */
function run(
  tool: Tool,
  args: string[],
  ok: number[] = [0],
  opts: { background?: boolean } = {},
): Promise<{ code: number; stdout: string }> {
  const path = findTool(tool);
  const line = `${tool} ${args.join(" ")}`;
  if (!path) return Promise.reject(new Error(`${line}: ${tool} is not installed`));
  return new Promise((resolvePromise, reject) => {
    const child = execFile(
      path,
      args,
      { timeout: COMMAND_TIMEOUT_MS, killSignal: "SIGKILL", encoding: "utf8", env: TOOL_ENV },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        if (code !== null && ok.includes(code)) return resolvePromise({ code, stdout });
        const why = err?.killed
          ? `timed out after ${COMMAND_TIMEOUT_MS / 1000} s`
          : code !== null
            ? `exit code ${code}`
            : (err?.message ?? "failed");
        const output = (stderr.trim() || stdout.trim()).replace(/\s*\n\s*/g, "; ");
        reject(new Error(`${line} failed (${why})${output ? `: ${output}` : ""}`));
      },
    );
    // Work nobody waits for yields the CPU to work somebody does.
    if (opts.background && child.pid !== undefined) {
      try {
        setPriority(child.pid, 19);
      } catch {
        // Gone already, or not allowed: it runs at the usual priority.
      }
    }
  });
}

/** A quick synchronous run for the probe: null on success, else what went wrong. */
function probeRun(tool: Tool, args: string[]): string | null {
  const r = spawnSync(findTool(tool) ?? tool, args, { timeout: 5000, encoding: "utf8", env: TOOL_ENV });
  if (r.status === 0) return null;
  return `${tool} ${args.join(" ")}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`;
}

/**
 * Root, the tools, loop devices, and a probe that makes, mounts and unmounts a tiny volume in a
 * temporary directory (a container may have /dev/loop-control and still refuse loop mounts).
 * About 0.1 s.
 */
export function detectVolumes(): VolumeSupport {
  const uid = process.getuid?.();
  if (uid !== 0) {
    return { kind: "none", reason: `sandboxd is not root (uid ${uid}): only root can loop-mount a workspace volume` };
  }
  const missing = TOOLS.filter((t) => !findTool(t));
  if (missing.length > 0) {
    return {
      kind: "none",
      reason: `${missing.join(", ")} not found (Debian packages e2fsprogs and mount): workspaces cannot be volumes`,
    };
  }
  if (!existsSync("/dev/loop-control")) {
    return { kind: "none", reason: "the kernel offers no loop devices (/dev/loop-control is missing)" };
  }
  let dir: string | null = null;
  try {
    // Real: mountinfo names the mount point without symlinks.
    dir = realpathSync(mkdtempSync(join(tmpdir(), "sandboxd-volume-probe-")));
    const image = join(dir, "probe.img");
    const mnt = join(dir, "mnt");
    mkdirSync(mnt);
    writeFileSync(image, "");
    truncateSync(image, 8 * 1024 * 1024);
    const failed =
      probeRun("mkfs.ext4", ["-q", "-F", "-m", "0", image]) ??
      probeRun("mount", ["-o", "loop,nodev,nosuid", image, mnt]) ??
      probeRun("umount", [mnt]);
    if (failed) return { kind: "none", reason: `a loop-mounted ext4 volume cannot be made here: ${failed}` };
    return { kind: "loop" };
  } catch (err) {
    return { kind: "none", reason: `a loop-mounted ext4 volume cannot be probed: ${(err as Error).message}` };
  } finally {
    if (dir) {
      // Whatever the probe left: lazily unmounted first, so that rm never walks into a mounted volume.
      const mnt = join(dir, "mnt");
      if (mountAt(mnt)) probeRun("umount", ["-l", mnt]);
      if (!mountAt(mnt)) rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** The topmost mount at `dir` (an absolute real path): its source device and filesystem type, or null. */
function mountAt(dir: string): { source: string; fsType: string } | null {
  let found: { source: string; fsType: string } | null = null;
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    if (unescapeMountField(left.split(" ")[4] ?? "") !== dir) continue;
    const [fsType = "", source = ""] = right.split(" ");
    found = { source: unescapeMountField(source), fsType };
  }
  return found;
}

/** The file behind loop device `dev` (/dev/loopN), or null when it is not one. */
function loopBackingFile(dev: string): string | null {
  const m = /^\/dev\/(loop\d+)$/.exec(dev);
  if (!m) return null;
  try {
    return readFileSync(`/sys/block/${m[1]}/loop/backing_file`, "utf8")
      .trim()
      .replace(/ \(deleted\)$/, "");
  } catch {
    return null;
  }
}

/** Sizes go up to whole 4 KiB blocks, the largest an ext4 uses. */
function targetSize(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < MIN_VOLUME_BYTES) {
    throw new Error(`a workspace volume must be an integer of at least ${MIN_VOLUME_BYTES} bytes, got ${bytes}`);
  }
  return Math.ceil(bytes / 4096) * 4096;
}

async function sizeOf(path: string): Promise<number | null> {
  return await stat(path).then(
    (s) => s.size,
    () => null,
  );
}

/**
 * Makes the image: a sparse file, mkfs'd under a temporary name and linked into place only when
 * complete, so an image at `image` is never half made, and a racing creator's is kept.
 */
async function createImage(
  image: string,
  bytes: number,
  owner: { uid: number; gid: number } | null,
  opts: { background?: boolean } = {},
): Promise<void> {
  await mkdir(dirname(image), { recursive: true });
  const temp = `${image}.new-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await (await open(temp, "wx", 0o600)).close();
    await truncate(temp, bytes);
    // -m 0: no blocks reserved for root, the jail gets the whole size. Lazy journal and inode
    // tables: a 10 GiB volume costs ~4 MiB of disk at start, not the 69 MiB of a zeroed journal.
    const extended = ["lazy_itable_init=1", "lazy_journal_init=1"];
    if (owner) extended.push(`root_owner=${owner.uid}:${owner.gid}`);
    await run("mkfs.ext4", ["-q", "-F", "-m", "0", "-E", extended.join(","), temp], [0], opts);
    await link(temp, image).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
  } finally {
    await unlink(temp).catch(() => {});
  }
}

/** Offline: e2fsck (resize2fs insists on a fresh check), then a larger file, then a larger filesystem. */
async function growOffline(image: string, from: number, bytes: number): Promise<void> {
  // 1: errors corrected (a missing lost+found recreated counts).
  await run("e2fsck", ["-f", "-p", image], [0, 1]);
  await truncate(image, bytes);
  try {
    await run("resize2fs", [image]);
  } catch (err) {
    // The file back to the filesystem's size, so that the next mount tries again.
    await truncate(image, from).catch(() => {});
    throw err;
  }
}

/** Whether this process has CAP_SYS_RESOURCE (bit 24), which ext4's online resize requires. */
function canResizeOnline(): boolean {
  try {
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return hex !== undefined && ((BigInt(`0x${hex}`) >> 24n) & 1n) === 1n;
  } catch {
    return false;
  }
}

/**
 * Mounted: a larger file, the loop device told so, and ext4's online resize. Without
 * CAP_SYS_RESOURCE (root in some containers and VMs) the kernel refuses it: the volume then
 * keeps its size, said on stderr, and grows offline when it is next mounted.
 */
async function growOnline(image: string, loopDevice: string, from: number, bytes: number): Promise<void> {
  if (!canResizeOnline()) {
    console.warn(
      `sandboxd: the workspace volume ${image} stays at ${from} bytes while mounted (growing a mounted ext4 ` +
        `needs CAP_SYS_RESOURCE, which sandboxd lacks); it grows to ${bytes} bytes when next mounted`,
    );
    return;
  }
  await truncate(image, bytes);
  try {
    await run("losetup", ["-c", loopDevice]);
    await run("resize2fs", [loopDevice]);
  } catch (err) {
    // The file and the device back to the filesystem's size, so that the next mount tries again.
    await truncate(image, from).catch(() => {});
    await run("losetup", ["-c", loopDevice]).catch(() => {});
    throw err;
  }
}

/** mkfs makes lost+found and e2fsck remakes it: a workspace starts without it. Only an empty one goes. */
async function removeLostFound(dir: string): Promise<void> {
  await rmdir(join(dir, "lost+found")).catch(() => {});
}

/** Calls for one mount directory, one at a time (different directories run side by side). */
const queues = new Map<string, Promise<unknown>>();

function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const next = (queues.get(key) ?? Promise.resolve()).catch(() => {}).then(fn);
  const tail = next.catch(() => {});
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return next;
}

/**
 * Makes `mountDir` the root of an ext4 filesystem of `bytes` kept in `imagePath`: creates the
 * image if missing (sparse; no reserved blocks; its root owned by `owner`; no lost+found), grows
 * it when `bytes` is larger (online when mounted), and mounts it (`loop,nodev,nosuid`) unless it
 * is mounted there already. Existing content is kept. Refuses to mount over a non-empty
 * directory (its files would vanish under the volume) and to treat another mount there as the
 * volume. Idempotent; calls for different jails run concurrently. With `spareDir`, a missing
 * image is a spare formatted there ahead of time when one is ready (spare-volumes.ts).
 */
export async function mountWorkspaceVolume(
  imagePath: string,
  mountDir: string,
  bytes: number,
  owner: { uid: number; gid: number } | null,
  opts: { spareDir?: string } = {},
): Promise<void> {
  const size = targetSize(bytes);
  const image = resolve(imagePath);
  await mkdir(resolve(mountDir), { recursive: true });
  const dir = await realpath(mountDir);
  await serialized(dir, async () => {
    const mounted = mountAt(dir);
    if (mounted) {
      const backing = loopBackingFile(mounted.source);
      const realImage = await realpath(image).catch(() => image);
      if (backing !== realImage) {
        throw new Error(
          `${dir} is already mounted from ${backing ?? `${mounted.source} (${mounted.fsType})`}, not from ${image}`,
        );
      }
      const current = (await sizeOf(image)) ?? size;
      if (current < size) await growOnline(image, mounted.source, current, size);
    } else {
      let fresh = false;
      if ((await sizeOf(image)) === null) {
        const { spareDir } = opts;
        const makeSpare = (spare: string) => createImage(spare, size, owner, { background: true });
        const taken = spareDir !== undefined && (await takeSpareImage(spareDir, image, size, owner, makeSpare));
        if (!taken) await createImage(image, size, owner);
        fresh = true;
      }
      const current = (await sizeOf(image)) ?? size;
      const grow = current < size;
      if (grow) await growOffline(image, current, size);
      const inside = await readdir(dir);
      if (inside.length > 0) {
        throw new Error(
          `${dir} is not empty (${inside.slice(0, 3).join(", ")}${inside.length > 3 ? ", ..." : ""}): ` +
            `mounting its volume there would hide those files; move them out first`,
        );
      }
      await run("mount", ["-o", "loop,nodev,nosuid", image, dir]);
      if (fresh || grow) await removeLostFound(dir);
    }
    // A reused image made for another owner (SANDBOXD_JAIL_UID changed) follows the one asked for now.
    if (owner) {
      const st = await stat(dir);
      if (st.uid !== owner.uid || st.gid !== owner.gid) await chown(dir, owner.uid, owner.gid);
    }
  });
}

/**
 * Unmounts whatever is mounted at `mountDir` (lazily, `umount -l`, when it is busy: it goes once
 * its last user does) and, with `remove`, deletes the image. A directory that is not mounted or
 * does not exist, and an image that does not exist, are fine.
 */
export async function unmountWorkspaceVolume(
  mountDir: string,
  imagePath: string,
  opts: { remove: boolean },
): Promise<void> {
  const dir = await realpath(mountDir).catch(() => null);
  if (dir) {
    await serialized(dir, async () => {
      // Stacked mounts come off one by one (bounded: a mount that keeps coming back is an error below).
      for (let i = 0; i < 8 && mountAt(dir); i++) {
        try {
          await run("umount", [dir]);
        } catch (err) {
          if (!mountAt(dir)) break;
          await run("umount", ["-l", dir]).catch((lazyErr: Error) => {
            throw new Error(`${(err as Error).message}; then ${lazyErr.message}`);
          });
        }
      }
      if (mountAt(dir)) throw new Error(`${dir} is still mounted after unmounting it`);
    });
  }
  if (opts.remove) await rm(resolve(imagePath), { force: true });
}
