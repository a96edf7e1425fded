/**
 * @module scripts/dev
 * `npm run dev`: runs the Worker on http://127.0.0.1:$PORT (default 8787).
 *
 * - Backend: `--backend local|cloudflare`, else $SANDBOX_BACKEND, else detected —
 *   a reachable Docker engine means real containers (`cloudflare`), otherwise the
 *   `local` backend: sandboxd on a free loopback port with a fresh token, and
 *   `wrangler dev --enable-containers=false`. `--backend cloudflare` without Docker
 *   runs each container as a local jail instead: Cloudflare's own container runtime,
 *   hosted by sandboxd (src/backend/jail-container.ts).
 * - API token: $API_TOKEN, else API_TOKEN from .dev.vars, else generated for this run.
 * - Ctrl-C / SIGTERM stop everything it started; if a child dies on its own, the
 *   rest are stopped and the script exits non-zero.
 * - Cron: `wrangler dev` never fires cron triggers by itself, so this script calls
 *   its `/__scheduled` route (`--test-scheduled`) at each due minute of every
 *   schedule in wrangler.jsonc `triggers.crons`, as Cloudflare would.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type CronSchedule, describeCron, parseCron, readCrons, runCrons } from "./lib/cron.ts";
import { dockerAvailable, readDevVars } from "./lib/env.ts";
import { portIsFree, randomToken } from "./lib/net.ts";
import { type ManagedChild, Supervisor, signalGroup } from "./lib/proc.ts";
import { applyLocalD1Migrations, REPO_ROOT, startSandboxd, startWorkerDev } from "./lib/services.ts";

type Backend = "local" | "cloudflare";

/** Model-provider settings future agents need; forwarded to the Worker when set. */
const PASS_THROUGH = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"] as const;

const log = (msg: string): void => {
  process.stdout.write(`[dev] ${msg}\n`);
};

function usage(): never {
  process.stdout.write(
    "usage: npm run dev [-- --backend local|cloudflare]\n" +
      "env: PORT (default 8787), API_TOKEN, SANDBOX_BACKEND, SANDBOXD_PORT, SANDBOXD_ROOT\n",
  );
  process.exit(0);
}

function parseBackendFlag(argv: string[]): string | undefined {
  let values: { backend?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { backend: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)} (see --help)`);
  }
  if (values.help) usage();
  return values.backend;
}

/** The backend, why, and whether Docker answers (asked once). */
async function chooseBackend(argv: string[]): Promise<{ backend: Backend; why: string; docker: boolean }> {
  const flag = parseBackendFlag(argv);
  const chosen = flag ?? process.env.SANDBOX_BACKEND;
  if (chosen !== undefined && chosen !== "" && chosen !== "local" && chosen !== "cloudflare")
    throw new Error(`backend must be local or cloudflare, not "${chosen}"`);
  // The local backend needs no Docker, so it is not asked.
  const docker = chosen === "local" ? false : await dockerAvailable();
  if (chosen === "local" || chosen === "cloudflare")
    return { backend: chosen, why: flag ? "--backend flag" : "SANDBOX_BACKEND", docker };
  return docker
    ? { backend: "cloudflare", why: "a Docker engine answers", docker }
    : { backend: "local", why: "no Docker engine answers", docker };
}

function banner(
  url: string,
  token: string,
  backend: Backend,
  isolation: string,
  tokenSource: string,
  crons: readonly CronSchedule[],
): string {
  const line = "─".repeat(72);
  const cron = crons.length > 0 ? crons.map((c) => describeCron(c.expression)).join("; ") : "none configured";
  return [
    line,
    `  sandbox-worker is running at ${url}`,
    `  API token : ${token}   (${tokenSource})`,
    `  backend   : ${backend}`,
    `  isolation : ${isolation}`,
    `  cron      : fires ${cron} (wrangler.jsonc triggers.crons)`,
    "",
    "  try:",
    `    curl -s ${url}/health`,
    `    curl -s -X POST -H 'Authorization: Bearer ${token}' ${url}/sandboxes/demo`,
    `    curl -s -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' \\`,
    `      -d '{"command":"uname -a"}' ${url}/sandboxes/demo/exec`,
    "",
    "  Ctrl-C stops everything.",
    line,
  ].join("\n");
}

let shuttingDown = false;
const sup = new Supervisor((child: ManagedChild, code: number) => {
  process.stderr.write(`[dev] ${child.name} exited unexpectedly (code ${code}); stopping everything\n`);
  void shutdown(code === 0 ? 1 : code);
});

/** Stops every child (once) and exits with `code`. */
async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  await sup.stopAll();
  process.exit(code);
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (shuttingDown) {
      // A second Ctrl-C: do not wait for a graceful stop.
      for (const c of sup.children) signalGroup(c.pid, "SIGKILL");
      process.exit(130);
    }
    log(`${signal}: stopping`);
    void shutdown(0);
  });
}

// `npm run dev` runs us under `sh -c`; on SIGTERM npm kills that shell, not us. When our
// parent goes away we are orphaned (reparented), so treat that like SIGTERM.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid && !shuttingDown) {
    log("parent process exited: stopping");
    void shutdown(0);
  }
}, 500).unref();

async function main(): Promise<void> {
  const { backend, why, docker } = await chooseBackend(process.argv.slice(2));
  const port = Number(process.env.PORT ?? "8787");
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`PORT must be a port number, not "${process.env.PORT}"`);
  if (!(await portIsFree(port))) throw new Error(`port ${port} on 127.0.0.1 is in use; stop what uses it or set PORT`);

  const devVars = readDevVars(join(REPO_ROOT, ".dev.vars"));
  let token = process.env.API_TOKEN;
  let tokenSource = "from $API_TOKEN";
  if (!token) {
    token = devVars.API_TOKEN;
    tokenSource = "from .dev.vars";
  }
  if (!token) {
    token = randomToken();
    tokenSource = "generated for this run; set API_TOKEN or put it in .dev.vars to keep one";
  }
  // The cloudflare backend without Docker: its containers are local jails in sandboxd.
  const jails = backend === "cloudflare" && !docker;
  log(
    `backend: ${backend} (${why}${jails ? "; no Docker: containers run as local jails" : ""}); API token ${tokenSource}`,
  );

  const vars: Record<string, string> = { SANDBOX_BACKEND: backend, API_TOKEN: token };
  for (const name of PASS_THROUGH) {
    const value = process.env[name];
    if (value) vars[name] = value;
  }
  let isolation = "Cloudflare Sandbox container (Docker, locally)";
  if (backend === "local" || jails) {
    const sandboxd = await startSandboxd(sup, {
      port: process.env.SANDBOXD_PORT ? Number(process.env.SANDBOXD_PORT) : undefined,
      root: process.env.SANDBOXD_ROOT,
    });
    vars.SANDBOXD_URL = sandboxd.url;
    vars.SANDBOXD_TOKEN = sandboxd.token;
    const how = jails ? "Cloudflare's container runtime in a bubblewrap jail" : "bubblewrap";
    isolation = sandboxd.isolated
      ? `${how} (each project sees only its /workspace)`
      : "NONE — bwrap is missing or unusable; commands run unisolated on this machine (apt-get install bubblewrap)";
  }
  // Jobs and snapshot heads live in D1: the local database must have the schema first.
  await applyLocalD1Migrations();
  // The runner inside a local sandbox calls back to this Worker (on Cloudflare it uses
  // the container's outbound interception instead).
  if (backend === "local" || jails) vars.RUNNER_API_URL = `http://127.0.0.1:${port}`;
  // Parsed before wrangler starts, so a schedule this script cannot follow fails fast.
  const crons = readCrons(join(REPO_ROOT, "wrangler.jsonc")).map(parseCron);
  // No time limit while wrangler lives: on a build error it waits for the fix and reloads.
  const slow = setTimeout(
    () => log("still waiting for the Worker to answer /health — see the wrangler output above"),
    backend === "cloudflare" && !jails ? 120_000 : 30_000,
  );
  const worker = await startWorkerDev(sup, {
    port,
    vars,
    containers: backend === "cloudflare" && !jails,
    timeoutMs: Number.POSITIVE_INFINITY,
    // Exposes /__scheduled?cron=…, which runs the Worker's scheduled() handler.
    extraArgs: crons.length > 0 ? ["--test-scheduled"] : [],
  });
  clearTimeout(slow);
  if (shuttingDown) return;
  runCrons(crons, async (cron) => {
    try {
      const res = await fetch(`${worker.url}/__scheduled?cron=${encodeURIComponent(cron)}`, {
        signal: AbortSignal.timeout(30_000),
      });
      if (!res.ok) log(`cron "${cron}": the scheduled handler answered ${res.status}`);
      await res.body?.cancel();
    } catch (err) {
      if (!shuttingDown) log(`cron "${cron}" could not be fired: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  process.stdout.write(`\n${banner(worker.url, token, backend, isolation, tokenSource, crons)}\n\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[dev] ${err instanceof Error ? err.message : String(err)}\n`);
  // Stop whatever started before the failure: the children are in their own groups.
  void shutdown(1);
});
