/**
 * Snapshot and restore over the in-memory store (MemStore, the restic-style
 * fake): exact round trips of odd trees, incremental uploads, the hash cache,
 * deletions that spare ignored paths, hash verification (RESTORE_INCOMPLETE),
 * interrupted uploads and concurrent commits (CAS at the store, rebase in the runner).
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MAX_REBASES } from "../../../container/runner/archiver.ts";
import type { Manifest } from "../../../src/shared/snapshot-format.ts";
import { cleanupTemp, describeTree, restore, snap, stateDirOf, tempDir } from "../../support/runner-fixtures.ts";
import { MemStore } from "../../support/runner-mem-store.ts";

afterEach(cleanupTemp);

/** Sets every file's mtime 10 s into the past so the hash cache trusts it (racy-file window). */
async function age(ws: string, ...paths: string[]): Promise<void> {
  const t = new Date(Date.now() - 10_000);
  for (const p of paths) await utimes(join(ws, p), t, t);
}

async function oddTree(ws: string): Promise<void> {
  await mkdir(join(ws, "src/deep/er"), { recursive: true });
  await mkdir(join(ws, "empty dir/nested empty"), { recursive: true });
  await writeFile(join(ws, "src/index.ts"), "export const x = 1;\n");
  await writeFile(join(ws, "name with spaces.txt"), "spaces");
  await writeFile(join(ws, "ünïcödé-日本語.md"), "unicode");
  await writeFile(join(ws, "new\nline.txt"), "newline in name");
  await writeFile(join(ws, "empty.txt"), "");
  await writeFile(join(ws, "src/deep/er/dup-a.bin"), Buffer.alloc(5000, 7));
  await writeFile(join(ws, "src/deep/er/dup-b.bin"), Buffer.alloc(5000, 7));
  await writeFile(join(ws, "run.sh"), "#!/bin/sh\necho hi\n");
  await chmod(join(ws, "run.sh"), 0o755);
  await writeFile(join(ws, "private.key"), "k");
  await chmod(join(ws, "private.key"), 0o600);
  await symlink("src/index.ts", join(ws, "link-to-index"));
  await symlink("/etc/hostname", join(ws, "abs-link"));
  await symlink("does/not/exist", join(ws, "dangling"));
}

describe("snapshot + restore (MemStore)", () => {
  it("round-trips odd names, empty files, symlinks, modes and empty dirs exactly", async () => {
    const store = new MemStore();
    const a = await tempDir();
    await oddTree(a);
    const s = await snap(store, a);
    expect(s.unchanged).toBe(false);
    expect(store.head).toBe(s.snapshotId);
    expect(s.files).toBe(9);
    const b = await tempDir();
    const r = await restore(store, b);
    expect(r.snapshotId).toBe(s.snapshotId);
    expect(await describeTree(b)).toEqual(await describeTree(a));
    expect((await describeTree(b))["new\nline.txt"]).toMatch(/^file 644 /);
    // mtimes come back too
    expect((await stat(join(b, "run.sh"))).mtimeMs).toBeCloseTo((await stat(join(a, "run.sh"))).mtimeMs, 0);
    // the duplicate blob was stored once: both files point at the same bytes, and the
    // packs hold every distinct blob once and nothing else
    const manifest = JSON.parse(store.manifests.get(s.snapshotId) as string) as Manifest;
    const located = manifest.entries.flatMap((e) => (e.type === "file" && e.loc ? [{ blob: e.blob, ...e.loc }] : []));
    const big = located.filter((l) => l.length === 5000);
    expect(big).toHaveLength(2);
    expect(big[1]).toEqual(big[0]);
    const distinct = new Map(located.map((l) => [l.blob, l.length]));
    const packBytes = [...store.packs.values()].reduce((n, p) => n + p.byteLength, 0);
    expect(packBytes).toBe([...distinct.values()].reduce((n, len) => n + len, 0));
  });

  it("directory modes come back exactly: read-only, group-writable, setgid, sticky, plain", async () => {
    const store = new MemStore();
    const a = await tempDir();
    for (const d of ["plain", "ro", "shared", "sgid", "sticky"]) await mkdir(join(a, d));
    await writeFile(join(a, "ro/inside.txt"), "in a read-only dir");
    await chmod(join(a, "ro"), 0o555);
    await chmod(join(a, "shared"), 0o775);
    await chmod(join(a, "sgid"), 0o2755);
    await chmod(join(a, "sticky"), 0o1777);
    await snap(store, a);
    const b = await tempDir();
    await restore(store, b);
    const tree = await describeTree(b);
    expect(tree).toEqual(await describeTree(a));
    expect([tree.plain, tree.ro, tree.shared, tree.sgid, tree.sticky]).toEqual([
      "dir 755",
      "dir 555",
      "dir 775",
      "dir 2755",
      "dir 1777",
    ]);
  });

  it("no-change snapshot writes nothing and reports unchanged", async () => {
    const store = new MemStore();
    const ws = await tempDir();
    await oddTree(ws);
    const first = await snap(store, ws);
    store.resetStats();
    const again = await snap(store, ws);
    expect(again).toMatchObject({ unchanged: true, snapshotId: first.snapshotId, uploadedBytes: 0 });
    expect(store.stats).toMatchObject({ putPacks: 0, commits: 0 });
  });

  it("a one-file change uploads about that file only", async () => {
    const store = new MemStore();
    const ws = await tempDir();
    for (let i = 0; i < 50; i++) await writeFile(join(ws, `f${i}.txt`), `${"x".repeat(20_000)}${i}`);
    const first = await snap(store, ws);
    expect(first.uploadedBytes).toBeGreaterThan(1_000_000);
    await writeFile(join(ws, "f7.txt"), "changed!");
    const second = await snap(store, ws);
    expect(second.unchanged).toBe(false);
    expect(second.newBlobs).toBe(1);
    expect(second.uploadedBytes).toBeLessThan(1000);
    const m = JSON.parse(store.manifests.get(second.snapshotId) as string);
    expect(m.parent).toBe(first.snapshotId);
  });

  it("the hash cache spares re-hashing unchanged files", async () => {
    const store = new MemStore();
    const ws = await tempDir();
    for (let i = 0; i < 20; i++) await writeFile(join(ws, `f${i}.txt`), `content ${i}`);
    await age(ws, ...Array.from({ length: 20 }, (_, i) => `f${i}.txt`));
    const first = await snap(store, ws);
    expect(first.hashedFiles).toBe(20);
    const second = await snap(store, ws);
    expect(second.hashedFiles).toBe(0);
    await writeFile(join(ws, "f3.txt"), "new content");
    const third = await snap(store, ws);
    expect(third.hashedFiles).toBe(1);
  });

  it("restore removes what the snapshot lacks, leaves ignored paths alone, downloads nothing when equal", async () => {
    const store = new MemStore();
    const ws = await tempDir();
    await oddTree(ws);
    const s = await snap(store, ws);
    await writeFile(join(ws, "extra.txt"), "not in snapshot");
    await mkdir(join(ws, "extra-dir/sub"), { recursive: true });
    await writeFile(join(ws, "extra-dir/sub/x"), "x");
    await mkdir(join(ws, "node_modules/pkg"), { recursive: true });
    await writeFile(join(ws, "node_modules/pkg/index.js"), "module");
    await writeFile(join(ws, ".env"), "SECRET=1");
    await mkdir(join(ws, "gone/node_modules"), { recursive: true });
    await writeFile(join(ws, "gone/node_modules/keep.js"), "keep");
    await rm(join(ws, "src/index.ts"));
    await writeFile(join(ws, "name with spaces.txt"), "modified");
    const r = await restore(store, ws);
    expect(r.deleted).toBe(4); // extra.txt, extra-dir/sub/x, extra-dir/sub, extra-dir
    expect(r.written).toBe(2);
    expect(await readFile(join(ws, "node_modules/pkg/index.js"), "utf8")).toBe("module");
    expect(await readFile(join(ws, ".env"), "utf8")).toBe("SECRET=1");
    expect(await readFile(join(ws, "gone/node_modules/keep.js"), "utf8")).toBe("keep");
    expect(await readFile(join(ws, "src/index.ts"), "utf8")).toBe("export const x = 1;\n");
    expect(await readFile(join(ws, "name with spaces.txt"), "utf8")).toBe("spaces");
    await expect(stat(join(ws, "extra-dir"))).rejects.toThrow();
    store.resetStats();
    const again = await restore(store, ws);
    expect(again).toMatchObject({ snapshotId: s.snapshotId, downloadedBytes: 0, written: 0, deleted: 0 });
    expect(store.stats.rangeRequests).toBe(0);
  });

  it("restore fails with RESTORE_INCOMPLETE when a pack returns wrong bytes, leaving no wrong file", async () => {
    const store = new MemStore();
    const a = await tempDir();
    await writeFile(join(a, "good.txt"), "good");
    await writeFile(join(a, "victim.txt"), "the right content");
    await snap(store, a);
    store.corruptRange = (_id, bytes) => {
      const s = bytes.toString("latin1").replace("right", "wrong");
      return Buffer.from(s, "latin1");
    };
    const b = await tempDir();
    await expect(restore(store, b)).rejects.toMatchObject({ code: "RESTORE_INCOMPLETE" });
    await expect(stat(join(b, "victim.txt"))).rejects.toThrow();
    await expect(stat(join(b, ".sandbox-worker/state.json"))).rejects.toThrow();
  });

  it("an upload interrupted mid-pack leaves the head on the previous snapshot", async () => {
    const store = new MemStore();
    const ws = await tempDir();
    await writeFile(join(ws, "a.txt"), "first");
    const first = await snap(store, ws);
    await writeFile(join(ws, "big.bin"), Buffer.alloc(3_000_000, 1));
    store.failPutAfterBytes = 1_000_000;
    await expect(snap(store, ws)).rejects.toMatchObject({ code: "NETWORK_ERROR" });
    expect(store.head).toBe(first.snapshotId);
    expect(store.manifests.size).toBe(1);
    // A later run completes, and restore of the head still gives the first tree meanwhile.
    store.failPutAfterBytes = null;
    const second = await snap(store, ws);
    expect(store.head).toBe(second.snapshotId);
  });

  it("two concurrent snapshots from the same parent: one wins the CAS, the other rebases on top of it", async () => {
    const store = new MemStore();
    const a = await tempDir();
    const b = await tempDir();
    await writeFile(join(a, "x.txt"), "base");
    const base = await snap(store, a);
    await restore(store, b);
    await writeFile(join(a, "x.txt"), "from a");
    await writeFile(join(b, "x.txt"), "from b");
    // Hold both commits until both have read the same head.
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let waiting = 0;
    const refused: string[] = [];
    store.beforeCommit = async () => {
      waiting++;
      if (waiting === 2) release();
      await gate;
    };
    const commit = store.commit.bind(store);
    store.commit = async (m) => {
      try {
        return await commit(m);
      } catch (err) {
        refused.push((err as { code: string }).code);
        throw err;
      }
    };
    const [ra, rb] = await Promise.all([snap(store, a), snap(store, b)]);
    // Exactly one commit from the base was refused: the CAS let only one through.
    expect(refused).toEqual(["HEAD_MOVED"]);
    const [winner, loser] = ra.rebases === 0 ? [ra, rb] : [rb, ra];
    expect(winner.rebases).toBe(0);
    expect(loser.rebases).toBe(1);
    // Linear history: base <- winner <- loser (the head).
    expect(store.head).toBe(loser.snapshotId);
    expect(JSON.parse(store.manifests.get(winner.snapshotId) as string).parent).toBe(base.snapshotId);
    expect(JSON.parse(store.manifests.get(loser.snapshotId) as string).parent).toBe(winner.snapshotId);
    // The rebase re-uploaded nothing: the loser's one pack was sent once.
    expect(store.stats.putPacks).toBe(3);
  });

  it("never snapshots a never-restored workspace over a head; state stays out of the tree", async () => {
    const store = new MemStore();
    const a = await tempDir();
    await writeFile(join(a, "work.txt"), "precious");
    // A new project: nothing to lose, the first snapshot is allowed.
    const first = await snap(store, a);
    expect(await readdir(a)).toEqual(["work.txt"]);
    expect(JSON.parse(await readFile(join(stateDirOf(a), "state.json"), "utf8"))).toMatchObject({
      head: first.snapshotId,
    });
    // A fresh workspace (a new container's disk) of the same project is refused, and nothing moves.
    const fresh = await tempDir();
    await writeFile(join(fresh, "partial.txt"), "half");
    await expect(snap(store, fresh)).rejects.toMatchObject({ code: "WORKSPACE_NOT_RESTORED" });
    expect(store.head).toBe(first.snapshotId);
    expect(store.manifests.size).toBe(1);
    // Once restored, it snapshots as usual.
    await restore(store, fresh);
    expect(await readdir(fresh)).toEqual(["work.txt"]);
    await writeFile(join(fresh, "more.txt"), "more");
    expect((await snap(store, fresh)).unchanged).toBe(false);
  });

  it("a snapshot right after a restore is unchanged, though mtimes come back only to the microsecond", async () => {
    const store = new MemStore();
    const a = await tempDir();
    for (let i = 0; i < 20; i++) await writeFile(join(a, `f${i}.txt`), String(i));
    const first = await snap(store, a);
    const b = await tempDir();
    await restore(store, b);
    expect(await snap(store, b)).toMatchObject({ unchanged: true, snapshotId: first.snapshotId });
  });

  it("the store refuses a commit from a stale parent (CAS)", async () => {
    const store = new MemStore();
    const ws = await tempDir();
    await writeFile(join(ws, "x.txt"), "one");
    const first = await snap(store, ws);
    await writeFile(join(ws, "x.txt"), "two");
    const second = await snap(store, ws);
    expect(store.head).toBe(second.snapshotId);
    const stale = JSON.parse(store.manifests.get(second.snapshotId) as string);
    stale.parent = null; // as if taken before the first snapshot existed
    await expect(store.commit(stale)).rejects.toMatchObject({ code: "HEAD_MOVED" });
    stale.parent = first.snapshotId;
    stale.createdAt = new Date(0).toISOString();
    await expect(store.commit(stale)).rejects.toMatchObject({ code: "HEAD_MOVED" });
    expect(store.head).toBe(second.snapshotId);
  });

  it("gives up with HEAD_MOVED after rebasing MAX_REBASES times", async () => {
    const store = new MemStore();
    const ws = await tempDir();
    await writeFile(join(ws, "x.txt"), "one");
    await snap(store, ws);
    await writeFile(join(ws, "x.txt"), "two");
    // A rival moves the head (with a real snapshot of the old tree) just before each of our CAS steps.
    let rivals = 0;
    let inRival = false;
    store.beforeCommit = async () => {
      if (inRival) return;
      inRival = true;
      try {
        const head = store.head as string;
        const m = JSON.parse(store.manifests.get(head) as string);
        await store.commit({ ...m, parent: head, createdAt: new Date(Date.now() + ++rivals).toISOString() });
      } finally {
        inRival = false;
      }
    };
    await expect(snap(store, ws)).rejects.toMatchObject({ code: "HEAD_MOVED" });
    expect(rivals).toBe(1 + MAX_REBASES);
  });

  it("restore keeps a few ranges in flight (at most 3), and the tree comes back exactly", async () => {
    const store = new MemStore();
    const ws = await tempDir();
    for (let i = 0; i < 8; i++) await writeFile(join(ws, `f${i}`), randomBytes(40_000));
    await snap(store, ws, { packTargetBytes: 50_000 });
    expect(store.packs.size).toBe(8);
    let open = 0;
    let most = 0;
    const serve = store.getPackRange.bind(store);
    store.getPackRange = async (packId, offset, length) => {
      const chunks = await serve(packId, offset, length);
      open++;
      most = Math.max(most, open);
      return (async function* () {
        try {
          for await (const c of chunks) {
            await new Promise((r) => setTimeout(r, 5));
            yield c;
          }
        } finally {
          open--;
        }
      })();
    };
    const b = await tempDir();
    await restore(store, b);
    expect(store.stats.rangeRequests).toBe(8);
    expect(most).toBe(3);
    expect(await describeTree(b)).toEqual(await describeTree(ws));
  });

  it("small packs: blobs are split at the target size and a larger blob gets its own pack", async () => {
    const store = new MemStore();
    const ws = await tempDir();
    for (let i = 0; i < 6; i++) await writeFile(join(ws, `f${i}`), Buffer.alloc(40_000, i + 1));
    await writeFile(join(ws, "huge"), Buffer.alloc(300_000, 99));
    const s = await snap(store, ws, { packTargetBytes: 100_000 });
    const manifest = JSON.parse(store.manifests.get(s.snapshotId) as string) as Manifest;
    const blobsPerPack = new Map<string, number>();
    for (const e of manifest.entries) {
      if (e.type === "file" && e.loc) blobsPerPack.set(e.loc.pack, (blobsPerPack.get(e.loc.pack) ?? 0) + 1);
    }
    const sizes = [...blobsPerPack.values()].sort();
    expect(sizes).toEqual([1, 2, 2, 2]);
    const b = await tempDir();
    await restore(store, b);
    expect(await describeTree(b)).toEqual(await describeTree(ws));
  });
});
