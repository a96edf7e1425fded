/**
 * @module log-resume
 * SSE ids for followed process logs (GET …/processes/:id/logs), so a client that
 * reconnects with `Last-Event-ID` gets only what it has not seen.
 *
 * An id is `<stdout>:<stderr>`: how many characters of each stream the client has
 * been sent once it has that event (the `start` event is `0:0`). Offsets rather than
 * event counts, because a follow stream replays buffered output in whatever chunks
 * the backend has: Cloudflare's runtime replays all of stdout as one event, so the
 * n-th event of one connection is not the n-th of the next. Offsets survive that —
 * a resumed stream skips output up to them (cutting a chunk that straddles one) and
 * goes on live. The exit (or error) event carries the final offsets and is always sent.
 */
import { ValidationError } from "./errors";
import type { EventIds } from "./sse";

/** Offsets into a process's stdout and stderr, in characters. */
export interface LogOffsets {
  stdout: number;
  stderr: number;
}

/** The offsets a `Last-Event-ID` header names; `undefined` when absent (start from the beginning). */
export function parseLogEventId(header: string | undefined): LogOffsets | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  const match = /^(\d{1,15}):(\d{1,15})$/.exec(header.trim());
  if (!match) {
    throw new ValidationError(
      "Last-Event-ID must be a process log event id (<stdout offset>:<stderr offset>, as sent)",
      undefined,
      "INVALID_EVENT_ID",
    );
  }
  return { stdout: Number(match[1]), stderr: Number(match[2]) };
}

/** Ids for a follow stream; with `after`, output before those offsets (and `start`) is left out. */
export function logOffsetIds(after?: LogOffsets): EventIds {
  const seen: LogOffsets = { stdout: 0, stderr: 0 };
  const id = () => `${seen.stdout}:${seen.stderr}`;
  return {
    next(event) {
      if (event.type === "start") return after ? undefined : { event, id: id() };
      if (event.type !== "stdout" && event.type !== "stderr") return { event, id: id() };
      const before = seen[event.type];
      seen[event.type] = before + event.data.length;
      const skip = (after?.[event.type] ?? 0) - before;
      if (skip >= event.data.length) return undefined;
      const data = skip > 0 ? event.data.slice(skip) : event.data;
      return { event: { type: event.type, data }, id: id() };
    },
  };
}
