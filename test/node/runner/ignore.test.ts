/**
 * Ignore rules: seed 000's defaults, `.git` kept unless SANDBOX_SYNC_IGNORE_GIT,
 * `.env*` dropped, the project's `.sandboxignore` (globs, dir/, !negation), and
 * `--ignore` extras, checked on real scans.
 */
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
