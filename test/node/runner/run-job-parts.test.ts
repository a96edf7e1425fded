/**
 * Parts of run-job on their own: EventBatcher (order, batch size, the final batch
 * on close, a transiently failing post retried rather than lost) and the diff's
 * size cap (cut at a line end, diffTruncated set) over real files and real git.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { changedFiles, treeFromScan, unifiedDiff } from "../../../container/runner/changes.ts";
import { RunnerError } from "../../../container/runner/errors.ts";
import { loadIgnoreRules } from "../../../container/runner/ignore.ts";
import { EventBatcher } from "../../../container/runner/job-client.ts";
import type { NewJobEvent } from "../../../src/shared/job-format.ts";
import { cleanupTemp, tempDir } from "../../support/runner-fixtures.ts";

afterEach(cleanupTemp);

describe("EventBatcher", () => {
  it("posts in order, ≤ maxBatch per post, and the final batch on close", async () => {
    const posts: NewJobEvent[][] = [];
    const b = new EventBatcher({ post: async (e) => void posts.push(e), flushMs: 10_000, maxBatch: 100 });
    for (let i = 0; i < 250; i++) b.push({ type: "log", data: { i } });
    await b.close();
    expect(posts.map((p) => p.length)).toEqual([100, 100, 50]);
    expect(posts.flat().map((e) => e.data.i)).toEqual(Array.from({ length: 250 }, (_, i) => i));
  });

  it("flushes on its timer, keeps events across a transient failure, drops after close", async () => {
    const posts: NewJobEvent[][] = [];
    let failNext = true;
    const b = new EventBatcher({
      post: async (e) => {
        if (failNext) {
          failNext = false;
          throw new RunnerError("NETWORK_ERROR", "down", { transient: true });
        }
        posts.push(e);
      },
      flushMs: 20,
    });
    b.push({ type: "log", data: { i: 1 } });
    await new Promise((r) => setTimeout(r, 200));
    b.push({ type: "log", data: { i: 2 } });
    await b.close();
    expect(posts.flat().map((e) => e.data.i)).toEqual([1, 2]);
    b.push({ type: "log", data: { i: 3 } });
    expect(b.dropped).toBe(1);
  });
});

describe("unifiedDiff", () => {
  it("caps the diff at maxBytes on a line boundary", async () => {
    const ws = await tempDir();
    const rules = await loadIgnoreRules(ws);
    const before = await treeFromScan(ws, rules);
    for (let i = 0; i < 20; i++) await writeFile(join(ws, `f${i}.txt`), `${"line\n".repeat(100)}`);
    const after = await treeFromScan(ws, rules);
    const changes = changedFiles(before, after);
    expect(changes.added).toHaveLength(20);
    const full = await unifiedDiff({
      workspace: ws,
      before,
      after,
      changes,
      readBefore: async () => null,
      maxBytes: 1e6,
    });
    expect(full.truncated).toBe(false);
    const cut = await unifiedDiff({
      workspace: ws,
      before,
      after,
      changes,
      readBefore: async () => null,
      maxBytes: 1000,
    });
    expect(cut.truncated).toBe(true);
    expect(Buffer.byteLength(cut.diff)).toBeLessThanOrEqual(1000);
    expect(cut.diff.endsWith("\n")).toBe(true);
    expect(full.diff.startsWith(cut.diff)).toBe(true);
  });
});
