/**
 * @module runner/job-ship
 * A job that pushes (its repo has a push branch, job-format.ts JobRepo): after the
 * agent and everything it started are gone, its work becomes one commit (before the
 * snapshot, so the head and the next job continue from it); after the snapshot the
 * runner asks the Worker for a short-lived credential for the job's repository,
 * pushes with it (git-push.ts), drops it, and asks the Worker to open the pull
 * request. Each step is a phase; a failure fails the job with its own code, the
 * snapshot already taken. A job whose agent changed nothing pushes nothing, says so
 * in a log event, and opens nothing.
 */
import type { Job, JobGit, NewJobEvent, PullRequestRef } from "../../src/shared/job-format.ts";
import { toRunnerError } from "./errors.ts";
import { commitWork, defaultAuthor, GIT_CODES, pushCommit } from "./git-push.ts";
import type { JobClient } from "./job-client.ts";
import { tokenDead } from "./job-decisions.ts";
import type { PhaseRunner } from "./job-report.ts";

/** What a pushing job needs of its repo. */
export type PushingRepo = NonNullable<Job["repo"]> & { pushBranch: string };

/** The job's repo when the job pushes, else null. */
export function pushingRepo(job: Job): PushingRepo | null {
  const repo = job.repo;
  return repo?.pushBranch ? { ...repo, pushBranch: repo.pushBranch } : null;
}

/** A job's commit message when it gives none: its prompt's first line, and the job. */
export function defaultCommitMessage(job: Pick<Job, "id" | "prompt" | "agent">): string {
  const first = job.prompt.trim().split("\n")[0]?.trim() ?? "";
  const title = first ? (first.length > 72 ? `${first.slice(0, 69)}...` : first) : `Work of ${job.agent} job ${job.id}`;
  return `${title}\n\nMade by sandbox-worker job ${job.id} (agent: ${job.agent}).\n`;
}

/** What the commit step left for the push step. */
export interface Committed {
  branch: string;
  baseCommit: string | null;
  commit: string | null;
}

/** Commits the agent's work as phase "commit"; `commit` null when nothing changed. */
export async function commitStep(ctx: {
  job: Job;
  repo: PushingRepo;
  workspace: string;
  stateDir: string;
  start: string | null;
  phase: PhaseRunner;
  emit: (e: NewJobEvent) => void;
}): Promise<Committed> {
  const { job, repo } = ctx;
  const commit = await ctx.phase("commit", () =>
    commitWork({
      workspace: ctx.workspace,
      stateDir: ctx.stateDir,
      start: ctx.start,
      branch: repo.pushBranch,
      message: repo.commitMessage ?? defaultCommitMessage(job),
      author: repo.author ?? defaultAuthor(job.id),
    }),
  );
  if (!commit) {
    ctx.emit({ type: "log", data: { stream: "runner", line: "The agent changed nothing: nothing to push" } });
  }
  return { branch: repo.pushBranch, baseCommit: ctx.start, commit };
}

/** The result's git field, and the error that failed the job (the push or the pull request). */
export interface Shipped {
  git: JobGit;
  error: { code: string; message: string } | null;
}

/** Pushes the commit (phase "push") and opens the pull request (phase "pull_request"). */
export async function shipStep(ctx: {
  job: Job;
  repo: PushingRepo;
  committed: Committed;
  workspace: string;
  stateDir: string;
  client: JobClient;
  summary: string;
  phase: PhaseRunner;
  emit: (e: NewJobEvent) => void;
  signal: AbortSignal;
}): Promise<Shipped> {
  const { job, repo, committed } = ctx;
  const git: JobGit = { ...committed, pushed: false, pullRequest: null };
  if (!committed.commit) return { git, error: null };
  const commit = committed.commit;
  try {
    await ctx.phase("push", async () => {
      // Held for this one push only.
      const remote = await ctx.client.gitRemote(repo.url);
      await pushCommit({
        workspace: ctx.workspace,
        stateDir: ctx.stateDir,
        url: repo.url,
        remote,
        branch: committed.branch,
        commit,
        signal: ctx.signal,
      });
    });
    git.pushed = true;
    ctx.emit({ type: "git", data: { step: "pushed", branch: committed.branch, commit } });
  } catch (err) {
    return { git, error: errorOf(err, GIT_CODES.rejected) };
  }
  if (!repo.pullRequest) return { git, error: null };
  try {
    const pr: PullRequestRef = await ctx.phase("pull_request", () =>
      ctx.client.openPullRequest({
        head: committed.branch,
        base: repo.pullRequest?.base ?? repo.branch ?? null,
        title: repo.pullRequest?.title ?? firstLine(repo.commitMessage ?? defaultCommitMessage(job)),
        body: repo.pullRequest?.body ?? defaultBody(job, ctx.summary),
        draft: repo.pullRequest?.draft ?? false,
      }),
    );
    git.pullRequest = { number: pr.number, url: pr.url };
    ctx.emit({ type: "git", data: { step: "pull_request", number: pr.number, url: pr.url } });
    return { git, error: null };
  } catch (err) {
    return { git, error: errorOf(err, GIT_CODES.pullRequest) };
  }
}

function firstLine(text: string): string {
  return (text.trim().split("\n")[0] ?? "").slice(0, 256) || "Agent changes";
}

function defaultBody(job: Job, summary: string): string {
  const said = summary.trim() ? `${summary.trim().slice(0, 60_000)}\n\n` : "";
  return `${said}---\nOpened by sandbox-worker for job \`${job.id}\` (agent: ${job.agent}).`;
}

/** A shipping failure as a job error: its own code, or `fallback` for anything else. */
function errorOf(err: unknown, fallback: string): { code: string; message: string } {
  // The job is no longer this runner's: no result at all (run-job.ts).
  if (tokenDead(err)) throw err;
  const e = toRunnerError(err);
  const own: string[] = [GIT_CODES.rejected, GIT_CODES.auth, GIT_CODES.pullRequest, GIT_CODES.noRepository];
  if (own.includes(e.code)) return { code: e.code, message: e.message };
  return { code: fallback, message: `${e.code}: ${e.message}` };
}
