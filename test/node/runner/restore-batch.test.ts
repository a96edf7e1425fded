/**
 * Restore writes small files in synchronous batches (restorer.ts): a tree of
 * several batches' worth of files (more than WRITE_BATCH_FILES) across many
 * directories, with mixed modes, duplicate contents and empty files, must round-trip
 * exactly, mtimes included, and leave no temp file behind.
 */
import { chmod, mkdir, readdir, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanupTemp, describeTree, restore, snap, tempDir } from "../../support/runner-fixtures.ts";
import { MemStore } from "../../support/runner-mem-store.ts";

afterEach(cleanupTemp);

const FILES = 700;
const MODES = [0o644, 0o755, 0o600, 0o640] as const;

describe("restore in batches", () => {
  it("round-trips several batches of small files exactly, with modes and mtimes", async () => {
    const a = await tempDir();
    const mtimes = new Map<string, number>();
    for (let i = 0; i < FILES; i++) {
      const dir = `d${i % 37}/e${i % 5}`;
      await mkdir(join(a, dir), { recursive: true });
      const rel = `${dir}/f${i}.txt`;
      // Every 50th file empty, every 7th a duplicate of another's content.
      const body = i % 50 === 0 ? "" : i % 7 === 0 ? "same content\n" : `file ${i}\n`.repeat(1 + (i % 40));
      await writeFile(join(a, rel), body);
      await chmod(join(a, rel), MODES[i % MODES.length] as number);
      const t = new Date(Date.UTC(2024, 0, 1) + i * 1000);
      await utimes(join(a, rel), t, t);
      mtimes.set(rel, t.getTime());
    }
    const store = new MemStore();
    await snap(store, a);

    const b = await tempDir();
    const r = await restore(store, b);
    expect(r.written).toBe(FILES);
    expect(await describeTree(b)).toEqual(await describeTree(a));
    for (const [rel, ms] of mtimes) expect((await stat(join(b, rel))).mtimeMs).toBe(ms);
    // No scratch directory left behind.
    expect(await readdir(b)).not.toContain(".sandbox-worker");

    // A second restore changes nothing.
    const again = await restore(store, b);
    expect(again.written).toBe(0);
    expect(again.downloadedBytes).toBe(0);
  });
});
