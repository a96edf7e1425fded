/**
 * @module sandboxd/runner-node
 * The Node a jail's runner runs on: the host's `node`, copied once with mode 0111. A
 * process that executes a file it cannot read is not dumpable (the kernel's rule for
 * execute-only programs), so no other process of the jail's user — the agent and every
 * command it runs — may read its /proc/<pid>/environ or memory: the runner's token stays
 * the runner's. The copy lives in the repository's node_modules/.cache, keyed by the
 * source's path, size and mtime, written under a temporary name and renamed into place.
 */

import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, realpathSync, renameSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";

/** Where the copies live (main.ts checks the jail user can pass to it). */
export const RUNNER_NODE_CACHE = join(import.meta.dirname, "..", "..", "node_modules", ".cache", "sandboxd");

/** The host's node on `path` (the jail's PATH), or null. */
function hostNode(path: string): string | null {
  for (const dir of path.split(delimiter)) {
    const candidate = join(dir, "node");
    if (existsSync(candidate)) return realpathSync(candidate);
  }
  return null;
}

/** The execute-only copy of the node a jail sees on `path`, made if missing; null without one. */
export function executeOnlyNode(path: string, cacheDir = RUNNER_NODE_CACHE): string | null {
  const source = hostNode(path);
  if (!source) return null;
  const st = statSync(source);
  const key = createHash("sha256").update(`${source}\0${st.size}\0${st.mtimeMs}`).digest("hex").slice(0, 16);
  const target = join(cacheDir, `node-${key}`);
  if (existsSync(target)) return target;
  mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
  const partial = `${target}.${process.pid}.partial`;
  copyFileSync(source, partial);
  chmodSync(partial, 0o111);
  renameSync(partial, target);
  return target;
}
