/**
 * @module test/support/global-setup
 * Starts, once per run of the `workers` project, the servers the Worker under test
 * reaches over 127.0.0.1: a real sandboxd (local backend) and the stand-in container
 * (cloudflare backend). Ports come from test/support/ports.ts via process.env.
 */
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { commitOf, serveGitRoot } from "./git-http.ts";
import { TEST_SANDBOXD_TOKEN } from "./ports.ts";
import { startSandboxd } from "./sandboxd-process.ts";
import { startStandInContainer } from "./standin-container.ts";
import { createTestGitRepos } from "./standin-git.ts";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  // A real sandboxd (local backend) with real bubblewrap and a temporary SANDBOXD_ROOT.
  const sandboxd = await startSandboxd({ port: Number(process.env.TEST_SANDBOXD_PORT), token: TEST_SANDBOXD_TOKEN });
  stops.push(async () => {
    await sandboxd.stop();
  });
  // The stand-in container (cloudflare backend; see standin-container.ts), with a git repo to clone.
  const gitRepos = await createTestGitRepos();
  stops.push(gitRepos.cleanup);
  // The same repository on a plain static server, for the backend contract suite's clone tests.
  const gitHttp = await serveGitRoot(gitRepos.root);
  stops.push(gitHttp.close);
  const bare = join(gitRepos.root, gitRepos.repo);
  project.provide("gitRepoUrl", `${gitHttp.url}/${gitRepos.repo}`);
  project.provide("gitMainCommit", commitOf(bare, "main"));
  project.provide("gitFeatureCommit", commitOf(bare, "feature"));
  const standin = await startStandInContainer({
    port: Number(process.env.TEST_STANDIN_CONTAINER_PORT),
    gitRoot: gitRepos.root,
  });
  stops.push(standin.close);
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}
