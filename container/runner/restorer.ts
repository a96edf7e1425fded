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
 * Hashing local files to compare runs FILE_CONCURRENCY at a time. Small verified
 * files are written in synchronous batches (see flushBatch): awaited one by one,
 * ~80,000 fs calls made a 10,000-file restore ~20× slower than tar; through the
 * thread pool they cost twice the CPU of plain sync calls (bench:snapshot). A file
 * is written to a temp file in one directory, given its mode and mtime through the
 * open fd, then renamed into place, so a path never holds partial content (creating
 * it directly in its own directory was also slower on ext4, not only less safe).
 */
import {
  closeSync,
  copyFileSync,
  fchmodSync,
  fstatSync,
  futimesSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { chmod, copyFile, lstat, mkdir, rename, rm, rmdir, symlink, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { Manifest, ManifestEntry, SnapshotId } from "../../src/shared/snapshot-format.ts";
import { MTIME_TOLERANCE_MS } from "./commit.ts";
import { CODES, RunnerError } from "./errors.ts";
import { fetchBlobs } from "./fetch-blobs.ts";
import { hashFile } from "./hash.ts";
import { HashCache } from "./hash-cache.ts";
import type { IgnoreRules } from "./ignore.ts";
import { forEachLimited } from "./limiter.ts";
import { type ScanEntry, scanWorkspace } from "./scan.ts";
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

type FileEntry = Extract<ManifestEntry, { type: "file" }>;

/** Per-file operations in flight. */
const FILE_CONCURRENCY = 16;
/** Small files written per synchronous batch, at most, and their bytes (memory bound). */
const WRITE_BATCH_FILES = 256;
const WRITE_BATCH_BYTES = 8 * 1024 * 1024;

/** Moves `src` to `dest`, replacing a directory at `dest` and copying across filesystems. */
async function moveInto(src: string, dest: string): Promise<void> {
  try {
    await rename(src, dest);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOTDIR") {
      // A directory sits where the file goes (created since the scan): replace it.
      await rm(dest, { recursive: true, force: true });
      await rename(src, dest);
    } else if (code === "EXDEV") {
      await copyFile(src, dest);
      await rm(src, { force: true });
    } else throw err;
  }
}

/** moveInto, synchronously (small files written in a batch). */
function moveIntoSync(src: string, dest: string): void {
  try {
    renameSync(src, dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST" || code === "ENOTDIR") {
      rmSync(dest, { recursive: true, force: true });
      renameSync(src, dest);
    } else if (code === "EXDEV") {
      copyFileSync(src, dest);
      rmSync(src, { force: true });
    } else throw err;
  }
}

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

async function restoreLocked(opts: RestoreOptions): Promise<Omit<RestoreResult, "initialized">> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const ws = opts.workspace;
  const paths = { ...statePaths(opts.stateDir), tmp: workspaceScratch(ws) };
  const id = opts.snapshotId ?? (opts.noHead ? null : await opts.store.getHead());
  if (!id) {
    // A project with no snapshot yet: the workspace starts as it is, and is now initialised.
    await writeState(opts.stateDir, null);
    return nothingDone(null, started);
  }
  const [manifest, scanned, cache] = await Promise.all([
    loadManifest(opts.store, id),
    scanWorkspace(ws, opts.rules),
    HashCache.load(paths.hashCache),
  ]);
  const wanted = new Map<string, ManifestEntry>(manifest.entries.map((e) => [e.path, e]));
  const local = new Map<string, ScanEntry>();
  for (const e of scanned) local.set(e.path, e);
  const changedPaths: string[] = [];
  let deleted = 0;

  // 1. Delete what the snapshot lacks or holds with another type; children first.
  for (const e of [...local.values()].reverse()) {
    const w = wanted.get(e.path);
    if (w && w.type === e.type) continue;
    const abs = join(ws, e.path);
    if (e.type === "dir") {
      if (w) await rm(abs, { recursive: true, force: true });
      else {
        try {
          await rmdir(abs);
        } catch (err) {
          // Holds ignored content (e.g. node_modules): leave it.
          if ((err as NodeJS.ErrnoException).code === "ENOTEMPTY") continue;
          throw err;
        }
      }
    } else await unlink(abs);
    local.delete(e.path);
    changedPaths.push(e.path);
    deleted++;
  }

  // 2. Directories (owner-writable while we fill them; final modes at the end), parents
  //    first: entries are sorted so. Only those missing or read-only are touched.
  const dirs = manifest.entries.filter((e): e is Extract<ManifestEntry, { type: "dir" }> => e.type === "dir");
  const fixModes: typeof dirs = [];
  const umask = process.umask();
  for (const e of dirs) {
    const l = local.get(e.path);
    if (l?.type === "dir") {
      if ((l.mode & 0o200) === 0) await chmod(join(ws, e.path), l.mode | 0o700);
      if (l.mode !== e.mode || (l.mode & 0o200) === 0) fixModes.push(e);
    } else {
      // Sync: one mkdir each (parents come first), no thread-pool round trip per
      // directory; created with its final mode when mkdir can give it, so most need
      // no chmod afterwards. mkdir applies the umask and drops setuid/setgid (only
      // the sticky bit survives), and owner rwx is added while we fill it.
      const mode = e.mode | 0o700;
      const created = mkdirSync(join(ws, e.path), { recursive: true, mode });
      if (created === undefined || (mode & ~umask & 0o1777) !== e.mode) fixModes.push(e);
    }
  }

  // 3. Symlinks.
  for (const e of manifest.entries) {
    if (e.type !== "symlink") continue;
    const l = local.get(e.path);
    if (l?.type === "symlink" && l.target === e.target) continue;
    const abs = join(ws, e.path);
    const st = await lstat(abs).catch(() => null);
    if (st?.isDirectory()) await rm(abs, { recursive: true, force: true });
    else if (st) await unlink(abs);
    await symlink(e.target, abs);
    changedPaths.push(e.path);
  }

  // 4. Files: keep identical ones (fix metadata), collect the rest by blob.
  const need = new Map<string, FileEntry[]>();
  const setMeta = async (e: FileEntry): Promise<void> => {
    const abs = join(ws, e.path);
    await chmod(abs, e.mode);
    await utimes(abs, new Date(), e.mtimeMs / 1000);
    const st = await lstat(abs);
    cache.set(e.path, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }, e.blob);
  };
  const fileEntries = manifest.entries.filter((e): e is FileEntry => e.type === "file");
  const same = new Set<FileEntry>();
  await forEachLimited(fileEntries, FILE_CONCURRENCY, async (e) => {
    const l = local.get(e.path);
    if (l?.type !== "file" || l.size !== e.size) return;
    const hash = cache.get(e.path, l) ?? (await hashFile(join(ws, e.path))).hash;
    if (hash !== e.blob) return;
    same.add(e);
    if (l.mode !== e.mode || Math.abs(l.mtimeMs - e.mtimeMs) >= MTIME_TOLERANCE_MS) await setMeta(e);
    else cache.set(e.path, l, hash);
  });
  for (const e of fileEntries) {
    if (same.has(e)) continue;
    const list = need.get(e.blob) ?? [];
    list.push(e);
    need.set(e.blob, list);
  }

  await rm(paths.tmp, { recursive: true, force: true });
  await mkdir(paths.tmp, { recursive: true });
  const failures: string[] = [];
  let written = 0;
  let tmpSeq = 0;
  const done = (e: FileEntry): void => {
    written++;
    changedPaths.push(e.path);
  };
  /**
   * Small verified blobs are written in batches with synchronous calls: per file
   * open(mode)/write/futimes/fstat/close/rename to a temp name, so a path never
   * holds partial content. Through the promise API each of those ~6 calls cost a
   * thread-pool hand-off and a promise, which made restore CPU-bound at ~10× tar
   * (bench:snapshot); a batch of sync calls the page cache answers is cheaper, and
   * the event loop gets a turn between batches (the download keeps streaming).
   */
  let batch: { e: FileEntry; bytes: Buffer }[] = [];
  let batchBytes = 0;
  const flushBatch = (): void => {
    const list = batch;
    batch = [];
    batchBytes = 0;
    for (const { e, bytes } of list) {
      const t = join(paths.tmp, `f-${tmpSeq++}.tmp`);
      try {
        const fd = openSync(t, "w", e.mode);
        let st: { size: number; mtimeMs: number; ino: number };
        try {
          let at = 0;
          while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
          futimesSync(fd, new Date(), e.mtimeMs / 1000);
          const s = fstatSync(fd);
          // Created with its mode; chmod only when the umask took bits away (setuid, g+w, …).
          if ((s.mode & 0o7777) !== e.mode) fchmodSync(fd, e.mode);
          st = s;
        } finally {
          closeSync(fd);
        }
        moveIntoSync(t, join(ws, e.path));
        cache.set(e.path, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }, e.blob);
        done(e);
      } catch (err) {
        // One file failing must not drop the rest of the batch: it counts as not restored.
        rmSync(t, { force: true });
        failures.push(e.path);
        log(`could not write ${JSON.stringify(e.path)}: ${(err as Error).message}`);
      }
    }
  };
  /** Queues verified bytes for `e`; writes the batch once it is full, then yields. */
  const writeVerified = async (e: FileEntry, bytes: Buffer): Promise<void> => {
    batch.push({ e, bytes });
    batchBytes += bytes.length;
    if (batch.length >= WRITE_BATCH_FILES || batchBytes >= WRITE_BATCH_BYTES) {
      flushBatch();
      await new Promise((r) => setImmediate(r));
    }
  };
  /** Places a verified temp file (large blobs) at every path that wants it. */
  const placeFile = async (entries: FileEntry[], tmpFile: string): Promise<void> => {
    for (const [n, e] of entries.entries()) {
      const abs = join(ws, e.path);
      if (n < entries.length - 1) {
        // Same content at several paths: copy, and verify the copy too.
        const t = `${tmpFile}.${n}`;
        await copyFile(tmpFile, t);
        if ((await hashFile(t)).hash !== e.blob) {
          failures.push(e.path);
          await rm(t, { force: true });
          continue;
        }
        await moveInto(t, abs);
      } else await moveInto(tmpFile, abs);
      await setMeta(e);
      done(e);
    }
  };

  const empty = Buffer.alloc(0);
  for (const [, es] of need) {
    if ((es[0] as FileEntry).size > 0) continue;
    for (const e of es) await writeVerified(e, empty);
  }
  const requests = [...need.entries()]
    .filter(([, es]) => (es[0] as FileEntry).size > 0)
    .map(([blob, es]) => ({ blob, loc: (es[0] as FileEntry).loc as NonNullable<FileEntry["loc"]> }));
  let fetched: Awaited<ReturnType<typeof fetchBlobs>>;
  try {
    fetched = await fetchBlobs(requests, {
      store: opts.store,
      tmpDir: paths.tmp,
      log,
      place: async (blob, data) => {
        const es = need.get(blob) as FileEntry[];
        if ("file" in data) return placeFile(es, data.file);
        for (const e of es) await writeVerified(e, data.bytes);
      },
    });
  } finally {
    flushBatch();
  }
  const { downloadedBytes, failed } = fetched;
  for (const [blob, reason] of failed) {
    for (const e of need.get(blob) ?? []) {
      failures.push(e.path);
      log(`could not restore ${JSON.stringify(e.path)}: ${reason}`);
    }
  }

  // 5. Final directory modes, deepest first (a read-only dir last of all); one depth at a time.
  const byDepth = new Map<number, typeof dirs>();
  for (const e of fixModes) {
    const d = e.path.split("/").length;
    const list = byDepth.get(d) ?? [];
    list.push(e);
    byDepth.set(d, list);
  }
  for (const d of [...byDepth.keys()].sort((x, y) => y - x)) {
    await forEachLimited(byDepth.get(d) ?? [], FILE_CONCURRENCY, (e) => chmod(join(ws, e.path), e.mode));
  }
  cache.pruneUntouched();
  await cache.save().catch(() => {});
  await removeScratch(ws);

  if (failures.length > 0) {
    throw new RunnerError(
      CODES.restoreIncomplete,
      `${failures.length} file(s) could not be restored exactly: ${failures
        .slice(0, 5)
        .map((p) => JSON.stringify(p))
        .join(", ")}`,
      { details: { failed: failures.slice(0, 100), snapshotId: id } },
    );
  }
  await writeState(opts.stateDir, id);
  return {
    snapshotId: id,
    restored: true,
    files: manifest.summary.files,
    downloadedBytes,
    deleted,
    written,
    changedPaths,
    durationMs: Date.now() - started,
    manifest,
  };
}
