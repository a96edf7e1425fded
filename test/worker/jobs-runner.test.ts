/**
 * The runner job API through the real entry, with the test playing the runner: a
 * token scoped to one job (and attempt) opens that job and its project only, and
 * only while that attempt's lease lives (after the job ends, is cancelled, or its
 * lease expires or moves on, every runner route answers 401); events are numbered in
 * order; SSE replays from Last-Event-ID and closes with `end`; JSON pages with
 * after/limit; the result ends the job.
 */
import { describe, expect, it } from "vitest";
import { TIMEOUT_GRACE_MS } from "../../src/jobs/decisions";
import { CHANGED_FILES_MAX_PATHS, type Job, type JobEvent, LEASE_MS } from "../../src/shared/job-format";
import { api, apiJson, readSse, TOKEN, uniqueProject } from "./support/http";
import { createJobViaApi, jobToken, queue, result, runnerJob } from "./support/jobs";
import { buildManifest, buildPack, runner, testTokens } from "./support/snapshots";

/** A job created through the API and leased (as /run-job would), with its runner token. */
async function runningJob(extra: Record<string, unknown> = {}): Promise<{ job: Job; token: string }> {
  const created = await createJobViaApi(extra);
  const job = await queue.leaseJob(created.id);
  return { job, token: await jobToken(job) };
}

/**
 * Every runner route a job token can reach, each with a fresh body: its project's
 * snapshots (head, list, a pack upload, a commit) and its job (read, heartbeat,
 * events, result). The pack and the commit are new each call, so a 201 means the
 * write really happened.
 */
async function everyRunnerRoute(job: Job, token: string): Promise<Array<[string, number]>> {
  const p = job.projectId;
  const pack = await buildPack({ [`f-${crypto.randomUUID()}.txt`]: crypto.randomUUID() });
  const headNow = ((await (await runner(p, "/head")).json()) as { snapshotId: string | null }).snapshotId;
  const manifest = buildManifest(p, headNow, [pack]);
  const requests: Array<[string, () => Promise<Response>]> = [
    ["GET head", () => runner(p, "/head", { token })],
    ["GET snapshots", () => runner(p, "/snapshots", { token })],
    [
      "PUT pack",
      () =>
        runner(p, `/packs/${pack.id}`, {
          token,
          method: "PUT",
          body: pack.bytes,
          headers: { "content-length": String(pack.bytes.byteLength) },
        }),
    ],
    ["POST snapshots", () => runner(p, "/snapshots", { token, method: "POST", json: { manifest } })],
    ["GET job", () => runnerJob(job.id, "", token)],
    ["POST heartbeat", () => runnerJob(job.id, "/heartbeat", token, { method: "POST" })],
    [
      "POST events",
      () => runnerJob(job.id, "/events", token, { method: "POST", json: { events: [{ type: "log", data: {} }] } }),
    ],
  ];
  const answers: Array<[string, number]> = [];
  for (const [name, send] of requests) answers.push([name, (await send()).status]);
  return answers;
}

/** The statuses everyRunnerRoute sees from a live job token. */
const LIVE = [
  ["GET head", 200],
  ["GET snapshots", 200],
  ["PUT pack", 201],
  ["POST snapshots", 201],
  ["GET job", 200],
  ["POST heartbeat", 200],
  ["POST events", 200],
];

/** How many of everyRunnerRoute's requests go to the project's routes (the first ones). */
const PROJECT_ROUTES = 4;

/** Every route refuses `token` with 401 saying the job token is no longer valid, and why. */
async function expectDead(job: Job, token: string, why: string | RegExp): Promise<void> {
  expect(await everyRunnerRoute(job, token)).toEqual(LIVE.map(([name]) => [name, 401]));
  const res = await runnerJob(job.id, "/result", token, { method: "POST", json: result("succeeded") });
  expect(res.status).toBe(401);
  const body = (await res.json()) as { code: string; error: string };
  expect(body.code).toBe("UNAUTHORIZED");
  expect(body.error).toMatch(`Job token is no longer valid: job ${job.id} `);
  expect(body.error).toMatch(why);
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

  it("a token of an earlier attempt cannot heartbeat, post events or report (401)", async () => {
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
      expect(res.status, path).toBe(401);
      expect(await res.json(), path).toMatchObject({
        code: "UNAUTHORIZED",
        error: `Job token is no longer valid: job ${job.id} runs attempt 2, not attempt 1`,
      });
    }
    const fresh = await jobToken(again);
    const beat = await runnerJob(job.id, "/heartbeat", fresh, { method: "POST" });
    expect(beat.status).toBe(200);
    expect(await beat.json()).toMatchObject({ cancelRequested: false });
  });
});

describe("job tokens die with their lease", () => {
  it("open every runner route while the job runs; after the result, none (401), while project tokens still work", async () => {
    const { job, token } = await runningJob();
    expect(await everyRunnerRoute(job, token)).toEqual(LIVE);
    const done = await runnerJob(job.id, "/result", token, { method: "POST", json: result("succeeded") });
    expect(done.status).toBe(200);
    await expectDead(job, token, "is succeeded");
    // A project token (sync, user-facing snapshot/restore) is not tied to the job.
    const projectToken = await testTokens.mint(job.projectId, 60);
    expect((await everyRunnerRoute(job, projectToken)).slice(0, PROJECT_ROUTES)).toEqual(LIVE.slice(0, PROJECT_ROUTES));
  });

  it("a failed job's token is refused too", async () => {
    const { job, token } = await runningJob();
    await runnerJob(job.id, "/result", token, {
      method: "POST",
      json: result("failed", { error: { code: "AGENT_FAILED", message: "exit 1" } }),
    });
    await expectDead(job, token, "is failed");
  });

  it("cancel: the runner keeps its token until it reports `cancelled` (or the sweep cancels), then 401", async () => {
    const { job, token } = await runningJob();
    expect((await apiJson(`/jobs/${job.id}/cancel`, { method: "POST" })).status).toBe(200);
    // Asked to stop: the runner must still learn of it, snapshot and report.
    const beat = await runnerJob(job.id, "/heartbeat", token, { method: "POST" });
    expect(await beat.json()).toMatchObject({ cancelRequested: true });
    expect(await everyRunnerRoute(job, token)).toEqual(LIVE);
    const reported = await runnerJob(job.id, "/result", token, { method: "POST", json: result("cancelled") });
    expect(reported.status).toBe(200);
    await expectDead(job, token, "is cancelled");

    // A runner that never reports: the sweep cancels the job once the lease runs out.
    const created = await createJobViaApi();
    const stale = await queue.leaseJob(created.id, Date.now() - LEASE_MS - 5000);
    const staleToken = await jobToken(stale);
    await apiJson(`/jobs/${stale.id}/cancel`, { method: "POST" });
    expect(await queue.sweepExpired()).toBeGreaterThanOrEqual(1);
    expect(await queue.get(stale.id)).toMatchObject({ status: "cancelled" });
    await expectDead(stale, staleToken, "is cancelled");
  });

  it("lease expiry: refused as soon as the lease ran out, and after the sweep requeued it; the next attempt's token works", async () => {
    const created = await createJobViaApi();
    // Leased long enough ago that its lease (not its deadline) has run out.
    const job = await queue.leaseJob(created.id, Date.now() - LEASE_MS - 5000);
    const token = await jobToken(job);
    await expectDead(job, token, /lost its lease \(the lease expired at .*\)/);
    // Nothing the dead runner tried changed the job.
    expect(await queue.get(job.id)).toMatchObject({ status: "running", attempt: 1 });

    expect(await queue.sweepExpired()).toBeGreaterThanOrEqual(1);
    expect(await queue.get(job.id)).toMatchObject({ status: "queued", attempt: 1 });
    await expectDead(job, token, "is queued");

    const again = await queue.leaseJob(job.id);
    expect(again.attempt).toBe(2);
    await expectDead(job, token, "runs attempt 2, not attempt 1");
    const fresh = await jobToken(again);
    expect(await everyRunnerRoute(again, fresh)).toEqual(LIVE);
  });

  it("past its deadline (timeout + grace) the token is refused even with a fresh lease", async () => {
    const created = await createJobViaApi({ timeoutSeconds: 1 });
    const job = await queue.leaseJob(created.id, Date.now() - 1000 - TIMEOUT_GRACE_MS - 5000);
    await queue.heartbeat(job.id, job.attempt);
    await expectDead(job, await jobToken(job), "ran past its deadline");
  });

  it("a job token whose job does not exist is refused", async () => {
    const projectId = uniqueProject("gone");
    const token = await testTokens.mint(projectId, 60, "job_missing", 1);
    const res = await runner(projectId, "/head", { token });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: "Job token is no longer valid: job job_missing does not exist" });
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
    // The job ended, and its token with it.
    const again = await runnerJob(job.id, "/result", token, { method: "POST", json: result("failed") });
    expect(again.status).toBe(401);
    expect((await runnerJob(job.id, "/events", token, { method: "POST", json: { events: [] } })).status).toBe(401);

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

describe("runner job API: git credential and pull request (no GitHub configured here)", () => {
  it("answers no credential, and opens a pull request only from the job's own push branch", async () => {
    const url = "https://github.com/acme/app.git";
    const { job, token } = await runningJob({ repo: { url, pullRequest: { title: "T" } } });
    const cred = await runnerJob(job.id, "/git-access", token, { method: "POST", json: {} });
    expect(cred.status).toBe(200);
    expect(await cred.json()).toEqual({ egressPath: null, credential: null });
    const git = await runnerJob(job.id, "/git/acme/app.git/info/refs?service=git-upload-pack", token);
    expect(git.status).toBe(404);

    const pr = (head: string) =>
      runnerJob(job.id, "/pull-request", token, {
        method: "POST",
        json: { head, base: null, title: "T", body: "", draft: false },
      });
    const other = await pr("main");
    expect(other.status).toBe(400);
    expect(((await other.json()) as { code: string }).code).toBe("VALIDATION_ERROR");
    const own = await pr(`agent/${job.id}`);
    expect(own.status).toBe(502);
    const body = (await own.json()) as { code: string; error: string };
    expect(body.code).toBe("PULL_REQUEST_FAILED");
    expect(body.error).toContain("GITHUB_TOKEN");

    // A job that asked for no pull request opens none; another job's token opens nothing here.
    const plain = await runningJob({ repo: { url, pushBranch: "feat/x" } });
    const refused = await runnerJob(plain.job.id, "/pull-request", plain.token, {
      method: "POST",
      json: { head: "feat/x", base: null, title: "T", body: "", draft: false },
    });
    expect(refused.status).toBe(400);
    expect((await runnerJob(job.id, "/git-access", plain.token, { method: "POST", json: {} })).status).toBe(401);
  });
});
