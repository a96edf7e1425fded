/**
 * @module sse
 * Turns a backend's ExecEvent stream into a `text/event-stream` response. The
 * stream is opened before the response starts, so failures to start (sandbox
 * unreachable, process not found) still get a proper status code; failures after
 * that arrive as an `error` event, as clients of a started stream expect.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { ExecEvent } from "./backend/types";
import { AppError } from "./errors";

/** Serialise one event: the `type` becomes the SSE event name, the rest its JSON data. */
function toMessage(event: ExecEvent, id: number) {
  const { type, ...data } = event;
  return { event: type, data: JSON.stringify(data), id: String(id) };
}

/**
 * Answer with SSE from `open(signal)`. The signal aborts when the client goes away,
 * so the backend can stop following or kill what it streams.
 */
export async function respondWithEvents(
  c: Context,
  open: (signal: AbortSignal) => Promise<ReadableStream<ExecEvent>>,
): Promise<Response> {
  const abort = new AbortController();
  const events = await open(abort.signal);
  return streamSSE(c, async (sse) => {
    sse.onAbort(() => abort.abort());
    const reader = events.getReader();
    let id = 0;
    let ended = false;
    try {
      while (!sse.aborted) {
        const { done, value } = await reader.read();
        if (done) break;
        await sse.writeSSE(toMessage(value, id++));
        if (value.type === "exit" || value.type === "error") ended = true;
      }
      if (!ended && !sse.aborted) {
        await sse.writeSSE(
          toMessage({ type: "error", code: "STREAM_ENDED", message: "The stream ended without an exit event" }, id++),
        );
      }
    } catch (err) {
      const code = err instanceof AppError ? err.code : "STREAM_FAILED";
      const message = err instanceof Error ? err.message : String(err);
      if (!sse.aborted) await sse.writeSSE(toMessage({ type: "error", code, message }, id++));
    } finally {
      abort.abort();
      // Cancel rather than release: tells the backend to stop producing.
      await reader.cancel().catch(() => {});
    }
  });
}
