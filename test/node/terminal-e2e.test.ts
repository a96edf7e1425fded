/**
 * The terminal (GET /sandboxes/:id/terminal) through `wrangler dev` (cloudflare backend on a
 * local jail running Cloudflare's runtime), with Node's own WebSocket client: a typed command's
 * output comes back, a resize reaches the PTY, closing the socket ends the shell, and the
 * handshake is refused without the token, with a wrong one, and as a plain GET.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../support/stack.ts";

let stack: Stack;
const p = "terminal-e2e";

/** A WebSocket handshake by hand, to see the refusal's status and body (a WebSocket client hides them). */
function handshake(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${stack.url}${path}`, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": Buffer.from("0123456789abcdef").toString("base64"),
        ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: "" });
    });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A connected terminal: everything it printed so far, and a way to wait for more. */
interface Terminal {
  ws: WebSocket;
  output(): string;
  statuses: Array<Record<string, unknown>>;
  /** Resolves with the output once `pattern` matches what came after `from` (an offset in output()). */
  waitFor(pattern: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  type(text: string): void;
  closed: Promise<CloseEvent>;
}

async function openTerminal(query: string, init: { headers?: Record<string, string>; protocols?: string[] }) {
  // Node's WebSocket (undici) takes `{headers, protocols}` where its types know only protocols.
  const url = `${stack.url.replace(/^http/, "ws")}/sandboxes/${p}/terminal${query}`;
  const ws = new WebSocket(url, init as unknown as string[]);
  ws.binaryType = "arraybuffer";
  const decoder = new TextDecoder();
  let text = "";
  const statuses: Array<Record<string, unknown>> = [];
  let wake = () => {};
  ws.addEventListener("message", (event) => {
    if (typeof event.data === "string") statuses.push(JSON.parse(event.data) as Record<string, unknown>);
    else text += decoder.decode(event.data as ArrayBuffer, { stream: true });
    wake();
  });
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve());
    ws.addEventListener("error", () => reject(new Error("the terminal's handshake failed")));
  });
  const terminal: Terminal = {
    ws,
    output: () => text,
    statuses,
    closed,
    type: (input) => ws.send(new TextEncoder().encode(input)),
    async waitFor(pattern, from = 0, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(text.slice(from))) {
        if (Date.now() > deadline) throw new Error(`no ${pattern} in the terminal's output: ${JSON.stringify(text)}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
      return text.slice(from);
    },
  };
  return terminal;
}

/**
 * Waits for the shell the relay starts with job control (src/terminal/job-control.ts): the
 * line it typed, the screen cleared, a prompt.
 */
async function shellReady(term: Terminal): Promise<void> {
  await term.waitFor(/exec setsid[\s\S]*\[2J[\s\S]*[#$] $/);
}

/** base64url without padding, as a browser makes it: btoa(token) with `+/` → `-_`, `=` dropped. */
function base64url(text: string): string {
  return Buffer.from(text).toString("base64url");
}

describe("terminal over WebSocket", () => {
  beforeAll(async () => {
    stack = await startStack();
    // The sandbox's env reaches the terminal's shell, as it does every command.
    expect((await stack.call("POST", `/sandboxes/${p}`, { env: { GREETING: "from-create" } })).status).toBe(200);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("refuses a handshake without the token, with a wrong one, and a GET that does not upgrade", async () => {
    const path = `/sandboxes/${p}/terminal`;
    const none = await handshake(path, {});
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toMatchObject({ success: false, code: "UNAUTHORIZED" });
    expect(JSON.parse(none.body).error).toContain("bearer.");

    const wrongHeader = await handshake(path, { authorization: "Bearer not-the-token" });
    expect(wrongHeader.status).toBe(401);
    const wrongProtocol = await handshake(path, {
      "sec-websocket-protocol": `sandbox-terminal, bearer.${base64url("not-the-token")}`,
    });
    expect(wrongProtocol.status).toBe(401);
    expect(JSON.parse(wrongProtocol.body).error).toContain("subprotocol is not valid");

    const plain = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${stack.apiToken}` } });
    expect(plain.status).toBe(426);
    expect(await plain.json()).toMatchObject({ success: false, code: "UPGRADE_REQUIRED" });

    const tooWide = await handshake(`${path}?cols=501`, { authorization: `Bearer ${stack.apiToken}` });
    expect(tooWide.status).toBe(400);
    expect(JSON.parse(tooWide.body).error).toContain("cols must be at most 500");
    const outside = await handshake(`${path}?cwd=/etc`, { authorization: `Bearer ${stack.apiToken}` });
    expect(outside.status).toBe(403);
  });

  it("runs what is typed, resizes, and ends the shell when the socket closes", async () => {
    const term = await openTerminal("?cols=100&rows=30", { headers: { authorization: `Bearer ${stack.apiToken}` } });
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
      const ps = await stack.call("POST", `/sandboxes/${p}/exec`, { command: "ps -C sleep -o stat=" });
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
    const alive = await stack.call("POST", `/sandboxes/${p}/exec`, { command: `kill -0 ${pid} && echo alive` });
    expect(alive.body.data?.stdout).toBe("alive\n");
    term.ws.close(1000, "done");
    expect((await term.closed).code).toBe(1000);
    const until = Date.now() + 10_000;
    let gone = false;
    while (!gone && Date.now() < until) {
      const check = await stack.call("POST", `/sandboxes/${p}/exec`, {
        command: `kill -0 ${pid} 2>/dev/null || echo gone`,
      });
      gone = check.body.data?.stdout === "gone\n";
      if (!gone) await new Promise((r) => setTimeout(r, 250));
    }
    expect(gone).toBe(true);
  }, 60_000);

  it("takes the token as a subprotocol (what a browser can send), starts in the given cwd with the sandbox's env, says when the shell exits", async () => {
    expect((await stack.call("POST", `/sandboxes/${p}/exec`, { command: "mkdir -p /workspace/sub" })).status).toBe(200);
    const term = await openTerminal("?cwd=/workspace/sub", {
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
