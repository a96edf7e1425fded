/**
 * @module runner/git-push
 * Shipping a job's work with git, without trusting the workspace's repository: its
 * `.git/config`, hooks and attributes were in the agent's hands, and a config can run
 * programs (hooks, fsmonitor, filters, credential helpers) or send a push elsewhere
 * (`url.*.insteadOf`, `http.proxy`). So no git process that holds a credential, and
 * none that commits, reads it: they run on a clean bare repository under the runner's
 * state directory whose object store is the workspace's (GIT_OBJECT_DIRECTORY), with
 * the system and global configs off and the environment reduced to what git needs.
 *
 * - `startCommit`: the commit the workspace stands on before the agent runs.
 * - `commitWork`: every change in the work tree (the workspace's .gitignore files
 *   apply; new files under the runner's and agents' directories or the snapshot's
 *   default ignores, e.g. node_modules/ or .env*, are left out) as one commit on top of that start, named by the job's author; the
 *   workspace's HEAD then names it on the push branch (so the snapshot taken next,
 *   and the next job, continue from it). Nothing changed → no commit.
 * - `pushCommit`: `<commit>:refs/heads/<branch>` to the repository URL, fast-forward
 *   only (never --force), the credential as an `Authorization` header given to that
 *   one git process in its environment (GIT_CONFIG_COUNT: not in argv, not in any
 *   file); git's refusal mapped to PUSH_REJECTED or PUSH_AUTH_FAILED with its answer.
 */
import { access, copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isSafeRefName, normalizeScheme, redactText } from "../../src/shared/git.ts";
import type { GitAuthor } from "../../src/shared/job-format.ts";
import { OPENCODE_STATE_DIR } from "./agents/opencode-config.ts";
import { RunnerError } from "./errors.ts";
import { type GitRun, spawnGit } from "./git-exec.ts";
import { DEFAULT_IGNORES } from "./ignore.ts";
import type { GitRemote } from "./job-workspace.ts";
import { SCRATCH_DIR } from "./state.ts";

/** Job outcome codes of shipping (shared/error-codes.ts has the first three). */
export const GIT_CODES = {
  rejected: "PUSH_REJECTED",
  auth: "PUSH_AUTH_FAILED",
  pullRequest: "PULL_REQUEST_FAILED",
  noRepository: "NOT_A_GIT_REPOSITORY",
} as const;

/** The runner's and the agents' own directories in the workspace: never committed. */
const COMMIT_EXCLUDES = [`${SCRATCH_DIR}/`, `${OPENCODE_STATE_DIR}/`];

/** Where one git process works: a git dir, maybe a work tree, index and object store. */
interface GitPlace {
  gitDir: string;
  workTree?: string;
  indexFile?: string;
  objectDir?: string;
}

/** A minimal environment: no runner token, no user config, never a prompt. */
function gitEnv(place: GitPlace, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: place.gitDir,
    LANG: "C",
    LC_ALL: "C",
    GIT_DIR: place.gitDir,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "/bin/false",
    SSH_ASKPASS: "/bin/false",
    ...extra,
  };
  if (place.workTree) env.GIT_WORK_TREE = place.workTree;
  if (place.indexFile) env.GIT_INDEX_FILE = place.indexFile;
  if (place.objectDir) env.GIT_OBJECT_DIRECTORY = place.objectDir;
  return env;
}

/** Options given on the command line win over any repository config. */
const SAFE_CONFIG = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "credential.helper="];

function runGit(args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<GitRun> {
  return spawnGit([...SAFE_CONFIG, ...args], { cwd: env.GIT_WORK_TREE ?? env.GIT_DIR, env, signal });
}

/** Runs git and resolves with its trimmed stdout; a failure throws `code` with git's words. */
async function git(args: string[], env: NodeJS.ProcessEnv, what: string): Promise<string> {
  const r = await runGit(args, env);
  if (r.code !== 0) {
    throw new RunnerError(GIT_CODES.noRepository, `${what} failed: ${r.stderr.trim() || `git exited with ${r.code}`}`);
  }
  return r.stdout.trim();
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The clean repository git works in for this job (made anew each time). */
async function cleanRepo(stateDir: string): Promise<string> {
  const dir = join(stateDir, "git-ship");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await git(["init", "--bare", "-q", dir], gitEnv({ gitDir: dir }), "git init");
  return dir;
}

/** The workspace's own git dir, or null when it has none. */
async function workspaceGitDir(workspace: string): Promise<string | null> {
  const dir = join(workspace, ".git");
  return (await exists(join(dir, "objects"))) ? dir : null;
}

/** The commit the workspace stands on (null: no repository, or one without commits). */
export async function startCommit(workspace: string): Promise<string | null> {
  const gitDir = await workspaceGitDir(workspace);
  if (!gitDir) return null;
  const r = await runGit(["rev-parse", "--verify", "-q", "HEAD^{commit}"], gitEnv({ gitDir }));
  return r.code === 0 && /^[0-9a-f]{40,64}$/.test(r.stdout.trim()) ? r.stdout.trim() : null;
}

/** The author and committer a job's commit names when the job names none. */
export function defaultAuthor(jobId: string): GitAuthor {
  return { name: `sandbox-worker job ${jobId}`, email: `${jobId}@jobs.sandbox-worker.invalid` };
}

/** What commitWork needs. */
export interface CommitInput {
  workspace: string;
  stateDir: string;
  /** The commit the job started from (null: a repository without commits). */
  start: string | null;
  branch: string;
  message: string;
  author: GitAuthor;
}

/**
 * Commits every change in the work tree on top of `start`; resolves with the new
 * commit, or null when the tree is the start's (nothing to push).
 */
export async function commitWork(input: CommitInput): Promise<string | null> {
  const { workspace, start, branch } = input;
  if (!isSafeRefName(branch)) throw new RunnerError(GIT_CODES.rejected, `"${branch}" is not a valid branch name`);
  const wsGit = await workspaceGitDir(workspace);
  if (!wsGit) {
    throw new RunnerError(
      GIT_CODES.noRepository,
      "The workspace has no git repository to commit to (a job's repo is cloned on the project's first job only)",
    );
  }
  const gitDir = await cleanRepo(input.stateDir);
  const place: GitPlace = {
    gitDir,
    workTree: workspace,
    indexFile: join(gitDir, "job-index"),
    objectDir: join(wsGit, "objects"),
  };
  const env = gitEnv(place, {
    GIT_AUTHOR_NAME: input.author.name,
    GIT_AUTHOR_EMAIL: input.author.email,
    GIT_COMMITTER_NAME: input.author.name,
    GIT_COMMITTER_EMAIL: input.author.email,
  });
  // New files the product or the snapshot's defaults keep out never enter the commit
  // (a repository without a .gitignore must not get node_modules or .env pushed).
  await mkdir(join(gitDir, "info"), { recursive: true });
  await writeFile(
    join(gitDir, "info", "exclude"),
    `${COMMIT_EXCLUDES.map((p) => `/${p}`).join("\n")}\n${DEFAULT_IGNORES.join("\n")}\n`,
  );
  await git(start ? ["read-tree", start] : ["read-tree", "--empty"], env, "git read-tree");
  await git(["add", "-A", "--", "."], env, "git add");
  const tree = await git(["write-tree"], env, "git write-tree");
  if (start && tree === (await git(["rev-parse", `${start}^{tree}`], env, "git rev-parse"))) return null;
  if (!start && tree === (await git(["hash-object", "-t", "tree", "/dev/null"], env, "git hash-object"))) return null;
  const made = await commitTreeWithMessage(env, tree, start, input.message);
  await pointWorkspaceAt(wsGit, branch, made, place.indexFile as string);
  return made;
}

/** `git commit-tree` with the message on stdin. */
async function commitTreeWithMessage(env: NodeJS.ProcessEnv, tree: string, start: string | null, message: string) {
  const args = [...SAFE_CONFIG, "commit-tree", tree, ...(start ? ["-p", start] : [])];
  const input = message.endsWith("\n") ? message : `${message}\n`;
  const r = await spawnGit(args, { cwd: env.GIT_DIR, env, input });
  if (r.code !== 0) throw new RunnerError(GIT_CODES.noRepository, `git commit-tree failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * The workspace's repository on `branch` at `commit`, its index the one the commit was
 * made from: files written directly (loose ref, HEAD, index), no git run in it.
 */
async function pointWorkspaceAt(wsGit: string, branch: string, commit: string, index: string): Promise<void> {
  const ref = join(wsGit, "refs", "heads", ...branch.split("/"));
  await mkdir(dirname(ref), { recursive: true });
  await writeFile(ref, `${commit}\n`);
  await writeFile(join(wsGit, "HEAD"), `ref: refs/heads/${branch}\n`);
  await copyFile(index, join(wsGit, "index"));
}

/** What pushCommit needs. */
export interface PushInput {
  workspace: string;
  stateDir: string;
  /** The repository's URL as the job gave it (for messages). */
  url: string;
  /** Where and how git reaches it (JobClient.gitRemote). */
  remote: GitRemote;
  branch: string;
  commit: string;
  signal?: AbortSignal;
}

/** Pushes `commit` to `branch` of `url`, fast-forward only; failures carry git's answer. */
export async function pushCommit(input: PushInput): Promise<void> {
  const wsGit = await workspaceGitDir(input.workspace);
  if (!wsGit) throw new RunnerError(GIT_CODES.noRepository, "The workspace has no git repository to push from");
  const gitDir = await cleanRepo(input.stateDir);
  // Config from the environment: seen by this one process only, never in argv or a file.
  const env = gitEnv({ gitDir, objectDir: join(wsGit, "objects") }, input.remote.env);
  const url = normalizeScheme(input.remote.url);
  const refspec = `${input.commit}:refs/heads/${input.branch}`;
  const r = await runGit(
    ["-c", "protocol.allow=never", "-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always"].concat([
      "push",
      "--porcelain",
      "--no-verify",
      "--",
      url,
      refspec,
    ]),
    env,
    input.signal,
  );
  await rm(gitDir, { recursive: true, force: true });
  if (r.code === 0) return;
  const header = input.remote.env.GIT_CONFIG_VALUE_0?.replace(/^Authorization:\s*\S+\s+/i, "");
  throw pushError(
    input.branch,
    input.url,
    `${r.stderr}\n${r.stdout}`.split(input.remote.url).join(input.url),
    header ? [header] : [],
  );
}

/** git's answer to a failed push as PUSH_AUTH_FAILED or PUSH_REJECTED, naming the branch. */
export function pushError(branch: string, url: string, output: string, secrets: string[] = []): RunnerError {
  let text = redactText(output, url);
  for (const s of secrets) if (s.length >= 4) text = text.split(s).join("***");
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && l !== "Done" && !l.startsWith("To "));
  const answer = lines.join("; ").slice(0, 2000);
  const auth =
    /Authentication failed|could not read (Username|Password)|returned error: 40[13]|HTTP 40[13]|terminal prompts disabled|Permission to .* denied|Invalid username or password/i.test(
      text,
    );
  if (auth) return new RunnerError(GIT_CODES.auth, `Push to ${branch} refused the credentials: ${answer}`);
  return new RunnerError(GIT_CODES.rejected, `Push to ${branch} was rejected: ${answer}`);
}
