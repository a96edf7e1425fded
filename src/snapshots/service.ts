/**
 * @module snapshots/service
 * The snapshot service the routes use and the lead's user-facing API calls: one
 * object over the R2 bucket and the D1 database, built by index.ts from env.
 * Retention runs inline after each successful commit (see `commit`).
 */
import type { CommitResponse, PackId, SnapshotId, SnapshotInfo } from "../shared/snapshot-format";
import { commitSnapshot } from "./commit";
import { getHead } from "./heads";
import { type ByteRange, getManifestText, type PackRead, packSize, putPack, readPack } from "./packs";
import { listSnapshotInfos } from "./records";
import { applyRetention, type RetentionResult } from "./retention";
import { createRunnerTokens, type RunnerTokens, runnerTokenSecret } from "./tokens";

export interface SnapshotServiceOptions {
  bucket: R2Bucket;
  db: D1Database;
  /** Snapshots kept per project besides the head (SNAPSHOT_KEEP). */
  keep: number;
  secrets: { RUNNER_TOKEN_SECRET?: string | undefined; API_TOKEN?: string | undefined };
  /**
   * Base URL runners use (RUNNER_INTERNAL_ORIGIN); null when sandboxes cannot reach the
   * Worker (local jails whose host does not know the Worker's address: RUNNER_API_URL unset).
   */
  runnerApiUrl: string | null;
  /** Pack GC grace period (default 1 hour). */
  packGraceMs?: number;
}

export interface SnapshotService {
  readonly tokens: RunnerTokens;
  /** What runners get as SANDBOX_RUNNER_API; null when sandboxes cannot reach the Worker. */
  readonly runnerApiUrl: string | null;
  /** A runner token for one project (optionally one job), valid for `ttlSeconds`. */
  mintRunnerToken(projectId: string, ttlSeconds: number, jobId?: string): Promise<string>;
  /** The project's snapshots, newest first, with parents and the head marked. */
  listSnapshots(projectId: string): Promise<SnapshotInfo[]>;
  getHead(projectId: string): Promise<SnapshotId | null>;
  getManifestText(projectId: string, snapshotId: SnapshotId): Promise<string | null>;
  packSize(projectId: string, packId: PackId): Promise<number | null>;
  putPack(
    projectId: string,
    packId: PackId,
    body: ReadableStream<Uint8Array>,
    length: number,
  ): Promise<{ packId: PackId; size: number; created: boolean }>;
  readPack(projectId: string, packId: PackId, range?: ByteRange): Promise<PackRead | null>;
  /** Commit a manifest and move the head; then apply retention (its failure never fails the commit). */
  commit(projectId: string, rawManifest: unknown): Promise<CommitResponse>;
  applyRetention(projectId: string, options?: { graceMs?: number; now?: Date }): Promise<RetentionResult>;
}

export function createSnapshotService(options: SnapshotServiceOptions): SnapshotService {
  const { bucket, db, keep } = options;
  const tokens = createRunnerTokens(runnerTokenSecret(options.secrets));
  const retain = (projectId: string, o: { graceMs?: number; now?: Date } = {}) =>
    applyRetention(bucket, db, projectId, { keep, graceMs: o.graceMs ?? options.packGraceMs, now: o.now });

  return {
    tokens,
    runnerApiUrl: options.runnerApiUrl,
    mintRunnerToken: (projectId, ttlSeconds, jobId) => tokens.mint(projectId, ttlSeconds, jobId),
    listSnapshots: (projectId) => listSnapshotInfos(db, projectId),
    getHead: (projectId) => getHead(db, projectId),
    getManifestText: (projectId, snapshotId) => getManifestText(bucket, projectId, snapshotId),
    packSize: (projectId, packId) => packSize(bucket, projectId, packId),
    putPack: (projectId, packId, body, length) => putPack(bucket, projectId, packId, body, length),
    readPack: (projectId, packId, range) => readPack(bucket, projectId, packId, range),
    async commit(projectId, rawManifest) {
      const result = await commitSnapshot({ bucket, db }, projectId, rawManifest);
      // Inline rather than waitUntil: the runner API is also served from the Sandbox's
      // outbound handler, which has no ExecutionContext; a few D1 rows and one R2 list
      // per commit are cheap, and the commit's answer then means "retention applied".
      try {
        await retain(projectId);
      } catch (err) {
        console.error("snapshot retention failed", projectId, err);
      }
      return result;
    },
    applyRetention: retain,
  };
}
