/**
 * @module test/node/sandboxd/helpers
 * Helpers for the sandboxd node tests: a tiny JSON client over fetch, jails (the
 * runtime's environment for sandboxd, new ids, host directories, starting one, a
 * command run through the proxy) and /proc scans for leftover processes.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { ensureSandboxRuntime } from "../../../scripts/lib/sandbox-runtime.ts";
import { SESSIONLESS } from "../../../src/shared/container-runtime.ts";
import type { RunningSandboxd } from "../../support/sandboxd-process.ts";

/** An answer from sandboxd: status, parsed JSON (or null) and raw text. */
export interface Answer {
  status: number;
  json: Record<string, unknown> | null;
  text: string;
}

/** One request to sandboxd with the bearer token unless `token: null`. */
export async function call(
  sd: RunningSandboxd,
  method: string,
  path: string,
  opts: { json?: unknown; body?: string; token?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? sd.token : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined = opts.body;
  if (opts.json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  const res = await fetch(`${sd.url}${path}`, { method, headers, body });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

/**
 * The environment that gives sandboxd a container runtime for its jails (the one
 * scripts/lib/sandbox-runtime.ts locates and bundles; it throws when it cannot).
 */
export async function runtimeEnv(): Promise<Record<string, string>> {
  const { bun, bundle } = await ensureSandboxRuntime();
  return { SANDBOXD_RUNTIME_BUN: bun, SANDBOXD_RUNTIME_BUNDLE: bundle };
}

/** A new jail id; the Worker's are Durable Object ids, 64 hex characters. */
export function newJailId(): string {
  return randomBytes(32).toString("hex");
}

/** The jail's host directory (`workspace`, `home`, `state` and `run` are in it). */
export function jailDir(sd: RunningSandboxd, id: string): string {
  return join(sd.root, "data", "jails", id);
}

/** Starts (or reuses) jail `id`; resolves with its runtime's host pid. */
export async function startJail(sd: RunningSandboxd, id: string): Promise<number> {
  const r = await call(sd, "POST", `/jails/${id}`);
  if (r.status !== 200) throw new Error(`POST /jails/${id} answered ${r.status}: ${r.text}`);
  return Number(r.json?.pid);
}

/** What the runtime's POST /api/execute answered (the fields are "" / null when it failed). */
export interface JailExec extends Answer {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` in jail `id` through the proxy (POST /jails/:id/container/api/execute),
 * sessionless, as the product does: each command is its own process, not a line of a
 * session's persistent shell. `extra` adds to the body (cwd, env).
 */
export async function execInJail(
  sd: RunningSandboxd,
  id: string,
  command: string,
  extra: Record<string, unknown> = {},
): Promise<JailExec> {
  const r = await call(sd, "POST", `/jails/${id}/container/api/execute`, {
    json: { command, sessionId: SESSIONLESS, ...extra },
  });
  const exitCode = typeof r.json?.exitCode === "number" ? r.json.exitCode : null;
  return { ...r, exitCode, stdout: String(r.json?.stdout ?? ""), stderr: String(r.json?.stderr ?? "") };
}

/** Whether `pid` runs (a zombie does not). */
export function pidAlive(pid: number): boolean {
  try {
    return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** The parent of `pid`, or null once it is gone. */
export function parentOf(pid: number): number | null {
  try {
    const ppid = /^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return ppid === undefined ? null : Number(ppid);
  } catch {
    return null;
  }
}

/** Pids of host processes whose command line contains `marker` (shells running it with -c excluded). */
export function processesMatching(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmdline.includes(marker) && !cmdline.includes("sh -c")) out.push(Number(name));
    } catch {
      // Exited while scanning.
    }
  }
  return out;
}

/** Polls until `check()` is true or `timeoutMs` passes; returns the last result. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return await check();
}

/** The uid and gid of `nobody`: a process with no privilege at all. */
const NOBODY = 65534;

/** Whether every directory above `path` lets others pass (a clone in a 0700 `mktemp -d` does not). */
export function othersCanReach(path: string): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dirname(dir) === dir) return true;
  }
}

/**
 * Calls `exportName()` of the module at `modulePath` in a Node running as nobody (the test
 * must be root); its JSON result, or null where nobody cannot reach this Node or the module.
 */
export function callAsNobody(modulePath: string, exportName: string): unknown {
  if (!othersCanReach(process.execPath) || !othersCanReach(modulePath)) return null;
  const script = `import(${JSON.stringify(modulePath)}).then((m) => process.stdout.write(JSON.stringify(m.${exportName}())))`;
  const r = spawnSync(process.execPath, ["-e", script], {
    uid: NOBODY,
    gid: NOBODY,
    encoding: "utf8",
    timeout: 10_000,
  });
  if (r.status !== 0) throw new Error(`${exportName} as nobody failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}
