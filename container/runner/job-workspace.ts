/**
 * @module runner/job-workspace
 * Preparing a job's workspace and reading its "before" content: `cloneRepo`
 * clones a job's repository into the workspace on a project's first job (git
 * with an argv array from shared/git.ts' cloneArgv, no shell, no prompts, the
 * URL's credentials redacted from errors), and the two `ReadBefore`s the diff
 * uses for old content — from the snapshot store (the restored manifest's blob
 * locations) or from the cloned commit.
 */
import { execFile } from "node:child_process";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { checkRepoUrl, cloneArgv, normalizeScheme, RepoUrlError, redactText } from "../../src/shared/git.ts";
import type { Job } from "../../src/shared/job-format.ts";
import type { Manifest } from "../../src/shared/snapshot-format.ts";
import type { ReadBefore } from "./changes.ts";
import { RunnerError } from "./errors.ts";
import { spawnGit } from "./git-exec.ts";
import { sha256Hex } from "./hash.ts";
import { removeScratch, workspaceScratch } from "./state.ts";
import type { SnapshotStore } from "./store.ts";

/** Schemes the runner clones from (the Worker checked the URL against its own list already). */
export const RUNNER_CLONE_SCHEMES = ["https", "http"] as const;

/** Runs git with `args`; resolves with stdout, rejects with its redacted stderr. */
function git(
  args: string[],
  opts: { cwd: string; signal?: AbortSignal; redact: (s: string) => string; env?: Record<string, string> },
) {
  // Never wait for a password on a terminal that is not there.
  const env = { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "/bin/false", ...opts.env };
  return spawnGit(args, { cwd: opts.cwd, env, signal: opts.signal }).then(
    ({ code, stdout, stderr }) => {
      if (code === 0) return stdout;
      throw new Error(opts.redact(stderr.trim() || `git exited with ${code}`));
    },
    (e: Error) => {
      throw new Error(opts.redact(e.message));
    },
  );
}

/**
 * Clones `repo` into `workspace` (through a directory under the runner's state
 * dir, so a workspace that is not empty still works: top-level entries of the
 * clone replace same-named ones). Resolves with the checked-out commit.
 */
export async function cloneRepo(
  repo: NonNullable<Job["repo"]>,
  workspace: string,
  opts: { signal?: AbortSignal; log?: (m: string) => void; remote?: GitRemote } = {},
): Promise<string> {
  const remote = opts.remote ?? { url: repo.url, env: {} };
  const secret = remote.env.GIT_CONFIG_VALUE_0?.replace(/^Authorization:\s*\S+\s+/i, "");
  const redact = (s: string) => {
    const r = redactText(s, repo.url);
    return secret && secret.length >= 4 ? r.split(secret).join("***") : r;
  };
  try {
    checkRepoUrl(repo.url, RUNNER_CLONE_SCHEMES);
  } catch (err) {
    if (err instanceof RepoUrlError) throw new RunnerError("INVALID_REPO", err.message);
    throw err;
  }
  const tmp = join(workspaceScratch(workspace), `clone-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(workspaceScratch(workspace), { recursive: true });
  try {
    const argv = cloneArgv({ repoUrl: remote.url, directory: tmp, ...(repo.branch ? { branch: repo.branch } : {}) });
    opts.log?.(`cloning ${redact(repo.url)}${repo.branch ? ` (branch ${repo.branch})` : ""}`);
    // A private repository: the credential goes to this one git process, in its
    // environment (never the URL, so never .git/config), as git-push.ts sends it.
    await git(argv, {
      cwd: workspace,
      redact,
      env: remote.env,
      ...(opts.signal ? { signal: opts.signal } : {}),
    }).catch((err: Error) => {
      throw new RunnerError("CLONE_FAILED", `git clone failed: ${err.message}`);
    });
    for (const name of await readdir(tmp)) {
      await rm(join(workspace, name), { recursive: true, force: true });
      await rename(join(tmp, name), join(workspace, name));
    }
  } finally {
    await removeScratch(workspace);
  }
  if (remote.url !== repo.url) {
    // Cloned through the Worker: origin names the repository itself, as a clone of it would.
    await git(["remote", "set-url", "origin", normalizeScheme(repo.url)], { cwd: workspace, redact });
  }
  return (await git(["rev-parse", "HEAD"], { cwd: workspace, redact })).trim();
}

/**
 * Where one git process reaches the job's repository: the URL, and git config in its
 * environment (an Authorization header: seen by that process only, never in argv,
 * .git/config or any file). From JobClient.gitRemote.
 */
export interface GitRemote {
  url: string;
  env: Record<string, string>;
}

/** git config, from the environment, that sends `header` with every HTTP request. */
export function headerEnv(header: string): Record<string, string> {
  return { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "http.extraHeader", GIT_CONFIG_VALUE_0: header };
}

/** Old content from the store: the blob's bytes at its location in the manifest, hash-checked. */
export function storeReader(store: SnapshotStore, manifest: Manifest): ReadBefore {
  const locs = new Map<string, NonNullable<Extract<Manifest["entries"][number], { type: "file" }>["loc"]>>();
  for (const e of manifest.entries) if (e.type === "file" && e.loc) locs.set(e.path, e.loc);
  return async (path, entry) => {
    if (entry.size === 0) return Buffer.alloc(0);
    const loc = locs.get(path);
    if (!loc) return null;
    const chunks: Buffer[] = [];
    for await (const c of await store.getPackRange(loc.pack, loc.offset, loc.length)) chunks.push(Buffer.from(c));
    const bytes = Buffer.concat(chunks);
    return sha256Hex(bytes) === entry.blob ? bytes : null;
  };
}

/** Old content from the cloned commit (`git cat-file blob <commit>:<path>`), hash-checked. */
export function gitReader(workspace: string, commit: string): ReadBefore {
  return (path, entry) =>
    new Promise((resolve) => {
      execFile(
        "git",
        ["--git-dir", join(workspace, ".git"), "cat-file", "blob", `${commit}:${path}`],
        { encoding: "buffer", maxBuffer: entry.size + 1024 },
        (err, stdout) => resolve(!err && sha256Hex(stdout) === entry.blob ? stdout : null),
      );
    });
}
