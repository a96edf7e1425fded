/**
 * @module test/support/git-repos
 * A real git repository for clone tests, served over git's "dumb HTTP" protocol
 * (static files after `git update-server-info`, see git-http.ts), so no test needs
 * the internet. Used by global-setup.ts.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestGitRepos {
  /** Directory to serve over HTTP (git-http.ts). */
  root: string;
  /** Relative path of the bare repository ("hello.git"); it has branches main and feature. */
  repo: string;
  cleanup(): Promise<void>;
}

/** Creates hello.git (commits on main and feature) ready for dumb-HTTP cloning. */
export async function createTestGitRepos(): Promise<TestGitRepos> {
  const root = await mkdtemp(join(tmpdir(), "test-git-"));
  const work = join(root, "work");
  const git = (cwd: string, ...args: string[]) =>
    execFileSync("git", args, {
      cwd,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@t",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@t",
      },
      stdio: "pipe",
    });
  execFileSync("git", ["init", "-q", "-b", "main", work]);
  await writeFile(join(work, "README.md"), "hello from the test repo\n");
  git(work, "add", ".");
  git(work, "commit", "-q", "-m", "first");
  git(work, "checkout", "-q", "-b", "feature");
  await writeFile(join(work, "feature.txt"), "feature branch\n");
  git(work, "add", ".");
  git(work, "commit", "-q", "-m", "feature");
  git(work, "checkout", "-q", "main");
  git(root, "clone", "-q", "--bare", work, "hello.git");
  git(join(root, "hello.git"), "update-server-info");
  return { root, repo: "hello.git", cleanup: () => rm(root, { recursive: true, force: true }) };
}
