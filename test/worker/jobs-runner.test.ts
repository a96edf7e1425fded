/**
 * The runner job API through the real entry, with the test playing the runner: a
 * token scoped to one job (and attempt) opens that job and its project only; events
 * are numbered in order; SSE replays from Last-Event-ID and closes with `end`; JSON
 * pages with after/limit; the result ends the job.
 */
import { describe, expect, it } from "vitest";
import { CHANGED_FILES_MAX_PATHS, type Job, type JobEvent, LEASE_MS } from "../../src/shared/job-format";
import { api, apiJson, readSse, TOKEN, uniqueProject } from "./support/http";
import { createJobViaApi, jobToken, queue, result, runnerJob } from "./support/jobs";
import { runner, testTokens } from "./support/snapshots";

/** A job created through the API and leased (as /run-job would), with its runner token. */
async function runningJob(extra: Record<string, unknown> = {}): Promise<{ job: Job; token: string }> {
  const created = await createJobViaApi(extra);
  const job = await queue.leaseJob(created.id);
  return { job, token: await jobToken(job) };
}

async function postEvents(job: Job, token: string, events: Array<{ type: string; data: Record<string, unknown> }>) {
  const res = await runnerJob(job.id, "/events", token, { method: "POST", json: { events } });
  return { status: res.status, body: (await res.json()) as { lastSeq?: number; code?: string } };
}

describe("job tokens", () => {
  it("open their own job and project and nothing else (401)", async () => {
    const { job, token } = await runningJob();
    const other = await runningJob();
    expect((await runnerJob(job.id, "", token)).status).toBe(200);
    expect((await runner(job.projectId, "/head", { token })).status).toBe(200);

    const refused: Array<[string, Promise<Response>]> = [
      ["other job GET", runnerJob(other.job.id, "", token)],
      ["other job heartbeat", runnerJob(other.job.id, "/heartbeat", token, { method: "POST" })],
      ["other job events", runnerJob(other.job.id, "/events", token, { method: "POST", json: { events: [] } })],
      ["other job result", runnerJob(other.job.id, "/result", token, { method: "POST", json: result("succeeded") })],
      ["other project head", runner(other.job.projectId, "/head", { token })],
      ["project token on a job", testTokens.mint(job.projectId, 60).then((t) => runnerJob(job.id, "", t))],
      ["API token on a job", runnerJob(job.id, "", TOKEN)],
      ["no token", runnerJob(job.id, "", null)],
      [
        "job id, wrong project",
        testTokens.mint(uniqueProject("x"), 60, job.id, 1).then((t) => runnerJob(job.id, "", t)),
      ],
    ];
    for (const [name, pending] of refused) {
      const res = await pending;
      expect(res.status, name).toBe(401);
      expect(((await res.json()) as { code: string }).code, name).toBe("UNAUTHORIZED");
    }
    // Nothing of the other job changed.
    expect(await queue.get(other.job.id)).toMatchObject({ status: "running" });
    expect(await queue.readEvents(other.job.id, 0, 100)).toHaveLength(2);
  });

  it("a token of an earlier attempt cannot heartbeat, post events or report (409 LEASE_LOST)", async () => {
    const { job, token } = await runningJob();
    // Lease lost: pretend the sweep requeued it, then it was leased again (attempt 2).
    await queue.sweepExpired(Date.now() + LEASE_MS + 1000);
    const again = await queue.leaseJob(job.id);
    expect(again.attempt).toBe(2);
    for (const [path, json] of [
      ["/heartbeat", undefined],
      ["/events", { events: [{ type: "log", data: { line: "stale" } }] }],
      ["/result", result("succeeded")],
    ] as const) {
      const res = await runnerJob(job.id, path, token, { method: "POST", json });
      expect(res.status, path).toBe(409);
      expect(((await res.json()) as { code: string }).code, path).toBe("LEASE_LOST");
    }
    const fresh = await jobToken(again);
    const beat = await runnerJob(job.id, "/heartbeat", fresh, { method: "POST" });
    expect(beat.status).toBe(200);
    expect(await beat.json()).toMatchObject({ cancelRequested: false });
  });
});

describe("runner job routes", () => {
  it("GET returns the job unredacted for the runner; heartbeat reports cancel", async () => {
    const { job, token } = await runningJob({
      agent: "claude",
      prompt: "p",
      repo: { url: "https://u:pw@example.com/r.git" },
    });
    const res = await runnerJob(job.id, "", token);
    expect(((await res.json()) as Job).repo?.url).toBe("https://u:pw@example.com/r.git");
    await apiJson(`/jobs/${job.id}/cancel`, { method: "POST" });
    const beat = await runnerJob(job.id, "/heartbeat", token, { method: "POST" });
    const body = (await beat.json()) as { leaseUntil: number; cancelRequested: boolean };
    expect(body.cancelRequested).toBe(true);
    expect(body.leaseUntil).toBeGreaterThan(Date.now());
  });

  it("events are numbered in order across batches; bad batches are refused", async () => {
    const { job, token } = await runningJob();
    // seq 1 and 2 are the Worker's own status events (queued, running).
    const batches = await Promise.all(
      [0, 1, 2].map((b) =>
        postEvents(
          job,
          token,
          Array.from({ length: 50 }, (_, i) => ({ type: "log", data: { b, i } })),
        ),
      ),
    );
    expect(batches.map((b) => b.status)).toEqual([200, 200, 200]);
    expect(batches.map((b) => b.body.lastSeq).sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual([52, 102, 152]);
    const events = await queue.readEvents(job.id, 0, 1000);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 152 }, (_, i) => i + 1));
    // Each batch's events are contiguous and in their order.
    for (const b of [0, 1, 2]) {
      const mine = events.filter((e) => e.data.b === b);
      expect(mine.map((e) => e.data.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect((mine.at(-1)?.seq ?? 0) - (mine[0]?.seq ?? 0)).toBe(49);
    }
    expect((await postEvents(job, token, [{ type: "Bad Type", data: {} }])).status).toBe(400);
    const tooMany = Array.from({ length: 501 }, () => ({ type: "log", data: {} }));
    expect((await postEvents(job, token, tooMany)).status).toBe(400);
  });

  it("result ends the job; events page as JSON; SSE replays from Last-Event-ID and ends", async () => {
    const { job, token } = await runningJob();
    await postEvents(job, token, [
      { type: "phase", data: { phase: "agent" } },
      { type: "log", data: { line: "hello" } },
      { type: "agent_step", data: { step: 1 } },
    ]);
    const res = await runnerJob(job.id, "/result", token, { method: "POST", json: result("succeeded") });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "succeeded", result: { status: "succeeded" } });
    const again = await runnerJob(job.id, "/result", token, { method: "POST", json: result("failed") });
    expect(again.status).toBe(409);
    expect((await runnerJob(job.id, "/events", token, { method: "POST", json: { events: [] } })).status).toBe(409);

    // JSON paging: 1 queued, 2 running, 3-5 runner events, 6 succeeded.
    const page1 = await apiJson<{ events: JobEvent[]; lastSeq: number; hasMore: boolean; status: string }>(
      `/jobs/${job.id}/events?format=json&after=0&limit=4`,
    );
    expect(page1.body.data.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(page1.body.data).toMatchObject({ lastSeq: 4, hasMore: true, status: "succeeded" });
    const page2 = await apiJson<{ events: JobEvent[]; lastSeq: number; hasMore: boolean }>(
      `/jobs/${job.id}/events?format=json&after=4&limit=4`,
    );
    expect(page2.body.data.events.map((e) => [e.seq, e.type])).toEqual([
      [5, "agent_step"],
      [6, "status"],
    ]);
    expect(page2.body.data).toMatchObject({ lastSeq: 6, hasMore: false });

    const sse = await api(`/jobs/${job.id}/events`, { headers: { "last-event-id": "3" } });
    expect(sse.headers.get("content-type")).toContain("text/event-stream");
    const streamed = await readSse(sse);
    expect(streamed.map((e) => [e.id, e.event])).toEqual([
      ["4", "log"],
      ["5", "agent_step"],
      ["6", "status"],
      [undefined, "end"],
    ]);
    expect(streamed.at(-1)?.data).toMatchObject({ status: "succeeded", error: null });
    // ?after works the same; from the start, every event.
    const all = await readSse(await api(`/jobs/${job.id}/events?after=0`));
    expect(all.map((e) => e.id)).toEqual(["1", "2", "3", "4", "5", "6", undefined]);
    expect((await api(`/jobs/${job.id}/events`, { headers: { "last-event-id": "x" } })).status).toBe(400);
    expect((await api("/jobs/job_missing/events")).status).toBe(404);
  });

  it("changed-file lists are bounded: too many paths is a 400 that leaves the job running; counts and truncated are kept", async () => {
    const { job, token } = await runningJob();
    const tooMany = Array.from({ length: CHANGED_FILES_MAX_PATHS + 1 }, (_, i) => `f${i}`);
    const refused = await runnerJob(job.id, "/result", token, {
      method: "POST",
      json: result("succeeded", { changedFiles: { added: tooMany, modified: [], deleted: [] } }),
    });
    expect(refused.status).toBe(400);
    const longPaths = Array.from({ length: 200 }, (_, i) => `${"d/".repeat(1500)}${i}`);
    const tooLong = await runnerJob(job.id, "/result", token, {
      method: "POST",
      json: result("succeeded", { changedFiles: { added: longPaths, modified: [], deleted: [] } }),
    });
    expect(tooLong.status).toBe(400);
    // The bound is on all three lists together.
    const third = Math.ceil(CHANGED_FILES_MAX_PATHS / 3) + 1;
    const spread = await runnerJob(job.id, "/result", token, {
      method: "POST",
      json: result("succeeded", {
        changedFiles: {
          added: tooMany.slice(0, third),
          modified: tooMany.slice(third, 2 * third),
          deleted: tooMany.slice(2 * third, 3 * third),
        },
      }),
    });
    expect(spread.status).toBe(400);
    expect((await apiJson(`/jobs/${job.id}`)).body).toMatchObject({ data: { status: "running" } });

    const capped = {
      added: ["a.ts"],
      modified: [],
      deleted: [],
      counts: { added: 120_000, modified: 0, deleted: 0 },
      truncated: true,
    };
    const ok = await runnerJob(job.id, "/result", token, {
      method: "POST",
      json: result("succeeded", { changedFiles: capped }),
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ result: { changedFiles: capped } });
  });

  it("SSE follows a running job live and closes with its terminal event", async () => {
    const { job, token } = await runningJob();
    const streaming = api(`/jobs/${job.id}/events`).then(readSse);
    await new Promise((r) => setTimeout(r, 700));
    await postEvents(job, token, [{ type: "log", data: { line: "live" } }]);
    await new Promise((r) => setTimeout(r, 700));
    await runnerJob(job.id, "/result", token, {
      method: "POST",
      json: result("failed", { error: { code: "TIMEOUT", message: "ran past 1 s" } }),
    });
    const events = await streaming;
    expect(events.map((e) => e.event)).toEqual(["status", "status", "log", "status", "end"]);
    expect(events.find((e) => e.event === "log")?.data).toEqual({ line: "live" });
    expect(events.at(-1)?.data).toMatchObject({ status: "failed", error: { code: "TIMEOUT" } });
  });
});
