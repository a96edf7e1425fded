/**
 * @module runner/changes
 * What a job changed in the workspace: `changedFiles` (added / modified /
 * deleted files and symlinks between two trees) and `unifiedDiff`, a git-style
 * unified diff of those paths. The diff runs `git diff --no-index` over two
 * temporary trees holding only the changed paths (old content comes from the
 * snapshot store or the cloned commit, new content from the workspace), so git
 * does the text/binary detection ("Binary files … differ") and the hunks. The
 * result is cut at a line boundary to `maxBytes` (D1 rows are small). Paths under
 * `.git/` are left out of both: a commit the agent makes would otherwise flood
 * them with object files.
 */
import { spawn } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { CHANGED_FILES_MAX_BYTES, CHANGED_FILES_MAX_PATHS, type ChangedFiles } from "../../src/shared/job-format.ts";
import type { Manifest } from "../../src/shared/snapshot-format.ts";
import { hashFile } from "./hash.ts";
import type { IgnoreRules } from "./ignore.ts";
import { scanWorkspace } from "./scan.ts";

/** One path of a tree, enough to tell whether it changed. */
export type TreeEntry =
  | { type: "file"; mode: number; size: number; blob: string }
  | { type: "symlink"; target: string }
  | { type: "dir" };

/** path → entry. */
export type Tree = Map<string, TreeEntry>;

/** Files larger than this are reported as differing, not diffed. */
export const MAX_DIFF_FILE_BYTES = 8 * 1024 * 1024;

/** A manifest as a Tree. */
export function treeFromManifest(m: Manifest): Tree {
  const t: Tree = new Map();
  for (const e of m.entries) {
    if (e.type === "file") t.set(e.path, { type: "file", mode: e.mode, size: e.size, blob: e.blob });
    else if (e.type === "symlink") t.set(e.path, { type: "symlink", target: e.target });
    else t.set(e.path, { type: "dir" });
  }
  return t;
}

/** Scans and hashes the workspace into a Tree (same rules as snapshots). */
export async function treeFromScan(workspace: string, rules: IgnoreRules): Promise<Tree> {
  const t: Tree = new Map();
  for (const e of await scanWorkspace(workspace, rules)) {
    if (e.type === "file") {
      const { hash } = await hashFile(join(workspace, e.path));
      t.set(e.path, { type: "file", mode: e.mode, size: e.size, blob: hash });
    } else if (e.type === "symlink") t.set(e.path, { type: "symlink", target: e.target });
    else t.set(e.path, { type: "dir" });
  }
  return t;
}

function isGitInternal(path: string): boolean {
  return path === ".git" || path.startsWith(".git/");
}

function sameEntry(a: TreeEntry, b: TreeEntry): boolean {
  if (a.type === "file" && b.type === "file") return a.blob === b.blob && a.mode === b.mode;
  if (a.type === "symlink" && b.type === "symlink") return a.target === b.target;
  return a.type === b.type;
}

/** Files and symlinks added, modified (content, mode, link target or type) and deleted, sorted. */
export function changedFiles(before: Tree, after: Tree): ChangedFiles {
  const out: ChangedFiles = { added: [], modified: [], deleted: [] };
  for (const [path, a] of after) {
    if (a.type === "dir" || isGitInternal(path)) continue;
    const b = before.get(path);
    if (!b || b.type === "dir") out.added.push(path);
    else if (!sameEntry(b, a)) out.modified.push(path);
  }
  for (const [path, b] of before) {
    if (b.type === "dir" || isGitInternal(path)) continue;
    const a = after.get(path);
    if (!a || a.type === "dir") out.deleted.push(path);
  }
  for (const list of [out.added, out.modified, out.deleted]) list.sort();
  return out;
}

/**
 * The changed paths a result lists: at most `maxPaths` paths of at most `maxBytes`
 * in all, taken from added, modified and deleted in turn (each stays sorted), with
 * the full counts and `truncated` set when something was left out.
 */
export function capChangedFiles(
  all: ChangedFiles,
  maxPaths = CHANGED_FILES_MAX_PATHS,
  maxBytes = CHANGED_FILES_MAX_BYTES,
): ChangedFiles {
  const lists = [all.added, all.modified, all.deleted];
  const kept: string[][] = [[], [], []];
  const total = lists.reduce((n, l) => n + l.length, 0);
  let paths = 0;
  let bytes = 0;
  fill: for (let i = 0; paths < total; i++) {
    for (let k = 0; k < 3; k++) {
      const path = lists[k]?.[i];
      if (path === undefined) continue;
      const size = Buffer.byteLength(path);
      if (paths + 1 > maxPaths || bytes + size > maxBytes) break fill;
      kept[k]?.push(path);
      paths++;
      bytes += size;
    }
  }
  const [added = [], modified = [], deleted = []] = kept;
  return {
    added,
    modified,
    deleted,
    counts: { added: all.added.length, modified: all.modified.length, deleted: all.deleted.length },
    truncated: paths < total,
  };
}

/** Old content of a file of the before tree; null when it cannot be had. */
export type ReadBefore = (path: string, entry: Extract<TreeEntry, { type: "file" }>) => Promise<Buffer | null>;

/** Inputs of unifiedDiff. */
export interface DiffOptions {
  workspace: string;
  before: Tree;
  after: Tree;
  changes: ChangedFiles;
  readBefore: ReadBefore;
  maxBytes: number;
}

/** Writes one side of a path into a temp tree; false when it must be described instead of diffed. */
async function place(root: string, path: string, entry: TreeEntry, content: () => Promise<Buffer | null | "copy">) {
  const dest = join(root, path);
  await mkdir(dirname(dest), { recursive: true });
  if (entry.type === "symlink") {
    await symlink(entry.target, dest);
    return true;
  }
  if (entry.type !== "file") return true;
  if (entry.size > MAX_DIFF_FILE_BYTES) return false;
  return content().then(async (c) => {
    if (c === null) return false;
    if (c !== "copy") await writeFile(dest, c);
    await chmod(dest, entry.mode & 0o777);
    return true;
  });
}

/** `git diff --no-index` of two trees; stdout capped at `cap` bytes. */
function gitDiff(cwd: string, cap: number): Promise<{ out: Buffer; over: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "git",
      ["diff", "--no-index", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames", "--no-prefix", "a", "b"],
      {
        cwd,
        // The user's git config must not change the format (diff.noprefix, color…).
        env: { ...process.env, GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      if (over) return;
      chunks.push(c);
      size += c.length;
      if (size > cap) {
        over = true;
        child.kill("SIGKILL");
      }
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (!over && code !== 0 && code !== 1) reject(new Error(`git diff exited ${code}: ${stderr.trim()}`));
      else resolve({ out: Buffer.concat(chunks), over });
    });
  });
}

/**
 * With --no-prefix git names an added file "b/x b/x" and a deleted one "a/x a/x" on
 * the `diff --git` line; make every header "a/x b/x" as in a repository diff.
 */
function fixHeader(line: string): string {
  if (!line.startsWith("diff --git ")) return line;
  const rest = line.slice("diff --git ".length);
  const half = (rest.length - 1) / 2;
  if (!Number.isInteger(half)) return line;
  const first = rest.slice(0, half);
  const at = first.startsWith('"') ? 1 : 0;
  const side = (c: string) => first.slice(0, at) + c + first.slice(at + 1);
  return `diff --git ${side("a")} ${side("b")}`;
}

/** Cuts `text` to at most `maxBytes` UTF-8 bytes, at a line end. */
function capText(text: string, maxBytes: number): { text: string; truncated: boolean } {
  if (Buffer.byteLength(text) <= maxBytes) return { text, truncated: false };
  const cut = Buffer.from(text).subarray(0, maxBytes).toString("utf8");
  const nl = cut.lastIndexOf("\n");
  return { text: nl >= 0 ? cut.slice(0, nl + 1) : "", truncated: true };
}

/** The unified diff of `changes`, at most `maxBytes`. */
export async function unifiedDiff(opts: DiffOptions): Promise<{ diff: string; truncated: boolean }> {
  const { changes, before, after } = opts;
  const paths = [...changes.added, ...changes.modified, ...changes.deleted].sort();
  if (paths.length === 0) return { diff: "", truncated: false };
  const tmp = await mkdtemp(join(tmpdir(), "runner-diff-"));
  try {
    const a = join(tmp, "a");
    const b = join(tmp, "b");
    await mkdir(a);
    await mkdir(b);
    // Paths git cannot diff here (too large, old content unavailable): one line each.
    const described = new Map<string, string>();
    for (const path of paths) {
      const old = before.get(path);
      const cur = after.get(path);
      let ok = true;
      if (old && old.type !== "dir") {
        ok = await place(a, path, old, () =>
          old.type === "file" ? opts.readBefore(path, old) : Promise.resolve(null),
        );
      }
      if (ok && cur && cur.type !== "dir") {
        ok = await place(b, path, cur, async () => {
          await copyFile(join(opts.workspace, path), join(b, path));
          return "copy";
        });
      }
      if (!ok) {
        const big =
          (old?.type === "file" && old.size > MAX_DIFF_FILE_BYTES) ||
          (cur?.type === "file" && cur.size > MAX_DIFF_FILE_BYTES);
        described.set(path, big ? "Files differ (too large to diff)" : "Files differ (previous content unavailable)");
        await rm(join(a, path), { force: true });
        await rm(join(b, path), { force: true });
      }
    }
    const { out, over } = await gitDiff(tmp, opts.maxBytes + 64 * 1024);
    let text = out.toString("utf8").split("\n").map(fixHeader).join("\n");
    if (described.size > 0) {
      text += [...described].map(([p, what]) => `diff --git a/${p} b/${p}\n${what}\n`).join("");
    }
    const capped = capText(text, opts.maxBytes);
    return { diff: capped.text, truncated: capped.truncated || over };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
