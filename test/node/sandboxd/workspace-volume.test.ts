/**
 * @module test/node/sandboxd/workspace-volume.test
 * Workspace volumes (container/sandboxd/workspace-volume.ts) on the real kernel, as root: a
 * loop-mounted ext4 that starts empty and owned by the jail user, fills up with ENOSPC,
 * keeps its files across unmount and mount, grows, refuses to hide a non-empty directory, and
 * goes with its image. Without root everything but the "none" answer is skipped, saying so.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  detectVolumes,
  mountWorkspaceVolume,
  unmountWorkspaceVolume,
  type VolumeSupport,
} from "../../../container/sandboxd/workspace-volume.ts";
import { callAsNobody, othersCanReach } from "./helpers.ts";

const MiB = 1024 * 1024;
const IS_ROOT = process.getuid?.() === 0;
const ROOT_ONLY = IS_ROOT ? "" : " (skipped: needs root to loop-mount)";
const VOLUME_TS = resolve(import.meta.dirname, "../../../container/sandboxd/workspace-volume.ts");
const JAIL_USER = { uid: 100_000, gid: 100_000 };

/** The mount at `dir`, as /proc/self/mountinfo lists it (the last one: the topmost), or null. */
function mountLine(dir: string): string | null {
  const lines = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.split(" ")[4] === dir);
  return lines.at(-1) ?? null;
}

/** The filesystem's size in MiB. */
function sizeMiB(dir: string): number {
  const fs = statfsSync(dir);
  return (fs.blocks * fs.bsize) / MiB;
}

describe(`workspace volumes on the real kernel${ROOT_ONLY}`, () => {
  let support: VolumeSupport = { kind: "none", reason: "not probed" };
  let base = "";
  let image = "";
  let dir = "";
  const mounted: Array<[string, string]> = [];

  /** Mounts and remembers it, so that afterEach unmounts even when the test fails. */
  async function mount(
    img: string,
    at: string,
    bytes: number,
    owner: { uid: number; gid: number } | null,
    opts: { spareDir?: string } = {},
  ) {
    mounted.push([at, img]);
    await mountWorkspaceVolume(img, at, bytes, owner, opts);
  }

  beforeEach(() => {
    if (!IS_ROOT) return;
    // Real (no symlinks): mountinfo names mount points so.
    base = realpathSync(mkdtempSync(join(tmpdir(), "sandboxd-volume-test-")));
    image = join(base, "images", "ws.img");
    dir = join(base, "ws");
  });

  afterEach(async () => {
    for (const [at, img] of mounted.splice(0)) await unmountWorkspaceVolume(at, img, { remove: true });
    // Never rm -r into a mounted volume: only once nothing under base is mounted.
    if (base && !readFileSync("/proc/self/mountinfo", "utf8").includes(` ${base}/`)) {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it.skipIf(!IS_ROOT)("detects loop mounts as root, in well under a second", () => {
    const t0 = performance.now();
    support = detectVolumes();
    const ms = performance.now() - t0;
    expect(support, support.kind === "none" ? support.reason : "").toEqual({ kind: "loop" });
    expect(ms).toBeLessThan(1000);
    console.log(`workspace-volume.test: detectVolumes ${ms.toFixed(0)} ms`);
  });

  it.skipIf(!IS_ROOT)("mounts an empty volume owned by the jail user that fills up with ENOSPC", async () => {
    const t0 = performance.now();
    await mount(image, dir, 64 * MiB, JAIL_USER);
    const ms = performance.now() - t0;
    expect(readdirSync(dir)).toEqual([]);
    const st = statSync(dir);
    expect({ uid: st.uid, gid: st.gid }).toEqual(JAIL_USER);
    const line = mountLine(dir) ?? "";
    expect(line).toMatch(/ - ext4 \/dev\/loop\d+ /);
    expect(line.split(" ")[5]?.split(",")).toEqual(expect.arrayContaining(["rw", "nosuid", "nodev"]));
    // Sparse: a fresh 64 MiB image holds little more than its journal.
    expect(statSync(image).blocks * 512).toBeLessThan(16 * MiB);
    expect(sizeMiB(dir)).toBeGreaterThan(48);
    expect(sizeMiB(dir)).toBeLessThanOrEqual(64);

    writeFileSync(join(dir, "kept.txt"), "kept\n");
    const dd = spawnSync("dd", ["if=/dev/zero", `of=${join(dir, "big")}`, "bs=1M", "count=100"], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", LC_ALL: "C" },
      timeout: 20_000,
    });
    expect(dd.status).not.toBe(0);
    expect(dd.stderr).toContain("No space left on device");
    // Idempotent: mounted already, nothing changes.
    await mount(image, dir, 64 * MiB, JAIL_USER);
    expect(readdirSync(dir).sort()).toEqual(["big", "kept.txt"]);
    expect(readFileSync("/proc/self/mountinfo", "utf8").split(` ${dir} `).length - 1).toBe(1);
    console.log(`workspace-volume.test: a new 64 MiB volume mounted in ${ms.toFixed(0)} ms`);
  });

  it.skipIf(!IS_ROOT)("gives a new volume a spare formatted ahead of time, then formats the next", async () => {
    const spareDir = join(base, "spares");
    const spares = () => (existsSync(spareDir) ? readdirSync(spareDir).filter((f) => f.endsWith(".img")) : []);
    // No spare yet: the first volume formats its own; the next spare follows a moment later.
    await mount(image, dir, 64 * MiB, JAIL_USER, { spareDir });
    for (let i = 0; i < 100 && spares().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(spares()).toHaveLength(1);
    const spare = join(spareDir, spares()[0] ?? "");
    const spareInode = statSync(spare).ino;

    const second = join(base, "images", "second.img");
    const secondDir = join(base, "second");
    const t0 = performance.now();
    await mount(second, secondDir, 64 * MiB, JAIL_USER, { spareDir });
    const ms = performance.now() - t0;
    // The spare itself became the image (a rename): an empty volume of the jail user's.
    expect(statSync(second).ino).toBe(spareInode);
    // The next spare may be there already (it is formatted at once): another file, not the one taken.
    if (existsSync(spare)) expect(statSync(spare).ino).not.toBe(spareInode);
    expect(readdirSync(secondDir)).toEqual([]);
    expect({ uid: statSync(secondDir).uid, gid: statSync(secondDir).gid }).toEqual(JAIL_USER);
    expect(mountLine(secondDir) ?? "").toMatch(/ - ext4 \/dev\/loop\d+ /);
    // Another size or owner has no spare of its own yet: formatted as before.
    const third = join(base, "images", "third.img");
    await mount(third, join(base, "third"), 32 * MiB, null, { spareDir });
    expect(sizeMiB(join(base, "third"))).toBeLessThanOrEqual(32);
    console.log(`workspace-volume.test: a 64 MiB volume from a spare mounted in ${ms.toFixed(0)} ms`);
  });

  it.skipIf(!IS_ROOT)("keeps the files across unmount and mount, and removes the image", async () => {
    await mount(image, dir, 64 * MiB, null);
    mkdirSync(join(dir, "src"));
    writeFileSync(join(dir, "src", "main.ts"), "export {};\n");
    await unmountWorkspaceVolume(dir, image, { remove: false });
    expect(mountLine(dir)).toBeNull();
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(image)).toBe(true);

    const t0 = performance.now();
    await mount(image, dir, 64 * MiB, null);
    const ms = performance.now() - t0;
    expect(readFileSync(join(dir, "src", "main.ts"), "utf8")).toBe("export {};\n");
    expect(readdirSync(dir)).toEqual(["src"]);

    await unmountWorkspaceVolume(dir, image, { remove: true });
    expect(mountLine(dir)).toBeNull();
    expect(existsSync(image)).toBe(false);
    // Nothing to do is no error: not mounted, no image, no directory.
    await unmountWorkspaceVolume(dir, image, { remove: true });
    await unmountWorkspaceVolume(join(base, "never-made"), join(base, "never.img"), { remove: true });
    console.log(`workspace-volume.test: an existing volume mounted again in ${ms.toFixed(0)} ms`);
  });

  it.skipIf(!IS_ROOT)("grows a volume (online where the kernel lets it), keeping its files", async () => {
    await mount(image, dir, 64 * MiB, JAIL_USER);
    writeFileSync(join(dir, "kept.txt"), "kept\n");
    const before = sizeMiB(dir);
    // Mounted: online growth needs CAP_SYS_RESOURCE; without it the volume keeps its size until its next mount.
    await mount(image, dir, 128 * MiB, JAIL_USER);
    const online = sizeMiB(dir);
    expect(online === before || online > 100, `${before} -> ${online} MiB`).toBe(true);

    await unmountWorkspaceVolume(dir, image, { remove: false });
    const t0 = performance.now();
    await mount(image, dir, 192 * MiB, JAIL_USER);
    const ms = performance.now() - t0;
    expect(sizeMiB(dir)).toBeGreaterThan(160);
    expect(statSync(image).size).toBe(192 * MiB);
    // e2fsck before the resize remade lost+found: gone again.
    expect(readdirSync(dir)).toEqual(["kept.txt"]);
    expect(statSync(dir).uid).toBe(JAIL_USER.uid);
    // Smaller is never applied: shrinking could lose files.
    await unmountWorkspaceVolume(dir, image, { remove: false });
    await mount(image, dir, 64 * MiB, JAIL_USER);
    expect(sizeMiB(dir)).toBeGreaterThan(160);
    console.log(
      `workspace-volume.test: grown ${before.toFixed(1)} -> ${online.toFixed(1)} MiB mounted, ` +
        `-> ${sizeMiB(dir).toFixed(1)} MiB offline in ${ms.toFixed(0)} ms`,
    );
  });

  it.skipIf(!IS_ROOT)("mounts volumes for different jails at once", async () => {
    const jails = ["a", "b", "c", "d"].map((id) => ({ img: join(base, "images", `${id}.img`), at: join(base, id) }));
    const t0 = performance.now();
    await Promise.all(jails.map(({ img, at }) => mount(img, at, 32 * MiB, JAIL_USER)));
    // The same one twice at once: one mount.
    await Promise.all([mount(image, dir, 32 * MiB, null), mount(image, dir, 32 * MiB, null)]);
    const ms = performance.now() - t0;
    for (const { at } of [...jails, { at: dir }]) {
      expect(mountLine(at), at).toMatch(/ - ext4 \/dev\/loop\d+ /);
      expect(readFileSync("/proc/self/mountinfo", "utf8").split(` ${at} `).length - 1, at).toBe(1);
    }
    console.log(`workspace-volume.test: 5 volumes made and mounted side by side in ${ms.toFixed(0)} ms`);
  });

  it.skipIf(!IS_ROOT)("refuses to hide a non-empty directory and to take another mount for the volume", async () => {
    mkdirSync(dir);
    writeFileSync(join(dir, "old.txt"), "old\n");
    await expect(mount(image, dir, 32 * MiB, null)).rejects.toThrow(/is not empty \(old\.txt\)/);
    expect(mountLine(dir)).toBeNull();
    rmSync(join(dir, "old.txt"));

    const other = join(base, "images", "other.img");
    await mount(other, dir, 32 * MiB, null);
    await expect(mountWorkspaceVolume(image, dir, 32 * MiB, null)).rejects.toThrow(/already mounted from .*other\.img/);
    await expect(mountWorkspaceVolume(image, join(base, "x"), 1024, null)).rejects.toThrow(/at least/);
  });

  it.skipIf(!IS_ROOT)("unmounts a busy volume lazily", async () => {
    await mount(image, dir, 32 * MiB, null);
    const busy = spawn("sleep", ["30"], { cwd: dir, stdio: "ignore" });
    try {
      await new Promise((r) => busy.once("spawn", r));
      await unmountWorkspaceVolume(dir, image, { remove: true });
      expect(mountLine(dir)).toBeNull();
      expect(existsSync(image)).toBe(false);
    } finally {
      busy.kill("SIGKILL");
    }
  });

  // Skipped where nobody cannot reach this Node or the module (a clone in a 0700 directory).
  it.skipIf(!IS_ROOT || !othersCanReach(VOLUME_TS) || !othersCanReach(process.execPath))(
    "says none, with the reason, for a sandboxd that is not root",
    () => {
      expect(callAsNobody(VOLUME_TS, "detectVolumes")).toEqual({
        kind: "none",
        reason: "sandboxd is not root (uid 65534): only root can loop-mount a workspace volume",
      });
    },
  );

  it.skipIf(IS_ROOT)("says none, with the reason, when not root", () => {
    const s = detectVolumes();
    expect(s.kind === "none" && s.reason).toMatch(/not root/);
  });
});
