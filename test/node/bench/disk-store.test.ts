/**
 * bench/disk-store.ts, the local-disk SnapshotStore bench:snapshot runs the runner's
 * engine against: a snapshot round-trips through it exactly, a no-change snapshot
 * writes nothing, and it keeps the store's rules (compare-and-swap head, packs before
 * the manifest that names them, unknown snapshots and packs are errors).
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DiskStore } from "../../../bench/disk-store.ts";
import { RunnerError } from "../../../container/runner/errors.ts";
import type { Manifest } from "../../../src/shared/snapshot-format.ts";
import { cleanupTemp, describeTree, restore, snap, tempDir } from "../../support/runner-fixtures.ts";

afterEach(cleanupTemp);

const manifest = (parent: string | null, pack?: string): Manifest => ({
  version: 1,
  projectId: "demo",
  parent,
  createdAt: "2026-01-01T00:00:00.000Z",
  entries: pack
    ? [
        {
          type: "file",
          path: "a",
          mode: 0o644,
          size: 1,
          mtimeMs: 0,
          blob: "0".repeat(64),
          loc: { pack, offset: 0, length: 1 },
        },
      ]
    : [],
  summary: { files: pack ? 1 : 0, dirs: 0, symlinks: 0, bytes: pack ? 1 : 0 },
});

describe("DiskStore", () => {
  it("round-trips a snapshot and writes nothing for a no-change one", async () => {
    const store = new DiskStore(await tempDir("disk-store-"));
    const a = await tempDir();
    await mkdir(join(a, "src"));
    await writeFile(join(a, "src/x.ts"), "export const x = 1;\n");
    await writeFile(join(a, "big.bin"), Buffer.alloc(2 * 1024 * 1024, 3));
    const first = await snap(store, a);
    expect(first.unchanged).toBe(false);
    expect(await store.getHead()).toBe(first.snapshotId);
    const b = await tempDir();
    await restore(store, b);
    expect(await describeTree(b)).toEqual(await describeTree(a));
    const again = await snap(store, a);
    expect(again).toMatchObject({ unchanged: true, snapshotId: first.snapshotId, uploadedBytes: 0 });
  });

  it("moves the head only from its parent and refuses manifests naming missing packs", async () => {
    const dir = await tempDir("disk-store-");
    const store = new DiskStore(dir);
    const { snapshotId } = await store.commit(manifest(null));
    await expect(store.commit(manifest(null))).rejects.toMatchObject({ code: "HEAD_MOVED" });
    await expect(store.commit(manifest(snapshotId, "f".repeat(64)))).rejects.toMatchObject({ code: "MISSING_PACKS" });
    expect(await store.getHead()).toBe(snapshotId);
    await expect(store.getManifestText("e".repeat(64))).rejects.toBeInstanceOf(RunnerError);
    await expect(store.getPackRange("e".repeat(64), 0, 1)).rejects.toMatchObject({ code: "PACK_NOT_FOUND" });
    // Temp files never stay behind.
    expect((await readdir(join(dir, "snapshots"))).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });
});
