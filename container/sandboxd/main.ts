/**
 * @module sandboxd/main
 * Entry point of sandboxd, the local jail host: reads the config from the
 * environment, detects bubblewrap, listens, and on SIGINT/SIGTERM stops every
 * jail before exiting. Run with `npm run sandboxd` (Node 22, type stripping).
 *
 * Environment: SANDBOXD_HOST (127.0.0.1), SANDBOXD_PORT (8790), SANDBOXD_TOKEN
 * (required unless SANDBOXD_INSECURE_NO_TOKEN=1), SANDBOXD_ROOT (./.sandboxd),
 * SANDBOXD_ISOLATION (auto | none), SANDBOXD_RUNTIME_BUN and SANDBOXD_RUNTIME_BUNDLE
 * (the runtime jails run), SANDBOXD_INTERNET (auto | on | off), SANDBOXD_HOST_PORTS (host
 * loopback ports let into jails, none by default), SANDBOXD_LIMIT_PIDS, SANDBOXD_LIMIT_MEMORY,
 * SANDBOXD_LIMIT_CPU_WEIGHT, SANDBOXD_LIMIT_TMP, SANDBOXD_LIMIT_DISK (limits.ts) and
 * SANDBOXD_MAX_JSON_BYTES.
 */
import { existsSync } from "node:fs";
import { chmod, mkdir, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DEFAULT_RUNNER_HOST_DIR, detectIsolation, type JailUser, OPENCODE_HOST_BINARY } from "./bwrap.ts";
import { loadConfig, type SandboxdConfig } from "./config.ts";
import { describeNetwork, detectInternet, type Internet } from "./jail-network.ts";
import { describeLimits, detectEnforcement } from "./jail-resources.ts";
import { FORWARDER } from "./jails.ts";
import { RUNNER_NODE_CACHE } from "./runner-node.ts";
import { createSandboxd } from "./server.ts";

function warnUnisolated(reason: string): void {
  const bar = "!".repeat(78);
  console.warn(
    [
      bar,
      "!! sandboxd: NO ISOLATION. Commands run directly on this machine as this user,",
      "!! with the workspace directory as their cwd; they can read and write anything",
      "!! this user can and reach everything on its network, loopback included. Nor can a",
      "!! runner reach the Worker's hosts: snapshots and jobs fail. Install bubblewrap",
      "!! (apt-get install bubblewrap) to isolate them.",
      `!! Reason: ${reason}`,
      bar,
    ].join("\n"),
  );
}

/** The first directory above `path` that does not let others pass (no o+x), or null. */
async function blockedForOthers(path: string): Promise<string | null> {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if (((await stat(dir)).mode & 0o001) === 0) return dir;
    if (dirname(dir) === dir) return null;
  }
}

/**
 * The jail user, if bwrap running as it can reach everything a jail binds: sandboxd's root
 * (opened for passing here: 0711, nothing listable), the runner, opencode and the runtime. A
 * directory on the way that does not let others pass (a clone under a 0700 home or mktemp -d)
 * leaves jails running as root, said loudly with the fix.
 */
async function jailUserFor(cfg: SandboxdConfig): Promise<JailUser | null> {
  if (process.getuid?.() !== 0) return null;
  await chmod(cfg.root, ((await stat(cfg.root)).mode & 0o777) | 0o111);
  const binds = [
    join(cfg.root, "jails"),
    join(cfg.root, "net"),
    join(cfg.root, "egress"),
    FORWARDER,
    join(RUNNER_NODE_CACHE, "node"),
    DEFAULT_RUNNER_HOST_DIR,
    OPENCODE_HOST_BINARY,
    cfg.runtimeBun,
    cfg.runtimeBundle,
  ];
  for (const path of binds) {
    const blocked = path && existsSync(dirname(path)) ? await blockedForOthers(path) : null;
    if (blocked) {
      console.warn(
        `sandboxd: WARNING: jails run as root on this host: uid ${cfg.jailUid} cannot pass ${blocked} to reach ` +
          `${path}. Allow it (chmod o+x ${blocked}) to run them as that unprivileged uid.`,
      );
      return null;
    }
  }
  return { uid: cfg.jailUid, gid: cfg.jailUid };
}

async function main(): Promise<void> {
  let cfg: ReturnType<typeof loadConfig>;
  try {
    cfg = loadConfig();
  } catch (err) {
    console.error(`sandboxd: ${(err as Error).message}`);
    process.exit(2);
  }
  if (!cfg.token) console.warn("sandboxd: WARNING: running WITHOUT a token (SANDBOXD_INSECURE_NO_TOKEN=1).");
  await mkdir(cfg.root, { recursive: true });
  // Root in a jail must be no one on the host: as root, sandboxd runs jails as an unprivileged uid.
  const jailUser = await jailUserFor(cfg);
  const iso = detectIsolation(cfg.isolation, undefined, jailUser, cfg.limits.tmpBytes);
  if (iso.kind === "none") warnUnisolated(iso.reason);
  let internet: Internet;
  try {
    internet = detectInternet(cfg.internet);
  } catch (err) {
    console.error(`sandboxd: ${(err as Error).message}`);
    process.exit(2);
  }
  const enforcement = detectEnforcement(
    cfg.limits,
    iso.kind === "bwrap",
    iso.kind === "bwrap" && iso.tmpBytes !== null,
  );
  const { server, jails } = createSandboxd(cfg, iso, internet, enforcement);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    // Let the kills land, the cgroups go and the log line flush (3 s at most); do not wait for open streams.
    setTimeout(() => process.exit(0), 3000).unref();
    void jails.shutdown().then((killed) => {
      console.log(`sandboxd: ${signal}: stopped ${killed} jail(s), exiting`);
      setTimeout(() => process.exit(0), 50).unref();
    });
  };
  // Last line of defence: a bug in one request must not take every sandbox down with it.
  process.on("uncaughtException", (err) => console.error("sandboxd: uncaught exception (continuing):", err));
  process.on("unhandledRejection", (err) => console.error("sandboxd: unhandled rejection (continuing):", err));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  server.on("error", (err) => {
    console.error(`sandboxd: cannot listen on ${cfg.host}:${cfg.port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(cfg.port, cfg.host, () => {
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : cfg.port;
    console.log(`sandboxd listening on http://${cfg.host}:${port}`);
    console.log(
      `sandboxd: isolation ${iso.kind === "bwrap" ? `on (bubblewrap ${iso.bwrapPath})` : "OFF"}; jails under ${cfg.root}/jails`,
    );
    if (iso.kind === "bwrap") {
      console.log(`sandboxd: jail network: ${describeNetwork(internet, cfg.hostPorts)}`);
      console.log(`sandboxd: limits per jail: ${describeLimits(enforcement)}`);
    }
  });
}

await main();
