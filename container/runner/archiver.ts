/**
 * @module runner/archiver
 * Takes a snapshot (restic's write order): scan the workspace, reuse cached
 * hashes, find blobs the parent snapshot does not already hold (their locations
 * are reused as they are), pack and upload only the new ones (a pack the store
 * already has is not sent again), then commit the manifest, which moves the head
 * from the parent by compare-and-swap. Nothing before the commit changes what
 * the head points to, so a runner killed anywhere leaves the previous snapshot
 * as the head. When the entries equal the parent's, nothing is written at all.
 */
import { createReadStream } from "node:fs";
import { join } from "node:path";
import {
  type BlobLocation,
  type Manifest,
  type ManifestEntry,
  type ManifestSummary,
  manifestText,
  PACK_TARGET_BYTES,
  type SnapshotId,
} from "../../src/shared/snapshot-format.ts";
import { hashFile, sha256Hex } from "./hash.ts";
import { HashCache } from "./hash-cache.ts";
import type { IgnoreRules } from "./ignore.ts";
import { discard, PackSpooler } from "./pack.ts";
import { type ScanEntry, scanWorkspace } from "./scan.ts";
import { statePaths, writeState } from "./state.ts";
import { loadManifest, type SnapshotStore } from "./store.ts";

/** The blob id of empty content (empty files store nothing). */
export const EMPTY_BLOB = sha256Hex("");

/** Inputs of one snapshot. */
export interface ArchiveOptions {
  store: SnapshotStore;
  workspace: string;
  projectId: string;
  rules: IgnoreRules;
  /** Pack cut size (default PACK_TARGET_BYTES; tests use small packs). */
  packTargetBytes?: number;
  /** Files hashed in parallel (default 4). */
  hashConcurrency?: number;
  log?: (message: string) => void;
}

/** What a snapshot did; the RunnerResult fields plus counters for tests and logs. */
export interface ArchiveResult {
  snapshotId: SnapshotId;
  unchanged: boolean;
  files: number;
  bytes: number;
  uploadedBytes: number;
  durationMs: number;
  /** Files whose content was read to hash them (cache misses). */
  hashedFiles: number;
  hashedBytes: number;
  newBlobs: number;
  packsUploaded: number;
  packsSkipped: number;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  });
  await Promise.all(workers);
}

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

/** Takes one snapshot of `workspace`. Throws RunnerError (e.g. HEAD_MOVED) on failure. */
export async function takeSnapshot(opts: ArchiveOptions): Promise<ArchiveResult> {
  const started = Date.now();
  const log = opts.log ?? (() => {});
  const paths = statePaths(opts.workspace);
  const { store } = opts;

  const head = await store.getHead();
  const parent = head ? await loadManifest(store, head) : null;
  const known = new Map<string, BlobLocation>();
  for (const e of parent?.entries ?? []) if (e.type === "file" && e.loc) known.set(e.blob, e.loc);

  const scanned = await scanWorkspace(opts.workspace, opts.rules);
  const cache = await HashCache.load(paths.hashCache);
  const hashes = new Map<string, string>();
  let hashedFiles = 0;
  let hashedBytes = 0;
  const files = scanned.filter((e): e is Extract<ScanEntry, { type: "file" }> => e.type === "file");
  try {
    await pool(files, opts.hashConcurrency ?? 4, async (f) => {
      if (f.size === 0) {
        hashes.set(f.path, EMPTY_BLOB);
        return;
      }
      const cached = cache.get(f.path, f);
      if (cached) {
        hashes.set(f.path, cached);
        return;
      }
      const at = Date.now();
      const { hash, size } = await hashFile(join(opts.workspace, f.path));
      hashedFiles++;
      hashedBytes += size;
      hashes.set(f.path, hash);
      if (size === f.size) cache.set(f.path, f, hash, at);
    });

    // Build entries; blobs neither in the parent nor already packed go into packs.
    const entries: ManifestEntry[] = [];
    const added = new Map<string, BlobLocation>();
    const spooler = new PackSpooler(paths.tmp);
    const target = opts.packTargetBytes ?? PACK_TARGET_BYTES;
    let awaitingPack: { entry: Extract<ManifestEntry, { type: "file" }>; offset: number; length: number }[] = [];
    let uploadedBytes = 0;
    let packsUploaded = 0;
    let packsSkipped = 0;

    const flush = async (): Promise<void> => {
      if (spooler.isEmpty) return;
      const pack = await spooler.finish();
      try {
        if (await store.hasPack(pack.packId)) packsSkipped++;
        else {
          await store.putPack(pack.packId, pack.size, () => createReadStream(pack.file));
          uploadedBytes += pack.size;
          packsUploaded++;
          log(`uploaded pack ${pack.packId.slice(0, 12)} (${pack.size} bytes, ${pack.blobs.length} blobs)`);
        }
      } finally {
        await discard(pack);
      }
      for (const a of awaitingPack) {
        const loc = { pack: pack.packId, offset: a.offset, length: a.length };
        a.entry.loc = loc;
        added.set(a.entry.blob, loc);
      }
      awaitingPack = [];
    };

    try {
      for (const s of scanned) {
        if (s.type === "dir") entries.push({ type: "dir", path: s.path, mode: s.mode });
        else if (s.type === "symlink") entries.push({ type: "symlink", path: s.path, target: s.target });
        else {
          const blob = hashes.get(s.path) as string;
          const entry: Extract<ManifestEntry, { type: "file" }> = {
            type: "file",
            path: s.path,
            mode: s.mode,
            size: s.size,
            mtimeMs: s.mtimeMs,
            blob,
          };
          entries.push(entry);
          if (s.size === 0) continue;
          const loc = known.get(blob) ?? added.get(blob);
          if (loc) {
            entry.loc = loc;
            continue;
          }
          const pendingSame = awaitingPack.find((a) => a.entry.blob === blob);
          if (pendingSame) {
            awaitingPack.push({ entry, offset: pendingSame.offset, length: pendingSame.length });
            continue;
          }
          if (!spooler.isEmpty && spooler.currentBytes + s.size > target) await flush();
          const packed = await spooler.addFile(join(opts.workspace, s.path));
          if (packed.blob !== blob || packed.length !== s.size) {
            // Changed since it was hashed: store what was read, consistently with its id.
            log(`${s.path} changed while snapshotting; storing the bytes read`);
            entry.blob = packed.blob;
            entry.size = packed.length;
          }
          awaitingPack.push({ entry, offset: packed.offset, length: packed.length });
          if (spooler.currentBytes >= target) await flush();
        }
      }
      await flush();
    } finally {
      await spooler.abort();
    }

    const summary = summarize(entries);
    const base = { files: summary.files, bytes: summary.bytes, hashedFiles, hashedBytes, newBlobs: added.size };
    if (parent && head && JSON.stringify(parent.entries) === JSON.stringify(entries)) {
      await writeState(opts.workspace, head);
      return {
        snapshotId: head,
        unchanged: true,
        uploadedBytes: 0,
        durationMs: Date.now() - started,
        packsUploaded,
        packsSkipped,
        ...base,
      };
    }
    // Key order as the type declares it: both sides hash JSON.stringify of this object.
    const manifest: Manifest = {
      version: 1,
      projectId: opts.projectId,
      parent: head,
      createdAt: new Date().toISOString(),
      entries,
      summary,
    };
    const localId = sha256Hex(manifestText(manifest));
    const res = await store.commit(manifest);
    if (res.snapshotId !== localId) log(`warning: store named the snapshot ${res.snapshotId}, expected ${localId}`);
    await writeState(opts.workspace, res.snapshotId);
    return {
      snapshotId: res.snapshotId,
      unchanged: false,
      uploadedBytes,
      durationMs: Date.now() - started,
      packsUploaded,
      packsSkipped,
      ...base,
    };
  } finally {
    cache.pruneUntouched();
    await cache.save().catch((err: Error) => log(`could not save the hash cache: ${err.message}`));
  }
}
