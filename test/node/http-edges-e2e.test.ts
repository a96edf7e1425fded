/**
 * What only a real connection shows, through `wrangler dev` (cloudflare backend on local jails): a
 * streamed exec whose client hangs up is killed within seconds even when it prints
 * nothing (the Worker notices the closed connection by its SSE heartbeat); no token
 * of the stack is on any process's command line.
 *
 * (The early 413 for an announced oversized body is pinned in test/worker/app.test.ts:
 * under `wrangler dev` no request reaches the Worker before its whole body has.)
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../support/stack.ts";

let stack: Stack;
const p = "http-edges";

/** Host processes whose command line contains `marker` (sandboxed ones included). */
function hostProcesses(marker: string): string[] {
  const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return out.split("\n").filter((line) => line.includes(marker) && !line.includes("ps -eo"));
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return check();
}

describe("HTTP edges through wrangler dev", () => {
  beforeAll(async () => {
    stack = await startStack();
    expect((await stack.call("POST", `/sandboxes/${p}`)).status).toBe(200);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("puts no secret on a command line (every local user can read those)", () => {
    const lines = hostProcesses("").join("\n");
    expect(lines).toContain("wrangler");
    expect(lines).not.toContain(stack.apiToken);
    expect(lines).not.toContain(stack.sandboxd.token);
  });

  it("kills a silent streamed exec within seconds of the client going away", async () => {
    // A duration no other test uses, so the host's process list finds only this one.
    const marker = `sleep 37.${process.pid % 1000}`;
    const abort = new AbortController();
    const res = await fetch(`${stack.url}/sandboxes/${p}/exec`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ command: `${marker} && touch /workspace/survived`, stream: true }),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    const first = new TextDecoder().decode((await reader?.read())?.value);
    expect(first).toContain("event: start");
    expect(await waitFor(() => hostProcesses(marker).length > 0, 5_000)).toBe(true);

    abort.abort();
    const gone = await waitFor(() => hostProcesses(marker).length === 0, 6_000);
    expect(gone, hostProcesses(marker).join("\n")).toBe(true);
    const check = await stack.call("POST", `/sandboxes/${p}/exec`, { command: "ls /workspace" });
    expect(check.body.data?.stdout).not.toContain("survived");
  }, 30_000);
});
