/**
 * @module runner/restore-tree
 * The shape of the tree during a restore, as restore-plan.ts decided it: deleting
 * what the snapshot lacks, making directories and symlinks before the files
 * arrive, and, once they have, giving directories their final modes. Directories
 * stay owner-writable while they are filled; a read-only one becomes read-only last.
 */
import { mkdirSync } from "node:fs";
import { chmod, lstat, rm, rmdir, symlink, unlink } from "node:fs/promises";
import { join } from "node:path";
import { forEachLimited } from "./limiter.ts";
import { type Deletion, type DirEntry, deepestFirst, type RestorePlan, type SymlinkEntry } from "./restore-plan.ts";

/** Directory modes set at once. */
const CHMOD_CONCURRENCY = 16;

/**
 * Deletes the planned entries, children first; returns the paths deleted. A
 * directory the snapshot lacks that still holds ignored content (node_modules) is left.
 */
export async function deleteExtras(workspace: string, deletions: readonly Deletion[]): Promise<string[]> {
  const deleted: string[] = [];
  for (const { entry, replaced } of deletions) {
    const abs = join(workspace, entry.path);
    if (entry.type === "dir") {
      if (replaced) await rm(abs, { recursive: true, force: true });
      else {
        try {
          await rmdir(abs);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOTEMPTY") continue;
          throw err;
        }
      }
    } else await unlink(abs);
    deleted.push(entry.path);
  }
  return deleted;
}

/**
 * Makes the snapshot's directories (parents first), owner-writable while they are
 * filled; only those missing or read-only are touched. Returns those whose final
 * mode is still to be set (see setFinalDirModes).
 */
export async function makeDirs(workspace: string, dirs: RestorePlan["dirs"]): Promise<DirEntry[]> {
  const fixModes: DirEntry[] = [];
  const umask = process.umask();
  for (const { entry: e, local: l } of dirs) {
    if (l) {
      if ((l.mode & 0o200) === 0) await chmod(join(workspace, e.path), l.mode | 0o700);
      if (l.mode !== e.mode || (l.mode & 0o200) === 0) fixModes.push(e);
    } else {
      // Sync: one mkdir each (parents come first), no thread-pool round trip per
      // directory; created with its final mode when mkdir can give it, so most need
      // no chmod afterwards. mkdir applies the umask and drops setuid/setgid (only
      // the sticky bit survives), and owner rwx is added while we fill it.
      const mode = e.mode | 0o700;
      const created = mkdirSync(join(workspace, e.path), { recursive: true, mode });
      if (created === undefined || (mode & ~umask & 0o1777) !== e.mode) fixModes.push(e);
    }
  }
  return fixModes;
}

/** Makes the planned symlinks, replacing whatever stands at their path now; returns their paths. */
export async function makeSymlinks(workspace: string, symlinks: readonly SymlinkEntry[]): Promise<string[]> {
  for (const e of symlinks) {
    const abs = join(workspace, e.path);
    const st = await lstat(abs).catch(() => null);
    if (st?.isDirectory()) await rm(abs, { recursive: true, force: true });
    else if (st) await unlink(abs);
    await symlink(e.target, abs);
  }
  return symlinks.map((e) => e.path);
}

/** Gives directories their final modes, deepest first, one depth at a time. */
export async function setFinalDirModes(workspace: string, dirs: readonly DirEntry[]): Promise<void> {
  for (const level of deepestFirst(dirs)) {
    await forEachLimited(level, CHMOD_CONCURRENCY, (e) => chmod(join(workspace, e.path), e.mode));
  }
}
