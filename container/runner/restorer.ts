/**
 * @module runner/restorer
 * Restores a snapshot (default: the head) into the workspace, touching only what
 * differs: files whose size or hash differ are downloaded (only their blobs, see
 * fetch-blobs.ts), verified and renamed into place with their mode and mtime;
 * empty directories and symlinks are recreated; entries the snapshot lacks are
 * deleted. Ignored paths (node_modules, …) are never scanned, so never deleted.
 * Every written file's SHA-256 is checked; if any cannot be written correctly the
 * restore fails with RESTORE_INCOMPLETE and state.json is not updated.
 */
import { chmod, copyFile, lstat, mkdir, rename, rm, rmdir, symlink, unlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Manifest, ManifestEntry, SnapshotId } from "../../src/shared/snapshot-format.ts";
import { CODES, RunnerError } from "./errors.ts";
import { fetchBlobs } from "./fetch-blobs.ts";
import { hashFile } from "./hash.ts";
import { HashCache } from "./hash-cache.ts";
import type { IgnoreRules } from "./ignore.ts";
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

/** Moves `src` to `dest`, replacing a directory at `dest` and copying across filesystems. */
async function moveInto(src: string, dest: string): Promise<void> {
  const st = await lstat(dest).catch(() => null);
  if (st?.isDirectory()) await rm(dest, { recursive: true, force: true });
  try {
    await rename(src, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    await copyFile(src, dest);
    await rm(src, { force: true });
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
  const manifest: Manifest = await loadManifest(opts.store, id);
  const wanted = new Map<string, ManifestEntry>(manifest.entries.map((e) => [e.path, e]));
  const local = new Map<string, ScanEntry>();
  for (const e of await scanWorkspace(ws, opts.rules)) local.set(e.path, e);
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

  // 2. Directories (owner-writable while we fill them; final modes at the end).
  for (const e of manifest.entries) {
    if (e.type !== "dir") continue;
    if (local.get(e.path)?.type !== "dir") await mkdir(join(ws, e.path), { recursive: true, mode: 0o700 });
    const st = await lstat(join(ws, e.path));
    if ((st.mode & 0o200) === 0) await chmod(join(ws, e.path), (st.mode & 0o7777) | 0o700);
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
  const cache = await HashCache.load(paths.hashCache);
  const need = new Map<string, FileEntry[]>();
  const setMeta = async (e: FileEntry): Promise<void> => {
    const abs = join(ws, e.path);
    await chmod(abs, e.mode);
    await utimes(abs, new Date(), e.mtimeMs / 1000);
    const st = await lstat(abs);
    cache.set(e.path, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }, e.blob);
  };
  for (const e of manifest.entries) {
    if (e.type !== "file") continue;
    const l = local.get(e.path);
    if (l?.type === "file" && l.size === e.size) {
      const hash = cache.get(e.path, l) ?? (await hashFile(join(ws, e.path))).hash;
      if (hash === e.blob) {
        if (l.mode !== e.mode || l.mtimeMs !== e.mtimeMs) await setMeta(e);
        else cache.set(e.path, l, hash);
        continue;
      }
    }
    const list = need.get(e.blob) ?? [];
    list.push(e);
    need.set(e.blob, list);
  }

  await rm(paths.tmp, { recursive: true, force: true });
  await mkdir(paths.tmp, { recursive: true });
  const failures: string[] = [];
  let written = 0;
  const placeVerified = async (entries: FileEntry[], tmpFile: string | null): Promise<void> => {
    for (const [n, e] of entries.entries()) {
      const abs = join(ws, e.path);
      if (tmpFile === null) {
        // Empty file: nothing to download.
        const t = join(paths.tmp, `empty-${n}-${process.pid}.tmp`);
        await writeFile(t, "");
        await moveInto(t, abs);
      } else if (n < entries.length - 1) {
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
      written++;
      changedPaths.push(e.path);
    }
  };

  const empty = [...need.entries()].filter(([, es]) => (es[0] as FileEntry).size === 0);
  for (const [, es] of empty) await placeVerified(es, null);
  const requests = [...need.entries()]
    .filter(([, es]) => (es[0] as FileEntry).size > 0)
    .map(([blob, es]) => ({ blob, loc: (es[0] as FileEntry).loc as NonNullable<FileEntry["loc"]> }));
  const { downloadedBytes, failed } = await fetchBlobs(requests, {
    store: opts.store,
    tmpDir: paths.tmp,
    log,
    place: (blob, tmpFile) => placeVerified(need.get(blob) as FileEntry[], tmpFile),
  });
  for (const [blob, reason] of failed) {
    for (const e of need.get(blob) ?? []) {
      failures.push(e.path);
      log(`could not restore ${JSON.stringify(e.path)}: ${reason}`);
    }
  }

  // 5. Final directory modes, deepest first (a read-only dir last of all).
  for (const e of [...manifest.entries].reverse()) {
    if (e.type === "dir") await chmod(join(ws, e.path), e.mode);
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
