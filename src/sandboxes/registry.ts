/**
 * @module sandboxes/registry
 * The sandboxes the API has seen, in D1 (migrations/0003_sandboxes.sql), for
 * GET /sandboxes: created and last-used times, active or destroyed, with each
 * project's head and running job joined in. One page at a time, keyset-paginated
 * by project id (a cursor never skips or repeats a row while sandboxes come and go).
 *
 * Last use is written at most once a minute per project and isolate (`USE_WRITE_MS`),
 * so the hot path of a busy sandbox costs no D1 write per request; a create and the
 * ensure step that initialises a workspace always write. Each sandbox's idle TTL lives
 * here too, beside the last use it is measured from (the cron round: sandboxes/idle.ts).
 */
import type { z } from "zod";
import { ValidationError } from "../errors";
import { decodeCursor, encodeCursor } from "../http/cursor";
import type { SandboxListingSchema } from "../response-schemas";

/** One row of GET /sandboxes (fields described in response-schemas.ts). */
export type SandboxListing = z.infer<typeof SandboxListingSchema>;

export interface SandboxListQuery {
  state?: SandboxListing["state"] | undefined;
  limit: number;
  cursor?: string | undefined;
}

export interface SandboxRegistry {
  /**
   * Records a use at `now`: a first one creates the row, one after a destroy makes it active
   * again. Skipped within USE_WRITE_MS of this isolate's last write unless `force` (a create,
   * or a workspace just initialised: the case that follows a destroy, maybe in another isolate).
   */
  noteUse(projectId: string, opts?: { force?: boolean }, now?: number): Promise<void>;
  /** Records a destroy at `now`. */
  noteDestroyed(projectId: string, now?: number): Promise<void>;
  list(query: SandboxListQuery): Promise<{ sandboxes: SandboxListing[]; nextCursor: string | null }>;
  /** Sets (seconds) or removes (null) the sandbox's idle TTL. */
  setIdleTtl(projectId: string, seconds: number | null, now?: number): Promise<void>;
  /** The sandbox's idle TTL in seconds, or null. */
  idleTtlOf(projectId: string): Promise<number | null>;
  /**
   * Up to `limit` active sandboxes, longest unused first, whose idle TTL has run out at `now`,
   * that it has not stopped since their last use, and that run no job.
   */
  idleCandidates(now: number, limit: number): Promise<string[]>;
  /** Records that the idle TTL stopped it at `now`. */
  noteIdleStopped(projectId: string, now?: number): Promise<void>;
}

/** How stale a last-use time may get before a use writes it again. */
export const USE_WRITE_MS = 60_000;

interface Row {
  project_id: string;
  state: SandboxListing["state"];
  created_at: string;
  last_used_at: string;
  destroyed_at: string | null;
  head: string | null;
  running_job: string | null;
  idle_ttl_seconds: number | null;
  idle_stopped_at: string | null;
}

const toListing = (r: Row): SandboxListing => ({
  projectId: r.project_id,
  state: r.state,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  destroyedAt: r.destroyed_at,
  headSnapshotId: r.head,
  runningJobId: r.running_job,
  idleTtlSeconds: r.idle_ttl_seconds,
  idleStoppedAt: r.idle_stopped_at,
});

/** The project id a page's cursor continues after (http/cursor.ts), checked to be one. */
function projectAfter(cursor: string): string {
  const [id = ""] = decodeCursor(cursor, 1);
  if (/^[a-z0-9-]{1,63}$/.test(id)) return id;
  throw new ValidationError("cursor is malformed; pass the nextCursor of a previous page", undefined, "INVALID_CURSOR");
}

export function createSandboxRegistry(db: D1Database): SandboxRegistry {
  /** project → when this isolate last wrote its use. */
  const written = new Map<string, number>();
  return {
    async noteUse(projectId, opts = {}, now = Date.now()) {
      if (!opts.force && now - (written.get(projectId) ?? 0) < USE_WRITE_MS) return;
      const at = new Date(now).toISOString();
      await db
        .prepare(
          `INSERT INTO sandboxes (project_id, state, created_at, last_used_at) VALUES (?1, 'active', ?2, ?2)
           ON CONFLICT (project_id) DO UPDATE SET
             created_at = CASE WHEN state = 'destroyed' THEN ?2 ELSE created_at END,
             state = 'active', last_used_at = ?2, destroyed_at = NULL, idle_stopped_at = NULL`,
        )
        .bind(projectId, at)
        .run();
      written.set(projectId, now);
    },

    async noteDestroyed(projectId, now = Date.now()) {
      const at = new Date(now).toISOString();
      await db
        .prepare(
          "UPDATE sandboxes SET state = 'destroyed', destroyed_at = ?2 WHERE project_id = ?1 AND state = 'active'",
        )
        .bind(projectId, at)
        .run();
      // The next use must write: it makes the sandbox active again.
      written.delete(projectId);
    },

    async setIdleTtl(projectId, seconds, now = Date.now()) {
      const at = new Date(now).toISOString();
      await db
        .prepare(
          `INSERT INTO sandboxes (project_id, state, created_at, last_used_at, idle_ttl_seconds)
           VALUES (?1, 'active', ?2, ?2, ?3)
           ON CONFLICT (project_id) DO UPDATE SET idle_ttl_seconds = ?3`,
        )
        .bind(projectId, at, seconds)
        .run();
    },

    async idleTtlOf(projectId) {
      const row = await db
        .prepare("SELECT idle_ttl_seconds FROM sandboxes WHERE project_id = ?1")
        .bind(projectId)
        .first<{ idle_ttl_seconds: number | null }>();
      return row?.idle_ttl_seconds ?? null;
    },

    async idleCandidates(now, limit) {
      const { results } = await db
        .prepare(
          `SELECT s.project_id FROM sandboxes s
           WHERE s.state = 'active' AND s.idle_ttl_seconds IS NOT NULL AND s.idle_stopped_at IS NULL
             AND unixepoch(s.last_used_at) + s.idle_ttl_seconds <= ?1 / 1000
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.project_id = s.project_id AND j.status = 'running')
           ORDER BY s.last_used_at LIMIT ?2`,
        )
        .bind(now, limit)
        .all<{ project_id: string }>();
      return results.map((r) => r.project_id);
    },

    async noteIdleStopped(projectId, now = Date.now()) {
      await db
        .prepare("UPDATE sandboxes SET idle_stopped_at = ?2 WHERE project_id = ?1")
        .bind(projectId, new Date(now).toISOString())
        .run();
      // Its next use must write: that clears the mark.
      written.delete(projectId);
    },

    async list({ state, limit, cursor }) {
      const where: string[] = [];
      const binds: Array<string | number> = [];
      if (cursor !== undefined) {
        where.push("s.project_id > ?");
        binds.push(projectAfter(cursor));
      }
      if (state !== undefined) {
        where.push("s.state = ?");
        binds.push(state);
      }
      const { results } = await db
        .prepare(
          `SELECT s.*, h.snapshot_id AS head, j.id AS running_job FROM sandboxes s
           LEFT JOIN heads h ON h.project_id = s.project_id
           LEFT JOIN jobs j ON j.project_id = s.project_id AND j.status = 'running'
           ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
           ORDER BY s.project_id LIMIT ?`,
        )
        .bind(...binds, limit + 1)
        .all<Row>();
      const page = results.slice(0, limit);
      const last = page.at(-1);
      return {
        sandboxes: page.map(toListing),
        nextCursor: results.length > limit && last ? encodeCursor([last.project_id]) : null,
      };
    },
  };
}

/**
 * Bookkeeping for GET /sandboxes, done beside a request: a failed write is logged and the
 * request goes on (none is refused or undone because the registry could not be written).
 */
async function logged(what: string, work: Promise<void> | undefined): Promise<void> {
  try {
    await work;
  } catch (err) {
    console.warn(`sandbox registry: recording ${what} failed:`, err);
  }
}

/** Records a use of the sandbox (throttled unless `force`); see SandboxRegistry.noteUse. */
export function recordUse(registry: SandboxRegistry | undefined, projectId: string, force = false): Promise<void> {
  return logged(`a use of ${projectId}`, registry?.noteUse(projectId, { force }));
}

/** Records the sandbox's destroy. */
export function recordDestroy(registry: SandboxRegistry | undefined, projectId: string): Promise<void> {
  return logged(`the destroy of ${projectId}`, registry?.noteDestroyed(projectId));
}
