/**
 * @module runner/store
 * The `SnapshotStore` interface the archiver and restorer use: the runner API of
 * shared/snapshot-format.ts seen as operations. `HttpStore` (http-store.ts) is the
 * real implementation; tests use an in-memory fake (test/support/runner-mem-store.ts)
 * that enforces the same rules (content-addressed packs, compare-and-swap head).
 *
 * Also here: `parseManifest`, which checks a manifest's text against its id and
 * against the one manifest schema (src/shared/manifest.ts, the Worker's too: entry
 * paths inside the workspace, blobs located) before anything is written to disk.
 */
import type { Readable } from "node:stream";
import { ManifestSchema } from "../../src/shared/manifest.ts";
import type { CommitResponse, Manifest, SnapshotId } from "../../src/shared/snapshot-format.ts";
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
  /**
   * A checked manifest, for a store that can answer one without fetching and checking its
   * text again (manifest-cache.ts); loadManifest uses it when present.
   */
  loadManifest?(id: SnapshotId): Promise<Manifest>;
}

/**
 * Parses manifest text, checking SHA-256(text) = `id` (so a corrupted or
 * substituted manifest is never restored) and that every entry is well formed.
 */
export function parseManifest(text: string, id: SnapshotId): Manifest {
  if (sha256Hex(text) !== id) {
    throw new RunnerError(CODES.badManifest, `Manifest ${id} does not match its id`);
  }
  const json: unknown = JSON.parse(text);
  const parsed = ManifestSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const path = parsed.error.issues[0]?.path ?? [];
  const entry = path[0] === "entries" && typeof path[1] === "number" ? (json as Manifest).entries[path[1]] : undefined;
  throw new RunnerError(
    CODES.badManifest,
    entry
      ? `Manifest ${id} has a bad entry ${JSON.stringify(entry.path)}`
      : `Manifest ${id} has an unknown format (at ${path.join(".") || "the top"})`,
  );
}

/** Fetches and checks a manifest (or takes a checked one from a store that keeps them). */
export async function loadManifest(store: SnapshotStore, id: SnapshotId): Promise<Manifest> {
  if (store.loadManifest) return await store.loadManifest(id);
  return parseManifest(await store.getManifestText(id), id);
}
