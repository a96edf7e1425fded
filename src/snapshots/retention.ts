/**
 * @module snapshots/retention
 * Retention and pack garbage collection for one project. Keeps the newest `keep`
 * snapshots plus the head (whatever its age), deletes older records and their
 * manifests, then deletes packs that no kept snapshot references AND that were
 * uploaded longer than `graceMs` ago: a snapshot being uploaded right now has
 * packs no record references yet, and the grace period keeps them.
 */
import { getHead } from "./heads";
import { manifestKey, packsPrefix } from "./packs";
import { deleteRecordUnlessHead, listRecords } from "./records";

/** Packs younger than this are never collected (an upload may be in flight). */
export const DEFAULT_PACK_GRACE_MS = 60 * 60 * 1000;

export interface RetentionOptions {
  keep: number;
  graceMs?: number;
  now?: Date;
}

export interface RetentionResult {
  deletedSnapshots: string[];
  deletedPacks: string[];
  keptSnapshots: number;
}

/** R2 deletes at most 1000 keys per call. */
const DELETE_BATCH = 1000;

async function deleteKeys(bucket: R2Bucket, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += DELETE_BATCH) await bucket.delete(keys.slice(i, i + DELETE_BATCH));
}

/** Apply retention and pack GC to `projectId`. Safe to run concurrently with commits and with itself. */
export async function applyRetention(
  bucket: R2Bucket,
  db: D1Database,
  projectId: string,
  options: RetentionOptions,
): Promise<RetentionResult> {
  const graceMs = options.graceMs ?? DEFAULT_PACK_GRACE_MS;
  const now = options.now ?? new Date();
  const head = await getHead(db, projectId);
  const records = await listRecords(db, projectId);

  const expired = records.slice(options.keep).filter((r) => r.id !== head);
  const deletedSnapshots: string[] = [];
  for (const record of expired) {
    // The head check is inside the DELETE, so a record that became the head meanwhile stays.
    if (await deleteRecordUnlessHead(db, projectId, record.id)) deletedSnapshots.push(record.id);
  }
  await deleteKeys(
    bucket,
    deletedSnapshots.map((id) => manifestKey(projectId, id)),
  );

  // Referenced = packs of every record left after the deletes (re-read: commits may have landed).
  const referenced = new Set<string>();
  const kept = await listRecords(db, projectId);
  for (const record of kept) for (const pack of record.packs) referenced.add(pack);

  const prefix = packsPrefix(projectId);
  const doomed: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix, cursor, limit: 1000 });
    for (const object of page.objects) {
      const packId = object.key.slice(prefix.length);
      const age = now.getTime() - object.uploaded.getTime();
      if (!referenced.has(packId) && age > graceMs) doomed.push(object.key);
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  await deleteKeys(bucket, doomed);

  return {
    deletedSnapshots,
    deletedPacks: doomed.map((key) => key.slice(prefix.length)),
    keptSnapshots: kept.length,
  };
}
