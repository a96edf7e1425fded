/**
 * @module test/support/runner-fixtures
 * Helpers for the runner tests: temp workspaces, one-call snapshot/restore over a
 * store, and a comparable description of a tree (type, mode, content hash, link
 * target per path) to assert exact round trips.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ArchiveResult, takeSnapshot } from "../../container/runner/archiver.ts";
import { hashFile } from "../../container/runner/hash.ts";
import { type IgnoreRules, loadIgnoreRules } from "../../container/runner/ignore.ts";
import { type RestoreResult, restoreSnapshot } from "../../container/runner/restorer.ts";
import { scanWorkspace } from "../../container/runner/scan.ts";
import type { SnapshotStore } from "../../container/runner/store.ts";

const made: string[] = [];

/** A fresh temp directory, removed by `cleanupTemp()`. */
export async function tempDir(prefix = "runner-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * The runner state directory that goes with workspace `ws` (what SANDBOX_STATE_DIR
 * names in a sandbox): a sibling, so two test workspaces never share state.
 */
export function stateDirOf(ws: string): string {
  const dir = `${ws}.runner-state`;
  if (!made.includes(dir)) made.push(dir);
  return dir;
}

/** Removes every directory tempDir made. */
export async function cleanupTemp(): Promise<void> {
  for (const d of made.splice(0)) await rm(d, { recursive: true, force: true });
}

/** Snapshot `ws` into `store` with default rules (plus `extra`). */
export async function snap(
  store: SnapshotStore,
  ws: string,
  opts: { extra?: string[]; ignoreGit?: boolean; packTargetBytes?: number } = {},
): Promise<ArchiveResult> {
  const rules = await loadIgnoreRules(ws, { extra: opts.extra ?? [], ignoreGit: opts.ignoreGit ?? false });
  return takeSnapshot({
    store,
    workspace: ws,
    stateDir: stateDirOf(ws),
    projectId: "demo",
    rules,
    ...(opts.packTargetBytes ? { packTargetBytes: opts.packTargetBytes } : {}),
  });
}

/** Restore into `ws` with default rules. */
export async function restore(store: SnapshotStore, ws: string, snapshotId?: string): Promise<RestoreResult> {
  const rules = await loadIgnoreRules(ws);
  return restoreSnapshot({ store, workspace: ws, stateDir: stateDirOf(ws), rules, snapshotId: snapshotId ?? null });
}

/** path → "file 755 <sha> " | "dir 700" | "symlink -> target", for exact comparisons. */
export async function describeTree(ws: string, rules?: IgnoreRules): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const r = rules ?? (await loadIgnoreRules(ws));
  for (const e of await scanWorkspace(ws, r)) {
    if (e.type === "file") out[e.path] = `file ${e.mode.toString(8)} ${(await hashFile(join(ws, e.path))).hash}`;
    else if (e.type === "dir") out[e.path] = `dir ${e.mode.toString(8)}`;
    else out[e.path] = `symlink -> ${e.target}`;
  }
  return out;
}
