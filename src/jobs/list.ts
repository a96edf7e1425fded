/**
 * @module jobs/list
 * Listing jobs newest first, optionally by project and status, one keyset page at a
 * time: the cursor is the last row's (created_at, id), so a page never repeats or skips
 * a row while jobs are being added.
 */
import type { Job } from "../shared/job-format";
import { decodeCursor, encodeCursor, type JobRow, rowToJob } from "./records";

export interface ListJobsQuery {
  projectId?: string | undefined;
  status?: Job["status"] | undefined;
  limit: number;
  cursor?: string | undefined;
}

/** One page; `nextCursor` is null on the last one. */
export async function listJobs(
  db: D1Database,
  { projectId, status, limit, cursor }: ListJobsQuery,
): Promise<{ jobs: Job[]; nextCursor: string | null }> {
  const where: string[] = [];
  const binds: Array<string | number> = [];
  if (projectId !== undefined) {
    where.push("project_id = ?");
    binds.push(projectId);
  }
  if (status !== undefined) {
    where.push("status = ?");
    binds.push(status);
  }
  if (cursor !== undefined) {
    const after = decodeCursor(cursor);
    where.push("(created_at < ? OR (created_at = ? AND id < ?))");
    binds.push(after.createdAt, after.createdAt, after.id);
  }
  const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
    ORDER BY created_at DESC, id DESC LIMIT ?`;
  const { results } = await db
    .prepare(sql)
    .bind(...binds, limit + 1)
    .all<JobRow>();
  const page = results.slice(0, limit);
  const last = page.at(-1);
  const nextCursor = results.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null;
  return { jobs: page.map(rowToJob), nextCursor };
}
