/**
 * @module terminal/relay
 * Carries a terminal between the client's WebSocket and the runtime's, in the Worker.
 * The Worker stays in the middle (rather than handing the runtime's socket out) for
 * three things: control messages are checked before they reach the runtime (a resize
 * within bounds, nothing else; protocol.ts), a text frame of keystrokes becomes the
 * binary frame the runtime wants, and the end of either side is seen here, so the
 * shell's session can be deleted (the runtime keeps a PTY alive past its socket). It
 * also gives the shell job control and reports its exit (job-control.ts).
 */
import { JOB_CONTROL_LINE, takeExitMarker } from "./job-control";
import { parseClientFrame, statusMessage } from "./protocol";

/** Close codes a close frame may not carry (RFC 6455 §7.4.1); workerd throws on them. */
function sendableCode(code: number): number {
  return code === 1005 || code === 1006 || code === 1015 || code < 1000 || code >= 5000 ? 1000 : code;
}

function closeQuietly(ws: WebSocket, code: number, reason: string): void {
  try {
    // A close reason is at most 123 bytes.
    ws.close(sendableCode(code), reason.slice(0, 120));
  } catch {
    // Already closed or closing.
  }
}

const encoder = new TextEncoder();

/** A frame's data as sent: text, or bytes (workerd may hand binary frames over as a Blob). */
type FrameData = string | ArrayBuffer;

/**
 * Calls `handle` with each message's data, in arrival order: turning a Blob into bytes
 * is asynchronous, and keystrokes must not overtake each other.
 */
function onFrames(ws: WebSocket, handle: (data: FrameData) => void): void {
  let queue: Promise<void> = Promise.resolve();
  ws.addEventListener("message", (event) => {
    const data = event.data as unknown;
    if (data instanceof Blob) {
      const bytes = data.arrayBuffer();
      queue = queue.then(async () => handle(await bytes)).catch(() => {});
    } else {
      queue = queue.then(() => handle(data as FrameData)).catch(() => {});
    }
  });
}

/** Whether a runtime text frame is its `ready` status. */
function isReady(data: string): boolean {
  try {
    return (JSON.parse(data) as { type?: unknown }).type === "ready";
  } catch {
    return false;
  }
}

/**
 * Relays `client` ↔ `runtime` (both accepted) until either closes or fails, or the shell
 * exits; then closes both and calls `onEnd` once. `onInput` hears of every client frame.
 */
export function relayTerminal(
  client: WebSocket,
  runtime: WebSocket,
  onEnd: () => void,
  onInput: () => void = () => {},
): void {
  let ended = false;
  // Both sides closed with the same code: the side that closed first is answered (a close
  // frame the peer awaits), the other told why.
  const end = (code: number, reason: string) => {
    closeQuietly(runtime, code, reason);
    closeQuietly(client, code, reason);
    if (ended) return;
    ended = true;
    onEnd();
  };

  /** What goes to the runtime for one client frame (null: nothing; the client was answered). */
  const toRuntime = (data: FrameData): FrameData | Uint8Array | null => {
    const frame = parseClientFrame(data);
    if (frame.kind === "input") return typeof frame.data === "string" ? encoder.encode(frame.data) : frame.data;
    if (frame.kind === "resize") return JSON.stringify({ type: "resize", cols: frame.cols, rows: frame.rows });
    client.send(statusMessage({ type: "error", message: frame.message }));
    return null;
  };
  // Held until the runtime is ready (it drops what arrives before) and the job-control line
  // is typed (keystrokes ahead of it would run into it).
  let held: Array<FrameData | Uint8Array> | null = [];
  onFrames(client, (data) => {
    onInput();
    try {
      const out = toRuntime(data);
      if (out === null) return;
      if (held) held.push(out);
      else runtime.send(out);
    } catch {
      end(1011, "The terminal's runtime connection failed");
    }
  });
  onFrames(runtime, (data) => {
    try {
      if (typeof data === "string") {
        client.send(data);
        if (held && isReady(data)) {
          runtime.send(encoder.encode(JOB_CONTROL_LINE));
          for (const out of held) runtime.send(out);
          held = null;
        }
        return;
      }
      const { output, exitCode } = takeExitMarker(data);
      if (output.byteLength > 0) client.send(output);
      if (exitCode !== null) {
        client.send(JSON.stringify({ type: "exit", code: exitCode }));
        end(1000, `The shell exited with code ${exitCode}`);
      }
    } catch {
      end(1011, "The client went away");
    }
  });
  client.addEventListener("close", (event) => end(event.code, event.reason));
  runtime.addEventListener("close", (event) => end(event.code, event.reason));
  client.addEventListener("error", () => end(1011, "Client WebSocket error"));
  runtime.addEventListener("error", () => end(1011, "The terminal's runtime connection failed"));
}
