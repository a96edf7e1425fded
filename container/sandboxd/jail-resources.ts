/**
 * @module sandboxd/jail-resources
 * What a jail may use, enforced: a cgroup per jail for processes, memory and CPU share
 * (limits.ts), a volume of its own for its workspace (workspace-volume.ts), and a sized
 * /tmp (bwrap's --size, bwrap.ts). Past a limit only that jail fails: fork answers EAGAIN,
 * the kernel OOM-kills within the jail, a write answers ENOSPC. Each mechanism needs root
 * (and the host's support); where one is missing the banner says which limit is not
 * enforced and why, and jails run without it.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { JailUser } from "./bwrap.ts";
import { type CgroupSupport, detectCgroups, formatBytes, JailCgroup, type JailLimits } from "./limits.ts";
import { detectVolumes, mountWorkspaceVolume, unmountWorkspaceVolume, type VolumeSupport } from "./workspace-volume.ts";

/** The limits and how (or whether) each is enforced on this host. */
export interface Enforcement {
  limits: JailLimits;
  cgroups: CgroupSupport;
  volumes: VolumeSupport;
  /** bwrap's --size is in use (bwrap.ts detectIsolation). */
  tmpSized: boolean;
}

/** The part of a jail these functions use. */
export interface JailResourcePlace {
  id: string;
  /** sandboxd's root (SANDBOXD_ROOT). */
  root: string;
  dir: string;
  workspaceDir: string;
}

/** Detects cgroups and volumes (both need root; sandboxd isolated by bwrap only). */
export function detectEnforcement(limits: JailLimits, isolated: boolean, tmpSized: boolean): Enforcement {
  const off = (reason: string) => ({ kind: "none" as const, reason });
  if (!isolated) return { limits, cgroups: off("no isolation"), volumes: off("no isolation"), tmpSized };
  return { limits, cgroups: detectCgroups(), volumes: detectVolumes(), tmpSized };
}

/** What each jail may use, and what is not enforced (the banners' limits line). */
export function describeLimits(e: Enforcement): string {
  const { limits: l } = e;
  const enforced: string[] = [];
  const not: string[] = [];
  const cg = `${l.pids} processes, ${formatBytes(l.memoryBytes)} memory, CPU weight ${l.cpuWeight}`;
  if (e.cgroups.kind === "none") not.push(`${cg} (${e.cgroups.reason})`);
  else enforced.push(`${cg} (cgroup ${e.cgroups.kind})`);
  if (e.tmpSized) enforced.push(`/tmp ${formatBytes(l.tmpBytes)}`);
  else not.push("/tmp size (bwrap lacks --size)");
  if (e.volumes.kind === "loop") enforced.push(`workspace ${formatBytes(l.workspaceBytes)} (ext4 volume)`);
  else not.push(`workspace ${formatBytes(l.workspaceBytes)} (${e.volumes.reason})`);
  const line = enforced.join(", ") || "none";
  return not.length > 0 ? `${line}; NOT ENFORCED: ${not.join("; ")}` : line;
}

/**
 * A jail's cgroup name: its id and sandboxd's root, hashed. Two sandboxds (two `npm run dev`s, or
 * test stacks) may host jails of the same id (a Durable Object id is the same for the same name),
 * and must not share, or destroy, each other's groups. 32 hex characters (a name has at most 64).
 */
function cgroupName(root: string, id: string): string {
  return createHash("sha256").update(`${root}\0${id}`).digest("hex").slice(0, 32);
}

/** Where, under sandboxd's root, formatted images wait for new jails (spare-volumes.ts). */
const SPARE_VOLUMES_DIR = "spare-volumes";

function imageOf(jail: JailResourcePlace): string {
  return join(jail.dir, "workspace.img");
}

/**
 * Before a jail's runtime starts: its workspace volume mounted (kept across restarts) and its
 * cgroup made (reused across restarts), which the runtime is then launched into.
 */
export async function claimResources(
  e: Enforcement,
  jail: JailResourcePlace,
  owner: JailUser | null,
): Promise<JailCgroup | null> {
  if (e.volumes.kind === "loop") {
    await mountWorkspaceVolume(imageOf(jail), jail.workspaceDir, e.limits.workspaceBytes, owner, {
      spareDir: join(jail.root, SPARE_VOLUMES_DIR),
    });
  }
  return e.cgroups.kind === "none"
    ? null
    : await JailCgroup.create(e.cgroups, cgroupName(jail.root, jail.id), e.limits);
}

/** On destroy, after its runtime stopped: every process of the cgroup killed, the group and the volume gone. */
export async function releaseResources(
  e: Enforcement,
  jail: JailResourcePlace,
  cgroup: JailCgroup | null,
): Promise<void> {
  await cgroup?.destroy();
  if (e.volumes.kind === "loop") await unmountWorkspaceVolume(jail.workspaceDir, imageOf(jail), { remove: true });
}

/** At shutdown, synchronously: the volume detached (lazily) so the jail's directory can go; the image stays. */
export function detachVolumeNow(e: Enforcement, jail: JailResourcePlace): void {
  if (e.volumes.kind === "loop") spawnSync("umount", ["-l", jail.workspaceDir], { timeout: 10_000, stdio: "ignore" });
}
