/**
 * The workspace lock (container/runner/workspace-lock.ts): restores and snapshots
 * of one workspace never overlap, and a lock dies with its holder.
 */
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { lockWorkspace, WORKSPACE_LOCK_FILE } from "../../../container/runner/workspace-lock.ts";
import { cleanupTemp, restore, snap, stateDirOf, tempDir } from "../../support/runner-fixtures.ts";
import { MemStore } from "../../support/runner-mem-store.ts";

/** Whether `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
}

describe("workspace lock", () => {
  afterEach(cleanupTemp);

  it("lets one holder in at a time", async () => {
    const state = await tempDir();
    const releaseA = await lockWorkspace(state);
    const b = lockWorkspace(state);
    expect(await settlesWithin(b, 300)).toBe(false);
    await releaseA();
    const releaseB = await b;
    await releaseB();
  });

  it("is free again when its holder dies", async () => {
    const state = await tempDir();
    const holder = spawn("flock", ["-x", "-o", join(state, WORKSPACE_LOCK_FILE), "-c", "echo held; sleep 30"], {
      detached: true,
    });
    await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
    const waiting = lockWorkspace(state);
    expect(await settlesWithin(waiting, 300)).toBe(false);
    holder.kill("SIGKILL");
    expect(await settlesWithin(waiting, 5_000)).toBe(true);
    await (await waiting)();
    process.kill(-(holder.pid as number), "SIGKILL"); // its sleep, orphaned by the kill
  });

  it("a snapshot waits for a restore in progress, and a restore for a snapshot", async () => {
    const store = new MemStore();
    const ws = await tempDir();
    await writeFile(join(ws, "a.txt"), "one");
    const first = await snap(store, ws);

    // A restore (or anything else) holding the lock: the snapshot does not scan meanwhile.
    const release = await lockWorkspace(stateDirOf(ws));
    const snapshot = snap(store, ws);
    expect(await settlesWithin(snapshot, 400)).toBe(false);
    await release();
    expect((await snapshot).snapshotId).toBe(first.snapshotId);

    const releaseAgain = await lockWorkspace(stateDirOf(ws));
    const restoring = restore(store, ws);
    expect(await settlesWithin(restoring, 400)).toBe(false);
    await releaseAgain();
    expect((await restoring).snapshotId).toBe(first.snapshotId);
  });
});
