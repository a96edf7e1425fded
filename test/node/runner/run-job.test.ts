/**
 * `runner run-job` as a real child process against the stand-in runner API (job
 * routes + snapshot routes over a MemStore): a shell job's result (changed files,
 * diff, the new snapshot holding the command's output), events in order,
 * heartbeats, a failing command (its agent phase ends `ok: false`), an agent this
 * runner lacks, a job that is not running. Timeouts, cancel, lease loss and clone are in run-job-faults.test.ts.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { manifestCachePath } from "../../../container/runner/manifest-cache.ts";
import type { Job, JobResult } from "../../../src/shared/job-format.ts";
import { restore, snap, stateDirOf, tempDir } from "../../support/runner-fixtures.ts";
import { runnerEnv, runRunner } from "../../support/runner-process.ts";
import { useStandinRunnerApi } from "../../support/use-standin-runner-api.ts";

const api = useStandinRunnerApi();

/** Env for run-job of `jobId` in `ws`. */
function jobEnv(ws: string, jobId: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return runnerEnv(api, ws, { SANDBOX_JOB_ID: jobId, SANDBOX_RESTORE_INSTALL: "0", ...extra });
}

describe("runner run-job (shell agent)", () => {
  it("restores the head, runs the command, snapshots and reports changes, diff and events", async () => {
    const seed = await tempDir();
    await writeFile(join(seed, "a.txt"), "alpha\n");
    await writeFile(join(seed, "del.txt"), "bye\n");
    await writeFile(join(seed, "keep.txt"), "same\n");
    const first = await snap(api.store, seed);
    const rec = api.addJob({
      command: "echo beta >> a.txt; rm del.txt; echo out > out.txt; printf 'x\\0y' > bin.dat; echo done; echo warn >&2",
    });
    const ws = await tempDir();
    const seenBefore = api.log.length;
    const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
    expect(run.code, run.stderr).toBe(0);
    expect(run.result).toMatchObject({ ok: true, command: "run-job", jobId: rec.job.id, status: "succeeded" });
    // Each thing fetched once: the head read once, its manifest downloaded once, and the
    // manifest the job committed never downloaded (the snapshot returns it).
    const calls = api.log.slice(seenBefore).map((l) => l.split(" ").slice(0, 2).join(" "));
    expect(calls.filter((c) => /^GET \S*\/head$/.test(c))).toHaveLength(1);
    expect(calls.filter((c) => c.startsWith("GET ") && c.includes("/snapshots/"))).toEqual([
      expect.stringContaining(`/snapshots/${first.snapshotId}`),
    ]);

    expect(rec.results).toHaveLength(1);
    const result = rec.results[0] as JobResult;
    expect(result).toMatchObject({ status: "succeeded", exitCode: 0, error: null, diffTruncated: false });
    expect(result.changedFiles).toEqual({
      added: ["bin.dat", "out.txt"],
      modified: ["a.txt"],
      deleted: ["del.txt"],
      counts: { added: 2, modified: 1, deleted: 1 },
      truncated: false,
    });
    expect(result.diff).toContain("diff --git a/a.txt b/a.txt\n");
    expect(result.diff).toContain(" alpha\n+beta\n");
    expect(result.diff).toContain("diff --git a/del.txt b/del.txt\ndeleted file mode 100644");
    expect(result.diff).toContain("-bye\n");
    expect(result.diff).toContain("diff --git a/out.txt b/out.txt\nnew file mode 100644");
    expect(result.diff).toContain("+++ b/out.txt\n@@ -0,0 +1 @@\n+out\n");
    expect(result.diff).toContain("Binary files /dev/null and b/bin.dat differ");
    expect(result.diff).not.toContain("keep.txt");
    expect(result.summary).toContain("done");
    expect(result.usage).toEqual({
      inputTokens: 0,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      costUsd: 0,
    });
    for (const k of ["restore", "agent", "snapshot", "diff", "total"])
      expect(result.timings[k]).toBeGreaterThanOrEqual(0);

    // The new snapshot is the head, parented on the old one, and holds the output file.
    expect(result.snapshotId).toBe(api.store.head);
    expect(result.snapshotId).not.toBe(first.snapshotId);
    const manifest = JSON.parse(api.store.manifests.get(result.snapshotId as string) as string);
    expect(manifest.parent).toBe(first.snapshotId);
    const check = await tempDir();
    await restore(api.store, check);
    expect(await readFile(join(check, "out.txt"), "utf8")).toBe("out\n");
    expect(await readFile(join(check, "a.txt"), "utf8")).toBe("alpha\nbeta\n");
    expect(rec.job.status).toBe("succeeded");

    // Events: numbered in order, phases bracket the work, log lines inside the agent phase.
    expect(rec.events.map((e) => e.seq)).toEqual(rec.events.map((_, i) => i + 1));
    const marks = rec.events.map((e) =>
      e.type === "phase"
        ? `${e.data.name}:${e.data.state}`
        : `${e.type}:${String(e.data.stream)}:${String(e.data.line)}`,
    );
    expect(marks).toEqual([
      "restore:start",
      "restore:end",
      "agent:start",
      ...marks.filter((m) => m.startsWith("log:")),
      "agent:end",
      "snapshot:start",
      "snapshot:end",
      "diff:start",
      "diff:end",
    ]);
    expect(marks).toContain("log:stdout:done");
    // Every phase ended ok, the agent's because the agent succeeded.
    const ends = rec.events.filter((e) => e.type === "phase" && e.data.state === "end");
    expect(ends.map((e) => [e.data.name, e.data.ok])).toEqual([
      ["restore", true],
      ["agent", true],
      ["snapshot", true],
      ["diff", true],
    ]);
    expect(marks).toContain("log:stderr:warn");
    // Batched (the 1,000-line test below shows the batch sizes): never more posts than events.
    expect(rec.eventPosts).toBeLessThanOrEqual(rec.events.length);
  });

  it("heartbeats while the job runs and never exposes the runner token to the command", async () => {
    // A shell parameter expansion, not a JS template.
    const command = ['sleep 0.6; echo "token=$', '{SANDBOX_RUNNER_TOKEN:-none} job=$SANDBOX_JOB_ID"'].join("");
    const rec = api.addJob({ command });
    const ws = await tempDir();
    const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id, { SANDBOX_HEARTBEAT_MS: "50" }));
    expect(run.code, run.stderr).toBe(0);
    expect(rec.heartbeats).toBeGreaterThanOrEqual(4);
    expect(rec.results[0]?.summary).toBe(`token=none job=${rec.job.id}`);
  });

  it("many log lines arrive complete and in order, in batches", async () => {
    const rec = api.addJob({ command: "for i in $(seq 1 1000); do echo line-$i; done" });
    const ws = await tempDir();
    const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
    expect(run.code, run.stderr).toBe(0);
    const lines = rec.events.filter((e) => e.type === "log").map((e) => e.data.line);
    expect(lines).toEqual(Array.from({ length: 1000 }, (_, i) => `line-${i + 1}`));
    // ≤ 100 per POST: at least 10 posts, and far fewer than one per event.
    expect(rec.eventPosts).toBeGreaterThanOrEqual(10);
    expect(rec.eventPosts).toBeLessThan(100);
  });

  it("a failing command: failed with AGENT_FAILED and its exit code, still snapshotted", async () => {
    const rec = api.addJob({ command: "echo partial > p.txt; echo oops >&2; exit 3" });
    const ws = await tempDir();
    const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
    expect(run.code, run.stderr).toBe(0);
    expect(run.result).toMatchObject({ ok: true, status: "failed", exitCode: 3, error: { code: "AGENT_FAILED" } });
    const result = rec.results[0] as JobResult;
    expect(result).toMatchObject({ status: "failed", exitCode: 3, error: { code: "AGENT_FAILED" } });
    expect(result.summary).toContain("oops");
    expect(result.changedFiles.added).toEqual(["p.txt"]);
    // The agent phase says the agent failed, and why; the snapshot after it is fine.
    const ends = rec.events.filter((e) => e.type === "phase" && e.data.state === "end");
    expect(ends.find((e) => e.data.name === "agent")?.data).toMatchObject({ ok: false, code: "AGENT_FAILED" });
    expect(ends.find((e) => e.data.name === "snapshot")?.data).toMatchObject({ ok: true });
    expect(result.snapshotId).toBe(api.store.head);
  });

  it("an agent this runner lacks is reported failed with AGENT_UNAVAILABLE; a job not running is left alone", async () => {
    // A name no runner has (the stand-in does not validate it; the Worker's API would).
    const rec = api.addJob({ agent: "no-such-agent" as Job["agent"], command: null, prompt: "hi" });
    const ws = await tempDir();
    const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
    expect(run.code).toBe(1);
    expect(run.result).toMatchObject({ ok: false, command: "run-job", code: "AGENT_UNAVAILABLE", reported: true });
    expect(rec.job).toMatchObject({ status: "failed", error: { code: "AGENT_UNAVAILABLE" } });

    const queued = api.addJob({ status: "queued" });
    const q = await runRunner(["run-job", "--json"], jobEnv(ws, queued.job.id));
    expect(q.code).toBe(1);
    expect(q.result).toMatchObject({ ok: false, code: "JOB_NOT_RUNNING", reported: false });
    expect(queued.results).toHaveLength(0);

    const noJob = await runRunner(["run-job", "--json"], runnerEnv(api, ws));
    expect(noJob.result).toMatchObject({ ok: false, code: "CONFIG_MISSING" });
  });

  it("a job after a restore or another job in the same sandbox fetches no manifest; a damaged cache is fetched past", async () => {
    const seed = await tempDir();
    await writeFile(join(seed, "a.txt"), "alpha\n");
    const first = await snap(api.store, seed);
    const ws = await tempDir();
    // The ensure step's restore of a fresh workspace, then the jobs (as /run-next does).
    const restored = await runRunner(["restore", "--if-fresh", "--json"], runnerEnv(api, ws));
    expect(restored.result).toMatchObject({ ok: true, snapshotId: first.snapshotId });
    const manifestGets = async (command: string): Promise<string[]> => {
      const rec = api.addJob({ command });
      const seenBefore = api.log.length;
      const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id));
      expect(run.result, run.stderr).toMatchObject({ ok: true, status: "succeeded" });
      return api.log.slice(seenBefore).filter((l) => /^GET \S*\/snapshots\//.test(l));
    };
    expect(await manifestGets("echo one >> a.txt")).toEqual([]);
    // The next job starts from the head the first one committed: cached too.
    expect(await manifestGets("echo two >> a.txt")).toEqual([]);
    expect(await readFile(join(ws, "a.txt"), "utf8")).toBe("alpha\none\ntwo\n");
    // A cache that does not hash to the head is never used: fetched, and the job is right.
    await writeFile(manifestCachePath(stateDirOf(ws)), '{"version":1,"entries":[]}');
    const gets = await manifestGets("cat a.txt");
    expect(gets).toHaveLength(1);
    expect(gets[0]).toContain(`/snapshots/${api.store.head}`);
  });
});
