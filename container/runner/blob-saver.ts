/**
 * @module runner/blob-saver
 * The archiver's middle step: read the files whose hash is unknown (or whose blob
 * must be stored), hash them, and store each new blob once. Small files are read
 * whole into memory, hashed and appended to an in-memory pack; large ones stream
 * into a pack of their own on disk, hashed on the way. Reads run concurrently
 * ahead of packing (ordered-map.ts), packing follows scan order (the same tree
 * gives the same packs), and finished packs upload while the next ones are built
 * (uploader.ts). Each entry ends with its blob id and, unless empty, its location.
 */
import { createReadStream, readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { BlobLocation, ManifestEntry } from "../../src/shared/snapshot-format.ts";
import { READ_CHUNK_BYTES, sha256Hex } from "./hash.ts";
import type { HashCache } from "./hash-cache.ts";
import { orderedMap } from "./ordered-map.ts";
import { discard, MemoryPackBuilder, PackSpooler, type SpooledPack } from "./pack.ts";
import type { ScanEntry } from "./scan.ts";
import type { SnapshotStore } from "./store.ts";
import { PackUploader } from "./uploader.ts";

/** Files up to this size are read whole into memory; larger ones stream into a pack of their own. */
export const IN_MEMORY_MAX_BYTES = 1024 * 1024;
/** Bytes of read-ahead held in memory at most. */
const READ_AHEAD_BYTES = 8 * 1024 * 1024;

type FileEntry = Extract<ManifestEntry, { type: "file" }>;
type ScanFile = Extract<ScanEntry, { type: "file" }>;

/** A file to read: its manifest entry (blob and loc filled in here) and its scan. */
export interface FileToRead {
  entry: FileEntry;
  scan: ScanFile;
}

/** What reading one file gave: its bytes in memory, or a spooled one-blob pack. */
type ReadResult =
  | { kind: "memory"; blob: string; bytes: Buffer; at: number }
  | { kind: "spooled"; blob: string; length: number; pack: SpooledPack; at: number };

/** What saving the blobs did. */
export interface SaveCounters {
  /** Files whose content was read to hash them (cache misses). */
  hashedFiles: number;
  hashedBytes: number;
  newBlobs: number;
  packsUploaded: number;
  packsSkipped: number;
  uploadedBytes: number;
}

/** Options of saveBlobs. */
export interface SaveOptions {
  store: SnapshotStore;
  workspace: string;
  /** Where large files' packs are spooled (outside the workspace). */
  spoolDir: string;
  cache: HashCache;
  /** Blobs the parent holds already, with where. */
  known: ReadonlyMap<string, BlobLocation>;
  packTargetBytes: number;
  hashConcurrency: number;
  uploadConcurrency: number;
  log: (message: string) => void;
}

/** Reads, hashes and stores `files` (in order); every upload has settled when it returns or throws. */
export async function saveBlobs(files: readonly FileToRead[], opts: SaveOptions): Promise<SaveCounters> {
  const saver = new BlobSaver(opts);
  try {
    await orderedMap(
      files,
      {
        concurrency: opts.hashConcurrency,
        maxCost: READ_AHEAD_BYTES,
        // A large file streams through one read buffer; a small one is held whole.
        cost: (t) => (t.scan.size <= IN_MEMORY_MAX_BYTES ? t.scan.size : READ_CHUNK_BYTES),
      },
      (t) => saver.read(t),
      (r, t) => saver.consume(r, t),
      async (r) => {
        if (r.kind === "spooled") await discard(r.pack);
      },
    );
    await saver.sealPack();
  } finally {
    // Always settle the uploads (they hold spool files); the first failure wins.
    await saver.uploader.drain();
  }
  return saver.counters();
}

/** Packs blobs in the order they are consumed and hands full packs to the uploader. */
class BlobSaver {
  readonly uploader: PackUploader;
  private readonly opts: SaveOptions;
  private readonly added = new Map<string, BlobLocation>();
  private readonly builder = new MemoryPackBuilder();
  /** Entries in the pack being built, with their blob's place in it, and its blobs by id. */
  private awaiting: { entry: FileEntry; offset: number; length: number }[] = [];
  private inBuilder = new Map<string, { offset: number; length: number }>();
  private hashedFiles = 0;
  private hashedBytes = 0;

  constructor(opts: SaveOptions) {
    this.opts = opts;
    this.uploader = new PackUploader(opts.store, { maxInFlight: opts.uploadConcurrency, log: opts.log });
  }

  counters(): SaveCounters {
    const u = this.uploader;
    return {
      hashedFiles: this.hashedFiles,
      hashedBytes: this.hashedBytes,
      newBlobs: this.added.size,
      packsUploaded: u.packsUploaded,
      packsSkipped: u.packsSkipped,
      uploadedBytes: u.uploadedBytes,
    };
  }

  /** Reads one file: whole and hashed when small, else spooled into a one-blob pack. */
  async read({ entry, scan }: FileToRead): Promise<ReadResult> {
    const abs = join(this.opts.workspace, entry.path);
    const at = Date.now();
    if (scan.size <= IN_MEMORY_MAX_BYTES) {
      const bytes = readFileSync(abs);
      return { kind: "memory", blob: sha256Hex(bytes), bytes, at };
    }
    const spooler = new PackSpooler(this.opts.spoolDir);
    try {
      const b = await spooler.addFile(abs);
      return { kind: "spooled", blob: b.blob, length: b.length, pack: await spooler.finish(), at };
    } finally {
      await spooler.abort();
    }
  }

  /** Records what was read and stores its blob unless it is empty or stored (or being packed) already. */
  async consume(r: ReadResult, { entry, scan }: FileToRead): Promise<void> {
    const length = r.kind === "memory" ? r.bytes.length : r.length;
    this.hashedFiles++;
    this.hashedBytes += length;
    if (length === scan.size) this.opts.cache.set(entry.path, scan, r.blob, r.at);
    else {
      // Changed since it was scanned: store what was read, consistently with its id.
      this.opts.log(`${entry.path} changed while snapshotting; storing the bytes read`);
      entry.size = length;
    }
    entry.blob = r.blob;
    const loc = length === 0 ? undefined : (this.opts.known.get(r.blob) ?? this.added.get(r.blob));
    const pending = this.inBuilder.get(r.blob);
    if (length === 0 || loc || pending) {
      if (loc) entry.loc = loc;
      else if (pending) this.awaiting.push({ entry, ...pending });
      if (r.kind === "spooled") await discard(r.pack);
      return;
    }
    if (r.kind === "spooled") await this.submitSpooled(entry, r.blob, r.pack, length);
    else await this.addToPack(entry, r.blob, r.bytes);
  }

  /** Seals the pack being built (if any) and submits it; its entries get their locations. */
  async sealPack(): Promise<void> {
    if (this.builder.isEmpty) return;
    const pack = this.builder.seal();
    for (const a of this.awaiting) {
      const loc = { pack: pack.packId, offset: a.offset, length: a.length };
      a.entry.loc = loc;
      this.added.set(a.entry.blob, loc);
    }
    this.awaiting = [];
    this.inBuilder = new Map();
    await this.uploader.submit({
      packId: pack.packId,
      size: pack.size,
      blobs: pack.blobs.length,
      open: () => Readable.from(pack.parts, { objectMode: false }),
    });
  }

  private async submitSpooled(entry: FileEntry, blob: string, pack: SpooledPack, length: number): Promise<void> {
    const loc = { pack: pack.packId, offset: 0, length };
    entry.loc = loc;
    this.added.set(blob, loc);
    await this.uploader.submit({
      packId: pack.packId,
      size: pack.size,
      blobs: 1,
      open: () => createReadStream(pack.file),
      release: () => discard(pack),
    });
  }

  /** Appends to the in-memory pack, cutting it at the target size. */
  private async addToPack(entry: FileEntry, blob: string, bytes: Buffer): Promise<void> {
    const target = this.opts.packTargetBytes;
    const length = bytes.length;
    if (!this.builder.isEmpty && this.builder.currentBytes + length > target) await this.sealPack();
    const placed = this.builder.add(blob, bytes);
    this.inBuilder.set(blob, { offset: placed.offset, length });
    this.awaiting.push({ entry, offset: placed.offset, length });
    if (this.builder.currentBytes >= target) await this.sealPack();
  }
}
