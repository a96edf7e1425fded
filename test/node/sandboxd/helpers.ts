/**
 * @module test/node/sandboxd/helpers
 * Helpers for the sandboxd node tests: a tiny JSON client over fetch, the host
 * directory of a project's workspace, and a /proc scan for leftover processes.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
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

/** Runs `command` buffered in `project` and returns the answer's JSON. */
export async function exec(
  sd: RunningSandboxd,
  project: string,
  command: string,
  extra: Record<string, unknown> = {},
): Promise<Answer> {
  return await call(sd, "POST", `/projects/${project}/exec`, { json: { command, timeoutMs: 10_000, ...extra } });
}

/** The host directory bound at /workspace for `project`. */
export function hostWorkspace(sd: RunningSandboxd, project: string): string {
  return join(sd.root, "data", "projects", project, "workspace");
}

/** Pids of host processes whose command line contains `marker`. */
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
export async function eventually(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}
