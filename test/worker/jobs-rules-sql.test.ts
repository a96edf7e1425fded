/**
 * The queue's SQL against the pure rules it restates (src/jobs/decisions.ts), on the real
 * D1 database: the sweep's WHERE clause selects exactly the jobs leaseExpiryAction would
 * act on, a lease's columns are leaseUntilFrom/deadlineFrom, the compare-and-set of the
 * runner's writes is ownsLease, and the transitions the queue performs are exactly the
 * ones canTransition allows. A rule changed on one side only fails here.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import {
  canTransition,
  deadlineFrom,
  isTerminal,
  type LeaseState,
  leaseExpiryAction,
  leaseUntilFrom,
  ownsLease,
} from "../../src/jobs/decisions";
import { leaseState, readJobRow } from "../../src/jobs/records";
import type { Job, JobStatus } from "../../src/shared/job-format";
import { uniqueProject } from "./support/http";
import { queue, resetJobs, result, shellJob } from "./support/jobs";

const T = 1_900_000_000_000;
const STATUSES: JobStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];
/** Far past any lease or deadline in these tests. */
const LATER = T + 86_400_000;

beforeEach(resetJobs);

async function leased(extra: Parameters<typeof shellJob>[1] = {}, now = T): Promise<Job> {
  const { job } = await queue.create(shellJob(uniqueProject("rule"), extra), undefined, now);
  return await queue.leaseJob(job.id, now);
}

async function stateOf(id: string): Promise<LeaseState> {
  const row = await readJobRow(env.DB, id);
  if (!row) throw new Error(`job ${id} vanished`);
  return leaseState(row);
}

describe("the sweep's WHERE is leaseExpiryAction", () => {
  // [lease_until, deadline_at] relative to the sweep's `now` (null: NULL), attempt, maxAttempts.
  const cases: Array<[string, number | null, number | null, number]> = [
    ["lease and deadline ahead", 1, 1_000, 1],
    ["lease ends exactly now", 0, 1_000, 1],
    ["lease ran out", -1, 1_000, 1],
    ["lease ran out on the last attempt", -1, 1_000, 3],
    ["deadline exactly now, lease ahead", 1_000, 0, 1],
    ["deadline passed, lease ahead", 1_000, -1, 2],
    ["no lease recorded, deadline ahead", null, 1_000, 1],
    ["no deadline recorded, lease ahead", 1_000, null, 1],
  ];
  for (const [name, lease, deadline, attempt] of cases) {
    it(name, async () => {
      const job = await leased({ maxAttempts: 3 });
      const now = T + 10_000;
      await env.DB.prepare("UPDATE jobs SET lease_until = ?, deadline_at = ?, attempt = ? WHERE id = ?")
        .bind(lease === null ? null : now + lease, deadline === null ? null : now + deadline, attempt, job.id)
        .run();
      const action = leaseExpiryAction(await stateOf(job.id), now);
      const changed = await queue.sweepExpired(now);
      expect(changed).toBe(action.kind === "none" ? 0 : 1);
      const after = await queue.get(job.id);
      const expected = { none: "running", requeue: "queued", fail: "failed", cancel: "cancelled" }[action.kind];
      expect(after.status).toBe(expected);
      if (action.kind === "fail") expect(after.error?.code).toBe(action.code);
    });
  }
});

describe("a lease's columns are leaseUntilFrom and deadlineFrom", () => {
  it("leaseJob and leaseNext", async () => {
    const one = await leased({ timeoutSeconds: 45 }, T);
    expect(await stateOf(one.id)).toMatchObject({ leaseUntil: leaseUntilFrom(T), deadlineAt: deadlineFrom(T, 45) });
    await queue.create(shellJob(uniqueProject("rule"), { timeoutSeconds: 7 }), undefined, T);
    const next = await queue.leaseNext(T + 5);
    expect(next).not.toBeNull();
    expect(await stateOf(next?.id ?? "")).toMatchObject({
      leaseUntil: leaseUntilFrom(T + 5),
      deadlineAt: deadlineFrom(T + 5, 7),
    });
  });

  it("a heartbeat extends the lease to leaseUntilFrom(now)", async () => {
    const job = await leased();
    expect((await queue.heartbeat(job.id, 1, T + 1_000)).leaseUntil).toBe(leaseUntilFrom(T + 1_000));
  });
});

describe("the runner's compare-and-set is ownsLease", () => {
  // The job's status and attempt, then the attempt the runner claims.
  const cases: Array<[JobStatus, number, number]> = [
    ["running", 1, 1],
    ["running", 2, 1],
    ["queued", 1, 1],
    ["succeeded", 1, 1],
    ["cancelled", 1, 1],
  ];
  for (const [status, attempt, claimed] of cases) {
    it(`${status} attempt ${attempt}, runner of attempt ${claimed}`, async () => {
      const job = await leased();
      await env.DB.prepare("UPDATE jobs SET status = ?, attempt = ? WHERE id = ?").bind(status, attempt, job.id).run();
      const owns = ownsLease({ status, attempt }, claimed);
      const outcome = async (p: Promise<unknown>) =>
        p.then(
          () => "ok",
          (e: { code?: string }) => e.code,
        );
      const want = owns ? "ok" : isTerminal(status) ? "JOB_FINISHED" : "LEASE_LOST";
      expect(await outcome(queue.heartbeat(job.id, claimed, T + 1))).toBe(want);
      expect(await outcome(queue.appendEvents(job.id, claimed, [{ type: "log", data: { line: "x" } }], T + 1))).toBe(
        want,
      );
      expect(await outcome(queue.finish(job.id, claimed, result("succeeded"), T + 2))).toBe(want);
    });
  }
});

describe("the queue performs exactly the transitions canTransition allows", () => {
  it("every operation's from → to, and the refused ones", async () => {
    const performed = new Set<string>();
    /** Runs `op` on job `id` and records the status change it made, if any. */
    async function track(id: string, op: () => Promise<unknown>): Promise<void> {
      const before = (await queue.get(id)).status;
      await op().catch(() => undefined);
      const after = (await queue.get(id)).status;
      if (after !== before) performed.add(`${before}>${after}`);
    }
    const fresh = async () => (await queue.create(shellJob(uniqueProject("tr"), { maxAttempts: 2 }), undefined, T)).job;

    // queued → running (lease), running → queued (sweep, attempts left), running → failed (last attempt).
    const a = await fresh();
    await track(a.id, () => queue.leaseJob(a.id, T));
    await track(a.id, () => queue.sweepExpired(leaseUntilFrom(T)));
    await track(a.id, () => queue.leaseJob(a.id, T + 1));
    await track(a.id, () => queue.sweepExpired(leaseUntilFrom(T + 1)));
    // running → succeeded / failed / cancelled by the runner's report; queued → cancelled.
    for (const status of ["succeeded", "failed", "cancelled"] as const) {
      const j = await fresh();
      await track(j.id, () => queue.leaseJob(j.id, T));
      await track(j.id, () => queue.cancel(j.id, T + 1)); // asks; the status stays running
      await track(j.id, () => queue.finish(j.id, 1, result(status), T + 2));
      // Nothing leaves a terminal status.
      await track(j.id, () => queue.cancel(j.id, T + 3));
      await track(j.id, () => queue.leaseJob(j.id, T + 3));
      await track(j.id, () => queue.finish(j.id, 1, result("succeeded"), T + 3));
      await track(j.id, () => queue.sweepExpired(LATER));
    }
    const q = await fresh();
    await track(q.id, () => queue.cancel(q.id, T));
    // A failed start puts a job back (or fails it on its last attempt).
    const s = await fresh();
    await track(s.id, () => queue.leaseJob(s.id, T));
    await track(s.id, () => queue.releaseAfterStartFailure(s.id, 1, "START_FAILED", "no", T + 1));

    const allowed = STATUSES.flatMap((from) =>
      STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}>${to}`),
    );
    expect([...performed].sort()).toEqual(allowed.sort());
  });
});
