/**
 * @module runner/fetch-blobs
 * Downloads the blobs a restore needs, a few ranges at a time: blobs of one pack are sorted
 * by offset and neighbouring ones (gap ≤ `gapBytes`) are fetched with one ranged
 * request. Small blobs (≤ `memoryMaxBytes`) are gathered in memory, large ones
 * stream straight into a temp file, hashed on the way; a blob is handed to
 * `place` only when its SHA-256 matches its id, so wrong bytes never land in the
 * workspace. A failed stream is retried (remaining blobs
 * only) a few times before the blobs count as failed.
 */
import { createHash, randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import type { BlobLocation } from "../../src/shared/snapshot-format.ts";
import { forEachLimited } from "./limiter.ts";
import type { SnapshotStore } from "./store.ts";

/** One blob to fetch. */
export interface BlobRequest {
  blob: string;
  loc: BlobLocation;
}

/** Options of fetchBlobs. */
export interface FetchOptions {
  store: SnapshotStore;
  /** Directory for temp files (same filesystem as the workspace, so renames are cheap). */
  tmpDir: string;
  /**
   * Called with a verified blob: its bytes in memory, or a temp file that `place`
   * must move or copy away before it returns (it is deleted afterwards).
   */
  place: (blob: string, data: { bytes: Buffer } | { file: string }) => Promise<void>;
  /** Blobs up to this size are gathered in memory instead of a temp file (default 1 MiB). */
  memoryMaxBytes?: number;
  /** Largest gap of unwanted bytes read through rather than starting a new request (default 1 MiB). */
  gapBytes?: number;
  /** Largest coalesced request in bytes, unless one blob is larger (default 64 MiB). */
  maxRequestBytes?: number;
  /** Attempts per range (default 3). */
  attempts?: number;
  /** Ranges fetched at once (default 3). */
  rangeConcurrency?: number;
  log?: (message: string) => void;
}

/** Outcome: bytes received and the blobs that could not be fetched correctly, with why. */
export interface FetchResult {
  downloadedBytes: number;
  failed: Map<string, string>;
}

/** Groups sorted blobs of one pack into ranges worth one request each. */
function coalesce(blobs: BlobRequest[], gap: number, max: number): BlobRequest[][] {
  const groups: BlobRequest[][] = [];
  let cur: BlobRequest[] = [];
  let start = 0;
  let end = 0;
  for (const b of blobs) {
    const bEnd = b.loc.offset + b.loc.length;
    if (cur.length > 0 && b.loc.offset - end <= gap && bEnd - start <= max) {
      cur.push(b);
      end = Math.max(end, bEnd);
    } else {
      if (cur.length > 0) groups.push(cur);
      cur = [b];
      start = b.loc.offset;
      end = bEnd;
    }
  }
  if (cur.length > 0) groups.push(cur);
  return groups;
}

/** Fetches every requested blob; never throws for bad bytes, reports them in `failed`. */
export async function fetchBlobs(requests: BlobRequest[], opts: FetchOptions): Promise<FetchResult> {
  const gap = opts.gapBytes ?? 1024 * 1024;
  const max = opts.maxRequestBytes ?? 64 * 1024 * 1024;
  const attempts = opts.attempts ?? 3;
  const memoryMax = opts.memoryMaxBytes ?? 1024 * 1024;
  const failed = new Map<string, string>();
  let downloadedBytes = 0;
  await mkdir(opts.tmpDir, { recursive: true });

  const byPack = new Map<string, BlobRequest[]>();
  for (const r of requests) {
    const list = byPack.get(r.loc.pack) ?? [];
    list.push(r);
    byPack.set(r.loc.pack, list);
  }

  /** Streams one range; returns the blobs it finished (verified or failed), throws on stream errors. */
  const fetchRange = async (pack: string, group: BlobRequest[], done: Set<string>): Promise<void> => {
    const first = group[0] as BlobRequest;
    const last = group[group.length - 1] as BlobRequest;
    const start = first.loc.offset;
    const length = last.loc.offset + last.loc.length - start;
    const stream = await opts.store.getPackRange(pack, start, length);
    let pos = start;
    let i = 0;
    let fh: FileHandle | null = null;
    let tmp = "";
    /** The blob being received, when it is gathered in memory. */
    let mem: Buffer | null = null;
    let memAt = 0;
    let started = false;
    let hash = createHash("sha256");
    const finishBlob = async (b: BlobRequest): Promise<void> => {
      started = false;
      const ok = hash.digest("hex") === b.blob;
      if (mem) {
        const bytes = mem;
        mem = null;
        if (ok) await opts.place(b.blob, { bytes });
      } else {
        if (fh) await fh.close();
        fh = null;
        if (ok) await opts.place(b.blob, { file: tmp });
        await rm(tmp, { force: true });
        tmp = "";
      }
      if (!ok) failed.set(b.blob, "hash mismatch");
      done.add(b.blob);
      i++;
    };
    try {
      for await (const raw of stream) {
        const chunk = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        downloadedBytes += chunk.length;
        let at = 0;
        while (at < chunk.length && i < group.length) {
          const b = group[i] as BlobRequest;
          const bEnd = b.loc.offset + b.loc.length;
          if (pos < b.loc.offset) {
            const skip = Math.min(b.loc.offset - pos, chunk.length - at);
            at += skip;
            pos += skip;
            continue;
          }
          if (!started) {
            started = true;
            hash = createHash("sha256");
            if (b.loc.length <= memoryMax) {
              mem = Buffer.allocUnsafe(b.loc.length);
              memAt = 0;
            } else {
              tmp = join(opts.tmpDir, `blob-${randomBytes(8).toString("hex")}.tmp`);
              fh = await open(tmp, "w", 0o600);
            }
          }
          const take = Math.min(bEnd - pos, chunk.length - at);
          const part = chunk.subarray(at, at + take);
          hash.update(part);
          if (mem) memAt += part.copy(mem, memAt);
          else await (fh as unknown as FileHandle).write(part);
          at += take;
          pos += take;
          if (pos === bEnd) await finishBlob(b);
        }
        if (i >= group.length) break;
      }
      if (i < group.length) throw new Error(`pack ${pack.slice(0, 12)} range ended early`);
    } finally {
      if (fh) await (fh as FileHandle).close().catch(() => {});
      if (tmp) await rm(tmp, { force: true });
    }
  };

  const groups: [string, BlobRequest[]][] = [];
  for (const [pack, list] of byPack) {
    list.sort((a, b) => a.loc.offset - b.loc.offset);
    for (const group of coalesce(list, gap, max)) groups.push([pack, group]);
  }
  // A few ranges in flight: each request's first byte waits on the store (R2's
  // time to first byte), which one request at a time would pay in sequence.
  await forEachLimited(groups, opts.rangeConcurrency ?? 3, async ([pack, group]) => {
    const done = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      const remaining = group.filter((b) => !done.has(b.blob));
      if (remaining.length === 0) return;
      try {
        await fetchRange(pack, remaining, done);
        return;
      } catch (err) {
        const reason = (err as Error).message;
        opts.log?.(`fetching from pack ${pack.slice(0, 12)} failed (attempt ${attempt}): ${reason}`);
        if (attempt >= attempts) {
          for (const b of group) if (!done.has(b.blob)) failed.set(b.blob, reason);
          return;
        }
      }
    }
  });
  return { downloadedBytes, failed };
}
