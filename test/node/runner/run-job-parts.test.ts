/**
 * Parts of run-job on their own: EventBatcher (order, batch size, the final batch
 * on close, a transiently failing post retried rather than lost) and the diff's
 * size cap (cut at a line end, diffTruncated set) over real files and real git;
 * the bound on listed changed paths (counts kept, lists cut in turn).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { capChangedFiles, changedFiles, treeFromScan, unifiedDiff } from "../../../container/runner/changes.ts";
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

describe("capChangedFiles", () => {
  const paths = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(6, "0")}`);

  it("keeps small lists whole, with counts", () => {
    const c = capChangedFiles({ added: ["a"], modified: ["m"], deleted: [] });
    expect(c).toEqual({
      added: ["a"],
      modified: ["m"],
      deleted: [],
      counts: { added: 1, modified: 1, deleted: 0 },
      truncated: false,
    });
  });

  it("cuts by path count, taking from the three lists in turn, and keeps the full counts", () => {
    const added = paths("src/gen/", 12_000);
    const c = capChangedFiles({ added, modified: ["m1", "m2", "m3"], deleted: ["d1", "d2"] }, 5000);
    expect(c.modified).toEqual(["m1", "m2", "m3"]);
    expect(c.deleted).toEqual(["d1", "d2"]);
    expect(c.added).toEqual(added.slice(0, 4995));
    expect(c.counts).toEqual({ added: 12_000, modified: 3, deleted: 2 });
    expect(c.truncated).toBe(true);
  });

  it("cuts by bytes when paths are long", () => {
    const long = Array.from({ length: 10 }, (_, i) => `${"x".repeat(999)}${i}`);
    const c = capChangedFiles({ added: long, modified: [], deleted: [] }, 5000, 3500);
    expect(c.added).toEqual(long.slice(0, 3));
    expect(c.truncated).toBe(true);
  });
});
