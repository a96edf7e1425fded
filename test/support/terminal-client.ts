/**
 * @module test/support/terminal-client
 * A client for the terminal (GET /sandboxes/:id/terminal) as the end-to-end tests drive it:
 * a WebSocket handshake by hand (to see a refusal's status and body) and a connected
 * terminal on Node's own WebSocket that collects the output and waits for patterns.
 */
import { request } from "node:http";

/** A WebSocket handshake by hand, to see the refusal's status and body (a WebSocket client hides them). */
export function handshake(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, {
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
export interface Terminal {
  ws: WebSocket;
  output(): string;
  statuses: Array<Record<string, unknown>>;
  /** Resolves with the output once `pattern` matches what came after `from` (an offset in output()). */
  waitFor(pattern: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  type(text: string): void;
  closed: Promise<CloseEvent>;
}

export async function openTerminal(
  baseUrl: string,
  projectId: string,
  query: string,
  init: { headers?: Record<string, string>; protocols?: string[] },
): Promise<Terminal> {
  // Node's WebSocket (undici) takes `{headers, protocols}` where its types know only protocols.
  const url = `${baseUrl.replace(/^http/, "ws")}/sandboxes/${projectId}/terminal${query}`;
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
export async function shellReady(term: Terminal): Promise<void> {
  await term.waitFor(/exec setsid[\s\S]*\[2J[\s\S]*[#$] $/);
}

/** base64url without padding, as a browser makes it: btoa(token) with `+/` → `-_`, `=` dropped. */
export function base64url(text: string): string {
  return Buffer.from(text).toString("base64url");
}
