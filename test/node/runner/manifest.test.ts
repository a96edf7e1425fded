/**
 * The runner checks every manifest it restores against the one manifest schema the
 * Worker commits with (src/shared/manifest.ts): the same entry path rule, the same
 * strictness. container/runner/store.ts's parseManifest is the runner's side.
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../container/runner/hash.ts";
import { manifestCachePath, withManifestCache } from "../../../container/runner/manifest-cache.ts";
import { loadManifest, parseManifest } from "../../../container/runner/store.ts";
import { isWorkspaceEntryPath } from "../../../src/shared/manifest.ts";
import type { Manifest } from "../../../src/shared/snapshot-format.ts";
import { tempDir } from "../../support/runner-fixtures.ts";
import { MemStore } from "../../support/runner-mem-store.ts";

const hex = "ab".repeat(32);

function manifest(entries: unknown[], extra: Record<string, unknown> = {}): string {
  const m = {
    version: 1,
    projectId: "p",
    parent: null,
    createdAt: "2026-01-01T00:00:00.000Z",
    entries,
    summary: { files: 0, dirs: entries.length, symlinks: 0, bytes: 0 },
    ...extra,
  };
  return JSON.stringify(m);
}

function parse(text: string): Manifest {
  return parseManifest(text, sha256Hex(text));
}

describe("parseManifest (the shared schema, in the runner)", () => {
  it("accepts a well-formed manifest", () => {
    const text = manifest([{ type: "dir", path: "src", mode: 0o755 }]);
    expect(parse(text).entries).toEqual([{ type: "dir", path: "src", mode: 0o755 }]);
  });

  it("refuses a text that is not its id's", () => {
    const text = manifest([]);
    expect(() => parseManifest(text, hex)).toThrow(/does not match its id/);
  });

  it.each(["../etc", "/etc/passwd", "a//b", "a/./b", "a\0b"])("refuses an entry path outside the rule: %j", (path) => {
    expect(() => parse(manifest([{ type: "dir", path, mode: 0o755 }]))).toThrow(
      expect.objectContaining({ code: "INVALID_MANIFEST", message: expect.stringContaining("has a bad entry") }),
    );
  });

  it("refuses what the Worker would refuse: unknown fields, a located file without loc", () => {
    expect(() => parse(manifest([], { extra: true }))).toThrow(/unknown format/);
    const file = { type: "file", path: "a", mode: 0o644, size: 3, mtimeMs: 0, blob: hex };
    expect(() => parse(manifest([file]))).toThrow(/has a bad entry "a"/);
  });

  it("the entry path rule: relative, no empty, '.' or '..' segments, no NUL", () => {
    expect(["a", "a/b", "a b/ü", "new\nline", ".hidden", "a..b"].every(isWorkspaceEntryPath)).toBe(true);
    expect(["", "/a", "a/", "./a", "a/../b", "..", "a\0"].some(isWorkspaceEntryPath)).toBe(false);
  });
});

describe("the manifest cache (container/runner/manifest-cache.ts)", () => {
  it("keeps only checked manifests, answers only the exact id, and fetches past anything else", async () => {
    const state = await tempDir();
    const mem = new MemStore();
    let fetches = 0;
    const store = withManifestCache(
      Object.assign(Object.create(mem), {
        getManifestText: (id: string) => {
          fetches++;
          return mem.getManifestText(id);
        },
      }),
      state,
    );
    const good = manifest([{ type: "dir", path: "src", mode: 0o755 }]);
    const bad = manifest([{ type: "dir", path: "../out", mode: 0o755 }]);
    for (const text of [good, bad]) mem.manifests.set(sha256Hex(text), text);

    // A manifest the schema refuses is refused, and not kept.
    await expect(loadManifest(store, sha256Hex(bad))).rejects.toThrow(/bad entry/);
    expect(existsSync(manifestCachePath(state))).toBe(false);
    // A checked one is kept; the next load of that id does not fetch.
    expect((await loadManifest(store, sha256Hex(good))).entries).toHaveLength(1);
    expect((await loadManifest(store, sha256Hex(good))).entries).toHaveLength(1);
    expect(fetches).toBe(2);
    // What code in the sandbox writes there is never taken for a manifest it does not hash to.
    await writeFile(manifestCachePath(state), bad);
    expect((await loadManifest(store, sha256Hex(good))).entries).toEqual([{ type: "dir", path: "src", mode: 0o755 }]);
    expect(fetches).toBe(3);
  });
});
