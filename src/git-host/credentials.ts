/**
 * @module git-host/credentials
 * The token the Worker acts with on one repository: GITHUB_TOKEN as is, or a GitHub
 * App installation token minted for that repository alone; and the git credential a
 * job's runner gets for it (HTTP Basic `x-access-token:<token>`, as GitHub documents
 * for both kinds). The runner asks for it right before a clone or push, never while
 * its agent runs; on Cloudflare, egress injection would keep even that out of the
 * sandbox (see README, "Jobs that push").
 */
import type { GitCredential } from "../shared/job-format";
import { installationToken } from "./app-token";
import { type GitHost, type RepoRef, repoOnHost } from "./config";
import type { CallOptions } from "./github-api";

/** GitHub's user name for token authentication over HTTPS. */
export const TOKEN_USERNAME = "x-access-token";

/** A token for `repo` (App: scoped to it, with its expiry; plain token: no expiry known). */
export async function repoToken(
  host: GitHost,
  repo: RepoRef,
  opts: CallOptions = {},
): Promise<{ token: string; expiresAt: number | null }> {
  if (host.auth.kind === "token") return { token: host.auth.token, expiresAt: null };
  return installationToken(host.apiUrl, host.auth, repo, opts);
}

/** The credential for a job's repository URL, or null when it is not on the configured host. */
export async function gitCredentialFor(
  host: GitHost | null,
  repoUrl: string,
  opts: CallOptions = {},
): Promise<GitCredential | null> {
  const repo = host ? repoOnHost(repoUrl, host) : null;
  if (!host || !repo) return null;
  const { token, expiresAt } = await repoToken(host, repo, opts);
  return { username: TOKEN_USERNAME, password: token, expiresAt };
}
