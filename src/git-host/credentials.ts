/**
 * @module git-host/credentials
 * The token the Worker acts with on one repository: GITHUB_TOKEN as is, or a GitHub
 * App installation token minted for that repository alone. git sends it as HTTP Basic
 * `x-access-token:<token>` (as GitHub documents for both kinds), added on egress by
 * smart-http.ts; the REST API takes it as a Bearer token (pull-request.ts).
 */
import { installationToken } from "./app-token";
import type { GitHost, RepoRef } from "./config";
import type { CallOptions } from "./github-api";

/** GitHub's user name for token authentication over HTTPS. */
export const TOKEN_USERNAME = "x-access-token";

/** A cached installation token is used while it has this long left (GitHub gives an hour). */
export const TOKEN_REUSE_MARGIN_MS = 10 * 60_000;

/** Installation tokens by App, API and repository, per isolate: a clone or push is several requests. */
const minted = new Map<string, { token: string; expiresAt: number | null }>();

/** A token for `repo` (App: scoped to it, with its expiry; plain token: no expiry known). */
export async function repoToken(
  host: GitHost,
  repo: RepoRef,
  opts: CallOptions = {},
): Promise<{ token: string; expiresAt: number | null }> {
  if (host.auth.kind === "token") return { token: host.auth.token, expiresAt: null };
  const key = `${host.apiUrl}|${host.auth.appId}|${repo.owner}/${repo.repo}`;
  const cached = minted.get(key);
  if (cached?.expiresAt && cached.expiresAt - Date.now() > TOKEN_REUSE_MARGIN_MS) return cached;
  const fresh = await installationToken(host.apiUrl, host.auth, repo, opts);
  minted.set(key, fresh);
  return fresh;
}
