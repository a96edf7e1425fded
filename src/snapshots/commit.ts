/**
 * @module snapshots/commit
 * Committing a snapshot: the one call that makes uploaded packs into a snapshot
 * and moves the head. Order (restic's): the packs are already stored; check they
 * all exist, write the manifest, insert the record, then compare-and-swap the head
 * from manifest.parent. Anything failing before the swap leaves the head where it
 * was; a lost swap removes the loser's record and manifest again and answers 409.
 */
import { HeadMovedError, ValidationError } from "../errors";
import { ManifestSchema } from "../shared/manifest";
import type { CommitResponse, Manifest, PackId, SnapshotId } from "../shared/snapshot-format";
import { manifestText } from "../shared/snapshot-format";
import { parseOrThrow } from "../validation";
import { moveHead } from "./heads";
import { manifestKey, packSize, putManifest, sha256Hex } from "./packs";
import { deleteRecordUnlessHead, getRecord, insertRecord } from "./records";

/** The distinct packs a manifest's files point into, sorted. */
export function referencedPacks(manifest: Manifest): PackId[] {
  const packs = new Set<PackId>();
  for (const entry of manifest.entries) if (entry.type === "file" && entry.loc) packs.add(entry.loc.pack);
  return [...packs].sort();
}

export interface CommitDeps {
  bucket: R2Bucket;
  db: D1Database;
  now?: () => Date;
}

/**
 * Commit `rawManifest` (the JSON value the runner sent) for `projectId`. The id is
 * the SHA-256 of `manifestText` of the value as received, so it equals the id the
 * runner computed; validation never reorders what gets hashed and stored.
 */
export async function commitSnapshot(
  deps: CommitDeps,
  projectId: string,
  rawManifest: unknown,
): Promise<CommitResponse> {
  const manifest: Manifest = parseOrThrow(ManifestSchema, rawManifest, "manifest");
  if (manifest.projectId !== projectId) {
    throw new ValidationError(
      `manifest.projectId is ${manifest.projectId}, not ${projectId}`,
      undefined,
      "PROJECT_MISMATCH",
    );
  }
  const text = manifestText(rawManifest as Manifest);
  const snapshotId: SnapshotId = await sha256Hex(text);

  // Every referenced pack must be stored before anything is written.
  const packs = referencedPacks(manifest);
  const sizes = await Promise.all(packs.map((p) => packSize(deps.bucket, projectId, p)));
  const missing = packs.filter((_, i) => sizes[i] === null);
  if (missing.length > 0) {
    throw new ValidationError(`${missing.length} referenced pack(s) are not stored`, { missing }, "MISSING_PACKS");
  }
  for (const entry of manifest.entries) {
    if (entry.type !== "file" || !entry.loc) continue;
    const size = sizes[packs.indexOf(entry.loc.pack)] ?? 0;
    if (entry.loc.offset + entry.loc.length > size) {
      throw new ValidationError(
        `${entry.path}: its blob lies beyond the end of pack ${entry.loc.pack}`,
        {
          path: entry.path,
        },
        "BLOB_OUT_OF_PACK",
      );
    }
  }

  // Bytes of packs this snapshot added: those its parent did not reference.
  const parentRecord = manifest.parent ? await getRecord(deps.db, projectId, manifest.parent) : null;
  const parentPacks = new Set(parentRecord?.packs ?? []);
  const uploadedBytes = packs.reduce((sum, p, i) => (parentPacks.has(p) ? sum : sum + (sizes[i] ?? 0)), 0);

  await putManifest(deps.bucket, projectId, snapshotId, text);
  const inserted = await insertRecord(deps.db, {
    id: snapshotId,
    projectId,
    parentId: manifest.parent,
    createdAt: (deps.now?.() ?? new Date()).toISOString(),
    files: manifest.summary.files,
    bytes: manifest.summary.bytes,
    uploadedBytes,
    packs,
  });

  const move = await moveHead(deps.db, projectId, manifest.parent, snapshotId, deps.now?.());
  if (move.moved || move.head === snapshotId) {
    // Moved now, or an earlier identical commit (a retry whose answer was lost) moved it.
    return { snapshotId, head: snapshotId };
  }
  // Lost: undo what this call added, unless the record pre-existed or became the head meanwhile.
  if (inserted && (await deleteRecordUnlessHead(deps.db, projectId, snapshotId))) {
    await deps.bucket.delete(manifestKey(projectId, snapshotId));
  }
  throw new HeadMovedError(manifest.parent, move.head);
}
