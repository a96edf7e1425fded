/**
 * @module runner/hash-cache
 * Remembers each file's SHA-256 keyed by path, size, mtime and inode, persisted at
 * `<workspace>/.sandbox-worker/hash-cache.json`, so a snapshot or restore re-hashes
 * only files that changed. A damaged, missing or older-format cache file just
 * means a cold cache.
 *
 * Format (version 2): `{"version":2,"entries":[[path,size,mtimeMs,ino,hash,at],…]}`.
 * Rows instead of one object per path make the file about half the size and much
 * faster to parse, which is most of a no-change snapshot's own work
 * (bench:snapshot). The file is rewritten only when a record changed.
 *
 * Racy files: a file written in the same clock tick as it was hashed could change
 * again without changing its mtime. Like git's "racily clean" check, entries whose
 * mtime is within RACY_WINDOW_MS of the moment they were hashed are not trusted.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Files modified this close to the hashing time are re-hashed next time. */
export const RACY_WINDOW_MS = 100;

const FORMAT_VERSION = 2;

interface CacheRecord {
  size: number;
  mtimeMs: number;
  ino: number;
  hash: string;
  /** When the hash was computed (ms since epoch). */
  at: number;
}

type Row = [string, number, number, number, string, number];

/** A file's identity as far as the cache is concerned. */
export interface FileKey {
  size: number;
  mtimeMs: number;
  ino: number;
}

function isRow(r: unknown): r is Row {
  return (
    Array.isArray(r) &&
    r.length === 6 &&
    typeof r[0] === "string" &&
    typeof r[1] === "number" &&
    typeof r[2] === "number" &&
    typeof r[3] === "number" &&
    typeof r[4] === "string" &&
    typeof r[5] === "number"
  );
}

/** The hash cache of one workspace. */
export class HashCache {
  private readonly file: string;
  private readonly records: Map<string, CacheRecord>;
  private readonly touched = new Set<string>();
  /** Whether the records differ from the file on disk (so save() has work to do). */
  private dirty: boolean;

  private constructor(file: string, records: Map<string, CacheRecord>, dirty: boolean) {
    this.file = file;
    this.records = records;
    this.dirty = dirty;
  }

  /** Loads the cache file (a missing, unreadable or old-format one gives an empty cache). */
  static async load(file: string): Promise<HashCache> {
    const records = new Map<string, CacheRecord>();
    let text: string | null = null;
    try {
      text = await readFile(file, "utf8");
      const data = JSON.parse(text) as { version?: unknown; entries?: unknown };
      if (data.version === FORMAT_VERSION && Array.isArray(data.entries)) {
        for (const r of data.entries as unknown[]) {
          if (isRow(r)) records.set(r[0], { size: r[1], mtimeMs: r[2], ino: r[3], hash: r[4], at: r[5] });
        }
      }
    } catch {
      // Cold cache: correctness never depends on it.
    }
    // A file we could not use is replaced on the next save.
    return new HashCache(file, records, text !== null && records.size === 0);
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
    const old = this.records.get(path);
    this.touched.add(path);
    if (
      old &&
      old.size === key.size &&
      old.mtimeMs === key.mtimeMs &&
      old.ino === key.ino &&
      old.hash === hash &&
      old.at - old.mtimeMs >= RACY_WINDOW_MS
    ) {
      // Same trusted record: keep it (and its `at`), nothing to write.
      return;
    }
    this.records.set(path, { size: key.size, mtimeMs: key.mtimeMs, ino: key.ino, hash, at });
    this.dirty = true;
  }

  /** Drops every record not read or written since load (files that no longer exist). */
  pruneUntouched(): void {
    for (const path of this.records.keys()) {
      if (!this.touched.has(path)) {
        this.records.delete(path);
        this.dirty = true;
      }
    }
  }

  /** Writes the cache atomically (temp file + rename), only if a record changed since load. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const rows: Row[] = [];
    for (const [path, r] of this.records) rows.push([path, r.size, r.mtimeMs, r.ino, r.hash, r.at]);
    await writeFile(tmp, JSON.stringify({ version: FORMAT_VERSION, entries: rows }));
    await rename(tmp, this.file);
    this.dirty = false;
  }
}
