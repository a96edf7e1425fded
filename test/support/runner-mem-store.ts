/**
 * @module test/support/runner-mem-store
 * MemStore: an in-memory fake of the runner API's storage, restic-style, for the
 * runner's unit tests. It enforces what the Worker enforces: a pack is stored only
 * if SHA-256(bytes) equals its id (PACK_HASH_MISMATCH), a commit needs every pack
 * it references (MISSING_PACKS), and the head moves by compare-and-swap from
 * `manifest.parent` (HEAD_MOVED). Hooks let tests corrupt or interrupt I/O.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { RunnerError } from "../../container/runner/errors.ts";
import type { SnapshotStore } from "../../container/runner/store.ts";
import { type CommitResponse, type Manifest, manifestText } from "../../src/shared/snapshot-format.ts";

/** Counters tests assert on. */
export interface MemStoreStats {
  putPacks: number;
  putBytes: number;
  rangeRequests: number;
  rangeBytes: number;
  commits: number;
}

/** In-memory SnapshotStore. */
export class MemStore implements SnapshotStore {
  head: string | null = null;
  readonly packs = new Map<string, Buffer>();
  readonly manifests = new Map<string, string>();
  stats: MemStoreStats = { putPacks: 0, putBytes: 0, rangeRequests: 0, rangeBytes: 0, commits: 0 };
  /** Abort a pack upload after this many bytes of it were received (simulates a killed runner). */
  failPutAfterBytes: number | null = null;
  /** Rewrites bytes served by getPackRange (simulates corruption). */
  corruptRange: ((packId: string, bytes: Buffer) => Buffer) | null = null;
  /** Runs before the CAS in commit (lets tests interleave two commits). */
  beforeCommit: (() => Promise<void>) | null = null;

  resetStats(): void {
    this.stats = { putPacks: 0, putBytes: 0, rangeRequests: 0, rangeBytes: 0, commits: 0 };
  }

  async getHead(): Promise<string | null> {
    return this.head;
  }

  async getManifestText(id: string): Promise<string> {
    const text = this.manifests.get(id);
    if (text === undefined) throw new RunnerError("SNAPSHOT_NOT_FOUND", `Snapshot ${id} not found`);
    return text;
  }

  async hasPack(packId: string): Promise<boolean> {
    return this.packs.has(packId);
  }

  /** Stores raw pack bytes after the same checks as the Worker (used by the stand-in server too). */
  storePack(packId: string, bytes: Buffer): void {
    const actual = createHash("sha256").update(bytes).digest("hex");
    if (actual !== packId) throw new RunnerError("PACK_HASH_MISMATCH", `Pack body hashes to ${actual}, not ${packId}`);
    this.packs.set(packId, bytes);
  }

  async putPack(packId: string, size: number, open: () => Readable): Promise<void> {
    const chunks: Buffer[] = [];
    let received = 0;
    for await (const c of open()) {
      const buf = c as Buffer;
      received += buf.length;
      chunks.push(buf);
      if (this.failPutAfterBytes !== null && received >= this.failPutAfterBytes) {
        throw new RunnerError("NETWORK_ERROR", "connection lost mid-upload (MemStore.failPutAfterBytes)");
      }
    }
    const bytes = Buffer.concat(chunks);
    if (bytes.length !== size) throw new RunnerError("VALIDATION_ERROR", `Pack size ${bytes.length} ≠ ${size}`);
    this.storePack(packId, bytes);
    this.stats.putPacks++;
    this.stats.putBytes += size;
  }

  /** The served bytes of a range (after the corruption hook). */
  range(packId: string, offset: number, length: number): Buffer {
    const pack = this.packs.get(packId);
    if (!pack) throw new RunnerError("PACK_NOT_FOUND", `Pack ${packId} not found`);
    let bytes: Buffer = Buffer.from(pack.subarray(offset, offset + length));
    if (this.corruptRange) bytes = this.corruptRange(packId, bytes);
    this.stats.rangeRequests++;
    this.stats.rangeBytes += bytes.length;
    return bytes;
  }

  async getPackRange(packId: string, offset: number, length: number): Promise<AsyncIterable<Uint8Array>> {
    const bytes = this.range(packId, offset, length);
    // Serve in 64 KiB chunks like a network stream would.
    return (async function* () {
      for (let i = 0; i < bytes.length; i += 65536) yield bytes.subarray(i, i + 65536);
    })();
  }

  /** Compare-and-swap commit, exactly the Worker's rule. */
  async commit(manifest: Manifest): Promise<CommitResponse> {
    for (const e of manifest.entries) {
      if (e.type === "file" && e.loc && !this.packs.has(e.loc.pack)) {
        throw new RunnerError("MISSING_PACKS", `Pack ${e.loc.pack} is not stored`);
      }
    }
    const text = manifestText(manifest);
    const id = createHash("sha256").update(text).digest("hex");
    await this.beforeCommit?.();
    // No await between the check and the swap: this is the atomic step.
    if (this.head !== manifest.parent) {
      throw new RunnerError("HEAD_MOVED", `Head is ${this.head}, not ${manifest.parent}`);
    }
    this.manifests.set(id, text);
    this.head = id;
    this.stats.commits++;
    return { snapshotId: id, head: id };
  }
}
