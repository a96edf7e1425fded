/**
 * @module bench/disk-store
 * `DiskStore`: the runner's `SnapshotStore` (container/runner/store.ts) on a local
 * directory, no Worker, no HTTP: what bench/snapshot.ts runs the runner's snapshot
 * engine against to compare it with `restic backup` to a local repository on equal
 * terms (issue 14, point 7). It keeps the rules the archiver relies on and stores the
 * way restic's local backend does, so neither side gets a cheaper disk:
 * - a pack or manifest is written to a temp file, fsync'ed, then renamed into place
 *   (restic's local backend: atomic, durable files);
 * - the head moves by compare-and-swap from `manifest.parent` (HEAD_MOVED otherwise);
 * - a commit needs every pack it references (MISSING_PACKS).
 * Pack bytes are not hashed again on arrival: the runner computed the pack id from the
 * very bytes it hands over, and a local disk has no network to corrupt them (the
 * Worker re-checks because it does).
 *
 * Layout: `<dir>/packs/<id>`, `<dir>/snapshots/<id>` (manifest text), `<dir>/head`.
 */
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { CODES, RunnerError } from "../container/runner/errors.ts";
import { sha256Hex } from "../container/runner/hash.ts";
import type { SnapshotStore } from "../container/runner/store.ts";
import { type CommitResponse, type Manifest, manifestText, type SnapshotId } from "../src/shared/snapshot-format.ts";

let tmpSeq = 0;

/** A SnapshotStore in a local directory. */
export class DiskStore implements SnapshotStore {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  private path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** Writes `chunks` to a temp file beside `dest`, fsyncs it, renames it into place. */
  private async writeDurably(dest: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<number> {
    await mkdir(join(dest, ".."), { recursive: true });
    const tmp = `${dest}.${process.pid}.${tmpSeq++}.tmp`;
    const fh = await open(tmp, "w", 0o600);
    let bytes = 0;
    try {
      for await (const c of chunks) {
        await fh.write(c);
        bytes += c.length;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dest);
    return bytes;
  }

  async getHead(): Promise<SnapshotId | null> {
    try {
      return (await readFile(this.path("head"), "utf8")).trim() || null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  async getManifestText(id: SnapshotId): Promise<string> {
    try {
      return await readFile(this.path("snapshots", id), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new RunnerError(CODES.snapshotNotFound, `Snapshot ${id} not found`);
      }
      throw err;
    }
  }

  async hasPack(packId: string): Promise<boolean> {
    return await stat(this.path("packs", packId)).then(
      () => true,
      () => false,
    );
  }

  async putPack(packId: string, size: number, open: () => Readable): Promise<void> {
    const written = await this.writeDurably(this.path("packs", packId), open());
    if (written !== size) throw new RunnerError("VALIDATION_ERROR", `Pack ${packId}: ${written} bytes, not ${size}`);
  }

  async getPackRange(packId: string, offset: number, length: number): Promise<AsyncIterable<Uint8Array>> {
    if (!(await this.hasPack(packId))) throw new RunnerError("PACK_NOT_FOUND", `Pack ${packId} not found`);
    return createReadStream(this.path("packs", packId), { start: offset, end: offset + length - 1 });
  }

  async commit(manifest: Manifest): Promise<CommitResponse> {
    const packs = new Set<string>();
    for (const e of manifest.entries) if (e.type === "file" && e.loc) packs.add(e.loc.pack);
    for (const p of packs) {
      if (!(await this.hasPack(p))) throw new RunnerError("MISSING_PACKS", `Pack ${p} is not stored`);
    }
    const text = manifestText(manifest);
    const id = sha256Hex(text);
    await this.writeDurably(this.path("snapshots", id), [Buffer.from(text)]);
    // One runner per store in the benchmark; the check still keeps the archiver's contract.
    const head = await this.getHead();
    if (head !== manifest.parent) throw new RunnerError(CODES.headMoved, `Head is ${head}, not ${manifest.parent}`);
    await this.writeDurably(this.path("head"), [Buffer.from(id)]);
    return { snapshotId: id, head: id };
  }
}
