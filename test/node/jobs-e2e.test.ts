/**
 * Agent jobs end to end (local jails): a `shell` job queued through the API,
 * leased by /run-next (and, separately, by the cron trigger), run by the bundled
 * runner in a real bubblewrap sandbox, reported back; its snapshot holds the
 * command's output, and its events replay from the start. Also the sandbox lifecycle the
 * cron and the Durable Object's alarm drive: the idle TTL and the snapshot before a sleep.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Envelope, type Stack, startStack } from "../support/stack.ts";

let stack: Stack;

function parseSse(text: string): Array<{ event: string; id?: string; data: Record<string, unknown> }> {
  return text
    .split(/\n\n/)
    .filter((block) => block.trim())
    .map((block) => {
      const lines = block.split("\n");
      const field = (name: string) =>
        lines
          .find((l) => l.startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trim();
      return { event: field("event") ?? "message", id: field("id"), data: JSON.parse(field("data") ?? "{}") };
    });
}

describe("jobs end to end", () => {
  beforeAll(async () => {
    stack = await startStack({ MAX_CONCURRENT_JOBS: "2" }, ["--test-scheduled"]);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("queues a shell job, runs it via /run-next, and snapshots its output", async () => {
    const p = "jobs-e2e";
    const created = await stack.call("POST", "/jobs", {
      projectId: p,
      agent: "shell",
      prompt: "write a greeting",
      command: "echo hello from the job | tee out.txt",
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = String(created.body.data?.id);
    expect(created.body.data).toMatchObject({ status: "queued", projectId: p, attempt: 0 });

    const leased = await stack.call("POST", "/run-next");
    expect(leased.status, JSON.stringify(leased.body)).toBe(202);
    expect(leased.body.data).toMatchObject({ id, status: "running", attempt: 1 });

    const job = await stack.waitForJob(id);
    expect(job.status, JSON.stringify(job)).toBe("succeeded");
    const result = job.result as {
      exitCode: number;
      changedFiles: { added: string[] };
      diff: string;
      snapshotId: string;
      timings: Record<string, number>;
    };
    expect(result.exitCode).toBe(0);
    expect(result.changedFiles.added).toContain("out.txt");
    expect(result.diff).toContain("+hello from the job");
    expect(result.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(result.timings)).toEqual(expect.arrayContaining(["agent", "snapshot"]));

    // The job's snapshot is the head, and it holds the output file.
    const snaps = await stack.call("GET", `/sandboxes/${p}/snapshots`);
    expect(snaps.body.data?.head).toBe(result.snapshotId);
    await stack.call("DELETE", `/sandboxes/${p}?destroy=true&snapshot=false`);
    const again = await stack.call("POST", `/sandboxes/${p}`);
    expect(again.body.data?.restoredSnapshot).toBe(result.snapshotId);
    const file = await stack.call("GET", `/sandboxes/${p}/files/workspace/out.txt`);
    expect(file.body.data).toMatchObject({ content: "hello from the job\n" });

    // Events replay from the start, as JSON pages and as SSE ending with the terminal event.
    const page = await stack.call("GET", `/jobs/${id}/events?format=json&after=0`);
    const events = (page.body.data as { events: Array<{ seq: number; type: string; data: Record<string, unknown> }> })
      .events;
    expect(events[0]?.seq).toBe(1);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.some((e) => e.type === "phase")).toBe(true);
    expect(JSON.stringify(events)).toContain("hello from the job");
    const sse = await fetch(`${stack.url}/jobs/${id}/events`, {
      headers: { authorization: `Bearer ${stack.apiToken}`, "last-event-id": "0" },
    });
    const streamed = parseSse(await sse.text());
    expect(streamed.filter((e) => e.event !== "end").map((e) => Number(e.id))).toEqual(events.map((e) => e.seq));
    expect(streamed.at(-1)).toMatchObject({ event: "end", data: { status: "succeeded" } });
  });

  it("runs a queued job from the cron trigger", async () => {
    const created = await stack.call("POST", "/jobs", {
      projectId: "jobs-cron",
      agent: "shell",
      prompt: "cron",
      command: "date > cron.txt",
    });
    const id = String(created.body.data?.id);
    const tick = await fetch(`${stack.url}/__scheduled?cron=*+*+*+*+*`);
    expect(tick.status).toBe(200);
    const job = await stack.waitForJob(id);
    expect(job.status, JSON.stringify(job)).toBe("succeeded");
    expect((job.result as { changedFiles: { added: string[] } }).changedFiles.added).toContain("cron.txt");
  });

  it("snapshots and stops a sandbox past its idle TTL from the cron round; its next use finds every file", async () => {
    const p = "idle-e2e";
    const listing = async () => {
      const page = (await stack.call("GET", "/sandboxes?limit=200")).body.data?.sandboxes;
      return (page as Array<Record<string, unknown>> | undefined)?.find((s) => s.projectId === p);
    };
    expect((await stack.call("POST", `/sandboxes/${p}`, { idleTtl: "1m" })).status).toBe(200);
    const wrote = await stack.call("POST", `/sandboxes/${p}/exec`, { command: "echo kept > kept.txt" });
    expect(wrote.body.data?.exitCode).toBe(0);
    // A round now stops nothing: the sandbox was just used.
    expect((await fetch(`${stack.url}/__scheduled?cron=*+*+*+*+*`)).status).toBe(200);
    expect((await stack.call("GET", `/sandboxes/${p}`)).body.data?.status).toBe("ready");
    // A round two minutes on finds it idle: Miniflare's own trigger route takes the round's
    // scheduled time (wrangler's /__scheduled does not).
    const later = Date.now() + 2 * 60_000;
    expect((await fetch(`${stack.url}/cdn-cgi/local/scheduled?cron=*+*+*+*+*&time=${later}`)).status).toBe(200);
    await expect
      .poll(async () => (await stack.call("GET", `/sandboxes/${p}`)).body.data?.status, { timeout: 20_000 })
      .toBe("stopped");
    const stopped = await listing();
    expect(stopped?.idleStoppedAt).toEqual(expect.any(String));
    const head = stopped?.headSnapshotId;
    expect(head).toEqual(expect.any(String));
    const snapshots = await stack.call("GET", `/sandboxes/${p}/snapshots`);
    expect(JSON.stringify(snapshots.body)).toContain(String(head));
    // The next use starts it again with the work in place, and clears the mark.
    const read = await stack.call("POST", `/sandboxes/${p}/exec`, { command: "cat kept.txt" });
    expect(read.body.data?.stdout).toBe("kept\n");
    expect((await listing())?.idleStoppedAt).toBeNull();
  });

  // The two sleepAfter tests mostly wait (10 s each) and share nothing: side by side.
  it.concurrent("snapshots before a sandbox sleeps (sleepAfter), so what its processes wrote since the last sync is kept", async () => {
    const p = "sleep-e2e";
    const snapshots = async () =>
      (await stack.call("GET", `/sandboxes/${p}/snapshots`)).body.data as {
        head: string | null;
        snapshots: Array<{ snapshotId: string; files: number }>;
      };
    expect((await stack.call("POST", `/sandboxes/${p}`, { sleepAfter: "10s" })).status).toBe(200);
    // No sync watcher to save it: only the snapshot before the sleep can.
    const wrote = await stack.call("POST", `/sandboxes/${p}/exec`, {
      command: "pkill -f 'sync [-]-watch'; sleep 0.2; echo late > late.txt; ls",
    });
    expect(wrote.body.data?.stdout).toBe("late.txt\n");
    const before = await snapshots();
    expect(before.snapshots.find((s) => s.snapshotId === before.head)?.files ?? 0).toBe(0);
    await expect
      .poll(async () => (await stack.call("GET", `/sandboxes/${p}`)).body.data?.status, {
        timeout: 45_000,
        interval: 1000,
      })
      .toBe("stopped");
    const after = await snapshots();
    expect(after.head).not.toBe(before.head);
    expect(after.snapshots.find((s) => s.snapshotId === after.head)?.files).toBe(1);
  });

  it.concurrent("keeps a sandbox awake while its job runs, past its sleepAfter", async () => {
    const p = "sleep-job-e2e";
    expect((await stack.call("POST", `/sandboxes/${p}`, { sleepAfter: "10s" })).status).toBe(200);
    const created = await stack.call("POST", "/jobs", {
      projectId: p,
      agent: "shell",
      prompt: "outlive sleepAfter",
      command: "sleep 16 && echo done > late.txt",
    });
    const id = String(created.body.data?.id);
    expect((await stack.call("POST", "/run-job", { jobId: id })).status).toBe(202);
    const job = await stack.waitForJob(id, 90_000);
    expect(job.status, JSON.stringify(job)).toBe("succeeded");
    expect((job.result as { changedFiles: { added: string[] } }).changedFiles.added).toContain("late.txt");
  }, 120_000);

  it("answers data: null from /run-next when nothing is runnable", async () => {
    const { status, body } = await stack.call("POST", "/run-next");
    expect(status).toBe(200);
    expect((body as Envelope).data).toBeNull();
  });
});
