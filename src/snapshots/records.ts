/**
 * @module snapshots/records
 * Snapshot rows in D1: one per committed manifest, with the summary the listing
 * shows and the pack ids the manifest references (what pack GC keeps).
 */
import type { PackId, SnapshotId, SnapshotInfo } from "../shared/snapshot-format";

/** A snapshot row as stored. `createdAt` is the Worker's commit time (ISO 8601). */
export interface SnapshotRecord {
  id: SnapshotId;
  projectId: string;
  parentId: SnapshotId | null;
  createdAt: string;
  files: number;
  bytes: number;
  uploadedBytes: number;
  packs: PackId[];
}

interface Row {
  id: string;
  project_id: string;
  parent_id: string | null;
  created_at: string;
  files: number;
  bytes: number;
  uploaded_bytes: number;
  packs: string;
}

function fromRow(row: Row): SnapshotRecord {
  return {
    id: row.id,
    projectId: row.project_id,
    parentId: row.parent_id,
    createdAt: row.created_at,
    files: row.files,
    bytes: row.bytes,
    uploadedBytes: row.uploaded_bytes,
    packs: JSON.parse(row.packs) as PackId[],
  };
}

/**
 * Insert a record; false when it already exists. Ids are content hashes, so an
 * existing row with this id describes the same manifest (e.g. a retried commit).
 */
export async function insertRecord(db: D1Database, record: SnapshotRecord): Promise<boolean> {
  const result = await db
    .prepare(
      `INSERT INTO snapshots (id, project_id, parent_id, created_at, files, bytes, uploaded_bytes, packs)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    )
    .bind(
      record.id,
      record.projectId,
      record.parentId,
      record.createdAt,
      record.files,
      record.bytes,
      record.uploadedBytes,
      JSON.stringify(record.packs),
    )
    .run();
  return result.meta.changes === 1;
}

/** One record of a project, or null. */
export async function getRecord(db: D1Database, projectId: string, id: SnapshotId): Promise<SnapshotRecord | null> {
  const row = await db
    .prepare("SELECT * FROM snapshots WHERE project_id = ? AND id = ?")
    .bind(projectId, id)
    .first<Row>();
  return row ? fromRow(row) : null;
}

/** All records of a project, newest first (commit time, then insertion order). */
export async function listRecords(db: D1Database, projectId: string): Promise<SnapshotRecord[]> {
  const { results } = await db
    .prepare("SELECT * FROM snapshots WHERE project_id = ? ORDER BY created_at DESC, rowid DESC")
    .bind(projectId)
    .all<Row>();
  return results.map(fromRow);
}

/** The project's snapshots for clients, newest first, the head marked. */
export async function listSnapshotInfos(db: D1Database, projectId: string): Promise<SnapshotInfo[]> {
  const { results } = await db
    .prepare(
      `SELECT s.*, (h.snapshot_id IS NOT NULL) AS is_head FROM snapshots s
       LEFT JOIN heads h ON h.project_id = s.project_id AND h.snapshot_id = s.id
       WHERE s.project_id = ? ORDER BY s.created_at DESC, s.rowid DESC`,
    )
    .bind(projectId)
    .all<Row & { is_head: number }>();
  return results.map((row) => ({
    snapshotId: row.id,
    parent: row.parent_id,
    createdAt: row.created_at,
    files: row.files,
    bytes: row.bytes,
    uploadedBytes: row.uploaded_bytes,
    isHead: row.is_head === 1,
  }));
}

/**
 * Delete a record unless it is the project's head, in one statement (the head
 * check and the delete cannot be interleaved). True when a row was deleted.
 */
export async function deleteRecordUnlessHead(db: D1Database, projectId: string, id: SnapshotId): Promise<boolean> {
  const result = await db
    .prepare(
      `DELETE FROM snapshots WHERE project_id = ? AND id = ?
       AND NOT EXISTS (SELECT 1 FROM heads WHERE project_id = ? AND snapshot_id = ?)`,
    )
    .bind(projectId, id, projectId, id)
    .run();
  return result.meta.changes === 1;
}
