/**
 * @module jobs/events
 * Job events in D1 (`job_events`): appended in batches with sequence numbers the
 * database assigns, read back after a given sequence. Each insert computes its seq as
 * MAX(seq)+1 of the job inside one D1 batch (a transaction, statements in order), so
 * concurrent appenders never collide and a batch keeps its order.
 */
import type { JobEvent, NewJobEvent } from "../shared/job-format";
import { iso } from "./records";

/** Most events one read returns. */
export const MAX_EVENTS_PER_READ = 1000;

const INSERT_SQL = `INSERT INTO job_events (job_id, seq, type, data, created_at)
  SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4 FROM job_events WHERE job_id = ?1
  RETURNING seq`;

/**
 * Append `events` to job `jobId` in order; returns the last seq written (the job's
 * current last seq when `events` is empty).
 */
export async function appendEvents(db: D1Database, jobId: string, events: NewJobEvent[], now: number): Promise<number> {
  if (events.length === 0) return await lastSeq(db, jobId);
  const createdAt = iso(now);
  const statements = events.map((e) => db.prepare(INSERT_SQL).bind(jobId, e.type, JSON.stringify(e.data), createdAt));
  const results = await db.batch<{ seq: number }>(statements);
  return results.at(-1)?.results[0]?.seq ?? (await lastSeq(db, jobId));
}

/** A `status` event: the Worker's record of a transition (queued, running, requeued, ended). */
export async function appendStatusEvent(
  db: D1Database,
  jobId: string,
  data: Record<string, unknown>,
  now: number,
): Promise<void> {
  await appendEvents(db, jobId, [{ type: "status", data }], now);
}

/** The job's highest seq, 0 when it has none. */
export async function lastSeq(db: D1Database, jobId: string): Promise<number> {
  const row = await db
    .prepare("SELECT COALESCE(MAX(seq), 0) AS seq FROM job_events WHERE job_id = ?")
    .bind(jobId)
    .first<{ seq: number }>();
  return row?.seq ?? 0;
}

interface EventRow {
  seq: number;
  type: string;
  data: string;
  created_at: string;
}

/** Up to `limit` events of `jobId` with seq > `after`, in order. */
export async function readEvents(db: D1Database, jobId: string, after: number, limit: number): Promise<JobEvent[]> {
  const { results } = await db
    .prepare("SELECT seq, type, data, created_at FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?")
    .bind(jobId, after, Math.min(limit, MAX_EVENTS_PER_READ))
    .all<EventRow>();
  return results.map((r) => ({
    seq: r.seq,
    type: r.type,
    data: JSON.parse(r.data) as Record<string, unknown>,
    createdAt: r.created_at,
  }));
}
