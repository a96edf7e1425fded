/**
 * @module test/support/sandboxd-process
 * Starts a real sandboxd (container/sandboxd/main.ts) as a child process with
 * Node 22 (process.execPath), a temporary SANDBOXD_ROOT and a given or free port,
 * and stops it with SIGTERM. Used by the workers global setup and the node tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const MAIN = resolve(import.meta.dirname, "../../container/sandboxd/main.ts");

/** A running sandboxd. */
export interface RunningSandboxd {
  url: string;
  token: string;
  /** The SANDBOXD_ROOT it uses (removed by stop()). */
  root: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, wait for exit (SIGKILL after 5 s), remove the root; returns the exit code. */
  stop(): Promise<number | null>;
}

/** Options; `env` is added to (and may override) the defaults. */
export interface SandboxdOptions {
  port?: number;
  token?: string;
  env?: Record<string, string>;
  /** How long to wait for "listening on" (ms). */
  startTimeoutMs?: number;
}

/** Starts sandboxd and resolves once it prints its URL. */
export async function startSandboxd(opts: SandboxdOptions = {}): Promise<RunningSandboxd> {
  const root = await mkdtemp(join(tmpdir(), "sandboxd-test-"));
  // Jails run as an unprivileged uid when the tests run as root: it must pass through (not list).
  await chmod(root, 0o711);
  const token = opts.token ?? "test-sandboxd-token";
  const child = spawn(process.execPath, [MAIN], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      SANDBOXD_HOST: "127.0.0.1",
      SANDBOXD_PORT: String(opts.port ?? 0),
      SANDBOXD_TOKEN: token,
      SANDBOXD_ROOT: join(root, "data"),
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`sandboxd did not start in time; output:\n${out}`));
    }, opts.startTimeoutMs ?? 15_000);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    };
    child.stdout?.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`sandboxd exited with ${code} before listening; output:\n${out}`));
    });
  }).catch(async (err: unknown) => {
    await rm(root, { recursive: true, force: true });
    throw err;
  });
  return {
    url,
    token,
    root,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(t);
      }
      await rm(root, { recursive: true, force: true });
      return child.exitCode;
    },
  };
}
