/**
 * @module runner/files-writer
 * Puts verified file content into the workspace for a restore (restic's
 * fileswriter.go): each file is written to a temp file in one scratch directory,
 * given its mode and mtime through the open fd, then renamed into place, so a path
 * never holds partial content (creating it directly in its own directory was also
 * slower on ext4, not only less safe). A file that cannot be written is recorded
 * as a failure and the rest go on; the restorer decides what failures mean.
 *
 * Small files are written in synchronous batches (see flush): awaited one by one,
 * ~80,000 fs calls made a 10,000-file restore ~20× slower than tar; through the
 * thread pool they cost twice the CPU of plain sync calls (bench:snapshot).
 */
import {
  closeSync,
  copyFileSync,
  fchmodSync,
  fstatSync,
  futimesSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { chmod, copyFile, lstat, rename, rm, utimes } from "node:fs/promises";
import { join } from "node:path";
import { hashFile } from "./hash.ts";
import type { HashCache } from "./hash-cache.ts";
import type { FileEntry } from "./restore-plan.ts";

/** Small files written per synchronous batch, at most, and their bytes (memory bound). */
const WRITE_BATCH_FILES = 256;
const WRITE_BATCH_BYTES = 8 * 1024 * 1024;

/** Errors of a rename that a directory standing where the file goes explains (created since the scan). */
const DIR_IN_THE_WAY = new Set(["EISDIR", "ENOTEMPTY", "EEXIST", "ENOTDIR"]);

/** Moves `src` to `dest`, replacing a directory at `dest` and copying across filesystems. */
async function moveInto(src: string, dest: string): Promise<void> {
  try {
    await rename(src, dest);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "";
    if (DIR_IN_THE_WAY.has(code)) {
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
    const code = (err as NodeJS.ErrnoException).code ?? "";
    if (DIR_IN_THE_WAY.has(code)) {
      rmSync(dest, { recursive: true, force: true });
      renameSync(src, dest);
    } else if (code === "EXDEV") {
      copyFileSync(src, dest);
      rmSync(src, { force: true });
    } else throw err;
  }
}

/** Gives the file at `e.path` its snapshot mode and mtime, and records its hash in the cache. */
export async function setFileMeta(workspace: string, e: FileEntry, cache: HashCache): Promise<void> {
  const abs = join(workspace, e.path);
  await chmod(abs, e.mode);
  await utimes(abs, new Date(), e.mtimeMs / 1000);
  const st = await lstat(abs);
  cache.set(e.path, { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }, e.blob);
}

/** Writes verified content into the workspace; counts what it wrote and what failed. */
export class FilesWriter {
  /** Paths written, in order. */
  readonly writtenPaths: string[] = [];
  /** Paths that could not be written exactly. */
  readonly failures: string[] = [];
  private readonly workspace: string;
  private readonly tmpDir: string;
  private readonly cache: HashCache;
  private readonly log: (message: string) => void;
  private tmpSeq = 0;
  private batch: { e: FileEntry; bytes: Buffer }[] = [];
  private batchBytes = 0;

  /** `tmpDir` must be on the workspace's filesystem (renames) and exist. */
  constructor(opts: { workspace: string; tmpDir: string; cache: HashCache; log: (message: string) => void }) {
    this.workspace = opts.workspace;
    this.tmpDir = opts.tmpDir;
    this.cache = opts.cache;
    this.log = opts.log;
  }

  /** Queues verified bytes for `e`; writes the batch once it is full, then yields to the event loop. */
  async writeBytes(e: FileEntry, bytes: Buffer): Promise<void> {
    this.batch.push({ e, bytes });
    this.batchBytes += bytes.length;
    if (this.batch.length >= WRITE_BATCH_FILES || this.batchBytes >= WRITE_BATCH_BYTES) {
      this.flush();
      // The download keeps streaming between batches.
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Writes the queued small files with synchronous calls: per file
   * open(mode)/write/futimes/fstat/close/rename of a temp name. Through the promise
   * API each of those ~6 calls cost a thread-pool hand-off and a promise, which made
   * restore CPU-bound at ~10× tar (bench:snapshot); a batch of sync calls the page
   * cache answers is cheaper.
   */
  flush(): void {
    const list = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    for (const { e, bytes } of list) {
      const t = this.tmpName();
      try {
        const st = writeTempSync(t, e, bytes);
        moveIntoSync(t, join(this.workspace, e.path));
        this.cache.set(e.path, st, e.blob);
        this.writtenPaths.push(e.path);
      } catch (err) {
        // One file failing must not drop the rest of the batch: it counts as not restored.
        rmSync(t, { force: true });
        this.failures.push(e.path);
        this.log(`could not write ${JSON.stringify(e.path)}: ${(err as Error).message}`);
      }
    }
  }

  /** Places a verified temp file (a large blob) at every path that wants it; the file is moved away. */
  async placeFile(entries: readonly FileEntry[], tmpFile: string): Promise<void> {
    for (const [n, e] of entries.entries()) {
      const abs = join(this.workspace, e.path);
      if (n < entries.length - 1) {
        // Same content at several paths: copy, and verify the copy too.
        const t = `${tmpFile}.${n}`;
        await copyFile(tmpFile, t);
        if ((await hashFile(t)).hash !== e.blob) {
          this.failures.push(e.path);
          await rm(t, { force: true });
          continue;
        }
        await moveInto(t, abs);
      } else await moveInto(tmpFile, abs);
      await setFileMeta(this.workspace, e, this.cache);
      this.writtenPaths.push(e.path);
    }
  }

  private tmpName(): string {
    return join(this.tmpDir, `f-${this.tmpSeq++}.tmp`);
  }
}

/** Writes `bytes` to the new file `t` with `e`'s mode and mtime; returns what the cache keys on. */
function writeTempSync(t: string, e: FileEntry, bytes: Buffer): { size: number; mtimeMs: number; ino: number } {
  const fd = openSync(t, "w", e.mode);
  try {
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    futimesSync(fd, new Date(), e.mtimeMs / 1000);
    const s = fstatSync(fd);
    // Created with its mode; chmod only when the umask took bits away (setuid, g+w, …).
    if ((s.mode & 0o7777) !== e.mode) fchmodSync(fd, e.mode);
    return { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino };
  } finally {
    closeSync(fd);
  }
}
