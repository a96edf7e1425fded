/**
 * The restore's pure plan (container/runner/restore-plan.ts), table-driven: which
 * local entries go (children first, with or without their content), which
 * directories, symlinks and files remain to make or compare; files grouped by blob;
 * directories ordered deepest first. No I/O.
 */
import { describe, expect, it } from "vitest";
import { deepestFirst, groupByBlob, planRestore } from "../../../container/runner/restore-plan.ts";
import type { ScanEntry } from "../../../container/runner/scan.ts";
import type { ManifestEntry } from "../../../src/shared/snapshot-format.ts";

const file = (path: string, blob: string, size = 3): Extract<ManifestEntry, { type: "file" }> => ({
  type: "file",
  path,
  mode: 0o644,
  size,
  mtimeMs: 1,
  blob,
  loc: { pack: "p", offset: 0, length: size },
});
const dir = (path: string, mode = 0o755): ManifestEntry => ({ type: "dir", path, mode });
const link = (path: string, target: string): ManifestEntry => ({ type: "symlink", path, target });
const lfile = (path: string, size = 3): ScanEntry => ({ type: "file", path, mode: 0o644, size, mtimeMs: 1, ino: 1 });
const ldir = (path: string, mode = 0o755): ScanEntry => ({ type: "dir", path, mode });
const llink = (path: string, target: string): ScanEntry => ({ type: "symlink", path, target });

describe("planRestore", () => {
  const cases: Array<{
    name: string;
    wanted: ManifestEntry[];
    local: ScanEntry[];
    deletions?: Array<[string, boolean]>;
    dirs?: Array<[string, boolean]>;
    symlinks?: string[];
    compare?: string[];
    files?: string[];
  }> = [
    { name: "empty over empty", wanted: [], local: [] },
    {
      name: "everything missing locally",
      wanted: [dir("a"), file("a/f", "b1"), link("a/l", "f")],
      local: [],
      dirs: [["a", false]],
      symlinks: ["a/l"],
      files: ["a/f"],
    },
    {
      name: "local extras deleted children first, kept when not replaced",
      wanted: [],
      local: [ldir("x"), ldir("x/y"), lfile("x/y/f"), llink("z", "x")],
      deletions: [
        ["z", false],
        ["x/y/f", false],
        ["x/y", false],
        ["x", false],
      ],
    },
    {
      name: "a type change deletes the local entry, a dir with its content",
      wanted: [file("d", "b1"), dir("f"), link("g", "t")],
      local: [ldir("d"), lfile("f"), lfile("g")],
      deletions: [
        ["g", true],
        ["f", true],
        ["d", true],
      ],
      dirs: [["f", false]],
      symlinks: ["g"],
      files: ["d"],
    },
    {
      name: "an existing directory is kept and passed on",
      wanted: [dir("a", 0o700)],
      local: [ldir("a", 0o555)],
      dirs: [["a", true]],
    },
    {
      name: "a symlink already pointing right is left, one pointing elsewhere remade",
      wanted: [link("ok", "t"), link("moved", "new")],
      local: [llink("moved", "old"), llink("ok", "t")],
      symlinks: ["moved"],
    },
    {
      name: "same size compares by hash, another size is simply written",
      wanted: [file("same-size", "b1", 3), file("other-size", "b2", 5)],
      local: [lfile("other-size", 4), lfile("same-size", 3)],
      compare: ["same-size"],
      files: ["same-size", "other-size"],
    },
  ];
  it.each(cases)("$name", (c) => {
    const plan = planRestore(c.wanted, c.local);
    expect(plan.deletions.map((d) => [d.entry.path, d.replaced])).toEqual(c.deletions ?? []);
    expect(plan.dirs.map((d) => [d.entry.path, d.local !== undefined])).toEqual(c.dirs ?? []);
    expect(plan.symlinks.map((e) => e.path)).toEqual(c.symlinks ?? []);
    expect(plan.compare.map((x) => x.entry.path)).toEqual(c.compare ?? []);
    expect(plan.files.map((e) => e.path)).toEqual(c.files ?? []);
  });

  it("hands the compare step the local file's stat (the hash cache keys on it)", () => {
    const local = lfile("f");
    const plan = planRestore([file("f", "b1")], [local]);
    expect(plan.compare[0]?.local).toBe(local);
  });
});

describe("groupByBlob", () => {
  it("groups paths of one blob, blobs in order of first appearance", () => {
    const groups = groupByBlob([file("a", "b2"), file("b", "b1"), file("c", "b2")]);
    expect([...groups].map(([blob, es]) => [blob, es.map((e) => e.path)])).toEqual([
      ["b2", ["a", "c"]],
      ["b1", ["b"]],
    ]);
  });
});

describe("deepestFirst", () => {
  it("orders levels deepest first, keeping order within a level", () => {
    const levels = deepestFirst([{ path: "a" }, { path: "a/b" }, { path: "c" }, { path: "a/b/c" }, { path: "c/d" }]);
    expect(levels.map((l) => l.map((e) => e.path))).toEqual([["a/b/c"], ["a/b", "c/d"], ["a", "c"]]);
  });
  it("is empty for no directories", () => expect(deepestFirst([])).toEqual([]));
});
