/**
 * @module runner/pack
 * Builds pack files (see shared/snapshot-format.ts): blob bytes back to back, nothing
 * else. Where each blob sits is recorded in the manifest (its files' `loc`), which is
 * the only index a restore reads. Two builders:
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
import { readChunks } from "./hash.ts";

/** One blob as written into a pack: its id and where its bytes are. */
export interface PackedBlob {
  blob: string;
  offset: number;
  length: number;
}

/** A finished pack waiting on disk for upload. */
export interface SpooledPack {
  packId: string;
  size: number;
  /** The temp file holding the pack bytes; remove with `discard()`. */
  file: string;
  blobs: PackedBlob[];
}

/** Writes one pack at a time to a spool file. Not reentrant: await each call. */
export class PackSpooler {
  private readonly dir: string;
  private fh: FileHandle | null = null;
  private file = "";
  private packHash = createHash("sha256");
  private blobs: PackedBlob[] = [];
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
  async addFile(absPath: string): Promise<PackedBlob> {
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

  /** Closes the spool file and starts a fresh pack. */
  async finish(): Promise<SpooledPack> {
    const fh = await this.ensureOpen();
    await fh.close();
    const pack: SpooledPack = {
      packId: this.packHash.digest("hex"),
      size: this.bytes,
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
  blobs: PackedBlob[];
}

/**
 * Builds a pack from blobs already in memory (small files, read whole and hashed
 * once). The pack hash is updated as blobs are appended, so sealing costs nothing
 * more; nothing touches the disk. Callers bound how many packs they hold.
 */
export class MemoryPackBuilder {
  private parts: Buffer[] = [];
  private packHash = createHash("sha256");
  private blobs: PackedBlob[] = [];
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
  add(blob: string, bytes: Buffer): PackedBlob {
    const entry = { blob, offset: this.bytes, length: bytes.length };
    this.parts.push(bytes);
    this.packHash.update(bytes);
    this.blobs.push(entry);
    this.bytes += bytes.length;
    return entry;
  }

  /** Returns the pack; the builder starts a fresh one. */
  seal(): MemoryPack {
    const pack: MemoryPack = {
      packId: this.packHash.digest("hex"),
      size: this.bytes,
      parts: this.parts,
      blobs: this.blobs,
    };
    this.parts = [];
    this.packHash = createHash("sha256");
    this.blobs = [];
    this.bytes = 0;
    return pack;
  }
}
