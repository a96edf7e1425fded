/**
 * @module bench/snapshot-tree
 * The input of bench/snapshot.ts: a generated tree shaped like a real repository
 * (deterministic: a seeded sfc32 PRNG, not crypto, so every run measures the same
 * bytes), or a copy of a real repository limited to what the runner would snapshot
 * (its ignore rules applied), so restic and tar see exactly the runner's tree and
 * the user's repository is never written to. Also: reading a tree once to warm the
 * page cache, and listing it for comparisons.
 */
import { spawnSync } from "node:child_process";
import { mkdir, open, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { readChunks } from "../container/runner/hash.ts";
import { IgnoreRules, loadIgnoreRules } from "../container/runner/ignore.ts";
import { type ScanEntry, scanWorkspace } from "../container/runner/scan.ts";

/** sfc32: a small fast seeded PRNG; returns uint32s. */
export function prng(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

/** What a generated tree holds. */
export interface TreeStats {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

const WORDS = (
  "const let function return import export from if else for while await async class new this " +
  "interface type string number boolean null undefined true false value result error options config " +
  "request response handler state index item items path name data buffer stream promise resolve " +
  "reject map set get has push length size offset count total start end next prev node child parent"
)
  .split(" ")
  .map((w) => Buffer.from(w));
const PUNCT = [";\n", " = ", "(", ") ", "{\n", "}\n", ", ", ".", "  ", " => ", "\n"].map((p) => Buffer.from(p));

/** Source-like text of exactly `size` bytes. */
function textBytes(rand: () => number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  while (at < size) {
    const r = rand();
    const w = (r & 3) === 0 ? (PUNCT[(r >>> 2) % PUNCT.length] as Buffer) : (WORDS[(r >>> 2) % WORDS.length] as Buffer);
    at += w.copy(out, at, 0, Math.min(w.length, size - at));
    if (at < size && (r & 3) !== 0) out[at++] = 0x20;
  }
  return out;
}

/** Incompressible bytes (a binary asset) of exactly `size` bytes. */
function binaryBytes(rand: () => number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size + 3);
  for (let i = 0; i < size; i += 4) out.writeUInt32LE(rand(), i);
  return out.subarray(0, size);
}

const TOP = ["src", "lib", "packages", "test", "docs", "scripts", "assets", "tools", "examples", "vendor"];
const PARTS = ["core", "api", "util", "ui", "server", "client", "model", "store", "cli", "net", "io", "auth", "db"];
const EXTS = [".ts", ".ts", ".ts", ".js", ".tsx", ".json", ".md", ".css", ".py", ".go", ".rs", ".c", ".h"];

/**
 * Writes a repository-like tree under `root` (created): `files` files of about
 * `bytes` bytes in total — ~95 % small source-like files (0.1–12 KiB, skewed
 * small), ~5 % medium ones (24–200 KiB), and a few multi-MB binaries that make up
 * ~40 % of the bytes — in directories 1 to 7 levels deep, plus a few duplicates,
 * empty files, executables, symlinks and empty directories as a real tree has.
 */
export async function generateTree(root: string, files: number, bytes: number, seed = 1): Promise<TreeStats> {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[rand() % xs.length] as T;
  // Directories: a root-level set, then children of random earlier dirs (depth ≤ 7).
  const dirs: { path: string; depth: number }[] = TOP.map((t) => ({ path: t, depth: 1 }));
  const dirCount = Math.max(TOP.length, Math.round(files / 12));
  while (dirs.length < dirCount) {
    const parent = pick(dirs);
    if (parent.depth >= 7) continue;
    dirs.push({ path: `${parent.path}/${pick(PARTS)}${rand() % 50}`, depth: parent.depth + 1 });
  }
  const unique = [...new Set(dirs.map((d) => d.path))];
  for (const d of unique) await mkdir(join(root, d), { recursive: true });

  const binaries = Math.max(1, Math.round(files / 1000));
  const medium = Math.round(files * 0.05);
  const binaryBudget = bytes * 0.4;
  const mediumBudget = bytes * 0.35;
  const smallBudget = bytes - binaryBudget - mediumBudget;
  const small = files - binaries - medium;
  const stats: TreeStats = { files: 0, dirs: unique.length, symlinks: 0, bytes: 0 };
  const seen = new Set<string>();
  const put = async (rel: string, data: Buffer, mode = 0o644): Promise<void> => {
    await writeFile(join(root, rel), data, { mode });
    stats.files++;
    stats.bytes += data.length;
  };
  const fresh = (dir: string, ext: string): string => {
    for (;;) {
      const rel = `${dir}/${pick(PARTS)}-${(rand() % 100000).toString(36)}${ext}`;
      if (!seen.has(rel)) {
        seen.add(rel);
        return rel;
      }
    }
  };

  for (let i = 0; i < binaries; i++) {
    // Around the mean, 0.5×–1.5×.
    const mean = binaryBudget / binaries;
    const size = Math.round(mean * (0.5 + (rand() % 1000) / 1000));
    await put(fresh(`assets`, pick([".png", ".bin", ".woff2", ".wasm"])), binaryBytes(rand, size));
  }
  for (let i = 0; i < medium; i++) {
    const mean = mediumBudget / medium;
    const size = Math.round(mean * (0.3 + (1.4 * (rand() % 1000)) / 1000));
    const ext = pick([".js", ".json", ".svg", ".ts", ".lock", ".csv"]);
    // A third of the medium files are binary-ish (images, data), the rest text.
    const data = i % 3 === 0 ? binaryBytes(rand, size) : textBytes(rand, size);
    await put(fresh(pick(unique), ext), data);
  }
  const licence = textBytes(rand, 1100);
  for (let i = 0; i < small; i++) {
    const dir = pick(unique);
    if (i % 500 === 0) {
      // Duplicate content at several paths (LICENSE files, vendored copies).
      await put(fresh(dir, ".txt"), licence);
      continue;
    }
    if (i % 997 === 0) {
      await put(fresh(dir, ".keep"), Buffer.alloc(0));
      continue;
    }
    // Skewed small: the square of a uniform variable, scaled to the budget's mean.
    const mean = smallBudget / small;
    const u = (rand() % 10000) / 10000;
    const size = Math.max(100, Math.round(mean * 3 * u * u));
    const ext = i % 200 === 0 ? ".sh" : pick(EXTS);
    await put(fresh(dir, ext), textBytes(rand, size), ext === ".sh" ? 0o755 : 0o644);
  }
  for (let i = 0; i < 5; i++) {
    await symlink("../README.md", join(root, pick(TOP), `link-${i}`)).catch(() => undefined);
    stats.symlinks++;
  }
  for (let i = 0; i < 5; i++) {
    await mkdir(join(root, pick(unique), `empty-${i}`), { recursive: true });
    stats.dirs++;
  }
  await put("README.md", textBytes(rand, 4000));
  return stats;
}

/** The entries the runner would snapshot in `root` (its default ignore rules plus .sandboxignore). */
export async function runnerView(root: string): Promise<ScanEntry[]> {
  return await scanWorkspace(root, await loadIgnoreRules(root));
}

/**
 * Copies what the runner would snapshot of the repository at `src` into `dst`
 * (tar with a NUL-separated list, so odd names survive). Refuses trees over the
 * limits, which bound the benchmark's time and disk use.
 */
export async function copyRepo(src: string, dst: string, limits: { files: number; bytes: number }): Promise<TreeStats> {
  const entries = await runnerView(src);
  const stats: TreeStats = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  for (const e of entries) {
    if (e.type === "file") {
      stats.files++;
      stats.bytes += e.size;
    } else if (e.type === "dir") stats.dirs++;
    else stats.symlinks++;
  }
  if (stats.files > limits.files || stats.bytes > limits.bytes) {
    throw new Error(
      `${src} has ${stats.files} files / ${stats.bytes} bytes to snapshot; the benchmark takes at most ` +
        `${limits.files} files / ${limits.bytes} bytes`,
    );
  }
  await mkdir(dst, { recursive: true });
  const list = Buffer.from(entries.map((e) => `${e.path}\0`).join(""));
  const pack = spawnSync("tar", ["-C", src, "--null", "--no-recursion", "-T", "-", "-cf", "-"], {
    input: list,
    maxBuffer: limits.bytes * 2 + 64 * 1024 * 1024,
  });
  if (pack.status !== 0) throw new Error(`tar of ${src} failed: ${pack.stderr}`);
  const unpack = spawnSync("tar", ["-C", dst, "-xf", "-"], { input: pack.stdout });
  if (unpack.status !== 0) throw new Error(`tar extraction into ${dst} failed: ${unpack.stderr}`);
  return stats;
}

/** Reads every file under `root` once (page cache warm for every tool alike); returns bytes read. */
export async function warmTree(root: string): Promise<number> {
  let total = 0;
  for (const e of await scanWorkspace(root, new IgnoreRules([]))) {
    if (e.type !== "file") continue;
    for await (const buf of readChunks(join(root, e.path))) total += buf.length;
  }
  return total;
}

/** Entries of `root` as lines (the runner's state dir left out: IgnoreRules always skips it), for comparing trees. */
export async function describeTree(root: string): Promise<string[]> {
  const entries = await scanWorkspace(root, new IgnoreRules([]));
  return entries.map((e) =>
    e.type === "file" ? `f ${e.path} ${e.size} ${e.mode}` : e.type === "dir" ? `d ${e.path}` : `l ${e.path}`,
  );
}

/** A file to change for the one-file-change snapshot: the first source-sized one (1–64 KiB). */
export function pickFileToChange(entries: ScanEntry[]): string {
  const f = entries.find((e) => e.type === "file" && e.size >= 1024 && e.size <= 64 * 1024);
  if (!f) throw new Error("no file of 1–64 KiB to change in the tree");
  return f.path;
}

/** Appends one line to `abs` (the one-file change). */
export async function appendLine(abs: string): Promise<void> {
  await mkdir(dirname(abs), { recursive: true });
  const fh = await open(abs, "a");
  try {
    await fh.write(`\n// changed by bench:snapshot at ${new Date().toISOString()}\n`);
  } finally {
    await fh.close();
  }
}
