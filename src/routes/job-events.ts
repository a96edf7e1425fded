/**
 * @module routes/job-events
 * GET /jobs/:id/events. As SSE (default): every stored event after `Last-Event-ID`
 * (or `?after=N`), event id = seq, event name = type; then it follows the job by
 * polling D1 while the job is not finished, and ends with one `end` event carrying
 * the final status. Bounded: a stream lasts at most MAX_STREAM_MS, then closes with
 * a comment telling the client to reconnect with Last-Event-ID. With `?format=json`
 * it answers one page: events after `after`, at most `limit`.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { ValidationError } from "../errors";
import { ok } from "../http/envelope";
import { isTerminal } from "../jobs/decisions";
import type { JobQueue } from "../jobs/queue";
import type { Job, JobEvent } from "../shared/job-format";

/** How often a live stream looks for new events. */
export const POLL_MS = 500;
/** Longest a stream stays open; clients reconnect with Last-Event-ID. */
export const MAX_STREAM_MS = 5 * 60_000;
/** A comment at least this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** Events read per D1 query while replaying. */
const PAGE = 500;
/**
 * A finished job's last status event is written just after its status changes; one
 * more read this long after seeing the final status picks it up before `end`.
 */
const SETTLE_MS = 100;

/** Where to start: Last-Event-ID wins over ?after (a reconnecting EventSource sends the header). */
function startAfter(c: Context, after: number | undefined): number {
  const header = c.req.header("last-event-id");
  if (header === undefined || header.trim() === "") return after ?? 0;
  if (!/^\d{1,15}$/.test(header.trim())) {
    throw new ValidationError("Last-Event-ID must be an event id (a sequence number)", undefined, "INVALID_EVENT_ID");
  }
  return Number(header.trim());
}

function endData(job: Job): string {
  return JSON.stringify({ status: job.status, error: job.error, finishedAt: job.finishedAt });
}

/** Answer GET /jobs/:id/events for job `id` (404 before any streaming when it does not exist). */
export async function jobEventsResponse(
  c: Context,
  jobs: JobQueue,
  id: string,
  query: { format?: "json" | "sse" | undefined; after?: number | undefined; limit: number },
): Promise<Response> {
  let job = await jobs.get(id);
  let after = startAfter(c, query.after);

  if (query.format === "json") {
    const events = await jobs.readEvents(id, after, query.limit);
    const lastSeq = events.at(-1)?.seq ?? after;
    return ok(c, { events, lastSeq, hasMore: events.length === query.limit, status: job.status });
  }

  return streamSSE(c, async (sse) => {
    const started = Date.now();
    let lastWrite = started;
    let settled = false;
    const send = async (event: JobEvent) => {
      await sse.writeSSE({ id: String(event.seq), event: event.type, data: JSON.stringify(event.data) });
      after = event.seq;
      lastWrite = Date.now();
    };
    while (!sse.aborted) {
      // Status first, then events: everything written before the status change is then read below.
      const finished = isTerminal(job.status);
      let events: JobEvent[];
      do {
        events = await jobs.readEvents(id, after, PAGE);
        for (const event of events) await send(event);
      } while (events.length === PAGE && !sse.aborted);
      if (finished) {
        if (settled) {
          await sse.writeSSE({ event: "end", data: endData(job) });
          return;
        }
        settled = true;
        await sse.sleep(SETTLE_MS);
        continue;
      }
      if (Date.now() - started >= MAX_STREAM_MS) {
        await sse.write(`: stream time limit reached; reconnect with Last-Event-ID: ${after}\n\n`);
        return;
      }
      if (Date.now() - lastWrite >= KEEPALIVE_MS) {
        await sse.write(": keepalive\n\n");
        lastWrite = Date.now();
      }
      await sse.sleep(POLL_MS);
      job = await jobs.get(id);
    }
  });
}
