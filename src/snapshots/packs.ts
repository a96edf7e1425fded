/**
 * @module snapshots/packs
 * Packs and manifests in R2. Keys:
 *   projects/<projectId>/packs/<packId>              pack bytes (content-addressed)
 *   projects/<projectId>/snapshots/<snapshotId>.json manifest text as committed
 * Uploads are streamed (a 200 MB pack is never held in memory) and their SHA-256
 * is checked by R2 itself (`sha256` put option), so a wrong body is never stored.
 */
import { AppError, ValidationError } from "../errors";
import type { PackId, SnapshotId } from "../shared/snapshot-format";

/** R2's limit for a single put (5 GiB); a pack larger than that could not be stored at all. */
export const MAX_PACK_BYTES = 5 * 1024 ** 3;

/** Prefix of a project's packs. */
export function packsPrefix(projectId: string): string {
  return `projects/${projectId}/packs/`;
}

/** R2 key of a pack. */
export function packKey(projectId: string, packId: PackId): string {
  return `${packsPrefix(projectId)}${packId}`;
}

/** R2 key of a snapshot's manifest. */
export function manifestKey(projectId: string, snapshotId: SnapshotId): string {
  return `projects/${projectId}/snapshots/${snapshotId}.json`;
}

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** SHA-256 of a string's UTF-8 bytes, lowercase hex. */
export async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Size of a stored pack, or null when it is absent. */
export async function packSize(bucket: R2Bucket, projectId: string, packId: PackId): Promise<number | null> {
  const head = await bucket.head(packKey(projectId, packId));
  return head ? head.size : null;
}

/** R2's error code for a body whose checksum is not the one the put named (BadDigest). */
const R2_BAD_DIGEST = 10037;

function isBadDigest(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return message.includes(`(${R2_BAD_DIGEST})`) || /checksum you specified did not match/i.test(message);
}

/**
 * Store a pack from a stream of exactly `length` bytes whose SHA-256 must be
 * `packId`. A pack already stored is content-identical, so it is kept and the body
 * is not read. Throws PACK_HASH_MISMATCH (nothing stored) or BODY_LENGTH_MISMATCH.
 *
 * The body goes to R2 through native streams only: R2 checks the SHA-256 itself
 * (`sha256` option; a wrong body is refused with BadDigest and never stored) and
 * FixedLengthStream fails a body shorter or longer than announced. A JS transform
 * that hashed and counted each chunk on the way halved ingestion in workerd
 * (27 vs 45–56 MB/s for 16 MiB packs under Miniflare, bench:snapshot's bottleneck).
 */
export async function putPack(
  bucket: R2Bucket,
  projectId: string,
  packId: PackId,
  body: ReadableStream<Uint8Array>,
  length: number,
): Promise<{ packId: PackId; size: number; created: boolean }> {
  const key = packKey(projectId, packId);
  const existing = await bucket.head(key);
  if (existing) {
    await body.cancel().catch(() => {});
    return { packId, size: existing.size, created: false };
  }

  // R2 needs a known length for a streamed put; FixedLengthStream also fails a body
  // that is shorter or longer than Content-Length said.
  const fixed = new FixedLengthStream(length);
  const [put, pump] = await Promise.allSettled([
    bucket.put(key, fixed.readable, { sha256: packId, httpMetadata: { contentType: "application/octet-stream" } }),
    body.pipeTo(fixed.writable),
  ]);
  // A short body surfaces on either side: as the pipe's failure, or as R2's read of the
  // FixedLengthStream failing ("did not see all expected bytes").
  const shortOrLong =
    pump.status === "rejected" || (put.status === "rejected" && /FixedLengthStream/.test(String(put.reason)));
  if (shortOrLong) {
    // Should the store have kept a truncated body anyway, it must not stay under this id.
    if (put.status === "fulfilled") await bucket.delete(key);
    throw new ValidationError(
      `The body did not have the ${length} bytes Content-Length announced; nothing was stored`,
      { expectedBytes: length },
      "BODY_LENGTH_MISMATCH",
    );
  }
  if (put.status === "rejected") {
    if (isBadDigest(put.reason)) {
      throw new ValidationError(
        `Pack hash mismatch: the body's SHA-256 is not ${packId}; nothing was stored`,
        // R2's own words name the SHA-256 it computed.
        { expected: packId, store: put.reason instanceof Error ? put.reason.message : String(put.reason) },
        "PACK_HASH_MISMATCH",
      );
    }
    throw put.reason;
  }
  return { packId, size: length, created: true };
}

/** A parsed single `Range: bytes=…` request. */
export type ByteRange = { offset: number; length?: number } | { suffix: number };

/** Parse a `Range` header (one range only); undefined = no header; throws 416 on anything else. */
export function parseRange(header: string | undefined): ByteRange | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  const [start, end] = [match?.[1] ?? "", match?.[2] ?? ""];
  if (!match || (start === "" && end === "")) throw rangeError(header);
  if (start === "") {
    const suffix = Number(end);
    if (suffix === 0) throw rangeError(header);
    return { suffix };
  }
  const offset = Number(start);
  if (end === "") return { offset };
  const last = Number(end);
  if (last < offset) throw rangeError(header);
  return { offset, length: last - offset + 1 };
}

function rangeError(header: string): AppError {
  return new AppError(`Unsupported or unsatisfiable Range ${JSON.stringify(header)}`, "RANGE_NOT_SATISFIABLE");
}

/** A pack (or one range of it) as a body plus where it sits in the whole object. */
export interface PackRead {
  body: ReadableStream<Uint8Array>;
  size: number;
  /** Present for ranged reads: the first byte and the byte count actually served. */
  range?: { offset: number; length: number };
}

/** Read a pack, whole or one range (clamped to the object's end); null when absent. */
export async function readPack(
  bucket: R2Bucket,
  projectId: string,
  packId: PackId,
  range?: ByteRange,
): Promise<PackRead | null> {
  const key = packKey(projectId, packId);
  if (!range) {
    const object = await bucket.get(key);
    return object ? { body: object.body, size: object.size } : null;
  }
  // The size decides whether (and how) the range is satisfiable, so look first.
  const head = await bucket.head(key);
  if (!head) return null;
  const size = head.size;
  let offset: number;
  let end: number; // exclusive
  if ("suffix" in range) {
    offset = Math.max(0, size - range.suffix);
    end = size;
  } else {
    offset = range.offset;
    end = range.length === undefined ? size : Math.min(size, range.offset + range.length);
  }
  if (offset >= size || end <= offset) throw rangeError(`bytes=${offset}-`);
  const object = await bucket.get(key, { range: { offset, length: end - offset } });
  if (!object) return null;
  return { body: object.body, size, range: { offset, length: end - offset } };
}

/** Store a manifest's text. */
export async function putManifest(bucket: R2Bucket, projectId: string, id: SnapshotId, text: string): Promise<void> {
  await bucket.put(manifestKey(projectId, id), text, { httpMetadata: { contentType: "application/json" } });
}

/** A manifest's text exactly as committed, or null. */
export async function getManifestText(bucket: R2Bucket, projectId: string, id: SnapshotId): Promise<string | null> {
  const object = await bucket.get(manifestKey(projectId, id));
  return object ? await object.text() : null;
}
