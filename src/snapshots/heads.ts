/**
 * @module snapshots/heads
 * A project's head (its current snapshot id) in D1, moved only by compare-and-swap.
 * Each move is ONE conditional statement whose `changes` count says whether it won,
 * so two concurrent commits from the same parent can never both move the head;
 * there is no read-then-write window.
 */
import type { SnapshotId } from "../shared/snapshot-format";

/** Outcome of a compare-and-swap: moved, or not moved and the head found instead. */
export type HeadMove = { moved: true } | { moved: false; head: SnapshotId | null };

/** The project's current head, or null when it has no snapshot yet. */
export async function getHead(db: D1Database, projectId: string): Promise<SnapshotId | null> {
  const row = await db
    .prepare("SELECT snapshot_id FROM heads WHERE project_id = ?")
    .bind(projectId)
    .first<{ snapshot_id: string }>();
  return row?.snapshot_id ?? null;
}

/**
 * Move the head from `expected` (null = the project has no head) to `next`.
 * The statement itself is the check: an UPDATE guarded by the expected id, or an
 * INSERT that does nothing when a head exists. Only when it did not apply is the
 * current head read, to report it (never to decide).
 */
export async function moveHead(
  db: D1Database,
  projectId: string,
  expected: SnapshotId | null,
  next: SnapshotId,
  now: Date = new Date(),
): Promise<HeadMove> {
  const at = now.toISOString();
  const statement =
    expected === null
      ? db
          .prepare(
            "INSERT INTO heads (project_id, snapshot_id, updated_at) VALUES (?, ?, ?) ON CONFLICT (project_id) DO NOTHING",
          )
          .bind(projectId, next, at)
      : db
          .prepare("UPDATE heads SET snapshot_id = ?, updated_at = ? WHERE project_id = ? AND snapshot_id = ?")
          .bind(next, at, projectId, expected);
  const result = await statement.run();
  if (result.meta.changes === 1) return { moved: true };
  return { moved: false, head: await getHead(db, projectId) };
}
