/**
 * @module runner/pack
 * Builds pack files (see shared/snapshot-format.ts): blob bytes back to back, the
 * JSON index, the 12-byte trailer. Two builders:
 * - PackSpooler: a large file streams through it into a temp file under the
 *   runner's state directory, so memory stays at one read buffer whatever the
 *   file size; the blob hash and the PackId (SHA-256 of the whole pack) are
 *   computed on the way, in the same single read. The spooled file is then
 *   uploaded from disk, which also makes upload retries possible.
 * - MemoryPackBuilder: small files, already read whole (and hashed) in memory,
 *   are appended as they are; no spool write, no second read.
 */
import { createHash, randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { PACK_MAGIC, PACK_TRAILER_BYTES, type PackIndexEntry } from "../../src/shared/snapshot-format.ts";
import { readChunks } from "./hash.ts";

/** A finished pack waiting on disk for upload. */
export interface SpooledPack {
  packId: string;
  size: number;
  /** The temp file holding the pack bytes; remove with `discard()`. */
  file: string;
  blobs: PackIndexEntry[];
}

/** The trailer for an index of `indexLength` bytes. */
export function packTrailer(indexLength: number): Buffer {
  const t = Buffer.alloc(PACK_TRAILER_BYTES);
  t.writeUInt32LE(indexLength, 0);
  t.write(PACK_MAGIC, 4, "ascii");
  return t;
}

/** Reads the index of a whole pack held in memory (tests, verification). Throws on a bad trailer. */
export function parsePackIndex(pack: Uint8Array): PackIndexEntry[] {
  const buf = Buffer.from(pack.buffer, pack.byteOffset, pack.byteLength);
  if (buf.length < PACK_TRAILER_BYTES) throw new Error("pack too short");
  const magic = buf.subarray(buf.length - 8).toString("ascii");
  if (magic !== PACK_MAGIC) throw new Error("bad pack magic");
  const indexLength = buf.readUInt32LE(buf.length - PACK_TRAILER_BYTES);
  const start = buf.length - PACK_TRAILER_BYTES - indexLength;
  if (start < 0) throw new Error("bad pack index length");
  return JSON.parse(buf.subarray(start, buf.length - PACK_TRAILER_BYTES).toString("utf8")) as PackIndexEntry[];
}

/** Writes one pack at a time to a spool file. Not reentrant: await each call. */
export class PackSpooler {
  private readonly dir: string;
  private fh: FileHandle | null = null;
  private file = "";
  private packHash = createHash("sha256");
  private blobs: PackIndexEntry[] = [];
  private bytes = 0;

  constructor(spoolDir: string) {
    this.dir = spoolDir;
  }

  /** Blob bytes in the pack being built. */
  get currentBytes(): number {
    return this.bytes;
  }

  /** Whether the pack being built holds no blob yet. */
  get isEmpty(): boolean {
    return this.blobs.length === 0;
  }

  private async ensureOpen(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    await mkdir(this.dir, { recursive: true });
    this.file = join(this.dir, `pack-${process.pid}-${randomBytes(6).toString("hex")}.tmp`);
    this.fh = await open(this.file, "w", 0o600);
    return this.fh;
  }

  private async write(fh: FileHandle, chunk: Buffer): Promise<void> {
    this.packHash.update(chunk);
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await fh.write(chunk, done, chunk.length - done);
      done += bytesWritten;
    }
  }

  /**
   * Streams the file at `absPath` into the pack. Returns the blob as actually
   * written: its hash is computed from the bytes read, so a file that changed
   * since it was scanned is stored consistently with its id.
   */
  async addFile(absPath: string): Promise<PackIndexEntry> {
    const fh = await this.ensureOpen();
    const offset = this.bytes;
    const blobHash = createHash("sha256");
    let length = 0;
    for await (const buf of readChunks(absPath)) {
      blobHash.update(buf);
      await this.write(fh, buf);
      length += buf.length;
    }
    this.bytes += length;
    const entry = { blob: blobHash.digest("hex"), offset, length };
    this.blobs.push(entry);
    return entry;
  }

  /** Appends index and trailer, closes the spool file and starts a fresh pack. */
  async finish(): Promise<SpooledPack> {
    const fh = await this.ensureOpen();
    const index = Buffer.from(JSON.stringify(this.blobs), "utf8");
    await this.write(fh, index);
    await this.write(fh, packTrailer(index.length));
    await fh.close();
    const pack: SpooledPack = {
      packId: this.packHash.digest("hex"),
      size: this.bytes + index.length + PACK_TRAILER_BYTES,
      file: this.file,
      blobs: this.blobs,
    };
    this.fh = null;
    this.packHash = createHash("sha256");
    this.blobs = [];
    this.bytes = 0;
    return pack;
  }

  /** Closes and deletes an unfinished pack (on errors). */
  async abort(): Promise<void> {
    if (this.fh) {
      await this.fh.close().catch(() => {});
      await rm(this.file, { force: true });
    }
    this.fh = null;
  }
}

/** Deletes a spooled pack file. */
export async function discard(pack: SpooledPack): Promise<void> {
  await rm(pack.file, { force: true });
}

/** A pack built in memory, ready for upload: `parts` concatenated are its bytes. */
export interface MemoryPack {
  packId: string;
  size: number;
  parts: Buffer[];
  blobs: PackIndexEntry[];
}

/**
 * Builds a pack from blobs already in memory (small files, read whole and hashed
 * once). The pack hash is updated as blobs are appended, so sealing costs only
 * the index; nothing touches the disk. Callers bound how many packs they hold.
 */
export class MemoryPackBuilder {
  private parts: Buffer[] = [];
  private packHash = createHash("sha256");
  private blobs: PackIndexEntry[] = [];
  private bytes = 0;

  /** Blob bytes in the pack being built. */
  get currentBytes(): number {
    return this.bytes;
  }

  /** Whether the pack being built holds no blob yet. */
  get isEmpty(): boolean {
    return this.blobs.length === 0;
  }

  /** Appends a blob whose id the caller computed from exactly these bytes. */
  add(blob: string, bytes: Buffer): PackIndexEntry {
    const entry = { blob, offset: this.bytes, length: bytes.length };
    this.parts.push(bytes);
    this.packHash.update(bytes);
    this.blobs.push(entry);
    this.bytes += bytes.length;
    return entry;
  }

  /** Appends index and trailer and returns the pack; the builder starts a fresh one. */
  seal(): MemoryPack {
    const index = Buffer.from(JSON.stringify(this.blobs), "utf8");
    const trailer = packTrailer(index.length);
    this.packHash.update(index);
    this.packHash.update(trailer);
    const pack: MemoryPack = {
      packId: this.packHash.digest("hex"),
      size: this.bytes + index.length + PACK_TRAILER_BYTES,
      parts: [...this.parts, index, trailer],
      blobs: this.blobs,
    };
    this.parts = [];
    this.packHash = createHash("sha256");
    this.blobs = [];
    this.bytes = 0;
    return pack;
  }
}
