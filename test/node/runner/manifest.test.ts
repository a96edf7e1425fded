/**
 * The runner checks every manifest it restores against the one manifest schema the
 * Worker commits with (src/shared/manifest.ts): the same entry path rule, the same
 * strictness. container/runner/store.ts's parseManifest is the runner's side.
 */
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../container/runner/hash.ts";
import { parseManifest } from "../../../container/runner/store.ts";
import { isWorkspaceEntryPath } from "../../../src/shared/manifest.ts";
import type { Manifest } from "../../../src/shared/snapshot-format.ts";

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
