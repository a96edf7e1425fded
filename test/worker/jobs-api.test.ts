/**
 * The user side of jobs through the real entry: create (validation, defaults,
 * idempotency), get, list with filters and cursor pagination, cancel, and /run-next
 * and /run-job refusing with 503 RUNNER_API_UNREACHABLE (the workers project's
 * sandboxes cannot reach the Worker) without leasing anything.
 */
import { describe, expect, it } from "vitest";
import type { Job } from "../../src/shared/job-format";
import { api, apiJson, uniqueProject } from "./support/http";
import { createJobViaApi, queue, result } from "./support/jobs";

describe("POST /jobs", () => {
  it("creates a queued job with defaults, readable by GET /jobs/:id", async () => {
    const projectId = uniqueProject("jc");
    const { status, body } = await apiJson<Job>("/jobs", {
      method: "POST",
      json: { projectId, prompt: "say hi", agent: "shell", command: "echo hi" },
    });
    expect(status).toBe(201);
    expect(body.data).toMatchObject({
      projectId,
      status: "queued",
      agent: "shell",
      command: "echo hi",
      model: null,
      repo: null,
      timeoutSeconds: 900,
      maxAttempts: 3,
      attempt: 0,
      leaseUntil: null,
      cancelRequested: false,
      result: null,
      error: null,
      startedAt: null,
    });
    const got = await apiJson<Job>(`/jobs/${body.data.id}`);
    expect(got.status).toBe(200);
    expect(got.body.data).toEqual(body.data);
  });

  it("the same Idempotency-Key gives the same job (200); with another body, 409", async () => {
    const projectId = uniqueProject("idem");
    const key = `key-${projectId}`;
    const json = { projectId, prompt: "p", agent: "shell", command: "true" };
    const first = await apiJson<Job>("/jobs", { method: "POST", json, headers: { "idempotency-key": key } });
    const again = await apiJson<Job>("/jobs", { method: "POST", json, headers: { "idempotency-key": key } });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.body.data.id).toBe(first.body.data.id);
    const other = await apiJson("/jobs", {
      method: "POST",
      json: { ...json, command: "false" },
      headers: { "idempotency-key": key },
    });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe("IDEMPOTENCY_CONFLICT");
    // Concurrent first uses of one key still make one job.
    const key2 = `${key}-race`;
    const racing = await Promise.all(
      Array.from({ length: 10 }, () =>
        apiJson<Job>("/jobs", { method: "POST", json, headers: { "idempotency-key": key2 } }),
      ),
    );
    expect(racing.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(racing.map((r) => r.body.data.id)).size).toBe(1);
  });

  it.each([
    [{ agent: "shell" }, "VALIDATION_ERROR", "command"],
    [{ agent: "claude", prompt: "" }, "VALIDATION_ERROR", "prompt"],
    [{ agent: "gpt" }, "VALIDATION_ERROR", "agent"],
    [{ agent: "claude", timeoutSeconds: 3601 }, "VALIDATION_ERROR", "timeoutSeconds"],
    [{ agent: "claude", maxAttempts: 11 }, "VALIDATION_ERROR", "maxAttempts"],
    [{ agent: "claude", projectId: "Bad_Id" }, "VALIDATION_ERROR", "projectId"],
    [{ agent: "claude", extra: 1 }, "VALIDATION_ERROR", ""],
    [{ agent: "claude", repo: { url: "file:///etc" } }, "INVALID_REPO_URL", ""],
    [{ agent: "claude", repo: { url: "https://example.com/r.git", branch: "--upload-pack=x" } }, "INVALID_BRANCH", ""],
    [
      { agent: "claude", repo: { url: "https://example.com/r.git", pushBranch: "a..b" } },
      "INVALID_BRANCH",
      "pushBranch",
    ],
    [
      { agent: "claude", repo: { url: "https://example.com/r.git", pullRequest: { base: "-x" } } },
      "INVALID_BRANCH",
      "base",
    ],
    [
      { agent: "claude", repo: { url: "https://example.com/r.git", author: { name: "A", email: "a@b>" } } },
      "VALIDATION_ERROR",
      "email",
    ],
    [
      { agent: "claude", repo: { url: "https://example.com/r.git", pullRequest: { head: "x" } } },
      "VALIDATION_ERROR",
      "",
    ],
  ])("refuses %j with %s", async (over, code, field) => {
    const { status, body } = await apiJson("/jobs", {
      method: "POST",
      json: { projectId: uniqueProject("bad"), prompt: "p", ...over },
    });
    expect(status).toBe(400);
    expect(body.code).toBe(code);
    if (field) expect(body.error).toContain(field);
  });

  it("refuses a bad Idempotency-Key and needs the API token", async () => {
    const json = { projectId: uniqueProject("k"), prompt: "p", agent: "shell", command: "true" };
    const bad = await apiJson("/jobs", { method: "POST", json, headers: { "idempotency-key": "has space" } });
    expect([bad.status, bad.body.code]).toEqual([400, "VALIDATION_ERROR"]);
    for (const path of ["/jobs", "/jobs/x", "/run-next", "/run-job"]) {
      const res = await api(path, { method: path.startsWith("/run") ? "POST" : "GET", auth: false });
      expect(res.status, path).toBe(401);
    }
  });

  it("keeps a job's push settings; the push branch defaults to agent/<job id>, clone-only jobs push nothing", async () => {
    const url = "https://example.com/o/r.git";
    const pr = await createJobViaApi({ agent: "claude", prompt: "p", repo: { url, pullRequest: { title: "T" } } });
    expect(pr.repo).toEqual({
      url,
      branch: null,
      pushBranch: `agent/${pr.id}`,
      commitMessage: null,
      pullRequest: { title: "T", body: null, base: null, draft: false },
      author: null,
    });
    const author = { name: "Bot", email: "bot@example.com" };
    const named = await createJobViaApi({
      agent: "claude",
      prompt: "p",
      repo: { url, branch: "main", pushBranch: "feat/x", commitMessage: "Do it", author },
    });
    expect(named.repo).toEqual({
      url,
      branch: "main",
      pushBranch: "feat/x",
      commitMessage: "Do it",
      pullRequest: null,
      author,
    });
    expect((await apiJson<Job>(`/jobs/${named.id}`)).body.data.repo).toEqual(named.repo);
    const cloneOnly = await createJobViaApi({ agent: "claude", prompt: "p", repo: { url } });
    expect(cloneOnly.repo).toMatchObject({ pushBranch: null, pullRequest: null });
  });

  it("redacts credentials in the repo URL", async () => {
    const job = await createJobViaApi({
      agent: "claude",
      prompt: "p",
      repo: { url: "https://user:s3cret@example.com/r.git" },
    });
    expect(JSON.stringify(job)).not.toContain("s3cret");
    expect(JSON.stringify((await apiJson(`/jobs/${job.id}`)).body)).not.toContain("s3cret");
  });
});

describe("GET /jobs", () => {
  it("filters by project and status and pages with a cursor, newest first", async () => {
    const projectId = uniqueProject("list");
    const made: Job[] = [];
    for (let i = 0; i < 7; i++) made.push(await createJobViaApi({ projectId, prompt: `job ${i}` }));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `/jobs?projectId=${projectId}&limit=3${cursor ? `&cursor=${cursor}` : ""}`;
      const { status, body } = await apiJson<{ jobs: Job[]; nextCursor: string | null }>(query);
      expect(status).toBe(200);
      expect(body.data.jobs.length).toBeLessThanOrEqual(3);
      seen.push(...body.data.jobs.map((j) => j.id));
      cursor = body.data.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(made.map((j) => j.id).reverse());

    await apiJson(`/jobs/${made[0]?.id}/cancel`, { method: "POST" });
    const cancelled = await apiJson<{ jobs: Job[] }>(`/jobs?projectId=${projectId}&status=cancelled`);
    expect(cancelled.body.data.jobs.map((j) => j.id)).toEqual([made[0]?.id]);
    const queued = await apiJson<{ jobs: Job[] }>(`/jobs?projectId=${projectId}&status=queued&limit=100`);
    expect(queued.body.data.jobs).toHaveLength(6);
  });

  it.each(["limit=0", "limit=101", "status=done", "cursor=%25%25%25", "projectId=UPPER"])("refuses ?%s", async (q) => {
    const { status } = await apiJson(`/jobs?${q}`);
    expect(status).toBe(400);
  });

  it("404 for an unknown job", async () => {
    const { status, body } = await apiJson("/jobs/job_nope");
    expect([status, body.code]).toEqual([404, "JOB_NOT_FOUND"]);
  });
});

describe("POST /jobs/:id/cancel", () => {
  it("cancels a queued job at once, asks a running one to stop, refuses a finished one", async () => {
    const queued = await createJobViaApi();
    const a = await apiJson<Job>(`/jobs/${queued.id}/cancel`, { method: "POST" });
    expect(a.status).toBe(200);
    expect(a.body.data).toMatchObject({ status: "cancelled", error: { code: "CANCELLED" } });
    expect(a.body.data.finishedAt).not.toBeNull();

    const job = await createJobViaApi();
    const leased = await queue.leaseJob(job.id);
    const b = await apiJson<Job>(`/jobs/${job.id}/cancel`, { method: "POST" });
    expect(b.body.data).toMatchObject({ status: "running", cancelRequested: true });
    // Asking again changes nothing.
    expect((await apiJson<Job>(`/jobs/${job.id}/cancel`, { method: "POST" })).body.data.status).toBe("running");
    await queue.finish(
      job.id,
      leased.attempt,
      result("cancelled", { error: { code: "CANCELLED", message: "stopped" } }),
    );
    const c = await apiJson(`/jobs/${job.id}/cancel`, { method: "POST" });
    expect([c.status, c.body.code]).toEqual([409, "JOB_FINISHED"]);
    expect((await apiJson(`/jobs/job_missing/cancel`, { method: "POST" })).status).toBe(404);
  });
});

describe("/run-next and /run-job without a reachable runner API", () => {
  it("answer 503 RUNNER_API_UNREACHABLE and lease nothing", async () => {
    const job = await createJobViaApi();
    const next = await apiJson("/run-next", { method: "POST" });
    expect([next.status, next.body.code]).toEqual([503, "RUNNER_API_UNREACHABLE"]);
    const one = await apiJson("/run-job", { method: "POST", json: { job_id: job.id } });
    expect([one.status, one.body.code]).toEqual([503, "RUNNER_API_UNREACHABLE"]);
    expect(await queue.get(job.id)).toMatchObject({ status: "queued", attempt: 0 });
    // `jobId` (the API's spelling) works as `job_id` (seed 002's) does.
    const camel = await apiJson("/run-job", { method: "POST", json: { jobId: job.id } });
    expect([camel.status, camel.body.code]).toEqual([503, "RUNNER_API_UNREACHABLE"]);
    expect((await queue.get(job.id)).status).toBe("queued");
  });

  it("/run-job wants exactly one of jobId and job_id", async () => {
    const none = await apiJson("/run-job", { method: "POST", json: {} });
    expect([none.status, none.body.code, none.body.error]).toEqual([
      400,
      "VALIDATION_ERROR",
      "jobId is required (or job_id)",
    ]);
    const both = await apiJson("/run-job", { method: "POST", json: { jobId: "job_a", job_id: "job_a" } });
    expect([both.status, both.body.error]).toEqual([400, "Give jobId or job_id, not both"]);
    const malformed = await apiJson("/run-job", { method: "POST", json: { jobId: "a b" } });
    expect([malformed.status, malformed.body.error]).toEqual([400, "job id is malformed"]);
  });
});
