/**
 * No lost work on any path, end to end: the Worker under wrangler dev with local R2
 * and D1, the bundled runner calling back to the runner API, and each sandbox behind
 * the SDK's real Sandbox Durable Object in a local jail running Cloudflare's container
 * runtime (sandboxd is the jail host). Every path into a sandbox restores the head
 * first; a fresh tree never replaces a head; a second destroy changes nothing; a
 * container stopped behind the API's back comes back with every file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SESSIONLESS } from "../../src/shared/container-runtime.ts";
import { RUNNER_INTERNAL_ORIGIN } from "../../src/shared/egress.ts";
import { RUNNER_ENV, RUNNER_NODE, RUNNER_PATH } from "../../src/shared/snapshot-format.ts";
import { type Stack, startStack } from "../support/stack.ts";

/** `runner snapshot` as the Worker would start it (src/runner-driver/run.ts). */
const RUNNER_LINE = `exec "\${SANDBOX_NODE:-${RUNNER_NODE}}" "\${SANDBOX_RUNNER:-${RUNNER_PATH}}" snapshot --json`;

/** How a test reaches the sandboxes itself, around the Worker: through sandboxd, the jail host. */
function backdoor(stack: Stack) {
  const sandboxd = stack.host;
  let fresh = 0;
  return {
    /** Runs `command` in a brand-new sandbox (never restored), with `env`. */
    async execInFreshSandbox(command: string, env: Record<string, string>) {
      // A jail no Durable Object has used: a new, empty container.
      const id = `fresh-cf-${++fresh}`;
      // Its requests for the runner API reach this stack's Worker, as a Sandbox's jail's do.
      await sandboxd("POST", `/jails/${id}`, { egressUrl: stack.url });
      // Sessionless, as the adapter runs commands (RUNNER_LINE's `exec` would end a session's shell).
      const r = await sandboxd("POST", `/jails/${id}/container/api/execute`, {
        command,
        env,
        sessionId: SESSIONLESS,
      });
      return { stdout: String(r.stdout), exitCode: Number(r.exitCode) };
    },
    /** Kills every running sandbox and drops its disk without the Worker knowing. */
    async stopBehindTheBack() {
      // Jails are named by Durable Object ids, which the test cannot map back to projects;
      // every project here starts afresh anyway, so every running jail goes, disks and all.
      const { jails } = (await sandboxd("GET", "/jails")) as { jails: Array<{ id: string; running: boolean }> };
      const running = jails.filter((j) => j.running);
      for (const j of running) await sandboxd("DELETE", `/jails/${j.id}`);
      expect(running.length).toBeGreaterThan(0);
    },
  };
}

describe("no lost work", () => {
  let stack: Stack;
  let back: ReturnType<typeof backdoor>;
  beforeAll(async () => {
    stack = await startStack({ SYNC_ON_CREATE: "true", SYNC_INTERVAL_MS: "500", SYNC_BATCH_FILES: "1" });
    back = backdoor(stack);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const call = (method: string, path: string, body?: unknown) => stack.call(method, path, body);
  const sh = async (p: string, command: string) => {
    const { status, body } = await call("POST", `/sandboxes/${p}/exec`, { command });
    expect(status, JSON.stringify(body)).toBe(200);
    return body.data as { stdout: string; stderr: string; exitCode: number };
  };
  const put = async (p: string, name: string, content: string) => {
    const { status, body } = await call("PUT", `/sandboxes/${p}/files/workspace/${name}`, { content });
    expect(status, JSON.stringify(body)).toBe(200);
  };
  const head = async (p: string) => (await call("GET", `/sandboxes/${p}/snapshots`)).body.data?.head ?? null;
  const names = async (p: string) => {
    const { body } = await call("GET", `/sandboxes/${p}/ls?path=/workspace`);
    return ((body.data?.entries ?? []) as Array<{ name: string }>).map((e) => e.name).sort();
  };

  it("a write after destroy lands in the restored workspace and survives the next create", async () => {
    const p = "write-after";
    await call("POST", `/sandboxes/${p}`);
    await put(p, "a.txt", "one");
    const destroyed = await call("DELETE", `/sandboxes/${p}?destroy=true`);
    expect(destroyed.body.data).toMatchObject({ status: "destroyed", alreadyStopped: false });
    const first = destroyed.body.data?.snapshotId;
    expect(first).toMatch(/^[0-9a-f]{64}$/);

    // No create: the PUT itself restores the head before it writes.
    await put(p, "b.txt", "two");
    expect(await names(p)).toEqual(["a.txt", "b.txt"]);
    const created = await call("POST", `/sandboxes/${p}`);
    expect(created.body.data).toMatchObject({ status: "ready", restoredSnapshot: null });
    expect((await sh(p, "cat a.txt b.txt")).stdout).toBe("onetwo");

    // And b.txt is part of the project's work from now on.
    const again = await call("DELETE", `/sandboxes/${p}?destroy=true`);
    expect(again.body.data?.snapshotId).not.toBe(first);
    const recreated = await call("POST", `/sandboxes/${p}`);
    expect(recreated.body.data?.restoredSnapshot).toBe(again.body.data?.snapshotId);
    expect((await sh(p, "cat a.txt b.txt")).stdout).toBe("onetwo");
  });

  it("a second destroy changes nothing and says so; a snapshot after destroy restores first", async () => {
    const p = "twice";
    await call("POST", `/sandboxes/${p}`);
    await sh(p, "mkdir -p src && for i in $(seq 1 50); do echo $i > src/f$i.txt; done");
    const first = await call("DELETE", `/sandboxes/${p}?destroy=true`);
    const snapshotId = first.body.data?.snapshotId;
    expect(first.body.data).toMatchObject({ alreadyStopped: false });

    const second = await call("DELETE", `/sandboxes/${p}?destroy=true`);
    expect(second.status).toBe(200);
    expect(second.body.data).toMatchObject({ status: "destroyed", alreadyStopped: true, snapshotId: null });
    expect(await head(p)).toBe(snapshotId);

    const snap = await call("POST", `/sandboxes/${p}/snapshots`);
    expect(snap.status, JSON.stringify(snap.body)).toBe(201);
    expect(snap.body.data).toMatchObject({ snapshotId, unchanged: true, files: 50 });
    expect(await head(p)).toBe(snapshotId);
    expect((await sh(p, "ls src | wc -l")).stdout.trim()).toBe("50");
  });

  it("the runner refuses to snapshot a never-restored workspace over a head", async () => {
    const p = "refuse";
    await call("POST", `/sandboxes/${p}`);
    await put(p, "work.txt", "precious");
    const taken = await call("POST", `/sandboxes/${p}/snapshots`);
    const before = taken.body.data?.snapshotId;
    expect(before).toMatch(/^[0-9a-f]{64}$/);

    // The runner as anyone could start it in a new, empty sandbox, with a runner token
    // for this project and the Worker's runner API.
    const run = await back.execInFreshSandbox(RUNNER_LINE, {
      [RUNNER_ENV.api]: RUNNER_INTERNAL_ORIGIN,
      [RUNNER_ENV.token]: stack.mintRunnerToken(p),
      [RUNNER_ENV.projectId]: p,
    });
    expect(run.exitCode).toBe(1);
    expect(JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}")).toMatchObject({
      ok: false,
      code: "WORKSPACE_NOT_RESTORED",
    });
    expect(await head(p)).toBe(before);
    expect((await sh(p, "cat work.txt")).stdout).toBe("precious");
  });

  it("a sandbox stopped behind the API's back comes back with every file, and sync again", async () => {
    const p = "asleep";
    await call("POST", `/sandboxes/${p}`);
    await sh(p, "echo kept > kept.txt && mkdir -p deep/er && echo x > deep/er/x.txt");
    const snap = await call("POST", `/sandboxes/${p}/snapshots`);
    const before = snap.body.data?.snapshotId;

    await back.stopBehindTheBack();
    // GET starts nothing: the container stays stopped.
    const status = await call("GET", `/sandboxes/${p}`);
    expect(status.body.data?.status).not.toBe("ready");

    expect((await sh(p, "cat kept.txt deep/er/x.txt")).stdout).toBe("kept\nx\n");
    expect(await head(p)).toBe(before);
    // The sync watcher was started again by that exec: a new file reaches the head by itself.
    await put(p, "later.txt", "synced");
    const deadline = Date.now() + 20_000;
    while ((await head(p)) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(await head(p)).not.toBe(before);
  });

  it("concurrent calls into a fresh workspace wait for one restore and all see the head", async () => {
    const p = "concurrent";
    await call("POST", `/sandboxes/${p}`);
    await put(p, "a.txt", "head content");
    await call("DELETE", `/sandboxes/${p}?destroy=true`);
    const results = await Promise.all(Array.from({ length: 4 }, () => sh(p, "cat a.txt")));
    expect(results.map((r) => r.stdout)).toEqual(Array(4).fill("head content"));
    // Exactly one of them initialised the workspace, so exactly one sync watcher runs.
    // (Read from /proc inside the sandbox: the Worker's own processes are not in its API.)
    const cmdlines = await sh(p, "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done");
    const watchers = cmdlines.stdout.split("\n").filter((l) => / sync --watch/.test(l) && !l.includes("/proc/"));
    expect(watchers).toHaveLength(1);
  });

  it("keeps runner state and tool caches out of the tree; cleanup spares the Worker's processes", async () => {
    const p = "tidy";
    await call("POST", `/sandboxes/${p}`);
    const env = await sh(
      p,
      'echo "$HOME"; mkdir -p "$HOME/.cache" && echo c > "$HOME/.cache/c"; mkdir -p .npm __pycache__',
    );
    expect(env.stdout.trim()).toBe("/root");
    await put(p, "src.txt", "mine");
    const snap = await call("POST", `/sandboxes/${p}/snapshots`);
    expect(snap.body.data).toMatchObject({ files: 1 });
    expect(await names(p)).toEqual([".npm", "__pycache__", "src.txt"]);

    const user = await call("POST", `/sandboxes/${p}/processes`, { command: "sleep 60" });
    const listed = await call("GET", `/sandboxes/${p}/processes`);
    const processes = listed.body.data?.processes as Array<{ id: string; command: string }>;
    expect(processes.map((x) => x.id)).toEqual([user.body.data?.id]);
    const cleaned = await call("DELETE", `/sandboxes/${p}`);
    expect(cleaned.body.data).toMatchObject({ status: "cleaned", killed: 1 });
    // The sync watcher survived the cleanup: a change still reaches the head by itself.
    const before = await head(p);
    await put(p, "after-cleanup.txt", "synced");
    const deadline = Date.now() + 20_000;
    while ((await head(p)) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(await head(p)).not.toBe(before);
  });
});
