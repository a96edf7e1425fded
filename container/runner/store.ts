/**
 * @module runner/store
 * The `SnapshotStore` interface the archiver and restorer use: the runner API of
 * shared/snapshot-format.ts seen as operations. `HttpStore` (http-store.ts) is the
 * real implementation; tests use an in-memory fake (test/support/runner-mem-store.ts)
 * that enforces the same rules (content-addressed packs, compare-and-swap head).
 *
 * Also here: `parseManifest`, which checks a manifest's text against its id and
 * its entries against the path rules before anything is written to disk.
 */
import type { Readable } from "node:stream";
import {
  type CommitResponse,
  type Manifest,
  type ManifestEntry,
  SHA256_HEX,
  type SnapshotId,
} from "../../src/shared/snapshot-format.ts";
import { CODES, RunnerError } from "./errors.ts";
import { sha256Hex } from "./hash.ts";

/** Storage operations of the runner API. Errors are RunnerErrors with stable codes. */
export interface SnapshotStore {
  /** The project's head, or null before its first snapshot. */
  getHead(): Promise<SnapshotId | null>;
  /** The manifest text exactly as committed (SNAPSHOT_NOT_FOUND if unknown). */
  getManifestText(id: SnapshotId): Promise<string>;
  /** Whether a pack with this id is stored. */
  hasPack(packId: string): Promise<boolean>;
  /**
   * Stores a pack of `size` bytes. `open` gives a fresh stream of its bytes each
   * time it is called, so a failed attempt can be retried from the start.
   */
  putPack(packId: string, size: number, open: () => Readable): Promise<void>;
  /** `length` bytes of a pack from `offset`, streamed. */
  getPackRange(packId: string, offset: number, length: number): Promise<AsyncIterable<Uint8Array>>;
  /** Stores the manifest and moves the head from `manifest.parent` (HEAD_MOVED otherwise). */
  commit(manifest: Manifest): Promise<CommitResponse>;
}

/** Whether a manifest path is safe to write under the workspace: relative, no `.`/`..`/empty segments, no NUL. */
export function isSafeRelPath(path: string): boolean {
  if (!path || path.startsWith("/") || path.includes("\0")) return false;
  return path.split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

function checkEntry(e: ManifestEntry): boolean {
  if (!isSafeRelPath(e.path)) return false;
  if (e.type === "file") {
    if (!SHA256_HEX.test(e.blob) || !Number.isSafeInteger(e.size) || e.size < 0) return false;
    if (e.size > 0 && (!e.loc || !SHA256_HEX.test(e.loc.pack) || e.loc.length !== e.size)) return false;
    return true;
  }
  if (e.type === "dir") return Number.isInteger(e.mode);
  return e.type === "symlink" && typeof e.target === "string";
}

/**
 * Parses manifest text, checking SHA-256(text) = `id` (so a corrupted or
 * substituted manifest is never restored) and that every entry is well formed.
 */
export function parseManifest(text: string, id: SnapshotId): Manifest {
  if (sha256Hex(text) !== id) {
    throw new RunnerError(CODES.badManifest, `Manifest ${id} does not match its id`);
  }
  const m = JSON.parse(text) as Manifest;
  if (m.version !== 1 || !Array.isArray(m.entries)) {
    throw new RunnerError(CODES.badManifest, `Manifest ${id} has an unknown format`);
  }
  for (const e of m.entries) {
    if (!checkEntry(e))
      throw new RunnerError(CODES.badManifest, `Manifest ${id} has a bad entry ${JSON.stringify(e.path)}`);
  }
  return m;
}

/** Fetches and checks a manifest. */
export async function loadManifest(store: SnapshotStore, id: SnapshotId): Promise<Manifest> {
  return parseManifest(await store.getManifestText(id), id);
}
