/**
 * @module sandboxd/which
 * Finding a host program the way a shell would, for the tools sandboxd runs (bwrap,
 * slirp4netns, mkfs.ext4, mount, …).
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** The first executable `name` on PATH, then in `extraDirs`; null when there is none. */
export function findOnPath(name: string, extraDirs: readonly string[] = []): string | null {
  for (const dir of [...(process.env.PATH ?? "").split(delimiter), ...extraDirs]) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; keep looking.
    }
  }
  return null;
}
