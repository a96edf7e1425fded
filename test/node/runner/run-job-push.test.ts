/**
 * `runner run-job` for jobs that push (issue 12), as a real child process against the
 * stand-in runner API and a real git smart-HTTP server (`git http-backend`, auth
 * required): the agent's work is committed, pushed with the credential the runner asks
 * for after the agent is gone, and the pull request asked of the Worker; the pushed
 * tree equals the job's snapshot; a second job fast-forwards the branch; a diverged
 * branch and wrong credentials fail the job with their codes after the snapshot; a job
 * that changed nothing pushes nothing; the token is nowhere the agent or the snapshot
 * could see it.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Job, JobResult } from "../../../src/shared/job-format.ts";
import { type GitSmartHttp, startGitSmartHttp } from "../../support/git-smart-http.ts";
import { describeTree, restore, stateDirOf, tempDir } from "../../support/runner-fixtures.ts";
import { runnerEnv, runRunner } from "../../support/runner-process.ts";
import type { StandinJobRecord } from "../../support/standin-job-routes.ts";
import { useStandinRunnerApi } from "../../support/use-standin-runner-api.ts";

const api = useStandinRunnerApi();
const TOKEN = "ghs_pushTestToken0123456789abcdef";
let git: GitSmartHttp;

beforeEach(async () => {
  git = await startGitSmartHttp({ tokens: [TOKEN] });
});
afterEach(async () => {
  await git.close();
});

function jobEnv(ws: string, jobId: string): NodeJS.ProcessEnv {
  return runnerEnv(api, ws, { SANDBOX_JOB_ID: jobId, SANDBOX_RESTORE_INSTALL: "0" });
}

/** A job of the stand-in that pushes to `pushBranch` of `url`, with the token as its credential. */
function pushJob(url: string, command: string, repo: Partial<NonNullable<Job["repo"]>> = {}): StandinJobRecord {
  const rec = api.addJob({
    command,
    prompt: "Improve the greeting",
    repo: {
      url,
      branch: null,
      pushBranch: "agent/greeting",
      commitMessage: null,
      pullRequest: null,
      author: null,
      ...repo,
    },
  });
  rec.gitCredential = { username: "x-access-token", password: TOKEN, expiresAt: null };
  return rec;
}

/** path → sha256 of every file of a tree (no directories, no .git). */
async function fileHashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [path, d] of Object.entries(await describeTree(dir))) {
    if (d.startsWith("file ") && path !== ".git" && !path.startsWith(".git/")) out[path] = d.split(" ")[2] as string;
  }
  return out;
}

/** Every file of `commit` in the bare repository, checked out into a fresh directory. */
async function checkout(commit: string): Promise<string> {
  const dir = await tempDir("checkout-");
  const tar = execFileSync("git", ["archive", commit], { cwd: git.repoDir("acme", "app") });
  execFileSync("tar", ["-x", "-C", dir], { input: tar });
  return dir;
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

describe("runner run-job: jobs that push", () => {
  it("commits the agent's work, pushes it with a credential asked for after the agent, and opens the pull request", async () => {
    const url = await git.makeRepo("acme", "app", { "README.md": "hello\n" });
    const base = git.commitOf("acme", "app", "main") as string;
    const rec = pushJob(
      url,
      // The agent looks for credentials everywhere it can: its environment, git's config.
      "echo world >> README.md; echo new > new.txt; env > agent-env.txt; git config --list > agent-git-config.txt 2>&1; " +
        // What neither the snapshot nor the commit takes, in a repository without a .gitignore.
        "mkdir -p node_modules/dep && echo x > node_modules/dep/i.js; echo SECRET=1 > .env; true",
      {
        author: { name: "Bot", email: "bot@example.com" },
        pullRequest: { title: "Greeting", body: null, base: null, draft: true },
      },
    );
    const ws = await tempDir();
    const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
    expect(run.code, run.stderr).toBe(0);
    const result = rec.results[0] as JobResult;
    expect(result.status, JSON.stringify(result.error)).toBe("succeeded");
    const pushed = git.commitOf("acme", "app", "agent/greeting");
    expect(result.git).toEqual({
      branch: "agent/greeting",
      baseCommit: base,
      commit: pushed,
      pushed: true,
      pullRequest: { number: 1, url: "https://github.example/o/r/pull/1" },
    });
    // One commit on top of main, by the job's author, main untouched.
    expect(git.git("acme", "app", "rev-parse", `${pushed}^`).trim()).toBe(base);
    expect(git.commitOf("acme", "app", "main")).toBe(base);
    expect(git.git("acme", "app", "log", "-1", "--format=%an <%ae>|%cn|%s", pushed as string).trim()).toBe(
      "Bot <bot@example.com>|Bot|Improve the greeting",
    );

    // The pushed tree is the job's snapshot (the head), file for file.
    expect(result.snapshotId).toBe(api.store.head);
    const restored = await tempDir();
    await restore(api.store, restored);
    const snapshotFiles = await fileHashes(restored);
    expect(snapshotFiles["README.md"]).toBe(sha256("hello\nworld\n"));
    const pushedFiles = await fileHashes(await checkout(pushed as string));
    expect(pushedFiles).toEqual(snapshotFiles);
    expect(Object.keys(pushedFiles).sort()).toEqual(["README.md", "agent-env.txt", "agent-git-config.txt", "new.txt"]);
    // The snapshot's repository stands on the pushed commit (the next job continues from it).
    expect(await readFile(join(restored, ".git", "HEAD"), "utf8")).toBe("ref: refs/heads/agent/greeting\n");
    expect((await readFile(join(restored, ".git", "refs", "heads", "agent", "greeting"), "utf8")).trim()).toBe(pushed);

    // Asked for twice: before the clone (no agent yet), and after the agent ended and its
    // snapshot was committed (the API's request log).
    expect(rec.credentialAsks).toHaveLength(2);
    const asked = api.log.map((l) => l.includes("/git-access")).lastIndexOf(true);
    const committed = api.log.map((l) => /^POST \S*\/snapshots /.test(l)).lastIndexOf(true);
    expect(committed).toBeGreaterThan(0);
    expect(asked).toBeGreaterThan(committed);
    expect(rec.pullRequests).toEqual([
      { head: "agent/greeting", base: null, title: "Greeting", body: expect.stringContaining(rec.job.id), draft: true },
    ]);
    const phases = rec.events.filter((e) => e.type === "phase" && e.data.state === "end").map((e) => e.data.name);
    expect(phases).toEqual(["clone", "baseline", "agent", "commit", "snapshot", "diff", "push", "pull_request"]);
    expect(rec.events.filter((e) => e.type === "git").map((e) => e.data.step)).toEqual(["pushed", "pull_request"]);

    // The token: sent to the git server, and nowhere the agent, the workspace or the snapshot has it.
    const basic = Buffer.from(`x-access-token:${TOKEN}`).toString("base64");
    expect(git.authorizations).toContain(`Basic ${basic}`);
    expect(await readFile(join(ws, "agent-env.txt"), "utf8")).not.toContain(TOKEN);
    expect(await readFile(join(ws, "agent-git-config.txt"), "utf8")).not.toMatch(/extraheader|x-access-token/i);
    const grep = (dir: string, needle: string) =>
      execFileSync("grep", ["-rlaF", "--", needle, dir, "/dev/null"], { encoding: "utf8" }).split("\n").filter(Boolean);
    const safe = (dir: string, needle: string) => {
      try {
        return grep(dir, needle);
      } catch {
        return []; // grep exits 1 when nothing matches
      }
    };
    for (const needle of [TOKEN, basic]) {
      expect(safe(ws, needle)).toEqual([]);
      expect(safe(stateDirOf(ws), needle)).toEqual([]);
      for (const [id, pack] of api.store.packs) expect(pack.includes(needle), `pack ${id}`).toBe(false);
    }
  });

  it("a second job on the same branch fast-forwards it; a diverged branch is rejected after the snapshot", async () => {
    const url = await git.makeRepo("acme", "app", { "README.md": "hello\n" });
    const ws = await tempDir();
    const first = pushJob(url, "echo one > one.txt");
    expect((await runRunner(["run-job", "--json"], jobEnv(ws, first.job.id))).code).toBe(0);
    const c1 = first.results[0]?.git?.commit as string;
    expect(git.commitOf("acme", "app", "agent/greeting")).toBe(c1);

    const second = pushJob(url, "echo two > two.txt");
    expect((await runRunner(["run-job", "--json"], jobEnv(ws, second.job.id))).code).toBe(0);
    const r2 = second.results[0] as JobResult;
    expect(r2.status, JSON.stringify(r2.error)).toBe("succeeded");
    expect(r2.git).toMatchObject({ baseCommit: c1, pushed: true });
    const c2 = r2.git?.commit as string;
    expect(git.commitOf("acme", "app", "agent/greeting")).toBe(c2);
    expect(git.git("acme", "app", "rev-parse", `${c2}^`).trim()).toBe(c1);
    expect(r2.changedFiles.added).toEqual(["two.txt"]);

    // Someone else pushes to the branch: the next job's push is not a fast-forward.
    const tree = git.git("acme", "app", "rev-parse", `${c2}^{tree}`).trim();
    const theirs = git.git("acme", "app", "commit-tree", tree, "-p", c2, "-m", "theirs").trim();
    git.git("acme", "app", "update-ref", "refs/heads/agent/greeting", theirs);
    const third = pushJob(url, "echo three > three.txt");
    expect((await runRunner(["run-job", "--json"], jobEnv(ws, third.job.id))).code).toBe(0);
    const r3 = third.results[0] as JobResult;
    expect(r3.status).toBe("failed");
    expect(r3.error?.code).toBe("PUSH_REJECTED");
    expect(r3.error?.message).toContain("agent/greeting");
    expect(r3.error?.message).toMatch(/rejected|fetch first|non-fast-forward/);
    expect(r3.git).toMatchObject({ pushed: false, pullRequest: null, baseCommit: c2 });
    expect(git.commitOf("acme", "app", "agent/greeting")).toBe(theirs);
    // The work is in the head: a retry starts from it.
    expect(r3.snapshotId).toBe(api.store.head);
    expect(r3.changedFiles.added).toEqual(["three.txt"]);
    const restored = await tempDir();
    await restore(api.store, restored);
    expect(await readFile(join(restored, "three.txt"), "utf8")).toBe("three\n");
  });

  it("a protected branch (the server's hook declines): PUSH_REJECTED with the remote's words", async () => {
    const url = await git.makeRepo("acme", "app", { "README.md": "hello\n" });
    const hook = join(git.repoDir("acme", "app"), "hooks", "pre-receive");
    await writeFile(
      hook,
      "#!/bin/sh\necho 'GH006: Protected branch update failed for refs/heads/agent/greeting.' >&2\nexit 1\n",
    );
    await chmod(hook, 0o755);
    const rec = pushJob(url, "echo p > p.txt");
    const ws = await tempDir();
    expect((await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id))).code).toBe(0);
    const r = rec.results[0] as JobResult;
    expect(r.error?.code).toBe("PUSH_REJECTED");
    expect(r.error?.message).toContain("GH006: Protected branch update failed");
    expect(r.error?.message).toContain("agent/greeting");
    expect(r.snapshotId).toBe(api.store.head);
    expect(git.commitOf("acme", "app", "agent/greeting")).toBeNull();
  });

  it("wrong or missing credentials: PUSH_AUTH_FAILED, snapshotted, nothing pushed", async () => {
    const url = await git.makeRepo("acme", "app", { "README.md": "hello\n" });
    const ws = await tempDir();
    const wrong = pushJob(url, "echo x > x.txt");
    wrong.gitCredential = { username: "x-access-token", password: "ghs_wrongToken000000000000", expiresAt: null };
    expect((await runRunner(["run-job", "--json"], jobEnv(ws, wrong.job.id))).code).toBe(0);
    const r = wrong.results[0] as JobResult;
    expect(r.error?.code).toBe("PUSH_AUTH_FAILED");
    expect(r.error?.message).toContain("agent/greeting");
    expect(r.error?.message).not.toContain("ghs_wrongToken");
    expect(r.snapshotId).toBe(api.store.head);
    expect(git.commitOf("acme", "app", "agent/greeting")).toBeNull();

    const none = pushJob(url, "echo y > y.txt");
    none.gitCredential = null;
    expect((await runRunner(["run-job", "--json"], jobEnv(ws, none.job.id))).code).toBe(0);
    expect(none.results[0]?.error?.code).toBe("PUSH_AUTH_FAILED");
  });

  it("an agent that changed nothing: nothing committed, pushed or opened, and the job says so", async () => {
    const url = await git.makeRepo("acme", "app", { "README.md": "hello\n" });
    const rec = pushJob(url, "cat README.md", { pullRequest: { title: null, body: null, base: null, draft: false } });
    const ws = await tempDir();
    expect((await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id))).code).toBe(0);
    const r = rec.results[0] as JobResult;
    expect(r.status).toBe("succeeded");
    expect(r.git).toEqual({
      branch: "agent/greeting",
      baseCommit: git.commitOf("acme", "app", "main"),
      commit: null,
      pushed: false,
      pullRequest: null,
    });
    // Only the clone's.
    expect(rec.credentialAsks).toHaveLength(1);
    expect(rec.pullRequests).toHaveLength(0);
    expect(rec.events.some((e) => e.type === "log" && String(e.data.line).includes("nothing to push"))).toBe(true);
    expect(git.commitOf("acme", "app", "agent/greeting")).toBeNull();
  });

  it("a pull request the Worker could not open: PULL_REQUEST_FAILED, the branch pushed", async () => {
    const url = await git.makeRepo("acme", "app", { "README.md": "hello\n" });
    const rec = pushJob(url, "echo z > z.txt", {
      pullRequest: { title: null, body: null, base: "main", draft: false },
    });
    rec.pullRequestAnswer = () => ({
      status: 502,
      code: "PULL_REQUEST_FAILED",
      error: "Pull request on acme/app failed: 422 Validation Failed",
    });
    const ws = await tempDir();
    expect((await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id))).code).toBe(0);
    const r = rec.results[0] as JobResult;
    expect(r.status).toBe("failed");
    expect(r.error?.code).toBe("PULL_REQUEST_FAILED");
    expect(r.error?.message).toContain("422 Validation Failed");
    expect(r.git).toMatchObject({ pushed: true, pullRequest: null });
    expect(git.commitOf("acme", "app", "agent/greeting")).toBe(r.git?.commit);
    // Asked once: the Worker retries GitHub itself.
    expect(rec.pullRequests).toHaveLength(1);
    expect(rec.pullRequests[0]).toMatchObject({ base: "main", title: "Improve the greeting" });
  });

  it("a failed agent pushes nothing", async () => {
    const url = await git.makeRepo("acme", "app", { "README.md": "hello\n" });
    const rec = pushJob(url, "echo half > half.txt; exit 2");
    const ws = await tempDir();
    expect((await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id))).code).toBe(0);
    const r = rec.results[0] as JobResult;
    expect(r.error?.code).toBe("AGENT_FAILED");
    expect(r.git).toMatchObject({ commit: null, pushed: false });
    expect(rec.credentialAsks).toHaveLength(1);
    expect(git.commitOf("acme", "app", "agent/greeting")).toBeNull();
  });

  it("clones a private repository with the credential, which stays out of .git/config; without it the clone fails", async () => {
    git.privateReads = true;
    const url = await git.makeRepo("acme", "app", { "README.md": "private\n" });
    const anonymous = api.addJob({ command: "true", repo: { url, branch: null } });
    const ws0 = await tempDir();
    expect((await runRunner(["run-job", "--json"], jobEnv(ws0, anonymous.job.id))).code).toBe(1);
    expect(anonymous.job.error?.code).toBe("CLONE_FAILED");

    const rec = pushJob(url, "echo more >> README.md");
    const ws = await tempDir();
    const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
    expect(run.code, run.stderr).toBe(0);
    expect(rec.results[0]?.status, JSON.stringify(rec.results[0]?.error)).toBe("succeeded");
    // Asked twice: right before the clone, and after the agent for the push.
    expect(rec.credentialAsks).toHaveLength(2);
    expect(await readFile(join(ws, "README.md"), "utf8")).toBe("private\nmore\n");
    const config = await readFile(join(ws, ".git", "config"), "utf8");
    expect(config).toContain(`url = ${url}`);
    expect(config).not.toMatch(/extraheader|x-access-token|ghs_/i);
    expect(git.log.some((l) => l.includes("git-upload-pack") && l.endsWith(" x-access-token"))).toBe(true);
  });
});
