/**
 * @module backend/cloudflare-streams
 * Turns the SDK's Server-Sent-Event streams (exec stream, process log stream)
 * into our `ExecEvent` streams. The SDK's `parseSSEStream` does the framing; this
 * module maps event shapes, guarantees exactly one terminal `exit`/`error` event,
 * and enforces the Worker-side deadline for streams the container never ends.
 */
import { parseSSEStream } from "@cloudflare/sandbox";
import { timedOut, WORKER_TIMEOUT_GRACE_MS } from "./cloudflare-convert";
import { toAppError } from "./cloudflare-errors";
import type { ExecEvent } from "./types";

/** The fields of SDK exec and log events this module reads. */
interface SdkStreamEvent {
  type: string;
  data?: string;
  command?: string;
  exitCode?: number | null;
  pid?: number;
  error?: string;
}

/** Maps one SDK event to ours; `undefined` skips it, a terminal event ends the stream. */
type EventMapper = (event: SdkStreamEvent) => ExecEvent | undefined;

const isTerminal = (e: ExecEvent) => e.type === "exit" || e.type === "error";

/**
 * A ReadableStream<ExecEvent> over an SDK SSE byte stream. It pulls lazily (so
 * backpressure reaches the container), cancels upstream when the consumer
 * cancels or `signal` aborts, and ends with one terminal event no matter how
 * the upstream ends.
 */
function mapSseStream(
  sse: ReadableStream<Uint8Array>,
  map: EventMapper,
  opts: {
    signal?: AbortSignal;
    deadlineMs?: number;
    onDeadline?: () => ExecEvent;
    /** Runs once when the consumer goes away before a terminal event (to stop what streams). */
    onAbandon?: () => Promise<void>;
    /** An event the stream starts with, before anything upstream sends. */
    first?: ExecEvent;
  },
): ReadableStream<ExecEvent> {
  const abort = new AbortController();
  // The SDK's parser does not end a pending read when its signal aborts: the abort is raced too.
  let leave = () => {};
  const consumerGone = new Promise<"gone">((resolve) => {
    leave = () => resolve("gone");
  });
  const onAbort = () => {
    abort.abort();
    leave();
  };
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const iterator = parseSSEStream<SdkStreamEvent>(sse, abort.signal)[Symbol.asyncIterator]();
  let finished = false;
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const deadlineHit = new Promise<"deadline">((resolve) => {
    if (opts.deadlineMs !== undefined) deadline = setTimeout(() => resolve("deadline"), opts.deadlineMs);
  });
  let abandoned = false;
  const abandon = async () => {
    if (abandoned || !opts.onAbandon) return;
    abandoned = true;
    await opts.onAbandon().catch(() => undefined);
  };
  const finish = () => {
    finished = true;
    if (deadline !== undefined) clearTimeout(deadline);
    opts.signal?.removeEventListener("abort", onAbort);
  };
  return new ReadableStream<ExecEvent>({
    start(controller) {
      if (opts.first) controller.enqueue(opts.first);
    },
    async pull(controller) {
      if (finished) return;
      try {
        for (;;) {
          const next = await Promise.race([iterator.next(), deadlineHit, consumerGone]);
          if (next === "gone") {
            finish();
            await abandon();
            controller.close();
            return;
          }
          if (next === "deadline") {
            controller.enqueue(opts.onDeadline?.() ?? { type: "error", code: "TIMEOUT", message: "Stream timed out" });
            finish();
            abort.abort();
            controller.close();
            return;
          }
          if (next.done) {
            controller.enqueue({ type: "error", code: "BACKEND_UNAVAILABLE", message: "Stream ended without an exit" });
            finish();
            controller.close();
            return;
          }
          const event = map(next.value);
          if (!event) continue;
          controller.enqueue(event);
          if (isTerminal(event)) {
            finish();
            abort.abort();
            controller.close();
          }
          return;
        }
      } catch (err) {
        finish();
        if (opts.signal?.aborted) {
          await abandon();
          controller.close();
          return;
        }
        const appErr = toAppError(err);
        controller.enqueue({ type: "error", code: appErr.code, message: appErr.message });
        controller.close();
      }
    },
    async cancel() {
      const early = !finished;
      finish();
      abort.abort();
      if (early) await abandon();
      await iterator.return?.(undefined).catch(() => undefined);
    },
  });
}

/** Events of a streamed exec of `command` wrapped by wrapWithTimeout. */
export function execEventStream(
  sse: ReadableStream<Uint8Array>,
  req: {
    command: string;
    timeoutMs: number;
    startedAt: number;
    signal?: AbortSignal;
    /** Stops the command when its client goes away first. */
    onAbandon?: () => Promise<void>;
  },
): ReadableStream<ExecEvent> {
  const timeoutEvent = (): ExecEvent => ({
    type: "error",
    code: "TIMEOUT",
    message: `Command timed out after ${req.timeoutMs} ms and was killed`,
  });
  return mapSseStream(
    sse,
    (event) => {
      switch (event.type) {
        case "start":
          return { type: "start", command: req.command, ...(event.pid !== undefined ? { pid: event.pid } : {}) };
        case "stdout":
        case "stderr":
          return event.data ? { type: event.type, data: event.data } : undefined;
        case "complete": {
          const exitCode = event.exitCode ?? 0;
          const durationMs = Date.now() - req.startedAt;
          if (timedOut(exitCode, durationMs, req.timeoutMs)) return timeoutEvent();
          return { type: "exit", exitCode, durationMs };
        }
        case "error":
          return { type: "error", code: "COMMAND_FAILED", message: event.error ?? event.data ?? "Command failed" };
        default:
          return undefined;
      }
    },
    {
      signal: req.signal,
      deadlineMs: req.timeoutMs + WORKER_TIMEOUT_GRACE_MS,
      onDeadline: timeoutEvent,
      onAbandon: req.onAbandon,
    },
  );
}

/** Events of a followed background process (SDK `streamProcessLogs`). */
export function processEventStream(
  sse: ReadableStream<Uint8Array>,
  req: { command: string; pid?: number; startedAt: number; signal?: AbortSignal },
): ReadableStream<ExecEvent> {
  // The start comes from what the caller knows: the runtime's first event (process_info) is
  // not sent on every transport (the rpc transport's log stream begins with the output).
  const start: ExecEvent = { type: "start", command: req.command, ...(req.pid !== undefined ? { pid: req.pid } : {}) };
  return mapSseStream(
    sse,
    (event) => {
      switch (event.type) {
        case "stdout":
        case "stderr":
          return event.data ? { type: event.type, data: event.data } : undefined;
        case "exit":
        case "complete":
          return { type: "exit", exitCode: event.exitCode ?? -1, durationMs: Date.now() - req.startedAt };
        case "error":
          return { type: "error", code: "PROCESS_FAILED", message: event.error ?? event.data ?? "Process failed" };
        default:
          return undefined;
      }
    },
    { signal: req.signal, first: start },
  );
}
