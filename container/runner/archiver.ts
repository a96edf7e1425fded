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
 * Each file whose hash is unknown (or whose blob must be stored) is read once:
 * small files whole into memory, hashed and appended to an in-memory pack; large
 * ones streamed into a pack of their own on disk, hashed on the way. Reads run
 * concurrently ahead of packing (ordered-map.ts), packing follows scan order, and
 * finished packs upload while the next ones are built (uploader.ts).
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
import { createReadStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import {
  type BlobLocation,
  type Manifest,
  type ManifestEntry,
  PACK_TARGET_BYTES,
  type RunnerResult,
  type SnapshotId,
} from "../../src/shared/snapshot-format.ts";
import { commitRebasing, loadParent, MAX_REBASES, summarize } from "./commit.ts";
import { CODES, RunnerError } from "./errors.ts";
import { READ_CHUNK_BYTES, sha256Hex } from "./hash.ts";
import { HashCache } from "./hash-cache.ts";
import type { IgnoreRules } from "./ignore.ts";
import { orderedMap } from "./ordered-map.ts";
import { discard, MemoryPackBuilder, PackSpooler, type SpooledPack } from "./pack.ts";
import { type ScanEntry, scanWorkspace } from "./scan.ts";
import { readState, statePaths } from "./state.ts";
import type { SnapshotStore } from "./store.ts";
import { PackUploader } from "./uploader.ts";
import { withWorkspaceLock } from "./workspace-lock.ts";

export { MAX_REBASES, summarize };

/** The blob id of empty content (empty files store nothing). */
export const EMPTY_BLOB = sha256Hex("");

/** Files up to this size are read whole into memory; larger ones stream into a pack of their own. */
export const IN_MEMORY_MAX_BYTES = 1024 * 1024;
/** Bytes of read-ahead held in memory at most. */
const READ_AHEAD_BYTES = 8 * 1024 * 1024;

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
export interface ArchiveResult extends SnapshotResultFields {
  /** Files whose content was read to hash them (cache misses). */
  hashedFiles: number;
  hashedBytes: number;
  newBlobs: number;
  packsUploaded: number;
  packsSkipped: number;
  /** HEAD_MOVED answers this snapshot rebased on. */
  rebases: number;
  /** The head's manifest now: the one committed, or the parent when nothing changed. */
  manifest: Manifest;
}

type FileEntry = Extract<ManifestEntry, { type: "file" }>;
type ScanFile = Extract<ScanEntry, { type: "file" }>;

/** What reading one file gave: its bytes in memory, or a spooled one-blob pack. */
type ReadResult =
  | { kind: "memory"; blob: string; bytes: Buffer; at: number }
  | { kind: "spooled"; blob: string; length: number; pack: SpooledPack; at: number };

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
  const target = opts.packTargetBytes ?? PACK_TARGET_BYTES;

  // Independent: the head and its manifest (network), the scan, the cache and the state (disk).
  const given = opts.parent;
  const [{ head, parent }, scanned, cache, state] = await Promise.all([
    given ? { head: given.head, parent: given.manifest } : loadParent(store),
    scanWorkspace(opts.workspace, opts.rules),
    HashCache.load(paths.hashCache),
    readState(opts.stateDir),
  ]);
  if (state === null && head !== null) {
    throw new RunnerError(
      CODES.notRestored,
      `The workspace was never restored since its container started, and project ${opts.projectId} has work in ` +
        `snapshot ${head.slice(0, 12)}: refusing to replace it with this tree (restore first)`,
    );
  }
  const known = new Map<string, BlobLocation>();
  for (const e of parent?.entries ?? []) if (e.type === "file" && e.loc) known.set(e.blob, e.loc);

  let hashedFiles = 0;
  let hashedBytes = 0;
  const entries: ManifestEntry[] = [];
  const toRead: { entry: FileEntry; scan: ScanFile }[] = [];
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

  const uploader = new PackUploader(store, { maxInFlight: opts.uploadConcurrency ?? 2, log });
  const added = new Map<string, BlobLocation>();
  const builder = new MemoryPackBuilder();
  /** Entries in the pack being built, with their blob's place in it, and its blobs by id. */
  let awaiting: { entry: FileEntry; offset: number; length: number }[] = [];
  let inBuilder = new Map<string, { offset: number; length: number }>();

  const sealPack = async (): Promise<void> => {
    if (builder.isEmpty) return;
    const pack = builder.seal();
    for (const a of awaiting) {
      const loc = { pack: pack.packId, offset: a.offset, length: a.length };
      a.entry.loc = loc;
      added.set(a.entry.blob, loc);
    }
    awaiting = [];
    inBuilder = new Map();
    await uploader.submit({
      packId: pack.packId,
      size: pack.size,
      blobs: pack.blobs.length,
      open: () => Readable.from(pack.parts, { objectMode: false }),
    });
  };

  const read = async ({ entry, scan }: { entry: FileEntry; scan: ScanFile }): Promise<ReadResult> => {
    const abs = join(opts.workspace, entry.path);
    const at = Date.now();
    if (scan.size <= IN_MEMORY_MAX_BYTES) {
      const bytes = readFileSync(abs);
      return { kind: "memory", blob: sha256Hex(bytes), bytes, at };
    }
    const spooler = new PackSpooler(paths.spool);
    try {
      const b = await spooler.addFile(abs);
      return { kind: "spooled", blob: b.blob, length: b.length, pack: await spooler.finish(), at };
    } finally {
      await spooler.abort();
    }
  };

  const consume = async (r: ReadResult, { entry, scan }: { entry: FileEntry; scan: ScanFile }): Promise<void> => {
    const length = r.kind === "memory" ? r.bytes.length : r.length;
    hashedFiles++;
    hashedBytes += length;
    if (length === scan.size) cache.set(entry.path, scan, r.blob, r.at);
    else {
      // Changed since it was scanned: store what was read, consistently with its id.
      log(`${entry.path} changed while snapshotting; storing the bytes read`);
      entry.size = length;
    }
    entry.blob = r.blob;
    const loc = length === 0 ? undefined : (known.get(r.blob) ?? added.get(r.blob));
    const pending = inBuilder.get(r.blob);
    if (length === 0 || loc || pending) {
      if (loc) entry.loc = loc;
      else if (pending) awaiting.push({ entry, ...pending });
      if (r.kind === "spooled") await discard(r.pack);
      return;
    }
    if (r.kind === "spooled") {
      const pack = r.pack;
      const loc = { pack: pack.packId, offset: 0, length };
      entry.loc = loc;
      added.set(r.blob, loc);
      await uploader.submit({
        packId: pack.packId,
        size: pack.size,
        blobs: 1,
        open: () => createReadStream(pack.file),
        release: () => discard(pack),
      });
      return;
    }
    if (!builder.isEmpty && builder.currentBytes + length > target) await sealPack();
    const placed = builder.add(r.blob, r.bytes);
    inBuilder.set(r.blob, { offset: placed.offset, length });
    awaiting.push({ entry, offset: placed.offset, length });
    if (builder.currentBytes >= target) await sealPack();
  };

  try {
    try {
      await orderedMap(
        toRead,
        {
          concurrency: opts.hashConcurrency ?? 8,
          maxCost: READ_AHEAD_BYTES,
          // A large file streams through one read buffer; a small one is held whole.
          cost: (t) => (t.scan.size <= IN_MEMORY_MAX_BYTES ? t.scan.size : READ_CHUNK_BYTES),
        },
        read,
        consume,
        async (r) => {
          if (r.kind === "spooled") await discard(r.pack);
        },
      );
      await sealPack();
    } finally {
      // Always settle the uploads (they hold spool files); the first failure wins.
      await uploader.drain();
    }
    return await commitRebasing(
      opts,
      { head, parent, entries, started, log },
      {
        hashedFiles,
        hashedBytes,
        newBlobs: added.size,
        packsUploaded: uploader.packsUploaded,
        packsSkipped: uploader.packsSkipped,
        uploadedBytes: uploader.uploadedBytes,
      },
    );
  } finally {
    cache.pruneUntouched();
    await cache.save().catch((err: Error) => log(`could not save the hash cache: ${err.message}`));
  }
}
