/**
 * @module runner/ignore
 * Which workspace paths snapshots leave out. Seed 000's defaults (dependencies,
 * build output, caches, logs, and `.env*` so secrets never leave the sandbox),
 * then the project's `/workspace/.sandboxignore`, then `--ignore` options.
 *
 * Rules mean what they mean in a `.gitignore` (the `ignore` package, which follows git's
 * documented rules and is checked against `git check-ignore`): `#` comments, `*`, `?`,
 * `[...]` classes and `**`, `\` escapes, a trailing `/` for directories only, a `/` at the
 * start or in the middle anchors at the workspace root, `!pattern` re-includes, the last
 * match wins, and nothing inside an ignored directory comes back. Case-sensitive, as git is
 * on Linux.
 *
 * `.git` is kept by default (jobs commit and push); SANDBOX_SYNC_IGNORE_GIT=1
 * drops it. The runner's scratch directory `.sandbox-worker/` (state.ts) is always
 * ignored. Tool caches (`.npm`, `.cache`, `.pnpm-store`, `.yarn/cache`,
 * `__pycache__`) are ignored by default; a virtualenv is kept unless the project's
 * `.sandboxignore` says `.venv/` (it is not reinstalled after a restore).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import ignore, { type Ignore } from "ignore";
import { SCRATCH_DIR } from "./state.ts";

/** Seed 000's default rules. */
export const DEFAULT_IGNORES: readonly string[] = [
  "node_modules/",
  "dist/",
  ".next/",
  "build/",
  ".cache/",
  ".npm/",
  ".pnpm-store/",
  ".yarn/cache/",
  "__pycache__/",
  "tmp/",
  "coverage/",
  "logs/",
  "*.log",
  ".env*",
];

/** A compiled rule set. Paths are workspace-relative, POSIX separators, no leading "./". */
export class IgnoreRules {
  private readonly matcher: Ignore;

  /** `patterns`: one rule per element (a line of a `.gitignore`). */
  constructor(patterns: readonly string[]) {
    this.matcher = ignore({ ignorecase: false }).add(patterns);
  }

  /** Whether `relPath` is ignored itself or lies inside an ignored directory. */
  ignores(relPath: string, isDir: boolean): boolean {
    if (relPath === SCRATCH_DIR || relPath.startsWith(`${SCRATCH_DIR}/`)) return true;
    // A trailing slash is how the package tells a directory (for `dir/` rules).
    return this.matcher.ignores(isDir ? `${relPath}/` : relPath);
  }
}

/** Options that shape the rule set. */
export interface IgnoreOptions {
  /** Drop `.git` too (SANDBOX_SYNC_IGNORE_GIT=1). */
  ignoreGit?: boolean;
  /** Extra patterns from `--ignore`, applied last. */
  extra?: readonly string[];
}

/** Builds the rules for a workspace: defaults, `.git` if asked, `.sandboxignore`, then `extra`. */
export async function loadIgnoreRules(workspace: string, options: IgnoreOptions = {}): Promise<IgnoreRules> {
  const patterns = [...DEFAULT_IGNORES];
  if (options.ignoreGit) patterns.push(".git/");
  try {
    patterns.push(...(await readFile(join(workspace, ".sandboxignore"), "utf8")).split(/\r?\n/));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  patterns.push(...(options.extra ?? []));
  return new IgnoreRules(patterns);
}
