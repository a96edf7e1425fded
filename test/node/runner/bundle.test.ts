/**
 * The runner bundle: scripts/build-runner.ts produces one executable file with a
 * shebang, node built-ins only, at most 2 MB; `--version`/`--help` work, and it
 * takes a real snapshot against the stand-in runner API.
 */
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRunner, MAX_RUNNER_BYTES } from "../../../scripts/build-runner.ts";
import { cleanupTemp, tempDir } from "../../support/runner-fixtures.ts";
import { runnerEnv, runRunner } from "../../support/runner-process.ts";
import { startStandinRunnerApi } from "../../support/standin-runner-api.ts";

let bundle: string;
beforeAll(async () => {
  const dir = await tempDir("runner-bundle-");
  bundle = (await buildRunner(join(dir, "runner.mjs"))).outfile;
});
afterAll(cleanupTemp);

describe("runner bundle", () => {
  it("is one executable file with a shebang, only node: imports, ≤ 2 MB", async () => {
    const st = await stat(bundle);
    expect(st.size).toBeLessThanOrEqual(MAX_RUNNER_BYTES);
    expect(st.mode & 0o111).toBe(0o111);
    const text = await readFile(bundle, "utf8");
    expect(text.startsWith("#!/usr/bin/env node\n")).toBe(true);
    // A specifier has no spaces or punctuation of code (a message ending in `from"` is no import).
    const specifiers = [...text.matchAll(/(?:\bfrom|\bimport\()\s*"([^"\s;(){},]+)"/g)].map((m) => m[1]);
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => !s?.startsWith("node:"))).toEqual([]);
  });

  it("answers --version and --help, and snapshots", async () => {
    const pkg = JSON.parse(await readFile(new URL("../../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    const v = await runRunner(["--version"], process.env, bundle);
    expect(v.stdout.trim()).toBe(pkg.version);
    const h = await runRunner(["--help"], process.env, bundle);
    expect(h.stdout).toContain("runner restore [--snapshot ID] [--if-fresh] [--no-install]");
    const api = await startStandinRunnerApi();
    try {
      const ws = await tempDir();
      await writeFile(join(ws, "a.txt"), "bundled");
      const s = await runRunner(["snapshot", "--json"], runnerEnv(api, ws), bundle);
      expect(s.result).toMatchObject({ ok: true, command: "snapshot", files: 1 });
      expect(api.store.head).toBe((s.result as { snapshotId: string }).snapshotId);
    } finally {
      await api.close();
    }
  });
});
