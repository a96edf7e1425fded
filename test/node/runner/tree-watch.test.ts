/**
 * The sync watcher's tree watch (container/runner/tree-watch.ts) on real inotify:
 * ignored directories get no watch and report nothing, a directory that appears is
 * watched and its contents reported, one that goes away takes its watches along,
 * and a refused watch (ENOSPC) is reported once as degraded, sync then snapshotting
 * every interval.
 */
import { watch } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_IGNORES, IgnoreRules } from "../../../container/runner/ignore.ts";
import { SyncWatcher } from "../../../container/runner/sync.ts";
import { TreeWatcher } from "../../../container/runner/tree-watch.ts";
import { cleanupTemp, tempDir } from "../../support/runner-fixtures.ts";

const watchers: TreeWatcher[] = [];
afterEach(async () => {
  for (const w of watchers.splice(0)) w.close();
  await cleanupTemp();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await sleep(20);
  return check();
}

async function project(): Promise<string> {
  const ws = await tempDir();
  await mkdir(join(ws, "src/a/b"), { recursive: true });
  for (let i = 0; i < 10; i++) await mkdir(join(ws, `node_modules/pkg${i}/lib`), { recursive: true });
  await mkdir(join(ws, "dist/assets"), { recursive: true });
  return ws;
}

function start(ws: string, extra: Partial<ConstructorParameters<typeof TreeWatcher>[0]> = {}) {
  const seen: (string | null)[] = [];
  const w = new TreeWatcher({
    root: ws,
    rules: new IgnoreRules(DEFAULT_IGNORES),
    onChange: (rel) => seen.push(rel),
    ...extra,
  });
  watchers.push(w);
  w.start();
  return { w, seen };
}

describe("TreeWatcher", () => {
  it("watches only the directories the ignore rules keep, and reports changes there only", async () => {
    const ws = await project();
    const { w, seen } = start(ws);
    expect(w.watchedDirs.sort()).toEqual(["", "src", "src/a", "src/a/b"]);

    await writeFile(join(ws, "node_modules/pkg3/lib/index.js"), "ignored");
    await writeFile(join(ws, "dist/assets/app.js"), "ignored");
    await writeFile(join(ws, "src/a/b/kept.ts"), "kept");
    expect(await until(() => seen.includes("src/a/b/kept.ts"))).toBe(true);
    await sleep(100);
    expect(seen.filter((p) => p?.startsWith("node_modules") || p?.startsWith("dist"))).toEqual([]);
  });

  it("watches a directory that appears, reports what was written into it, and drops the watches of one that goes", async () => {
    const ws = await project();
    const { w, seen } = start(ws);
    // Written before its watch can exist: found by the walk of the new directory.
    await mkdir(join(ws, "src/new/deep"), { recursive: true });
    await writeFile(join(ws, "src/new/deep/early.ts"), "early");
    expect(await until(() => w.watchedDirs.includes("src/new/deep"))).toBe(true);
    expect(await until(() => seen.includes("src/new/deep/early.ts"))).toBe(true);
    await writeFile(join(ws, "src/new/deep/later.ts"), "later");
    expect(await until(() => seen.includes("src/new/deep/later.ts"))).toBe(true);

    await rm(join(ws, "src/a"), { recursive: true });
    expect(await until(() => !w.watchedDirs.some((d) => d === "src/a" || d.startsWith("src/a/")))).toBe(true);
    expect(w.watchedDirs.sort()).toEqual(["", "src", "src/new", "src/new/deep"]);
  });

  it("a watch the kernel refuses (ENOSPC) makes it degraded, once, with the limit to raise", async () => {
    const ws = await project();
    const reasons: string[] = [];
    let allowed = 2;
    const refusing = ((...args: Parameters<typeof watch>) => {
      if (allowed-- <= 0) throw Object.assign(new Error("no space"), { code: "ENOSPC" });
      return watch(...args);
    }) as typeof watch;
    const { w } = start(ws, { watch: refusing, onDegraded: (r) => reasons.push(r) });
    expect(w.watchedDirs).toHaveLength(2);
    expect(reasons).toHaveLength(1);
    expect(w.degraded).toMatch(/fs\.inotify\.max_user_watches/);
  });

  it("refuses a root that is not a directory", async () => {
    const ws = await tempDir();
    const w = new TreeWatcher({
      root: join(ws, "missing"),
      rules: new IgnoreRules(DEFAULT_IGNORES),
      onChange: () => {},
    });
    expect(() => w.start()).toThrow(/not a directory/);
  });

  it("sync falls back to a snapshot every interval when watching is partial, and stops doing so on stop()", async () => {
    const ws = await project();
    const refusing = (() => {
      throw Object.assign(new Error("no space"), { code: "ENOSPC" });
    }) as unknown as typeof watch;
    const reasons: string[] = [];
    const sync = new SyncWatcher({
      workspace: ws,
      rules: new IgnoreRules(DEFAULT_IGNORES),
      intervalMs: 50,
      batchFiles: 10,
      snapshot: async (reason) => void reasons.push(reason),
      watch: refusing,
    });
    sync.start();
    expect(await until(() => reasons.length >= 3)).toBe(true);
    expect(reasons[0]).toMatch(/periodic/);
    await sync.stop();
    const after = reasons.length;
    await sleep(200);
    expect(reasons.length).toBe(after);
  });
});
