/**
 * @module test/support/global-setup
 * Starts the servers the Worker under test reaches over 127.0.0.1: a real sandboxd
 * (the jail host running Cloudflare's container runtime, one per Sandbox) and a
 * git repository to clone over HTTP.
 * Ports come from test/support/ports.ts via process.env.
 * The `workers` project uses it; should another project list it too, vitest calls it
 * once per project, so the servers are started by the first call and stopped by
 * the last teardown (kept on globalThis: each project may load this module anew).
 */
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { ensureSandboxRuntime } from "../../scripts/lib/sandbox-runtime.ts";
import { commitOf, serveGitRoot } from "./git-http.ts";
import { createTestGitRepos } from "./git-repos.ts";
import { TEST_SANDBOXD_TOKEN } from "./ports.ts";
import { startSandboxd } from "./sandboxd-process.ts";

interface Servers {
  provided: { gitRepoUrl: string; gitMainCommit: string; gitFeatureCommit: string };
  stop(): Promise<void>;
}

const SHARED = Symbol.for("sandbox-worker.test.global-setup");
type Shared = { servers: Promise<Servers>; users: number };
const registry = globalThis as unknown as { [SHARED]?: Shared };

async function startServers(): Promise<Servers> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };
  try {
    // A real sandboxd with real bubblewrap and a temporary SANDBOXD_ROOT: the jail host that
    // runs Cloudflare's container runtime for each Sandbox.
    // A git repository with two branches, on a plain static server ("dumb HTTP"), to clone.
    const gitRepos = await createTestGitRepos();
    stops.push(gitRepos.cleanup);
    const gitHttp = await serveGitRoot(gitRepos.root);
    stops.push(gitHttp.close);
    const runtime = await ensureSandboxRuntime();
    const sandboxd = await startSandboxd({
      port: Number(process.env.TEST_SANDBOXD_PORT),
      token: TEST_SANDBOXD_TOKEN,
      env: {
        SANDBOXD_RUNTIME_BUN: runtime.bun,
        SANDBOXD_RUNTIME_BUNDLE: runtime.bundle,
        // A jail has a network of its own: the git server on the host's loopback is let in by name.
        SANDBOXD_HOST_PORTS: new URL(gitHttp.url).port,
      },
    });
    stops.push(async () => {
      await sandboxd.stop();
    });
    const bare = join(gitRepos.root, gitRepos.repo);
    return {
      provided: {
        gitRepoUrl: `${gitHttp.url}/${gitRepos.repo}`,
        gitMainCommit: commitOf(bare, "main"),
        gitFeatureCommit: commitOf(bare, "feature"),
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  registry[SHARED] ??= { servers: startServers(), users: 0 };
  const shared = registry[SHARED];
  shared.users++;
  const servers = await shared.servers;
  for (const [key, value] of Object.entries(servers.provided)) {
    project.provide(key as keyof typeof servers.provided, value);
  }
  return async () => {
    if (--shared.users > 0) return;
    registry[SHARED] = undefined;
    await servers.stop();
  };
}
