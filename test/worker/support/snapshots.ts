/**
 * @module test/worker/support/snapshots
 * Helpers for the snapshot tests: build real packs (the format of
 * src/shared/snapshot-format.ts) and manifests, mint runner tokens the way the
 * Worker does, and call the runner API through the real entry.
 */
import { env, exports } from "cloudflare:workers";
import {
  type Manifest,
  type ManifestEntry,
  manifestText,
  RUNNER_API_PREFIX,
} from "../../../src/shared/snapshot-format";
import { createSnapshotService, type SnapshotService } from "../../../src/snapshots/service";
import { createRunnerTokens, runnerTokenSecret } from "../../../src/snapshots/tokens";
import { TOKEN } from "./http";

const encoder = new TextEncoder();

/**
 * The snapshot service over the test R2 and D1, its runner API at `runnerApiUrl` (the tests
 * that drive the runner give one no sandbox can reach: each run fails there).
 */
export function snapshotsAt(runnerApiUrl: string): SnapshotService {
  return createSnapshotService({
    bucket: env.SNAPSHOTS,
    db: env.DB,
    keep: 20,
    secrets: { API_TOKEN: TOKEN },
    runnerApiUrl,
  });
}

export async function sha256(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A built pack: its bytes, id, and where each file's blob sits. */
export interface BuiltPack {
  id: string;
  bytes: Uint8Array;
  blobs: Array<{ name: string; blob: string; offset: number; length: number }>;
}

/** Pack `files` (name → content) in the runner's format: the blobs back to back. */
export async function buildPack(files: Record<string, string | Uint8Array>): Promise<BuiltPack> {
  const parts: Uint8Array[] = [];
  const blobs: BuiltPack["blobs"] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(files)) {
    const bytes = typeof content === "string" ? encoder.encode(content) : content;
    const blob = await sha256(bytes);
    blobs.push({ name, blob, offset, length: bytes.byteLength });
    parts.push(bytes);
    offset += bytes.byteLength;
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.byteLength;
  }
  return { id: await sha256(bytes), bytes, blobs };
}

/** A manifest whose files are every blob of `packs`, on top of `parent`. */
export function buildManifest(
  projectId: string,
  parent: string | null,
  packs: BuiltPack[],
  extra: ManifestEntry[] = [],
): Manifest {
  const entries: ManifestEntry[] = [...extra];
  for (const pack of packs) {
    for (const b of pack.blobs) {
      entries.push({
        type: "file",
        path: b.name,
        mode: 0o644,
        size: b.length,
        mtimeMs: 1_700_000_000_000,
        blob: b.blob,
        loc: { pack: pack.id, offset: b.offset, length: b.length },
      });
    }
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const files = entries.filter((e) => e.type === "file");
  return {
    version: 1,
    projectId,
    parent,
    createdAt: new Date().toISOString(),
    entries,
    summary: {
      files: files.length,
      dirs: entries.filter((e) => e.type === "dir").length,
      symlinks: entries.filter((e) => e.type === "symlink").length,
      bytes: files.reduce((n, f) => n + (f.type === "file" ? f.size : 0), 0),
    },
  };
}

/** The id the runner computes for a manifest. */
export async function snapshotIdOf(manifest: Manifest): Promise<string> {
  return await sha256(manifestText(manifest));
}

/** Runner tokens signed with the key the Worker under test derives from its API_TOKEN. */
export const testTokens = createRunnerTokens(runnerTokenSecret({ API_TOKEN: TOKEN }));

/** A request to the runner API of `projectId` through the real entry, with a fresh token unless given. */
export async function runner(
  projectId: string,
  path: string,
  init: RequestInit & { json?: unknown; token?: string | null } = {},
): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = init.token === undefined ? await testTokens.mint(projectId, 300) : init.token;
  if (token !== null) headers.set("authorization", `Bearer ${token}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  const url = `http://sandbox.test${RUNNER_API_PREFIX}/${projectId}${path}`;
  return await exports.default.fetch(new Request(url, { ...init, headers, body }));
}

/** PUT a pack (Content-Length set, as an HTTP client would). */
export async function putPack(projectId: string, pack: BuiltPack, id = pack.id): Promise<Response> {
  return await runner(projectId, `/packs/${id}`, {
    method: "PUT",
    body: pack.bytes,
    headers: { "content-length": String(pack.bytes.byteLength), "content-type": "application/octet-stream" },
  });
}

/** POST a commit; returns status and parsed body. */
export async function commit(
  projectId: string,
  manifest: Manifest,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await runner(projectId, "/snapshots", { method: "POST", json: { manifest } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The head as the runner API reports it. */
export async function head(projectId: string): Promise<string | null> {
  const res = await runner(projectId, "/head");
  return ((await res.json()) as { snapshotId: string | null }).snapshotId;
}
