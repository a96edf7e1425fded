/**
 * A job that ships, end to end (local jails, issue 12): a `claude` job (scripted
 * model server) on a PRIVATE repository of a real git smart-HTTP server (auth
 * required) with `repo.pullRequest`, queued through the API, leased by /run-next, run
 * by the bundled runner in a bubblewrap sandbox, which cannot reach the git server: the
 * clone and the push go through the Worker with the job's token, and the Worker adds
 * GITHUB_TOKEN on egress (src/git-host/smart-http.ts); it opens the pull request
 * on the GitHub REST stand-in, and the job's result holds its URL. The agent looks
 * for the token (its environment, git's config) and finds nothing; neither do the
 * job's events.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobResult } from "../../src/shared/job-format.ts";
import { type GitSmartHttp, startGitSmartHttp } from "../support/git-smart-http.ts";
import { type GitHubStandin, startGitHubStandin } from "../support/github-standin.ts";
import { type AnthropicStandin, startAnthropicStandin, toolResults } from "../support/model-server-anthropic.ts";
import { type Stack, startStack } from "../support/stack.ts";

const TOKEN = "ghp_e2eSecretToken0123456789abcdef";
let stack: Stack;
let model: AnthropicStandin;
let git: GitSmartHttp;
let gh: GitHubStandin;
let hostPorts: string | undefined;
/** What the first job pushed, for the follow-up. */
let first: { id: string; branch: string; commit: string; url: string } | null = null;

/**
 * Asserts that `job`'s result says it pushed `branch` as one commit on top of `base` (and it
 * is on the server so) with pull request #1; answers the result and the pushed commit.
 */
function expectPushed(job: Record<string, unknown>, branch: string, base: string | null) {
  const result = job.result as JobResult;
  const pushed = git.commitOf("acme", "app", branch) as string;
  expect(result.git).toEqual({
    branch,
    baseCommit: base,
    commit: pushed,
    pushed: true,
    pullRequest: { number: 1, url: `${git.url}/acme/app/pull/1` },
  });
  expect(git.git("acme", "app", "rev-parse", `${pushed}^`).trim()).toBe(base);
  return { result, pushed };
}

describe("a job that pushes and opens a pull request (local jail)", () => {
  beforeAll(async () => {
    git = await startGitSmartHttp({ tokens: [TOKEN], privateReads: true });
    gh = await startGitHubStandin({ git, tokens: [TOKEN] });
    model = await startAnthropicStandin();
    // The jail is NOT let through to the git server: its clone and push can only go through
    // the Worker, which adds the token on egress.
    hostPorts = process.env.SANDBOXD_HOST_PORTS;
    delete process.env.SANDBOXD_HOST_PORTS;
    stack = await startStack({
      ANTHROPIC_API_KEY: "sk-ant-e2e-fake-key",
      ANTHROPIC_BASE_URL: model.url,
      GITHUB_TOKEN: TOKEN,
      GITHUB_URL: git.url,
      GITHUB_API_URL: gh.url,
    });
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    if (hostPorts === undefined) delete process.env.SANDBOXD_HOST_PORTS;
    else process.env.SANDBOXD_HOST_PORTS = hostPorts;
    await model?.close();
    await gh?.close();
    await git?.close();
  });

  it("claude edits a file → commit → push → pull request → the result holds its URL", async () => {
    const url = await git.makeRepo("acme", "app", { "add.js": "export const add = (a, b) => a - b;\n" });
    const base = git.commitOf("acme", "app", "main");
    model.turns = [
      () => ({
        content: [
          {
            type: "tool_use",
            name: "str_replace_based_edit_tool",
            input: { command: "str_replace", path: "/workspace/add.js", old_str: "a - b", new_str: "a + b" },
          },
          // The agent looks for credentials where they could be.
          {
            type: "tool_use",
            name: "bash",
            input: { command: "env; cat /workspace/.git/config; git -C /workspace config --list" },
          },
        ],
      }),
      (req) => {
        const results = [...toolResults(req).values()];
        expect(results.map((r) => r.isError)).toEqual([false, false]);
        expect(results[1]?.content).toContain(`url = ${url}`);
        return { content: [{ type: "text", text: "Fixed add()." }] };
      },
    ];
    const p = "push-e2e";
    const created = await stack.call("POST", "/jobs", {
      projectId: p,
      agent: "claude",
      prompt: "Fix add()",
      repo: { url, pullRequest: { title: "Fix add()" } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = String(created.body.data?.id);
    const leased = await stack.call("POST", "/run-next");
    expect(leased.status, JSON.stringify(leased.body)).toBe(202);

    const job = await stack.waitForJob(id, 120_000);
    expect(model.errors).toEqual([]);
    expect(job.status, JSON.stringify(job)).toBe("succeeded");
    const branch = `agent/${id}`;
    const { result, pushed } = expectPushed(job, branch, base);
    expect(git.git("acme", "app", "show", `${pushed}:add.js`)).toBe("export const add = (a, b) => a + b;\n");
    expect(gh.pulls).toEqual([
      expect.objectContaining({ owner: "acme", repo: "app", head: branch, base: "main", title: "Fix add()" }),
    ]);
    expect(gh.pulls[0]?.body).toContain("Fixed add().");
    expect(result.diff).toContain("+export const add = (a, b) => a + b;");

    // The clone and the push reached the server with the token (added by the Worker); the agent never saw it.
    expect(git.log.some((l) => l.includes("git-upload-pack") && l.endsWith(" 200 x-access-token"))).toBe(true);
    expect(git.log.some((l) => l.includes("git-receive-pack") && l.endsWith(" 200 x-access-token"))).toBe(true);
    const agentSaw = JSON.stringify(model.requests.map((r) => r.body));
    expect(agentSaw).toContain("SANDBOX_JOB_ID");
    expect(agentSaw).not.toContain(TOKEN);
    expect(agentSaw).not.toMatch(/extraheader/i);
    const page = await stack.call("GET", `/jobs/${id}/events?format=json&after=0`);
    const events = JSON.stringify(page.body.data);
    expect(events).not.toContain(TOKEN);
    expect(events).toContain('"pull_request"');

    // The head holds the work (and the commit): a later job continues from it.
    const snaps = await stack.call("GET", `/sandboxes/${p}/snapshots`);
    expect(snaps.body.data?.head).toBe(result.snapshotId);
    first = { id, branch, commit: pushed, url };
  });

  it("a follow-up job fast-forwards the same branch with a push of megabytes through the Worker, and answers the open pull request", async () => {
    expect(first).not.toBeNull();
    const { branch, commit, url } = first as NonNullable<typeof first>;
    const created = await stack.call("POST", "/jobs", {
      projectId: "push-e2e",
      agent: "shell",
      prompt: "Add the data",
      // Incompressible, larger than git's 1 MiB post buffer: a chunked request through sandboxd and the Worker.
      command: "head -c 3000000 /dev/urandom > data.bin && sha256sum data.bin > data.sha",
      repo: { url, pushBranch: branch, pullRequest: {} },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = String(created.body.data?.id);
    expect((await stack.call("POST", "/run-next")).status).toBe(202);
    const job = await stack.waitForJob(id, 120_000);
    expect(job.status, JSON.stringify(job)).toBe("succeeded");
    const { pushed } = expectPushed(job, branch, commit);
    const sum = git.git("acme", "app", "show", `${pushed}:data.sha`).split(" ")[0];
    expect(git.git("acme", "app", "cat-file", "-s", `${pushed}:data.bin`).trim()).toBe("3000000");
    expect(sum).toMatch(/^[0-9a-f]{64}$/);
    expect(gh.pulls).toHaveLength(1);
  });
});
