/**
 * @module scripts/dev
 * `npm run dev`: runs the Worker on http://127.0.0.1:$PORT (default 8787).
 *
 * - Every sandbox is the SDK's Sandbox Durable Object running Cloudflare's container
 *   runtime; where its container runs is `--containers docker|jails`, else
 *   $SANDBOX_CONTAINERS, else detected: a reachable Docker engine means the real
 *   container image under `wrangler dev`, otherwise local jails — the same runtime in
 *   bubblewrap, hosted by sandboxd on a free loopback port with a fresh token
 *   (src/backend/jail-container.ts), and `wrangler dev --enable-containers=false`.
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
import { applyLocalD1Migrations, REPO_ROOT, type Sandboxd, startSandboxd, startWorkerDev } from "./lib/services.ts";

type Containers = "docker" | "jails";

/** Model-provider and git-host settings jobs need; forwarded to the Worker when set. */
const PASS_THROUGH = [
  "ANTHROPIC_API_KEY",
  "OPENAI_API_KEY",
  "ANTHROPIC_BASE_URL",
  "OPENAI_BASE_URL",
  "GITHUB_TOKEN",
  "GITHUB_APP_ID",
  "GITHUB_APP_PRIVATE_KEY",
  "GITHUB_URL",
  "GITHUB_API_URL",
] as const;

const log = (msg: string): void => {
  process.stdout.write(`[dev] ${msg}\n`);
};

function usage(): never {
  process.stdout.write(
    "usage: npm run dev [-- --containers docker|jails] [--inspect]\n" +
      "  --inspect: wrangler's DevTools inspector on 127.0.0.1:9229 (off by default: it reads the Worker's secrets)\n" +
      "env: PORT (default 8787), API_TOKEN, SANDBOX_CONTAINERS, SANDBOXD_PORT, SANDBOXD_ROOT,\n" +
      "     SANDBOXD_INTERNET (auto|on|off), SANDBOXD_HOST_PORTS (host loopback ports let into jails)\n",
  );
  process.exit(0);
}

/** `--containers docker|jails`, `--inspect` (wrangler's DevTools inspector on 127.0.0.1:9229), `--help`. */
function parseFlags(argv: string[]): { containers?: string; inspect: boolean } {
  let values: { containers?: string; inspect?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        containers: { type: "string" },
        inspect: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)} (see --help)`);
  }
  if (values.help) usage();
  return { containers: values.containers, inspect: values.inspect === true };
}

/** Where containers run, and why. */
async function chooseContainers(flag: string | undefined): Promise<{ containers: Containers; why: string }> {
  const chosen = flag || process.env.SANDBOX_CONTAINERS;
  if (chosen === "docker" || chosen === "jails") {
    if (chosen === "docker" && !(await dockerAvailable()))
      throw new Error("--containers docker: no Docker engine answers (start one, or use --containers jails)");
    return { containers: chosen, why: flag ? "--containers flag" : "SANDBOX_CONTAINERS" };
  }
  if (chosen) throw new Error(`containers must be docker or jails, not "${chosen}"`);
  return (await dockerAvailable())
    ? { containers: "docker", why: "a Docker engine answers" }
    : { containers: "jails", why: "no Docker engine answers" };
}

function banner(
  url: string,
  token: string,
  containers: Containers,
  isolation: string,
  tokenSource: string,
  crons: readonly CronSchedule[],
  inspect: boolean,
): string {
  const line = "─".repeat(72);
  const cron = crons.length > 0 ? crons.map((c) => describeCron(c.expression)).join("; ") : "none configured";
  return [
    line,
    `  sandbox-worker is running at ${url}`,
    `  API token : ${token}   (${tokenSource})`,
    `  containers: ${containers === "docker" ? "Cloudflare's container image, under Docker" : "local jails (sandboxd)"}`,
    `  isolation : ${isolation}`,
    `  cron      : fires ${cron} (wrangler.jsonc triggers.crons)`,
    `  inspector : ${inspect ? "ON at 127.0.0.1:9229 (any local user can attach and read secrets; jails cannot)" : "off (npm run dev -- --inspect)"}`,
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

/** The banner's isolation, network and limits lines for jails, as sandboxd's /health reports them. */
function describeJails(sandboxd: Sandboxd): string {
  return [
    "Cloudflare's container runtime in a bubblewrap jail (each project sees only its /workspace)",
    `  network   : ${sandboxd.network}`,
    `  limits    : ${sandboxd.limits}`,
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
  const flags = parseFlags(process.argv.slice(2));
  const inspect = flags.inspect;
  const { containers, why } = await chooseContainers(flags.containers);
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
  const jails = containers === "jails";
  log(`containers: ${containers} (${why}); API token ${tokenSource}`);

  const vars: Record<string, string> = { API_TOKEN: token };
  for (const name of PASS_THROUGH) {
    const value = process.env[name];
    if (value) vars[name] = value;
  }
  let isolation = "Cloudflare Sandbox container (Docker, locally)";
  if (jails) {
    const sandboxd = await startSandboxd(sup, {
      port: process.env.SANDBOXD_PORT ? Number(process.env.SANDBOXD_PORT) : undefined,
      root: process.env.SANDBOXD_ROOT,
    });
    vars.SANDBOXD_URL = sandboxd.url;
    vars.SANDBOXD_TOKEN = sandboxd.token;
    isolation = sandboxd.isolated
      ? describeJails(sandboxd)
      : "NONE — bwrap is missing or unusable; commands run unisolated on this machine (apt-get install bubblewrap)";
  }
  // Jobs and snapshot heads live in D1: the local database must have the schema first.
  await applyLocalD1Migrations();
  // sandboxd carries a jail's requests for the runner and model hosts to this Worker (on
  // Cloudflare the container's outbound interception answers them).
  if (jails) vars.RUNNER_API_URL = `http://127.0.0.1:${port}`;
  // Parsed before wrangler starts, so a schedule this script cannot follow fails fast.
  const crons = readCrons(join(REPO_ROOT, "wrangler.jsonc")).map(parseCron);
  // No time limit while wrangler lives: on a build error it waits for the fix and reloads.
  const slow = setTimeout(
    () => log("still waiting for the Worker to answer /health — see the wrangler output above"),
    jails ? 30_000 : 120_000,
  );
  const worker = await startWorkerDev(sup, {
    port,
    vars,
    containers: !jails,
    timeoutMs: Number.POSITIVE_INFINITY,
    // Exposes /__scheduled?cron=…, which runs the Worker's scheduled() handler.
    testScheduled: crons.length > 0,
    // Off unless asked for: whoever attaches to it can read the Worker's secrets.
    inspector: inspect,
    extraArgs: inspect ? ["--inspector-port", "9229"] : [],
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
  process.stdout.write(`\n${banner(worker.url, token, containers, isolation, tokenSource, crons, inspect)}\n\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[dev] ${err instanceof Error ? err.message : String(err)}\n`);
  // Stop whatever started before the failure: the children are in their own groups.
  void shutdown(1);
});
