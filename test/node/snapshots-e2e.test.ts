/**
 * Workspaces survive, end to end (local jails): the Worker under wrangler
 * dev with local R2 and D1, a real sandboxd with bubblewrap, and the bundled
 * runner in the sandbox calling back to the runner API. Snapshot, destroy, create
 * again (the head comes back by itself), restore an older snapshot.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../support/stack.ts";

let stack: Stack;
const p = "persist-e2e";
const call = (method: string, path: string, body?: unknown) => stack.call(method, path, body);
const sh = async (command: string) => {
  const { body } = await call("POST", `/sandboxes/${p}/exec`, { command });
  return body.data as { stdout: string; stderr: string; exitCode: number };
};

describe("snapshots end to end", () => {
  beforeAll(async () => {
    stack = await startStack();
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  let first = "";
  let second = "";

  it("a new project has nothing to restore", async () => {
    const { status, body } = await call("POST", `/sandboxes/${p}`);
    expect(status).toBe(200);
    expect(body.data).toMatchObject({ status: "ready", restoredSnapshot: null });
  });

  it("takes a snapshot of the workspace, leaving ignored paths out", async () => {
    const setup = await sh(
      [
        "mkdir -p src empty/dir node_modules/dep",
        "printf 'hello\\n' > src/a.txt",
        "printf 'secret=1' > .env",
        "echo dep > node_modules/dep/index.js",
        "printf '#!/bin/sh\\necho run\\n' > run.sh && chmod 755 run.sh",
        "head -c 3000 /dev/urandom > blob.bin",
        "ln -s src/a.txt link",
        "touch empty.txt",
      ].join(" && "),
    );
    expect(setup.exitCode).toBe(0);
    const { status, body } = await call("POST", `/sandboxes/${p}/snapshots`);
    expect(status, JSON.stringify(body)).toBe(201);
    expect(body.data).toMatchObject({ unchanged: false, snapshotId: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(body.data?.files).toBe(4); // src/a.txt, run.sh, blob.bin, empty.txt
    expect(body.data?.uploadedBytes).toBeGreaterThan(3000);
    first = String(body.data?.snapshotId);
  });

  it("a snapshot with no change uploads nothing and keeps the head", async () => {
    const { body } = await call("POST", `/sandboxes/${p}/snapshots`);
    expect(body.data).toMatchObject({ snapshotId: first, unchanged: true, uploadedBytes: 0 });
  });

  it("a one-file change uploads about that file and links to its parent", async () => {
    await sh("printf 'changed\\n' > src/a.txt && echo new > later.txt");
    const { body } = await call("POST", `/sandboxes/${p}/snapshots`);
    expect(body.data?.unchanged).toBe(false);
    expect(body.data?.uploadedBytes).toBeLessThan(4096);
    second = String(body.data?.snapshotId);
    const list = await call("GET", `/sandboxes/${p}/snapshots`);
    expect(list.body.data?.head).toBe(second);
    const snaps = list.body.data?.snapshots as Array<{ snapshotId: string; parent: string | null; isHead: boolean }>;
    expect(snaps.map((s) => [s.snapshotId, s.parent, s.isHead])).toEqual([
      [second, first, true],
      [first, null, false],
    ]);
  });

  it("destroy snapshots first, and a new sandbox gets the head back by itself", async () => {
    const before = await sh("sha256sum blob.bin");
    const destroyed = await call("DELETE", `/sandboxes/${p}?destroy=true`);
    expect(destroyed.body.data).toMatchObject({ status: "destroyed", snapshotId: second });
    expect((await call("GET", `/sandboxes/${p}`)).status).toBe(404);

    const created = await call("POST", `/sandboxes/${p}`);
    expect(created.body.data).toMatchObject({ status: "ready", restoredSnapshot: second });
    expect((await sh("cat src/a.txt later.txt")).stdout).toBe("changed\nnew\n");
    expect((await sh("sha256sum blob.bin")).stdout).toBe(before.stdout);
    expect((await sh("stat -c %a run.sh && ./run.sh && readlink link && test -d empty/dir && echo dir")).stdout).toBe(
      "755\nrun\nsrc/a.txt\ndir\n",
    );
    expect((await sh("test -s empty.txt; echo $?; ls -A")).stdout).toBe(
      "1\nblob.bin\nempty\nempty.txt\nlater.txt\nlink\nrun.sh\nsrc\n",
    );
  });

  it("restores an older snapshot exactly, removing what it lacks", async () => {
    const { status, body } = await call("POST", `/sandboxes/${p}/restore`, { snapshotId: first });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.data).toMatchObject({ snapshotId: first, restored: true });
    expect(body.data?.deleted).toBeGreaterThanOrEqual(1);
    expect((await sh("cat src/a.txt; test -e later.txt; echo $?")).stdout).toBe("hello\n1\n");
  });

  it("a restore with nothing to change downloads nothing", async () => {
    const { body } = await call("POST", `/sandboxes/${p}/restore`, { snapshotId: first });
    expect(body.data).toMatchObject({ snapshotId: first, downloadedBytes: 0 });
  });

  it("destroy with snapshot=false takes no snapshot", async () => {
    await sh("echo lost > lost.txt");
    const { body } = await call("DELETE", `/sandboxes/${p}?destroy=true&snapshot=false`);
    expect(body.data).toMatchObject({ status: "destroyed", snapshotId: null });
    const list = await call("GET", `/sandboxes/${p}/snapshots`);
    expect(list.body.data?.head).toBe(second);
  });
});
