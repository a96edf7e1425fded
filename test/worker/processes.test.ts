/**
 * Background processes through the Worker (local jails): start, list,
 * get, logs (buffered and followed as SSE until exit, resumed after Last-Event-ID), kill.
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

  it("resumes after Last-Event-ID instead of replaying the whole log", async () => {
    const p = await createProject("proc");
    const start = await apiJson<Proc>(`/sandboxes/${p}/processes`, {
      method: "POST",
      json: { command: "echo one; echo err >&2; sleep 1; echo two; sleep 1; echo three" },
    });
    const logs = `/sandboxes/${p}/processes/${start.body.data.id}/logs`;
    const first = await readSse(await api(logs));
    // Ids are "<stdout chars>:<stderr chars>" sent so far; start is 0:0.
    expect(first.map((e) => [e.event, e.id])).toEqual([
      ["start", "0:0"],
      ...first.slice(1, -1).map((e) => [e.event, expect.stringMatching(/^\d+:\d+$/)]),
      ["exit", "14:4"],
    ]);
    const afterOne = first.find((e) => e.event === "stdout" && e.data.data === "one\n");
    expect(afterOne?.id).toBe("4:0");
    const resumed = await readSse(await api(logs, { headers: { "last-event-id": "4:0" } }));
    // Each stream resumes where it was; a finished process's replay gives stdout before
    // stderr (the runtime keeps the two apart), so only the order within a stream is pinned.
    const text = (name: string) =>
      resumed
        .filter((e) => e.event === name)
        .map((e) => e.data.data)
        .join("");
    expect([text("stdout"), text("stderr")]).toEqual(["two\nthree\n", "err\n"]);
    expect(resumed.at(-1)).toMatchObject({ event: "exit", data: { exitCode: 0 } });
    // An id inside a chunk resumes mid-chunk; past the end, only the exit comes.
    const mid = await readSse(await api(logs, { headers: { "last-event-id": "10:4" } }));
    expect(mid.map((e) => e.data.data ?? e.event)).toEqual(["ree\n", "exit"]);
    const end = await readSse(await api(logs, { headers: { "last-event-id": "14:4" } }));
    expect(end.map((e) => e.event)).toEqual(["exit"]);
    const bad = await apiJson(logs, { headers: { "last-event-id": "7" } });
    expect([bad.status, bad.body.code]).toEqual([400, "INVALID_EVENT_ID"]);
  });

  it("answers 404 PROCESS_NOT_FOUND for an unknown id", async () => {
    const p = await createProject("proc");
    const { status, body } = await apiJson(`/sandboxes/${p}/processes/nope-123`);
    expect(status).toBe(404);
    expect(body).toMatchObject({ success: false, code: "PROCESS_NOT_FOUND" });
  });
});
