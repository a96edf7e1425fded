/**
 * @module sse
 * Turns a backend's ExecEvent stream into a `text/event-stream` response. The
 * stream is opened before the response starts, so failures to start (sandbox
 * unreachable, process not found) still get a proper status code; failures after
 * that arrive as an `error` event, as clients of a started stream expect.
 *
 * A client that goes away must stop what it streamed (a streamed exec is killed),
 * even when the command prints nothing: a runtime only learns a connection closed
 * when it writes to it, so a quiet stream sends an SSE comment every HEARTBEAT_MS,
 * and the request's own abort signal is honoured where the runtime fires it.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { ExecEvent } from "./backend/types";
import { AppError } from "./errors";

/** A quiet stream writes a comment this often, so a closed connection is noticed within about this long. */
export const HEARTBEAT_MS = 1_000;

/**
 * Gives each event its SSE id, in stream order; `undefined` leaves the event out
 * (e.g. output a resuming client already has). Stateful: one per response.
 */
export interface EventIds {
  next(event: ExecEvent): { event: ExecEvent; id: string } | undefined;
}

/** The default ids: the events' positions in the stream, from 0. */
export function sequenceIds(): EventIds {
  let id = 0;
  return { next: (event) => ({ event, id: String(id++) }) };
}

/** Serialise one event: the `type` becomes the SSE event name, the rest its JSON data. */
function toMessage(event: ExecEvent, id: string) {
  const { type, ...data } = event;
  return { event: type, data: JSON.stringify(data), id };
}

/** `work` kept running past the response where the runtime has an execution context (not in app.request tests). */
function keepAlive(c: Context, work: Promise<unknown>): void {
  let ctx: { waitUntil(p: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    return; // Hono throws when there is none
  }
  ctx.waitUntil(work);
}

/**
 * Answer with SSE from `open(signal)`. The signal aborts when the client goes away,
 * so the backend can stop following or kill what it streams.
 */
export async function respondWithEvents(
  c: Context,
  open: (signal: AbortSignal) => Promise<ReadableStream<ExecEvent>>,
  ids: EventIds = sequenceIds(),
): Promise<Response> {
  const abort = new AbortController();
  const events = await open(abort.signal);
  const clientGone = () => abort.abort();
  c.req.raw.signal?.addEventListener("abort", clientGone, { once: true });
  return streamSSE(c, async (sse) => {
    // What runs after the client went away (the backend killing what it streamed) must
    // outlive the request, which the runtime otherwise cancels with its connection.
    let done = () => {};
    keepAlive(
      c,
      new Promise<void>((resolve) => {
        done = resolve;
      }),
    );
    sse.onAbort(clientGone);
    let lastWrite = Date.now();
    const send = async (event: ExecEvent) => {
      const numbered = ids.next(event);
      if (!numbered) return;
      await sse.writeSSE(toMessage(numbered.event, numbered.id));
      lastWrite = Date.now();
    };
    const heartbeat = setInterval(() => {
      if (sse.aborted || Date.now() - lastWrite < HEARTBEAT_MS) return;
      lastWrite = Date.now();
      void sse.write(": ping\n\n");
    }, HEARTBEAT_MS / 2);
    const reader = events.getReader();
    let ended = false;
    try {
      while (!sse.aborted && !abort.signal.aborted) {
        const { done, value } = await reader.read();
        if (done) break;
        await send(value);
        if (value.type === "exit" || value.type === "error") ended = true;
      }
      if (!ended && !sse.aborted) {
        await send({ type: "error", code: "STREAM_ENDED", message: "The stream ended without an exit event" });
      }
    } catch (err) {
      const code = err instanceof AppError ? err.code : "STREAM_FAILED";
      const message = err instanceof Error ? err.message : String(err);
      if (!sse.aborted) await send({ type: "error", code, message });
    } finally {
      clearInterval(heartbeat);
      c.req.raw.signal?.removeEventListener("abort", clientGone);
      abort.abort();
      // Cancel rather than release: tells the backend to stop producing.
      await reader.cancel().catch(() => {});
      done();
    }
  });
}
