/**
 * @module runner/agents/claude/editor
 * Anthropic's text editor client tool (`str_replace_based_edit_tool`,
 * text_editor_20250728): view, create, str_replace, insert — run by the runner,
 * confined to the workspace. Every problem (a bad input, a path outside the
 * workspace, an ambiguous old_str) is a ToolFailure, which the loop returns to the
 * model as an `is_error` tool result: the model can correct itself, the runner
 * never crashes on what the model sends.
 */
import { lstat, mkdir, readdir, readFile, realpath, stat, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

/** A tool call that failed in a way the model should hear about. */
export class ToolFailure extends Error {}

/** Files larger than this are not opened by view/str_replace/insert. */
const MAX_EDIT_BYTES = 4 * 1024 * 1024;
/** Directory view depth (as Anthropic's reference implementation: two levels). */
const VIEW_DEPTH = 2;
const VIEW_MAX_ENTRIES = 500;
/** Directories a listing never descends into. */
const SKIP_DIRS = new Set([".git", "node_modules", ".sandbox-worker"]);

function str(input: Record<string, unknown>, key: string, opts: { allowEmpty?: boolean } = {}): string {
  const v = input[key];
  if (typeof v !== "string") throw new ToolFailure(`Parameter \`${key}\` is required and must be a string`);
  if (!opts.allowEmpty && v === "") throw new ToolFailure(`Parameter \`${key}\` must not be empty`);
  return v;
}

/**
 * Resolves the model's path (absolute inside the workspace, or relative to it) to a
 * real host path inside `workspace`, following symlinks of the existing part so a
 * link cannot lead outside. Throws ToolFailure otherwise.
 */
export async function confine(workspace: string, path: string): Promise<string> {
  const root = await realpath(workspace);
  const abs = isAbsolute(path) ? resolve(path) : resolve(workspace, path);
  const inside = (p: string, base: string) => p === base || p.startsWith(base + sep);
  // The model sees /workspace; the runner's workspace may live elsewhere (tests, unisolated local).
  let candidate = abs;
  if (!inside(abs, resolve(workspace)) && !inside(abs, root) && inside(abs, "/workspace")) {
    candidate = join(workspace, relative("/workspace", abs));
  }
  if (!inside(candidate, resolve(workspace)) && !inside(candidate, root)) {
    throw new ToolFailure(`Path ${path} is outside the workspace ${displayRoot(workspace)}`);
  }
  // Follow symlinks of the longest existing prefix.
  let existing = candidate;
  const rest: string[] = [];
  for (;;) {
    try {
      const real = await realpath(existing);
      const full = rest.length ? join(real, ...rest.reverse()) : real;
      if (!inside(full, root)) throw new ToolFailure(`Path ${path} resolves outside the workspace`);
      return full;
    } catch (err) {
      if (err instanceof ToolFailure) throw err;
      const parent = dirname(existing);
      if (parent === existing) throw new ToolFailure(`Path ${path} cannot be resolved`);
      rest.push(existing.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
      existing = parent;
    }
  }
}

function displayRoot(workspace: string): string {
  return workspace.startsWith("/workspace") ? "/workspace" : workspace;
}

async function readText(path: string, shown: string): Promise<string> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch {
    throw new ToolFailure(`File ${shown} does not exist`);
  }
  if (st.isDirectory()) throw new ToolFailure(`${shown} is a directory; only \`view\` works on directories`);
  if (st.size > MAX_EDIT_BYTES) throw new ToolFailure(`File ${shown} is ${st.size} bytes, over the editor's limit`);
  const buf = await readFile(path);
  if (buf.includes(0)) throw new ToolFailure(`File ${shown} is binary; use bash to inspect it`);
  return buf.toString("utf8");
}

async function listDir(root: string, dir: string, depth: number, out: string[]): Promise<void> {
  if (out.length >= VIEW_MAX_ENTRIES) return;
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    if (e.name.startsWith(".") && e.name !== ".github") continue;
    if (out.length >= VIEW_MAX_ENTRIES) {
      out.push("… (more entries not shown)");
      return;
    }
    const full = join(dir, e.name);
    out.push(`${relative(root, full)}${e.isDirectory() ? "/" : ""}`);
    if (e.isDirectory() && depth > 1 && !SKIP_DIRS.has(e.name)) await listDir(root, full, depth - 1, out);
  }
}

function numbered(text: string, from: number): string {
  return text
    .split("\n")
    .map((line, i) => `${String(from + i).padStart(6)}\t${line}`)
    .join("\n");
}

function viewRange(input: Record<string, unknown>): [number, number] | null {
  const r = input.view_range;
  if (r === undefined || r === null) return null;
  if (!Array.isArray(r) || r.length !== 2 || !r.every((n) => Number.isInteger(n))) {
    throw new ToolFailure("`view_range` must be two integers [start, end] (end -1 = to the end)");
  }
  return [r[0] as number, r[1] as number];
}

/** Runs one editor command; returns the text the model gets. */
export async function runEditor(workspace: string, input: Record<string, unknown>): Promise<string> {
  const command = str(input, "command");
  const shown = str(input, "path");
  const path = await confine(workspace, shown);
  switch (command) {
    case "view": {
      const st = await stat(path).catch(() => null);
      if (!st) throw new ToolFailure(`Path ${shown} does not exist`);
      if (st.isDirectory()) {
        const out: string[] = [];
        await listDir(path, path, VIEW_DEPTH, out);
        return `Files and directories in ${shown}, up to ${VIEW_DEPTH} levels deep (hidden ones left out):\n${out.join("\n")}`;
      }
      const text = await readText(path, shown);
      const lines = text.split("\n");
      const range = viewRange(input);
      if (!range) return numbered(text, 1);
      const [start, end] = range;
      const last = end === -1 ? lines.length : end;
      if (start < 1 || start > lines.length || last < start || last > lines.length) {
        throw new ToolFailure(`view_range [${start}, ${end}] is outside the file's ${lines.length} lines`);
      }
      return numbered(lines.slice(start - 1, last).join("\n"), start);
    }
    case "create": {
      const text = str(input, "file_text", { allowEmpty: true });
      const existing = await lstat(path).catch(() => null);
      if (existing?.isDirectory()) throw new ToolFailure(`${shown} is a directory`);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, text);
      return `${existing ? "Overwrote" : "Created"} ${shown} (${Buffer.byteLength(text)} bytes)`;
    }
    case "str_replace": {
      const oldStr = str(input, "old_str");
      const newStr = input.new_str === undefined ? "" : str(input, "new_str", { allowEmpty: true });
      const text = await readText(path, shown);
      const first = text.indexOf(oldStr);
      if (first < 0)
        throw new ToolFailure(`No match for old_str in ${shown}: it must match exactly, whitespace included`);
      if (text.indexOf(oldStr, first + 1) >= 0) {
        const count = text.split(oldStr).length - 1;
        throw new ToolFailure(`old_str occurs ${count} times in ${shown}; include more context to make it unique`);
      }
      await writeFile(path, text.slice(0, first) + newStr + text.slice(first + oldStr.length));
      const line = text.slice(0, first).split("\n").length;
      return `Replaced 1 occurrence in ${shown} at line ${line}`;
    }
    case "insert": {
      const at = input.insert_line;
      if (typeof at !== "number" || !Number.isInteger(at) || at < 0) {
        throw new ToolFailure("`insert_line` must be a non-negative integer (0 = before the first line)");
      }
      const newStr = str(input, "new_str", { allowEmpty: true });
      const text = await readText(path, shown);
      const lines = text.split("\n");
      if (at > lines.length) throw new ToolFailure(`insert_line ${at} is past the file's ${lines.length} lines`);
      const inserted = newStr.endsWith("\n") ? newStr.slice(0, -1) : newStr;
      lines.splice(at, 0, ...inserted.split("\n"));
      await writeFile(path, lines.join("\n"));
      return `Inserted ${inserted.split("\n").length} line(s) after line ${at} of ${shown}`;
    }
    case "undo_edit":
      throw new ToolFailure("undo_edit is not supported by this editor version; edit the file again instead");
    default:
      throw new ToolFailure(`Unknown command ${JSON.stringify(command)}: use view, create, str_replace or insert`);
  }
}
