/**
 * @module runner/ignore
 * Which workspace paths snapshots leave out. Seed 000's defaults (dependencies,
 * build output, caches, logs, and `.env*` so secrets never leave the sandbox),
 * then the project's `/workspace/.sandboxignore`, then `--ignore` options.
 *
 * Rules are a gitignore-like subset: one pattern per line, `#` comments, `*`, `?`
 * and `**` globs, a trailing `/` matches directories only, a pattern with a `/`
 * elsewhere is anchored at the workspace root (otherwise it matches a name at any
 * depth), and `!pattern` re-includes. The last matching rule wins. A path inside
 * an ignored directory is ignored whatever later rules say (as in git), because
 * the scanner never descends there.
 *
 * `.git` is kept by default (jobs commit and push); SANDBOX_SYNC_IGNORE_GIT=1
 * drops it. The runner's scratch directory `.sandbox-worker/` (state.ts) is always
 * ignored. Tool caches (`.npm`, `.cache`, `.pnpm-store`, `.yarn/cache`,
 * `__pycache__`) are ignored by default; a virtualenv is kept unless the project's
 * `.sandboxignore` says `.venv/` (it is not reinstalled after a restore).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
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

interface Rule {
  negate: boolean;
  dirOnly: boolean;
  /** Matched against the whole relative path when anchored, else against the base name. */
  anchored: boolean;
  re: RegExp;
  source: string;
}

/** Translates one glob (without `!`, leading `/` or trailing `/`) into a regex source. */
function globToRegex(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        // `**/` = zero or more directories; a bare `**` = anything.
        if (glob[i + 2] === "/") {
          out += "(?:.*/)?";
          i += 2;
        } else {
          out += ".*";
          i += 1;
        }
      } else {
        out += "[^/]*";
      }
    } else if (c === "?") {
      out += "[^/]";
    } else {
      out += c.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
    }
  }
  return out;
}

/** Parses one rule line; null for blanks and comments. */
export function parseRule(line: string): Rule | null {
  let p = line.replace(/\r$/, "");
  if (!p.trim() || p.startsWith("#")) return null;
  p = p.replace(/(?<!\\)\s+$/, "");
  let negate = false;
  if (p.startsWith("!")) {
    negate = true;
    p = p.slice(1);
  }
  if (p.startsWith("\\")) p = p.slice(1);
  let dirOnly = false;
  if (p.endsWith("/")) {
    dirOnly = true;
    p = p.replace(/\/+$/, "");
  }
  let anchored = p.includes("/");
  p = p.replace(/^\/+/, "");
  if (p.startsWith("**/")) {
    // `**/x` matches x at any depth, like an unanchored pattern.
    const rest = p.slice(3);
    if (!rest.includes("/")) {
      anchored = false;
      p = rest;
    }
  }
  if (!p) return null;
  return { negate, dirOnly, anchored, re: new RegExp(`^${globToRegex(p)}$`, "s"), source: line };
}

/** A compiled rule set. Paths are workspace-relative, POSIX separators, no leading "./". */
export class IgnoreRules {
  private readonly rules: Rule[];

  constructor(patterns: readonly string[]) {
    this.rules = [];
    for (const p of patterns) {
      const r = parseRule(p);
      if (r) this.rules.push(r);
    }
  }

  /** Whether this one path is ignored by the rules, not looking at its ancestors. */
  matchesSelf(relPath: string, isDir: boolean): boolean {
    if (relPath === SCRATCH_DIR || relPath.startsWith(`${SCRATCH_DIR}/`)) return true;
    const base = relPath.slice(relPath.lastIndexOf("/") + 1);
    let ignored = false;
    for (const r of this.rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.re.test(r.anchored ? relPath : base)) ignored = !r.negate;
    }
    return ignored;
  }

  /** Whether `relPath` is ignored itself or lies inside an ignored directory. */
  ignores(relPath: string, isDir: boolean): boolean {
    const parts = relPath.split("/");
    for (let i = 1; i < parts.length; i++) {
      if (this.matchesSelf(parts.slice(0, i).join("/"), true)) return true;
    }
    return this.matchesSelf(relPath, isDir);
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
    const text = await readFile(join(workspace, ".sandboxignore"), "utf8");
    patterns.push(...text.split("\n"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  patterns.push(...(options.extra ?? []));
  return new IgnoreRules(patterns);
}
