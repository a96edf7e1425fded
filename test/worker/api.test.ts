/**
 * The REST API end to end through the Worker entry, its sandboxes local jails (a real
 * sandboxd with bubblewrap started by the global setup): every endpoint once on
 * its happy path, with the envelope and status codes a client relies on.
 */
import { describe, expect, it } from "vitest";
import { api, apiJson, createProject, readSse, uniqueProject } from "./support/http";

describe("health", () => {
  it("answers without auth with status, version and backend", async () => {
    const { status, body } = await apiJson("/health", { auth: false });
    expect(status).toBe(200);
    expect(body).toMatchObject({ success: true, data: { status: "ok", backend: "cloudflare" } });
    expect(body.data).toHaveProperty("version", expect.stringMatching(/^\d+\.\d+\.\d+/));
  });
});

describe("sandbox lifecycle", () => {
  it("creates idempotently and reports status", async () => {
    const projectId = uniqueProject("life");
    const first = await apiJson(`/sandboxes/${projectId}`, { method: "POST" });
    const second = await apiJson(`/sandboxes/${projectId}`, { method: "POST" });
    expect(first.body).toMatchObject({ success: true, data: { projectId, status: "ready", backend: "cloudflare" } });
    expect(second.body.data).toMatchObject({ projectId, status: "ready" });
    const status = await apiJson(`/sandboxes/${projectId}`);
    expect(status.body.data).toMatchObject({ projectId, status: "ready", backend: "cloudflare" });
  });

  it("answers 404 SANDBOX_NOT_FOUND for a sandbox never created", async () => {
    const { status, body } = await apiJson(`/sandboxes/${uniqueProject("never")}`);
    expect(status).toBe(404);
    expect(body).toMatchObject({ success: false, code: "SANDBOX_NOT_FOUND" });
  });

  it("DELETE kills all processes; ?destroy=true removes the workspace", async () => {
    const projectId = await createProject("api");
    const proc = await apiJson<{ id: string }>(`/sandboxes/${projectId}/processes`, {
      method: "POST",
      json: { command: "sleep 30" },
    });
    expect(proc.status).toBe(201);
    const cleaned = await apiJson(`/sandboxes/${projectId}`, { method: "DELETE" });
    expect(cleaned.body).toMatchObject({ success: true, data: { projectId, status: "cleaned", killed: 1 } });
    const after = await apiJson<{ status: string }>(`/sandboxes/${projectId}/processes/${proc.body.data.id}`);
    expect(after.body.data.status).toBe("killed");

    await api(`/sandboxes/${projectId}/files/workspace/keep.txt`, { method: "PUT", json: { content: "x" } });
    const destroyed = await apiJson(`/sandboxes/${projectId}?destroy=true&snapshot=false`, { method: "DELETE" });
    expect(destroyed.body).toMatchObject({ success: true, data: { status: "destroyed", snapshotId: null } });
    expect((await apiJson(`/sandboxes/${projectId}`)).status).toBe(404);
  });

  it("refuses to destroy when the snapshot it owes cannot be taken, and loses nothing", async () => {
    // This test project's sandboxes cannot reach the Worker (no RUNNER_API_URL).
    const projectId = await createProject("keep");
    await api(`/sandboxes/${projectId}/files/workspace/work.txt`, { method: "PUT", json: { content: "precious" } });
    const { status, body } = await apiJson(`/sandboxes/${projectId}?destroy=true`, { method: "DELETE" });
    expect(status).toBe(503);
    expect(body).toMatchObject({ success: false, code: "RUNNER_API_UNREACHABLE" });
    const file = await apiJson(`/sandboxes/${projectId}/files/workspace/work.txt`);
    expect(file.body.data).toMatchObject({ content: "precious" });
  });
});

describe("exec", () => {
  it("runs a command in /workspace and returns output, exit code and duration", async () => {
    const projectId = await createProject("api");
    const { status, body } = await apiJson<Record<string, unknown>>(`/sandboxes/${projectId}/exec`, {
      method: "POST",
      json: { command: "pwd; echo oops >&2; exit 3" },
    });
    expect(status).toBe(200);
    expect(body.data).toMatchObject({ stdout: "/workspace\n", stderr: "oops\n", exitCode: 3 });
    expect(body.data.durationMs).toEqual(expect.any(Number));
  });

  it("honours cwd and env", async () => {
    const projectId = await createProject("api");
    await apiJson(`/sandboxes/${projectId}/exec`, { method: "POST", json: { command: "mkdir -p sub" } });
    const { body } = await apiJson(`/sandboxes/${projectId}/exec`, {
      method: "POST",
      json: { command: 'echo "$GREETING from $(pwd)"', cwd: "/workspace/sub", env: { GREETING: "hi" } },
    });
    expect(body.data).toMatchObject({ stdout: "hi from /workspace/sub\n", exitCode: 0 });
  });

  it("kills a command past its timeout and answers 408 TIMEOUT with the output so far", async () => {
    const projectId = await createProject("api");
    const started = Date.now();
    const { status, body } = await apiJson(`/sandboxes/${projectId}/exec`, {
      method: "POST",
      json: { command: "echo before; sleep 20; echo after", timeoutMs: 500 },
    });
    expect(status).toBe(408);
    expect(body).toMatchObject({ success: false, code: "TIMEOUT" });
    const details = (body as unknown as { details: { stdout: string } }).details;
    expect(details.stdout).toBe("before\n");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("refuses a timeout above the maximum", async () => {
    const projectId = await createProject("api");
    const { status, body } = await apiJson(`/sandboxes/${projectId}/exec`, {
      method: "POST",
      json: { command: "true", timeoutMs: 10_000_000 },
    });
    expect(status).toBe(400);
    expect(body.code).toBe("VALIDATION_ERROR");
  });

  it("streams start, stdout, stderr and exit as SSE, in order", async () => {
    const projectId = await createProject("api");
    const res = await api(`/sandboxes/${projectId}/exec`, {
      method: "POST",
      json: { command: "echo one; echo two >&2; echo three; exit 2", stream: true },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = await readSse(res);
    expect(events[0]?.event).toBe("start");
    expect(events.at(-1)).toMatchObject({ event: "exit", data: { exitCode: 2 } });
    const out = events
      .filter((e) => e.event === "stdout")
      .map((e) => e.data.data)
      .join("");
    const err = events
      .filter((e) => e.event === "stderr")
      .map((e) => e.data.data)
      .join("");
    expect(out).toBe("one\nthree\n");
    expect(err).toBe("two\n");
    expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i));
  });

  it("streams when the client asks with Accept: text/event-stream", async () => {
    const projectId = await createProject("api");
    const res = await api(`/sandboxes/${projectId}/exec`, {
      method: "POST",
      headers: { accept: "text/event-stream" },
      json: { command: "echo hi" },
    });
    const events = await readSse(res);
    expect(events.map((e) => e.event)).toEqual(["start", "stdout", "exit"]);
  });

  it("ends a stream past its timeout with an error event coded TIMEOUT", async () => {
    const projectId = await createProject("api");
    const res = await api(`/sandboxes/${projectId}/exec`, {
      method: "POST",
      json: { command: "echo early; sleep 20", stream: true, timeoutMs: 500 },
    });
    const events = await readSse(res);
    expect(events.at(-1)).toMatchObject({ event: "error", data: { code: "TIMEOUT" } });
    expect(events.some((e) => e.event === "stdout" && e.data.data === "early\n")).toBe(true);
  });
});
