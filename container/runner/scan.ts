/**
 * @module runner/scan
 * Walks the workspace with lstat: regular files, directories (empty ones too) and
 * symlinks (never followed). Ignored paths are skipped and ignored directories are
 * not entered. Sockets, FIFOs and devices are left out: they cannot be restored
 * meaningfully. Entries come back sorted by path in code-unit order, which puts
 * every parent before its children (a prefix sorts first), as manifests require.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
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

/** Directories scanned between two yields to the event loop (so network requests started alongside progress). */
const DIRS_PER_SLICE = 64;

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    // Deleted between readdir and lstat: it is simply not part of this snapshot.
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/**
 * Scans `root`; the root itself is not an entry.
 *
 * The calls are synchronous on purpose: a scan is ~10,000 lstat calls that the
 * page cache answers in microseconds, and each one through the promise API cost
 * more in thread-pool hand-off and promise overhead than the call itself (about
 * twice the time of a no-change snapshot's scan, bench:snapshot). The event loop
 * gets a turn every DIRS_PER_SLICE directories.
 */
export async function scanWorkspace(root: string, rules: IgnoreRules): Promise<ScanEntry[]> {
  const out: ScanEntry[] = [];
  // Explicit stack instead of recursion: deep trees must not grow the JS stack.
  const stack: string[] = [""];
  let dirs = 0;
  while (stack.length > 0) {
    if (++dirs % DIRS_PER_SLICE === 0) await new Promise((r) => setImmediate(r));
    const rel = stack.pop() as string;
    const names = readdirSync(rel ? join(root, rel) : root);
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      const abs = join(root, childRel);
      const st = lstatOrNull(abs);
      if (!st) continue;
      if (st.isDirectory()) {
        if (rules.ignores(childRel, true)) continue;
        out.push({ type: "dir", path: childRel, mode: permBits(st.mode) });
        stack.push(childRel);
      } else if (st.isFile()) {
        if (rules.ignores(childRel, false)) continue;
        out.push({
          type: "file",
          path: childRel,
          mode: permBits(st.mode),
          size: st.size,
          mtimeMs: st.mtimeMs,
          ino: st.ino,
        });
      } else if (st.isSymbolicLink()) {
        if (rules.ignores(childRel, false)) continue;
        try {
          out.push({ type: "symlink", path: childRel, target: readlinkSync(abs) });
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
