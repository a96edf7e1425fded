/**
 * @module runner/archiver
 * Takes a snapshot (restic's write order): scan the workspace, reuse cached
 * hashes, find blobs the parent snapshot does not already hold (their locations
 * are reused as they are), pack and upload only the new ones, then commit the
 * manifest, which moves the head from the parent by compare-and-swap. Nothing
 * before the commit changes what the head points to, so a runner killed anywhere
 * leaves the previous snapshot as the head. When the entries equal the parent's,
 * nothing is written at all.
 *
 * Three steps, one module each: the entries are planned from the scan and the
 * hash cache (planEntries, here); each file whose hash is unknown (or whose blob
 * must be stored) is read once and its new blob packed and uploaded
 * (blob-saver.ts); the manifest is committed (commit.ts).
 *
 * If the commit answers HEAD_MOVED (another snapshot, e.g. `sync --watch` or a
 * job, moved the head meanwhile), the snapshot is rebased: the new head becomes
 * the parent and the commit is retried (packs already uploaded stay as they are),
 * at most MAX_REBASES times.
 *
 * A fresh workspace (never restored since its container started: no state.json)
 * is never snapshotted over a project that has a head: that would make an empty
 * or partial tree the project's work (WORKSPACE_NOT_RESTORED).
 */
import {
  type BlobLocation,
  type Manifest,
  type ManifestEntry,
  PACK_TARGET_BYTES,
  type RunnerResult,
  type SnapshotId,
} from "../../src/shared/snapshot-format.ts";
import { type FileToRead, type SaveCounters, saveBlobs } from "./blob-saver.ts";
import { commitRebasing, loadParent, MAX_REBASES, summarize } from "./commit.ts";
import { CODES, RunnerError } from "./errors.ts";
import { sha256Hex } from "./hash.ts";
import { HashCache } from "./hash-cache.ts";
import type { IgnoreRules } from "./ignore.ts";
import { type ScanEntry, scanWorkspace } from "./scan.ts";
import { type RunnerState, readState, statePaths } from "./state.ts";
import type { SnapshotStore } from "./store.ts";
import { withWorkspaceLock } from "./workspace-lock.ts";

export { MAX_REBASES, summarize };

/** The blob id of empty content (empty files store nothing). */
export const EMPTY_BLOB = sha256Hex("");

/** Inputs of one snapshot. */
export interface ArchiveOptions {
  store: SnapshotStore;
  workspace: string;
  /** The runner's state directory (state.json, hash cache, spool), outside the workspace. */
  stateDir: string;
  projectId: string;
  rules: IgnoreRules;
  /** Pack cut size (default PACK_TARGET_BYTES; tests use small packs). */
  packTargetBytes?: number;
  /** Files read in parallel (default 8). */
  hashConcurrency?: number;
  /** Pack uploads in flight (default 2). */
  uploadConcurrency?: number;
  /**
   * The head as the caller knows it, with its manifest (a job's restore or last snapshot):
   * not fetched again. If the head moved meanwhile, the commit finds out and rebases.
   */
  parent?: { head: SnapshotId | null; manifest: Manifest | null };
  log?: (message: string) => void;
}

/** The fields of the runner's `snapshot` result (src/shared/snapshot-format.ts), defined there once. */
type SnapshotResultFields = Omit<Extract<RunnerResult, { ok: true; command: "snapshot" }>, "ok" | "command">;

/** What a snapshot did; the RunnerResult fields plus counters for tests and logs. */
export interface ArchiveResult extends SnapshotResultFields, Omit<SaveCounters, "uploadedBytes"> {
  /** HEAD_MOVED answers this snapshot rebased on. */
  rebases: number;
  /** The head's manifest now: the one committed, or the parent when nothing changed. */
  manifest: Manifest;
}

type FileEntry = Extract<ManifestEntry, { type: "file" }>;

/**
 * Takes one snapshot of `workspace`, holding the workspace lock (no restore runs
 * meanwhile). Throws RunnerError (e.g. HEAD_MOVED) on failure.
 */
export async function takeSnapshot(opts: ArchiveOptions): Promise<ArchiveResult> {
  return withWorkspaceLock(opts.stateDir, () => snapshotLocked(opts), opts.log);
}

async function snapshotLocked(opts: ArchiveOptions): Promise<ArchiveResult> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const paths = statePaths(opts.stateDir);
  const { store } = opts;

  // Independent: the head and its manifest (network), the scan, the cache and the state (disk).
  const given = opts.parent;
  const [{ head, parent }, scanned, cache, state] = await Promise.all([
    given ? { head: given.head, parent: given.manifest } : loadParent(store),
    scanWorkspace(opts.workspace, opts.rules),
    HashCache.load(paths.hashCache),
    readState(opts.stateDir),
  ]);
  refuseUnrestored(state, head, opts.projectId);
  const known = new Map<string, BlobLocation>();
  for (const e of parent?.entries ?? []) if (e.type === "file" && e.loc) known.set(e.blob, e.loc);
  const { entries, toRead } = planEntries(scanned, cache, known);

  try {
    const counters = await saveBlobs(toRead, {
      store,
      workspace: opts.workspace,
      spoolDir: paths.spool,
      cache,
      known,
      packTargetBytes: opts.packTargetBytes ?? PACK_TARGET_BYTES,
      hashConcurrency: opts.hashConcurrency ?? 8,
      uploadConcurrency: opts.uploadConcurrency ?? 2,
      log,
    });
    const c = await commitRebasing({
      store,
      stateDir: opts.stateDir,
      projectId: opts.projectId,
      head,
      parent,
      entries,
      log,
    });
    return {
      files: c.summary.files,
      bytes: c.summary.bytes,
      rebases: c.rebases,
      ...counters,
      snapshotId: c.snapshotId,
      unchanged: c.unchanged,
      durationMs: Date.now() - started,
      manifest: c.manifest,
    };
  } finally {
    cache.pruneUntouched();
    await cache.save().catch((err: Error) => log(`could not save the hash cache: ${err.message}`));
  }
}

/**
 * A fresh workspace (no state.json: never restored since its container started)
 * must not replace a project's work: refuse with WORKSPACE_NOT_RESTORED.
 */
function refuseUnrestored(state: RunnerState | null, head: SnapshotId | null, projectId: string): void {
  if (state !== null || head === null) return;
  throw new RunnerError(
    CODES.notRestored,
    `The workspace was never restored since its container started, and project ${projectId} has work in ` +
      `snapshot ${head.slice(0, 12)}: refusing to replace it with this tree (restore first)`,
  );
}

/**
 * The snapshot's entries from the scan, in scan order. A file whose cached hash
 * names a blob the parent stores is done; empty files need no blob; every other
 * file is to be read (its entry's blob and loc are filled in then).
 */
function planEntries(
  scanned: readonly ScanEntry[],
  cache: HashCache,
  known: ReadonlyMap<string, BlobLocation>,
): { entries: ManifestEntry[]; toRead: FileToRead[] } {
  const entries: ManifestEntry[] = [];
  const toRead: FileToRead[] = [];
  for (const s of scanned) {
    if (s.type === "dir") entries.push({ type: "dir", path: s.path, mode: s.mode });
    else if (s.type === "symlink") entries.push({ type: "symlink", path: s.path, target: s.target });
    else {
      const entry: FileEntry = { type: "file", path: s.path, mode: s.mode, size: s.size, mtimeMs: s.mtimeMs, blob: "" };
      entries.push(entry);
      if (s.size === 0) {
        entry.blob = EMPTY_BLOB;
        continue;
      }
      const cached = cache.get(s.path, s);
      const loc = cached === undefined ? undefined : known.get(cached);
      if (cached !== undefined && loc) {
        entry.blob = cached;
        entry.loc = loc;
      } else toRead.push({ entry, scan: s });
    }
  }
  return { entries, toRead };
}
