/**
 * What only a real connection shows, through `wrangler dev` (cloudflare backend on local jails): a
 * streamed exec whose client hangs up is killed within seconds even when it prints
 * nothing (the Worker notices the closed connection by its SSE heartbeat); no token
 * of the stack is on any process's command line; a preview URL, as a browser or curl on the
 * host reaches it under `npm run dev`: `http://<port>-<id>-<token>.localhost:<port>/`
 * (`*.localhost` is the loopback there; here the request goes to 127.0.0.1 with that Host
 * header), served by `python3 -m http.server` in the sandbox, a wrong token and a port not
 * exposed refused (the API's side: test/worker/ports.test.ts).
 *
 * (The early 413 for an announced oversized body is pinned in test/worker/app.test.ts:
 * under `wrangler dev` no request reaches the Worker before its whole body has.)
 */
import { execFileSync } from "node:child_process";
import { request } from "node:http";
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

/** GET `url` from the Worker's address with `url`'s host as the Host header; status and body. */
function get(url: string): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const worker = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: worker.hostname, port: worker.port, path: target.pathname, headers: { host: target.host } },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
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

  it("serves python3 -m http.server at http://8080-<id>-<token>.localhost:<port>/ and refuses the rest", async () => {
    const p = "ports-e2e";
    expect((await stack.call("POST", `/sandboxes/${p}`)).status).toBe(200);
    const write = await stack.call("PUT", `/sandboxes/${p}/files/workspace/index.html`, {
      content: "<h1>preview</h1>",
    });
    expect(write.status).toBe(200);
    const started = await stack.call("POST", `/sandboxes/${p}/processes`, { command: "python3 -m http.server 8080" });
    expect(started.status).toBe(201);
    const exposed = await stack.call("POST", `/sandboxes/${p}/ports`, { port: 8080 });
    expect(exposed.status, JSON.stringify(exposed.body)).toBe(201);
    const url = String(exposed.body.data?.url);
    const workerPort = new URL(stack.url).port;
    expect(url).toMatch(new RegExp(`^http://8080-${p}-[a-z0-9_]{16}\\.localhost:${workerPort}/$`));

    await expect.poll(async () => (await get(url)).status, { timeout: 15_000 }).toBe(200);
    expect((await get(url)).body).toBe("<h1>preview</h1>");

    const token = new URL(url).hostname.split(".")[0]?.split("-").pop() ?? "";
    const wrong = url.replace(`-${token}.`, `-${"0".repeat(token.length)}.`);
    const refusedToken = await get(wrong);
    expect(refusedToken.status).toBe(404);
    expect(refusedToken.body).toContain("INVALID_TOKEN");
    const refusedPort = await get(url.replace("http://8080-", "http://8081-"));
    expect(refusedPort.status).toBe(404);
    expect(refusedPort.body).toContain("INVALID_TOKEN");
  }, 60_000);
});
