/**
 * @module scripts/lib/sandbox-runtime-source
 * Where the source of Cloudflare's sandbox container runtime (the HTTP server inside the
 * `cloudflare/sandbox` image that `@cloudflare/sandbox`'s Durable Object talks to on port
 * 3000) comes from, and how it is verified. It is Cloudflare's code (Apache-2.0), not ours:
 * it is never copied into this repository, only located here and bundled by
 * sandbox-runtime.ts.
 *
 * Where the source comes from, in order (never guessed):
 * 1. `CF_SANDBOX_RUNTIME_DIR`, if set: it must hold the pinned source (checksum below), or
 *    this fails; a wrong directory never falls through to anything else.
 * 2. The copy cached under `node_modules/.cache/sandbox-runtime/<version>/source`, if its
 *    checksum matches (a copy that does not is removed).
 * 3. A sparse, shallow git clone of the tag from GitHub, verified (commit and checksum) and
 *    moved into that cache in one rename.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The runtime's version: equal to the `@cloudflare/sandbox` SDK and the Dockerfile's base image tag. */
export const RUNTIME_VERSION = "0.12.7";
/** The git tag of github.com/cloudflare/sandbox-sdk that holds this version. */
export const RUNTIME_TAG = "@cloudflare/sandbox@0.12.7";
/** The commit that tag points to (PROVENANCE.md of the vendored copy). */
export const RUNTIME_COMMIT = "9bf17d1983444eaa5a8036f6dc0e49a2cde97e7d";
/**
 * SHA-256 over every file under {@link RUNTIME_SOURCE_DIRS}, sorted by relative path (`/`
 * separators), each hashed as path, NUL, contents, NUL. See {@link runtimeSourceChecksum}.
 */
export const RUNTIME_SOURCE_SHA256 = "e79b7c5b7b52be9baa07c470bf8e5d05d1e1b9b6102ece69466375ee623e37d2";
/** Where the source is published. */
export const RUNTIME_REPOSITORY = "https://github.com/cloudflare/sandbox-sdk";
/** The environment variable naming a directory that holds the source. */
export const RUNTIME_DIR_ENV = "CF_SANDBOX_RUNTIME_DIR";
/** The packages the runtime consists of (the server and the helpers it imports as `@repo/shared`). */
export const RUNTIME_PACKAGES = ["packages/sandbox-container", "packages/shared"] as const;
/** The directories the checksum covers. */
export const RUNTIME_SOURCE_DIRS = ["packages/sandbox-container/src", "packages/shared/src"] as const;

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The per-version cache: `source/` (a fetched copy), `runtime.js`, `LICENSE`, `runtime.stamp.json`. */
export const DEFAULT_CACHE_DIR = join(root, "node_modules", ".cache", "sandbox-runtime", RUNTIME_VERSION);

/** The one sentence every caller sees when no source could be found. */
export const RUNTIME_NOT_FOUND_MESSAGE =
  `Cloudflare's sandbox runtime ${RUNTIME_VERSION} was not found: set ${RUNTIME_DIR_ENV} to its source ` +
  `(e.g. ../shared/vendor/cloudflare-sandbox-runtime-${RUNTIME_VERSION}, a copy of tag ${RUNTIME_TAG}) ` +
  "or allow git to fetch github.com/cloudflare/sandbox-sdk.";

/** A failure to find, verify or build the runtime; the message is one sentence naming the fix. */
export class SandboxRuntimeError extends Error {
  override name = "SandboxRuntimeError";
}

/** Options for {@link locateRuntimeSource} and {@link ensureSandboxRuntime}. */
export interface RuntimeOptions {
  /** Environment to read `CF_SANDBOX_RUNTIME_DIR` from (default: `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** The per-version cache directory (default {@link DEFAULT_CACHE_DIR}). */
  cacheDir?: string;
  /** Whether to clone from GitHub when neither env nor cache has the source (default true). */
  fetch?: boolean;
  /** The repository to clone (default {@link RUNTIME_REPOSITORY}); tests point it at a local one. */
  repository?: string;
  /** The commit the tag must resolve to (default {@link RUNTIME_COMMIT}); for tests with a local repository. */
  commit?: string;
  /** Ceiling of each git step in ms (default: 120 s for network steps, 10 s for local ones). */
  gitTimeoutMs?: number;
}

/** Where {@link locateRuntimeSource} found the source. */
export interface RuntimeSource {
  dir: string;
  from: "env" | "cache" | "github";
}
/** The pinned source checksum of `dir` (see {@link RUNTIME_SOURCE_SHA256}); throws if a covered directory is missing. */
export async function runtimeSourceChecksum(dir: string): Promise<string> {
  const files: { rel: string; link?: string }[] = [];
  for (const sub of RUNTIME_SOURCE_DIRS) await listFiles(join(dir, sub), sub, files);
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const hash = createHash("sha256");
  for (const { rel, link } of files) {
    hash.update(rel);
    hash.update("\0");
    // A symbolic link is never followed: it is hashed as its target, so it never matches the pinned sum.
    hash.update(link === undefined ? await readFile(join(dir, rel)) : Buffer.from(`symlink:${link}`));
    hash.update("\0");
  }
  return hash.digest("hex");
}

async function listFiles(abs: string, rel: string, out: { rel: string; link?: string }[]): Promise<void> {
  for (const entry of await readdir(abs, { withFileTypes: true })) {
    const childAbs = join(abs, entry.name);
    const childRel = `${rel}/${entry.name}`;
    if (entry.isDirectory()) await listFiles(childAbs, childRel, out);
    else if (entry.isSymbolicLink()) out.push({ rel: childRel, link: await readlink(childAbs) });
    else out.push({ rel: childRel });
  }
}

/** Why `dir` is not the pinned runtime source (a clause for a sentence), or null if it is. */
async function sourceProblem(dir: string): Promise<string | null> {
  for (const sub of RUNTIME_SOURCE_DIRS) {
    if (!(await isDirectory(join(dir, sub)))) return `it has no ${sub} directory`;
  }
  if (!existsSync(join(dir, "LICENSE"))) return "it has no LICENSE file (Cloudflare's Apache-2.0 licence)";
  const sum = await runtimeSourceChecksum(dir);
  if (sum !== RUNTIME_SOURCE_SHA256) return `its source checksum is ${sum}, not the pinned ${RUNTIME_SOURCE_SHA256}`;
  return null;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Finds the pinned runtime source: `CF_SANDBOX_RUNTIME_DIR` (which must be right if set),
 * else the verified cache, else a verified clone from GitHub into the cache. Throws a
 * {@link SandboxRuntimeError} whose message is one sentence naming the fix.
 */
export async function locateRuntimeSource(opts: RuntimeOptions = {}): Promise<RuntimeSource> {
  const env = opts.env ?? process.env;
  const configured = env[RUNTIME_DIR_ENV];
  if (configured) {
    const dir = resolve(configured);
    if (!(await isDirectory(dir))) {
      throw new SandboxRuntimeError(
        `${RUNTIME_DIR_ENV} is set to ${dir}, which is not a directory: point it at Cloudflare's sandbox runtime ${RUNTIME_VERSION} source or unset it.`,
      );
    }
    const problem = await sourceProblem(dir);
    if (problem) {
      throw new SandboxRuntimeError(
        `${RUNTIME_DIR_ENV} (${dir}) is not Cloudflare's sandbox runtime ${RUNTIME_VERSION}: ${problem}, so point it at an unmodified copy of tag ${RUNTIME_TAG} or unset it.`,
      );
    }
    return { dir, from: "env" };
  }

  const cacheDir = resolve(opts.cacheDir ?? DEFAULT_CACHE_DIR);
  const cached = join(cacheDir, "source");
  if (existsSync(cached)) {
    if ((await sourceProblem(cached)) === null) return { dir: cached, from: "cache" };
    await removeAtomically(cached);
  }

  let cause: unknown = new Error("fetching from GitHub was disabled");
  if (opts.fetch !== false) {
    try {
      await fetchIntoCache(cacheDir, opts);
      return { dir: cached, from: "github" };
    } catch (error) {
      cause = error;
    }
  }
  throw new SandboxRuntimeError(RUNTIME_NOT_FOUND_MESSAGE, { cause });
}

/** Renames `path` aside, then deletes it: readers never see a half-deleted tree. */
async function removeAtomically(path: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await rename(path, aside);
  } catch {
    return; // someone else removed or replaced it
  }
  await rm(aside, { recursive: true, force: true });
}

/** Clones the tag (shallow, sparse, blobs on demand), verifies it and moves it to `<cacheDir>/source`. */
async function fetchIntoCache(cacheDir: string, opts: RuntimeOptions): Promise<void> {
  const url = opts.repository ?? RUNTIME_REPOSITORY;
  const commit = opts.commit ?? RUNTIME_COMMIT;
  const networkTimeout = opts.gitTimeoutMs ?? 120_000;
  const localTimeout = opts.gitTimeoutMs ?? 10_000;
  await mkdir(cacheDir, { recursive: true });
  // Inside the cache directory, so the final rename stays on one filesystem.
  const work = await mkdtemp(join(cacheDir, ".fetch-"));
  try {
    const repo = join(work, "repo");
    const clone = ["clone", "--quiet", "--depth", "1", "--filter=blob:none", "--sparse", "--branch", RUNTIME_TAG];
    await git([...clone, "--", url, repo], work, networkTimeout);
    await git(["sparse-checkout", "set", ...RUNTIME_PACKAGES], repo, networkTimeout);
    const head = (await git(["rev-parse", "HEAD"], repo, localTimeout)).trim();
    if (head !== commit) throw new Error(`tag ${RUNTIME_TAG} of ${url} is commit ${head}, not ${commit}`);

    const staged = join(work, "source");
    for (const pkg of RUNTIME_PACKAGES) {
      await cp(join(repo, pkg), join(staged, pkg), {
        recursive: true,
        filter: (src) => basename(src) !== "node_modules" && basename(src) !== ".git",
      });
    }
    for (const file of [".bun-version", "LICENSE"]) await copyFile(join(repo, file), join(staged, file));
    const problem = await sourceProblem(staged);
    if (problem) throw new Error(`the source fetched from ${url} is not the pinned one: ${problem}`);

    const target = join(cacheDir, "source");
    try {
      await rename(staged, target);
    } catch (error) {
      // Another process may have put a good copy there first.
      if (!existsSync(target) || (await sourceProblem(target)) !== null) throw error;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Runs git with a ceiling (the whole process group is killed on timeout); resolves with stdout. */
function git(args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn("git", ["-c", "advice.detachedHead=false", ...args], {
      cwd,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      // Never ask for credentials: a public repository needs none, and there is no terminal.
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "true", GCM_INTERACTIVE: "never", LC_ALL: "C" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`git ${args[0]} could not start: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`git ${args[0]} timed out after ${timeoutMs / 1000} s`));
      else if (code === 0) resolvePromise(stdout);
      else reject(new Error(`git ${args[0]} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}
