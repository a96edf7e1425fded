/**
 * @module runner/hash-cache
 * Remembers each file's SHA-256 keyed by path, size, mtime and inode, persisted at
 * `<workspace>/.sandbox-worker/hash-cache.json`, so a snapshot or restore re-hashes
 * only files that changed. A damaged or missing cache file just means a cold cache.
 *
 * Racy files: a file written in the same clock tick as it was hashed could change
 * again without changing its mtime. Like git's "racily clean" check, entries whose
 * mtime is within RACY_WINDOW_MS of the moment they were hashed are not trusted.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Files modified this close to the hashing time are re-hashed next time. */
export const RACY_WINDOW_MS = 100;

interface CacheRecord {
  size: number;
  mtimeMs: number;
  ino: number;
  hash: string;
  /** When the hash was computed (ms since epoch). */
  at: number;
}

/** A file's identity as far as the cache is concerned. */
export interface FileKey {
  size: number;
  mtimeMs: number;
  ino: number;
}

/** The hash cache of one workspace. */
export class HashCache {
  private readonly file: string;
  private records: Map<string, CacheRecord>;
  private readonly touched = new Set<string>();

  private constructor(file: string, records: Map<string, CacheRecord>) {
    this.file = file;
    this.records = records;
  }

  /** Loads the cache file (a missing or unreadable one gives an empty cache). */
  static async load(file: string): Promise<HashCache> {
    const records = new Map<string, CacheRecord>();
    try {
      const data = JSON.parse(await readFile(file, "utf8")) as {
        version?: number;
        entries?: Record<string, CacheRecord>;
      };
      if (data.version === 1 && data.entries) {
        for (const [path, r] of Object.entries(data.entries)) records.set(path, r);
      }
    } catch {
      // Cold cache: correctness never depends on it.
    }
    return new HashCache(file, records);
  }

  /** The cached hash if `key` matches what was hashed and the record is not racy. */
  get(path: string, key: FileKey): string | undefined {
    const r = this.records.get(path);
    if (!r || r.size !== key.size || r.mtimeMs !== key.mtimeMs || r.ino !== key.ino) return undefined;
    if (r.at - r.mtimeMs < RACY_WINDOW_MS) return undefined;
    this.touched.add(path);
    return r.hash;
  }

  /** Records a freshly computed hash. `at` defaults to now. */
  set(path: string, key: FileKey, hash: string, at = Date.now()): void {
    this.records.set(path, { size: key.size, mtimeMs: key.mtimeMs, ino: key.ino, hash, at });
    this.touched.add(path);
  }

  /** Drops every record not read or written since load (files that no longer exist). */
  pruneUntouched(): void {
    for (const path of this.records.keys()) if (!this.touched.has(path)) this.records.delete(path);
  }

  /** Writes the cache atomically (temp file + rename). */
  async save(): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ version: 1, entries: Object.fromEntries(this.records) }));
    await rename(tmp, this.file);
  }
}
