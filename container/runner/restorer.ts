/**
 * @module runner/restorer
 * Restores a snapshot (default: the head) into the workspace, touching only what
 * differs: files whose size or hash differ are downloaded (only their blobs, see
 * fetch-blobs.ts), verified and renamed into place with their mode and mtime;
 * empty directories and symlinks are recreated; entries the snapshot lacks are
 * deleted. Ignored paths (node_modules, …) are never scanned, so never deleted.
 * Every written file's SHA-256 is checked; if any cannot be written correctly the
 * restore fails with RESTORE_INCOMPLETE and state.json is not updated.
 *
 * Split as restic splits it: a pure plan (restore-plan.ts), the tree's shape —
 * deleter, directories, symlinks, final modes (restore-tree.ts) —, the blob fetcher
 * (fetch-blobs.ts), the file writer (files-writer.ts); this module runs them in
 * order and finishes (hash cache, state.json, the verdict).
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Manifest, SnapshotId } from "../../src/shared/snapshot-format.ts";
import { MTIME_TOLERANCE_MS } from "./commit.ts";
import { CODES, RunnerError } from "./errors.ts";
import { fetchBlobs } from "./fetch-blobs.ts";
import { FilesWriter, setFileMeta } from "./files-writer.ts";
import { hashFile } from "./hash.ts";
import { HashCache } from "./hash-cache.ts";
import type { IgnoreRules } from "./ignore.ts";
import { forEachLimited } from "./limiter.ts";
import { type FileEntry, groupByBlob, planRestore, type RestorePlan } from "./restore-plan.ts";
import { deleteExtras, makeDirs, makeSymlinks, setFinalDirModes } from "./restore-tree.ts";
import { scanWorkspace } from "./scan.ts";
import { readState, removeScratch, statePaths, workspaceScratch, writeState } from "./state.ts";
import { loadManifest, type SnapshotStore } from "./store.ts";
import { withWorkspaceLock } from "./workspace-lock.ts";

/** Inputs of a restore. */
export interface RestoreOptions {
  store: SnapshotStore;
  workspace: string;
  /** The runner's state directory (state.json, hash cache), outside the workspace. */
  stateDir: string;
  rules: IgnoreRules;
  /** Snapshot to restore; the head when absent. */
  snapshotId?: SnapshotId | null;
  /** The caller read the head already and the project has none: no second look. */
  noHead?: boolean;
  /** Restore only a fresh workspace (no state.json), checked under the lock. */
  ifFresh?: boolean;
  log?: (message: string) => void;
}

/** What a restore did. */
export interface RestoreResult {
  snapshotId: SnapshotId | null;
  restored: boolean;
  /** This call initialised a fresh workspace (no state.json before it). */
  initialized: boolean;
  files: number;
  downloadedBytes: number;
  deleted: number;
  /** Files whose content was written. */
  written: number;
  /** Paths written or deleted (decides whether to run the package manager's install). */
  changedPaths: string[];
  durationMs: number;
  /** The restored snapshot's manifest (null when nothing was restored), so no caller downloads it again. */
  manifest: Manifest | null;
}

/** Local files hashed at once to compare them. */
const FILE_CONCURRENCY = 16;

/**
 * Restores `opts.snapshotId` (or the head), holding the workspace lock (no snapshot
 * scans the tree meanwhile). With `ifFresh`, a workspace that was initialised
 * already is left alone. Throws RESTORE_INCOMPLETE if any file could not be
 * written exactly.
 */
export async function restoreSnapshot(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  return withWorkspaceLock(
    opts.stateDir,
    async () => {
      const before = await readState(opts.stateDir);
      if (opts.ifFresh && before) {
        (opts.log ?? (() => {}))("workspace already initialised (state.json present): not restoring");
        return { ...nothingDone(before.head, started), initialized: false };
      }
      return { ...(await restoreLocked(opts)), initialized: before === null };
    },
    opts.log,
  );
}

/** What a restore that changed nothing reports. */
function nothingDone(snapshotId: SnapshotId | null, started: number): Omit<RestoreResult, "initialized"> {
  return {
    snapshotId,
    restored: false,
    files: 0,
    downloadedBytes: 0,
    deleted: 0,
    written: 0,
    changedPaths: [],
    durationMs: Date.now() - started,
    manifest: null,
  };
}

/** Plans, then carries out: delete, directories, symlinks, files, final modes, finish. */
async function restoreLocked(opts: RestoreOptions): Promise<Omit<RestoreResult, "initialized">> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const ws = opts.workspace;
  const id = opts.snapshotId ?? (opts.noHead ? null : await opts.store.getHead());
  if (!id) {
    // A project with no snapshot yet: the workspace starts as it is, and is now initialised.
    await writeState(opts.stateDir, null);
    return nothingDone(null, started);
  }
  const [manifest, scanned, cache] = await Promise.all([
    loadManifest(opts.store, id),
    scanWorkspace(ws, opts.rules),
    HashCache.load(statePaths(opts.stateDir).hashCache),
  ]);
  const plan = planRestore(manifest.entries, scanned);

  const deleted = await deleteExtras(ws, plan.deletions);
  const fixModes = await makeDirs(ws, plan.dirs);
  const linked = await makeSymlinks(ws, plan.symlinks);
  const same = await keepIdentical(ws, plan.compare, cache);
  const need = groupByBlob(plan.files.filter((e) => !same.has(e)));
  const tmpDir = workspaceScratch(ws);
  await rm(tmpDir, { recursive: true, force: true });
  await mkdir(tmpDir, { recursive: true });
  const writer = new FilesWriter({ workspace: ws, tmpDir, cache, log });
  const downloadedBytes = await fetchAndWrite(opts.store, need, writer, tmpDir, log);
  await setFinalDirModes(ws, fixModes);

  cache.pruneUntouched();
  await cache.save().catch(() => {});
  await removeScratch(ws);
  if (writer.failures.length > 0) throw incomplete(writer.failures, id);
  await writeState(opts.stateDir, id);
  return {
    snapshotId: id,
    restored: true,
    files: manifest.summary.files,
    downloadedBytes,
    deleted: deleted.length,
    written: writer.writtenPaths.length,
    changedPaths: [...deleted, ...linked, ...writer.writtenPaths],
    durationMs: Date.now() - started,
    manifest,
  };
}

/**
 * Hashes the local files that may already be right (the cache answers for most);
 * those equal to the snapshot's are kept, their mode and mtime fixed if they differ.
 */
async function keepIdentical(ws: string, compare: RestorePlan["compare"], cache: HashCache): Promise<Set<FileEntry>> {
  const same = new Set<FileEntry>();
  await forEachLimited(compare, FILE_CONCURRENCY, async ({ entry: e, local: l }) => {
    const hash = cache.get(e.path, l) ?? (await hashFile(join(ws, e.path))).hash;
    if (hash !== e.blob) return;
    same.add(e);
    if (l.mode !== e.mode || Math.abs(l.mtimeMs - e.mtimeMs) >= MTIME_TOLERANCE_MS) await setFileMeta(ws, e, cache);
    else cache.set(e.path, l, hash);
  });
  return same;
}

/**
 * Writes every needed file: empty ones at once, the rest as their blobs arrive
 * verified. Blobs that could not be fetched count as the writer's failures.
 * Returns the bytes downloaded.
 */
async function fetchAndWrite(
  store: SnapshotStore,
  need: Map<string, FileEntry[]>,
  writer: FilesWriter,
  tmpDir: string,
  log: (message: string) => void,
): Promise<number> {
  const empty = Buffer.alloc(0);
  for (const [, es] of need) {
    if ((es[0] as FileEntry).size > 0) continue;
    for (const e of es) await writer.writeBytes(e, empty);
  }
  const requests = [...need.entries()]
    .filter(([, es]) => (es[0] as FileEntry).size > 0)
    .map(([blob, es]) => ({ blob, loc: (es[0] as FileEntry).loc as NonNullable<FileEntry["loc"]> }));
  let fetched: Awaited<ReturnType<typeof fetchBlobs>>;
  try {
    fetched = await fetchBlobs(requests, {
      store,
      tmpDir,
      log,
      place: async (blob, data) => {
        const es = need.get(blob) as FileEntry[];
        if ("file" in data) return writer.placeFile(es, data.file);
        for (const e of es) await writer.writeBytes(e, data.bytes);
      },
    });
  } finally {
    writer.flush();
  }
  for (const [blob, reason] of fetched.failed) {
    for (const e of need.get(blob) ?? []) {
      writer.failures.push(e.path);
      log(`could not restore ${JSON.stringify(e.path)}: ${reason}`);
    }
  }
  return fetched.downloadedBytes;
}

/** RESTORE_INCOMPLETE naming the first failed paths. */
function incomplete(failures: readonly string[], snapshotId: SnapshotId): RunnerError {
  const named = failures
    .slice(0, 5)
    .map((p) => JSON.stringify(p))
    .join(", ");
  return new RunnerError(
    CODES.restoreIncomplete,
    `${failures.length} file(s) could not be restored exactly: ${named}`,
    {
      details: { failed: failures.slice(0, 100), snapshotId },
    },
  );
}
