/**
 * @module test/worker/cloudflare-backend.test
 * The cloudflare adapter end to end: the real SDK client in the real Sandbox
 * Durable Object, over Cloudflare's real container runtime in a local jail
 * (sandboxd, bubblewrap), running real commands on real files.
 */

import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { createCloudflareBackend } from "../../src/backend/cloudflare";
import type { ExecEvent } from "../../src/backend/types";
import { AppError } from "../../src/errors";
import { isInternalProcess, runnerCommandLine } from "../../src/runner-driver/run";
import { STATE_DIR_IN_SHELL } from "../../src/shared/snapshot-format";

const backend = createCloudflareBackend(env.Sandbox, { workspaceRoot: "/workspace" });
let seq = 0;
/** A fresh project per test: every test gets its own container and workspace. */
const project = () => `cf-test-${Date.now().toString(36)}-${seq++}`;

async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

/** The stream's bytes; its error as it is (a Response would wrap it). */
async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return new Uint8Array(await new Blob(chunks).arrayBuffer());
}

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).code;
  }
  throw new Error("expected a failure");
}

describe("cloudflare backend on Cloudflare's container runtime (local jail)", () => {
  it("reports a never-created sandbox as SANDBOX_NOT_FOUND, then ready after ensure", async () => {
    const id = project();
    expect(await codeOf(backend.status(id))).toBe("SANDBOX_NOT_FOUND");
    // A new container: its workspace was never restored (no runner state on its disk).
    expect(await backend.ensure(id)).toEqual({
      projectId: id,
      status: "ready",
      backend: "cloudflare",
      isolated: true,
      initialized: false,
      started: false,
    });
    expect((await backend.status(id)).status).toBe("ready");
    // Once the runner's state exists, ensure says so; a destroyed container's disk starts over.
    await backend.exec(id, { command: `echo '{}' > ${STATE_DIR_IN_SHELL}/state.json`, timeoutMs: 10_000 });
    expect((await backend.ensure(id)).initialized).toBe(true);
    await backend.destroy(id);
    expect(await codeOf(backend.status(id))).toBe("SANDBOX_NOT_FOUND");
    expect((await backend.ensure(id)).initialized).toBe(false);
  });

  it("execs with cwd, env and exit codes, inside the sandbox", async () => {
    const id = project();
    const r = await backend.exec(id, {
      command: 'echo "$GREETING"; pwd; echo oops >&2; exit 3',
      env: { GREETING: "hi there" },
      cwd: "/workspace",
      timeoutMs: 10_000,
    });
    expect(r).toMatchObject({ stdout: "hi there\n/workspace\n", stderr: "oops\n", exitCode: 3 });
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
    // The host is not visible: no repository, no home directory.
    const host = await backend.exec(id, { command: "ls /work /root 2>&1; echo $?", timeoutMs: 10_000 });
    expect(host.stdout.trim().split("\n").pop()).not.toBe("0");
  });

  it("kills a command past its timeout and answers TIMEOUT with the output so far", async () => {
    const id = project();
    const started = Date.now();
    const err = await backend
      .exec(id, { command: "echo before; sleep 30 & sleep 30; echo never", timeoutMs: 1_000 })
      .catch((e: unknown) => e as AppError);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("TIMEOUT");
    expect((err as AppError).details).toMatchObject({ stdout: "before\n" });
    expect(Date.now() - started).toBeLessThan(8_000);
    const ps = await backend.exec(id, { command: "ps -eo args | grep -c '[s]leep 30' || true", timeoutMs: 5_000 });
    expect(ps.stdout.trim()).toBe("0");
  });

  it("streams exec events in order and ends with exactly one exit", async () => {
    const id = project();
    const stream = await backend.execStream(id, {
      command: "echo one; sleep 0.2; echo two >&2; exit 5",
      timeoutMs: 10_000,
    });
    const events = await collect(stream);
    expect(events[0]).toMatchObject({ type: "start", command: "echo one; sleep 0.2; echo two >&2; exit 5" });
    const out = events.filter((e) => e.type === "stdout").map((e) => (e as { data: string }).data);
    const err = events.filter((e) => e.type === "stderr").map((e) => (e as { data: string }).data);
    expect(out.join("")).toBe("one\n");
    expect(err.join("")).toBe("two\n");
    const last = events.at(-1) as ExecEvent;
    expect(last).toMatchObject({ type: "exit", exitCode: 5 });
    expect(events.filter((e) => e.type === "exit" || e.type === "error")).toHaveLength(1);
  });

  it("streams a prompt without waiting for its newline", async () => {
    const id = project();
    const stream = await backend.execStream(id, {
      command: "printf 'Password: '; sleep 1; echo ok",
      timeoutMs: 10_000,
    });
    const reader = stream.getReader();
    const seen: { at: number; event: ExecEvent }[] = [];
    const started = Date.now();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      seen.push({ at: Date.now() - started, event: value });
    }
    const out = seen.filter((s) => s.event.type === "stdout");
    // Sessionless, the runtime passes output on as it comes (a session's shell would re-line it).
    expect(out.map((s) => (s.event as { data: string }).data).join("")).toBe("Password: ok\n");
    expect(out[0]).toMatchObject({ event: { data: "Password: " } });
    expect(out[0]?.at).toBeLessThan(800);
  });

  it("ends a streamed exec past its timeout with a TIMEOUT error event", async () => {
    const id = project();
    const events = await collect(await backend.execStream(id, { command: "echo a; sleep 30", timeoutMs: 800 }));
    expect(events.at(-1)).toMatchObject({ type: "error", code: "TIMEOUT" });
  });

  it("round-trips every byte value, binary and not-quite-UTF-8 text, and creates parents", async () => {
    const id = project();
    const all = new Uint8Array(256 * 300).map((_, i) => i % 256);
    expect(await backend.writeFile(id, "/workspace/deep/er/bin.dat", all)).toEqual({ size: all.byteLength });
    const read = await backend.readFile(id, "/workspace/deep/er/bin.dat", 1 << 20);
    expect(read.size).toBe(all.byteLength);
    expect(await bytesOf(read.body)).toEqual(all);
    // A .txt the container calls text/plain but holding Latin-1 bytes: must come back exact.
    const latin1 = new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a, 0xff, 0x41]);
    await backend.writeFile(id, "/workspace/latin1.txt", latin1);
    expect(await bytesOf((await backend.readFile(id, "/workspace/latin1.txt", 1 << 20)).body)).toEqual(latin1);
    const text = new TextEncoder().encode("héllo wörld ✓\n".repeat(10_000));
    await backend.writeFile(id, "/workspace/big.md", text);
    expect(await bytesOf((await backend.readFile(id, "/workspace/big.md", 1 << 20)).body)).toEqual(text);
    // A byte-order mark, which the container's text decoder drops: exact while the text is
    // held back (up to 1 MiB); past that, an error, never a file 3 bytes short.
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0x2c, 0x62, 0x0a]);
    await backend.writeFile(id, "/workspace/bom.csv", bom);
    expect(await bytesOf((await backend.readFile(id, "/workspace/bom.csv", 1 << 20)).body)).toEqual(bom);
    const bigBom = new Uint8Array([...bom, ...new TextEncoder().encode("x\n".repeat(600_000))]);
    await backend.writeFile(id, "/workspace/big-bom.csv", bigBom);
    const bigRead = await backend.readFile(id, "/workspace/big-bom.csv", 2 << 20);
    expect(await codeOf(bytesOf(bigRead.body))).toBe("FILE_READ_FAILED");
  });

  it("refuses files over the limit and missing files with typed errors", async () => {
    const id = project();
    await backend.writeFile(id, "/workspace/ten.bin", new Uint8Array(10));
    expect(await codeOf(backend.readFile(id, "/workspace/ten.bin", 9))).toBe("PAYLOAD_TOO_LARGE");
    expect(await codeOf(backend.readFile(id, "/workspace/missing.txt", 100))).toBe("FILE_NOT_FOUND");
    expect(await codeOf(backend.deletePath(id, "/workspace/missing.txt"))).toBe("FILE_NOT_FOUND");
    expect(await codeOf(backend.list(id, "/workspace/missing", { recursive: false }))).toBe("FILE_NOT_FOUND");
    expect(await codeOf(backend.list(id, "/workspace/ten.bin", { recursive: false }))).toBe("NOT_A_DIRECTORY");
  });

  it("lists entries with types, sizes, ISO times and octal modes; deletes files and directories", async () => {
    const id = project();
    await backend.writeFile(id, "/workspace/a/b/c.txt", new TextEncoder().encode("abc"));
    await backend.writeFile(id, "/workspace/.hidden", new Uint8Array([1]));
    await backend.exec(id, { command: "chmod 0750 a/b/c.txt && ln -s a/b/c.txt link", timeoutMs: 5_000 });
    const top = await backend.list(id, "/workspace", { recursive: false });
    expect(top.map((e) => e.name).sort()).toEqual([".hidden", "a", "link"]);
    expect(top.find((e) => e.name === "link")?.type).toBe("symlink");
    const all = await backend.list(id, "/workspace", { recursive: true });
    const file = all.find((e) => e.path === "/workspace/a/b/c.txt");
    expect(file).toMatchObject({ name: "c.txt", type: "file", size: 3, mode: "0750" });
    expect(new Date(file?.modifiedAt ?? "").toISOString()).toBe(file?.modifiedAt);
    expect(Math.abs(Date.parse(file?.modifiedAt ?? "") - Date.now())).toBeLessThan(60_000);
    await backend.deletePath(id, "/workspace/link");
    expect((await backend.readFile(id, "/workspace/a/b/c.txt", 100)).size).toBe(3);
    await backend.deletePath(id, "/workspace/a");
    expect((await backend.list(id, "/workspace", { recursive: true })).map((e) => e.name)).toEqual([".hidden"]);
  });

  it("runs, lists, follows, logs and kills background processes", async () => {
    const id = project();
    const quick = await backend.startProcess(id, { command: "echo started; sleep 0.3; echo done; exit 2" });
    expect(quick).toMatchObject({ command: "echo started; sleep 0.3; echo done; exit 2", status: "running" });
    const events = await collect(await backend.followProcess(id, quick.id));
    expect(events[0]?.type).toBe("start");
    expect(
      events
        .filter((e) => e.type === "stdout")
        .map((e) => (e as { data: string }).data)
        .join(""),
    ).toBe("started\ndone\n");
    expect(events.at(-1)).toMatchObject({ type: "exit", exitCode: 2 });
    expect(await backend.getProcess(id, quick.id)).toMatchObject({ status: "failed", exitCode: 2 });
    expect(await backend.processLogs(id, quick.id)).toEqual({ stdout: "started\ndone\n", stderr: "" });

    const slow = await backend.startProcess(id, { command: "sleep 60" });
    expect((await backend.listProcesses(id)).map((p) => p.id)).toContain(slow.id);
    const killed = await backend.killProcess(id, slow.id);
    expect(killed.status).toBe("killed");
    await backend.startProcess(id, { command: "sleep 60" });
    await backend.startProcess(id, { command: "sleep 60" });
    expect(await backend.killAllProcesses(id)).toBe(2);
    expect(await codeOf(backend.getProcess(id, "proc_nope"))).toBe("PROCESS_NOT_FOUND");
    expect(await codeOf(backend.processLogs(id, "proc_nope"))).toBe("PROCESS_NOT_FOUND");
  });

  it("processes on Cloudflare's runtime: exit codes, cwd checks, own commands only, kill semantics", async () => {
    const id = project();
    await backend.ensure(id);
    // A top-level exit ends the user's command only; quotes survive the wrapping; output is byte for byte.
    const command = `printf "it's"; exit 7`;
    const quick = await backend.startProcess(id, { command });
    expect(quick.command).toBe(command);
    const events = await collect(await backend.followProcess(id, quick.id));
    expect(events[0]).toMatchObject({ type: "start", command });
    expect(events.at(-1)).toMatchObject({ type: "exit", exitCode: 7 });
    expect(await backend.getProcess(id, quick.id)).toMatchObject({ command, status: "failed", exitCode: 7 });
    expect(await backend.processLogs(id, quick.id)).toEqual({ stdout: "it's", stderr: "" });
    // A cwd that is missing or not a directory: INVALID_CWD, and nothing started.
    await backend.writeFile(id, "/workspace/plain.txt", new Uint8Array([1]));
    expect(await codeOf(backend.startProcess(id, { command: "true", cwd: "/workspace/nope" }))).toBe("INVALID_CWD");
    expect(await codeOf(backend.startProcess(id, { command: "true", cwd: "/workspace/plain.txt" }))).toBe(
      "INVALID_CWD",
    );
    // Only processes started through startProcess are listed (not streamed execs), each with its own
    // command, so the Worker's runner processes are still recognised as internal.
    await collect(await backend.execStream(id, { command: "echo streamed", timeoutMs: 5_000 }));
    const runner = await backend.startProcess(id, { command: runnerCommandLine(["nothing"]) });
    const listed = await backend.listProcesses(id);
    expect(listed.map((p) => p.id).sort()).toEqual([quick.id, runner.id].sort());
    expect(isInternalProcess(listed.find((p) => p.id === runner.id) ?? { command: "" })).toBe(true);

    // Kill: SIGTERM; a process that ignores it gets SIGKILL 5 s later. Answered once it is gone,
    // as `killed` with its exit code (143 after SIGTERM, 137 after SIGKILL); getProcess agrees.
    const plain = await backend.startProcess(id, { command: "sleep 60" });
    expect(await backend.killProcess(id, plain.id)).toMatchObject({ status: "killed", exitCode: 143 });
    expect(await backend.getProcess(id, plain.id)).toMatchObject({ status: "killed", exitCode: 143 });
    const stubborn = await backend.startProcess(id, { command: "trap '' TERM; echo up; sleep 60" });
    while (!(await backend.processLogs(id, stubborn.id)).stdout.includes("up")) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const t0 = Date.now();
    const killed = await backend.killProcess(id, stubborn.id);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4_500);
    expect(killed).toMatchObject({ status: "killed", exitCode: 137 });
    expect(killed.endedAt).not.toBeNull();
    expect(await backend.getProcess(id, stubborn.id)).toMatchObject({ status: "killed", exitCode: 137 });
    // Killing a finished process answers it as it ended.
    expect(await backend.killProcess(id, quick.id)).toMatchObject({ status: "failed", exitCode: 7 });

    // A command whose shell ended but left a background child holding its output: running until
    // that ends, and get / list answer at once; a kill stops the child, and the process ends as
    // its shell did.
    const lingering = await backend.startProcess(id, { command: "echo hi; sleep 45 &" });
    await new Promise((r) => setTimeout(r, 500));
    const t1 = Date.now();
    expect(await backend.getProcess(id, lingering.id)).toMatchObject({ status: "running" });
    expect((await backend.listProcesses(id)).find((p) => p.id === lingering.id)?.status).toBe("running");
    expect(Date.now() - t1).toBeLessThan(3_000);
    expect(await backend.killProcess(id, lingering.id)).toMatchObject({ status: "completed", exitCode: 0 });
    const ps = await backend.exec(id, { command: "ps -eo args | grep -c '^[s]leep 45' || true", timeoutMs: 5_000 });
    expect(ps.stdout.trim()).toBe("0");
  });

  it("clones with argv quoting, reports commit and branch, and never leaks credentials", async () => {
    const id = project();
    const repo = inject("gitRepoUrl");
    const out = await backend.clone(id, {
      repoUrl: repo,
      directory: "/workspace/hello",
      branch: "feature",
      timeoutMs: 30_000,
    });
    expect(out.directory).toBe("/workspace/hello");
    expect(out.branch).toBe("feature");
    expect(out.commit).toMatch(/^[0-9a-f]{40}$/);
    expect((await backend.exec(id, { command: "cat hello/feature.txt", timeoutMs: 5_000 })).stdout).toBe(
      "feature branch\n",
    );
    // Non-empty target: CONFLICT, nothing touched.
    expect(await codeOf(backend.clone(id, { repoUrl: repo, directory: "/workspace/hello", timeoutMs: 30_000 }))).toBe(
      "CONFLICT",
    );
    // Shell metacharacters in the directory are data, not commands.
    const odd = "/workspace/x'; touch /workspace/pwned; echo '";
    await backend.clone(id, { repoUrl: repo, directory: odd, timeoutMs: 30_000 });
    const ls = await backend.list(id, "/workspace", { recursive: false });
    expect(ls.map((e) => e.name)).not.toContain("pwned");
    // A branch that reads as an option is refused before anything runs.
    expect(
      await codeOf(
        backend.clone(id, { repoUrl: repo, directory: "/workspace/o", branch: "--upload-pack=x", timeoutMs: 5_000 }),
      ),
    ).toBe("INVALID_REPO_URL");
    // Credentials in a failing URL never reach the error.
    const secretUrl = repo.replace("http://", "http://alice:s3cr3t-token@").replace(/[^/]+$/, "missing.git");
    const err = await backend
      .clone(id, { repoUrl: secretUrl, directory: "/workspace/m", timeoutMs: 30_000 })
      .catch((e: unknown) => e as AppError);
    expect((err as AppError).code).toBe("CLONE_FAILED");
    expect(JSON.stringify({ m: (err as AppError).message, d: (err as AppError).details })).not.toContain("s3cr3t");
  });
});
