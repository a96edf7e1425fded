/**
 * `runner run-job` faults and first jobs, real processes throughout: a job past
 * its timeout has its command AND the command's child killed, is snapshotted and
 * fails with TIMEOUT; a cancel seen on a heartbeat stops the agent, snapshots and
 * ends `cancelled`; a heartbeat answering 409 LEASE_LOST, or 401 once the job's
 * token died with its lease, stops the runner without a result or snapshot; a
 * project's first job with a repo clones it (a real bare repository over dumb HTTP
 * on 127.0.0.1) and the next job restores instead. Retries after a dead attempt
 * (its runner SIGKILLed, its agent left running) start from the head: the dead
 * agent is killed, its files are gone and its edits undone, also on a first job
 * (whose clone became the head before its agent ran).
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { JobEvent, JobResult } from "../../../src/shared/job-format.ts";
import { serveGitRoot } from "../../support/git-http.ts";
import { createTestGitRepos } from "../../support/git-repos.ts";
import { restore, snap, tempDir } from "../../support/runner-fixtures.ts";
import { runnerEnv, runRunner, startRunner } from "../../support/runner-process.ts";
import type { StandinJobRecord } from "../../support/standin-job-routes.ts";
import { useStandinRunnerApi } from "../../support/use-standin-runner-api.ts";

const api = useStandinRunnerApi();

function jobEnv(ws: string, jobId: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return runnerEnv(api, ws, { SANDBOX_JOB_ID: jobId, SANDBOX_RESTORE_INSTALL: "0", ...extra });
}

/** Whether `pid` is a live (not zombie) process. */
async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Resolves once `check` is true (polling), or rejects after `ms`. */
async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The data of the last `agent` phase's end event. */
function agentEnd(events: JobEvent[]): Record<string, unknown> | undefined {
  return events.findLast((e) => e.type === "phase" && e.data.name === "agent" && e.data.state === "end")?.data;
}

/** The agent's stdout lines of the last attempt in `events` (after the last agent start). */
function lastAgentLines(events: JobEvent[]): unknown[] {
  const start = events.findLastIndex((e) => e.type === "phase" && e.data.name === "agent" && e.data.state === "start");
  return events
    .slice(start)
    .filter((e) => e.type === "log" && e.data.stream === "stdout")
    .map((e) => e.data.line);
}

/**
 * Attempt 1 of `rec` in `ws` until its agent printed "ready", then its runner is
 * SIGKILLed (no heartbeat, no result: what the Worker later sees as an expired
 * lease). The agent, in its own process group, is left running.
 */
async function killedAttempt(ws: string, rec: ReturnType<typeof api.addJob>): Promise<void> {
  const dead = startRunner(["run-job", "--json"], jobEnv(ws, rec.job.id, { SANDBOX_HEARTBEAT_MS: "50" }));
  await until(() => rec.events.some((e) => e.type === "log" && e.data.line === "ready"));
  dead.child.kill("SIGKILL");
  await dead.done;
  expect(rec.results).toHaveLength(0);
}

/** The same job leased again (attempt 2) running `command`, as the stand-in's Worker would after the sweep. */
function requeued(rec: ReturnType<typeof api.addJob>, command: string): void {
  rec.job.attempt = 2;
  rec.job.command = command;
}

/** Runs `fn` with the URL of the test repository served over git's dumb HTTP, then cleans up. */
async function withTestRepo(fn: (repoUrl: string) => Promise<void>): Promise<void> {
  const repos = await createTestGitRepos();
  const server = await serveGitRoot(repos.root);
  try {
    await fn(`${server.url}/${repos.repo}`);
  } finally {
    await server.close();
    await repos.cleanup();
  }
}

describe("runner run-job faults", () => {
  it("timeout: the command and its child are killed, the workspace snapshotted, failed TIMEOUT", async () => {
    const rec = api.addJob({
      timeoutSeconds: 1,
      command: "echo started > s.txt; sleep 300 & echo $! > child.pid; wait",
    });
    const ws = await tempDir();
    const t0 = Date.now();
    const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
    const took = Date.now() - t0;
    expect(run.code, run.stderr).toBe(0);
    // Far below the `sleep 300` it must not wait for; a loaded machine starts Node slowly.
    expect(took).toBeLessThan(60_000);
    expect(run.result).toMatchObject({ ok: true, status: "failed", error: { code: "TIMEOUT" } });
    const result = rec.results[0] as JobResult;
    expect(result).toMatchObject({ status: "failed", error: { code: "TIMEOUT" } });
    expect(result.timings.agent).toBeGreaterThanOrEqual(1000);
    expect(agentEnd(rec.events)).toMatchObject({ ok: false, code: "TIMEOUT" });
    const childPid = Number(await readFile(join(ws, "child.pid"), "utf8"));
    expect(childPid).toBeGreaterThan(0);
    expect(await alive(childPid)).toBe(false);
    expect(result.changedFiles.added).toEqual(["child.pid", "s.txt"]);
    expect(result.snapshotId).toBe(api.store.head);
    const check = await tempDir();
    await restore(api.store, check);
    expect(await readFile(join(check, "s.txt"), "utf8")).toBe("started\n");
  });

  it("cancel requested on a heartbeat: agent stopped, snapshotted, cancelled", async () => {
    const rec = api.addJob({ command: "echo x > c.txt; echo ready; sleep 300" });
    const ws = await tempDir();
    const done = runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id, { SANDBOX_HEARTBEAT_MS: "50" }));
    await until(() => rec.events.some((e) => e.type === "log" && e.data.line === "ready"));
    rec.job.cancelRequested = true;
    const run = await done;
    expect(run.code, run.stderr).toBe(0);
    expect(run.result).toMatchObject({ ok: true, status: "cancelled", error: { code: "CANCELLED" } });
    const result = rec.results[0] as JobResult;
    expect(result).toMatchObject({ status: "cancelled", error: { code: "CANCELLED" } });
    expect(result.changedFiles.added).toEqual(["c.txt"]);
    expect(result.snapshotId).toBe(api.store.head);
    expect(rec.job.status).toBe("cancelled");
  });

  // Two ways a runner learns its lease is gone: the heartbeat answers 409 LEASE_LOST,
  // or every route answers 401 because the job's token died with its lease.
  it.each([
    ["409 LEASE_LOST", (rec: StandinJobRecord) => Object.assign(rec, { leaseLost: true }), ""],
    [
      "401 (token died with its lease)",
      (rec: StandinJobRecord) => Object.assign(rec, { tokenDead: true }),
      "Job token is no longer valid",
    ],
  ])("%s on a heartbeat: agent stopped, no snapshot, no result, non-zero exit", async (_name, loseLease, said) => {
    const seed = await tempDir();
    await writeFile(join(seed, "a.txt"), "alpha");
    const first = await snap(api.store, seed);
    const rec = api.addJob({ command: "echo x > l.txt; echo ready; sleep 300" });
    const ws = await tempDir();
    const t0 = Date.now();
    const done = runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id, { SANDBOX_HEARTBEAT_MS: "50" }));
    await until(() => rec.events.some((e) => e.type === "log" && e.data.line === "ready"));
    loseLease(rec);
    const run = await done;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(run.code).toBe(1);
    expect(run.result).toMatchObject({ ok: false, command: "run-job", code: "LEASE_LOST", reported: false });
    expect(run.stderr).toContain(said);
    expect(rec.results).toHaveLength(0);
    expect(api.store.head).toBe(first.snapshotId);
    expect(api.store.stats.commits).toBe(1);
  });

  it("a retry after a dead attempt starts from the head: the dead agent is killed, its files gone, its edits undone", async () => {
    const seed = await tempDir();
    await writeFile(join(seed, "a.txt"), "alpha\n");
    await writeFile(join(seed, "keep.txt"), "keep\n");
    const first = await snap(api.store, seed);
    // The dead attempt's agent edits a tracked file, creates one, and leaves a writer behind.
    const rec = api.addJob({
      command: [
        "echo changed > a.txt",
        "mkdir -p new/dir && echo partial > new/dir/partial.txt",
        "(while true; do echo more >> partial.txt; sleep 0.02; done) &",
        "echo writer=$!",
        "echo ready",
        "sleep 300",
      ].join("\n"),
    });
    const ws = await tempDir();
    await killedAttempt(ws, rec);
    const writerLine = rec.events.find((e) => String(e.data.line).startsWith("writer="));
    const writer = Number(String(writerLine?.data.line).slice("writer=".length));
    // The runner is gone, its agent is not: still writing into the workspace.
    expect(await alive(writer)).toBe(true);
    expect(api.store.head).toBe(first.snapshotId);

    // Attempt 2 looks after a pause in which a surviving writer would have recreated partial.txt.
    requeued(rec, "sleep 0.5; ls; cat a.txt");
    const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/killed \d+ process\(es\) a dead attempt left running/);
    expect(await alive(writer)).toBe(false);
    const result = rec.results[0] as JobResult;
    expect(result.status, result.summary).toBe("succeeded");
    expect(lastAgentLines(rec.events)).toEqual(["a.txt", "keep.txt", "alpha"]);
    expect(result.changedFiles).toMatchObject({ added: [], modified: [], deleted: [] });
    expect(result.timings.restore).toBeGreaterThanOrEqual(0);
    const check = await tempDir();
    await restore(api.store, check);
    expect((await readdir(check)).sort()).toEqual(["a.txt", "keep.txt"]);
  });

  it("first job with a repo: the clone is the head before the agent runs; a retry restores it clean", async () => {
    await withTestRepo(async (repoUrl) => {
      const rec = api.addJob({
        repo: { url: repoUrl, branch: "feature" },
        command: "echo junk > partial.txt; echo changed >> README.md; echo ready; sleep 300",
      });
      const ws = await tempDir();
      await killedAttempt(ws, rec);
      // The baseline: the clone, committed before the agent started.
      const baseline = api.store.head as string;
      expect(baseline).not.toBeNull();
      const paths = (
        JSON.parse(api.store.manifests.get(baseline) as string) as { entries: { path: string }[] }
      ).entries.map((e) => e.path);
      expect(paths).toEqual(expect.arrayContaining(["README.md", "feature.txt", ".git/HEAD"]));
      expect(paths).not.toContain("partial.txt");
      const phases = rec.events.filter((e) => e.type === "phase").map((e) => `${e.data.name}:${e.data.state}`);
      expect(phases).toEqual(["clone:start", "clone:end", "baseline:start", "baseline:end", "agent:start"]);

      requeued(rec, "ls; cat README.md");
      const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
      expect(run.code, run.stderr).toBe(0);
      const result = rec.results[0] as JobResult;
      expect(result.status, result.summary).toBe("succeeded");
      expect(result.timings.clone).toBeUndefined();
      expect(lastAgentLines(rec.events)).toEqual(["README.md", "feature.txt", "hello from the test repo"]);
      expect(result.changedFiles).toMatchObject({ added: [], modified: [], deleted: [] });
      expect(result.diff).toBe("");
    });
  });

  it("a first job whose workspace holds a stale, half-moved clone still gets a clean clone", async () => {
    await withTestRepo(async (repoUrl) => {
      const ws = await tempDir();
      // What an attempt that died while moving an older clone into place leaves: some entries, stale.
      await writeFile(join(ws, "README.md"), "an older README\n");
      await mkdir(join(ws, ".git"));
      await writeFile(join(ws, ".git", "HEAD"), "ref: refs/heads/stale\n");
      const rec = api.addJob({
        repo: { url: repoUrl, branch: "feature" },
        command: "cat README.md",
      });
      const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
      expect(run.code, run.stderr).toBe(0);
      const result = rec.results[0] as JobResult;
      expect(result.status, result.summary).toBe("succeeded");
      expect(lastAgentLines(rec.events)).toEqual(["hello from the test repo"]);
      expect(await readFile(join(ws, ".git", "HEAD"), "utf8")).toBe("ref: refs/heads/feature\n");
      expect(result.changedFiles).toMatchObject({ added: [], modified: [], deleted: [] });
    });
  });

  it("first job with a repo clones it (branch), the next job restores; both diff correctly", async () => {
    await withTestRepo(async (repoUrl) => {
      const rec = api.addJob({
        repo: { url: repoUrl, branch: "feature" },
        command: "cat feature.txt > copy.txt",
      });
      const ws = await tempDir();
      const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
      expect(run.code, run.stderr).toBe(0);
      const result = rec.results[0] as JobResult;
      expect(result.status).toBe("succeeded");
      expect(result.timings.clone).toBeGreaterThan(0);
      expect(result.timings.restore).toBeUndefined();
      expect(rec.events[0]?.data).toMatchObject({ name: "clone", state: "start" });
      expect(result.changedFiles).toMatchObject({ added: ["copy.txt"], modified: [], deleted: [], truncated: false });
      expect(result.diff).toContain("+++ b/copy.txt\n@@ -0,0 +1 @@\n+feature branch\n");
      const manifest = JSON.parse(api.store.manifests.get(result.snapshotId as string) as string) as {
        entries: { path: string }[];
      };
      const paths = manifest.entries.map((e) => e.path);
      expect(paths).toEqual(expect.arrayContaining(["README.md", "feature.txt", "copy.txt", ".git/HEAD"]));

      // Second job, fresh workspace: the head exists, so restore (no clone); old content from the store.
      const next = api.addJob({
        repo: { url: repoUrl, branch: "feature" },
        command: "echo more >> README.md && git add -A && git -c user.name=t -c user.email=t@t commit -qm edit",
      });
      const ws2 = await tempDir();
      const run2 = await runRunner(["run-job", "--json"], jobEnv(ws2, next.job.id));
      expect(run2.code, run2.stderr).toBe(0);
      const r2 = next.results[0] as JobResult;
      expect(r2.status, r2.summary).toBe("succeeded");
      expect(r2.timings.restore).toBeGreaterThanOrEqual(0);
      expect(r2.timings.clone).toBeUndefined();
      // .git internals are not reported as changes.
      expect(r2.changedFiles).toMatchObject({ added: [], modified: ["README.md"], deleted: [], truncated: false });
      expect(r2.diff).toContain(" hello from the test repo\n+more\n");
    });
  });

  it("a repo that cannot be cloned: failed CLONE_FAILED, reported", async () => {
    const server = await serveGitRoot(await tempDir());
    try {
      const rec = api.addJob({ repo: { url: `${server.url}/missing.git`, branch: null } });
      const ws = await tempDir();
      const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
      expect(run.code).toBe(1);
      expect(run.result).toMatchObject({ ok: false, code: "CLONE_FAILED", reported: true });
      expect(rec.job).toMatchObject({ status: "failed", error: { code: "CLONE_FAILED" } });
      expect(rec.events.map((e) => `${e.data.name}:${e.data.state}`)).toEqual(["clone:start", "clone:end"]);
    } finally {
      await server.close();
    }
  });
});
