/**
 * What only a real connection shows, through `wrangler dev` (cloudflare backend on local jails): a
 * streamed exec whose client hangs up is killed within seconds even when it prints
 * nothing (the Worker notices the closed connection by its SSE heartbeat); no token
 * of the stack is on any process's command line; a preview URL, as a browser or curl on the
 * host reaches it under `npm run dev`: `http://<port>-<id>-<token>.localhost:<port>/`
 * (`*.localhost` is the loopback there; here the request goes to 127.0.0.1 with that Host
 * header), served by `python3 -m http.server` in the sandbox, a wrong token and a port not
 * exposed refused (the API's side: test/worker/ports.test.ts); the terminal, with Node's own
 * WebSocket client: a typed command's output comes back, a resize reaches the PTY, closing the
 * socket ends the shell, and the handshake is refused without the token, with a wrong one,
 * and as a plain GET.
 *
 * (The early 413 for an announced oversized body is pinned in test/worker/app.test.ts:
 * under `wrangler dev` no request reaches the Worker before its whole body has.)
 */
import { execFileSync } from "node:child_process";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../support/stack.ts";
import { base64url, handshake, openTerminal, shellReady } from "../support/terminal-client.ts";

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

  describe("the terminal over WebSocket", () => {
    const tp = "terminal-e2e";
    beforeAll(async () => {
      // The sandbox's env reaches the terminal's shell, as it does every command.
      expect((await stack.call("POST", `/sandboxes/${tp}`, { env: { GREETING: "from-create" } })).status).toBe(200);
    }, 60_000);

    it("refuses a handshake without the token, with a wrong one, and a GET that does not upgrade", async () => {
      const path = `/sandboxes/${tp}/terminal`;
      const none = await handshake(stack.url, path, {});
      expect(none.status).toBe(401);
      expect(JSON.parse(none.body)).toMatchObject({ success: false, code: "UNAUTHORIZED" });
      expect(JSON.parse(none.body).error).toContain("bearer.");

      const wrongHeader = await handshake(stack.url, path, { authorization: "Bearer not-the-token" });
      expect(wrongHeader.status).toBe(401);
      const wrongProtocol = await handshake(stack.url, path, {
        "sec-websocket-protocol": `sandbox-terminal, bearer.${base64url("not-the-token")}`,
      });
      expect(wrongProtocol.status).toBe(401);
      expect(JSON.parse(wrongProtocol.body).error).toContain("subprotocol is not valid");

      const plain = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${stack.apiToken}` } });
      expect(plain.status).toBe(426);
      expect(await plain.json()).toMatchObject({ success: false, code: "UPGRADE_REQUIRED" });

      const tooWide = await handshake(stack.url, `${path}?cols=501`, { authorization: `Bearer ${stack.apiToken}` });
      expect(tooWide.status).toBe(400);
      expect(JSON.parse(tooWide.body).error).toContain("cols must be at most 500");
      const outside = await handshake(stack.url, `${path}?cwd=/etc`, { authorization: `Bearer ${stack.apiToken}` });
      expect(outside.status).toBe(403);
    });

    it("runs what is typed, resizes, and ends the shell when the socket closes", async () => {
      const term = await openTerminal(stack.url, tp, "?cols=100&rows=30", {
        headers: { authorization: `Bearer ${stack.apiToken}` },
      });
      await shellReady(term);
      expect(term.statuses).toContainEqual({ type: "ready" });

      let from = term.output().length;
      term.type("echo $((6*7))\n");
      // The echoed input reads `$((6*7))`: a 42 on a line of its own is the shell's answer
      // (after bash's bracketed-paste switch, `\e[?2004l\r`).
      expect(await term.waitFor(/[\r\n]42\r\n/, from)).toContain("42");

      from = term.output().length;
      term.type("stty size; echo pid=$$ cwd=$PWD\n");
      const first = await term.waitFor(/pid=\d+ cwd=\S+\r\n/, from);
      expect(first).toMatch(/[\r\n]30 100\r\n/);
      expect(first).toContain("cwd=/workspace\r\n");
      const pid = /pid=(\d+)/.exec(first)?.[1];

      // Resize, a text frame that is not control (typed as is), and one that is refused.
      term.ws.send(JSON.stringify({ type: "resize", cols: 120, rows: 40 }));
      term.ws.send(JSON.stringify({ type: "resize", cols: 9999, rows: 40 }));
      from = term.output().length;
      term.ws.send("stty size\n");
      expect(await term.waitFor(/[\r\n]40 120\r\n/, from)).toContain("40 120");
      expect(term.statuses).toContainEqual({
        type: "error",
        message: "resize needs integer cols 1-500 and rows 1-200",
      });

      // Ctrl-C reaches the foreground command (the shell has job control).
      from = term.output().length;
      term.type("sleep 30\n");
      await term.waitFor(/sleep 30\r\n/, from);
      // Ctrl-C goes to the terminal's foreground group: wait until that is sleep's (ps's `+`), as
      // a person would, or it interrupts the shell while it hands the terminal over.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const ps = await stack.call("POST", `/sandboxes/${tp}/exec`, { command: "ps -C sleep -o stat=" });
        if (String(ps.body.data?.stdout).includes("+") || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      term.type("\u0003");
      // Each line typed once the prompt is back: bash may drop what was typed ahead of it then.
      await term.waitFor(/\^C[\s\S]*[#$] $/, from);
      from = term.output().length;
      term.type("echo after=$?\n");
      expect(await term.waitFor(/[\r\n]after=\d+\r\n[\s\S]*[#$] $/, from)).toMatch(/[\r\n]after=130\r\n/);

      // Its controlling terminal is the PTY: programs that open /dev/tty find it.
      from = term.output().length;
      term.type(": </dev/tty && echo tty=ok\n");
      expect(await term.waitFor(/[\r\n]tty=ok\r\n/, from)).toContain("tty=ok");

      // The shell is alive in the sandbox; closing the socket ends it.
      const alive = await stack.call("POST", `/sandboxes/${tp}/exec`, { command: `kill -0 ${pid} && echo alive` });
      expect(alive.body.data?.stdout).toBe("alive\n");
      term.ws.close(1000, "done");
      expect((await term.closed).code).toBe(1000);
      const until = Date.now() + 10_000;
      let gone = false;
      while (!gone && Date.now() < until) {
        const check = await stack.call("POST", `/sandboxes/${tp}/exec`, {
          command: `kill -0 ${pid} 2>/dev/null || echo gone`,
        });
        gone = check.body.data?.stdout === "gone\n";
        if (!gone) await new Promise((r) => setTimeout(r, 250));
      }
      expect(gone).toBe(true);
    }, 60_000);

    it("takes the token as a subprotocol (what a browser can send), starts in the given cwd with the sandbox's env, says when the shell exits", async () => {
      expect((await stack.call("POST", `/sandboxes/${tp}/exec`, { command: "mkdir -p /workspace/sub" })).status).toBe(
        200,
      );
      const term = await openTerminal(stack.url, tp, "?cwd=/workspace/sub", {
        protocols: ["sandbox-terminal", `bearer.${base64url(stack.apiToken)}`],
      });
      // The server chose the terminal's protocol, never the one carrying the token.
      expect(term.ws.protocol).toBe("sandbox-terminal");
      // Typed at once: held until the shell is ready, then run by the shell with job control.
      term.type("pwd; : </dev/tty && echo tty=ok; echo greeting=$GREETING\n");
      const out = await term.waitFor(/[\r\n]\/workspace\/sub\r\ntty=ok\r\ngreeting=\S*\r\n/);
      expect(out).toContain("greeting=from-create\r\n");
      await shellReady(term);
      term.type("exit 3\n");
      const closed = await term.closed;
      expect(term.statuses).toContainEqual({ type: "exit", code: 3 });
      expect({ code: closed.code, reason: closed.reason }).toEqual({
        code: 1000,
        reason: "The shell exited with code 3",
      });
      // The marker that reported the exit is not in the output (only the typed line that prints it).
      expect(term.output()).not.toContain("\u001b]7770;");
    }, 60_000);
  });
});
