/**
 * Continuous sync end to end: creating a sandbox starts `runner sync --watch` in it
 * (once), and a change made later reaches a snapshot by itself — so a destroyed
 * workspace comes back with it although nobody asked for a snapshot.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../support/stack.ts";

let stack: Stack;
const p = "sync-e2e";

async function headAfter(previous: unknown, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await stack.call("GET", `/sandboxes/${p}/snapshots`);
    const head = body.data?.head;
    if (typeof head === "string" && head !== previous) return head;
    if (Date.now() > deadline) throw new Error(`no new head after ${timeoutMs} ms (still ${String(head)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("continuous sync", () => {
  beforeAll(async () => {
    stack = await startStack({ SYNC_ON_CREATE: "true", SYNC_INTERVAL_MS: "1000" });
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("starts one sync process per sandbox", async () => {
    const first = await stack.call("POST", `/sandboxes/${p}`);
    const syncId = first.body.data?.syncProcessId;
    expect(syncId).toEqual(expect.any(String));
    const second = await stack.call("POST", `/sandboxes/${p}`);
    expect(second.body.data?.syncProcessId).toBe(syncId);
    // The sync watcher is the Worker's own: users do not see it among their processes…
    const procs = await stack.call("GET", `/sandboxes/${p}/processes`);
    expect(procs.body.data?.processes).toEqual([]);
    // …but it runs, once (the runtime in the project's jail, the only one here, lists every process).
    const { jails } = (await stack.host("GET", "/jails")) as { jails: Array<{ id: string; running: boolean }> };
    const jail = jails.filter((j) => j.running);
    expect(jail).toHaveLength(1);
    const listed = await stack.host("GET", `/jails/${jail[0]?.id}/container/api/process/list`);
    const processes = listed.processes as Array<{ id: string; status: string; command: string }>;
    const running = processes.filter((x) => x.status === "running" && /sync\W+--watch/.test(x.command));
    expect(running.map((x) => x.id)).toEqual([syncId]);
    // Its first act is a snapshot of the workspace as it starts (empty here): wait for it,
    // so the next test's change is not raced by that first scan.
    await headAfter(null);
  });

  it("snapshots a change by itself, and a new sandbox gets it back", async () => {
    const before = (await stack.call("GET", `/sandboxes/${p}/snapshots`)).body.data?.head ?? null;
    const put = await stack.call("PUT", `/sandboxes/${p}/files/workspace/notes/today.md`, { content: "# kept\n" });
    expect(put.status).toBe(200);
    const head = await headAfter(before);

    const destroyed = await stack.call("DELETE", `/sandboxes/${p}?destroy=true&snapshot=false`);
    expect(destroyed.body.data).toMatchObject({ status: "destroyed", snapshotId: null });
    const created = await stack.call("POST", `/sandboxes/${p}`);
    expect(created.body.data?.restoredSnapshot).toBe(head);
    const file = await stack.call("GET", `/sandboxes/${p}/files/workspace/notes/today.md`);
    expect(file.body.data).toMatchObject({ content: "# kept\n" });
  });
});
