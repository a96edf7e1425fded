/**
 * Ignore rules: seed 000's defaults, `.git` kept unless SANDBOX_SYNC_IGNORE_GIT,
 * `.env*` dropped, the project's `.sandboxignore` (globs, dir/, !negation), and
 * `--ignore` extras, checked on real scans.
 */
import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { IgnoreRules, loadIgnoreRules } from "../../../container/runner/ignore.ts";
import { scanWorkspace } from "../../../container/runner/scan.ts";
import { cleanupTemp, tempDir } from "../../support/runner-fixtures.ts";

afterEach(cleanupTemp);

async function files(ws: string, paths: string[]): Promise<void> {
  for (const p of paths) {
    await mkdir(join(ws, p, ".."), { recursive: true });
    await writeFile(join(ws, p), p);
  }
}

describe("ignore rules", () => {
  it("applies seed 000 defaults, keeps .git, drops .env*, and never takes .sandbox-worker", async () => {
    const ws = await tempDir();
    await files(ws, [
      "src/a.ts",
      "node_modules/x/index.js",
      "packages/p/node_modules/y.js",
      "dist/out.js",
      ".next/cache",
      "build/b",
      ".cache/c",
      "tmp/t",
      "coverage/lcov",
      "logs/l",
      "app.log",
      "src/debug.log",
      ".env",
      ".env.local",
      ".git/HEAD",
      ".git/objects/ab/cdef",
      ".sandbox-worker/state.json",
      "src/build.ts",
    ]);
    const paths = (await scanWorkspace(ws, await loadIgnoreRules(ws))).map((e) => e.path);
    expect(paths).toEqual([
      ".git",
      ".git/HEAD",
      ".git/objects",
      ".git/objects/ab",
      ".git/objects/ab/cdef",
      "packages",
      "packages/p",
      "src",
      "src/a.ts",
      "src/build.ts",
    ]);
    const noGit = (await scanWorkspace(ws, await loadIgnoreRules(ws, { ignoreGit: true }))).map((e) => e.path);
    expect(noGit.some((p) => p.startsWith(".git"))).toBe(false);
  });

  it("reads .sandboxignore (globs, dir/, anchors, !negation) and --ignore extras", async () => {
    const ws = await tempDir();
    await files(ws, ["a.tmp", "sub/b.tmp", "keep.tmp", "out/x", "sub/out/y", "docs/big/z", "dist/keep-me.js", "c.txt"]);
    await writeFile(join(ws, ".sandboxignore"), "# comment\n*.tmp\n!keep.tmp\n/out/\ndocs/**/z\n!dist/\n");
    const rules = await loadIgnoreRules(ws, { extra: ["c.txt"] });
    const paths = (await scanWorkspace(ws, rules)).filter((e) => e.type === "file").map((e) => e.path);
    expect(paths).toEqual([".sandboxignore", "dist/keep-me.js", "keep.tmp", "sub/out/y"]);
  });

  it("means what git means: each case answered as `git check-ignore` answers it", async () => {
    const ws = await tempDir();
    const rules = [
      "*.py[cod]",
      "!keep.pyc",
      "/anchored.txt",
      "docs/**/z.md",
      "**/deep/",
      "build/",
      "!build/keep/",
      "\\#notcomment",
      "\\!bang",
      "foo/*.js",
      "a/**/b",
      "*.tmp",
      "!important.tmp",
      "[Rr]eadme.old",
      "ends-in-space\\ ",
      "# a comment",
      "",
    ];
    // [path, is a directory]
    const cases: Array<[string, boolean]> = [
      ["x.pyc", false],
      ["x.pyo", false],
      ["x.pyd", false],
      ["x.py", false],
      ["sub/y.pyc", false],
      ["keep.pyc", false],
      ["anchored.txt", false],
      ["sub/anchored.txt", false],
      ["docs/z.md", false],
      ["docs/a/z.md", false],
      ["docs/a/b/z.md", false],
      ["other/docs/a/z.md", false],
      ["deep", true],
      ["x/deep", true],
      ["x/deep/f", false],
      ["y/deep", false],
      ["build", true],
      ["build/keep", true],
      ["build/keep/f", false],
      ["#notcomment", false],
      ["!bang", false],
      ["foo/a.js", false],
      ["foo/b/a.js", false],
      ["a/b", false],
      ["a/x/b", false],
      ["a/x/y/b", false],
      ["z.tmp", false],
      ["important.tmp", false],
      ["Readme.old", false],
      ["readme.old", false],
      ["README.old", false],
      ["ends-in-space ", false],
      ["ends-in-space", false],
      ["# a comment", false],
    ];
    for (const [path, isDir] of cases) {
      if (isDir) await mkdir(join(ws, path), { recursive: true });
      else await files(ws, [path]);
    }
    await writeFile(join(ws, ".gitignore"), `${rules.join("\n")}\n`);
    spawnSync("git", ["init", "-q"], { cwd: ws });
    const byGit = spawnSync("git", ["check-ignore", "--no-index", "--stdin", "-z"], {
      cwd: ws,
      input: cases.map(([p]) => `${p}\0`).join(""),
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", HOME: ws, GIT_CONFIG_NOSYSTEM: "1", LC_ALL: "C" },
    });
    expect([0, 1], byGit.stderr).toContain(byGit.status);
    const ignoredByGit = new Set(byGit.stdout.split("\0").filter(Boolean));
    const ours = new IgnoreRules(rules);
    const answers = cases.map(([path, isDir]) => [path, ours.ignores(path, isDir)]);
    expect(answers).toEqual(cases.map(([path]) => [path, ignoredByGit.has(path)]));
    // The case the hand-written rules got wrong: a character class matched nothing.
    expect(ignoredByGit.has("x.pyc")).toBe(true);
  });

  it("ignores() sees ancestors: anything under an ignored directory is ignored", () => {
    const r = new IgnoreRules(["node_modules/", "*.log"]);
    expect(r.ignores("a/node_modules/b/c.js", false)).toBe(true);
    expect(r.ignores("node_modules", true)).toBe(true);
    expect(r.ignores("node_modules", false)).toBe(false);
    expect(r.ignores("x/y.log", false)).toBe(true);
    expect(r.ignores("x/y.ts", false)).toBe(false);
    expect(r.ignores(".sandbox-worker/tmp/p", false)).toBe(true);
  });
});
