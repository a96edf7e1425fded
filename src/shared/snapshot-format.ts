/**
 * @module shared/snapshot-format
 * The snapshot storage format and the runner API's wire types, shared by the
 * runner (container/runner, in the sandbox) and the Worker (src/snapshots). No
 * imports but types, so Node loads it directly and esbuild bundles it into the runner
 * without zod (the manifest's schema, manifest.ts, is imported where it is checked).
 *
 * Vocabulary (as in restic):
 * - blob: one file's content, addressed by the SHA-256 of its bytes (BlobId, 64 hex).
 * - pack: one R2 object holding many blobs back to back and nothing else; addressed
 *   by the SHA-256 of the whole object (PackId).
 * - manifest: one snapshot's content: every entry under the workspace (files with
 *   their blob and its location in a pack, directories, symlinks), its parent, a
 *   summary. Immutable; addressed by snapshotId = SHA-256 of its JSON text.
 *   The manifest doubles as the index for restore: each file names the pack,
 *   offset and length of its blob, so restore needs no other lookup.
 * - head: a project's current snapshot id, the only mutable reference, moved by
 *   compare-and-swap (from the parent the new snapshot names).
 *
 * Write order (restic's): packs first, then the manifest with the head move in one
 * commit call. A runner that dies before the commit leaves the head where it was.
 */

/** Lowercase hex SHA-256. */
export type Sha256Hex = string;
export type BlobId = Sha256Hex;
export type PackId = Sha256Hex;
export type SnapshotId = Sha256Hex;

export const SHA256_HEX = /^[0-9a-f]{64}$/;

// The manifest, its entries and summary: defined once as a zod schema in manifest.ts,
// their types inferred from it.
import type { Manifest } from "./manifest.ts";

export type { BlobLocation, CommitRequest, Manifest, ManifestEntry, ManifestSummary } from "./manifest.ts";

/** Packs are cut at about this size; a larger blob gets a pack of its own. */
export const PACK_TARGET_BYTES = 16 * 1024 * 1024;

// ---- Runner API v1 ---------------------------------------------------------
// Base: `${SANDBOX_RUNNER_API}/runner/v1/projects/:projectId`, every request with
// `Authorization: Bearer <runner token>` (scoped to one project, or one job).
// Errors use the Worker's envelope { success: false, error, code }.
//
//   GET  /head                  → { snapshotId: SnapshotId | null }
//   GET  /snapshots/:id         → the manifest JSON text exactly as committed
//   HEAD /packs/:packId         → 200 if stored, 404 if not
//   PUT  /packs/:packId         → body: the pack bytes (Content-Length required);
//                                 201 { packId, size }; 400 PACK_HASH_MISMATCH if
//                                 SHA-256(body) ≠ packId (nothing is stored)
//   GET  /packs/:packId         → bytes; honours `Range: bytes=a-b` (206)
//   POST /snapshots             → body CommitRequest; 201 CommitResponse;
//                                 409 HEAD_MOVED if the head is not manifest.parent;
//                                 400 MISSING_PACKS if a referenced pack is absent
//   GET  /snapshots             → { snapshots: SnapshotInfo[] } newest first

export const RUNNER_API_PREFIX = "/runner/v1/projects";

export interface CommitResponse {
  snapshotId: SnapshotId;
  /** The head after the commit (equal to snapshotId). */
  head: SnapshotId;
}

export interface SnapshotInfo {
  snapshotId: SnapshotId;
  parent: SnapshotId | null;
  createdAt: string;
  files: number;
  bytes: number;
  /** Bytes of new packs this snapshot uploaded. */
  uploadedBytes: number;
  isHead: boolean;
}

/** The snapshot id of a manifest: SHA-256 of `manifestText(manifest)`, computed by both sides. */
export function manifestText(manifest: Manifest): string {
  return JSON.stringify(manifest);
}

// ---- Runner process contract -------------------------------------------------
// The Worker runs `node ${RUNNER_PATH} <command> --json` in the sandbox with these
// environment variables, and reads one JSON object (RunnerResult) from the last
// line of stdout; human logs go to stderr.

/** Where the runner bundle lives in every sandbox (container image and local bwrap). */
export const RUNNER_PATH = "/opt/sandbox-worker/runner.mjs";
/**
 * The Node the runner runs on: an execute-only copy, so that the runner is not dumpable
 * and the agent's processes (same user, no capabilities) cannot read its environment or
 * memory (container/sandboxd/runner-node.ts; the image makes the same copy).
 */
export const RUNNER_NODE = "/opt/sandbox-node/node";

export const RUNNER_ENV = {
  /** Base URL of the Worker's runner API (no trailing slash). */
  api: "SANDBOX_RUNNER_API",
  /** The scoped bearer token. */
  token: "SANDBOX_RUNNER_TOKEN",
  projectId: "SANDBOX_PROJECT_ID",
  /** Workspace root inside the sandbox (default /workspace). */
  workspace: "SANDBOX_WORKSPACE",
  /** The runner's state directory, outside the workspace (default /var/lib/sandbox-worker). */
  stateDir: "SANDBOX_STATE_DIR",
} as const;

/** The runner's state directory inside a sandbox (the container's disk, or a per-project bind locally). */
export const RUNNER_STATE_DIR = "/var/lib/sandbox-worker";

/** RUNNER_STATE_DIR as a sandbox's shell sees it (unisolated local sandboxes set SANDBOX_STATE_DIR). */
export const STATE_DIR_IN_SHELL = `"\${SANDBOX_STATE_DIR:-${RUNNER_STATE_DIR}}"`;

export type RunnerResult =
  | {
      ok: true;
      command: "snapshot";
      snapshotId: SnapshotId;
      /** True when nothing changed since the head: no new snapshot was written. */
      unchanged: boolean;
      files: number;
      bytes: number;
      uploadedBytes: number;
      durationMs: number;
    }
  | {
      ok: true;
      command: "restore";
      /** Null when the project has no snapshot yet (nothing to restore). */
      snapshotId: SnapshotId | null;
      /** False with `--if-fresh` when the workspace was already initialised. */
      restored: boolean;
      /** True when this restore initialised a fresh workspace (exactly one call per container start). */
      initialized: boolean;
      files: number;
      downloadedBytes: number;
      deleted: number;
      /** The package manager install that ran after restore, if any. */
      install: { command: string; exitCode: number } | null;
      durationMs: number;
    }
  /** `sync --watch` that found another watcher in its sandbox and left at once. */
  | { ok: true; command: "sync"; alreadyRunning: true }
  | { ok: false; command: string; code: string; error: string };
