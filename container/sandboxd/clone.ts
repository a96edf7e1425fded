/**
 * @module sandboxd/clone
 * `git clone` into a project's workspace: the URL scheme is re-checked here (the
 * Worker checked it too), git runs from an argument array inside the sandbox
 * (never a shell), and every message that could contain the URL is redacted.
 */
import { readdir, stat } from "node:fs/promises";
import { checkRepoUrl, cloneArgv, RepoUrlError, redactText } from "../../src/shared/git.ts";
import type { Isolation } from "./bwrap.ts";
import { badRequest, fromFsError, SandboxdError } from "./errors.ts";
import { runBuffered } from "./exec.ts";
import { checkedPath } from "./paths.ts";
import type { SpawnTarget } from "./spawn.ts";

/** A clone as sandboxd receives it. */
export interface CloneInput {
  repoUrl: string;
  directory: string;
  branch?: string;
  depth?: number;
  timeoutMs: number;
}

/** What was checked out. */
export interface CloneOutput {
  directory: string;
  commit: string;
  branch: string;
}

/** git's output is small; this only bounds a misbehaving server. */
const GIT_OUTPUT_BYTES = 1024 * 1024;

async function ensureEmptyTarget(realPath: string, sandboxPath: string): Promise<void> {
  try {
    const st = await stat(realPath);
    if (!st.isDirectory() || (await readdir(realPath)).length > 0) {
      throw new SandboxdError(409, "CONFLICT", `Clone target ${sandboxPath} exists and is not an empty directory`);
    }
  } catch (err) {
    if (err instanceof SandboxdError) throw err;
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw fromFsError(err, sandboxPath);
  }
}

/** Clones `input.repoUrl` into `input.directory` and reports the checked-out commit and branch. */
export async function cloneRepo(
  iso: Isolation,
  target: SpawnTarget,
  input: CloneInput,
  allowedSchemes: readonly string[],
): Promise<CloneOutput> {
  const redact = (text: string) => redactText(text, input.repoUrl);
  let argv: string[];
  const dir = await checkedPath(target.hostDir, input.directory);
  // Inside bwrap git sees /workspace/...; unisolated it needs the host path.
  const gitDir = iso.kind === "bwrap" ? dir.sandboxPath : dir.realPath;
  try {
    checkRepoUrl(input.repoUrl, allowedSchemes);
    argv = ["git", ...cloneArgv({ ...input, directory: gitDir })];
  } catch (err) {
    if (err instanceof RepoUrlError) throw badRequest(redact(err.message), "INVALID_REPO_URL");
    throw err;
  }
  await ensureEmptyTarget(dir.realPath, dir.sandboxPath);
  const env = {
    GIT_TERMINAL_PROMPT: "0",
    // Also binds redirects and submodules to the allowed schemes (git compares them in lower case).
    GIT_ALLOW_PROTOCOL: allowedSchemes.map((s) => s.toLowerCase()).join(":"),
  };
  let result: Awaited<ReturnType<typeof runBuffered>>;
  try {
    result = await runBuffered(
      iso,
      target,
      { argv, cwd: "/workspace", env, timeoutMs: input.timeoutMs },
      GIT_OUTPUT_BYTES,
    );
  } catch (err) {
    if (err instanceof SandboxdError && err.code === "TIMEOUT") {
      const d = err.details ?? {};
      throw new SandboxdError(408, "TIMEOUT", redact(err.message), {
        ...d,
        stdout: redact(String(d.stdout ?? "")),
        stderr: redact(String(d.stderr ?? "")),
      });
    }
    throw err;
  }
  if (result.exitCode !== 0) {
    const why = redact(result.stderr.trim()).slice(-2000) || `git exited with ${result.exitCode}`;
    throw badRequest(`git clone failed: ${why}`, "CLONE_FAILED");
  }
  const head = await runBuffered(
    iso,
    target,
    {
      argv: ["git", "-C", gitDir, "rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
      cwd: "/workspace",
      env,
      timeoutMs: 30_000,
    },
    GIT_OUTPUT_BYTES,
  );
  const [commit = "", branch = ""] = head.stdout.trim().split("\n");
  if (head.exitCode !== 0 || !/^[0-9a-f]{40,64}$/.test(commit)) {
    throw badRequest("git clone succeeded but the repository has no commit to check out", "CLONE_FAILED");
  }
  // A tag or detached checkout reports "HEAD"; the requested ref says more.
  return { directory: dir.sandboxPath, commit, branch: branch === "HEAD" && input.branch ? input.branch : branch };
}
