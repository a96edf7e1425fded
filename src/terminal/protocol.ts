/**
 * @module terminal/protocol
 * The terminal's wire protocol, as Cloudflare's container runtime speaks it
 * (sandbox-container's pty-ws-handler.ts; the SDK's xterm addon is its client), and
 * the bounds the Worker holds it to:
 * - server → client: binary frames are the PTY's output bytes; text frames are JSON
 *   status messages, `{"type":"ready"}` once the shell is attached, `{"type":"error","message"}`.
 * - client → server: binary frames are keystrokes (bytes for the PTY); a text frame is a
 *   JSON control message, `{"type":"resize","cols":N,"rows":N}`. A text frame that is not
 *   a JSON object with a `type` is taken as keystrokes too, so line-based clients
 *   (websocat in text mode) can type.
 */

/** The bounds of a terminal's size, at open (query) and on resize. */
export const TERMINAL_LIMITS = { maxCols: 500, maxRows: 200 } as const;

/** The WebSocket subprotocol the terminal speaks; chosen in the 101 when the client offers it. */
export const TERMINAL_PROTOCOL = "sandbox-terminal";

/** What one client frame asks of the terminal. */
export type ClientFrame =
  | { kind: "input"; data: ArrayBuffer | string }
  | { kind: "resize"; cols: number; rows: number }
  | { kind: "invalid"; message: string };

function isSize(n: unknown, max: number): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= max;
}

/** Classifies a client frame: keystrokes, a resize within bounds, or a control message refused (and why). */
export function parseClientFrame(data: ArrayBuffer | string): ClientFrame {
  if (typeof data !== "string") return { kind: "input", data };
  let message: unknown;
  try {
    message = JSON.parse(data);
  } catch {
    return { kind: "input", data };
  }
  if (typeof message !== "object" || message === null || Array.isArray(message) || !("type" in message)) {
    return { kind: "input", data };
  }
  const { type, cols, rows } = message as { type: unknown; cols?: unknown; rows?: unknown };
  if (type !== "resize") return { kind: "invalid", message: `Unknown control message type ${JSON.stringify(type)}` };
  const { maxCols, maxRows } = TERMINAL_LIMITS;
  if (!isSize(cols, maxCols) || !isSize(rows, maxRows)) {
    return {
      kind: "invalid",
      message: `resize needs integer cols 1-${maxCols} and rows 1-${maxRows}`,
    };
  }
  return { kind: "resize", cols, rows };
}

/** A status message for the client, in the runtime's own form. */
export function statusMessage(status: { type: "error"; message: string }): string {
  return JSON.stringify(status);
}
