/**
 * @module runner/scan
 * Walks the workspace with lstat: regular files, directories (empty ones too) and
 * symlinks (never followed). Ignored paths are skipped and ignored directories are
 * not entered. Sockets, FIFOs and devices are left out: they cannot be restored
 * meaningfully. Entries come back sorted by path in code-unit order, which puts
 * every parent before its children (a prefix sorts first), as manifests require.
 */
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { IgnoreRules } from "./ignore.ts";

/** One scanned entry; `path` is workspace-relative with POSIX separators. */
export type ScanEntry =
  | { type: "file"; path: string; mode: number; size: number; mtimeMs: number; ino: number }
  | { type: "dir"; path: string; mode: number }
  | { type: "symlink"; path: string; target: string };

/** Permission bits of a stat mode (no file-type bits). */
export function permBits(mode: number): number {
  return mode & 0o7777;
}

/** Scans `root`; the root itself is not an entry. */
export async function scanWorkspace(root: string, rules: IgnoreRules): Promise<ScanEntry[]> {
  const out: ScanEntry[] = [];
  // Explicit stack instead of recursion: deep trees must not grow the JS stack.
  const stack: string[] = [""];
  while (stack.length > 0) {
    const rel = stack.pop() as string;
    const names = await readdir(rel ? join(root, rel) : root);
    // The lstat calls of one directory run concurrently: one at a time, a 10,000-file
    // tree spent most of a no-change snapshot waiting on them (bench:snapshot).
    const stats = await Promise.all(
      names.map(async (name) => {
        try {
          return await lstat(join(root, rel ? `${rel}/${name}` : name));
        } catch (err) {
          // Deleted between readdir and lstat: it is simply not part of this snapshot.
          if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
          throw err;
        }
      }),
    );
    for (const [i, name] of names.entries()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const abs = join(root, childRel);
      const st = stats[i];
      if (!st) continue;
      if (st.isDirectory()) {
        if (rules.matchesSelf(childRel, true)) continue;
        out.push({ type: "dir", path: childRel, mode: permBits(st.mode) });
        stack.push(childRel);
      } else if (st.isFile()) {
        if (rules.matchesSelf(childRel, false)) continue;
        out.push({
          type: "file",
          path: childRel,
          mode: permBits(st.mode),
          size: st.size,
          mtimeMs: st.mtimeMs,
          ino: st.ino,
        });
      } else if (st.isSymbolicLink()) {
        if (rules.matchesSelf(childRel, false)) continue;
        try {
          out.push({ type: "symlink", path: childRel, target: await readlink(abs) });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
          throw err;
        }
      }
    }
  }
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
