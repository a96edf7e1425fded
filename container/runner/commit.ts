/**
 * @module runner/commit
 * The last step of a snapshot: commit the manifest (moving the head from its
 * parent by compare-and-swap), or report "unchanged" when the tree equals the
 * parent's. When the store answers HEAD_MOVED (another snapshot, e.g. a
 * background `sync --watch` or a job, moved the head since this one started),
 * the snapshot is rebased rather than lost: the new head is read, becomes the
 * parent, and the commit is retried. Every pack the entries name was uploaded
 * before the first attempt, so a rebase uploads nothing. At most MAX_REBASES
 * rebases, then HEAD_MOVED is final.
 */
import type { Manifest, ManifestEntry, ManifestSummary, SnapshotId } from "../../src/shared/snapshot-format.ts";
import { CODES, RunnerError } from "./errors.ts";
import { writeState } from "./state.ts";
import { loadManifest, type SnapshotStore } from "./store.ts";

/** HEAD_MOVED answers rebased on before giving up. */
export const MAX_REBASES = 3;

type FileEntry = Extract<ManifestEntry, { type: "file" }>;

/** Summary counts of a list of entries. */
export function summarize(entries: readonly ManifestEntry[]): ManifestSummary {
  const s: ManifestSummary = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  for (const e of entries) {
    if (e.type === "file") {
      s.files++;
      s.bytes += e.size;
    } else if (e.type === "dir") s.dirs++;
    else s.symlinks++;
  }
  return s;
}

/**
 * mtimes closer than this count as equal. A restore sets mtimes through a double
 * of seconds, so sub-microsecond digits do not come back; with equal blobs the
 * content is the same anyway.
 */
export const MTIME_TOLERANCE_MS = 1;

/**
 * Whether two entry lists describe the same tree: paths, types, modes, sizes,
 * mtimes (within MTIME_TOLERANCE_MS), blobs, link targets. Where a blob is stored
 * (`loc`) does not matter: either location restores the same bytes. Structural,
 * so no stringifying of thousands of entries.
 */
export function sameEntries(a: readonly ManifestEntry[], b: readonly ManifestEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as ManifestEntry;
    const y = b[i] as ManifestEntry;
    if (x.type !== y.type || x.path !== y.path) return false;
    if (x.type === "file") {
      const f = y as FileEntry;
      if (x.mode !== f.mode || x.size !== f.size || x.blob !== f.blob) return false;
      if (Math.abs(x.mtimeMs - f.mtimeMs) >= MTIME_TOLERANCE_MS) return false;
    } else if (x.type === "dir") {
      if (x.mode !== (y as typeof x).mode) return false;
    } else if (x.target !== (y as typeof x).target) return false;
  }
  return true;
}

/** The head and its manifest (null before a project's first snapshot). */
export async function loadParent(store: SnapshotStore): Promise<{ head: SnapshotId | null; parent: Manifest | null }> {
  const head = await store.getHead();
  return { head, parent: head ? await loadManifest(store, head) : null };
}

/** Inputs of a commit: where, on top of which head, and the entries to commit. */
export interface CommitInput {
  store: SnapshotStore;
  /** The runner's state directory: state.json records the committed head. */
  stateDir: string;
  projectId: string;
  /** The head the entries were built on, and its manifest (null before the first snapshot). */
  head: SnapshotId | null;
  parent: Manifest | null;
  entries: ManifestEntry[];
  log: (m: string) => void;
}

/** What a commit did. */
export interface CommitOutcome {
  snapshotId: SnapshotId;
  /** The entries equal the parent's: nothing was written, the head stays. */
  unchanged: boolean;
  summary: ManifestSummary;
  /** HEAD_MOVED answers rebased on. */
  rebases: number;
  /** The head's manifest now: the one committed, or the parent when nothing changed. */
  manifest: Manifest;
}

/**
 * Commits `entries` on top of `head`, or reports unchanged when they equal the
 * parent's. On HEAD_MOVED, re-reads the head and retries on top of it (every pack
 * the entries name is already stored), at most MAX_REBASES times.
 */
export async function commitRebasing(input: CommitInput): Promise<CommitOutcome> {
  const { store, entries, log } = input;
  const summary = summarize(entries);
  let { head, parent } = input;
  for (let rebases = 0; ; rebases++) {
    if (parent && head && sameEntries(parent.entries, entries)) {
      await writeState(input.stateDir, head);
      return { snapshotId: head, unchanged: true, summary, rebases, manifest: parent };
    }
    // Key order as the type declares it: both sides hash JSON.stringify of this object.
    const manifest: Manifest = {
      version: 1,
      projectId: input.projectId,
      parent: head,
      createdAt: new Date().toISOString(),
      entries,
      summary,
    };
    try {
      const res = await store.commit(manifest);
      await writeState(input.stateDir, res.snapshotId);
      return { snapshotId: res.snapshotId, unchanged: false, summary, rebases, manifest };
    } catch (err) {
      if (!(err instanceof RunnerError) || err.code !== CODES.headMoved || rebases >= MAX_REBASES) throw err;
      ({ head, parent } = await loadParent(store));
      log(`the head moved to ${head?.slice(0, 12)} meanwhile; rebasing (attempt ${rebases + 1} of ${MAX_REBASES})`);
    }
  }
}
