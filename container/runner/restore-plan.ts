/**
 * @module runner/restore-plan
 * What a restore must do, decided without touching the disk (restic's restorer.go
 * plans, filerestorer.go fetches, fileswriter.go writes): from the snapshot's
 * entries and the workspace's scan, which local entries go, which directories and
 * symlinks are made, which files may already be right (same size: their hash
 * decides) and which must be written. restorer.ts carries the plan out.
 */
import type { ManifestEntry } from "../../src/shared/snapshot-format.ts";
import type { ScanEntry } from "./scan.ts";

export type FileEntry = Extract<ManifestEntry, { type: "file" }>;
export type DirEntry = Extract<ManifestEntry, { type: "dir" }>;
export type SymlinkEntry = Extract<ManifestEntry, { type: "symlink" }>;
type ScanFile = Extract<ScanEntry, { type: "file" }>;
type ScanDir = Extract<ScanEntry, { type: "dir" }>;

/** A local entry to delete. */
export interface Deletion {
  entry: ScanEntry;
  /**
   * The snapshot holds another type at this path: a directory goes with its content.
   * Otherwise a directory is removed only when empty (it may hold ignored content).
   */
  replaced: boolean;
}

/** The steps of one restore, each list in the order it must run. */
export interface RestorePlan {
  /** Local entries the snapshot lacks or holds with another type; children first. */
  deletions: Deletion[];
  /** The snapshot's directories, parents first, with the local directory kept there (if any). */
  dirs: { entry: DirEntry; local: ScanDir | undefined }[];
  /** Symlinks missing or pointing elsewhere. */
  symlinks: SymlinkEntry[];
  /** Every file of the snapshot, in manifest order. */
  files: FileEntry[];
  /** Files with a local file of the same size: equal when their hashes are. */
  compare: { entry: FileEntry; local: ScanFile }[];
}

/** Plans a restore of `entries` (a manifest's, sorted parents first) over the scanned workspace. */
export function planRestore(entries: readonly ManifestEntry[], scanned: readonly ScanEntry[]): RestorePlan {
  const wanted = new Map<string, ManifestEntry>(entries.map((e) => [e.path, e]));
  // What stays of the local tree: an entry of another type at a wanted path is deleted.
  const kept = new Map<string, ScanEntry>();
  const deletions: Deletion[] = [];
  for (const e of scanned) {
    const w = wanted.get(e.path);
    if (w && w.type === e.type) kept.set(e.path, e);
    else deletions.push({ entry: e, replaced: w !== undefined });
  }
  deletions.reverse();

  const plan: RestorePlan = { deletions, dirs: [], symlinks: [], files: [], compare: [] };
  for (const e of entries) {
    const l = kept.get(e.path);
    if (e.type === "dir") plan.dirs.push({ entry: e, local: l?.type === "dir" ? l : undefined });
    else if (e.type === "symlink") {
      if (l?.type !== "symlink" || l.target !== e.target) plan.symlinks.push(e);
    } else {
      plan.files.push(e);
      if (l?.type === "file" && l.size === e.size) plan.compare.push({ entry: e, local: l });
    }
  }
  return plan;
}

/** Files grouped by blob (first appearance first), so each blob is fetched once for all its paths. */
export function groupByBlob(files: readonly FileEntry[]): Map<string, FileEntry[]> {
  const byBlob = new Map<string, FileEntry[]>();
  for (const e of files) {
    const list = byBlob.get(e.blob) ?? [];
    list.push(e);
    byBlob.set(e.blob, list);
  }
  return byBlob;
}

/**
 * Directories grouped by depth, deepest first: final modes are set in this order, so
 * a read-only parent is made so only after its children are done.
 */
export function deepestFirst<T extends { path: string }>(dirs: readonly T[]): T[][] {
  const byDepth = new Map<number, T[]>();
  for (const e of dirs) {
    const d = e.path.split("/").length;
    const list = byDepth.get(d) ?? [];
    list.push(e);
    byDepth.set(d, list);
  }
  return [...byDepth.keys()].sort((x, y) => y - x).map((d) => byDepth.get(d) ?? []);
}
