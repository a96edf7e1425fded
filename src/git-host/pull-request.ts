/**
 * @module git-host/pull-request
 * Opening a job's pull request: `POST /repos/{owner}/{repo}/pulls` from the pushed
 * branch. The base defaults to the repository's default branch. A 422 saying a pull
 * request for that head already exists (a later job on the same branch) answers
 * with the open one, so retries and follow-up jobs are idempotent. Anything else
 * GitHub refuses is PULL_REQUEST_FAILED with its answer.
 */
import { BackendError } from "../errors";
import type { PullRequestRef, PullRequestRequest } from "../shared/job-format";
import type { GitHost, RepoRef } from "./config";
import { repoToken } from "./credentials";
import { type CallOptions, type GitHubAnswer, githubCall, githubMessage } from "./github-api";

function failed(repo: RepoRef, what: string, answer: GitHubAnswer): BackendError {
  return new BackendError(
    `Pull request on ${repo.owner}/${repo.repo} failed (${what}): ${githubMessage(answer)}`,
    "PULL_REQUEST_FAILED",
  );
}

/** Opens (or finds the open) pull request for `req.head` on `repo`. */
export async function openPullRequest(
  host: GitHost,
  repo: RepoRef,
  req: PullRequestRequest,
  opts: CallOptions = {},
): Promise<PullRequestRef> {
  const { token } = await repoToken(host, repo, opts);
  const auth = `Bearer ${token}`;
  const path = `/repos/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.repo)}`;
  let base = req.base;
  if (!base) {
    const info = await githubCall(host.apiUrl, "GET", path, auth, opts);
    const branch = (info.body as { default_branch?: unknown } | null)?.default_branch;
    if (info.status !== 200 || typeof branch !== "string") throw failed(repo, "reading the default branch", info);
    base = branch;
  }
  const body = { title: req.title, head: req.head, base, body: req.body, draft: req.draft };
  const made = await githubCall(host.apiUrl, "POST", `${path}/pulls`, auth, { ...opts, body });
  if (made.status === 201) return refOf(repo, made);
  if (made.status === 422 && /already exists/i.test(githubMessage(made))) {
    const q = `?state=open&head=${encodeURIComponent(`${repo.owner}:${req.head}`)}&base=${encodeURIComponent(base)}`;
    const open = await githubCall(host.apiUrl, "GET", `${path}/pulls${q}`, auth, opts);
    const first = Array.isArray(open.body) ? (open.body[0] as unknown) : null;
    if (open.status === 200 && first) return refOf(repo, { ...open, body: first });
    throw failed(repo, "finding the existing one", open);
  }
  throw failed(repo, `head ${req.head}, base ${base}`, made);
}

function refOf(repo: RepoRef, answer: GitHubAnswer): PullRequestRef {
  const b = answer.body as { number?: unknown; html_url?: unknown } | null;
  if (typeof b?.number !== "number" || typeof b.html_url !== "string") throw failed(repo, "reading the answer", answer);
  return { number: b.number, url: b.html_url };
}
