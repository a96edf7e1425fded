/**
 * @module test/support/stack
 * The whole local system for end-to-end tests, as `npm run dev` runs it: a real
 * sandboxd (bubblewrap), local D1 with the migrations applied, and the Worker
 * under `wrangler dev` on the cloudflare backend, its containers local jails in
 * sandboxd (no Docker), with RUNNER_API_URL pointing at itself — each in a private temp directory and dev registry, on free ports.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, randomToken } from "../../scripts/lib/net.ts";
import { Supervisor } from "../../scripts/lib/proc.ts";
import { type Sandboxd, startSandboxd, startWorkerDev } from "../../scripts/lib/services.ts";
import { seedMigratedD1 } from "./d1-template.ts";
import { OpenApiChecker, type OpenApiDoc } from "./openapi-check.ts";
import { mintRunnerToken } from "./runner-token.ts";

export interface Stack {
  /** The Worker's URL. */
  url: string;
  /** The port of wrangler dev's DevTools inspector (on 127.0.0.1); 0 when it is off. */
  inspectorPort: number;
  apiToken: string;
  /** A project-scoped runner token, as the Worker mints them (RUNNER_TOKEN_SECRET is the stack's). */
  mintRunnerToken(projectId: string, ttlSeconds?: number): string;
  sandboxd: Sandboxd;
  /** sandboxd's data directory (jails under `${root}/jails`). */
  root: string;
  /** Environment for further `wrangler dev` sessions that should see this one (dev registry). */
  env: NodeJS.ProcessEnv;
  supervisor: Supervisor;
  /** An authenticated JSON call to sandboxd, the jail host (its routes: container/sandboxd/server.ts). */
  host(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
  /** An authenticated JSON call to the Worker; returns status and parsed body. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Envelope }>;
  /** Polls GET /jobs/:id until the job is succeeded, failed or cancelled; returns it. */
  waitForJob(id: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface Envelope {
  success: boolean;
  data?: Record<string, unknown> & { [key: string]: unknown };
  error?: string;
  code?: string;
}

/**
 * Start the stack; `vars` adds or overrides Worker variables, `wranglerArgs` adds flags.
 * `inspector: false` runs wrangler without its DevTools inspector, as `npm run dev` does
 * (scripts/lib/worker-dev-entry.ts; `wranglerArgs` are then not taken), `inspectorPort` is 0.
 */
export async function startStack(
  vars: Record<string, string> = {},
  wranglerArgs: string[] = [],
  opts: { inspector?: boolean } = {},
): Promise<Stack> {
  const supervisor = new Supervisor((child, code) => {
    console.error(`${child.name} exited early with ${code}:\n${child.tail().join("\n")}`);
  });
  const root = mkdtempSync(join(tmpdir(), "sandbox-stack-"));
  // Jails run as an unprivileged uid when the tests run as root: it must pass through (not list).
  chmodSync(root, 0o711);
  const registry = join(root, "registry");
  const persistTo = join(root, "wrangler-state");
  const env = { ...process.env, WRANGLER_REGISTRY_PATH: registry };
  const apiToken = randomToken();
  const runnerTokenSecret = randomToken();
  // Every step has its own time limit, yet a start once hung past its file's 180 s hook (twice in
  // ~30 runs, unreproduced): if it happens again, this says at which step and what wrangler said.
  let step = "sandboxd";
  const started = Date.now();
  const watchdog = setTimeout(() => {
    const tails = supervisor.children.map((c) => `${c.name}:\n  ${c.tail().slice(-15).join("\n  ")}`);
    console.error(`startStack still at step "${step}" after ${Date.now() - started} ms\n${tails.join("\n")}`);
  }, 90_000);
  watchdog.unref();
  const stop = async () => {
    clearTimeout(watchdog);
    await supervisor.stopAll();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const sandboxd = await startSandboxd(supervisor, { root: join(root, "sandboxd"), output: "quiet" });
    step = "D1 copy";
    await seedMigratedD1(persistTo, env);
    step = "wrangler dev";
    const port = await freePort();
    const inspectorPort = opts.inspector === false ? 0 : await freePort();
    const worker = await startWorkerDev(supervisor, {
      port,
      containers: false,
      vars: {
        SANDBOXD_URL: sandboxd.url,
        SANDBOXD_TOKEN: sandboxd.token,
        API_TOKEN: apiToken,
        RUNNER_TOKEN_SECRET: runnerTokenSecret,
        RUNNER_API_URL: `http://127.0.0.1:${port}`,
        CLONE_ALLOWED_SCHEMES: "https,http",
        // Tests that count snapshots need them to come only from their own calls.
        SYNC_ON_CREATE: "false",
        ...vars,
      },
      persistTo,
      inspector: opts.inspector,
      extraArgs: ["--inspector-port", String(inspectorPort), ...wranglerArgs],
      env,
      // STACK_LOGS=1 shows the Worker's log (console.* in it) while a test runs.
      output: process.env.STACK_LOGS ? "prefix" : "quiet",
    });
    let checker: OpenApiChecker | undefined;
    const call: Stack["call"] = async (method, path, body) => {
      const res = await fetch(`${worker.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${apiToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const parsed = (await res.json()) as Envelope;
      // Every answer is checked against the OpenAPI document this Worker serves.
      checker ??= new OpenApiChecker((await (await fetch(`${worker.url}/openapi.json`)).json()) as OpenApiDoc);
      const { problems } = checker.check(
        { method, path: new URL(path, worker.url).pathname },
        { status: res.status, contentType: res.headers.get("content-type"), body: parsed },
      );
      if (problems.length > 0)
        throw new Error(`The answer does not match the OpenAPI document:\n${problems.join("\n")}`);
      return { status: res.status, body: parsed };
    };
    const host: Stack["host"] = async (method, path, body) => {
      const res = await fetch(`${sandboxd.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${sandboxd.token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return (await res.json()) as Record<string, unknown>;
    };
    const waitForJob: Stack["waitForJob"] = async (id, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { body } = await call("GET", `/jobs/${id}`);
        const job = body.data as Record<string, unknown>;
        if (["succeeded", "failed", "cancelled"].includes(String(job.status))) return job;
        if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 250));
      }
    };
    clearTimeout(watchdog);
    return {
      url: worker.url,
      inspectorPort,
      apiToken,
      mintRunnerToken: (projectId, ttlSeconds = 600) => mintRunnerToken(runnerTokenSecret, projectId, ttlSeconds),
      sandboxd,
      root: join(root, "sandboxd"),
      env,
      supervisor,
      call,
      host,
      waitForJob,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
