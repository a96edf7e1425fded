/**
 * Background processes through the Worker on the local backend: start, list,
 * get, logs (buffered and followed as SSE until exit), kill.
 */
import { describe, expect, it } from "vitest";
import { api, apiJson, createProject, readSse } from "./support/http";

interface Proc {
  id: string;
  command: string;
  status: string;
  exitCode: number | null;
}

describe("processes", () => {
  it("starts, lists, gets and kills a process", async () => {
    const p = await createProject("proc");
    const start = await apiJson<Proc>(`/sandboxes/${p}/processes`, {
      method: "POST",
      json: { command: "sleep 30" },
    });
    expect(start.status).toBe(201);
    expect(start.body.data).toMatchObject({ command: "sleep 30", status: "running", exitCode: null });
    const id = start.body.data.id;

    const list = await apiJson<{ processes: Proc[] }>(`/sandboxes/${p}/processes`);
    expect(list.body.data.processes.map((x) => x.id)).toContain(id);
    expect((await apiJson<Proc>(`/sandboxes/${p}/processes/${id}`)).body.data.status).toBe("running");

    const killed = await apiJson<Proc>(`/sandboxes/${p}/processes/${id}`, { method: "DELETE" });
    expect(killed.body.data).toMatchObject({ id, status: "killed" });
  });

  it("follows logs as SSE until the process exits", async () => {
    const p = await createProject("proc");
    const start = await apiJson<Proc>(`/sandboxes/${p}/processes`, {
      method: "POST",
      json: { command: "echo first; sleep 0.5; echo second >&2; sleep 0.5; echo third; exit 4" },
    });
    const res = await api(`/sandboxes/${p}/processes/${start.body.data.id}/logs`);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = await readSse(res);
    const out = events
      .filter((e) => e.event === "stdout")
      .map((e) => e.data.data)
      .join("");
    expect(out).toBe("first\nthird\n");
    expect(
      events
        .filter((e) => e.event === "stderr")
        .map((e) => e.data.data)
        .join(""),
    ).toBe("second\n");
    expect(events.at(-1)).toMatchObject({ event: "exit", data: { exitCode: 4 } });

    const done = await apiJson<Proc>(`/sandboxes/${p}/processes/${start.body.data.id}`);
    expect(done.body.data).toMatchObject({ status: "failed", exitCode: 4 });
    const logs = await apiJson(`/sandboxes/${p}/processes/${start.body.data.id}/logs?format=json`);
    expect(logs.body.data).toMatchObject({ stdout: "first\nthird\n", stderr: "second\n" });
  });

  it("answers 404 PROCESS_NOT_FOUND for an unknown id", async () => {
    const p = await createProject("proc");
    const { status, body } = await apiJson(`/sandboxes/${p}/processes/nope-123`);
    expect(status).toBe(404);
    expect(body).toMatchObject({ success: false, code: "PROCESS_NOT_FOUND" });
  });
});
