/**
 * @module test/node/sandboxd/timeout.test
 * A command past its timeout is SIGKILLed with its whole process tree (children
 * that were backgrounded or started a new session die too) and the answer is
 * 408 TIMEOUT with the output so far. Buffered output is capped per stream.
 * Shutdown (SIGTERM) kills every child.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, eventually, exec, processesMatching } from "./helpers.ts";

let sd: RunningSandboxd;

beforeAll(async () => {
  sd = await startSandboxd({ env: { SANDBOXD_MAX_OUTPUT_BYTES: "1000", SANDBOXD_PROCESS_LOG_BYTES: "100" } });
});
afterAll(async () => {
  await sd?.stop();
});

describe("sandboxd timeouts and process trees", () => {
  it("kills the whole tree on timeout and answers TIMEOUT with partial output", async () => {
    const started = Date.now();
    const r = await exec(sd, "tmo", "sleep 41.7 & setsid sleep 41.8 & echo started; echo oops >&2; sleep 41.9", {
      timeoutMs: 800,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.status).toBe(408);
    expect(r.json).toMatchObject({
      code: "TIMEOUT",
      details: { timeoutMs: 800, stdout: "started\n", stderr: "oops\n" },
    });
    for (const marker of ["sleep 41.7", "sleep 41.8", "sleep 41.9"]) {
      expect(await eventually(() => processesMatching(marker).length === 0), marker).toBe(true);
    }
  });

  it("a streamed command past its timeout ends with an error event and leaves nothing running", async () => {
    const res = await fetch(`${sd.url}/projects/tmo/exec/stream`, {
      method: "POST",
      headers: { authorization: `Bearer ${sd.token}`, "content-type": "application/json" },
      body: JSON.stringify({ command: "sleep 42.1 & echo hi; sleep 42.2", timeoutMs: 500 }),
    });
    const lines = (await res.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; code?: string });
    expect(lines.map((l) => l.type)).toEqual(["start", "stdout", "error"]);
    expect(lines[2]?.code).toBe("TIMEOUT");
    expect(await eventually(() => processesMatching("sleep 42.").length === 0)).toBe(true);
  });

  it("a client that hangs up on a streamed command kills it", async () => {
    const ac = new AbortController();
    const res = await fetch(`${sd.url}/projects/tmo/exec/stream`, {
      method: "POST",
      headers: { authorization: `Bearer ${sd.token}`, "content-type": "application/json" },
      body: JSON.stringify({ command: "echo go; sleep 46.1", timeoutMs: 30_000 }),
      signal: ac.signal,
    });
    const reader = res.body?.getReader();
    await reader?.read();
    expect(await eventually(() => processesMatching("sleep 46.1").length === 1)).toBe(true);
    ac.abort();
    expect(await eventually(() => processesMatching("sleep 46.1").length === 0)).toBe(true);
  });

  it("caps buffered output per stream and says so", async () => {
    const r = await exec(sd, "tmo", "head -c 5000000 /dev/zero | tr '\\0' a; echo done >&2");
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ exitCode: 0, truncated: true, stderr: "done\n" });
    expect(String(r.json?.stdout)).toBe("a".repeat(1000));
  });

  it("keeps only the newest process output within the log bound", async () => {
    const p = await call(sd, "POST", "/projects/tmo/processes", { json: { command: "seq 1 1000" } });
    const id = String(p.json?.id);
    for (let i = 0; i < 100; i++) {
      if ((await call(sd, "GET", `/projects/tmo/processes/${id}`)).json?.status !== "running") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const logs = (await call(sd, "GET", `/projects/tmo/processes/${id}/logs`)).json;
    expect(logs?.truncated).toBe(true);
    expect(String(logs?.stdout).length).toBeLessThanOrEqual(100);
    expect(String(logs?.stdout).endsWith("999\n1000\n")).toBe(true);
  });

  it("kill-all and DELETE of a process kill backgrounded descendants too", async () => {
    const a = await call(sd, "POST", "/projects/tmo/processes", { json: { command: "sleep 43.1 & sleep 43.2" } });
    await call(sd, "POST", "/projects/tmo/processes", { json: { command: "setsid sleep 43.3 & sleep 43.4" } });
    await eventually(() => processesMatching("sleep 43.").length === 4);
    const one = await call(sd, "DELETE", `/projects/tmo/processes/${String(a.json?.id)}`);
    expect(one.json).toMatchObject({ status: "killed" });
    expect(await eventually(() => processesMatching("sleep 43.1").length === 0)).toBe(true);
    expect((await call(sd, "POST", "/projects/tmo/kill-all")).json).toEqual({ killed: 1 });
    expect(await eventually(() => processesMatching("sleep 43.").length === 0)).toBe(true);
  });

  it("SIGTERM stops sandboxd and every child it started", async () => {
    const own = await startSandboxd();
    await call(own, "POST", "/projects/sig/processes", { json: { command: "sleep 44.4 & sleep 44.5" } });
    expect(await eventually(() => processesMatching("sleep 44.").length === 2)).toBe(true);
    expect(await own.stop()).toBe(0);
    expect(own.output()).toContain("SIGTERM: killed 1 process(es)");
    expect(await eventually(() => processesMatching("sleep 44.").length === 0)).toBe(true);
  });
});
