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
 * Per-file work (write, mode, mtime, rename; hashing local files to compare) runs
 * FILE_CONCURRENCY at a time: awaited one by one, ~80,000 fs calls made a
 * 10,000-file restore ~20× slower than tar (bench:snapshot). A file is written to
 * a temp file, given its mode and mtime through the open handle, then renamed
 * into place, so a path never holds partial content.
 */
import { chmod, copyFile, lstat, mkdir, open, rename, rm, rmdir, symlink, unlink, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { ManifestEntry, SnapshotId } from "../../src/shared/snapshot-format.ts";
import { CODES, RunnerError } from "./errors.ts";
import { fetchBlobs } from "./fetch-blobs.ts";
import { hashFile } from "./hash.ts";
import { HashCache } from "./hash-cache.ts";
import type { IgnoreRules } from "./ignore.ts";
import { forEachLimited, Limiter } from "./limiter.ts";
import { type ScanEntry, scanWorkspace } from "./scan.ts";
import { statePaths, writeState } from "./state.ts";
import { loadManifest, type SnapshotStore } from "./store.ts";

/** Inputs of a restore. */
export interface RestoreOptions {
  store: SnapshotStore;
  workspace: string;
  rules: IgnoreRules;
  /** Snapshot to restore; the head when absent. */
  snapshotId?: SnapshotId | null;
  log?: (message: string) => void;
}

/** What a restore did. */
export interface RestoreResult {
  snapshotId: SnapshotId | null;
  restored: boolean;
  files: number;
  downloadedBytes: number;
  deleted: number;
  /** Files whose content was written. */
  written: number;
  /** Paths written or deleted (decides whether to run the package manager's install). */
  changedPaths: string[];
  durationMs: number;
}

type FileEntry = Extract<ManifestEntry, { type: "file" }>;

/** Per-file operations in flight. */
const FILE_CONCURRENCY = 16;
/** Verified blob bytes waiting to be written, at most (memory bound). */
const PENDING_WRITE_BYTES = 16 * 1024 * 1024;
/** mtimes within this many ms count as equal: utimes takes seconds, so sub-ms digits do not survive it. */
const MTIME_TOLERANCE_MS = 1;

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

/** Restores `opts.snapshotId` (or the head). Throws RESTORE_INCOMPLETE if any file could not be written exactly. */
export async function restoreSnapshot(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const ws = opts.workspace;
  const paths = statePaths(ws);
  const id = opts.snapshotId ?? (await opts.store.getHead());
  if (!id) {
    return {
      snapshotId: null,
      restored: false,
      files: 0,
      downloadedBytes: 0,
      deleted: 0,
      written: 0,
      changedPaths: [],
      durationMs: Date.now() - started,
    };
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
  for (const e of dirs) {
    const l = local.get(e.path);
    if (l?.type === "dir") {
      if ((l.mode & 0o200) === 0) await chmod(join(ws, e.path), l.mode | 0o700);
      if (l.mode !== e.mode || (l.mode & 0o200) === 0) fixModes.push(e);
    } else {
      await mkdir(join(ws, e.path), { recursive: true, mode: 0o700 });
      fixModes.push(e);
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
  /** Writes verified bytes to a temp file with the entry's mode and mtime, then renames it into place. */
  const writeVerified = async (e: FileEntry, bytes: Buffer): Promise<void> => {
    const t = join(paths.tmp, `f-${tmpSeq++}.tmp`);
    const fh = await open(t, "w", e.mode);
    let st: { size: number; mtimeMs: number; ino: number };
    try {
      let at = 0;
      while (at < bytes.length) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten;
      await fh.utimes(new Date(), e.mtimeMs / 1000);
      const s = await fh.stat();
      // Created with its mode; chmod only when the umask took bits away (setuid, g+w, …).
      if ((s.mode & 0o7777) !== e.mode) await fh.chmod(e.mode);
      st = s;
    } finally {
      await fh.close();
    }
    await moveInto(t, join(ws, e.path));
    cache.set(e.path, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }, e.blob);
    done(e);
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

  const writers = new Limiter(FILE_CONCURRENCY, PENDING_WRITE_BYTES);
  const empty = Buffer.alloc(0);
  for (const [, es] of need) {
    if ((es[0] as FileEntry).size > 0) continue;
    for (const e of es) await writers.run(() => writeVerified(e, empty));
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
        for (const e of es) await writers.run(() => writeVerified(e, data.bytes), data.bytes.length);
      },
    });
  } finally {
    await writers.drain();
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
  await rm(paths.tmp, { recursive: true, force: true });

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
  await writeState(ws, id);
  return {
    snapshotId: id,
    restored: true,
    files: manifest.summary.files,
    downloadedBytes,
    deleted,
    written,
    changedPaths,
    durationMs: Date.now() - started,
  };
}
