/**
 * Leasing against the real D1 database: oldest first, one running job per project,
 * 200 concurrent leaseNext calls over 50 jobs, runners that die (lease expiry →
 * requeue with attempt + 1 → LEASE_EXPIRED after maxAttempts), deadlines, heartbeats
 * and cancel. Time is passed in as `now`, never slept through.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { TIMEOUT_GRACE_MS } from "../../src/jobs/decisions";
import { type Job, LEASE_MS } from "../../src/shared/job-format";
import { uniqueProject } from "./support/http";
import { queue, resetJobs, result, shellJob } from "./support/jobs";

const T = 1_800_000_000_000;

async function create(projectId: string, extra: Parameters<typeof shellJob>[1] = {}, now = T): Promise<Job> {
  return (await queue.create(shellJob(projectId, extra), undefined, now)).job;
}

async function statusEvents(jobId: string): Promise<Array<Record<string, unknown>>> {
  return (await queue.readEvents(jobId, 0, 1000)).filter((e) => e.type === "status").map((e) => e.data);
}

beforeEach(resetJobs);

describe("leaseNext", () => {
  it("answers null on an empty queue", async () => {
    expect(await queue.leaseNext(T)).toBeNull();
  });

  it("leases oldest first, skipping projects that already run a job", async () => {
    const [a, b] = [uniqueProject("la"), uniqueProject("lb")];
    const a1 = await create(a, {}, T);
    const a2 = await create(a, {}, T + 1);
    const b1 = await create(b, {}, T + 2);
    const first = await queue.leaseNext(T + 10);
    expect(first).toMatchObject({ id: a1.id, status: "running", attempt: 1, leaseUntil: T + 10 + LEASE_MS });
    // a2 is older than b1 but its project is busy.
    expect((await queue.leaseNext(T + 10))?.id).toBe(b1.id);
    expect(await queue.leaseNext(T + 10)).toBeNull();
    await queue.finish(a1.id, 1, result("succeeded"), T + 20);
    expect((await queue.leaseNext(T + 20))?.id).toBe(a2.id);
    // The database itself refuses a second running job of a project.
    await expect(env.DB.prepare("UPDATE jobs SET status = 'running' WHERE id = ?").bind(a1.id).run()).rejects.toThrow(
      /UNIQUE/,
    );
  });

  it("200 concurrent calls over 50 jobs (10 projects × 5): rounds lease each project's oldest, exactly once", async () => {
    const projects = Array.from({ length: 10 }, () => uniqueProject("conc"));
    const order = new Map<string, string[]>();
    for (let i = 0; i < 5; i++) {
      for (const p of projects) {
        const job = await create(p, {}, T + i);
        order.set(p, [...(order.get(p) ?? []), job.id]);
      }
    }
    const leasedOnce = new Set<string>();
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(Array.from({ length: 200 }, () => queue.leaseNext(T + 100 + round)));
      const leased = results.filter((j): j is Job => j !== null);
      // One per project per round: all ten projects, each with its oldest remaining job.
      expect(leased).toHaveLength(10);
      expect(new Set(leased.map((j) => j.projectId)).size).toBe(10);
      for (const job of leased) {
        expect(leasedOnce.has(job.id)).toBe(false);
        leasedOnce.add(job.id);
        expect(job.id).toBe(order.get(job.projectId)?.[round]);
      }
      expect(await queue.countRunning()).toBe(10);
      await Promise.all(leased.map((j) => queue.finish(j.id, j.attempt, result("succeeded"), T + 100 + round)));
    }
    expect(leasedOnce.size).toBe(50);
    expect(await queue.leaseNext(T + 200)).toBeNull();
  }, 60_000);

  it("200 concurrent workers that finish as they go never hold two jobs of one project", async () => {
    const projects = Array.from({ length: 10 }, () => uniqueProject("work"));
    for (let i = 0; i < 5; i++) for (const p of projects) await create(p, {}, T + i);
    const active = new Set<string>();
    const leasedCount = new Map<string, number>();
    let overlaps = 0;
    const worker = async () => {
      for (;;) {
        const job = await queue.leaseNext(T + 100);
        if (!job) {
          const left = await env.DB.prepare("SELECT COUNT(*) AS n FROM jobs WHERE status != 'succeeded'").first<{
            n: number;
          }>();
          if (!left?.n) return;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        if (active.has(job.projectId)) overlaps += 1;
        active.add(job.projectId);
        leasedCount.set(job.id, (leasedCount.get(job.id) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 1));
        // Forget the project before the finish commits: until then the database still blocks it.
        active.delete(job.projectId);
        await queue.finish(job.id, job.attempt, result("succeeded"), T + 100);
      }
    };
    await Promise.all(Array.from({ length: 200 }, worker));
    expect(overlaps).toBe(0);
    expect(leasedCount.size).toBe(50);
    expect([...leasedCount.values()].every((n) => n === 1)).toBe(true);
  }, 60_000);
});

describe("leases that expire", () => {
  it("a dead runner's job is requeued with attempt + 1, then fails with LEASE_EXPIRED after maxAttempts", async () => {
    const job = await create(uniqueProject("dead"), { maxAttempts: 2 });
    const first = await queue.leaseNext(T);
    expect(first).toMatchObject({ id: job.id, attempt: 1 });
    // Just before the lease ends nothing happens.
    expect(await queue.sweepExpired(T + LEASE_MS - 1)).toBe(0);
    // After it: swept back to the queue and leased again as attempt 2, in one call.
    const second = await queue.leaseNext(T + LEASE_MS + 1);
    expect(second).toMatchObject({ id: job.id, attempt: 2, status: "running" });
    const t2 = T + LEASE_MS + 1;
    expect(await queue.leaseNext(t2 + LEASE_MS + 1)).toBeNull();
    const failed = await queue.get(job.id);
    expect(failed).toMatchObject({ status: "failed", attempt: 2, leaseUntil: null, error: { code: "LEASE_EXPIRED" } });
    expect(failed.error?.message).toMatch(/lease expired.*no heartbeat.*attempt 2 of 2; no attempts left/);
    expect(failed.finishedAt).not.toBeNull();
    const statuses = (await statusEvents(job.id)).map((e) => `${e.status}${e.code ? `:${e.code}` : ""}`);
    expect(statuses).toEqual(["queued", "running", "queued", "running", "failed:LEASE_EXPIRED"]);
    // The runner of a lost attempt can neither heartbeat nor report.
    await expect(queue.heartbeat(job.id, 1, t2)).rejects.toMatchObject({ code: "JOB_FINISHED" });
  });

  it("a heartbeat extends the lease for the current attempt only and reports cancel", async () => {
    const job = await create(uniqueProject("hb"));
    await queue.leaseNext(T);
    const beat = await queue.heartbeat(job.id, 1, T + 50_000);
    expect(beat).toEqual({ leaseUntil: T + 50_000 + LEASE_MS, cancelRequested: false });
    // Past the original lease but inside the extended one: still running.
    expect(await queue.sweepExpired(T + LEASE_MS + 1)).toBe(0);
    await expect(queue.heartbeat(job.id, 2, T + 50_000)).rejects.toMatchObject({ code: "LEASE_LOST", status: 409 });
    await queue.cancel(job.id, T + 60_000);
    expect(await queue.heartbeat(job.id, 1, T + 60_000)).toMatchObject({ cancelRequested: true });
    // A cancelled job whose runner then dies ends cancelled, not requeued.
    await queue.sweepExpired(T + 60_000 + LEASE_MS + 1);
    expect(await queue.get(job.id)).toMatchObject({ status: "cancelled", error: { code: "CANCELLED" } });
  });

  it("a job running past timeout + grace fails with TIMEOUT even while heartbeating", async () => {
    const job = await create(uniqueProject("to"), { timeoutSeconds: 30 });
    await queue.leaseNext(T);
    const end = T + 30_000 + TIMEOUT_GRACE_MS;
    for (let t = T + 10_000; t < end; t += 10_000) await queue.heartbeat(job.id, 1, t);
    expect(await queue.sweepExpired(end - 1)).toBe(0);
    expect(await queue.sweepExpired(end)).toBe(1);
    expect(await queue.get(job.id)).toMatchObject({ status: "failed", error: { code: "TIMEOUT" } });
  });
});

describe("leaseJob and finish", () => {
  it("leases a given job; 409 when it is not queued or its project is busy; 404 when missing", async () => {
    const p = uniqueProject("lj");
    const one = await create(p);
    const two = await create(p, {}, T + 1);
    expect(await queue.leaseJob(one.id, T)).toMatchObject({ status: "running", attempt: 1 });
    await expect(queue.leaseJob(one.id, T)).rejects.toMatchObject({ code: "JOB_NOT_QUEUED", status: 409 });
    await expect(queue.leaseJob(two.id, T)).rejects.toMatchObject({ code: "PROJECT_BUSY", status: 409 });
    await expect(queue.leaseJob("job_missing", T)).rejects.toMatchObject({ code: "JOB_NOT_FOUND", status: 404 });
  });

  it("finish stores the result once; a second report or a stale attempt is a 409", async () => {
    const job = await create(uniqueProject("fin"));
    await queue.leaseNext(T);
    await expect(queue.finish(job.id, 2, result("succeeded"), T)).rejects.toMatchObject({ code: "LEASE_LOST" });
    const done = await queue.finish(job.id, 1, result("failed", { summary: "exit 2", exitCode: 2 }), T + 5);
    expect(done).toMatchObject({
      status: "failed",
      leaseUntil: null,
      error: { code: "AGENT_FAILED", message: "exit 2" },
      result: { status: "failed", exitCode: 2 },
    });
    await expect(queue.finish(job.id, 1, result("succeeded"), T)).rejects.toMatchObject({ code: "JOB_FINISHED" });
  });
});
