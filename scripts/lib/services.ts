/**
 * @module scripts/lib/services
 * Starting the two servers this repo runs locally — sandboxd (the local sandbox
 * backend) and the Worker under `wrangler dev` — under a {@link Supervisor}, and
 * waiting until each answers. Shared by scripts/dev.ts and bench/api.ts.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, randomToken, waitForHttp } from "./net.ts";
import type { ManagedChild, OutputMode, Supervisor } from "./proc.ts";
import { ensureSandboxRuntime } from "./sandbox-runtime.ts";

/** The repository root (this file lives in scripts/lib/). */
export const REPO_ROOT = join(import.meta.dirname, "..", "..");
/** wrangler's CLI entry, run with this Node (`node WRANGLER_JS …`), as npm scripts run it. */
export const WRANGLER_JS = join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
/** `wrangler dev` without an inspector, through wrangler's API (worker-dev-entry.ts). */
const WORKER_DEV_ENTRY = join(REPO_ROOT, "scripts", "lib", "worker-dev-entry.ts");

/** A running sandboxd. */
export interface Sandboxd {
  url: string;
  token: string;
  child: ManagedChild;
  /** What sandboxd's /health reports: true when commands run inside bubblewrap. */
  isolated: boolean;
  /** What a jail's network reaches (/health). */
  network: string;
  /** What each jail may use, and what is not enforced (/health). */
  limits: string;
}

/** Options for {@link startSandboxd}. */
export interface SandboxdOptions {
  /** Default: a free port on 127.0.0.1. */
  port?: number;
  /** Default: a fresh random token. */
  token?: string;
  /** Where workspaces live (SANDBOXD_ROOT). Default: sandboxd's own default (.sandboxd). */
  root?: string;
  output?: OutputMode;
  timeoutMs?: number;
}

/**
 * Starts `container/sandboxd/main.ts` on 127.0.0.1 and waits until GET /health answers 200.
 * It hosts jails that run Cloudflare's container runtime, located and bundled first
 * (sandbox-runtime.ts: throws its one sentence when the runtime cannot be found).
 */
export async function startSandboxd(sup: Supervisor, opts: SandboxdOptions = {}): Promise<Sandboxd> {
  const runtime = await ensureSandboxRuntime();
  const port = opts.port ?? (await freePort());
  const token = opts.token ?? randomToken();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SANDBOXD_HOST: "127.0.0.1",
    SANDBOXD_PORT: String(port),
    SANDBOXD_TOKEN: token,
    SANDBOXD_RUNTIME_BUN: runtime.bun,
    SANDBOXD_RUNTIME_BUNDLE: runtime.bundle,
  };
  if (opts.root) env.SANDBOXD_ROOT = opts.root;
  const child = sup.start({
    name: "sandboxd",
    // process.execPath: the Node 22 that runs us (npm puts the `node` package first on PATH).
    command: process.execPath,
    args: [join(REPO_ROOT, "container", "sandboxd", "main.ts")],
    env,
    cwd: REPO_ROOT,
    output: opts.output,
  });
  const url = `http://127.0.0.1:${port}`;
  const health = await waitForHttp(`${url}/health`, {
    timeoutMs: opts.timeoutMs ?? 15_000,
    child,
    accept: (res) => res.status === 200,
  });
  let report: { isolated?: unknown; network?: unknown; limits?: unknown } = {};
  try {
    report = JSON.parse(health) as typeof report;
  } catch {
    // An unexpected body: report "not isolated" rather than claim isolation we cannot see.
  }
  return {
    url,
    token,
    child,
    isolated: report.isolated === true,
    network: typeof report.network === "string" ? report.network : "unknown",
    limits: typeof report.limits === "string" ? report.limits : "unknown",
  };
}

/** A running `wrangler dev`. */
export interface WorkerDev {
  url: string;
  child: ManagedChild;
  /** The body of the first successful GET /health. */
  health: string;
}

/** Options for {@link startWorkerDev}. */
export interface WorkerDevOptions {
  port: number;
  /**
   * Variables and secrets for the Worker. They override wrangler.jsonc's vars and .dev.vars, and
   * reach wrangler through a private env file, never its command line (which `ps` shows everyone).
   */
  vars: Record<string, string>;
  /** false → `--enable-containers=false` (no Docker needed). */
  containers: boolean;
  /** Extra wrangler arguments (e.g. --persist-to, --inspector-port); only with the inspector on. */
  extraArgs?: string[];
  /**
   * false: no DevTools inspector at all (worker-dev-entry.ts; `npm run dev` unless --inspect).
   * Default: wrangler's CLI, whose inspector listens on 127.0.0.1 (9229, or --inspector-port).
   */
  inspector?: boolean;
  /** Serve /__scheduled (wrangler's --test-scheduled). */
  testScheduled?: boolean;
  /** Where local D1, R2 and Durable Objects live (wrangler's --persist-to). Default: `.wrangler/state`. */
  persistTo?: string;
  env?: NodeJS.ProcessEnv;
  output?: OutputMode;
  timeoutMs?: number;
}

/**
 * `vars` as a dotenv file readable only by this user, in a directory of its own. Values are
 * single-quoted (dotenv takes them literally then), so a quote or a newline in one is refused.
 */
function writePrivateEnvFile(vars: Record<string, string>): { path: string; remove(): void } {
  const lines = Object.entries(vars).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a variable name: ${JSON.stringify(name)}`);
    if (/['\r\n]/.test(value)) throw new Error(`${name}: a quote or a line break cannot go into an env file`);
    return `${name}='${value}'\n`;
  });
  const dir = mkdtempSync(join(tmpdir(), "sandbox-worker-vars-"));
  const path = join(dir, "worker.env");
  writeFileSync(path, lines.join(""), { mode: 0o600 });
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs `wrangler dev` on 127.0.0.1:`port` and waits until GET /health answers 200. */
export async function startWorkerDev(sup: Supervisor, opts: WorkerDevOptions): Promise<WorkerDev> {
  const envFile = writePrivateEnvFile(opts.vars);
  // With env files wrangler reads no .dev.vars of its own: the developer's comes first, ours after.
  const devVars = join(REPO_ROOT, ".dev.vars");
  const envFiles = [...(existsSync(devVars) ? [devVars] : []), envFile.path];
  const args =
    opts.inspector === false
      ? [
          WORKER_DEV_ENTRY,
          JSON.stringify({
            port: opts.port,
            envFiles,
            enableContainers: opts.containers,
            testScheduled: opts.testScheduled ?? false,
            persistTo: opts.persistTo ?? join(REPO_ROOT, ".wrangler", "state"),
          }),
        ]
      : wranglerDevArgs(opts, envFiles);
  const child = sup.start({
    name: "wrangler",
    command: process.execPath,
    args,
    env: opts.env ?? process.env,
    cwd: REPO_ROOT,
    output: opts.output,
  });
  // wrangler reads it again when its config changes, so it lives as long as wrangler does.
  void child.exited.finally(envFile.remove);
  const url = `http://127.0.0.1:${opts.port}`;
  // Building a container image on first run can take minutes; without containers it is seconds.
  const timeoutMs = opts.timeoutMs ?? (opts.containers ? 600_000 : 60_000);
  const health = await waitForHttp(`${url}/health`, { timeoutMs, child, accept: (res) => res.status === 200 });
  return { url, child, health };
}

/** The `wrangler dev` CLI's arguments for `opts`. */
function wranglerDevArgs(opts: WorkerDevOptions, envFiles: string[]): string[] {
  const args = [
    WRANGLER_JS,
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(opts.port),
    // No hotkey UI: stdin is not a terminal for a supervised child.
    "--show-interactive-dev-session=false",
  ];
  // A hidden but supported wrangler flag: no container images are built, so no Docker is
  // needed (README, "What `npm run dev` does").
  if (!opts.containers) args.push("--enable-containers=false");
  if (opts.testScheduled) args.push("--test-scheduled");
  if (opts.persistTo) args.push("--persist-to", opts.persistTo);
  for (const file of envFiles) args.push("--env-file", file);
  args.push(...(opts.extraArgs ?? []));
  return args;
}

/**
 * Applies the D1 migrations in migrations/ to the local database `wrangler dev`
 * will use (the same `--persist-to`, when given). Fails with wrangler's output.
 */
export async function applyLocalD1Migrations(
  opts: { persistTo?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const args = [WRANGLER_JS, "d1", "migrations", "apply", "DB", "--local"];
  if (opts.persistTo) args.push("--persist-to", opts.persistTo);
  const result = spawnSync(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...(opts.env ?? process.env), CI: "1" },
    encoding: "utf8",
    timeout: 120_000,
  });
  if (result.status !== 0) {
    throw new Error(`applying D1 migrations failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
}
