/**
 * @module runner/manifest-cache
 * The last manifest this sandbox restored or committed, kept in the runner's state
 * directory (`manifest.json`, beside state.json) so the next command that needs it
 * reads it from disk instead of the network: a job after the ensure step's restore, a
 * job after a sync snapshot, a snapshot after a restore. The cache cannot lie: a
 * snapshot id is the SHA-256 of its manifest's text, so a cached text is used only
 * when it hashes to the id asked for; anything else (missing, another snapshot,
 * damaged) is fetched as before. One file, so it never grows.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { CommitResponse, Manifest, SnapshotId } from "../../src/shared/snapshot-format.ts";
import { manifestText } from "../../src/shared/snapshot-format.ts";
import { sha256Hex } from "./hash.ts";
import type { SnapshotStore } from "./store.ts";

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

/** `store`, answering manifest reads from the state directory when it holds that exact manifest. */
export function withManifestCache(store: SnapshotStore, stateDir: string): SnapshotStore {
  return {
    getHead: () => store.getHead(),
    async getManifestText(id: SnapshotId): Promise<string> {
      const cached = await readFile(manifestCachePath(stateDir), "utf8").catch(() => null);
      if (cached !== null && sha256Hex(cached) === id) return cached;
      const text = await store.getManifestText(id);
      await remember(stateDir, text);
      return text;
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
