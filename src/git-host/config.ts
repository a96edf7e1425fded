/**
 * @module git-host/config
 * Which git host the Worker holds credentials for, and which repository a job's URL
 * names on it. Credentials and pull requests exist only for repositories on
 * GITHUB_URL (default https://github.com): a job naming any other host gets no
 * credential, so a token can never be sent where the operator did not mean it to go.
 */
import type { Config } from "../config";

/** The part of Config this module reads. */
export type GitHostEnv = Partial<
  Pick<Config, "GITHUB_TOKEN" | "GITHUB_APP_ID" | "GITHUB_APP_PRIVATE_KEY" | "GITHUB_URL" | "GITHUB_API_URL">
>;

/** How the Worker authenticates to the host. */
export type GitHostAuth = { kind: "token"; token: string } | { kind: "app"; appId: string; privateKey: string };

/** The configured host. */
export interface GitHost {
  /** Origin of repository URLs, e.g. https://github.com. */
  webOrigin: string;
  /** REST API base, e.g. https://api.github.com or https://ghe.example.com/api/v3. */
  apiUrl: string;
  auth: GitHostAuth;
}

/** A repository on the host. */
export interface RepoRef {
  owner: string;
  repo: string;
}

export const DEFAULT_GITHUB_URL = "https://github.com";
export const DEFAULT_GITHUB_API_URL = "https://api.github.com";

/** The host, or null when no credentials are configured (an App wins over a token). */
export function gitHostOf(env: GitHostEnv): GitHost | null {
  const webOrigin = new URL(env.GITHUB_URL ?? DEFAULT_GITHUB_URL).origin;
  const apiUrl = env.GITHUB_API_URL ?? DEFAULT_GITHUB_API_URL;
  if (env.GITHUB_APP_ID && env.GITHUB_APP_PRIVATE_KEY) {
    // A PEM pasted into one line keeps its line breaks as "\n".
    const privateKey = env.GITHUB_APP_PRIVATE_KEY.replace(/\\n/g, "\n");
    return { webOrigin, apiUrl, auth: { kind: "app", appId: env.GITHUB_APP_ID, privateKey } };
  }
  if (env.GITHUB_TOKEN) return { webOrigin, apiUrl, auth: { kind: "token", token: env.GITHUB_TOKEN } };
  return null;
}

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/**
 * The repository `url` names on `host` (`<origin>/<owner>/<repo>[.git]`), or null when
 * the URL is for another origin, carries credentials of its own, or names no repository.
 */
export function repoOnHost(url: string, host: Pick<GitHost, "webOrigin">): RepoRef | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.origin.toLowerCase() !== host.webOrigin.toLowerCase() || u.username || u.password) return null;
  const parts = u.pathname.replace(/\/+$/, "").split("/").filter(Boolean);
  if (parts.length !== 2) return null;
  const owner = parts[0] as string;
  const repo = (parts[1] as string).replace(/\.git$/, "");
  if (!NAME.test(owner) || !NAME.test(repo) || repo === "." || repo === "..") return null;
  return { owner, repo };
}
