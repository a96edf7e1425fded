/**
 * @module runner/manifest-cache
 * The last manifest this sandbox restored or committed, kept in the runner's state
 * directory (`manifest.json`, beside state.json) so the next command that needs it
 * reads it from disk instead of the network: a job after the ensure step's restore, a
 * job after a sync snapshot, a snapshot after a restore. The cache cannot lie: a
 * snapshot id is the SHA-256 of its manifest's text, so a cached text is used only
 * when it hashes to the id asked for; anything else (missing, another snapshot,
 * damaged, or written there by code in the sandbox) is fetched as before. One file,
 * so it never grows.
 *
 * Only a checked manifest is kept: one that passed parseManifest (the shared schema) when
 * fetched, or one this runner committed (the Worker checks a commit with the same schema).
 * So a hit skips the schema check, ~150 ms of a no-change snapshot of 10,000 files.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CommitResponse, Manifest, SnapshotId } from "../../src/shared/snapshot-format.ts";
import { manifestText } from "../../src/shared/snapshot-format.ts";
import { sha256Hex } from "./hash.ts";
import { parseManifest, type SnapshotStore } from "./store.ts";

/** Where the cached manifest lives in the state directory. */
export function manifestCachePath(stateDir: string): string {
  return join(stateDir, "manifest.json");
}

async function remember(stateDir: string, text: string): Promise<void> {
  const path = manifestCachePath(stateDir);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch {
    // A cache: failing to keep it costs one fetch later, nothing more.
  }
}

/** The cached text when it is exactly manifest `id`, else null. */
async function cachedText(stateDir: string, id: SnapshotId): Promise<string | null> {
  const cached = await readFile(manifestCachePath(stateDir)).catch(() => null);
  // The bytes are hashed, not a decoded string (which hashing re-encodes: ~30× slower on a
  // 3 MB manifest), and decoded once, only when they are the manifest asked for.
  return cached !== null && sha256Hex(cached) === id ? cached.toString("utf8") : null;
}

/** `store`, answering manifest reads from the state directory when it holds that exact manifest. */
export function withManifestCache(store: SnapshotStore, stateDir: string): SnapshotStore {
  return {
    getHead: () => store.getHead(),
    async getManifestText(id: SnapshotId): Promise<string> {
      return (await cachedText(stateDir, id)) ?? (await store.getManifestText(id));
    },
    async loadManifest(id: SnapshotId): Promise<Manifest> {
      const cached = await cachedText(stateDir, id);
      // Checked before it was kept (see the module comment); the hash proves it is that text.
      if (cached !== null) return JSON.parse(cached) as Manifest;
      const text = await store.getManifestText(id);
      const manifest = parseManifest(text, id);
      await remember(stateDir, text);
      return manifest;
    },
    hasPack: (packId) => store.hasPack(packId),
    putPack: (packId, size, open) => store.putPack(packId, size, open),
    getPackRange: (packId, offset, length) => store.getPackRange(packId, offset, length),
    async commit(manifest: Manifest): Promise<CommitResponse> {
      const response = await store.commit(manifest);
      await remember(stateDir, manifestText(manifest));
      return response;
    },
  };
}
