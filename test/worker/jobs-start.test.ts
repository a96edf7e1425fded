/**
 * Starting jobs (src/jobs/start.ts) and the cron round (src/jobs/cron.ts, scheduled()
 * in src/index.ts). The runner starts for real in a real sandbox (the cloudflare
 * backend on a local jail); its runner API URL points nowhere, because in the workers project no
 * sandbox can reach the Worker (the lead's end-to-end test runs a real runner). A
 * failed start uses a stand-in backend whose startProcess throws; stopping a dead
 * attempt's runner first uses one that records the process calls.
 */
import { createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createCloudflareBackend } from "../../src/backend/cloudflare";
import type { ProcessInfo, SandboxBackend } from "../../src/backend/types";
import { loadConfig } from "../../src/config";
import type { AppDeps } from "../../src/deps";
import { BackendError, NotFoundError } from "../../src/errors";
import worker from "../../src/index";
import { fillSlots, runScheduledJobs } from "../../src/jobs/cron";
import { createJobQueue } from "../../src/jobs/queue";
import { startJob } from "../../src/jobs/start";
import { runnerCommandLine } from "../../src/runner-driver/run";
import type { Job } from "../../src/shared/job-format";
import { uniqueProject } from "./support/http";
import { queue, resetJobs, result, shellJob } from "./support/jobs";
import { snapshotsAt } from "./support/snapshots";

const real = createCloudflareBackend(env.Sandbox, { workspaceRoot: "/workspace" });
/**
 * The real backend, except that its workspaces count as restored already: with
 * no reachable runner API the ensure step could not restore them, and these tests are
 * about starting runners (the ensure step has its own, test/node/no-lost-work.test.ts).
 */
const backend: SandboxBackend = Object.assign(Object.create(real) as SandboxBackend, {
  ensure: async (projectId: string) => ({ ...(await real.ensure(projectId)), initialized: true, started: false }),
});

function depsWith(over: Partial<AppDeps> = {}, vars: Record<string, string> = {}): AppDeps {
  return {
    backend,
    config: loadConfig({ ...(env as unknown as Record<string, unknown>), ...vars }),
    version: "test",
    // A URL no runner can reach: the process starts, then fails to fetch its job.
    snapshots: snapshotsAt("http://127.0.0.1:9"),
    jobs: queue,
    ...over,
  };
}

/** Stand-in: the real backend, except that starting a process always fails. */
function standInFailingStarts(): SandboxBackend {
  return Object.assign(Object.create(backend) as SandboxBackend, {
    startProcess: async () => {
      throw new BackendError("stand-in: the sandbox refused to start the process");
    },
  });
}

/**
 * Stand-in: the real backend, except that the process calls are recorded and
 * answered from `processes` (a dead attempt's runner still listed as running, …).
 */
function standInProcesses(processes: ProcessInfo[], gone: string[] = []): { backend: SandboxBackend; calls: string[] } {
  const calls: string[] = [];
  const stand = Object.assign(Object.create(backend) as SandboxBackend, {
    listProcesses: async () => {
      calls.push("list");
      return processes;
    },
    killProcess: async (_projectId: string, id: string) => {
      calls.push(`kill ${id}`);
      if (gone.includes(id)) throw new NotFoundError(`Process ${id} not found`, "PROCESS_NOT_FOUND");
      return { ...(processes.find((p) => p.id === id) as ProcessInfo), status: "killed" };
    },
    startProcess: async (_projectId: string, req: { command: string }) => {
      calls.push(`start ${req.command}`);
      return { id: "new", command: req.command, status: "running", exitCode: null, startedAt: "", endedAt: null };
    },
  });
  return { backend: stand, calls };
}

const started: Array<{ projectId: string; processId: string }> = [];

async function runnerProcesses(projectId: string) {
  const list = await backend.listProcesses(projectId);
  for (const p of list) started.push({ projectId, processId: p.id });
  return list.filter((p) => p.command.includes("run-job"));
}

beforeEach(resetJobs);
afterEach(async () => {
  for (const { projectId, processId } of started.splice(0)) {
    await backend.killProcess(projectId, processId).catch(() => {});
  }
});

describe("startJob", () => {
  it("starts `runner run-job --json` in the project's sandbox as a background process", async () => {
    const projectId = uniqueProject("start");
    const { job } = await queue.create(shellJob(projectId));
    const leased = (await queue.leaseNext()) as Job;
    expect(leased.id).toBe(job.id);
    await startJob(depsWith(), leased);
    const processes = await runnerProcesses(projectId);
    expect(processes).toHaveLength(1);
    expect(processes[0]?.command).toMatch(
      /^exec "\$\{SANDBOX_NODE:-\/opt\/sandbox-node\/node\}" "\$\{SANDBOX_RUNNER:-\/opt\/sandbox-worker\/runner\.mjs\}" 'run-job' '--json'$/,
    );
    // The token is in the environment, never on the command line.
    expect(processes[0]?.command).not.toContain("rt1.");
    expect(await queue.get(job.id)).toMatchObject({ status: "running", attempt: 1 });
  });

  it("first kills a run-job still running in the sandbox (a dead attempt's), and nothing else", async () => {
    const runJob = runnerCommandLine(["run-job"]);
    const info = (id: string, command: string, status: ProcessInfo["status"]): ProcessInfo => ({
      id,
      command,
      status,
      exitCode: null,
      startedAt: "",
      endedAt: null,
    });
    const { backend: stand, calls } = standInProcesses(
      [
        info("stale", runJob, "running"),
        info("exited-meanwhile", runJob, "running"),
        info("old", runJob, "completed"),
        info("sync", runnerCommandLine(["sync", "--watch"]), "running"),
        info("user", "npm run dev", "running"),
      ],
      ["exited-meanwhile"],
    );
    const { job } = await queue.create(shellJob(uniqueProject("stale")));
    const leased = (await queue.leaseNext()) as Job;
    await startJob(depsWith({ backend: stand }), leased);
    expect(calls).toEqual(["list", "kill stale", "kill exited-meanwhile", `start ${runJob}`]);
    expect(await queue.get(job.id)).toMatchObject({ status: "running", attempt: 1 });
  });

  it("a failed start requeues the job with the reason, and fails it after maxAttempts", async () => {
    const { job } = await queue.create(shellJob(uniqueProject("sf"), { maxAttempts: 2 }));
    const deps = depsWith({ backend: standInFailingStarts() });
    for (const attempt of [1, 2]) {
      const leased = (await queue.leaseNext()) as Job;
      expect(leased).toMatchObject({ id: job.id, attempt });
      await expect(startJob(deps, leased)).rejects.toMatchObject({
        code: "RUNNER_START_FAILED",
        status: 502,
        details: { jobId: job.id, status: attempt === 1 ? "queued" : "failed", attempt },
      });
    }
    const failed = await queue.get(job.id);
    expect(failed).toMatchObject({ status: "failed", error: { code: "START_FAILED" } });
    expect(failed.error?.message).toMatch(/stand-in: the sandbox refused.*attempt 2 of 2; no attempts left/);
    const reasons = (await queue.readEvents(job.id, 0, 100)).filter((e) => e.data.status === "queued" && e.data.reason);
    expect(reasons).toHaveLength(1);
  });
});

describe("the cron round", () => {
  it("fills up to the limit, then only as running jobs finish", async () => {
    const projects = Array.from({ length: 6 }, () => uniqueProject("cron"));
    for (const p of projects) await queue.create(shellJob(p));
    const startedIds: string[] = [];
    const start = async (job: Job) => {
      startedIds.push(job.id);
    };
    const first = await fillSlots(queue, start, 4);
    expect(first).toMatchObject({ running: 4, stopped: null });
    expect(first.started).toHaveLength(4);
    expect((await fillSlots(queue, start, 4)).started).toHaveLength(0);
    for (const job of first.started.slice(0, 2)) await queue.finish(job.id, job.attempt, result("succeeded"));
    const second = await fillSlots(queue, start, 4);
    expect(second.started).toHaveLength(2);
    expect(second.running).toBe(4);
    expect(new Set(startedIds).size).toBe(6);
    // Nothing left: the round ends early without error.
    for (const job of [...first.started.slice(2), ...second.started]) {
      await queue.finish(job.id, job.attempt, result("succeeded"));
    }
    expect(await fillSlots(queue, start, 4)).toEqual({ started: [], running: 0, stopped: null });
  });

  it("sweeps expired leases once per round, not once per job it leases", async () => {
    for (let i = 0; i < 3; i++) await queue.create(shellJob(uniqueProject("sweep")));
    const sweeps: string[] = [];
    const db = new Proxy(env.DB, {
      get(target, key) {
        if (key !== "prepare") return Reflect.get(target, key);
        return (sql: string) => {
          if (/^SELECT \* FROM jobs WHERE status = 'running' AND \(lease_until/.test(sql)) sweeps.push(sql);
          return target.prepare(sql);
        };
      },
    });
    const counted = createJobQueue(db);
    const round = await fillSlots(counted, async () => {}, 4);
    expect(round.started.length).toBeGreaterThanOrEqual(3);
    expect(sweeps).toHaveLength(1);
    for (const job of round.started) await queue.finish(job.id, job.attempt, result("succeeded"));
  });

  it("stops at the first failed start (the job is put back)", async () => {
    for (let i = 0; i < 3; i++) await queue.create(shellJob(uniqueProject("stop")));
    const round = await fillSlots(queue, async () => Promise.reject(new Error("no sandbox")), 4);
    expect(round).toMatchObject({ started: [], stopped: "no sandbox" });
  });

  it("runScheduledJobs starts real runners up to MAX_CONCURRENT_JOBS", async () => {
    const projects = Array.from({ length: 3 }, () => uniqueProject("sched"));
    for (const p of projects) await queue.create(shellJob(p));
    const round = await runScheduledJobs(depsWith({}, { MAX_CONCURRENT_JOBS: "2" }));
    expect(round).toMatchObject({ running: 2, stopped: null });
    const startedProjects = round.started.map((j) => j.projectId);
    expect(startedProjects).toEqual(projects.slice(0, 2));
    for (const p of startedProjects) expect(await runnerProcesses(p)).toHaveLength(1);
    expect((await queue.list({ status: "queued", limit: 10 })).jobs.map((j) => j.projectId)).toEqual([projects[2]]);
  }, 60_000);

  it("the Worker's scheduled() leases nothing when sandboxes cannot reach the runner API", async () => {
    const { job } = await queue.create(shellJob(uniqueProject("cronx")));
    await worker.scheduled(createScheduledController(), env);
    expect(await queue.get(job.id)).toMatchObject({ status: "queued", attempt: 0 });
  });
});
