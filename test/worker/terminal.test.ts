/**
 * The terminal's edges that need no sandbox: who may open one (a bearer header, or on a
 * WebSocket upgrade the bearer subprotocol, and nothing else), the 426 for a plain GET,
 * the bounds of the query; and the relay's pure parts, client frames and the exit marker.
 * The terminal itself, on Cloudflare's runtime, is in test/node/http-edges-e2e.test.ts.
 */
import { describe, expect, it } from "vitest";
import { JOB_CONTROL_LINE, takeExitMarker } from "../../src/terminal/job-control";
import { parseClientFrame } from "../../src/terminal/protocol";
import { relayTerminal } from "../../src/terminal/relay";
import { api, TOKEN, uniqueProject } from "./support/http";

const upgrade = { upgrade: "websocket", connection: "Upgrade" };
const b64url = (text: string) => btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

async function answer(query: string, headers: Record<string, string>) {
  const res = await api(`/sandboxes/${uniqueProject()}/terminal${query}`, { headers, auth: false });
  const body = (await res.json()) as { code: string; error: string };
  return { status: res.status, code: body.code, error: body.error };
}

describe("terminal: who may open one", () => {
  it("takes the token from a bearer.<base64url> subprotocol on an upgrade (reaching validation)", async () => {
    // A token with the characters a subprotocol cannot carry is why it is base64url.
    const protocol = `sandbox-terminal, bearer.${b64url(TOKEN)}`;
    const res = await answer("?cols=0", { ...upgrade, "sec-websocket-protocol": protocol });
    expect(res).toMatchObject({ status: 400, code: "VALIDATION_ERROR", error: "cols must be at least 1" });
  });

  it("refuses a wrong, malformed or missing token, and the subprotocol on a request that does not upgrade", async () => {
    const wrong = await answer("", { ...upgrade, "sec-websocket-protocol": `bearer.${b64url("nope")}` });
    expect(wrong).toMatchObject({
      status: 401,
      error: "The token in the bearer.<base64url token> subprotocol is not valid",
    });
    const malformed = await answer("", { ...upgrade, "sec-websocket-protocol": "bearer.a=b" });
    expect(malformed).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
    const none = await answer("", upgrade);
    expect(none.status).toBe(401);
    expect(none.error).toContain("bearer.<base64url token> WebSocket subprotocol");
    const plain = await answer("", { "sec-websocket-protocol": `bearer.${b64url(TOKEN)}` });
    expect(plain).toMatchObject({ status: 401, error: "Missing Authorization: Bearer <token> header" });
  });

  it("answers a GET that does not upgrade with 426 UPGRADE_REQUIRED", async () => {
    const res = await answer("", { authorization: `Bearer ${TOKEN}` });
    expect(res).toMatchObject({ status: 426, code: "UPGRADE_REQUIRED" });
  });

  it("bounds the size and confines the cwd before starting anything", async () => {
    const auth = { ...upgrade, authorization: `Bearer ${TOKEN}` };
    expect(await answer("?rows=201", auth)).toMatchObject({ status: 400, error: "rows must be at most 200" });
    expect(await answer("?cols=1e3", auth)).toMatchObject({
      status: 400,
      error: "cols must be an integer from 1 to 500",
    });
    expect(await answer("?cwd=/workspace/../etc", auth)).toMatchObject({ status: 400, code: "INVALID_PATH" });
    expect(await answer("?cwd=/etc", auth)).toMatchObject({ status: 403, code: "PATH_FORBIDDEN" });
  });
});

describe("terminal: client frames", () => {
  it("takes binary frames and text that is no control message as keystrokes", () => {
    const bytes = new TextEncoder().encode("ls\n").buffer as ArrayBuffer;
    expect(parseClientFrame(bytes)).toEqual({ kind: "input", data: bytes });
    for (const text of ["echo hi\n", "42", "[1,2]", '{"no":"type"}', "{not json"]) {
      expect(parseClientFrame(text)).toEqual({ kind: "input", data: text });
    }
  });

  it("passes a resize within bounds and refuses any other control message", () => {
    expect(parseClientFrame('{"type":"resize","cols":120,"rows":40}')).toEqual({ kind: "resize", cols: 120, rows: 40 });
    for (const bad of [
      '{"type":"resize","cols":501,"rows":40}',
      '{"type":"resize","cols":80,"rows":0}',
      '{"type":"resize","cols":80.5,"rows":24}',
      '{"type":"resize","cols":"80","rows":24}',
    ]) {
      expect(parseClientFrame(bad)).toEqual({
        kind: "invalid",
        message: "resize needs integer cols 1-500 and rows 1-200",
      });
    }
    expect(parseClientFrame('{"type":"kill"}')).toEqual({
      kind: "invalid",
      message: 'Unknown control message type "kill"',
    });
  });
});

describe("terminal: the shell's exit", () => {
  const enc = (s: string) => new TextEncoder().encode(s).buffer as ArrayBuffer;
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);

  it("finds the marker the typed line prints, and removes it from the output", () => {
    const found = takeExitMarker(enc("exit\r\n\u001b]7770;exit=3\u0007tail"));
    expect({ output: dec(found.output), exitCode: found.exitCode }).toEqual({ output: "exit\r\ntail", exitCode: 3 });
    // The typed line's own echo (the printf format, not its output) is no marker.
    const echo = takeExitMarker(enc(JOB_CONTROL_LINE));
    expect({ output: dec(echo.output), exitCode: echo.exitCode }).toEqual({ output: JOB_CONTROL_LINE, exitCode: null });
    expect(takeExitMarker(enc("\u001b]7770;exit=12")).exitCode).toBeNull();
    expect(takeExitMarker(enc("\u001b]7770;exit=x\u0007")).exitCode).toBeNull();
  });
});

describe("terminal: the relay", () => {
  it("hears of every client frame (typing is use, for the idle TTL) and relays it once the runtime is ready", async () => {
    const [clientEnd, clientSide] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    const [runtimeEnd, runtimeSide] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    for (const ws of [clientEnd, clientSide, runtimeEnd, runtimeSide]) ws.accept();
    let inputs = 0;
    let ended = 0;
    relayTerminal(
      clientSide,
      runtimeSide,
      () => ended++,
      () => inputs++,
    );
    const atRuntime: string[] = [];
    runtimeEnd.addEventListener("message", async (e) => {
      const data = e.data as string | ArrayBuffer | Blob;
      const bytes = data instanceof Blob ? await data.arrayBuffer() : data;
      atRuntime.push(typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes));
    });
    clientEnd.send(new TextEncoder().encode("ls\r"));
    clientEnd.send(JSON.stringify({ type: "resize", cols: 80, rows: 24 }));
    await expect.poll(() => inputs).toBe(2);
    // Held until the runtime says it is ready; then the job-control line, then what was typed.
    expect(atRuntime).toEqual([]);
    runtimeEnd.send(JSON.stringify({ type: "ready" }));
    await expect.poll(() => atRuntime.length).toBe(3);
    expect(atRuntime[0]).toBe(JOB_CONTROL_LINE);
    expect(atRuntime[1]).toBe("ls\r");
    clientEnd.close(1000, "bye");
    await expect.poll(() => ended).toBe(1);
  });
});
