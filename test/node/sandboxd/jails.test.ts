/**
 * @module test/node/sandboxd/jails.test
 * Jails: the Cloudflare container runtime (Bun + the runtime bundle) per sandbox in
 * bubblewrap, driven through sandboxd's `/jails/...` routes: start and reuse, the
 * runtime as the child of bwrap's init, the confinement of one jail's workspace from
 * another, a runtime killed from outside (status, wait, restart with the files kept),
 * signals, destroy, bad ids, a missing runtime and the unisolated fallback. Also prints
 * (no asserts) start-to-first-exec time and the idle runtime's RSS. What the proxy
 * carries (streaming, upgrades, aborts) is jail-proxy.test.ts.
 *
 * The runtime is the one scripts/lib/sandbox-runtime.ts locates and bundles; when it
 * cannot be found, the file fails with that module's sentence (it never skips).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureSandboxRuntime } from "../../../scripts/lib/sandbox-runtime.ts";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, eventually, jailDir, newJailId, pidAlive } from "./helpers.ts";

const { bun: BUN, bundle: BUNDLE } = await ensureSandboxRuntime();

// Jail ids are Durable Object ids, 64 hex characters: the long host socket path is part of the test.
const A = newJailId();
const B = newJailId();

let sd: RunningSandboxd;

/** The runtime's API through the proxy. */
async function rt(id: string, method: string, path: string, json?: unknown) {
  return await call(sd, method, `/jails/${id}/container${path}`, json === undefined ? {} : { json });
}

/** POST /api/execute in the jail; the runtime's ExecResult. */
async function execIn(id: string, command: string): Promise<Record<string, unknown>> {
  const r = await rt(id, "POST", "/api/execute", { command });
  expect(r.status, r.text).toBe(200);
  return r.json ?? {};
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every path under `dir` whose name is `name`. */
function findNamed(dir: string, name: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.name === name) out.push(p);
    if (entry.isDirectory()) out.push(...findNamed(p, name));
  }
  return out;
}

describe("sandboxd jails", () => {
  let pidA = 0;

  beforeAll(async () => {
    sd = await startSandboxd({
      token: "jails-secret-token",
      env: { SANDBOXD_RUNTIME_BUN: BUN, SANDBOXD_RUNTIME_BUNDLE: BUNDLE },
    });
  });
  afterAll(async () => {
    await sd?.stop();
  });

  it("starts a jail, answers through the proxy, and reuses the running runtime", async () => {
    const t0 = performance.now();
    const r = await call(sd, "POST", `/jails/${A}`);
    const started = performance.now();
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ id: A, running: true, restarted: false });
    pidA = Number(r.json?.pid);
    const first = await execIn(A, "true");
    expect(first.exitCode).toBe(0);
    console.log(
      `jails.test: POST /jails/:id ${(started - t0).toFixed(0)} ms, first exec done ${(performance.now() - t0).toFixed(0)} ms after it`,
    );

    const ping = await rt(A, "GET", "/api/ping");
    expect(ping.status).toBe(200);
    expect(ping.json).toMatchObject({ success: true, status: "healthy" });

    const again = await call(sd, "POST", `/jails/${A}`);
    expect(again.json).toMatchObject({ id: A, running: true, pid: pidA, restarted: false });
    expect((await call(sd, "GET", `/jails/${A}`)).json).toMatchObject({
      id: A,
      running: true,
      pid: pidA,
      exitCode: null,
      signal: null,
    });
  });

  it("runs the runtime as the child of the jail's bwrap init and reports its idle RSS", async () => {
    const status = readFileSync(`/proc/${pidA}/status`, "utf8");
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
    expect(readFileSync(`/proc/${ppid}/cmdline`, "utf8").split("\0")[0]).toMatch(/bwrap$/);
    // The jail's egress forwarder, which runs the runtime in its process once it listens.
    expect(readFileSync(`/proc/${pidA}/cmdline`, "utf8").split("\0")).toEqual([
      "/opt/sandbox-runtime/bun",
      "/opt/sandbox-runtime/forwarder.ts",
      "/opt/sandbox-runtime/runtime.js",
      "",
    ]);
    await new Promise((r) => setTimeout(r, 1000));
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pidA}/status`, "utf8"))?.[1];
    console.log(`jails.test: idle runtime RSS ${(Number(rss) / 1024).toFixed(1)} MiB (pid ${pidA})`);
  });

  it("runs commands in the jail: /workspace as cwd, root inside", async () => {
    const r = await execIn(A, "echo hi; pwd; id -u");
    expect(r).toMatchObject({ success: true, exitCode: 0 });
    expect(String(r.stdout).trim().split("\n")).toEqual(["hi", "/workspace", "0"]);
  });

  it("writes a command's files to the jail's host workspace and nowhere else", async () => {
    const r = await execIn(A, "echo from-jail > made-in-jail-a.txt && ls /workspace");
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(jailDir(sd, A), "workspace", "made-in-jail-a.txt"), "utf8")).toBe("from-jail\n");
    expect(findNamed(sd.root, "made-in-jail-a.txt")).toEqual([join(jailDir(sd, A), "workspace", "made-in-jail-a.txt")]);
    expect(existsSync(resolve("made-in-jail-a.txt"))).toBe(false);
  });

  it("keeps a second jail from seeing the first", async () => {
    expect((await call(sd, "POST", `/jails/${B}`)).status).toBe(200);
    const hostA = join(jailDir(sd, A), "workspace");
    const r = await execIn(
      B,
      `ls -A /; ls -A /workspace; for p in ${hostA} ${sd.root} /work /tmp/rt; do test -e "$p" && echo "VISIBLE $p"; done; cat ${hostA}/made-in-jail-a.txt`,
    );
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stdout)).not.toContain("VISIBLE");
    expect(String(r.stdout)).not.toContain("made-in-jail-a.txt");
    expect(String(r.stdout)).not.toContain("from-jail");
    expect(String(r.stderr)).toMatch(/No such file or directory/);
    const top = String(r.stdout).split("\n");
    for (const name of ["workspace", "usr", "etc", "proc", "run", "opt"]) expect(top).toContain(name);
    for (const name of ["home", "work", "mnt", "srv"]) expect(top).not.toContain(name);
    // The runtime's own files and socket are the jail's: B's run dir holds only B's socket.
    expect(readdirSync(join(jailDir(sd, B), "run"))).toEqual(["forwarder.ready", "ports.sock", "runtime.sock"]);
  });

  it("reports a runtime killed from outside, answers wait, and restarts it with the files kept", async () => {
    const C = newJailId();
    const start = await call(sd, "POST", `/jails/${C}`);
    const pid = Number(start.json?.pid);
    await execIn(C, "echo kept > kept.txt");
    const waiting = call(sd, "GET", `/jails/${C}/wait`);
    expect(await eventually(() => pidAlive(pid))).toBe(true);
    await sleep(200); // Let the long-poll arrive.
    process.kill(pid, "SIGKILL");
    const w = await waiting;
    expect(w.status).toBe(200);
    // bwrap reports a child killed by signal N as exit code 128 + N.
    expect(w.json).toEqual({ exitCode: 137, signal: null });
    expect((await call(sd, "GET", `/jails/${C}`)).json).toMatchObject({ running: false, exitCode: 137 });
    expect((await call(sd, "GET", `/jails/${C}/wait`)).json).toEqual({ exitCode: 137, signal: null });
    expect((await rt(C, "GET", "/api/ping")).json).toMatchObject({ code: "JAIL_NOT_RUNNING" });

    const again = await call(sd, "POST", `/jails/${C}`);
    expect(again.json).toMatchObject({ running: true, restarted: true });
    expect(again.json?.pid).not.toBe(pid);
    expect((await execIn(C, "cat kept.txt")).stdout).toBe("kept");
    await call(sd, "DELETE", `/jails/${C}`);
  });

  it("forgets a wait whose client went away", async () => {
    const ac = new AbortController();
    const pending = fetch(`${sd.url}/jails/${A}/wait`, {
      headers: { authorization: `Bearer ${sd.token}` },
      signal: ac.signal,
    }).catch(() => null);
    const waiting = async () => (await call(sd, "GET", `/jails/${A}`)).json?.waiting;
    await sleep(300);
    expect(await waiting()).toBe(1);
    ac.abort();
    await pending;
    let left: unknown = -1;
    for (let i = 0; i < 50 && left !== 0; i++) {
      await sleep(50);
      left = await waiting();
    }
    expect(left).toBe(0);
  });

  it("signals the runtime: SIGTERM ends it gracefully", async () => {
    const D = newJailId();
    await call(sd, "POST", `/jails/${D}`);
    const bad = await call(sd, "POST", `/jails/${D}/signal`, { json: { signal: "SIGSTOP" } });
    expect(bad.json?.code).toBe("VALIDATION_ERROR");
    const waiting = call(sd, "GET", `/jails/${D}/wait`);
    const r = await call(sd, "POST", `/jails/${D}/signal`, { json: { signal: "SIGTERM" } });
    expect(r.json).toEqual({ signaled: true });
    expect((await waiting).json).toEqual({ exitCode: 0, signal: null });
    expect((await call(sd, "POST", `/jails/${D}/signal`, { json: { signal: 9 } })).json).toEqual({ signaled: false });
    await call(sd, "DELETE", `/jails/${D}`);
  });

  it("destroys a jail: the runtime is gone and so are its directories", async () => {
    expect(pidAlive(pidA)).toBe(true);
    const r = await call(sd, "DELETE", `/jails/${A}`);
    expect(r.json).toEqual({ destroyed: true });
    expect(await eventually(() => !pidAlive(pidA))).toBe(true);
    expect(existsSync(jailDir(sd, A))).toBe(false);
    expect((await call(sd, "GET", `/jails/${A}`)).json?.code).toBe("JAIL_NOT_FOUND");
    expect((await rt(A, "GET", "/api/ping")).status).toBe(503);
    expect((await call(sd, "DELETE", `/jails/${A}`)).json).toEqual({ destroyed: false });
    expect((await call(sd, "GET", `/jails/${A}/wait`)).status).toBe(404);
  });

  it("refuses bad ids with 400 and requests without the token with 401", async () => {
    for (const id of ["bad.id", "x".repeat(129), "%2Fetc", "a%20b", "..%2F.."]) {
      for (const [method, path] of [
        ["POST", `/jails/${id}`],
        ["GET", `/jails/${id}`],
        ["DELETE", `/jails/${id}`],
        ["GET", `/jails/${id}/wait`],
        ["GET", `/jails/${id}/container/api/ping`],
      ] as const) {
        const r = await call(sd, method, path);
        expect(r.status, `${method} ${path}`).toBe(400);
        expect(r.json?.code).toBe("INVALID_JAIL_ID");
      }
    }
    expect((await call(sd, "POST", `/jails/${B}`, { token: null })).status).toBe(401);
    expect((await call(sd, "GET", `/jails/${B}/container/api/ping`, { token: "wrong" })).status).toBe(401);
    expect((await call(sd, "PUT", `/jails/${B}`)).status).toBe(405);
  });
});

describe("sandboxd jails without a runtime", () => {
  it("answers 503 RUNTIME_MISSING naming both variables and the build", async () => {
    const [bare, broken] = await Promise.all([
      startSandboxd({ token: "no-runtime" }),
      startSandboxd({
        token: "bad-runtime",
        env: { SANDBOXD_RUNTIME_BUN: "/nonexistent/bun", SANDBOXD_RUNTIME_BUNDLE: BUNDLE },
      }),
    ]);
    try {
      const r = await call(bare, "POST", `/jails/${newJailId()}`);
      expect(r.status).toBe(503);
      expect(r.json?.code).toBe("RUNTIME_MISSING");
      for (const word of ["SANDBOXD_RUNTIME_BUN", "SANDBOXD_RUNTIME_BUNDLE", "npm run build:runtime"]) {
        expect(String(r.json?.error)).toContain(word);
      }
      const b = await call(broken, "POST", `/jails/${newJailId()}`);
      expect(b.status).toBe(503);
      expect(b.json?.error).toMatch(/SANDBOXD_RUNTIME_BUN=\/nonexistent\/bun is not a file/);
    } finally {
      await Promise.all([bare.stop(), broken.stop()]);
    }
  });
});

describe("sandboxd jails unisolated (SANDBOXD_ISOLATION=none)", () => {
  it("runs the runtime on the host with the jail's directories, HOME as its default cwd", async () => {
    const loose = await startSandboxd({
      token: "loose-jails",
      env: { SANDBOXD_ISOLATION: "none", SANDBOXD_RUNTIME_BUN: BUN, SANDBOXD_RUNTIME_BUNDLE: BUNDLE },
    });
    const id = newJailId();
    try {
      const start = await call(loose, "POST", `/jails/${id}`);
      expect(start.status, start.text).toBe(200);
      const dir = join(loose.root, "data", "jails", id);
      // The host socket path is longer than a unix socket path may be: the runtime got a relative one.
      expect(Buffer.byteLength(join(dir, "run", "runtime.sock"))).toBeGreaterThan(107);
      const r = await call(loose, "POST", `/jails/${id}/container/api/execute`, {
        json: { command: 'pwd; echo "$SANDBOX_WORKSPACE"; echo x > "$SANDBOX_WORKSPACE/loose.txt"' },
      });
      // No /workspace on the host: the runtime falls back to HOME for its shell's cwd.
      const cwd = existsSync("/workspace") ? "/workspace" : join(dir, "home");
      expect(String(r.json?.stdout).split("\n")).toEqual([cwd, join(dir, "workspace")]);
      expect(readFileSync(join(dir, "workspace", "loose.txt"), "utf8")).toBe("x\n");
      const pid = Number(start.json?.pid);
      expect((await call(loose, "DELETE", `/jails/${id}`)).json).toEqual({ destroyed: true });
      expect(await eventually(() => !pidAlive(pid))).toBe(true);
    } finally {
      await loose.stop();
    }
  });
});
